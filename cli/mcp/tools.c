/* The tool handlers: arguments checked as agentkernel checks them (a missing
 * or mistyped one is a tool error naming it), then one or a few scheduler
 * calls, and agentkernel's result texts. Command output is bounded by
 * mcp_text as it streams in. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/mcp/tools.h"
#include "cli/mcp/tools_impl.h"
#include "cli/stack.h"
#include "lib/base/utf8.h"
#include "lib/encoding/base64.h"
#include "protos/ak/v1/scheduler.pb-c.h"

#define RUN_TIMEOUT_MS 30000u   /* agentkernel's sandbox_run default */

int mcp_tools_new(struct mcp_tools **ret)
{
        struct mcp_tools *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

void mcp_tools_free(struct mcp_tools *t)
{
        if (!t)
                return;
        rpc_channel_free(t->ch);
        free(t);
}

void mcp_fail(struct mcp_tool_result *res, const char *fmt, ...)
{
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        mcp_text_init(&res->text);
        mcp_text_printf(&res->text, "Error: %s", msg);
        res->is_error = true;
}

static bool tools_connect(struct mcp_tools *t, struct mcp_tool_result *res)
{
        struct ak_error err = { 0 };

        if (t->ch)
                return true;
        if (stack_client(true, &t->ch, &t->o, &err) < 0) {
                t->ch = NULL;
                mcp_fail(res, "cannot reach the scheduler: %s", err.msg);
                return false;
        }
        return true;
}

/* A string argument: NULL when absent (an error when required or mistyped). */
bool mcp_arg_str(const struct json_value *args, const char *key, bool required, const char **ret,
                    struct mcp_tool_result *res)
{
        const struct json_value *v = json_object_get(args, key);
        size_t len;

        *ret = NULL;
        if (!v || json_value_type(v) == JSON_NULL) {
                if (required)
                        mcp_fail(res, "%s is required", key);
                return !required;
        }
        if (json_value_type(v) != JSON_STRING) {
                mcp_fail(res, "%s must be a string, not %s", key, json_type_name(json_value_type(v)));
                return false;
        }
        *ret = json_string(v, &len);
        if (strlen(*ret) != len) {
                mcp_fail(res, "%s holds a NUL byte", key);
                return false;
        }
        return true;
}

bool mcp_arg_bool(const struct json_value *args, const char *key, bool def, bool *ret,
                     struct mcp_tool_result *res)
{
        const struct json_value *v = json_object_get(args, key);

        *ret = def;
        if (!v || json_value_type(v) == JSON_NULL)
                return true;
        if (json_value_type(v) != JSON_BOOL) {
                mcp_fail(res, "%s must be a boolean, not %s", key, json_type_name(json_value_type(v)));
                return false;
        }
        *ret = json_bool(v);
        return true;
}

/* An array of strings into a malloc'd char* array (pointing into args). */
bool mcp_arg_strings(const struct json_value *args, const char *key, bool required, size_t max, char ***ret,
                        size_t *ret_n, struct mcp_tool_result *res)
{
        const struct json_value *v = json_object_get(args, key);

        *ret = NULL;
        *ret_n = 0;
        if (!v || json_value_type(v) == JSON_NULL || (json_value_type(v) == JSON_ARRAY && !json_array_size(v))) {
                if (required)
                        mcp_fail(res, "%s is required", key);
                return !required;
        }
        if (json_value_type(v) != JSON_ARRAY) {
                mcp_fail(res, "%s must be an array of strings, not %s", key, json_type_name(json_value_type(v)));
                return false;
        }
        size_t n = json_array_size(v), len;
        if (n > max) {
                mcp_fail(res, "%s has %zu entries; at most %zu", key, n, max);
                return false;
        }
        char **a = calloc(n, sizeof(*a));
        if (!a) {
                mcp_fail(res, "out of memory");
                return false;
        }
        for (size_t i = 0; i < n; i++) {
                const struct json_value *e = json_array_get(v, i);
                if (json_value_type(e) != JSON_STRING || strlen(json_string(e, &len)) != len) {
                        mcp_fail(res, "%s[%zu] must be a string without NUL bytes", key, i);
                        free(a);
                        return false;
                }
                a[i] = (char *)json_string(e, NULL);
        }
        *ret = a;
        *ret_n = n;
        return true;
}

bool mcp_arg_secrets(const struct json_value *args, Ak__V1__SandboxSpec *spec, struct mcp_tool_result *res)
{
        if (!mcp_arg_strings(args, "secrets", false, SECRETS_MAX, &spec->secrets, &spec->n_secrets, res))
                return false;
        if (!mcp_arg_strings(args, "secret_files", false, SECRETS_MAX, &spec->secret_files, &spec->n_secret_files,
                             res)) {
                mcp_spec_secrets_free(spec);
                return false;
        }
        /* "KEY=value:host" would carry the value through the scheduler: refused
         * as the gateway refuses it, naming the index, never the text. */
        for (size_t i = 0; i < spec->n_secrets; i++)
                if (strchr(spec->secrets[i], '=')) {
                        mcp_fail(res, "secrets[%zu]: the KEY=value form is not accepted (values never cross the "
                                      "API): store the value on the executor's node (ak secret set KEY) and give "
                                      "KEY:host[:header]", i);
                        mcp_spec_secrets_free(spec);
                        return false;
                }
        return true;
}

void mcp_spec_secrets_free(Ak__V1__SandboxSpec *spec)
{
        free(spec->secrets);
        free(spec->secret_files);
        spec->secrets = spec->secret_files = NULL;
        spec->n_secrets = spec->n_secret_files = 0;
}

bool mcp_unary(struct mcp_tools *t, const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp,
                  struct mcp_tool_result *res)
{
        struct ak_error err = { 0 };

        if (!tools_connect(t, res))
                return false;
        if (rpc_unary(t->ch, &ak__v1__scheduler__descriptor, method, req, &t->o, resp, &err) != RPC_OK) {
                mcp_fail(res, "%s", err.msg);
                return false;
        }
        return true;
}

/* Streams Run or Exec: output into res, the outcome into its first line. */
static void stream(struct mcp_tools *t, const char *method, const ProtobufCMessage *req,
                   struct mcp_tool_result *res)
{
        struct rpc_stream *s = NULL;
        struct ak_error err = { 0 };
        bool got = false;

        if (!tools_connect(t, res))
                return;
        if (rpc_stream_open(t->ch, &ak__v1__scheduler__descriptor, method, req, &t->o, &s, &err) != RPC_OK) {
                mcp_fail(res, "%s", err.msg);
                return;
        }
        for (;;) {
                Ak__V1__OutputChunk *c = NULL;
                int r = rpc_stream_next(s, (ProtobufCMessage **)&c, &err);
                if (r == 0)
                        break;
                if (r < 0) {
                        mcp_text_prefix(&res->text, "Error: %s\n", err.msg);
                        res->is_error = true;
                        got = true;
                        break;
                }
                if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDOUT)
                        mcp_text_append(&res->text, c->stdout.data, c->stdout.len);
                else if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDERR)
                        mcp_text_append(&res->text, c->stderr.data, c->stderr.len);
                else if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_RESULT && !got) {
                        const Ak__V1__ExecResult *x = c->result;
                        got = true;
                        if (x->timed_out) {
                                mcp_text_prefix(&res->text, "Error: the command timed out and was killed\n");
                                res->is_error = true;
                        } else if (x->error && *x->error) {
                                mcp_text_prefix(&res->text, "Error: %.400s (exit code %d)\n", x->error,
                                                x->exit_code);
                                res->is_error = true;
                        } else if (x->exit_code != 0) {
                                mcp_text_prefix(&res->text, "Error: command exited with code %d\n", x->exit_code);
                                res->is_error = true;
                        }
                }
                protobuf_c_message_free_unpacked(&c->base, NULL);
        }
        if (!got) {
                mcp_text_prefix(&res->text, "Error: the scheduler ended the call without a result\n");
                res->is_error = true;
        }
        rpc_stream_free(s);
}

