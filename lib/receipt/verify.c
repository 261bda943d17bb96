/* verify_receipt / verify_signature, with agentkernel's messages. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/encoding/base64.h"
#include "lib/receipt/receipt.h"
#include "lib/receipt/receipt_internal.h"

/* Rust's str::eq_ignore_ascii_case: ASCII letters only, any locale. */
static bool eq_ignore_ascii_case(const char *a, const char *b)
{
        for (;; a++, b++) {
                char x = *a, y = *b;
                if (x >= 'A' && x <= 'Z')
                        x = (char)(x - 'A' + 'a');
                if (y >= 'A' && y <= 'Z')
                        y = (char)(y - 'A' + 'a');
                if (x != y)
                        return false;
                if (!x)
                        return true;
        }
}

/* Decodes base64 into a malloc'd buffer. */
static int decode_b64(const char *s, uint8_t **ret, size_t *ret_len)
{
        size_t n = strlen(s), len;
        uint8_t *buf = malloc(base64_decoded_max(n));
        int r;

        if (!buf)
                return -ENOMEM;
        r = base64_decode(s, n, buf, base64_decoded_max(n), &len);
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

static int key_id_of(const uint8_t *key, size_t len, char ret[17])
{
        char hex[CRYPTO_SHA256_HEX_LEN + 1];
        int r = crypto_sha256_hex(key, len, hex);

        if (r < 0)
                return r;
        memcpy(ret, hex, 16);
        ret[16] = '\0';
        return 0;
}

int receipt_key_id(const uint8_t public_key[CRYPTO_ED25519_PUBLIC_KEY_LEN], char ret[17])
{
        return key_id_of(public_key, CRYPTO_ED25519_PUBLIC_KEY_LEN, ret);
}

static int crypto_failure(char **error, int r)
{
        if (r == -ENOMEM)
                return receipt_error(error, r, "out of memory");
        return receipt_error(error, r, "%s", crypto_init_error_message(r));
}

static int verify_signature(const struct receipt_signature *s, const char *payload, size_t len, char **error)
{
        uint8_t *pub = NULL, *sig = NULL;
        size_t pub_len = 0, sig_len = 0;
        char expected[17];
        int r;

        if (!eq_ignore_ascii_case(s->algorithm, "ed25519"))
                return receipt_error(error, -EBADMSG, "Unsupported signature algorithm '%s'; expected ed25519",
                                     s->algorithm);
        r = decode_b64(s->public_key, &pub, &pub_len);
        if (r == -ENOMEM)
                return crypto_failure(error, r);
        if (r < 0)
                return receipt_error(error, -EBADMSG, "Invalid base64 public key in receipt signature");
        r = decode_b64(s->signature, &sig, &sig_len);
        if (r == -ENOMEM) {
                free(pub);
                return crypto_failure(error, r);
        }
        if (r < 0) {
                free(pub);
                return receipt_error(error, -EBADMSG, "Invalid base64 signature bytes in receipt signature");
        }
        r = key_id_of(pub, pub_len, expected);
        if (r < 0) {
                r = crypto_failure(error, r);
                goto out;
        }
        if (strcmp(expected, s->key_id) != 0) {
                r = receipt_error(error, -EBADMSG, "Signature key ID mismatch: expected %s, found %s", expected,
                                  s->key_id);
                goto out;
        }
        if (pub_len != CRYPTO_ED25519_PUBLIC_KEY_LEN || sig_len != CRYPTO_ED25519_SIGNATURE_LEN) {
                r = receipt_error(error, -EBADMSG, "Invalid receipt signature");
                goto out;
        }
        r = crypto_ed25519_verify(pub, payload, len, sig);
        if (r == -EBADMSG)
                r = receipt_error(error, r, "Invalid receipt signature");
        else if (r < 0)
                r = crypto_failure(error, r);
out:
        free(pub);
        free(sig);
        return r;
}

int receipt_verify(const struct receipt *rc, bool allow_unsigned, char **error)
{
        char hash[CRYPTO_SHA256_HEX_LEN + 1];
        char *payload = NULL;
        size_t len;
        int r;

        if (rc->version != RECEIPT_VERSION)
                return receipt_error(error, -EBADMSG, "Unsupported receipt version %u (expected %u)", rc->version,
                                     RECEIPT_VERSION);
        r = receipt_payload(rc, &payload, &len);
        if (r < 0)
                return receipt_error(error, r, "Failed to serialize receipt payload");
        r = receipt_payload_hash(payload, len, hash);
        if (r < 0) {
                free(payload);
                return crypto_failure(error, r);
        }
        if (!rc->payload_hash_sha256 || strcmp(hash, rc->payload_hash_sha256) != 0) {
                free(payload);
                return receipt_error(error, -EBADMSG, "Receipt hash mismatch: expected %s, found %s", hash,
                                     rc->payload_hash_sha256 ? rc->payload_hash_sha256 : "");
        }
        if (rc->signature)
                r = verify_signature(rc->signature, payload, len, error);
        else if (!allow_unsigned)
                r = receipt_error(error, -EBADMSG,
                                  "Receipt is unsigned. Pass --allow-unsigned to verify legacy receipts.");
        free(payload);
        return r;
}
