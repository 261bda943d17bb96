/* JSON tree -> struct receipt with serde's derived-Deserialize semantics:
 * a struct is an object (unknown keys ignored, duplicate known keys an error,
 * missing Option fields None, other missing fields an error) or an array of
 * exactly its fields in order (serde's visit_seq); integers must be integers
 * in range; Option<T> is null or T. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json/json.h"
#include "lib/receipt/receipt.h"
#include "lib/receipt/receipt_internal.h"

#define MAX_FIELDS 8

struct field {
        const char *name;
        bool optional;
};

/* Collects the values of a struct's fields into slots[] (NULL: absent). */
static int struct_fields(const struct json_value *v, const char *what, const struct field *fields, size_t n,
                         const struct json_value **slots, char **error)
{
        memset(slots, 0, n * sizeof(*slots));
        if (json_value_type(v) == JSON_ARRAY) {
                if (json_array_size(v) != n)
                        return receipt_error(error, -EINVAL, "invalid length %zu, expected %s with %zu elements",
                                             json_array_size(v), what, n);
                for (size_t i = 0; i < n; i++)
                        slots[i] = json_array_get(v, i);
                return 0;
        }
        if (json_value_type(v) != JSON_OBJECT)
                return receipt_error(error, -EINVAL, "invalid type: %s, expected %s",
                                     json_type_name(json_value_type(v)), what);
        for (size_t m = 0; m < json_object_size(v); m++) {
                size_t klen;
                const char *key = json_object_key(v, m, &klen);
                for (size_t i = 0; i < n; i++) {
                        if (strlen(fields[i].name) != klen || memcmp(fields[i].name, key, klen) != 0)
                                continue;
                        if (slots[i])
                                return receipt_error(error, -EINVAL, "duplicate field `%s` in %s", fields[i].name,
                                                     what);
                        slots[i] = json_object_value(v, m);
                        break;
                }
        }
        for (size_t i = 0; i < n; i++)
                if (!slots[i] && !fields[i].optional)
                        return receipt_error(error, -EINVAL, "missing field `%s` in %s", fields[i].name, what);
        return 0;
}

static int invalid_type(char **error, const struct json_value *v, const char *expected, const char *field)
{
        return receipt_error(error, -EINVAL, "invalid type: %s, expected %s (field `%s`)",
                             json_type_name(json_value_type(v)), expected, field);
}

static int dec_string(const struct json_value *v, const char *field, char **ret, char **error)
{
        size_t len;
        const char *s = json_string(v, &len);
        char *d;

        if (!s)
                return invalid_type(error, v, "a string", field);
        if (memchr(s, '\0', len))
                return receipt_error(error, -EINVAL, "string with U+0000 is not supported (field `%s`)", field);
        d = strndup(s, len);
        if (!d)
                return receipt_error(error, -ENOMEM, "out of memory");
        *ret = d;
        return 0;
}

/* Option<String>: absent or null -> NULL. */
static int dec_opt_string(const struct json_value *v, const char *field, char **ret, char **error)
{
        if (!v || json_value_type(v) == JSON_NULL) {
                *ret = NULL;
                return 0;
        }
        return dec_string(v, field, ret, error);
}

static int dec_bool(const struct json_value *v, const char *field, bool *ret, char **error)
{
        if (json_value_type(v) != JSON_BOOL)
                return invalid_type(error, v, "a boolean", field);
        *ret = json_bool(v);
        return 0;
}

static int dec_strv(const struct json_value *v, const char *field, char ***ret, size_t *ret_n, char **error)
{
        size_t n;
        char **out;
        int r;

        if (json_value_type(v) != JSON_ARRAY)
                return invalid_type(error, v, "a sequence", field);
        n = json_array_size(v);
        out = calloc(n + 1, sizeof(*out));
        if (!out)
                return receipt_error(error, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                r = dec_string(json_array_get(v, i), field, &out[i], error);
                if (r < 0) {
                        receipt_strv_free(out, i);
                        return r;
                }
        }
        *ret = out;
        *ret_n = n;
        return 0;
}

