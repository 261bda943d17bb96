/* Receipt JSON from outside: parse; if accepted, print (pretty and compact),
 * parse again, print again: the bytes and the payload must be identical. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/receipt/receipt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_fixed_point(const struct receipt *r, bool pretty)
{
        struct receipt *again = NULL;
        char *a = NULL, *b = NULL, *pa = NULL, *pb = NULL;
        size_t na, nb, npa, npb;

        if (receipt_to_json(r, pretty, &a, &na) < 0)
                abort();
        if (receipt_from_json(a, na, &again, NULL) < 0)
                abort();
        if (receipt_to_json(again, pretty, &b, &nb) < 0)
                abort();
        if (na != nb || memcmp(a, b, na) != 0)
                abort();
        if (receipt_payload(r, &pa, &npa) < 0 || receipt_payload(again, &pb, &npb) < 0)
                abort();
        if (npa != npb || memcmp(pa, pb, npa) != 0)
                abort();
        /* The unsigned tenant survives the trip and never reaches the payload. */
        if ((r->tenant == NULL) != (again->tenant == NULL) || (r->tenant && strcmp(r->tenant, again->tenant) != 0))
                abort();
        free(again->tenant);
        again->tenant = NULL;
        free(pb);
        if (receipt_payload(again, &pb, &npb) < 0 || npa != npb || memcmp(pa, pb, npa) != 0)
                abort();
        free(a);
        free(b);
        free(pa);
        free(pb);
        receipt_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct receipt *r = NULL;
        char *err = NULL;
        char **argv = NULL;
        size_t argc;

        if (receipt_from_json((const char *)data, size, &r, &err) < 0) {
                free(err);
                return 0;
        }
        check_fixed_point(r, true);
        check_fixed_point(r, false);
        /* verification must not crash on hostile values (no crypto load
         * needed before the hash check fails) */
        receipt_verify(r, true, NULL);
        if (receipt_replay_args(r, &argv, &argc) == 0)
                receipt_strv_free(argv, SIZE_MAX);
        receipt_free(r);
        return 0;
}
