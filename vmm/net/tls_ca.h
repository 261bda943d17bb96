/* A sandbox's own certificate authority, for the egress proxy that
 * terminates the guest's TLS to the hosts its secrets are bound to
 * (issue 19). The CA's certificate goes into the guest's trust store; its
 * private key never leaves this process (no function exports it).
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

#ifdef __cplusplus
}
#endif
