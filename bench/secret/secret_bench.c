/* bench/secret: small HTTPS requests through the secret-injecting path
 * (vmm/net/tls_relay: TLS terminated with the sandbox CA, the head rewritten,
 * TLS re-originated and verified) beside the same requests straight to the
 * server, in one run, over loopback.
 *
 *   bazel run -c opt //bench/secret -- [--requests N]
 *
 * Each request is "GET / HTTP/1.1" with an Authorization header, answered
 * with 2 bytes by a keep-alive server. Two client modes, each on both
 * paths: a new TLS connection per request ("Connection: close", as a
 * one-shot curl), and one keep-alive connection carrying every request.
 * The relay pools its server connections (tls_relay.h) in both. Prints
 * p50/p90/p99 latency in microseconds for both paths and the ratio of the
 * p50s, the relay's server connections (new, resumed) and pooled reuses,
 * and the CPU time per request of each path run alone (the figure load on
 * a shared machine does not move). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <stdint.h>
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

/* ---- the API host: answers every request with "ok", keep-alive ---- */

struct server {
        int lfd;
        SSL_CTX *ctx;
};

/* Reads one HTTP message head and its Content-Length body (at most 2 bytes
 * here) from ssl: 1 with *ret_close when it said Connection: close, 0 at
 * the end of the connection. */
static int read_message(SSL *ssl, bool *ret_close)
{
        char buf[4096];
        size_t have = 0, got = 0;
        const char *end;

        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
                if (have == sizeof(buf) || SSL_read_ex(ssl, buf + have, sizeof(buf) - have, &got) != 1)
                        return 0;
                have += got;
        }
        size_t head = (size_t)(end - buf) + 4, body = 0;
        const char *cl = memmem(buf, head, "Content-Length: ", 16);
        if (cl)
                body = (size_t)atoi(cl + 16);
        while (have < head + body) {
                if (SSL_read_ex(ssl, buf + have, sizeof(buf) - have, &got) != 1)
                        return 0;
                have += got;
        }
        *ret_close = memmem(buf, head, "Connection: close", 17) != NULL;
        return 1;
}

