/* A sandbox's own certificate authority, for the egress proxy that
 * terminates the guest's TLS to the hosts its secrets are bound to
 * (issue 19). The CA's certificate goes into the guest's trust store; its
 * private key never leaves the host: no function hands it to a caller, and
 * the one way out is tls_ca_save's 0600 file on the host, which
 * tls_ca_load reads back in a later process (an executor restart: the
 * guest trusts this CA and no other, and its trust store cannot be changed
 * without the guest's cooperation, so the CA must persist, not be made
 * again).
 *
 * The CA is name-constrained (RFC 5280 4.2.1.10) to the hosts given at
 * creation, so the guest's trust in it covers those hosts only, and it
 * refuses to issue for any other name. Keys are ECDSA P-256 from OpenSSL 3
 * (the libcrypto gRPC links; see lib/vault/seal.c for why not BoringSSL).
 * Validity: one hour back (guest clock skew) to 30 days ahead.
 *
 * Thread-safety: a CA may be used by one thread at a time. */
#pragma once

#include <stddef.h>

#include "lib/base/error.h"
#include "vmm/net/sniff.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TLS_CA_HOSTS_MAX 32

struct tls_ca;
typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;

/* A fresh CA for hosts[0..n) (names as sniff_host_name keeps them; no IP
 * literals, no wildcards). 0, -EINVAL (a bad or no host) or -EIO (OpenSSL
 * failed), with err saying which. */
int tls_ca_new(const char *const *hosts, size_t n, struct tls_ca **ret, struct ak_error *err);
/* Wipes and frees. NULL is a no-op. */
void tls_ca_free(struct tls_ca *ca);

/* The CA certificate as PEM, NUL-terminated, in a buffer the caller frees. */
int tls_ca_cert_pem(const struct tls_ca *ca, char **ret_pem, size_t *ret_len);

/* A server certificate for host signed by the CA, and its key (one key for
 * every leaf of a CA). Both stay owned by ca and valid while it lives;
 * issuing for the same host again returns the same certificate.
 * -EACCES if host is not one of the CA's hosts, -EIO if OpenSSL failed. */
int tls_ca_leaf(struct tls_ca *ca, const char *host, X509 **ret_cert, EVP_PKEY **ret_key);

/* The largest file tls_ca_load reads (a P-256 key and certificate are
 * about 1.3 KiB as PEM). */
#define TLS_CA_FILE_MAX 16384

/* Writes the CA's certificate and private key (PEM, in that order) to
 * path: created 0600 under a temporary name in path's directory, synced,
 * then renamed over path. The key bytes are wiped from memory afterwards.
 * 0, or -errno / -EIO with err naming path. */
int tls_ca_save(const struct tls_ca *ca, const char *path, struct ak_error *err);

/* Reads a file tls_ca_save wrote (untrusted bytes: at most
 * TLS_CA_FILE_MAX, a regular file of this uid not readable or writable by
 * group or others, not a link) and makes the CA for hosts[0..n) (as
 * tls_ca_new checks them) from it: the certificate must be a CA
 * certificate whose public key matches the private key, valid now, and
 * must name-constrain its leaves to exactly hosts; leaves get a fresh key.
 * 0, -ENOENT (no file), -EPERM (owner or mode), -EINVAL (not such a CA,
 * or other hosts), -EFBIG, -EIO; err names path and what is wrong. */
int tls_ca_load(const char *path, const char *const *hosts, size_t n, struct tls_ca **ret, struct ak_error *err);

#ifdef __cplusplus
}
#endif