static void remove_quietly(struct mcp_tools *t, const char *name)
{
        Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        struct ak_error err = { 0 };

        rm.name = (char *)name;
        if (rpc_unary(t->ch, &ak__v1__scheduler__descriptor, "RemoveSandbox", &rm.base, &t->o, &resp, &err) ==
            RPC_OK)
                protobuf_c_message_free_unpacked(resp, NULL);
}

/* sandbox_run's options that ak cannot honour are refused, not ignored. */
static bool run_refusals(const struct json_value *args, struct mcp_tool_result *res)
{
        const char *mode = NULL;
        char **ports = NULL;
        size_t n_ports;

        if (!mcp_arg_strings(args, "ports", false, 64, &ports, &n_ports, res))
                return false;
        free(ports);
        if (n_ports) {
                mcp_fail(res, "ports: port mappings are not supported by ak's microVMs");
                return false;
        }
        if (!mcp_arg_str(args, "compatibility_mode", false, &mode, res))
                return false;
        if (mode && strcmp(mode, "native") != 0) {
                mcp_fail(res, "compatibility_mode %s: only native is supported; use profile and network", mode);
                return false;
        }
        return true;
}

/* The spec from sandbox_run's image, profile, network, env and secrets
 * (mcp_spec_secrets_free after, also when it fails). */
static bool run_spec(const struct json_value *args, Ak__V1__SandboxSpec *spec,
                     Ak__V1__SandboxSpec__EnvEntry *entries, Ak__V1__SandboxSpec__EnvEntry **eps,
                     struct mcp_tool_result *res)
{
        const char *image, *profile;
        const struct json_value *network = json_object_get(args, "network"), *env = json_object_get(args, "env");
        bool net;

