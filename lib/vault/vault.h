/* The secret vault: named secret values for injection at a sandbox's network
 * boundary (issue 19). A value is read here, on the host, and never enters a
 * VM, a gRPC message, a log line, an audit event, a receipt or an error
 * message: every message this module writes names the secret and the file,
 * never bytes of the value.
 *
 * Two stores behind one handle:
 *   sealed   one machine ($AK_HOME/secrets, see vault_default_dir): one file
 *            NAME.sealed per secret, AES-256-GCM under a 32-byte key kept in
 *            DIR/vault.key (0600, made on the first set). The name is bound
 *            in as associated data, so a file renamed to another secret's
 *            name does not open.
 *   mounted  a fleet: a Kubernetes Secret mounted as a directory, one file
 *            per key holding the plain value (the kubelet's tmpfs). Read-only
 *            here: set and remove fail with -EROFS.
 *
 * Names are environment variable names, [A-Za-z_][A-Za-z0-9_]*, at most
 * VAULT_NAME_MAX bytes (the guest sees a placeholder under that name).
 * Values are 1..VAULT_VALUE_MAX bytes of anything.
 *
 * Errors: 0 or a negative errno, with err (may be NULL) naming what failed,
 * on what, and what to do. -ENOENT: no such secret. -EBADMSG: a sealed file
 * does not open (damaged, renamed, or sealed under another key).
 *
 * Thread-safety: one handle per thread; distinct handles on one directory
 * are safe (writes go to a temporary file renamed into place). */
#pragma once

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VAULT_NAME_MAX 64
#define VAULT_VALUE_MAX (64 * 1024)
#define VAULT_KEY_FILE "vault.key"
#define VAULT_SEALED_SUFFIX ".sealed"

struct vault;

/* 0 if name is a valid secret name, else -EINVAL with err saying why. */
int vault_name_check(const char *name, struct ak_error *err);

/* $AK_HOME/secrets into ret. 0 or -errno as ak_home(). Nothing is created. */
int vault_default_dir(char ret[PATH_MAX]);

/* Opens the sealed store in dir, creating dir as a private directory (0700,
 * ours, see ak_private_dir) if missing. The key is read when first needed. */
int vault_open_sealed(const char *dir, struct vault **ret, struct ak_error *err);
/* Opens a mounted Kubernetes Secret directory, which must exist. */
int vault_open_mounted(const char *dir, struct vault **ret, struct ak_error *err);
/* NULL is a no-op. Wipes the key. */
void vault_free(struct vault *v);

/* Stores (or replaces) name's value; the previous value stays whole until
 * the new one is in place. */
int vault_set(struct vault *v, const char *name, const void *value, size_t len, struct ak_error *err);
/* The value, in a buffer of *ret_len bytes plus a NUL the caller must release
 * with vault_value_free(). */
int vault_get(struct vault *v, const char *name, uint8_t **ret_value, size_t *ret_len, struct ak_error *err);
/* Wipes and frees a value from vault_get. NULL is a no-op. */
void vault_value_free(uint8_t *value, size_t len);
/* Every secret's name, sorted, in a NULL-terminated array the caller frees
 * with vault_names_free(). Files that are not secrets are skipped. */
int vault_list(struct vault *v, char ***ret_names, size_t *ret_n, struct ak_error *err);
void vault_names_free(char **names);
/* Removes name. -ENOENT if there was none. */
int vault_remove(struct vault *v, const char *name, struct ak_error *err);

#ifdef __cplusplus
}
#endif
