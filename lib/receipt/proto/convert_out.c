/* struct receipt → protobuf messages, every part heap-allocated so that
 * protobuf_c_message_free_unpacked frees the lot (also half-built ones). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/receipt/proto/receipt_proto.h"

/* A heap copy of a message's INIT value. */
#define NEW_MSG(type, init)                                \
        ({                                                 \
                type *_m = malloc(sizeof(type));           \
                if (_m) {                                  \
                        type _init = init;                 \
                        *_m = _init;                       \
                }                                          \
                _m;                                        \
        })

static int dup_str(const char *s, char **ret)
{
        char *d = strdup(s);

        if (!d)
                return -ENOMEM;
        *ret = d;
        return 0;
}

static int dup_strv(char *const *v, size_t n, char ***ret, size_t *ret_n)
{
        char **out;

        if (n == 0)
                return 0;
        out = calloc(n, sizeof(*out));
        if (!out)
                return -ENOMEM;
        /* Counted before it is filled: a failure frees what was copied. */
        *ret = out;
        *ret_n = n;
        for (size_t i = 0; i < n; i++) {
                out[i] = strdup(v[i]);
                if (!out[i]) {
                        *ret_n = i;
                        return -ENOMEM;
                }
        }
        return 0;
}

static int run_to_proto(const struct receipt_run *run, Ak__V1__RunInvocation *m)
{
        int r = dup_strv(run->command, run->n_command, &m->command, &m->n_command);

        if (r == 0 && run->image) {
                m->image_opt_case = AK__V1__RUN_INVOCATION__IMAGE_OPT_IMAGE;
                r = dup_str(run->image, &m->image);
        }
        if (r == 0 && run->backend) {
                m->backend_opt_case = AK__V1__RUN_INVOCATION__BACKEND_OPT_BACKEND;
                r = dup_str(run->backend, &m->backend);
        }
        if (r == 0)
                r = dup_str(run->profile, &m->profile);
        m->no_network = run->no_network;
        m->fast = run->fast;
        m->keep = run->keep;
        return r;
}

static int exec_to_proto(const struct receipt_exec *ex, Ak__V1__ExecInvocation *m)
{
        int r = dup_str(ex->name, &m->name);

        if (r == 0)
                r = dup_strv(ex->command, ex->n_command, &m->command, &m->n_command);
        if (r == 0)
                r = dup_strv(ex->env, ex->n_env, &m->env, &m->n_env);
        if (r == 0 && ex->workdir) {
                m->workdir_opt_case = AK__V1__EXEC_INVOCATION__WORKDIR_OPT_WORKDIR;
                r = dup_str(ex->workdir, &m->workdir);
        }
        m->sudo = ex->sudo;
        return r;
}

static int invocation_to_proto(const struct receipt_invocation *inv, Ak__V1__Invocation **ret)
{
        Ak__V1__Invocation *m = NEW_MSG(Ak__V1__Invocation, AK__V1__INVOCATION__INIT);

        if (!m)
                return -ENOMEM;
        *ret = m;
        if (inv->mode == RECEIPT_MODE_RUN) {
                m->run = NEW_MSG(Ak__V1__RunInvocation, AK__V1__RUN_INVOCATION__INIT);
                if (!m->run)
                        return -ENOMEM;
                m->mode_case = AK__V1__INVOCATION__MODE_RUN;
                return run_to_proto(&inv->run, m->run);
        }
        m->exec = NEW_MSG(Ak__V1__ExecInvocation, AK__V1__EXEC_INVOCATION__INIT);
        if (!m->exec)
                return -ENOMEM;
        m->mode_case = AK__V1__INVOCATION__MODE_EXEC;
        return exec_to_proto(&inv->exec, m->exec);
}

static int outcome_to_proto(const struct receipt_outcome *o, Ak__V1__ExecutionOutcome **ret)
{
        Ak__V1__ExecutionOutcome *m = NEW_MSG(Ak__V1__ExecutionOutcome, AK__V1__EXECUTION_OUTCOME__INIT);
        int r;

        if (!m)
                return -ENOMEM;
        *ret = m;
        m->exit_code = o->exit_code;
        m->success = o->success;
        m->output_bytes = o->output_bytes;
        r = dup_str(o->output_sha256, &m->output_sha256);
        if (r == 0 && o->error) {
                m->error_opt_case = AK__V1__EXECUTION_OUTCOME__ERROR_OPT_ERROR;
                r = dup_str(o->error, &m->error);
        }
        return r;
}

