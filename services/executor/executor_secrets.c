/* See executor_secrets.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/cleanup.h"
#include "lib/base/utf8.h"
#include "lib/guest/guest_client.h"
#include "lib/receipt/receipt.h"
#include "lib/vault/vault.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_secrets.h"
#include "services/executor/executor_state.h"
#include "vmm/net/secret_set.h"
#include "vmm/vm.h"

static int open_vault(const struct executor *ex, struct vault **ret, struct ak_error *err)
{
        if (ex->cfg.secrets_dir)
                return vault_open_mounted(ex->cfg.secrets_dir, ret, err);
        char dir[PATH_MAX];
        int r = vault_default_dir(dir);
        if (r < 0)
                return ak_error_errno(err, r, "the vault's directory ($AK_HOME/secrets)");
        return vault_open_sealed(dir, ret, err);
}

/* Appends key=value to sb's environment (replacing a key the spec set). */
static int env_put(struct sandbox *sb, const char *key, const char *value)
{
        for (size_t i = 0; i < sb->n_env; i++)
                if (strcmp(sb->env_keys[i], key) == 0) {
                        char *v = strdup(value);
                        if (!v)
                                return -ENOMEM;
                        free(sb->env_values[i]);
                        sb->env_values[i] = v;
                        return 0;
                }
        char **k = realloc(sb->env_keys, (sb->n_env + 2) * sizeof(char *));
        if (!k)
                return -ENOMEM;
        sb->env_keys = k;
        char **v = realloc(sb->env_values, (sb->n_env + 2) * sizeof(char *));
        if (!v)
                return -ENOMEM;
        sb->env_values = v;
        k[sb->n_env] = strdup(key);
        v[sb->n_env] = strdup(value);
        if (!k[sb->n_env] || !v[sb->n_env]) {
                free(k[sb->n_env]);
                free(v[sb->n_env]);
                return -ENOMEM;
        }
        sb->n_env++;
        k[sb->n_env] = v[sb->n_env] = NULL;
        return 0;
}

static int parse_bindings(const Ak__V1__SandboxSpec *spec, struct sandbox *sb, struct rpc_call *call)
{
        if (spec->n_secrets > INJECT_SECRETS_MAX)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.secrets: %zu bindings, at most %d",
                                     spec->n_secrets, INJECT_SECRETS_MAX);
        if (!sb->network)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.secrets: the sandbox has no network (profile "
                                     "%s or --no-network), and secrets are put in on its way out; give it network",
                                     sb->profile->name);
        for (size_t i = 0; i < spec->n_secrets; i++) {
                struct ak_error err = { 0 };
                const char *s = spec->secrets[i] ? spec->secrets[i] : "";
                if (strlen(s) > SECRETS_BINDING_MAX)
                        return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.secrets[%zu]: longer than %d", i,
                                             SECRETS_BINDING_MAX);
                if (secret_binding_parse(s, &sb->secret_bindings[i], &err) < 0)
                        return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.secrets[%zu]: %s", i, err.msg);
                snprintf(sb->secret_specs[i], sizeof(sb->secret_specs[i]), "%s", s);
        }
        sb->n_secrets = spec->n_secrets;
        return RPC_OK;
}

int secrets_take(struct executor *ex, const Ak__V1__SandboxSpec *spec, struct sandbox *sb, struct rpc_call *call)
{
        struct ak_error err = { 0 };
        struct vault *v = NULL;
        int r, code;

        if (spec->n_secrets == 0)
                return RPC_OK;
        if ((code = parse_bindings(spec, sb, call)) != RPC_OK)
                return code;
        if ((r = open_vault(ex, &v, &err)) < 0)
                return rpc_call_fail(call, RPC_UNAVAILABLE, "spec.secrets: open this node's vault: %s", err.msg);
        r = secret_set_new(v, sb->secret_bindings, sb->n_secrets, &sb->secrets, &err);
        vault_free(v);
        if (r < 0)
                return rpc_call_fail(call, r == -ENOENT || r == -EINVAL ? RPC_FAILED_PRECONDITION : RPC_UNAVAILABLE,
                                     "spec.secrets: %s%s", err.msg,
                                     r == -ENOENT ? " (set it on the executor's node: ak secret set NAME)" : "");
        for (size_t i = 0; i < secret_set_count(sb->secrets); i++)
                if (env_put(sb, secret_set_name(sb->secrets, i), secret_set_placeholder(sb->secrets, i)) < 0)
                        return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        if (env_put(sb, "SSL_CERT_FILE", SECRETS_GUEST_CA_BUNDLE) < 0 ||
            env_put(sb, "REQUESTS_CA_BUNDLE", SECRETS_GUEST_CA_BUNDLE) < 0 ||
            env_put(sb, "NODE_EXTRA_CA_CERTS", SECRETS_GUEST_CA_FILE) < 0)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        return RPC_OK;
}

/* One run of the install script with busybox at bb: 0, -ENOENT when the
 * guest could not start bb, else -EIO/-errno with err. */
static int run_install(const char *uds, const char *bb, const char *pem, struct ak_error *err)
{
        /* $1 is the PEM; the bundle is made when the image has none, so
         * SSL_CERT_FILE always names a file that holds the CA. */
        static const char script[] =
                "B=$0; $B mkdir -p /etc/ssl/certs && printf '%s' \"$1\" > " SECRETS_GUEST_CA_FILE " && "
                "$B chmod 0644 " SECRETS_GUEST_CA_FILE " && printf '\\n%s' \"$1\" >> " SECRETS_GUEST_CA_BUNDLE " && "
                "$B chmod 0644 " SECRETS_GUEST_CA_BUNDLE;
        const char *const cmd[] = { bb, "sh", "-c", script, bb, pem };
        struct proto_request_args req = PROTO_REQUEST_ARGS_INIT;
        struct proto_reply *rep = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        req.id = "secrets-ca";
        req.type = "run";
        req.command = cmd;
        req.n_command = 6;
        req.timeout_ms = 20000;
        if ((r = guest_client_connect(uds, GUEST_AGENT_PORT, 10000, &fd)) < 0)
                return ak_error_errno(err, r, "install the sandbox's CA in the guest: connect");
        if ((r = guest_client_call(fd, &req, 30000, &rep)) < 0)
                return ak_error_errno(err, r, "install the sandbox's CA in the guest");
        if (!rep->has_exit_code) {
                r = -ENOENT; /* not started: no such busybox */
        } else if (rep->exit_code != 0) {
                if (rep->stderr_str)
                        utf8_sanitize(rep->stderr_str, rep->stderr_len); /* guest text */
                r = ak_error_set(err, -EIO, "install the sandbox's CA in the guest (%s, with %s) failed: %.300s",
                                 SECRETS_GUEST_CA_BUNDLE, bb, rep->stderr_str ? rep->stderr_str : "");
        }
        proto_reply_free(rep);
        return r;
}

int secrets_install_ca(const struct sandbox *sb, const char *uds, struct ak_error *err)
{
        if (!sb->secrets)
                return 0;
        const char *pem = secret_set_ca_pem(sb->secrets);
        int r = run_install(uds, vm_guest_busybox(true), pem, err);
        if (r == -ENOENT)
                r = run_install(uds, vm_guest_busybox(false), pem, err);
        if (r == -ENOENT)
                r = ak_error_set(err, -EIO, "install the sandbox's CA in the guest: it has neither %s nor %s",
                                 vm_guest_busybox(true), vm_guest_busybox(false));
        return r;
}
