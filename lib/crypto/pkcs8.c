/* PKCS#8 for Ed25519 by hand: the structure is fixed and tiny, and this is
 * the only DER we parse, so a strict reader of exactly that beats a general
 * ASN.1 parser facing outside bytes. */
#include <errno.h>
#include <string.h>

#include "lib/crypto/crypto.h"

static const uint8_t ed25519_algorithm[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };

/* Reads one TLV with the given tag at *p (strict DER lengths up to 0xffff).
 * Advances *p past it. */
static int der_read(const uint8_t **p, const uint8_t *end, uint8_t tag, const uint8_t **ret_body,
                    size_t *ret_len)
{
        const uint8_t *q = *p;
        size_t len;

        if (end - q < 2 || q[0] != tag)
                return -EINVAL;
        q++;
        if (*q < 0x80) {
                len = *q++;
        } else if (*q == 0x81) {
                if (end - q < 2 || q[1] < 0x80)
                        return -EINVAL; /* not minimal */
                len = q[1];
                q += 2;
        } else if (*q == 0x82) {
                if (end - q < 3 || q[1] == 0)
                        return -EINVAL; /* not minimal */
                len = (size_t)q[1] << 8 | q[2];
                q += 3;
        } else {
                return -EINVAL; /* indefinite or longer than we ever need */
        }
        if ((size_t)(end - q) < len)
                return -EINVAL;
        *ret_body = q;
        *ret_len = len;
        *p = q + len;
        return 0;
}

int crypto_pkcs8_ed25519_parse(const uint8_t *der, size_t len, uint8_t ret_seed[CRYPTO_ED25519_SEED_LEN],
                               uint8_t ret_public_key[CRYPTO_ED25519_PUBLIC_KEY_LEN], bool *ret_has_public_key)
{
        const uint8_t *p = der, *end = der + len, *body, *q, *qend, *inner;
        size_t n, inner_len;
        uint8_t version;

        if (!der)
                return -EINVAL;
        if (der_read(&p, end, 0x30, &body, &n) < 0 || p != end)
                return -EINVAL;
        q = body;
        qend = body + n;

        /* version INTEGER: 0 (v1) or 1 (v2) */
        if (der_read(&q, qend, 0x02, &inner, &inner_len) < 0 || inner_len != 1 || inner[0] > 1)
                return -EINVAL;
        version = inner[0];

        /* AlgorithmIdentifier: id-Ed25519, parameters absent (RFC 8410) */
        if (der_read(&q, qend, 0x30, &inner, &inner_len) < 0 || inner_len != sizeof(ed25519_algorithm) ||
            memcmp(inner, ed25519_algorithm, sizeof(ed25519_algorithm)) != 0)
                return -EINVAL;

        /* privateKey OCTET STRING wrapping CurvePrivateKey OCTET STRING (32) */
        if (der_read(&q, qend, 0x04, &inner, &inner_len) < 0)
                return -EINVAL;
        {
                const uint8_t *r = inner, *seed;
                size_t seed_len;
                if (der_read(&r, inner + inner_len, 0x04, &seed, &seed_len) < 0 || r != inner + inner_len ||
                    seed_len != CRYPTO_ED25519_SEED_LEN)
                        return -EINVAL;
                inner = seed;
        }
        const uint8_t *seed = inner;
        const uint8_t *pub = NULL;

        /* v2 only: [1] { BIT STRING, no unused bits, 32 bytes } as ring writes it */
        if (q != qend) {
                const uint8_t *r, *bits;
                size_t bits_len;
                if (version != 1 || der_read(&q, qend, 0xa1, &inner, &inner_len) < 0 || q != qend)
                        return -EINVAL;
                r = inner;
                if (der_read(&r, inner + inner_len, 0x03, &bits, &bits_len) < 0 || r != inner + inner_len ||
                    bits_len != 1 + CRYPTO_ED25519_PUBLIC_KEY_LEN || bits[0] != 0)
                        return -EINVAL;
                pub = bits + 1;
        }

        memcpy(ret_seed, seed, CRYPTO_ED25519_SEED_LEN);
        if (pub)
                memcpy(ret_public_key, pub, CRYPTO_ED25519_PUBLIC_KEY_LEN);
        else
                memset(ret_public_key, 0, CRYPTO_ED25519_PUBLIC_KEY_LEN);
        *ret_has_public_key = pub != NULL;
        return 0;
}

void crypto_pkcs8_ed25519_write(const uint8_t seed[CRYPTO_ED25519_SEED_LEN],
                                const uint8_t public_key[CRYPTO_ED25519_PUBLIC_KEY_LEN],
                                uint8_t ret_der[CRYPTO_PKCS8_ED25519_V2_LEN])
{
        static const uint8_t head[] = { 0x30, 0x53, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06,
                                        0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20 };
        static const uint8_t mid[] = { 0xa1, 0x23, 0x03, 0x21, 0x00 };
        uint8_t *o = ret_der;

        memcpy(o, head, sizeof(head));
        o += sizeof(head);
        memcpy(o, seed, CRYPTO_ED25519_SEED_LEN);
        o += CRYPTO_ED25519_SEED_LEN;
        memcpy(o, mid, sizeof(mid));
        o += sizeof(mid);
        memcpy(o, public_key, CRYPTO_ED25519_PUBLIC_KEY_LEN);
}