static int dec_integer(const struct json_value *v, const char *field, const char *type, bool is_signed,
                       int64_t min, uint64_t max, int64_t *ret_i, uint64_t *ret_u, char **error)
{
        int r;

        if (json_value_type(v) != JSON_NUMBER)
                return invalid_type(error, v, type, field);
        if (is_signed) {
                int64_t i;
                r = json_number_i64(v, &i);
                if (r == 0 && (i < min || i > (int64_t)max))
                        r = -ERANGE;
                if (r == 0)
                        *ret_i = i;
        } else {
                uint64_t u;
                r = json_number_u64(v, &u);
                if (r == 0 && u > max)
                        r = -ERANGE;
                if (r == 0)
                        *ret_u = u;
        }
        if (r == -EDOM)
                return receipt_error(error, -EINVAL, "invalid type: floating point `%s`, expected %s (field `%s`)",
                                     json_number_text(v), type, field);
        if (r < 0)
                return receipt_error(error, -EINVAL, "invalid value: integer `%s`, expected %s (field `%s`)",
                                     json_number_text(v), type, field);
        return 0;
}

static int dec_run(const struct json_value *v, struct receipt_run *run, char **error)
{
        static const struct field f[] = {
                { "command" }, { "image", true }, { "backend", true }, { "profile" },
                { "no_network" }, { "fast" }, { "keep" },
        };
        const struct json_value *s[7];
        int r;

        r = struct_fields(v, "struct RunInvocation", f, 7, s, error);
        if (r < 0)
                return r;
        if ((r = dec_strv(s[0], "command", &run->command, &run->n_command, error)) < 0 ||
            (r = dec_opt_string(s[1], "image", &run->image, error)) < 0 ||
            (r = dec_opt_string(s[2], "backend", &run->backend, error)) < 0 ||
            (r = dec_string(s[3], "profile", &run->profile, error)) < 0 ||
            (r = dec_bool(s[4], "no_network", &run->no_network, error)) < 0 ||
            (r = dec_bool(s[5], "fast", &run->fast, error)) < 0 ||
            (r = dec_bool(s[6], "keep", &run->keep, error)) < 0)
                return r;
        return 0;
}

static int dec_exec(const struct json_value *v, struct receipt_exec *ex, char **error)
{
        static const struct field f[] = {
                { "name" }, { "command" }, { "env" }, { "workdir", true }, { "sudo" },
        };
        const struct json_value *s[5];
        int r;

        r = struct_fields(v, "struct ExecInvocation", f, 5, s, error);
        if (r < 0)
                return r;
        if ((r = dec_string(s[0], "name", &ex->name, error)) < 0 ||
            (r = dec_strv(s[1], "command", &ex->command, &ex->n_command, error)) < 0 ||
            (r = dec_strv(s[2], "env", &ex->env, &ex->n_env, error)) < 0 ||
            (r = dec_opt_string(s[3], "workdir", &ex->workdir, error)) < 0 ||
            (r = dec_bool(s[4], "sudo", &ex->sudo, error)) < 0)
                return r;
        return 0;
}

/* #[serde(tag = "mode", content = "input", rename_all = "snake_case")] */
static int dec_invocation(const struct json_value *v, struct receipt_invocation *inv, char **error)
{
        static const struct field f[] = { { "mode" }, { "input" } };
        const struct json_value *s[2];
        const char *mode;
        size_t len;
        int r;

        r = struct_fields(v, "adjacently tagged enum Invocation", f, 2, s, error);
        if (r < 0)
                return r;
        mode = json_string(s[0], &len);
        if (!mode)
                return invalid_type(error, s[0], "variant identifier", "mode");
        if (len == 3 && memcmp(mode, "run", 3) == 0) {
                inv->mode = RECEIPT_MODE_RUN;
                return dec_run(s[1], &inv->run, error);
        }
        if (len == 4 && memcmp(mode, "exec", 4) == 0) {
                inv->mode = RECEIPT_MODE_EXEC;
                return dec_exec(s[1], &inv->exec, error);
        }
        return receipt_error(error, -EINVAL, "unknown variant `%.*s`, expected `run` or `exec`",
                             (int)(len > 64 ? 64 : len), mode);
}

static int dec_outcome(const struct json_value *v, struct receipt_outcome *o, char **error)
{
        static const struct field f[] = {
                { "exit_code" }, { "success" }, { "output_sha256" }, { "output_bytes" }, { "error", true },
        };
        const struct json_value *s[5];
        int64_t code = 0;
        uint64_t unused_u, bytes = 0;
        int r;

        r = struct_fields(v, "struct ExecutionOutcome", f, 5, s, error);
        if (r < 0)
                return r;
        if ((r = dec_integer(s[0], "exit_code", "i32", true, INT32_MIN, INT32_MAX, &code, &unused_u, error)) < 0 ||
            (r = dec_bool(s[1], "success", &o->success, error)) < 0 ||
            (r = dec_string(s[2], "output_sha256", &o->output_sha256, error)) < 0 ||
            (r = dec_integer(s[3], "output_bytes", "usize", false, 0, UINT64_MAX, NULL, &bytes, error)) < 0 ||
            (r = dec_opt_string(s[4], "error", &o->error, error)) < 0)
                return r;
        o->exit_code = (int32_t)code;
        o->output_bytes = bytes;
        return 0;
}