        if (!mcp_arg_str(args, "image", false, &image, res) || !mcp_arg_str(args, "profile", false, &profile, res) ||
            !mcp_arg_bool(args, "network", true, &net, res))
                return false;
        if (!mcp_arg_secrets(args, spec, res))
                return false;
        spec->image = (char *)(image ? image : "");
        spec->profile = (char *)(profile ? profile : "");
        if (network && json_value_type(network) == JSON_BOOL)
                spec->network = net ? AK__V1__NETWORK__NETWORK_ON : AK__V1__NETWORK__NETWORK_OFF;
        if (env && json_value_type(env) != JSON_NULL) {
                if (json_value_type(env) != JSON_OBJECT || json_object_size(env) > ENV_MAX) {
                        mcp_fail(res, "env must be an object of at most %d string values", ENV_MAX);
                        mcp_spec_secrets_free(spec);
                        return false;
                }
                for (size_t i = 0; i < json_object_size(env); i++) {
                        const struct json_value *v = json_object_value(env, i);
                        size_t kl, vl;
                        const char *k = json_object_key(env, i, &kl);
                        if (json_value_type(v) != JSON_STRING || strlen(json_string(v, &vl)) != vl ||
                            strlen(k) != kl) {
                                mcp_fail(res, "env.%.64s must be a string without NUL bytes", k);
                                mcp_spec_secrets_free(spec);
                                return false;
                        }
                        Ak__V1__SandboxSpec__EnvEntry e = AK__V1__SANDBOX_SPEC__ENV_ENTRY__INIT;
                        e.key = (char *)k;
                        e.value = (char *)json_string(v, NULL);
                        entries[i] = e;
                        eps[i] = &entries[i];
                }
                spec->n_env = json_object_size(env);
                spec->env = eps;
        }
        return true;
}

void mcp_tool_run(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        struct mcp_tools *t = ctx;
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        Ak__V1__SandboxSpec__EnvEntry entries[ENV_MAX], *eps[ENV_MAX];
        const struct json_value *tv = json_object_get(args, "timeout_ms");
        uint64_t timeout = RUN_TIMEOUT_MS;
        const char *cwd;
        char **argv = NULL;
        size_t argc;

        if (!mcp_arg_strings(args, "command", true, ARGV_MAX, &argv, &argc, res))
                return;
        if (tv && json_value_type(tv) != JSON_NULL &&
            (json_number_u64(tv, &timeout) < 0 || timeout == 0 || timeout > 86400000)) {
                mcp_fail(res, "timeout_ms must be an integer from 1 to 86400000");
                goto out;
        }
        if (!run_refusals(args, res) || !mcp_arg_str(args, "cwd", false, &cwd, res) ||
            !run_spec(args, &spec, entries, eps, res))
                goto out;
        if (!cwd) {
                Ak__V1__RunRequest req = AK__V1__RUN_REQUEST__INIT;
                req.spec = &spec;
                req.argv = argv;
                req.n_argv = argc;
                req.timeout_ms = (uint32_t)timeout;
                stream(t, "Run", &req.base, res);
                goto out;
        }
        /* A working directory: the Run call has none, so create, exec, remove. */
        spec.persistent = true;
        spec.ttl_seconds = (uint32_t)(timeout / 1000) + 3600; /* gone even if we die */
        Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
        Ak__V1__Sandbox *sb = NULL;
        cr.spec = &spec;
        if (!mcp_unary(t, "CreateSandbox", &cr.base, (ProtobufCMessage **)&sb, res))
                goto out;
        char name[128];
        snprintf(name, sizeof(name), "%s", sb->spec && sb->spec->name ? sb->spec->name : "");
        protobuf_c_message_free_unpacked(&sb->base, NULL);
        Ak__V1__ExecRequest ex = AK__V1__EXEC_REQUEST__INIT;
        ex.sandbox = name;
        ex.argv = argv;
        ex.n_argv = argc;
        ex.workdir = (char *)cwd;
        ex.sudo = true; /* as the Run call: one-shot commands are root's */
        ex.timeout_ms = (uint32_t)timeout;
        stream(t, "Exec", &ex.base, res);
        remove_quietly(t, name);
out:
        mcp_spec_secrets_free(&spec);
        free(argv);
}

void mcp_tool_exec(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
        const char *name, *workdir;
        char **argv = NULL, **env = NULL;
        size_t argc, n_env;
        bool sudo;

        if (mcp_arg_str(args, "name", true, &name, res) &&
            mcp_arg_strings(args, "command", true, ARGV_MAX, &argv, &argc, res) &&
            mcp_arg_strings(args, "env", false, ENV_MAX, &env, &n_env, res) &&
            mcp_arg_str(args, "workdir", false, &workdir, res) && mcp_arg_bool(args, "sudo", false, &sudo, res)) {
                req.sandbox = (char *)name;
                req.argv = argv;
                req.n_argv = argc;
                req.env = env;
                req.n_env = n_env;
                req.workdir = (char *)(workdir ? workdir : "");
                req.sudo = sudo;
                stream(ctx, "Exec", &req.base, res);
        }
        free(argv);
        free(env);
}
