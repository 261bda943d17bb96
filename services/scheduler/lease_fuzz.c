/* libFuzzer: a Lease as the Kubernetes API server answers it. What parses
 * must write back and parse again to the same record. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/scheduler/lease_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct lease_record r, again;
        struct ak_error err;
        char *json = NULL;
        size_t len;

        if (lease_record_parse((const char *)data, size, &r, &err) < 0) {
                if (strncmp(err.msg, "lease JSON: ", 12) != 0)
                        abort(); /* every error says what it was reading */
                return 0;
        }
        if (!r.resource_version[0] || r.duration_s > LEASE_MAX_DURATION_S)
                abort();
        if (lease_record_write(&r, "ns", "name", &json, &len) < 0)
                return 0; /* a holder that is not valid UTF-8 */
        if (lease_record_parse(json, len, &again, &err) < 0 || memcmp(&r, &again, sizeof(r)) != 0)
                abort();
        free(json);
        return 0;
}
