#include <errno.h>
#include <stdlib.h>

#include "lib/crypto/boring.h"
#include "lib/crypto/crypto.h"
#include "lib/encoding/hex.h"

struct crypto_sha256 {
        const struct boring *b;
        struct sha256_state_st *ctx; /* sized at load time: b->sha256_ctx_size */
};

int crypto_sha256(const void *data, size_t len, uint8_t ret_digest[CRYPTO_SHA256_LEN])
{
        const struct boring *b;
        int r;

        b = boring_get(&r);
        if (!b)
                return r;
        b->SHA256(data ? data : (const void *)"", len, ret_digest);
        return 0;
}

int crypto_sha256_hex(const void *data, size_t len, char ret_hex[CRYPTO_SHA256_HEX_LEN + 1])
{
        uint8_t d[CRYPTO_SHA256_LEN];
        int r;

        r = crypto_sha256(data, len, d);
        if (r < 0)
                return r;
        return hex_encode(d, sizeof(d), ret_hex, CRYPTO_SHA256_HEX_LEN + 1);
}

int crypto_sha256_new(struct crypto_sha256 **ret)
{
        struct crypto_sha256 *h;
        const struct boring *b;
        int r;

        b = boring_get(&r);
        if (!b)
                return r;
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->b = b;
        h->ctx = calloc(1, b->sha256_ctx_size);
        if (!h->ctx) {
                free(h);
                return -ENOMEM;
        }
        b->SHA256_Init(h->ctx);
        *ret = h;
        return 0;
}

void crypto_sha256_update(struct crypto_sha256 *h, const void *data, size_t len)
{
        if (len)
                h->b->SHA256_Update(h->ctx, data, len);
}

void crypto_sha256_final(struct crypto_sha256 *h, uint8_t ret_digest[CRYPTO_SHA256_LEN])
{
        h->b->SHA256_Final(ret_digest, h->ctx);
        h->b->SHA256_Init(h->ctx);
}

void crypto_sha256_free(struct crypto_sha256 *h)
{
        if (!h)
                return;
        free(h->ctx);
        free(h);
}