static void *server_conn_main(void *arg)
{
        struct server *s = ((void **)arg)[0];
        int c = (int)(intptr_t)((void **)arg)[1];
        SSL *ssl = SSL_new(s->ctx);
        bool close_after = false;
        size_t got;

        free(arg);
        SSL_set_fd(ssl, c);
        if (SSL_accept(ssl) == 1)
                while (!close_after && read_message(ssl, &close_after) == 1) {
                        static const char ka[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        static const char cl[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
                        if (SSL_write_ex(ssl, close_after ? cl : ka, close_after ? sizeof(cl) - 1 : sizeof(ka) - 1,
                                         &got) != 1)
                                break;
                }
        SSL_shutdown(ssl);
        SSL_free(ssl);
        close(c);
        return NULL;
}

static void *server_main(void *arg)
{
        struct server *s = arg;

        for (;;) {
                int c = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                        return NULL;
                void **a = malloc(2 * sizeof(void *));
                a[0] = s;
                a[1] = (void *)(intptr_t)c;
                pthread_t t;
                pthread_create(&t, NULL, server_conn_main, a);
                pthread_detach(t);
        }
}

/* ---- the relay: one thread per connection, as the proxy would ---- */

struct relay {
        int lfd, upstream_port;
        struct tls_relay_config cfg;
        struct tls_relay *relay;
};

static int connects, resumed, reused; /* the pooled relay's new server connections, resumed ones, pooled reuses */

struct relay_conn {
        struct relay *r;
        int g;
};

static int relay_connect(void *ctx)
{
        struct relay_conn *rc = ctx;
        int fd = dial(rc->r->upstream_port);
        if (!rc->r->cfg.no_pool)
                __atomic_add_fetch(&connects, 1, __ATOMIC_RELAXED);
        return fd < 0 ? -ECONNREFUSED : fd;
}

static uint64_t phase_ns[3], phase_n; /* the relay's phase timers, summed */

static void relay_exchange(void *ctx, const struct tls_relay_result *res, const struct ak_error *err)
{
        const struct relay_conn *rc = ctx;
        if (err)
                fprintf(stderr, "relay: %s\n", err->msg);
        if (rc->r->cfg.no_pool)
                return;
        __atomic_add_fetch(&phase_ns[0], res->ns_rewrite, __ATOMIC_RELAXED);
        __atomic_add_fetch(&phase_ns[1], res->ns_upstream, __ATOMIC_RELAXED);
        __atomic_add_fetch(&phase_ns[2], res->ns_exchange, __ATOMIC_RELAXED);
        __atomic_add_fetch(&phase_n, 1, __ATOMIC_RELAXED);
        if (res->resumed)
                __atomic_add_fetch(&resumed, 1, __ATOMIC_RELAXED);
        if (res->reused)
                __atomic_add_fetch(&reused, 1, __ATOMIC_RELAXED);
}

static void *relay_conn_main(void *arg)
{
        struct relay_conn *rc = arg;
        struct tls_relay_result res;
        struct ak_error err = { 0 };
        char addr[32];
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", rc->r->upstream_port);
        const struct tls_relay_target t = { HOST, addr, relay_connect, NULL, relay_exchange, rc };

        tls_relay_serve(rc->r->relay, rc->g, NULL, 0, &t, &res, &err);
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

/* ---- a TCP forwarder: the plain egress path's hop (the VM's proxy reads
 * and writes each side as vmm/net/proxy does, one thread here) ---- */

struct forwarder {
        int lfd, upstream_port;
};

static void *forward_conn_main(void *arg)
{
        int c = (int)(intptr_t)((void **)arg)[0], port = (int)(intptr_t)((void **)arg)[1];
        int u = dial(port), one = 1;
        bool c_eof = false, u_eof = false;
        char buf[16384];

        free(arg);
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        while (u >= 0 && !(c_eof && u_eof)) {
                struct pollfd p[2] = { { c, c_eof ? 0 : POLLIN, 0 }, { u, u_eof ? 0 : POLLIN, 0 } };
                if (poll(p, 2, 5000) <= 0)
                        break;
                for (int k = 0; k < 2; k++) {
                        int from = k ? u : c, to = k ? c : u;
                        bool *eof = k ? &u_eof : &c_eof;
                        if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)) || *eof)
                                continue;
                        ssize_t n = read(from, buf, sizeof(buf));
                        if (n <= 0) {
                                *eof = true;
                                shutdown(to, SHUT_WR);
                        } else if (send(to, buf, (size_t)n, MSG_NOSIGNAL) != n) {
                                c_eof = u_eof = true;
                        }
                }
        }
        if (u >= 0)
                close(u);
        close(c);
        return NULL;
}

static void *forwarder_main(void *arg)
{
        struct forwarder *f = arg;

        for (;;) {
                int c = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                        return NULL;
                void **a = malloc(2 * sizeof(void *));
                a[0] = (void *)(intptr_t)c;
                a[1] = (void *)(intptr_t)f->upstream_port;
                pthread_t t;
                pthread_create(&t, NULL, forward_conn_main, a);
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

static void request_text(char *req, size_t size, const char *auth, bool close_after)
{
        snprintf(req, size, "GET / HTTP/1.1\r\nHost: " HOST "\r\nAuthorization: Bearer %s\r\n%s\r\n", auth,
                 close_after ? "Connection: close\r\n" : "");
}

/* One request on ssl and its answer "ok" read by its length: 0 or -1. */
static int exchange(SSL *ssl, const char *req)
{
        char buf[512];
        size_t got = 0, have = 0;
        const char *end = NULL;

        if (SSL_write_ex(ssl, req, strlen(req), &got) != 1)
                return -1;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4)) || have < (size_t)(end - buf) + 6) {
                if (have == sizeof(buf) || SSL_read_ex(ssl, buf + have, sizeof(buf) - have, &got) != 1)
                        return -1;
                have += got;
        }
        return memcmp(end + 4, "ok", 2) == 0 ? 0 : -1;
}