static int dec_signature(const struct json_value *v, struct receipt_signature **ret, char **error)
{
        static const struct field f[] = { { "algorithm" }, { "key_id" }, { "public_key" }, { "signature" } };
        const struct json_value *s[4];
        struct receipt_signature *sig;
        int r;

        if (!v || json_value_type(v) == JSON_NULL) {
                *ret = NULL;
                return 0;
        }
        r = struct_fields(v, "struct ReceiptSignature", f, 4, s, error);
        if (r < 0)
                return r;
        sig = calloc(1, sizeof(*sig));
        if (!sig)
                return receipt_error(error, -ENOMEM, "out of memory");
        if ((r = dec_string(s[0], "algorithm", &sig->algorithm, error)) < 0 ||
            (r = dec_string(s[1], "key_id", &sig->key_id, error)) < 0 ||
            (r = dec_string(s[2], "public_key", &sig->public_key, error)) < 0 ||
            (r = dec_string(s[3], "signature", &sig->signature, error)) < 0) {
                receipt_signature_free(sig);
                return r;
        }
        *ret = sig;
        return 0;
}

/* ak's unsigned "tenant" key (receipt.h): object form only; a string or
 * null; given twice is an error. */
static int dec_tenant(const struct json_value *v, char **ret, char **error)
{
        const struct json_value *found = NULL;

        *ret = NULL;
        if (json_value_type(v) != JSON_OBJECT)
                return 0;
        for (size_t m = 0; m < json_object_size(v); m++) {
                size_t klen;
                const char *key = json_object_key(v, m, &klen);
                if (klen != 6 || memcmp(key, "tenant", 6) != 0)
                        continue;
                if (found)
                        return receipt_error(error, -EINVAL, "duplicate field `tenant` in struct ExecutionReceipt");
                found = json_object_value(v, m);
        }
        return dec_opt_string(found, "tenant", ret, error);
}

static int dec_receipt(const struct json_value *v, struct receipt *rc, char **error)
{
        static const struct field f[] = {
                { "version" },    { "receipt_id" }, { "recorded_at" },         { "invocation" },
                { "outcome" },    { "payload_hash_sha256" }, { "signature", true },
        };
        const struct json_value *s[7];
        uint64_t version = 0;
        int64_t unused_i;
        int r;

        r = struct_fields(v, "struct ExecutionReceipt", f, 7, s, error);
        if (r < 0)
                return r;
        if ((r = dec_integer(s[0], "version", "u32", false, 0, UINT32_MAX, &unused_i, &version, error)) < 0 ||
            (r = dec_string(s[1], "receipt_id", &rc->receipt_id, error)) < 0 ||
            (r = dec_string(s[2], "recorded_at", &rc->recorded_at, error)) < 0 ||
            (r = dec_invocation(s[3], &rc->invocation, error)) < 0 ||
            (r = dec_outcome(s[4], &rc->outcome, error)) < 0 ||
            (r = dec_string(s[5], "payload_hash_sha256", &rc->payload_hash_sha256, error)) < 0 ||
            (r = dec_signature(s[6], &rc->signature, error)) < 0 ||
            (r = dec_tenant(v, &rc->tenant, error)) < 0)
                return r;
        rc->version = (uint32_t)version;
        return 0;
}

int receipt_from_json(const char *text, size_t len, struct receipt **ret, char **error)
{
        struct json_value *tree = NULL;
        struct json_error jerr = { 0 };
        struct receipt *rc = NULL;
        int r;

        if (len > RECEIPT_MAX_FILE_SIZE)
                return receipt_error(error, -E2BIG, "receipt larger than %zu bytes", RECEIPT_MAX_FILE_SIZE);
        r = json_parse(text, len, &tree, &jerr);
        if (r == -ENOMEM)
                return receipt_error(error, r, "out of memory");
        if (r < 0)
                return receipt_error(error, r, "%s", jerr.message);
        r = receipt_new(&rc);
        if (r < 0) {
                json_value_free(tree);
                return receipt_error(error, r, "out of memory");
        }
        r = dec_receipt(tree, rc, error);
        json_value_free(tree);
        if (r < 0) {
                receipt_free(rc);
                return r;
        }
        *ret = rc;
        return 0;
}
