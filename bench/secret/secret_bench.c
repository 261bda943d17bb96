/* bench/secret: small HTTPS requests through the secret-injecting path
 * (vmm/net/tls_relay: TLS terminated with the sandbox CA, the head rewritten,
 * TLS re-originated and verified) beside the same requests straight to the
 * server, in one run, over loopback.
 *
 *   bazel run -c opt //bench/secret -- [--requests N]
 *
 * Each request is a new TLS connection (the relay makes every injected
 * request one connection: Connection: close), "GET / HTTP/1.1" with an
 * Authorization header, answered with 2 bytes. Prints p50/p90 latency in
 * microseconds for both paths and the ratio of the p50s, how many of the
 * relay's server connections resumed a session, and the CPU time per
 * request of each path run alone (the figure load on a shared machine does
 * not move). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vmm/net/tls_relay.h"

#define HOST "api.example.com"

static int listen_any(int *ret_port)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0 ||
            getsockname(fd, (struct sockaddr *)&a, &len) < 0)
                return -1;
        *ret_port = ntohs(a.sin_port);
        return fd;
}

static int dial(int port)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

        /* as curl and most HTTP clients do */
        if (fd >= 0)
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

/* ---- the API host: answers every request with "ok" ---- */

struct server {
        int lfd;
        SSL_CTX *ctx;
};

static void *server_main(void *arg)
{
        struct server *s = arg;
        char buf[4096];

        for (;;) {
                int c = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                        return NULL;
                SSL *ssl = SSL_new(s->ctx);
                SSL_set_fd(ssl, c);
                if (SSL_accept(ssl) == 1) {
                        size_t got = 0, have = 0;
                        while (have < sizeof(buf) && SSL_read_ex(ssl, buf + have, sizeof(buf) - have, &got) == 1) {
                                have += got;
                                if (memmem(buf, have, "\r\n\r\n", 4))
                                        break;
                        }
                        static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
                        SSL_write_ex(ssl, resp, sizeof(resp) - 1, &got);
                        SSL_shutdown(ssl);
                }
                SSL_free(ssl);
                close(c);
        }
}

/* ---- the relay: one thread per connection, as the proxy would ---- */

struct relay {
        int lfd, upstream_port;
        struct tls_relay_config cfg;
        struct tls_relay *relay;
};

static int served, resumed; /* relayed connections, and those whose server session was resumed */

struct relay_conn {
        struct relay *r;
        int g;
};

static void *relay_conn_main(void *arg)
{
        struct relay_conn *rc = arg;
        struct tls_relay_result res;
        struct ak_error err = { 0 };
        int u = dial(rc->r->upstream_port);

        if (u >= 0 && tls_relay_serve(rc->r->relay, rc->g, u, HOST, &res, &err) < 0)
                fprintf(stderr, "relay: %s\n", err.msg);
        else if (u >= 0) {
                __atomic_add_fetch(&served, 1, __ATOMIC_RELAXED);
                if (res.resumed)
                        __atomic_add_fetch(&resumed, 1, __ATOMIC_RELAXED);
        }
        if (u >= 0)
                close(u);
        close(rc->g);
        free(rc);
        return NULL;
}

static void *relay_main(void *arg)
{
        struct relay *r = arg;

        for (;;) {
                struct relay_conn *rc = malloc(sizeof(*rc));
                pthread_t t;
                rc->r = r;
                rc->g = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
                if (rc->g < 0) {
                        free(rc);
                        return NULL;
                }
                pthread_create(&t, NULL, relay_conn_main, rc);
                pthread_detach(t);
        }
}

/* ---- the client ---- */

static double now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* One request on a new connection; its latency in microseconds, or -1. */
static double request(SSL_CTX *ctx, int port, const char *auth)
{
        char req[512], buf[512];
        double t0 = now_us(), t = -1;
        size_t got = 0, have = 0;
        int fd = dial(port);
        SSL *ssl = SSL_new(ctx);

        snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: " HOST "\r\nAuthorization: Bearer %s\r\n\r\n", auth);
        SSL_set_fd(ssl, fd);
        SSL_set_tlsext_host_name(ssl, HOST);
        SSL_set1_host(ssl, HOST);
        if (fd >= 0 && SSL_connect(ssl) == 1 && SSL_write_ex(ssl, req, strlen(req), &got) == 1) {
                while (SSL_read_ex(ssl, buf + have, sizeof(buf) - have, &got) == 1)
                        have += got;
                if (have >= 2 && memcmp(buf + have - 2, "ok", 2) == 0)
                        t = now_us() - t0;
        }
        SSL_free(ssl);
        if (fd >= 0)
                close(fd);
        return t;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static SSL_CTX *client_ctx(X509 *root)
{
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), root);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        return ctx;
}

struct path {
        SSL_CTX *ctx;
        int port;
        const char *auth;
        double *us;
        int ok, failed;
};

/* n requests on each path, alternating, so both see the same load (the
 * machine is shared); then each path's latencies sorted. */
static void run(struct path *a, struct path *b, int n)
{
        for (int i = 0; i < n; i++)
                for (struct path *p = a; p; p = p == a ? b : NULL) {
                        double t = request(p->ctx, p->port, p->auth);
                        if (t < 0)
                                p->failed++;
                        else
                                p->us[p->ok++] = t;
                }
        qsort(a->us, (size_t)a->ok, sizeof(double), cmp);
        qsort(b->us, (size_t)b->ok, sizeof(double), cmp);
}