static SSL *client_connect(SSL_CTX *ctx, int port, int *ret_fd)
{
        int fd = dial(port);
        SSL *ssl = SSL_new(ctx);

        SSL_set_fd(ssl, fd);
        SSL_set_tlsext_host_name(ssl, HOST);
        SSL_set1_host(ssl, HOST);
        if (fd < 0 || SSL_connect(ssl) != 1) {
                SSL_free(ssl);
                if (fd >= 0)
                        close(fd);
                return NULL;
        }
        *ret_fd = fd;
        return ssl;
}

/* One request on a new connection; its latency in microseconds, or -1. */
static double request(SSL_CTX *ctx, int port, const char *auth)
{
        char req[512];
        double t0 = now_us(), t = -1;
        int fd = -1;
        SSL *ssl = client_connect(ctx, port, &fd);

        request_text(req, sizeof(req), auth, true);
        if (ssl && exchange(ssl, req) == 0)
                t = now_us() - t0;
        if (ssl) {
                SSL_shutdown(ssl);
                SSL_free(ssl);
                close(fd);
        }
        return t;
}

static SSL_CTX *client_ctx(X509 *root)
{
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), root);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        return ctx;
}

struct path {
        const char *name;
        SSL_CTX *ctx;
        int port;
        const char *auth;
        bool keep_alive; /* one connection for every request (made before the timing) */
        SSL *ka;
        int ka_fd;
        double *us;
        int ok, failed;
};

