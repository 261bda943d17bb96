/* ExecutionReceipt::new: UUIDv7 id, chrono-style timestamp, hash, signature. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/base/uuid.h"
#include "lib/encoding/base64.h"
#include "lib/encoding/hex.h"
#include "lib/receipt/receipt.h"
#include "lib/receipt/receipt_internal.h"

int receipt_format_time(int64_t unix_seconds, uint32_t nanoseconds, char ret[RECEIPT_TIME_MAX])
{
        struct tm tm;
        time_t t = (time_t)unix_seconds;
        char frac[12] = "";
        char buf[128];

        if (nanoseconds >= 1000000000u || !gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
                return -ERANGE;
        /* chrono SecondsFormat::AutoSi: as few of 0, 3, 6, 9 digits as exact */
        if (nanoseconds == 0)
                frac[0] = '\0';
        else if (nanoseconds % 1000000 == 0)
                snprintf(frac, sizeof(frac), ".%03u", nanoseconds / 1000000);
        else if (nanoseconds % 1000 == 0)
                snprintf(frac, sizeof(frac), ".%06u", nanoseconds / 1000);
        else
                snprintf(frac, sizeof(frac), ".%09u", nanoseconds);
        int n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d%s+00:00", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
        if (n < 0 || n >= RECEIPT_TIME_MAX)
                return -ERANGE;
        memcpy(ret, buf, (size_t)n + 1);
        return 0;
}

int receipt_now(char ret[RECEIPT_TIME_MAX])
{
        struct timespec ts;

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return -errno;
        return receipt_format_time(ts.tv_sec, (uint32_t)ts.tv_nsec, ret);
}

int receipt_payload_hash(const void *payload, size_t len, char ret[CRYPTO_SHA256_HEX_LEN + 1])
{
        return crypto_sha256_hex(payload, len, ret);
}

int receipt_sign_payload(const struct crypto_ed25519_key *key, const void *payload, size_t len,
                         struct receipt_signature **ret)
{
        uint8_t sig[CRYPTO_ED25519_SIGNATURE_LEN];
        const uint8_t *pub = crypto_ed25519_key_public(key);
        struct receipt_signature *s;
        char key_id[17];
        int r;

        r = crypto_ed25519_sign(key, payload, len, sig);
        if (r < 0)
                return r;
        r = receipt_key_id(pub, key_id);
        if (r < 0)
                return r;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->algorithm = strdup("ed25519");
        s->key_id = strdup(key_id);
        if (!s->algorithm || !s->key_id ||
            base64_encode_alloc(pub, CRYPTO_ED25519_PUBLIC_KEY_LEN, &s->public_key) < 0 ||
            base64_encode_alloc(sig, sizeof(sig), &s->signature) < 0) {
                receipt_signature_free(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

int receipt_stamp(struct receipt *rc)
{
        char id[37], now[RECEIPT_TIME_MAX];
        char *id_copy, *now_copy;
        int r;

        r = ak_uuid7(id);
        if (r < 0)
                return r;
        r = receipt_now(now);
        if (r < 0)
                return r;
        id_copy = strdup(id);
        now_copy = strdup(now);
        if (!id_copy || !now_copy) {
                free(id_copy);
                free(now_copy);
                return -ENOMEM;
        }
        free(rc->receipt_id);
        free(rc->recorded_at);
        rc->version = RECEIPT_VERSION;
        rc->receipt_id = id_copy;
        rc->recorded_at = now_copy;
        return 0;
}

int receipt_seal(struct receipt *rc, const struct crypto_ed25519_key *key)
{
        char hash[CRYPTO_SHA256_HEX_LEN + 1];
        struct receipt_signature *sig = NULL;
        char *payload, *hash_copy;
        size_t len;
        int r;

        r = receipt_payload(rc, &payload, &len);
        if (r < 0)
                return r;
        r = receipt_payload_hash(payload, len, hash);
        if (r == 0 && key)
                r = receipt_sign_payload(key, payload, len, &sig);
        free(payload);
        if (r < 0)
                return r;
        hash_copy = strdup(hash);
        if (!hash_copy) {
                receipt_signature_free(sig);
                return -ENOMEM;
        }
        free(rc->payload_hash_sha256);
        rc->payload_hash_sha256 = hash_copy;
        receipt_signature_free(rc->signature);
        rc->signature = sig;
        return 0;
}

int receipt_finalize(struct receipt *rc, const struct crypto_ed25519_key *key)
{
        int r = receipt_stamp(rc);

        return r < 0 ? r : receipt_seal(rc, key);
}
