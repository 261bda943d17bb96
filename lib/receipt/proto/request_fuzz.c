/* SignReceiptRequest bytes from the network → struct receipt → payload.
 *
 * Whatever the signer accepts must become a receipt file that lib/receipt
 * reads back to the same payload, and a request the executor would build
 * from it must decode to the same receipt again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/receipt/proto/receipt_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
        if (!ok) {
                fprintf(stderr, "request_fuzz: %s\n", what);
                abort();
        }
}

static char *payload_of(struct receipt *r, size_t *len)
{
        char *p = NULL;

        check(receipt_payload(r, &p, len) == 0, "payload of an accepted request");
        return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct receipt *r = NULL, *back = NULL, *again = NULL;
        Ak__V1__SignReceiptRequest *req = NULL;
        char *p1, *p2, *p3, *json = NULL, *error = NULL;
        size_t l1, l2, l3, jlen;
        uint8_t *packed;

        if (receipt_proto_decode_request(data, size, &r, NULL) < 0)
                return 0;
        /* what receipt_stamp would set, fixed so runs repeat */
        r->version = RECEIPT_VERSION;
        r->receipt_id = strdup("0190f5e2-7a3b-7c4d-8e5f-0123456789ab");
        r->recorded_at = strdup("2026-02-23T10:11:12.5+00:00");
        check(r->receipt_id && r->recorded_at, "out of memory");
        check(receipt_seal(r, NULL) == 0, "seal");
        p1 = payload_of(r, &l1);

        check(receipt_to_json(r, true, &json, &jlen) == 0, "to_json");
        check(receipt_from_json(json, jlen, &back, &error) == 0, error ? error : "from_json");
        p2 = payload_of(back, &l2);
        check(l1 == l2 && memcmp(p1, p2, l1) == 0, "the receipt file reads back to another payload");
        check(receipt_verify(back, true, NULL) == 0, "an accepted request makes a receipt that verifies");

        check(receipt_proto_request_from_receipt(r, &req) == 0, "request_from_receipt");
        size_t n = protobuf_c_message_get_packed_size(&req->base);
        packed = malloc(n ? n : 1);
        check(packed != NULL, "out of memory");
        protobuf_c_message_pack(&req->base, packed);
        check(receipt_proto_decode_request(packed, n, &again, NULL) == 0, "a request we build is refused");
        again->version = r->version;
        again->receipt_id = strdup(r->receipt_id);
        again->recorded_at = strdup(r->recorded_at);
        check(again->receipt_id && again->recorded_at, "out of memory");
        p3 = payload_of(again, &l3);
        check(l1 == l3 && memcmp(p1, p3, l1) == 0, "request round trip changed the payload");

        free(packed);
        protobuf_c_message_free_unpacked(&req->base, NULL);
        free(p1);
        free(p2);
        free(p3);
        free(json);
        receipt_free(r);
        receipt_free(back);
        receipt_free(again);
        return 0;
}
