#include "lib/metrics/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/base/hostport.h"

struct metrics_http {
        struct metrics_registry *reg;
        struct MHD_Daemon *d;
        uint16_t port;
};

int metrics_parse_listen(const char *addr, struct sockaddr_storage *ret, struct ak_error *err)
{
        int any;
        int r = ak_listen_addr_parse(addr, ret, &any, err);
        if (r < 0)
                ak_error_wrap(err, "metrics");
        return r;
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

static void (*_Atomic log_fn)(const char *line);

void metrics_http_set_log(void (*fn)(const char *line))
{
        log_fn = fn;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
        void (*fn)(const char *) = cls;
        char line[512];
        if (!fn)
                return; /* no log function set: libmicrohttpd's words are dropped */
        vsnprintf(line, sizeof(line), fmt, ap);
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = '\0';
        fn(line);
}

int metrics_http_start(struct metrics_registry *reg, const char *addr, struct metrics_http **ret,
                       struct ak_error *err)
{
        struct sockaddr_storage sa;
        int any;
        int r = ak_listen_addr_parse(addr, &sa, &any, err);
        if (r < 0) {
                ak_error_wrap(err, "metrics");
                return r;
        }
        struct metrics_http *h = calloc(1, sizeof(*h));
        if (!h)
                return ak_error_set(err, -ENOMEM, "metrics listener on %s: out of memory", addr);
        h->reg = reg;
        void (*fn)(const char *) = log_fn;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
        /* [::]: IPv4 too (IPV6_V6ONLY off), whatever the sysctl says. */
        if (sa.ss_family == AF_INET6)
                flags |= any ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
        /* The logger first: libmicrohttpd warns (through its own logger) when
         * it comes later. */
        h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, fn,
                                MHD_OPTION_SOCK_ADDR, &sa,
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
