/* libFuzzer: config JSON (a file an operator writes, or anyone who can). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/auditor/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct audit_config *c = NULL;
        struct ak_error err;

        if (audit_config_parse((const char *)data, size, "fuzz", &c, &err) == 0) {
                /* What parses is usable: every destination has a name and its fields. */
                if (c->n_dests == 0 || c->batch_size == 0 || c->batch_size > AUDIT_MAX_BATCH_SIZE)
                        abort();
                for (size_t i = 0; i < c->n_dests; i++) {
                        const struct audit_dest_config *d = &c->dests[i];
                        if (!d->name || (d->type == AUDIT_DEST_HTTP_WEBHOOK && !d->url) ||
                            (d->type == AUDIT_DEST_FILE && (!d->path || !*d->path)))
                                abort();
                }
                audit_config_free(c);
        } else if (strlen(err.msg) == 0 || strncmp(err.msg, "config fuzz: ", 13) != 0) {
                abort(); /* every error names the config */
        }
        return 0;
}
