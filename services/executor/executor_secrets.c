/* See executor_secrets.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/cleanup.h"
#include "lib/base/pathfmt.h"
#include "lib/encoding/base64.h"
#include "lib/base/utf8.h"
#include "lib/guest/guest_client.h"
#include "lib/receipt/receipt.h"
#include "lib/vault/vault.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_secrets.h"
#include "services/executor/executor_state.h"
#include "services/executor/sandbox_record.h"
#include "vmm/net/secret_set.h"
#include "vmm/vm.h"

/* The vault of sb's tenant on this node: the default tenant's is the
 * vault's directory itself, any other tenant's is its tenants/TENANT
 * (a Kubernetes Secret of its own mounted there, or a sealed vault with its
 * own key), so one tenant's sandboxes can never bind another's secrets. */
static int open_vault(const struct executor *ex, const struct sandbox *sb, struct vault **ret,
                      struct ak_error *err)
{
        char dir[PATH_MAX];
        int r;
        if (ex->cfg.secrets_dir)
                r = pathfmt(dir, sizeof(dir), "%s", ex->cfg.secrets_dir);
        else if ((r = vault_default_dir(dir)) < 0)
                return ak_error_errno(err, r, "the vault's directory ($AK_HOME/secrets)");
        bool tenant = sb->tenant[0] && strcmp(sb->tenant, "default") != 0;
        if (tenant && tenant_check(sb->tenant) < 0)
                return ak_error_set(err, -EINVAL, "tenant name %.64s is not valid", sb->tenant);
        if (r < 0 || (tenant && (r = pathfmt(dir + strlen(dir), sizeof(dir) - strlen(dir), "/tenants/%s",
                                             sb->tenant)) < 0))
                return ak_error_set(err, -ENAMETOOLONG, "the vault's directory is too long");
        if (ex->cfg.secrets_dir)
                return vault_open_mounted(dir, ret, err);
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

/* Parses spec.secret_files and checks that the vault has each (the value
 * is read again, and written, at boot). */
static int take_files(const Ak__V1__SandboxSpec *spec, struct vault *v, struct sandbox *sb, struct rpc_call *call)
{
        if (spec->n_secret_files > INJECT_SECRETS_MAX)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.secret_files: %zu, at most %d",
                                     spec->n_secret_files, INJECT_SECRETS_MAX);
        for (size_t i = 0; i < spec->n_secret_files; i++) {
                struct ak_error err = { 0 };
                struct secret_file *f = &sb->secret_files[i];
                const char *s = spec->secret_files[i] ? spec->secret_files[i] : "";
                if (strlen(s) > SECRETS_BINDING_MAX || secret_file_parse(s, f, &err) < 0)
                        return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.secret_files[%zu]: %s", i,
                                             err.msg[0] ? err.msg : "too long");
                for (size_t j = 0; j < i; j++)
                        if (strcmp(sb->secret_files[j].path, f->path) == 0)
                                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.secret_files[%zu]: %s is "
                                                     "written by spec.secret_files[%zu] already", i, f->path, j);
                uint8_t *value = NULL;
                size_t len = 0;
                int r = vault_get(v, f->name, &value, &len, &err);
                if (r < 0)
                        return rpc_call_fail(call, r == -ENOENT ? RPC_FAILED_PRECONDITION : RPC_UNAVAILABLE,
                                             "spec.secret_files[%zu]: %s%s", i, err.msg,
                                             r == -ENOENT ? " (set it on the executor's node: ak secret set NAME)"
                                                          : "");
                vault_value_free(value, len);
        }
        sb->n_secret_files = spec->n_secret_files;
        return RPC_OK;
}

