/* A name-constrained per-sandbox CA and its leaf certificates; see tls_ca.h. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "lib/base/pathfmt.h"
#include "lib/crypto/crypto.h"
#include "vmm/net/tls_ca.h"

#define TLS_CA_DAYS 30

struct tls_leaf {
        char host[SNIFF_NAME_MAX];
        X509 *cert;
};

struct tls_ca {
        EVP_PKEY *key;       /* the CA's: signs, never exported */
        EVP_PKEY *leaf_key;  /* every leaf's */
        X509 *cert;
        size_t n_hosts;
        struct tls_leaf leaves[TLS_CA_HOSTS_MAX]; /* host set at creation, cert on first use */
};

/* The parts every certificate here shares: version 3, a random positive
 * 128-bit serial, the validity window, subject CN, issuer and public key. */
static X509 *cert_base(const char *cn, const X509 *issuer, EVP_PKEY *pub)
{
        uint8_t serial[16];
        X509 *x = X509_new();
        X509_NAME *name = X509_NAME_new();
        BIGNUM *bn = NULL;
        bool ok = x && name && crypto_random_bytes(serial, sizeof(serial)) == 0;

        if (ok) {
                serial[0] &= 0x7f;
                serial[0] |= 0x40;
                bn = BN_bin2bn(serial, sizeof(serial), NULL);
                ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
                     X509_set_version(x, X509_VERSION_3) &&
                     X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
                     X509_gmtime_adj(X509_getm_notAfter(x), 60L * 60 * 24 * TLS_CA_DAYS) &&
                     X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"ak sandbox", -1,
                                                -1, 0) &&
                     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                                0) &&
                     X509_set_subject_name(x, name) &&
                     X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) &&
                     X509_set_pubkey(x, pub);
        }
        BN_free(bn);
        X509_NAME_free(name);
        if (!ok) {
                X509_free(x);
                return NULL;
        }
        return x;
}

/* Adds extensions as "nid value" pairs, with issuer for key identifiers. */
static bool add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
        X509V3_CTX ctx;
        X509_EXTENSION *ext;
        bool ok;

        X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        ok = ext && X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        return ok;
}

void tls_ca_free(struct tls_ca *ca)
{
        if (!ca)
                return;
        EVP_PKEY_free(ca->key);
        EVP_PKEY_free(ca->leaf_key);
        X509_free(ca->cert);
        for (size_t i = 0; i < ca->n_hosts; i++)
                X509_free(ca->leaves[i].cert);
        free(ca);
}

/* "critical,permitted;DNS:a,permitted;DNS:b" */
static int constraints(const struct tls_ca *ca, char **ret)
{
        size_t size = 16 + ca->n_hosts * (SNIFF_NAME_MAX + 16), len;
        char *s = malloc(size);

        if (!s)
                return -ENOMEM;
        len = (size_t)snprintf(s, size, "critical");
        for (size_t i = 0; i < ca->n_hosts; i++)
                len += (size_t)snprintf(s + len, size - len, ",permitted;DNS:%s", ca->leaves[i].host);
        *ret = s;
        return 0;
}

