/* libFuzzer: event JSON (spool records, agentkernel's audit.jsonl, Tail
 * clients' lines) and the attributes JSON of Emit requests. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/audit/event.h"
#include "lib/json/json.h"
#include "services/auditor/ocsf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct audit_event *e = NULL, *e2 = NULL;
        struct json_value *v = NULL;
        struct ak_error err;
        char *json = NULL, *json2 = NULL, *ocsf = NULL, *attrs = NULL;
        size_t len, len2, olen;

        if (audit_attributes_canonical((const char *)data, size, &attrs, &err) == 0) {
                /* Canonical text is valid JSON and a fixed point. */
                char *again = NULL;
                if (audit_attributes_canonical(attrs, strlen(attrs), &again, &err) != 0 || strcmp(attrs, again))
                        abort();
                free(again);
                free(attrs);
        }
        if (audit_event_from_json((const char *)data, size, &e, &err) != 0)
                return 0;
        /* Round trip: what we write reads back to the same bytes. */
        if (audit_event_to_json(e, &json, &len) == 0) {
                if (audit_event_from_json(json, len, &e2, &err) != 0)
                        abort();
                if (audit_event_to_json(e2, &json2, &len2) != 0 || len != len2 || memcmp(json, json2, len))
                        abort();
        }
        /* The OCSF form is valid JSON. */
        if (ocsf_event_to_json(e, &ocsf, &olen) == 0) {
                if (json_parse(ocsf, olen, &v, NULL) != 0)
                        abort();
                json_value_free(v);
        }
        free(ocsf);
        free(json);
        free(json2);
        audit_event_free(e2);
        audit_event_free(e);
        return 0;
}
