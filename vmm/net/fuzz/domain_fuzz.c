/* libFuzzer target: domain rules from a sandbox's spec (API text). The
 * input is NUL-terminated. A rule that parses must parse again to itself,
 * be at most DOMAIN_MAX, lowercase, and match itself (exact) or a name one
 * label under it (wildcard) but never its apex; a refused one must say why. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/net/domain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *text = malloc(size + 1), out[DOMAIN_MAX + 1], again[DOMAIN_MAX + 1], name[DOMAIN_MAX + 8];
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        struct ak_error err = { 0 };
        (void)domain_rule_like(text);
        if (domain_rule_parse(text, out, sizeof(out), &err) == 0) {
                if (strlen(out) > DOMAIN_MAX || domain_rule_parse(out, again, sizeof(again), &err) != 0 ||
                    strcmp(out, again) != 0)
                        abort();
                for (const char *p = out; *p; p++)
                        if (isupper((unsigned char)*p))
                                abort();
                if (strncmp(out, "*.", 2) == 0) {
                        if (domain_match(out, out + 2))
                                abort(); /* the apex */
                        snprintf(name, sizeof(name), "x%s", out + 1);
                        if (!domain_match(out, name))
                                abort();
                } else if (!domain_match(out, out)) {
                        abort();
                }
        } else if (err.code >= 0 || !err.msg[0]) {
                abort();
        }
        free(text);
        return 0;
}
