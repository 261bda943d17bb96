/* A sandbox's secrets, ready for its egress path (issue 19): each binding
 * ("NAME:HOST[:HEADER]", agentkernel's --secret) resolved from the vault to
 * its value, a fresh placeholder for the guest's environment, the sandbox's
 * CA for the bound hosts and the relay configuration that puts the values
 * in. What is still to be done with it (the proxy handing those hosts' TLS
 * to tls_relay, the executor setting the environment and the CA file in the
 * guest) is not here.
 *
 * Values live in this object's memory only, wiped on free; placeholders,
 * names, hosts and the CA certificate are not secret. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"
#include "lib/vault/vault.h"
#include "vmm/net/inject.h"
#include "vmm/net/tls_relay.h"

#ifdef __cplusplus
extern "C" {
#endif

struct secret_binding {
        char name[VAULT_NAME_MAX + 1];
        char host[SNIFF_NAME_MAX];
        char header[INJECT_HEADER_NAME_MAX + 1]; /* INJECT_HEADER_DEFAULT when not given */
};

/* Parses "NAME:HOST[:HEADER]": NAME a vault name, HOST a host name (kept
 * lowercase; no port, no IP literal, no wildcard), HEADER a header
 * inject_header_check accepts. 0 or -EINVAL with err naming the part. */
int secret_binding_parse(const char *s, struct secret_binding *ret, struct ak_error *err);

/* --secret-file NAME[:PATH] (the weaker way, issue 19): the value itself
 * written into the guest, at PATH or SECRET_FILE_DIR/NAME. */
#define SECRET_FILE_DIR "/run/agentkernel/secrets"
#define SECRET_FILE_PATH_MAX 255
struct secret_file {
        char name[VAULT_NAME_MAX + 1];
        char path[SECRET_FILE_PATH_MAX + 1];
};

/* Parses "NAME[:PATH]": NAME a vault name; PATH absolute, at most
 * SECRET_FILE_PATH_MAX bytes of letters, digits and "/._-", no "." or ".."
 * component, no trailing '/', not "/" itself; without PATH,
 * SECRET_FILE_DIR/NAME. 0 or -EINVAL with err naming the part. */
int secret_file_parse(const char *s, struct secret_file *ret, struct ak_error *err);

struct secret_set;

/* Resolves b[0..n) (at most INJECT_SECRETS_MAX, each NAME once) from v.
 * Errors name the secret, never its value: -ENOENT no such secret,
 * -EINVAL a value that cannot stand in a header (control characters,
 * leading or trailing blanks, more than INJECT_VALUE_MAX bytes) or a bad
 * binding list, or the vault's and the CA's errors. */
int secret_set_new(struct vault *v, const struct secret_binding *b, size_t n, struct secret_set **ret,
                   struct ak_error *err);
/* A set made again after an executor restart (issue 19): b[0..n) as given
 * to secret_set_new, placeholders[i] the placeholder secret i had (the
 * guest's environment still holds it: INJECT_PLACEHOLDER_PREFIX and 32
 * lowercase hex digits), and the CA from ca_path (tls_ca_save's file,
 * constrained to the bindings' hosts in order). Values are read from v now
 * (and again per connection once a vault is kept). Errors as
 * secret_set_new's, -EINVAL for a placeholder not of that form or used
 * twice, and tls_ca_load's. */
int secret_set_restore(struct vault *v, const struct secret_binding *b, const char *const *placeholders, size_t n,
                       const char *ca_path, struct secret_set **ret, struct ak_error *err);
/* Writes the set's CA (certificate and private key) to path for
 * secret_set_restore: see tls_ca_save (0600, atomic). */
int secret_set_save_ca(const struct secret_set *set, const char *path, struct ak_error *err);
/* Wipes the values and frees. NULL is a no-op. */
void secret_set_free(struct secret_set *set);

size_t secret_set_count(const struct secret_set *set);
/* The i-th secret's name and placeholder: the guest's NAME=placeholder. */
const char *secret_set_name(const struct secret_set *set, size_t i);
const char *secret_set_placeholder(const struct secret_set *set, size_t i);
/* The CA certificate for the guest's trust store (PEM; owned by set). */
const char *secret_set_ca_pem(const struct secret_set *set);
/* The relay for the bound hosts (owned by set), made on the first call with
 * that call's roots_file (NULL: the system's roots; must outlive set) and
 * timeout; later calls return the same relay. */
int secret_set_relay(struct secret_set *set, const char *roots_file, int timeout_ms, struct tls_relay **ret,
                     struct ak_error *err);

/* Gives set the vault its values came from (set owns v from now on, frees
 * it with itself) so that secret_set_refresh can read them again. */
void secret_set_keep_vault(struct secret_set *set, struct vault *v);

/* Reads every value again from the kept vault (none kept: 0, nothing
 * read): a changed value (ak secret set: rotation) is swapped in for the
 * relay's next request heads; a serve rewriting a head at that moment
 * sees the old or the new value, never a mix. Thread-safe. Errors name the
 * secret, never a value: the vault's (-ENOENT: removed), or -EINVAL for a
 * new value that cannot stand in a header; the values before stay. */
int secret_set_refresh(struct secret_set *set, struct ak_error *err);

/* Whether some secret is bound to host (case-insensitive). */
bool secret_set_binds(const struct secret_set *set, const char *host);

/* The index of the first secret whose placeholder occurs in buf[0..len)
 * (case-insensitive: names arrive lowercased), or -1. Bytes of anything
 * the guest sent: a Host, an SNI, a request head. */
int secret_set_find_placeholder(const struct secret_set *set, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
