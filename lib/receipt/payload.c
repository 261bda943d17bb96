/* Serialization in serde_json's byte order and layout. Field order is the
 * Rust struct declaration order; see receipt.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json/writer.h"
#include "lib/receipt/receipt.h"

#define KEY(w, k) json_writer_key(w, k, sizeof(k) - 1)

static bool strv_ok(char *const *v, size_t n)
{
        if (n && !v)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!v[i])
                        return false;
        return true;
}

bool receipt_fields_complete(const struct receipt *r)
{
        const struct receipt_invocation *inv = &r->invocation;

        if (!r->outcome.output_sha256)
                return false;
        if (inv->mode == RECEIPT_MODE_RUN)
                return inv->run.profile && strv_ok(inv->run.command, inv->run.n_command);
        if (inv->mode == RECEIPT_MODE_EXEC)
                return inv->exec.name && strv_ok(inv->exec.command, inv->exec.n_command) &&
                       strv_ok(inv->exec.env, inv->exec.n_env);
        return false;
}

static bool payload_ok(const struct receipt *r)
{
        return r->receipt_id && r->recorded_at && receipt_fields_complete(r);
}

static void write_str(struct json_writer *w, const char *s)
{
        json_writer_string(w, s, strlen(s));
}

static void write_strv(struct json_writer *w, char *const *v, size_t n)
{
        json_writer_begin_array(w);
        for (size_t i = 0; i < n; i++)
                write_str(w, v[i]);
        json_writer_end_array(w);
}

static void write_invocation(struct json_writer *w, const struct receipt_invocation *inv)
{
        json_writer_begin_object(w);
        KEY(w, "mode");
        if (inv->mode == RECEIPT_MODE_RUN) {
                const struct receipt_run *run = &inv->run;
                write_str(w, "run");
                KEY(w, "input");
                json_writer_begin_object(w);
                KEY(w, "command");
                write_strv(w, run->command, run->n_command);
                KEY(w, "image");
                json_writer_string_or_null(w, run->image);
                KEY(w, "backend");
                json_writer_string_or_null(w, run->backend);
                KEY(w, "profile");
                write_str(w, run->profile);
                KEY(w, "no_network");
                json_writer_bool(w, run->no_network);
                KEY(w, "fast");
                json_writer_bool(w, run->fast);
                KEY(w, "keep");
                json_writer_bool(w, run->keep);
                json_writer_end_object(w);
        } else {
                const struct receipt_exec *ex = &inv->exec;
                write_str(w, "exec");
                KEY(w, "input");
                json_writer_begin_object(w);
                KEY(w, "name");
                write_str(w, ex->name);
                KEY(w, "command");
                write_strv(w, ex->command, ex->n_command);
                KEY(w, "env");
                write_strv(w, ex->env, ex->n_env);
                KEY(w, "workdir");
                json_writer_string_or_null(w, ex->workdir);
                KEY(w, "sudo");
                json_writer_bool(w, ex->sudo);
                json_writer_end_object(w);
        }
        json_writer_end_object(w);
}

static void write_outcome(struct json_writer *w, const struct receipt_outcome *o)
{
        json_writer_begin_object(w);
        KEY(w, "exit_code");
        json_writer_i64(w, o->exit_code);
        KEY(w, "success");
        json_writer_bool(w, o->success);
        KEY(w, "output_sha256");
        write_str(w, o->output_sha256);
        KEY(w, "output_bytes");
        json_writer_u64(w, o->output_bytes);
        KEY(w, "error");
        json_writer_string_or_null(w, o->error);
        json_writer_end_object(w);
}

/* The five payload fields, inside an object the caller opened. */
static void write_payload_fields(struct json_writer *w, const struct receipt *r)
{
        KEY(w, "version");
        json_writer_u64(w, r->version);
        KEY(w, "receipt_id");
        write_str(w, r->receipt_id);
        KEY(w, "recorded_at");
        write_str(w, r->recorded_at);
        KEY(w, "invocation");
        write_invocation(w, &r->invocation);
        KEY(w, "outcome");
        write_outcome(w, &r->outcome);
}

int receipt_payload(const struct receipt *r, char **ret_data, size_t *ret_len)
{
        struct json_writer *w;
        int e;

        if (!payload_ok(r))
                return -EINVAL;
        e = json_writer_new(0, 0, &w);
        if (e < 0)
                return e;
        json_writer_begin_object(w);
        write_payload_fields(w, r);
        json_writer_end_object(w);
        e = json_writer_finish(w, ret_data, ret_len);
        json_writer_free(w);
        return e;
}

int receipt_to_json(const struct receipt *r, bool pretty, char **ret_data, size_t *ret_len)
{
        const struct receipt_signature *s = r->signature;
        struct json_writer *w;
        int e;

        if (!payload_ok(r) || !r->payload_hash_sha256)
                return -EINVAL;
        if (s && (!s->algorithm || !s->key_id || !s->public_key || !s->signature))
                return -EINVAL;
        e = json_writer_new(pretty ? JSON_WRITER_PRETTY : 0, 0, &w);
        if (e < 0)
                return e;
        json_writer_begin_object(w);
        write_payload_fields(w, r);
        KEY(w, "payload_hash_sha256");
        write_str(w, r->payload_hash_sha256);
        KEY(w, "signature");
        if (s) {
                json_writer_begin_object(w);
                KEY(w, "algorithm");
                write_str(w, s->algorithm);
                KEY(w, "key_id");
                write_str(w, s->key_id);
                KEY(w, "public_key");
                write_str(w, s->public_key);
                KEY(w, "signature");
                write_str(w, s->signature);
                json_writer_end_object(w);
        } else {
                json_writer_null(w);
        }
        /* Unsigned metadata after the signature (receipt.h); absent when
         * unset, so agentkernel's bytes are unchanged. */
        if (r->tenant) {
                KEY(w, "tenant");
                write_str(w, r->tenant);
        }
        json_writer_end_object(w);
        e = json_writer_finish(w, ret_data, ret_len);
        json_writer_free(w);
        return e;
}