static double cpu_us(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* CPU time of this process (client, relay and server threads alike) per
 * request on one path alone: unlike latency, not moved by other load on
 * the machine. */
static double cpu_per_request(struct path *p, int n)
{
        double c0 = cpu_us();
        for (int i = 0; i < n; i++)
                if (request(p->ctx, p->port, p->auth) < 0)
                        p->failed++;
        usleep(20000); /* the relay's and server's threads finish their closes */
        return (cpu_us() - c0) / n;
}

static double pct(const struct path *p, int q)
{
        return p->ok ? p->us[p->ok * q / 100] : 0;
}

static X509 *ca_cert(struct tls_ca *ca)
{
        char *pem = NULL;
        size_t len = 0;
        X509 *x = NULL;

        if (tls_ca_cert_pem(ca, &pem, &len) == 0) {
                BIO *b = BIO_new_mem_buf(pem, (int)len);
                x = PEM_read_bio_X509(b, NULL, NULL, NULL);
                BIO_free(b);
        }
        free(pem);
        return x;
}

int main(int argc, char **argv)
{
        const char *hosts[] = { HOST };
        struct tls_ca *api_ca = NULL, *sandbox_ca = NULL;
        struct ak_error err = { 0 };
        struct server srv;
        struct relay rel = { 0 };
        struct inject_secret secret = { .host = HOST, .header = "Authorization" };
        char roots[] = "/tmp/ak_secret_bench_roots.XXXXXX";
        int n = 300, server_port, relay_port, fd;
        X509 *cert;
        EVP_PKEY *key;
        pthread_t t;

        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc)
                        n = atoi(argv[++i]);
        if (n < 10 || n > 100000) {
                fprintf(stderr, "--requests: 10 to 100000\n");
                return 2;
        }
        /* the API host's CA (the "system roots" of this run) and the sandbox's */
        if (tls_ca_new(hosts, 1, &api_ca, &err) < 0 || tls_ca_new(hosts, 1, &sandbox_ca, &err) < 0 ||
            tls_ca_leaf(api_ca, HOST, &cert, &key) < 0) {
                fprintf(stderr, "bench: %s\n", err.msg);
                return 1;
        }
        X509 *api_root = ca_cert(api_ca), *sandbox_root = ca_cert(sandbox_ca);
        fd = mkstemp(roots);
        FILE *f = fdopen(fd, "w");
        PEM_write_X509(f, api_root);
        fclose(f);

        srv.ctx = SSL_CTX_new(TLS_server_method());
        SSL_CTX_use_certificate(srv.ctx, cert);
        SSL_CTX_use_PrivateKey(srv.ctx, key);
        srv.lfd = listen_any(&server_port);
        pthread_create(&t, NULL, server_main, &srv);

        inject_placeholder_new(secret.placeholder);
        secret.value = (const uint8_t *)"sk-bench-value-0123456789abcdef";
        secret.value_len = strlen((const char *)secret.value);
        rel.cfg = (struct tls_relay_config){ sandbox_ca, &secret, 1, roots, 5000 };
        rel.upstream_port = server_port;
        if (tls_relay_new(&rel.cfg, &rel.relay, &err) < 0) {
                fprintf(stderr, "bench: %s\n", err.msg);
                return 1;
        }
        rel.lfd = listen_any(&relay_port);
        pthread_create(&t, NULL, relay_main, &rel);

        double *us = calloc(2 * (size_t)(n + 10), sizeof(double));
        struct path plain = { client_ctx(api_root), server_port, "sk-bench-value-0123456789abcdef", us, 0, 0 };
        struct path injected = { client_ctx(sandbox_root), relay_port, secret.placeholder, us + n + 10, 0, 0 };
        run(&plain, &injected, 10); /* warm-up */
        plain.ok = plain.failed = injected.ok = injected.failed = 0;
        run(&plain, &injected, n);
        printf("requests %d per path, alternating (each a new TLS connection, loopback)\n", n);
        printf("plain egress (baseline)  p50 %8.0f us  p90 %8.0f us  failed %d\n", pct(&plain, 50),
               pct(&plain, 90), plain.failed);
        printf("secret injected          p50 %8.0f us  p90 %8.0f us  failed %d\n", pct(&injected, 50),
               pct(&injected, 90), injected.failed);
        printf("server sessions resumed  %d of %d relayed connections\n", __atomic_load_n(&resumed, __ATOMIC_RELAXED),
               __atomic_load_n(&served, __ATOMIC_RELAXED));
        printf("injected/plain p50       %.2fx\n", pct(&plain, 50) > 0 ? pct(&injected, 50) / pct(&plain, 50) : 0);
        double cpu_plain = cpu_per_request(&plain, n), cpu_inj = cpu_per_request(&injected, n);
        printf("CPU per request (all threads): plain %.0f us, injected %.0f us, %.2fx\n", cpu_plain, cpu_inj,
               cpu_plain > 0 ? cpu_inj / cpu_plain : 0);
        int failed = plain.failed || injected.failed;
        free(us);
        unlink(roots);
        return failed ? 1 : 0;
}