int secrets_take(struct executor *ex, const Ak__V1__SandboxSpec *spec, struct sandbox *sb, struct rpc_call *call)
{
        struct ak_error err = { 0 };
        struct vault *v = NULL;
        int r, code;

        if (spec->n_secrets == 0 && spec->n_secret_files == 0)
                return RPC_OK;
        if (spec->n_secrets && (code = parse_bindings(spec, sb, call)) != RPC_OK)
                return code;
        if ((r = open_vault(ex, sb, &v, &err)) < 0)
                return rpc_call_fail(call, r == -ENOENT ? RPC_FAILED_PRECONDITION : RPC_UNAVAILABLE,
                                     "spec.secrets: open tenant %s's vault on this node: %s", sb->tenant, err.msg);
        if ((code = take_files(spec, v, sb, call)) != RPC_OK || spec->n_secrets == 0) {
                vault_free(v);
                return code;
        }
        r = secret_set_new(v, sb->secret_bindings, sb->n_secrets, &sb->secrets, &err);
        if (r == 0)
                secret_set_keep_vault(sb->secrets, v); /* read again per connection: rotation */
        else
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

int secrets_restore(struct executor *ex, struct sandbox *sb, const struct sb_record *r, const char *ca_path,
                    struct ak_error *err)
{
        const char *phs[INJECT_SECRETS_MAX];
        struct vault *v = NULL;
        int rc;

        if (r->n_secrets == 0 || r->n_secrets > INJECT_SECRETS_MAX)
                return ak_error_set(err, -EINVAL, "secrets: %zu recorded, want 1..%d", r->n_secrets,
                                    INJECT_SECRETS_MAX);
        for (size_t i = 0; i < r->n_secrets; i++) {
                const char *b = r->secret[i].binding;
                if (strlen(b) > SECRETS_BINDING_MAX)
                        return ak_error_set(err, -EINVAL, "secrets[%zu]: longer than %d", i, SECRETS_BINDING_MAX);
                if (secret_binding_parse(b, &sb->secret_bindings[i], err) < 0)
                        return ak_error_wrap(err, "secrets[%zu]", i), -EINVAL;
                memcpy(sb->secret_specs[i], b, strlen(b) + 1); /* checked above */
                phs[i] = r->secret[i].placeholder;
        }
        if ((rc = open_vault(ex, sb, &v, err)) < 0)
                return ak_error_wrap(err, "secrets: open this node's vault"), rc;
        rc = secret_set_restore(v, sb->secret_bindings, phs, r->n_secrets, ca_path, &sb->secrets, err);
        if (rc < 0) {
                vault_free(v);
                return rc;
        }
        secret_set_keep_vault(sb->secrets, v); /* read again per connection: rotation */
        sb->n_secrets = r->n_secrets;
        return 0;
}

/* One run of script (argv: bb sh -c script bb args...) with busybox at bb:
 * 0, -ENOENT when the guest could not start bb, else -EIO/-errno with err
 * saying `what` failed. */
static int guest_sh(const char *uds, const char *bb, const char *script, const char *const *args, size_t n_args,
                    const char *what, struct ak_error *err)
{
        const char *cmd[8] = { bb, "sh", "-c", script, bb };
        struct proto_request_args req = PROTO_REQUEST_ARGS_INIT;
        struct proto_reply *rep = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        for (size_t i = 0; i < n_args && i < 3; i++)
                cmd[5 + i] = args[i];
        req.id = "secrets";
        req.type = "run";
        req.command = cmd;
        req.n_command = 5 + (n_args < 3 ? n_args : 3);
        req.timeout_ms = 20000;
        if ((r = guest_client_connect(uds, GUEST_AGENT_PORT, 10000, &fd)) < 0)
                return ak_error_errno(err, r, "%s: connect to the guest", what);
        if ((r = guest_client_call(fd, &req, 30000, &rep)) < 0)
                return ak_error_errno(err, r, "%s", what);
        if (!rep->has_exit_code) {
                r = -ENOENT; /* not started: no such busybox */
        } else if (rep->exit_code != 0) {
                if (rep->stderr_str)
                        utf8_sanitize(rep->stderr_str, rep->stderr_len); /* guest text */
                r = ak_error_set(err, -EIO, "%s (with %s) failed: %.300s", what, bb,
                                 rep->stderr_str ? rep->stderr_str : "");
        }
        proto_reply_free(rep);
        return r;
}

/* guest_sh with the image's busybox, wherever it is. */
static int guest_busybox_sh(const char *uds, const char *script, const char *const *args, size_t n_args,
                            const char *what, struct ak_error *err)
{
        int r = guest_sh(uds, vm_guest_busybox(true), script, args, n_args, what, err);
        if (r == -ENOENT)
                r = guest_sh(uds, vm_guest_busybox(false), script, args, n_args, what, err);
        if (r == -ENOENT)
                r = ak_error_set(err, -EIO, "%s: the guest has neither %s nor %s", what, vm_guest_busybox(true),
                                 vm_guest_busybox(false));
        return r;
}

static int install_ca(const struct sandbox *sb, const char *uds, struct ak_error *err)
{
        /* $1 is the PEM; the bundle is made when the image has none, so
         * SSL_CERT_FILE always names a file that holds the CA. */
        static const char script[] =
                "B=$0; $B mkdir -p /etc/ssl/certs && printf '%s' \"$1\" > " SECRETS_GUEST_CA_FILE " && "
                "$B chmod 0644 " SECRETS_GUEST_CA_FILE " && printf '\\n%s' \"$1\" >> " SECRETS_GUEST_CA_BUNDLE " && "
                "$B chmod 0644 " SECRETS_GUEST_CA_BUNDLE;
        const char *pem = secret_set_ca_pem(sb->secrets);
        return guest_busybox_sh(uds, script, &pem, 1, "install the sandbox's CA in the guest", err);
}

/* One --secret-file: written by the guest agent's write_file into a
 * directory only root may enter yet, then handed to the sandbox's user. */
static int write_value(const char *uds, const struct secret_file *f, const uint8_t *value, size_t len,
                       struct ak_error *err)
{
        char *b64 = NULL;
        struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
        struct proto_reply *rep = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        if (base64_encode_alloc(value, len, &b64) < 0)
                return ak_error_set(err, -ENOMEM, "out of memory");
        a.id = "secret-file";
        a.type = "write_file";
        a.path = f->path;
        a.content_base64 = b64;
        if ((r = guest_client_connect(uds, GUEST_AGENT_PORT, 10000, &fd)) == 0)
                r = guest_client_call(fd, &a, 30000, &rep);
        explicit_bzero(b64, strlen(b64));
        free(b64);
        if (r < 0)
                return ak_error_errno(err, r, "write secret file %s (%s) into the guest", f->name, f->path);
        if (rep->error) {
                utf8_sanitize(rep->error, strlen(rep->error)); /* guest text */
                r = ak_error_set(err, -EIO, "write secret file %s (%s) into the guest: %.300s", f->name, f->path,
                                 rep->error);
        }
        proto_reply_free(rep);
        return r;
}

static int install_files(struct executor *ex, const struct sandbox *sb, const char *uds, struct ak_error *err)
{
        /* Root-only until the files are in: a tmpfs for the default
         * directory, then each file's directory made (root's, 0755 as
         * mkdir -p makes them) and its file the sandbox user's, 0400. */
        static const char mount_script[] =
                "B=$0; $B mkdir -p " SECRET_FILE_DIR " && { $B mountpoint -q " SECRET_FILE_DIR " || "
                "$B mount -t tmpfs -o size=1m,mode=0700,nosuid,nodev,noexec tmpfs " SECRET_FILE_DIR "; } && "
                "$B chmod 0700 " SECRET_FILE_DIR;
        static const char own_script[] = "B=$0; $B chown \"$2:$2\" \"$1\" && $B chmod 0400 \"$1\"";
        static const char open_script[] =
                "B=$0; $B chown \"$1:$1\" " SECRET_FILE_DIR " && $B chmod 0500 " SECRET_FILE_DIR;
        char uid[16];
        snprintf(uid, sizeof(uid), "%u", SANDBOX_USER_UID);
        const char *uid_arg = uid;
        struct vault *v = NULL;
        int r = guest_busybox_sh(uds, mount_script, NULL, 0, "make " SECRET_FILE_DIR " in the guest", err);
        if (r < 0)
                return r;
        if ((r = open_vault(ex, sb, &v, err)) < 0)
                return ak_error_wrap(err, "secret files: open this node's vault");
        for (size_t i = 0; r == 0 && i < sb->n_secret_files; i++) {
                const struct secret_file *f = &sb->secret_files[i];
                const char *path = f->path;
                char dir[SECRET_FILE_PATH_MAX + 1];
                snprintf(dir, sizeof(dir), "%s", f->path);
                *strrchr(dir, '/') = 0;
                const char *mk = dir;
                uint8_t *value = NULL;
                size_t len = 0;
                if (dir[0] && (r = guest_busybox_sh(uds, "B=$0; $B mkdir -p \"$1\"", &mk, 1,
                                                    "make a secret file's directory in the guest", err)) < 0)
                        break;
                if ((r = vault_get(v, f->name, &value, &len, err)) < 0)
                        break;
                r = write_value(uds, f, value, len, err);
                vault_value_free(value, len);
                const char *own_args[] = { path, uid };
                if (r == 0)
                        r = guest_busybox_sh(uds, own_script, own_args, 2, "give a secret file to the sandbox's user",
                                             err);
        }
        vault_free(v);
        if (r == 0)
                r = guest_busybox_sh(uds, open_script, &uid_arg, 1, "open " SECRET_FILE_DIR " to the sandbox's user",
                                     err);
        return r;
}

int secrets_install(struct executor *ex, const struct sandbox *sb, const char *uds, struct ak_error *err)
{
        int r = 0;
        if (sb->secrets)
                r = install_ca(sb, uds, err);
        if (r == 0 && sb->n_secret_files)
                r = install_files(ex, sb, uds, err);
        return r;
}
