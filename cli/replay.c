/* Re-running a receipt's invocation (see replay.h). The output is not
 * printed: it is hashed chunk by chunk in the order the stream carries it,
 * which is the order the executor hashed it for the receipt. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/replay.h"
#include "cli/stack.h"
#include "lib/crypto/crypto.h"
#include "protos/ak/v1/scheduler.pb-c.h"

/* Saves the new run's receipt beside the others; "" when there is none. */
static void save_receipt(const Ak__V1__ExecResult *res, struct replay_outcome *out)
{
        const Ak__V1__Receipt *rc = res->receipt;
        struct stack st;
        struct ak_error e = { 0 };
        out->receipt_path[0] = 0;
        if (!rc || !rc->json || !*rc->json || !rc->receipt_id || !*rc->receipt_id || stack_paths(&st, &e) < 0)
                return;
        char path[sizeof(out->receipt_path)];
        snprintf(path, sizeof(path), "%s/receipts/%s.json", st.home, rc->receipt_id);
        if (receipt_write_private_file(path, rc->json, strlen(rc->json)) == 0)
                snprintf(out->receipt_path, sizeof(out->receipt_path), "%s", path);
}

/* Reads the stream to its result, hashing the output. */
static int collect(struct rpc_stream *s, struct replay_outcome *out, struct ak_error *err)
{
        struct crypto_sha256 *h = NULL;
        bool got = false;
        if (crypto_sha256_new(&h) < 0)
                return ak_error_set(err, -ENOMEM, "replay: out of memory");
        uint64_t bytes = 0;
        for (;;) {
                Ak__V1__OutputChunk *c = NULL;
                int r = rpc_stream_next(s, (ProtobufCMessage **)&c, err);
                if (r == 0)
                        break;
                if (r < 0) {
                        crypto_sha256_free(h);
                        return -EIO;
                }
                if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDOUT) {
                        crypto_sha256_update(h, c->stdout.data, c->stdout.len);
                        bytes += c->stdout.len;
                } else if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDERR) {
                        crypto_sha256_update(h, c->stderr.data, c->stderr.len);
                        bytes += c->stderr.len;
                } else if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_RESULT && !got) {
                        got = true;
                        out->exit_code = c->result->exit_code;
                        snprintf(out->error, sizeof(out->error), "%s", c->result->error ? c->result->error : "");
                        save_receipt(c->result, out);
                }
                protobuf_c_message_free_unpacked(&c->base, NULL);
        }
        uint8_t d[CRYPTO_SHA256_LEN];
        crypto_sha256_final(h, d);
        crypto_sha256_free(h);
        if (!got)
                return ak_error_set(err, -EPROTO, "replay: the stream ended without a result");
        for (size_t i = 0; i < sizeof(d); i++)
                snprintf(out->output_sha256 + 2 * i, 3, "%02x", d[i]);
        out->output_bytes = bytes;
        return 0;
}

int cli_replay_run(const struct receipt *r, struct replay_outcome *ret, struct ak_error *err)
{
        struct rpc_channel *ch = NULL;
        struct rpc_call_options o;
        struct rpc_stream *s = NULL;
        int rc;
        if ((rc = stack_client(true, &ch, &o, err)) < 0)
                return rc;
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        Ak__V1__RunRequest run = AK__V1__RUN_REQUEST__INIT;
        Ak__V1__ExecRequest ex = AK__V1__EXEC_REQUEST__INIT;
        const char *method;
        const ProtobufCMessage *req;
        if (r->invocation.mode == RECEIPT_MODE_RUN) {
                const struct receipt_run *in = &r->invocation.run;
                if (in->image)
                        spec.image = in->image;
                if (in->profile)
                        spec.profile = in->profile;
                if (in->no_network)
                        spec.network = AK__V1__NETWORK__NETWORK_OFF;
                run.spec = &spec;
                run.argv = in->command;
                run.n_argv = in->n_command;
                method = "Run";
                req = &run.base;
        } else {
                const struct receipt_exec *in = &r->invocation.exec;
                ex.sandbox = in->name;
                ex.argv = in->command;
                ex.n_argv = in->n_command;
                ex.env = in->env;
                ex.n_env = in->n_env;
                if (in->workdir)
                        ex.workdir = in->workdir;
                ex.sudo = in->sudo;
                method = "Exec";
                req = &ex.base;
        }
        struct replay_outcome out = { 0 };
        rc = rpc_stream_open(ch, &ak__v1__scheduler__descriptor, method, req, &o, &s, err) == RPC_OK ? 0 : -EIO;
        if (rc == 0)
                rc = collect(s, &out, err);
        rpc_stream_free(s);
        rpc_channel_free(ch);
        if (rc == 0)
                *ret = out;
        return rc;
}
