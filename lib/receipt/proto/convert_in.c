/* Wire messages (the akwire mirror: exact string bytes) → struct receipt,
 * checking every field on the way in. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/receipt/proto/akwire/v1/receipt.pb-c.h"
#include "lib/receipt/proto/akwire/v1/signer.pb-c.h"
#include "lib/receipt/proto/receipt_proto.h"

/* One conversion: where errors go and how many string bytes it has taken. */
struct conv {
        const char *prefix;
        size_t total;
        struct ak_error *err;
};

__attribute__((format(printf, 3, 4))) static int fail(struct conv *c, const char *field, const char *fmt, ...)
{
        char what[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return ak_error_set(c->err, -EINVAL, "%s%s: %s", c->prefix, field, what);
}

/* Length of the valid UTF-8 prefix of s: Rust's str rules (no overlong forms,
 * no surrogates, nothing above U+10FFFF). */
static size_t utf8_valid_prefix(const uint8_t *s, size_t len)
{
        size_t i = 0;

        while (i < len) {
                uint8_t b = s[i];
                size_t n;
                uint8_t lo = 0x80, hi = 0xbf;

                if (b < 0x80) {
                        i++;
                        continue;
                }
                if (b >= 0xc2 && b <= 0xdf)
                        n = 1;
                else if (b >= 0xe0 && b <= 0xef)
                        n = 2;
                else if (b >= 0xf0 && b <= 0xf4)
                        n = 3;
                else
                        return i;
                if (b == 0xe0)
                        lo = 0xa0;
                else if (b == 0xed)
                        hi = 0x9f;
                else if (b == 0xf0)
                        lo = 0x90;
                else if (b == 0xf4)
                        hi = 0x8f;
                if (len - i <= n)
                        return i;
                if (s[i + 1] < lo || s[i + 1] > hi)
                        return i;
                for (size_t k = 2; k <= n; k++)
                        if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                                return i;
                i += n + 1;
        }
        return i;
}

/* Checks one string's bytes and copies them into a new C string. */
static int take(struct conv *c, const ProtobufCBinaryData *b, const char *field, char **ret)
{
        const uint8_t *nul;
        size_t valid;
        char *s;

        if (b->len > RECEIPT_PROTO_MAX_STRING)
                return fail(c, field, "%zu bytes, more than the %zu allowed", b->len, RECEIPT_PROTO_MAX_STRING);
        if (b->len > RECEIPT_PROTO_MAX_TOTAL - c->total)
                return fail(c, field, "the request's strings exceed %zu bytes in all", RECEIPT_PROTO_MAX_TOTAL);
        c->total += b->len;
        nul = b->len ? memchr(b->data, 0, b->len) : NULL;
        if (nul)
                return fail(c, field, "contains a NUL byte at offset %zu", (size_t)(nul - b->data));
        valid = b->len ? utf8_valid_prefix(b->data, b->len) : 0;
        if (valid != b->len)
                return fail(c, field, "not valid UTF-8 (bad byte at offset %zu)", valid);
        s = malloc(b->len + 1);
        if (!s)
                return ak_error_set(c->err, -ENOMEM, "out of memory");
        if (b->len)
                memcpy(s, b->data, b->len);
        s[b->len] = '\0';
        *ret = s;
        return 0;
}

static int take_list(struct conv *c, const ProtobufCBinaryData *v, size_t n, const char *field, char ***ret,
                     size_t *ret_n)
{
        char name[64];
        char **out;
        int r;

        if (n > RECEIPT_PROTO_MAX_LIST)
                return fail(c, field, "%zu entries, more than the %d allowed", n, RECEIPT_PROTO_MAX_LIST);
        out = calloc(n + 1, sizeof(*out));
        if (!out)
                return ak_error_set(c->err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                snprintf(name, sizeof(name), "%s[%zu]", field, i);
                r = take(c, &v[i], name, &out[i]);
                if (r < 0) {
                        receipt_strv_free(out, i);
                        return r;
                }
        }
        *ret = out;
        *ret_n = n;
        return 0;
}

static int take_run(struct conv *c, const Akwire__V1__RunInvocation *m, struct receipt_run *run)
{
        int r;

        r = take_list(c, m->command, m->n_command, "invocation.run.command", &run->command, &run->n_command);
        if (r == 0 && m->image_opt_case == AKWIRE__V1__RUN_INVOCATION__IMAGE_OPT_IMAGE)
                r = take(c, &m->image, "invocation.run.image", &run->image);
        if (r == 0 && m->backend_opt_case == AKWIRE__V1__RUN_INVOCATION__BACKEND_OPT_BACKEND)
                r = take(c, &m->backend, "invocation.run.backend", &run->backend);
        if (r == 0)
                r = take(c, &m->profile, "invocation.run.profile", &run->profile);
        run->no_network = m->no_network;
        run->fast = m->fast;
        run->keep = m->keep;
        return r;
}

static int take_exec(struct conv *c, const Akwire__V1__ExecInvocation *m, struct receipt_exec *ex)
{
        int r;

        r = take(c, &m->name, "invocation.exec.name", &ex->name);
        if (r == 0)
                r = take_list(c, m->command, m->n_command, "invocation.exec.command", &ex->command,
                              &ex->n_command);
        if (r == 0)
                r = take_list(c, m->env, m->n_env, "invocation.exec.env", &ex->env, &ex->n_env);
        if (r == 0 && m->workdir_opt_case == AKWIRE__V1__EXEC_INVOCATION__WORKDIR_OPT_WORKDIR)
                r = take(c, &m->workdir, "invocation.exec.workdir", &ex->workdir);
        ex->sudo = m->sudo;
        return r;
}

static bool is_lower_hex(const ProtobufCBinaryData *b, size_t want)
{
        if (b->len != want)
                return false;
        for (size_t i = 0; i < b->len; i++)
                if (!((b->data[i] >= '0' && b->data[i] <= '9') || (b->data[i] >= 'a' && b->data[i] <= 'f')))
                        return false;
        return true;
}

/* Fills r's invocation and outcome; on failure r may hold part of them (the
 * caller frees r). */
static int take_fields(struct conv *c, const Akwire__V1__Invocation *inv, const Akwire__V1__ExecutionOutcome *out,
                       struct receipt *r)
{
        int e;

        if (!inv)
                return fail(c, "invocation", "missing (set run or exec)");
        switch (inv->mode_case) {
        case AKWIRE__V1__INVOCATION__MODE_RUN:
                if (!inv->run)
                        return fail(c, "invocation.run", "missing");
                r->invocation.mode = RECEIPT_MODE_RUN;
                e = take_run(c, inv->run, &r->invocation.run);
                break;
        case AKWIRE__V1__INVOCATION__MODE_EXEC:
                if (!inv->exec)
                        return fail(c, "invocation.exec", "missing");
                r->invocation.mode = RECEIPT_MODE_EXEC;
                e = take_exec(c, inv->exec, &r->invocation.exec);
                break;
        default:
                return fail(c, "invocation.mode", "not set (set run or exec)");
        }
        if (e < 0)
                return e;
        if (!out)
                return fail(c, "outcome", "missing");
        if (!is_lower_hex(&out->output_sha256, CRYPTO_SHA256_HEX_LEN))
                return fail(c, "outcome.output_sha256",
                            "must be 64 lowercase hex digits (the SHA-256 of the output), got %zu bytes%s",
                            out->output_sha256.len,
                            out->output_sha256.len == CRYPTO_SHA256_HEX_LEN ? " with other characters" : "");
        e = take(c, &out->output_sha256, "outcome.output_sha256", &r->outcome.output_sha256);
        if (e == 0 && out->error_opt_case == AKWIRE__V1__EXECUTION_OUTCOME__ERROR_OPT_ERROR)
                e = take(c, &out->error, "outcome.error", &r->outcome.error);
        r->outcome.exit_code = out->exit_code;
        r->outcome.success = out->success;
        r->outcome.output_bytes = out->output_bytes;
        return e;
}

int receipt_proto_wire_request_to_receipt(const Akwire__V1__SignReceiptRequest *req, const char *field_prefix,
                                          struct receipt **ret, struct ak_error *err)
{
        struct conv c = { .prefix = field_prefix ? field_prefix : "", .err = err };
        struct receipt *r;
        int e;

        e = receipt_new(&r);
        if (e < 0)
                return ak_error_set(err, e, "out of memory");
        e = take_fields(&c, req->invocation, req->outcome, r);
        if (e < 0) {
                receipt_free(r);
                return e;
        }
        *ret = r;
        return 0;
}

int receipt_proto_decode_request(const uint8_t *data, size_t len, struct receipt **ret, struct ak_error *err)
{
        Akwire__V1__SignReceiptRequest *req;
        int r;

        req = akwire__v1__sign_receipt_request__unpack(NULL, len, data);
        if (!req)
                return ak_error_set(err, -EBADMSG, "request: malformed protobuf (%zu bytes)", len);
        r = receipt_proto_wire_request_to_receipt(req, NULL, ret, err);
        akwire__v1__sign_receipt_request__free_unpacked(req, NULL);
        return r;
}

/* Packs a message and decodes it as its mirror type. */
static void *repack(const ProtobufCMessage *m, const ProtobufCMessageDescriptor *mirror, struct ak_error *err)
{
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *buf = malloc(n ? n : 1);
        ProtobufCMessage *out;

        if (!buf) {
                ak_error_set(err, -ENOMEM, "out of memory");
                return NULL;
        }
        protobuf_c_message_pack(m, buf);
        out = protobuf_c_message_unpack(mirror, NULL, n, buf);
        free(buf);
        if (!out)
                ak_error_set(err, -EBADMSG, "message does not decode as %s", mirror->name);
        return out;
}

int receipt_proto_request_to_receipt(const Ak__V1__SignReceiptRequest *req, struct receipt **ret,
                                     struct ak_error *err)
{
        Akwire__V1__SignReceiptRequest *w = repack(&req->base, &akwire__v1__sign_receipt_request__descriptor, err);
        int r;

        if (!w)
                return err ? err->code : -ENOMEM;
        r = receipt_proto_wire_request_to_receipt(w, NULL, ret, err);
        akwire__v1__sign_receipt_request__free_unpacked(w, NULL);
        return r;
}

static int take_signature(struct conv *c, const Akwire__V1__ReceiptSignature *m, struct receipt_signature **ret)
{
        struct receipt_signature *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return ak_error_set(c->err, -ENOMEM, "out of memory");
        r = take(c, &m->algorithm, "signature.algorithm", &s->algorithm);
        if (r == 0)
                r = take(c, &m->key_id, "signature.key_id", &s->key_id);
        if (r == 0)
                r = take(c, &m->public_key, "signature.public_key", &s->public_key);
        if (r == 0)
                r = take(c, &m->signature, "signature.signature", &s->signature);
        if (r < 0) {
                receipt_signature_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

int receipt_proto_to_receipt(const Ak__V1__Receipt *m, struct receipt **ret, struct ak_error *err)
{
        Akwire__V1__Receipt *w = repack(&m->base, &akwire__v1__receipt__descriptor, err);
        struct conv c = { .prefix = "", .err = err };
        struct receipt *r = NULL;
        int e;

        if (!w)
                return err ? err->code : -ENOMEM;
        e = receipt_new(&r);
        if (e < 0) {
                ak_error_set(err, e, "out of memory");
                goto out;
        }
        r->version = w->version;
        e = take(&c, &w->receipt_id, "receipt_id", &r->receipt_id);
        if (e == 0)
                e = take(&c, &w->recorded_at, "recorded_at", &r->recorded_at);
        if (e == 0)
                e = take_fields(&c, w->invocation, w->outcome, r);
        if (e == 0)
                e = take(&c, &w->payload_hash_sha256, "payload_hash_sha256", &r->payload_hash_sha256);
        if (e == 0 && w->signature)
                e = take_signature(&c, w->signature, &r->signature);
        if (e == 0 && w->tenant_opt_case == AKWIRE__V1__RECEIPT__TENANT_OPT_TENANT)
                e = take(&c, &w->tenant, "tenant", &r->tenant);
out:
        akwire__v1__receipt__free_unpacked(w, NULL);
        if (e < 0) {
                receipt_free(r);
                return e;
        }
        *ret = r;
        return 0;
}