static int ca_cert_make(struct tls_ca *ca)
{
        char *nc = NULL;
        int r = constraints(ca, &nc);

        if (r < 0)
                return r;
        ca->cert = cert_base("ak sandbox egress CA", NULL, ca->key);
        bool ok = ca->cert && add_ext(ca->cert, NULL, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
                  add_ext(ca->cert, NULL, NID_key_usage, "critical,keyCertSign,cRLSign") &&
                  add_ext(ca->cert, NULL, NID_subject_key_identifier, "hash") &&
                  add_ext(ca->cert, NULL, NID_name_constraints, nc) &&
                  X509_sign(ca->cert, ca->key, EVP_sha256()) > 0;
        free(nc);
        return ok ? 0 : -EIO;
}

/* A CA without keys for hosts[0..n), each checked. */
static int ca_alloc(const char *const *hosts, size_t n, struct tls_ca **ret, struct ak_error *err)
{
        if (n == 0 || n > TLS_CA_HOSTS_MAX)
                return ak_error_set(err, -EINVAL, "sandbox CA: %zu hosts; give 1 to %d", n, TLS_CA_HOSTS_MAX);
        struct tls_ca *ca = calloc(1, sizeof(*ca));
        if (!ca)
                return ak_error_set(err, -ENOMEM, "sandbox CA: out of memory");
        for (size_t i = 0; i < n; i++) {
                char norm[SNIFF_NAME_MAX];
                if (sniff_host_name(hosts[i], strlen(hosts[i]), norm) < 0 || norm[0] == '[' ||
                    strcmp(norm, hosts[i]) != 0) {
                        tls_ca_free(ca);
                        return ak_error_set(err, -EINVAL, "sandbox CA: '%.256s' is not a lowercase host name "
                                            "(no IP literals, no wildcards)", hosts[i]);
                }
                memcpy(ca->leaves[ca->n_hosts++].host, norm, strlen(norm) + 1);
        }
        *ret = ca;
        return 0;
}

int tls_ca_new(const char *const *hosts, size_t n, struct tls_ca **ret, struct ak_error *err)
{
        struct tls_ca *ca;
        int r = ca_alloc(hosts, n, &ca, err);

        if (r < 0)
                return r;
        ca->key = EVP_EC_gen("P-256");
        ca->leaf_key = EVP_EC_gen("P-256");
        r = ca->key && ca->leaf_key ? ca_cert_make(ca) : -EIO;
        ERR_clear_error();
        if (r < 0) {
                tls_ca_free(ca);
                return ak_error_set(err, r, "sandbox CA: OpenSSL could not make the CA key or certificate");
        }
        *ret = ca;
        return 0;
}

int tls_ca_cert_pem(const struct tls_ca *ca, char **ret_pem, size_t *ret_len)
{
        BIO *b = BIO_new(BIO_s_mem());
        char *data, *pem;
        long len;
        int r = -EIO;

        if (b && PEM_write_bio_X509(b, ca->cert) && (len = BIO_get_mem_data(b, &data)) > 0) {
                pem = malloc((size_t)len + 1);
                if (!pem) {
                        r = -ENOMEM;
                } else {
                        memcpy(pem, data, (size_t)len);
                        pem[len] = 0;
                        *ret_pem = pem;
                        *ret_len = (size_t)len;
                        r = 0;
                }
        }
        BIO_free(b);
        ERR_clear_error();
        return r;
}

static X509 *leaf_make(struct tls_ca *ca, const char *host)
{
        char san[SNIFF_NAME_MAX + 8];
        X509 *x = cert_base(host, ca->cert, ca->leaf_key);

        snprintf(san, sizeof(san), "DNS:%s", host);
        if (!x || !add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE") ||
            !add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature") ||
            !add_ext(x, ca->cert, NID_ext_key_usage, "serverAuth") ||
            !add_ext(x, ca->cert, NID_subject_alt_name, san) ||
            !add_ext(x, ca->cert, NID_authority_key_identifier, "keyid:always") ||
            X509_sign(x, ca->key, EVP_sha256()) <= 0) {
                X509_free(x);
                return NULL;
        }
        return x;
}

int tls_ca_leaf(struct tls_ca *ca, const char *host, X509 **ret_cert, EVP_PKEY **ret_key)
{
        for (size_t i = 0; i < ca->n_hosts; i++) {
                struct tls_leaf *l = &ca->leaves[i];
                if (strcmp(l->host, host) != 0)
                        continue;
                if (!l->cert) {
                        l->cert = leaf_make(ca, host);
                        ERR_clear_error();
                        if (!l->cert)
                                return -EIO;
                }
                *ret_cert = l->cert;
                *ret_key = ca->leaf_key;
                return 0;
        }
        return -EACCES;
}

int tls_ca_save(const struct tls_ca *ca, const char *path, struct ak_error *err)
{
        char tmp[PATH_MAX];
        char *data = NULL;
        long len = 0;
        int r = -EIO;

        if (pathfmt(tmp, sizeof(tmp), "%s.tmp", path) < 0)
                return ak_error_set(err, -ENAMETOOLONG, "sandbox CA: path too long: %.200s", path);
        BIO *b = BIO_new(BIO_s_secmem()); /* wiped when freed */
        if (!b || !PEM_write_bio_X509(b, ca->cert) ||
            !PEM_write_bio_PrivateKey(b, ca->key, NULL, NULL, 0, NULL, NULL) ||
            (len = BIO_get_mem_data(b, &data)) <= 0) {
                BIO_free(b);
                ERR_clear_error();
                return ak_error_set(err, -EIO, "sandbox CA: OpenSSL could not write the CA as PEM for %.200s", path);
        }
        unlink(tmp);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                r = ak_error_errno(err, -errno, "sandbox CA: create %s", tmp);
        } else {
                r = ak_write_full(fd, data, (size_t)len);
                if (r == 0 && fsync(fd) < 0)
                        r = -errno;
                close(fd);
                if (r == 0 && rename(tmp, path) < 0)
                        r = -errno;
                if (r < 0) {
                        unlink(tmp);
                        ak_error_errno(err, r, "sandbox CA: write %s", path);
                }
        }
        BIO_free(b);
        return r;
}

