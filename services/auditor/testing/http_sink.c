#include "services/auditor/testing/http_sink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64
#define MAX_REQUEST (64u << 20)

struct conn {
        struct http_sink *s;
        int fd;
        pthread_t thread;
        bool used;
};

struct http_sink {
        int listen_fd;
        int port;
        pthread_t acceptor;
        pthread_mutex_t mu;
        bool stopping;
        int status;
        int retry_after;
        unsigned delay_ms;
        size_t requests;
        char **bodies;
        size_t n_bodies, cap_bodies;
        char *last_headers;
        struct conn conns[MAX_CONNS];
};

static bool stopping(struct http_sink *s)
{
        pthread_mutex_lock(&s->mu);
        bool st = s->stopping;
        pthread_mutex_unlock(&s->mu);
        return st;
}

static int send_all(int fd, const char *p, size_t n)
{
        while (n) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return -1;
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

static void record(struct http_sink *s, const char *headers, size_t hlen, char *body, bool accepted)
{
        pthread_mutex_lock(&s->mu);
        s->requests++;
        free(s->last_headers);
        s->last_headers = strndup(headers, hlen);
        if (accepted) {
                if (s->n_bodies == s->cap_bodies) {
                        s->cap_bodies = s->cap_bodies ? 2 * s->cap_bodies : 64;
                        s->bodies = realloc(s->bodies, s->cap_bodies * sizeof(*s->bodies));
                }
                s->bodies[s->n_bodies++] = body;
                body = NULL;
        }
        pthread_mutex_unlock(&s->mu);
        free(body);
}

static void *serve(void *arg)
{
        struct conn *c = arg;
        struct http_sink *s = c->s;
        char *buf = malloc(MAX_REQUEST + 1);
        size_t len = 0;

        while (buf && !stopping(s)) {
                char *end = NULL;
                buf[len] = '\0';
                end = strstr(buf, "\r\n\r\n");
                if (!end) {
                        if (len == MAX_REQUEST)
                                break;
                        ssize_t k = recv(c->fd, buf + len, MAX_REQUEST - len, 0);
                        if (k <= 0)
                                break;
                        len += (size_t)k;
                        continue;
                }
                size_t hlen = (size_t)(end - buf) + 4, clen = 0;
                for (char *line = strstr(buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n"))
                        if (strncasecmp(line + 2, "content-length:", 15) == 0)
                                clen = strtoull(line + 17, NULL, 10);
                if (clen > MAX_REQUEST - hlen)
                        break;
                while (len < hlen + clen) {
                        ssize_t k = recv(c->fd, buf + len, MAX_REQUEST - len, 0);
                        if (k <= 0)
                                goto out;
                        len += (size_t)k;
                }
                pthread_mutex_lock(&s->mu);
                int status = s->status, retry_after = s->retry_after;
                unsigned delay = s->delay_ms;
                pthread_mutex_unlock(&s->mu);
                for (unsigned waited = 0; waited < delay && !stopping(s); waited += 10)
                        usleep(10000);
                char *body = strndup(buf + hlen, clen);
                record(s, buf, hlen, body, status >= 200 && status < 300);
                char resp[256];
                const char *text = status >= 200 && status < 300 ? "ok" : "try later";
                int n = snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n", status, strlen(text));
                if (retry_after >= 0)
                        n += snprintf(resp + n, sizeof(resp) - (size_t)n, "Retry-After: %d\r\n", retry_after);
                n += snprintf(resp + n, sizeof(resp) - (size_t)n, "\r\n%s", text);
                if (send_all(c->fd, resp, (size_t)n) < 0)
                        break;
                memmove(buf, buf + hlen + clen, len - hlen - clen);
                len -= hlen + clen;
        }
out:
        free(buf);
        return NULL;
}

static void *accept_loop(void *arg)
{
        struct http_sink *s = arg;

        while (!stopping(s)) {
                struct pollfd p = { s->listen_fd, POLLIN, 0 };
                if (poll(&p, 1, 50) <= 0)
                        continue;
                int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        continue;
                pthread_mutex_lock(&s->mu);
                struct conn *c = NULL;
                for (int i = 0; i < MAX_CONNS; i++)
                        if (!s->conns[i].used) {
                                c = &s->conns[i];
                                break;
                        }
                if (c) {
                        c->used = true;
                        c->fd = fd;
                        c->s = s;
                        if (pthread_create(&c->thread, NULL, serve, c) != 0) {
                                c->used = false;
                                close(fd);
                        }
                } else {
                        close(fd);
                }
                pthread_mutex_unlock(&s->mu);
        }
        return NULL;
}

int http_sink_start(struct http_sink **ret)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t alen = sizeof(a);
        struct http_sink *s = calloc(1, sizeof(*s));
        int one = 1;

        if (!s)
                return -ENOMEM;
        pthread_mutex_init(&s->mu, NULL);
        s->status = 200;
        s->retry_after = -1;
        s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s->listen_fd < 0)
                goto fail;
        setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s->listen_fd, 64) < 0 ||
            getsockname(s->listen_fd, (struct sockaddr *)&a, &alen) < 0)
                goto fail;
        s->port = ntohs(a.sin_port);
        if (pthread_create(&s->acceptor, NULL, accept_loop, s) != 0)
                goto fail;
        *ret = s;
        return 0;
fail:;
        int e = errno ? -errno : -EIO;
        if (s->listen_fd >= 0)
                close(s->listen_fd);
        free(s);
        return e;
}

void http_sink_stop(struct http_sink *s)
{
        if (!s)
                return;
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        for (int i = 0; i < MAX_CONNS; i++)
                if (s->conns[i].used)
                        shutdown(s->conns[i].fd, SHUT_RDWR);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->acceptor, NULL);
        for (int i = 0; i < MAX_CONNS; i++)
                if (s->conns[i].used) {
                        pthread_join(s->conns[i].thread, NULL);
                        close(s->conns[i].fd);
                }
        close(s->listen_fd);
        for (size_t i = 0; i < s->n_bodies; i++)
                free(s->bodies[i]);
        free(s->bodies);
        free(s->last_headers);
        pthread_mutex_destroy(&s->mu);
        free(s);
}

int http_sink_port(const struct http_sink *s)
{
        return s->port;
}

void http_sink_set_response(struct http_sink *s, int status, int retry_after_secs, unsigned delay_ms)
{
        pthread_mutex_lock(&s->mu);
        s->status = status;
        s->retry_after = retry_after_secs;
        s->delay_ms = delay_ms;
        pthread_mutex_unlock(&s->mu);
}

size_t http_sink_requests(struct http_sink *s)
{
        pthread_mutex_lock(&s->mu);
        size_t n = s->requests;
        pthread_mutex_unlock(&s->mu);
        return n;
}

size_t http_sink_accepted(struct http_sink *s)
{
        pthread_mutex_lock(&s->mu);
        size_t n = s->n_bodies;
        pthread_mutex_unlock(&s->mu);
        return n;
}

char *http_sink_body(struct http_sink *s, size_t i)
{
        char *b = NULL;

        pthread_mutex_lock(&s->mu);
        if (i < s->n_bodies)
                b = strdup(s->bodies[i]);
        pthread_mutex_unlock(&s->mu);
        return b;
}

char *http_sink_last_headers(struct http_sink *s)
{
        pthread_mutex_lock(&s->mu);
        char *h = s->last_headers ? strdup(s->last_headers) : NULL;
        pthread_mutex_unlock(&s->mu);
        return h;
}
