#include "lib/metrics/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/base/parse.h"

struct metrics_http {
        struct metrics_registry *reg;
        struct MHD_Daemon *d;
        uint16_t port;
};

int metrics_parse_listen(const char *addr, struct sockaddr_storage *ret, struct ak_error *err)
{
        char host[64];
        const char *port;
        unsigned p;

        if (!addr || !*addr)
                return ak_error_set(err, -EINVAL, "metrics listen address is empty (want HOST:PORT)");
        if (addr[0] == '[') {
                const char *end = strchr(addr, ']');
                if (!end || end[1] != ':')
                        return ak_error_set(err, -EINVAL, "metrics listen address '%s': want [IPV6]:PORT", addr);
                if ((size_t)(end - addr - 1) >= sizeof(host))
                        return ak_error_set(err, -EINVAL, "metrics listen address '%s': host too long", addr);
                snprintf(host, sizeof(host), "%.*s", (int)(end - addr - 1), addr + 1);
                port = end + 2;
        } else {
                const char *colon = strrchr(addr, ':');
                if (!colon || strchr(addr, ':') != colon)
                        return ak_error_set(err, -EINVAL,
                                            "metrics listen address '%s': want HOST:PORT, [IPV6]:PORT or :PORT", addr);
                if ((size_t)(colon - addr) >= sizeof(host))
                        return ak_error_set(err, -EINVAL, "metrics listen address '%s': host too long", addr);
                snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
                port = colon + 1;
        }
        if (ak_parse_uint(port, 0, 65535, &p) < 0)
                return ak_error_set(err, -EINVAL, "metrics listen address '%s': port is not 0-65535", addr);

        memset(ret, 0, sizeof(*ret));
        struct sockaddr_in *v4 = (struct sockaddr_in *)ret;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ret;
        if (!*host || !strcmp(host, "0.0.0.0")) {
                v4->sin_family = AF_INET;
                v4->sin_addr.s_addr = htonl(INADDR_ANY);
                v4->sin_port = htons((uint16_t)p);
        } else if (!strcmp(host, "localhost") || inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
                if (!strcmp(host, "localhost"))
                        v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                v4->sin_family = AF_INET;
                v4->sin_port = htons((uint16_t)p);
        } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
                v6->sin6_family = AF_INET6;
                v6->sin6_port = htons((uint16_t)p);
        } else {
                return ak_error_set(err, -EINVAL, "metrics listen address '%s': '%s' is not a numeric address",
                                    addr, host);
        }
        return 0;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type, char *body,
                              size_t len, enum MHD_ResponseMemoryMode mode)
{
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
        if (!resp) {
                if (mode == MHD_RESPMEM_MUST_FREE)
                        free(body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", type);
        if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
                MHD_add_response_header(resp, "Allow", "GET, HEAD");
        enum MHD_Result ok = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ok;
}

static enum MHD_Result answer_text(struct MHD_Connection *c, unsigned status, const char *text)
{
        return answer(c, status, "text/plain; charset=utf-8", (char *)text, strlen(text), MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
        struct metrics_http *h = cls;
        (void)version, (void)upload;

        /* A request body, if any, is dropped unread: /metrics takes none. */
        if (*upload_size) {
                *upload_size = 0;
                return MHD_YES;
        }
        if (!*con_cls) {
                *con_cls = h; /* headers seen; answer on the next call */
                return MHD_YES;
        }
        if (strcmp(method, "GET") && strcmp(method, "HEAD"))
                return answer_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics is served here\n");
        if (strcmp(url, "/metrics"))
                return answer_text(c, MHD_HTTP_NOT_FOUND, "not found: metrics are at /metrics\n");
        char *text;
        size_t len;
        if (metrics_render(h->reg, &text, &len) < 0)
                return answer_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory rendering metrics\n");
        return answer(c, MHD_HTTP_OK, METRICS_CONTENT_TYPE, text, len, MHD_RESPMEM_MUST_FREE);
}

int metrics_http_start(struct metrics_registry *reg, const char *addr, struct metrics_http **ret,
                       struct ak_error *err)
{
        struct sockaddr_storage sa;
        int r = metrics_parse_listen(addr, &sa, err);
        if (r < 0)
                return r;
        struct metrics_http *h = calloc(1, sizeof(*h));
        if (!h)
                return ak_error_set(err, -ENOMEM, "metrics listener on %s: out of memory", addr);
        h->reg = reg;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
        if (sa.ss_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, &sa,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_HTTP_MAX_CONNECTIONS,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_HTTP_TIMEOUT_S,
                                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 << 10, MHD_OPTION_END);
        if (!h->d) {
                free(h);
                return ak_error_set(err, -EADDRINUSE,
                                    "metrics listener: cannot listen on %s (port in use, or not an address of this host)",
                                    addr);
        }
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
        h->port = info ? info->port : 0;
        *ret = h;
        return 0;
}

uint16_t metrics_http_port(const struct metrics_http *h)
{
        return h->port;
}

void metrics_http_stop(struct metrics_http *h)
{
        if (!h)
                return;
        MHD_stop_daemon(h->d);
        free(h);
}