int receipt_proto_request_from_receipt(const struct receipt *r, Ak__V1__SignReceiptRequest **ret)
{
        Ak__V1__SignReceiptRequest *m;
        int e;

        if (!receipt_fields_complete(r))
                return -EINVAL;
        m = NEW_MSG(Ak__V1__SignReceiptRequest, AK__V1__SIGN_RECEIPT_REQUEST__INIT);
        if (!m)
                return -ENOMEM;
        e = invocation_to_proto(&r->invocation, &m->invocation);
        if (e == 0)
                e = outcome_to_proto(&r->outcome, &m->outcome);
        if (e < 0) {
                protobuf_c_message_free_unpacked(&m->base, NULL);
                return e;
        }
        *ret = m;
        return 0;
}

static int signature_to_proto(const struct receipt_signature *s, Ak__V1__ReceiptSignature **ret)
{
        Ak__V1__ReceiptSignature *m = NEW_MSG(Ak__V1__ReceiptSignature, AK__V1__RECEIPT_SIGNATURE__INIT);
        int r;

        if (!m)
                return -ENOMEM;
        *ret = m;
        r = dup_str(s->algorithm, &m->algorithm);
        if (r == 0)
                r = dup_str(s->key_id, &m->key_id);
        if (r == 0)
                r = dup_str(s->public_key, &m->public_key);
        if (r == 0)
                r = dup_str(s->signature, &m->signature);
        return r;
}

int receipt_proto_from_receipt(const struct receipt *r, const char *json, Ak__V1__Receipt **ret)
{
        const struct receipt_signature *s = r->signature;
        Ak__V1__Receipt *m;
        int e;

        if (!receipt_fields_complete(r) || !r->receipt_id || !r->recorded_at || !r->payload_hash_sha256)
                return -EINVAL;
        if (s && (!s->algorithm || !s->key_id || !s->public_key || !s->signature))
                return -EINVAL;
        m = NEW_MSG(Ak__V1__Receipt, AK__V1__RECEIPT__INIT);
        if (!m)
                return -ENOMEM;
        m->version = r->version;
        e = dup_str(r->receipt_id, &m->receipt_id);
        if (e == 0)
                e = dup_str(r->recorded_at, &m->recorded_at);
        if (e == 0)
                e = invocation_to_proto(&r->invocation, &m->invocation);
        if (e == 0)
                e = outcome_to_proto(&r->outcome, &m->outcome);
        if (e == 0)
                e = dup_str(r->payload_hash_sha256, &m->payload_hash_sha256);
        if (e == 0 && s)
                e = signature_to_proto(s, &m->signature);
        if (e == 0 && json)
                e = dup_str(json, &m->json);
        if (e == 0 && r->tenant) {
                m->tenant_opt_case = AK__V1__RECEIPT__TENANT_OPT_TENANT;
                e = dup_str(r->tenant, &m->tenant);
        }
        if (e < 0) {
                protobuf_c_message_free_unpacked(&m->base, NULL);
                return e;
        }
        *ret = m;
        return 0;
}

int receipt_proto_set_tenant(Ak__V1__Receipt *m, const char *tenant, struct ak_error *err)
{
        char *json = NULL, *copy = NULL;
        size_t len;
        int e;

        if (tenant && !(copy = strdup(tenant)))
                return ak_error_set(err, -ENOMEM, "out of memory");
        if (m->json && m->json[0]) {
                struct receipt *r = NULL;
                char *why = NULL;
                e = receipt_from_json(m->json, strlen(m->json), &r, &why);
                if (e < 0) {
                        e = ak_error_set(err, e == -ENOMEM ? e : -EINVAL, "receipt json: %s",
                                         why ? why : "out of memory");
                        free(why);
                        free(copy);
                        return e;
                }
                free(r->tenant);
                r->tenant = copy;
                /* Pretty as the signer writes it ("{\n  ..."), else compact. */
                e = receipt_to_json(r, m->json[1] == '\n', &json, &len);
                r->tenant = NULL;
                receipt_free(r);
                if (e < 0) {
                        free(copy);
                        return ak_error_set(err, e, "receipt json: %s", e == -ENOMEM ? "out of memory" : "incomplete");
                }
                if (m->json != protobuf_c_empty_string)
                        free(m->json);
                m->json = json;
        }
        if (m->tenant_opt_case == AK__V1__RECEIPT__TENANT_OPT_TENANT)
                free(m->tenant);
        m->tenant_opt_case = copy ? AK__V1__RECEIPT__TENANT_OPT_TENANT : AK__V1__RECEIPT__TENANT_OPT__NOT_SET;
        m->tenant = copy;
        return 0;
}
