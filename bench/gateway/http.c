/* bench/gateway's HTTP client and bare libmicrohttpd baseline (http.h). */
#include "bench/gateway/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/base/time.h"

int bhc_connect(uint16_t port, struct bhc *c, struct ak_error *err)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
        int one = 1;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        c->have = 0;
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return ak_error_errno(err, -errno, "socket");
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int e = -errno;
                close(c->fd);
                c->fd = -1;
                return ak_error_errno(err, e, "connect to 127.0.0.1:%u", port);
        }
        return 0;
}

void bhc_close(struct bhc *c)
{
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
}

static int send_all(int fd, const char *p, size_t n)
{
        while (n) {
                ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return -errno;
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

/* Reads until buf holds the headers and Content-Length bytes after them. */
static int read_response(struct bhc *c, int *ret_status, struct ak_error *err)
{
        for (;;) {
                char *end = c->have ? memmem(c->buf, c->have, "\r\n\r\n", 4) : NULL;
                if (end) {
                        size_t head = (size_t)(end - c->buf) + 4;
                        char *cl = NULL;
                        for (char *p = c->buf; p && p < end;) {
                                if (!strncasecmp(p, "Content-Length:", 15)) {
                                        cl = p + 15;
                                        break;
                                }
                                char *nl = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
                                p = nl ? nl + 2 : NULL;
                        }
                        if (!cl)
                                return ak_error_set(err, -EPROTO, "a response without Content-Length: %.80s",
                                                    c->buf);
                        size_t len = strtoul(cl, NULL, 10);
                        if (head + len > sizeof(c->buf))
                                return ak_error_set(err, -E2BIG, "a response of %zu bytes", head + len);
                        if (c->have >= head + len) {
                                if (sscanf(c->buf, "HTTP/1.1 %d", ret_status) != 1)
                                        return ak_error_set(err, -EPROTO, "not HTTP/1.1: %.40s", c->buf);
                                memmove(c->buf, c->buf + head + len, c->have - head - len);
                                c->have -= head + len;
                                return 0;
                        }
                }
                if (c->have == sizeof(c->buf))
                        return ak_error_set(err, -E2BIG, "response headers over %zu bytes", sizeof(c->buf));
                ssize_t n = recv(c->fd, c->buf + c->have, sizeof(c->buf) - c->have, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return ak_error_set(err, -EPIPE, "the server closed the connection");
                c->have += (size_t)n;
        }
}

int bhc_request(struct bhc *c, const char *method, const char *path, const char *key, const char *body,
                int *ret_status, struct ak_error *err)
{
        char head[1024];
        size_t blen = body ? strlen(body) : 0;
        int n = snprintf(head, sizeof(head),
                         "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s%s%zu\r\n\r\n", method, path,
                         key ? "Authorization: Bearer " : "", key ? key : "", key ? "\r\n" : "",
                         body ? "Content-Type: application/json\r\nContent-Length: " : "Content-Length: ", blen);
        if (n < 0 || (size_t)n >= sizeof(head))
                return ak_error_set(err, -E2BIG, "request head too long");
        int r = send_all(c->fd, head, (size_t)n);
        if (r == 0 && blen)
                r = send_all(c->fd, body, blen);
        if (r < 0)
                return ak_error_errno(err, r, "send %s %s", method, path);
        return read_response(c, ret_status, err);
}

int bhc_sse(uint16_t port, const char *path, const char *key, const char *body, double *ret_first_byte_ms,
            double *ret_first_output_ms, struct ak_error *err)
{
        struct bhc *c = malloc(sizeof(*c));
        char head[1024];
        double first = -1, output = -1;
        size_t len = 0, cap = 1 << 16;
        char *all = malloc(cap);
        int r;

        if (!c || !all) {
                free(c);
                free(all);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        int n = snprintf(head, sizeof(head),
                         "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer %s\r\n"
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                         path, key, strlen(body), body);
        if ((r = bhc_connect(port, c, err)) < 0)
                goto out;
        double t0 = (double)ak_mono_ns() / 1e6;
        if (n < 0 || (size_t)n >= sizeof(head) || (r = send_all(c->fd, head, (size_t)n)) < 0) {
                r = ak_error_set(err, -EIO, "send POST %s", path);
                goto out;
        }
        for (;;) {
                ssize_t got = recv(c->fd, c->buf, sizeof(c->buf), 0);
                if (got < 0 && errno == EINTR)
                        continue;
                if (got <= 0)
                        break;
                double t = (double)ak_mono_ns() / 1e6 - t0;
                if (first < 0)
                        first = t;
                if (len + (size_t)got > cap) {
                        char *b = cap < (16u << 20) ? realloc(all, cap * 2) : NULL;
                        if (!b) {
                                r = ak_error_set(err, -E2BIG, "an SSE stream over 16 MiB");
                                goto out;
                        }
                        all = b;
                        cap *= 2;
                }
                memcpy(all + len, c->buf, (size_t)got);
                len += (size_t)got;
                if (output < 0 && memmem(all, len, "event: output", 13))
                        output = t;
        }
        int status = 0;
        if (len < 12 || sscanf(all, "HTTP/1.1 %d", &status) != 1 || status != 200 ||
            !memmem(all, len, "event: done", 11)) {
                r = ak_error_set(err, -EIO, "POST %s: status %d, no done event: %.200s", path, status,
                                 len ? all : "(nothing)");
                goto out;
        }
        *ret_first_byte_ms = first;
        *ret_first_output_ms = output;
out:
        bhc_close(c);
        free(c);
        free(all);
        return r;
}

struct bare {
        struct MHD_Daemon *d;
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **state)
{
        static const char ok[] = "{\"success\":true,\"data\":\"ok\"}";
        static int first;
        if (!*state) {   /* headers: wait for the body, as any handler does */
                *state = &first;
                return MHD_YES;
        }
        if (*size) {
                *size = 0;
                return MHD_YES;
        }
        struct MHD_Response *resp = MHD_create_response_from_buffer(sizeof(ok) - 1, (void *)ok,
                                                                    MHD_RESPMEM_PERSISTENT);
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", "application/json");
        enum MHD_Result r = MHD_queue_response(conn, 200, resp);
        MHD_destroy_response(resp);
        return r;
}

int bare_start(struct bare **ret, uint16_t *ret_port, struct ak_error *err)
{
        struct sockaddr_in sa = { .sin_family = AF_INET };
        struct bare *b = calloc(1, sizeof(*b));
        if (!b)
                return ak_error_set(err, -ENOMEM, "out of memory");
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        b->d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD, 0,
                                NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                                MHD_OPTION_CONNECTION_LIMIT, 1024, MHD_OPTION_CONNECTION_TIMEOUT, 30,
                                MHD_OPTION_END);
        if (!b->d) {
                free(b);
                return ak_error_set(err, -EIO, "MHD_start_daemon on 127.0.0.1:0 failed");
        }
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(b->d, MHD_DAEMON_INFO_BIND_PORT);
        *ret_port = info ? info->port : 0;
        *ret = b;
        return 0;
}

void bare_stop(struct bare *b)
{
        if (!b)
                return;
        MHD_stop_daemon(b->d);
        free(b);
}
