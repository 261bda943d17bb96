#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/encoding/hex.h"
#include "lib/receipt/receipt.h"
#include "lib/receipt/receipt_internal.h"

int receipt_error(char **error, int r, const char *fmt, ...)
{
        va_list ap;
        char *s = NULL;

        if (!error)
                return r;
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        *error = s;
        return r;
}

int receipt_strdup0(const char *s, char **ret)
{
        char *d = NULL;

        if (s) {
                d = strdup(s);
                if (!d)
                        return -ENOMEM;
        }
        *ret = d;
        return 0;
}

int receipt_new(struct receipt **ret)
{
        struct receipt *r = calloc(1, sizeof(*r));

        if (!r)
                return -ENOMEM;
        *ret = r;
        return 0;
}

void receipt_strv_free(char **v, size_t n)
{
        if (!v)
                return;
        if (n == SIZE_MAX) {
                for (char **p = v; *p; p++)
                        free(*p);
        } else {
                for (size_t i = 0; i < n; i++)
                        free(v[i]);
        }
        free(v);
}

void receipt_invocation_clear(struct receipt_invocation *inv)
{
        receipt_strv_free(inv->run.command, inv->run.n_command);
        free(inv->run.image);
        free(inv->run.backend);
        free(inv->run.profile);
        free(inv->exec.name);
        receipt_strv_free(inv->exec.command, inv->exec.n_command);
        receipt_strv_free(inv->exec.env, inv->exec.n_env);
        free(inv->exec.workdir);
        memset(inv, 0, sizeof(*inv));
}

void receipt_outcome_clear(struct receipt_outcome *o)
{
        free(o->output_sha256);
        free(o->error);
        memset(o, 0, sizeof(*o));
}

void receipt_signature_free(struct receipt_signature *s)
{
        if (!s)
                return;
        free(s->algorithm);
        free(s->key_id);
        free(s->public_key);
        free(s->signature);
        free(s);
}

void receipt_free(struct receipt *r)
{
        if (!r)
                return;
        free(r->receipt_id);
        free(r->recorded_at);
        receipt_invocation_clear(&r->invocation);
        receipt_outcome_clear(&r->outcome);
        free(r->payload_hash_sha256);
        receipt_signature_free(r->signature);
        free(r->tenant);
        free(r);
}

int receipt_outcome_from_digest(int32_t exit_code, const uint8_t digest[CRYPTO_SHA256_LEN], uint64_t output_bytes,
                                const char *error, struct receipt_outcome *ret)
{
        char hex[CRYPTO_SHA256_HEX_LEN + 1];
        char *h, *e;
        int r;

        r = hex_encode(digest, CRYPTO_SHA256_LEN, hex, sizeof(hex));
        if (r < 0)
                return r;
        h = strdup(hex);
        if (!h)
                return -ENOMEM;
        r = receipt_strdup0(error, &e);
        if (r < 0) {
                free(h);
                return r;
        }
        *ret = (struct receipt_outcome){
                .exit_code = exit_code,
                .success = exit_code == 0,
                .output_sha256 = h,
                .output_bytes = output_bytes,
                .error = e,
        };
        return 0;
}

int receipt_outcome_from_output(int32_t exit_code, const void *output, size_t len, const char *error,
                                struct receipt_outcome *ret)
{
        uint8_t d[CRYPTO_SHA256_LEN];
        int r;

        r = crypto_sha256(output, len, d);
        if (r < 0)
                return r;
        return receipt_outcome_from_digest(exit_code, d, len, error, ret);
}
