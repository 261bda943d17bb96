/* TLS and mTLS credentials from PEM files. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/rpc/internal.h"

#define PEM_MAX_BYTES (1u << 20)

/* Reads a whole PEM file as a NUL-terminated string. */
static int read_pem(const char *what, const char *path, char **ret, struct ak_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return ak_error_errno(err, -errno, "read %s %s", what, path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "read %s %s", what, path);
        if (st.st_size <= 0 || st.st_size > PEM_MAX_BYTES)
                return ak_error_set(err, -EINVAL, "read %s %s: %s", what, path,
                                    st.st_size <= 0 ? "file is empty" : "file is larger than 1 MiB");
        _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return ak_error_errno(err, -ENOMEM, "read %s %s", what, path);
        size_t got = 0;
        while (got < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return ak_error_errno(err, n < 0 ? -errno : -EIO, "read %s %s", what, path);
                got += (size_t)n;
        }
        buf[got] = '\0';
        if (!strstr(buf, "-----BEGIN "))
                return ak_error_set(err, -EINVAL, "read %s %s: not a PEM file", what, path);
        *ret = TAKE_PTR(buf);
        return 0;
}

int rpc_tls_server_creds(const struct rpc_tls *tls, grpc_server_credentials **ret,
                         struct ak_error *err)
{
        if (!tls->cert_file || !tls->key_file)
                return ak_error_set(err, -EINVAL, "TLS server needs a certificate and a key file");
        _cleanup_free_ char *ca = NULL, *cert = NULL, *key = NULL;
        int r;
        if (tls->ca_file && (r = read_pem("CA certificate", tls->ca_file, &ca, err)) < 0)
                return r;
        if ((r = read_pem("certificate", tls->cert_file, &cert, err)) < 0)
                return r;
        if ((r = read_pem("private key", tls->key_file, &key, err)) < 0)
                return r;
        grpc_ssl_pem_key_cert_pair pair = { .private_key = key, .cert_chain = cert };
        grpc_ssl_client_certificate_request_type req = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
        /* A CA means mTLS: a client without a certificate it verifies is
         * refused in the handshake (never "optional", which reads as mTLS
         * and lets anyone in). */
        if (ca)
                req = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
        else if (tls->require_client_cert)
                return ak_error_set(err, -EINVAL,
                                    "TLS: requiring client certificates needs a CA file to verify them");
        grpc_server_credentials *creds = grpc_ssl_server_credentials_create_ex(ca, &pair, 1, req, NULL);
        if (!creds)
                return ak_error_set(err, -EINVAL, "TLS: certificate %s or key %s rejected",
                                    tls->cert_file, tls->key_file);
        *ret = creds;
        return 0;
}

int rpc_tls_channel_creds(const struct rpc_tls *tls, grpc_channel_credentials **ret,
                          struct ak_error *err)
{
        if (!tls->cert_file != !tls->key_file)
                return ak_error_set(err, -EINVAL,
                                    "TLS client certificate needs both a certificate and a key file");
        _cleanup_free_ char *ca = NULL, *cert = NULL, *key = NULL;
        int r;
        if (tls->ca_file && (r = read_pem("CA certificate", tls->ca_file, &ca, err)) < 0)
                return r;
        if (tls->cert_file && (r = read_pem("certificate", tls->cert_file, &cert, err)) < 0)
                return r;
        if (tls->key_file && (r = read_pem("private key", tls->key_file, &key, err)) < 0)
                return r;
        grpc_ssl_pem_key_cert_pair pair = { .private_key = key, .cert_chain = cert };
        grpc_channel_credentials *creds =
                grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
        if (!creds)
                return ak_error_set(err, -EINVAL, "TLS: client credentials rejected");
        *ret = creds;
        return 0;
}
