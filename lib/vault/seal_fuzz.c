/* Sealed vault files from disk are outside bytes: seal_parse and seal_open
 * (under a fixed key and name) must reject or open every input without
 * reading out of bounds. Opening any input that does not come from
 * seal_value under this key must fail. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/vault/seal.h"
#include "lib/vault/vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const uint8_t key[SEAL_KEY_LEN] = { 1, 2, 3 };
        const uint8_t *nonce, *ct, *tag;
        size_t ct_len, out_len = 0;
        uint8_t *out;

        if (seal_parse(data, size, 4096, &nonce, &ct, &ct_len, &tag) < 0)
                return 0;
        if (ct < data || ct + ct_len > data + size || tag + SEAL_TAG_LEN != data + size)
                abort();
        out = malloc(ct_len + 1);
        if (!out)
                return 0;
        if (seal_open(key, "FUZZ", data, size, 4096, out, &out_len) == 0) {
                /* forging a GCM tag by chance is not expected: stop if it happens */
                abort();
        }
        free(out);
        return 0;
}