/* One request on p: its latency in microseconds, or -1. */
static double path_request(struct path *p)
{
        char req[512];

        if (!p->keep_alive)
                return request(p->ctx, p->port, p->auth);
        if (!p->ka && !(p->ka = client_connect(p->ctx, p->port, &p->ka_fd)))
                return -1;
        request_text(req, sizeof(req), p->auth, false);
        double t0 = now_us();
        if (exchange(p->ka, req) == 0)
                return now_us() - t0;
        SSL_free(p->ka);
        close(p->ka_fd);
        p->ka = NULL;
        return -1;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* n requests on each path, alternating, so all see the same load (the
 * machine is shared); then each path's latencies sorted. */
static void run(struct path **paths, int n_paths, int n)
{
        for (int k = 0; k < n_paths; k++)
                paths[k]->ok = paths[k]->failed = 0;
        for (int i = 0; i < n; i++)
                for (int k = 0; k < n_paths; k++) {
                        double t = path_request(paths[k]);
                        if (t < 0)
                                paths[k]->failed++;
                        else
                                paths[k]->us[paths[k]->ok++] = t;
                }
        for (int k = 0; k < n_paths; k++)
                qsort(paths[k]->us, (size_t)paths[k]->ok, sizeof(double), cmp);
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
                if (path_request(p) < 0)
                        p->failed++;
        usleep(20000); /* the relay's and server's threads finish their closes */
        return (cpu_us() - c0) / n;
}

static double pct(const struct path *p, int q)
{
        return p->ok ? p->us[p->ok * q / 100] : 0;
}

/* The relay's phase timers over the requests since the last call. */
static void report_phases(void)
{
        uint64_t n = __atomic_exchange_n(&phase_n, 0, __ATOMIC_RELAXED);
        double us[3];
        for (int i = 0; i < 3; i++)
                us[i] = n ? __atomic_exchange_n(&phase_ns[i], 0, __ATOMIC_RELAXED) / 1e3 / n : 0;
        printf("  relay phases, mean per request: head rewrite %.1f us, server connection %.1f us, "
               "request to response end %.1f us (%llu requests)\n",
               us[0], us[1], us[2], (unsigned long long)n);
}

/* paths[0] and paths[1] are the baselines (straight to the server, and
 * through a TCP forwarder as the plain egress path is); the others are
 * compared with both. */
static void report(const char *mode, struct path **paths, int n_paths, int n)
{
        double cpu[4];

        printf("%s: %d requests per path, alternating (loopback)\n", mode, n);
        for (int k = 0; k < n_paths; k++)
                printf("  %-26s p50 %7.0f us  p90 %7.0f us  p99 %7.0f us  failed %d\n", paths[k]->name,
                       pct(paths[k], 50), pct(paths[k], 90), pct(paths[k], 99), paths[k]->failed);
        for (int k = 0; k < n_paths; k++)
                cpu[k] = cpu_per_request(paths[k], n);
        for (int k = 2; k < n_paths; k++)
                for (int b = 0; b < 2; b++)
                        printf("  %s / %s: p50 %.2fx, p99 %.2fx, CPU per request %.0f / %.0f us = %.2fx\n",
                               paths[k]->name, paths[b]->name,
                               pct(paths[b], 50) > 0 ? pct(paths[k], 50) / pct(paths[b], 50) : 0,
                               pct(paths[b], 99) > 0 ? pct(paths[k], 99) / pct(paths[b], 99) : 0, cpu[k], cpu[b],
                               cpu[b] > 0 ? cpu[k] / cpu[b] : 0);
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
        struct relay rel = { 0 }, nopool = { 0 };
        struct inject_secret secret = { .host = HOST, .header = "Authorization" };
        char roots[] = "/tmp/ak_secret_bench_roots.XXXXXX";
        int n = 300, server_port, relay_port, nopool_port, fwd_port = -1, fd;
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
        nopool.cfg = rel.cfg;
        nopool.cfg.no_pool = true;
        nopool.upstream_port = server_port;
        if (tls_relay_new(&rel.cfg, &rel.relay, &err) < 0 || tls_relay_new(&nopool.cfg, &nopool.relay, &err) < 0) {
                fprintf(stderr, "bench: %s\n", err.msg);
                return 1;
        }
        rel.lfd = listen_any(&relay_port);
        nopool.lfd = listen_any(&nopool_port);
        pthread_create(&t, NULL, relay_main, &rel);
        pthread_create(&t, NULL, relay_main, &nopool);
        struct forwarder fwd = { listen_any(&fwd_port), server_port };
        pthread_create(&t, NULL, forwarder_main, &fwd);

        size_t stride = (size_t)n + 10;
        double *us = calloc(7 * stride, sizeof(double));
        SSL_CTX *api_ctx = client_ctx(api_root), *sandbox_ctx = client_ctx(sandbox_root);
        const char *value = (const char *)secret.value;
        struct path plain = { "plain egress", api_ctx, server_port, value, false, NULL, -1, us, 0, 0 };
        struct path injected = { "secret injected", sandbox_ctx, relay_port, secret.placeholder, false, NULL, -1,
                                 us + stride, 0, 0 };
        struct path unpooled = { "injected, pool off", sandbox_ctx, nopool_port, secret.placeholder, false, NULL, -1,
                                 us + 2 * stride, 0, 0 };
        struct path plain_ka = { "plain egress", api_ctx, server_port, value, true, NULL, -1, us + 3 * stride, 0, 0 };
        struct path injected_ka = { "secret injected", sandbox_ctx, relay_port, secret.placeholder, true, NULL, -1,
                                    us + 4 * stride, 0, 0 };
        struct path forwarded = { "plain via TCP forwarder", api_ctx, fwd.lfd >= 0 ? fwd_port : -1, value, false,
                                  NULL, -1, us + 5 * stride, 0, 0 };
        struct path forwarded_ka = { "plain via TCP forwarder", api_ctx, fwd_port, value, true, NULL, -1,
                                     us + 6 * stride, 0, 0 };
        struct path *fresh[] = { &plain, &forwarded, &injected, &unpooled },
                    *ka[] = { &plain_ka, &forwarded_ka, &injected_ka };

        run(fresh, 4, 10); /* warm-up */
        report_phases();
        run(fresh, 4, n);
        report("new TLS connection per request", fresh, 4, n);
        report_phases();
        run(ka, 3, 10);
        report_phases();
        run(ka, 3, n);
        report("one keep-alive connection per path", ka, 3, n);
        report_phases();
        printf("pooled relay's server connections: %d new (%d resumed a session), %d requests over pooled ones\n",
               __atomic_load_n(&connects, __ATOMIC_RELAXED), __atomic_load_n(&resumed, __ATOMIC_RELAXED),
               __atomic_load_n(&reused, __ATOMIC_RELAXED));
        int failed = plain.failed || injected.failed || unpooled.failed || plain_ka.failed || injected_ka.failed ||
                     forwarded.failed || forwarded_ka.failed;
        free(us);
        unlink(roots);
        return failed ? 1 : 0;
}
