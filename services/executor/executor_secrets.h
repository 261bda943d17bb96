/* A sandbox's secrets (SandboxSpec.secrets, issue 19) on this executor:
 * bindings checked and resolved from the node's vault (executor_config's
 * secrets_dir, else $AK_HOME/secrets) into a secret_set, the guest's
 * NAME=placeholder variables added to the sandbox's environment, and the
 * set's CA certificate installed in the guest's trust store after boot;
 * and the weaker secret files (spec.secret_files) written into the guest.
 * Values stay in the set (this process's memory); nothing here puts one in
 * an answer, a log line or the guest. Private to services/executor. */
#pragma once

#include "lib/base/error.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/sandbox.pb-c.h"

struct executor;
struct sandbox;

/* Where the guest finds the sandbox's CA: its own file, and the bundle
 * (Debian's path) it is appended to, which SSL_CERT_FILE and
 * REQUESTS_CA_BUNDLE name for every command. */
#define SECRETS_GUEST_CA_FILE "/etc/ssl/certs/ak-sandbox-ca.pem"
#define SECRETS_GUEST_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

/* Checks spec->secrets, resolves them into sb->secrets and appends each
 * NAME=placeholder (and the CA variables) to sb's environment. RPC_OK, or
 * the call failed: INVALID_ARGUMENT for a bad binding or a sandbox without
 * network, FAILED_PRECONDITION for a secret the vault lacks or a value that
 * cannot stand in a header, UNAVAILABLE for a vault that would not open;
 * each naming the binding, never a value. No secrets: RPC_OK, nothing set. */
int secrets_take(struct executor *ex, const Ak__V1__SandboxSpec *spec, struct sandbox *sb, struct rpc_call *call);

/* An executor restart (executor_adopt.c): sb's recorded bindings and
 * placeholders (r->secret[0..r->n_secrets)) parsed into sb and resolved
 * from the vault again into sb->secrets, with the CA from ca_path
 * (secret_set_save_ca's file in the VM directory; NULL: a fresh CA, for a
 * stopped sandbox whose next boot installs it). sb's environment (from
 * the record) already holds the placeholders. 0 or -errno with err naming
 * the binding or the file, never a value. */
struct sb_record;
int secrets_restore(struct executor *ex, struct sandbox *sb, const struct sb_record *r, const char *ca_path,
                    struct ak_error *err);

/* Before anyone uses a freshly booted (or pool) guest at uds: the set's CA
 * certificate (SECRETS_GUEST_CA_FILE, appended to SECRETS_GUEST_CA_BUNDLE,
 * which is made if the image has none), and each secret file's value read
 * from the vault and written 0400 for the sandbox's user (SECRET_FILE_DIR
 * is a tmpfs, root's until the files are in). Nothing to do: 0. Else
 * -EIO/-errno with err naming the secret and the guest path, never the
 * value. */
int secrets_install(struct executor *ex, const struct sandbox *sb, const char *uds, struct ak_error *err);