/* The file's bytes, checked as tls_ca.h says. */
static int read_private(const char *path, char **ret, size_t *ret_len, struct ak_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;

        if (fd < 0)
                return ak_error_errno(err, -errno, "sandbox CA: open %s", path);
        if (fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "sandbox CA: stat %s", path);
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
                return ak_error_set(err, -EPERM, "sandbox CA: %s must be a regular file of uid %u with mode 0600 "
                                    "(it is uid %u, mode %04o): it holds a private key", path,
                                    (unsigned)geteuid(), (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        if ((uint64_t)st.st_size > TLS_CA_FILE_MAX)
                return ak_error_set(err, -EFBIG, "sandbox CA: %s is larger than %d bytes", path, TLS_CA_FILE_MAX);
        int r = ak_read_fd_all(fd, TLS_CA_FILE_MAX, ret, ret_len);
        return r < 0 ? ak_error_errno(err, r, "sandbox CA: read %s", path) : 0;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
        (void)buf, (void)size, (void)rwflag, (void)u;
        return -1; /* an encrypted key is not ours: never prompt */
}

/* Whether the certificate's name constraints are what tls_ca_new would
 * write for ca's hosts (the same extension bytes). */
static bool constraints_match(const struct tls_ca *ca)
{
        char *nc = NULL;
        X509V3_CTX ctx;
        bool same = false;

        if (constraints(ca, &nc) < 0)
                return false;
        X509V3_set_ctx(&ctx, ca->cert, ca->cert, NULL, NULL, 0);
        X509_EXTENSION *want = X509V3_EXT_conf_nid(NULL, &ctx, NID_name_constraints, nc);
        int i = X509_get_ext_by_NID(ca->cert, NID_name_constraints, -1);
        X509_EXTENSION *have = i >= 0 ? X509_get_ext(ca->cert, i) : NULL;
        if (want && have && X509_get_ext_by_NID(ca->cert, NID_name_constraints, i) < 0)
                same = X509_EXTENSION_get_critical(have) &&
                       ASN1_OCTET_STRING_cmp(X509_EXTENSION_get_data(want), X509_EXTENSION_get_data(have)) == 0;
        X509_EXTENSION_free(want);
        free(nc);
        return same;
}

/* ca->cert and ca->key from text; what is wrong, or NULL. */
static const char *ca_parse(struct tls_ca *ca, const char *text, size_t len)
{
        BIO *b = BIO_new_mem_buf(text, (int)len);
        const char *bad = NULL;

        if (!b)
                return "out of memory";
        ca->cert = PEM_read_bio_X509(b, NULL, no_passphrase, NULL);
        ca->key = ca->cert ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
        BIO_free(b);
        if (!ca->cert || !ca->key)
                bad = "no PEM certificate followed by a PEM private key";
        else if (!EVP_PKEY_is_a(ca->key, "EC") || X509_check_private_key(ca->cert, ca->key) != 1)
                bad = "the key is not the certificate's EC key";
        else if (X509_check_ca(ca->cert) != 1)
                bad = "the certificate is not a CA's";
        else if (X509_cmp_current_time(X509_get0_notAfter(ca->cert)) <= 0 ||
                 X509_cmp_current_time(X509_get0_notBefore(ca->cert)) >= 0)
                bad = "the certificate is not valid now (expired: create the sandbox again)";
        else if (!constraints_match(ca))
                bad = "the certificate is constrained to other hosts than the sandbox's secrets";
        ERR_clear_error();
        return bad;
}

int tls_ca_load(const char *path, const char *const *hosts, size_t n, struct tls_ca **ret, struct ak_error *err)
{
        struct tls_ca *ca = NULL;
        char *text = NULL;
        size_t len = 0;
        int r = ca_alloc(hosts, n, &ca, err);

        if (r < 0)
                return r;
        if ((r = read_private(path, &text, &len, err)) < 0) {
                tls_ca_free(ca);
                return r;
        }
        const char *bad = ca_parse(ca, text, len);
        OPENSSL_cleanse(text, len);
        free(text);
        if (!bad && !(ca->leaf_key = EVP_EC_gen("P-256")))
                bad = "OpenSSL could not make the leaves' key";
        ERR_clear_error();
        if (bad) {
                tls_ca_free(ca);
                return ak_error_set(err, -EINVAL, "sandbox CA: %s: %s", path, bad);
        }
        *ret = ca;
        return 0;
}
