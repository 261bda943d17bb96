/* libmicrohttpd glue: request state, limits, auth, and the hand-off to
 * gateway_handle. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/svc/auth.h"
#include "lib/svc/tokens.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http.h"

struct gw_http {
        struct gw_http_config cfg;
        struct MHD_Daemon *d;
        uint16_t port;
};

struct req_state {
        char tenant[TOKEN_NAME_MAX + 1];
        char *body;
        size_t len, cap;
        bool too_big;
        bool answered;   /* a response is queued already */
};

static bool local_host(const char *host, size_t n)
{
        static const char *const names[] = { "localhost", "127.0.0.1", "[::1]" };
        for (size_t i = 0; i < 3; i++) {
                size_t l = strlen(names[i]);
                if (n == l && !strncasecmp(host, names[i], l))
                        return true;
        }
        return false;
}

int gw_http_check_origin(const char *host, const char *origin, const char *sec_fetch_site, const char **ret_why)
{
        if (!host || !*host) {
                *ret_why = "a Host header is required";
                return -EPERM;
        }
        const char *colon = host[0] == '[' ? strchr(host, ']') : strchr(host, ':');
        size_t n = colon ? (size_t)(colon - host) + (host[0] == '[') : strlen(host);
        if (colon && host[0] != '[' && strchr(colon + 1, ':')) {
                *ret_why = "the Host header is malformed";
                return -EPERM;
        }
        if (!local_host(host, n)) {
                *ret_why = "the Host header is not localhost, 127.0.0.1 or [::1] (DNS rebinding is refused)";
                return -EPERM;
        }
        if (origin) {
                *ret_why = "cross-origin browser requests are refused (Origin header)";
                return -EPERM;
        }
        if (sec_fetch_site && strcmp(sec_fetch_site, "same-origin") && strcmp(sec_fetch_site, "none")) {
                *ret_why = "cross-origin browser requests are refused (Sec-Fetch-Site)";
                return -EPERM;
        }
        return 0;
}

static enum MHD_Result send_resp(struct MHD_Connection *c, struct gw_resp *r)
{
        struct MHD_Response *resp =
                r->body ? MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE)
                        : MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
        if (!resp) {
                free(r->body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "application/json");
        enum MHD_Result ok = MHD_queue_response(c, r->status, resp);
        MHD_destroy_response(resp);
        return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
        struct gw_resp r;
        if (gw_resp_error(&r, status, msg) < 0)
                return MHD_NO;
        return send_resp(c, &r);
}

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
        (void)pos;
        size_t n = gw_sse_read(cls, buf, max);
        return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void sse_free(void *cls)
{
        gw_sse_free(cls);
}

static enum MHD_Result send_sse(struct MHD_Connection *c, struct gw_sse *s)
{
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 << 10, sse_reader, s, sse_free);
        if (!resp) {
                gw_sse_free(s);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        enum MHD_Result ok = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        return ok;
}

/* First call for a request: policy, auth, Content-Length. Returns MHD_YES
 * with st->answered when it queued a refusal. */
static enum MHD_Result first_call(struct gw_http *h, struct MHD_Connection *c, const char *url, struct req_state *st)
{
        const char *why;

        if (!h->cfg.any_host &&
            gw_http_check_origin(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"),
                                 MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"),
                                 MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site"), &why) < 0) {
                st->answered = true;
                return send_error(c, 403, why);
        }
        bool health = !strcmp(url, "/health");
        if (h->cfg.keys && !health) {
                struct svc_who who;
                const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
                if (!auth) {
                        st->answered = true;
                        return send_error(c, 401, "Missing Authorization header");
                }
                if (strncasecmp(auth, "Bearer ", 7)) {
                        st->answered = true;
                        return send_error(c, 401, "Invalid authorization format. Use: Bearer <api_key>");
                }
                if (svc_auth_who(h->cfg.keys, auth, &who) < 0 || !who.tenant[0]) {
                        st->answered = true;
                        return send_error(c, 401, "Invalid API key");
                }
                snprintf(st->tenant, sizeof(st->tenant), "%s", who.tenant);
        } else
                snprintf(st->tenant, sizeof(st->tenant), "%s", TOKEN_DEFAULT_TENANT);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
                char *end;
                errno = 0;
                unsigned long long n = strtoull(cl, &end, 10);
                if (errno || end == cl || *end || n > GW_BODY_MAX) {
                        st->answered = true;
                        return send_error(c, 413, "the request body is larger than 16 MiB");
                }
        }
        return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
        struct gw_http *h = cls;
        struct req_state *st = *con_cls;
        (void)version;

        if (!st) {
                st = calloc(1, sizeof(*st));
                if (!st)
                        return MHD_NO;
                *con_cls = st;
                return first_call(h, c, url, st);
        }
        if (st->answered) {
                *upload_size = 0;   /* discard the rest of a refused body */
                return MHD_YES;
        }
        if (*upload_size) {
                size_t n = *upload_size;
                *upload_size = 0;
                if (st->too_big || st->len + n > GW_BODY_MAX) {
                        st->too_big = true;
                        return MHD_YES;
                }
                if (st->len + n + 1 > st->cap) {
                        size_t cap = (st->len + n + 1) * 2;
                        if (cap > GW_BODY_MAX + 1)
                                cap = GW_BODY_MAX + 1;
                        char *b = realloc(st->body, cap);
                        if (!b)
                                return MHD_NO;
                        st->body = b;
                        st->cap = cap;
                }
                memcpy(st->body + st->len, upload, n);
                st->len += n;
                return MHD_YES;
        }
        st->answered = true;
        if (st->too_big)
                return send_error(c, 413, "the request body is larger than 16 MiB");
        struct gw_route rt;
        struct ak_error err = { 0 };
        int r = gw_route_parse(method, url, &rt, &err);
        if (r < 0)
                return send_error(c, r == -ENOENT ? 404 : r == -ENOTSUP ? 405 : 400, err.msg);
        const char *raw = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "label");
        char label[512];
        if (raw && gw_percent_decode(raw, strlen(raw), label, sizeof(label)) < 0)
                return send_error(c, 400, "label: a bad %-escape, or longer than 511 bytes");
        if (rt.id == GW_DETACHED_LOGS) {
                /* agentkernel's ?stream=stderr; anything else is stdout. */
                const char *stream = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "stream");
                rt.detached_stderr = stream && strcmp(stream, "stderr") == 0;
        }
        struct gw_resp resp;
        if (gateway_handle(h->cfg.gateway, &rt, st->tenant, st->body, st->len, raw ? label : NULL, &resp) < 0)
                return MHD_NO;
        if (resp.sse)
                return send_sse(c, resp.sse);
        return send_resp(c, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
        (void)cls, (void)c, (void)toe;
        struct req_state *st = *con_cls;
        if (st) {
                free(st->body);
                free(st);
                *con_cls = NULL;
        }
}

/* The URL as sent: gw_route_parse decodes each segment itself, after
 * splitting, so "%2F" cannot add a segment. Query values are decoded. */
static size_t keep_escapes(void *cls, struct MHD_Connection *c, char *s)
{
        (void)cls, (void)c;
        return strlen(s);
}

int gw_http_start(const struct gw_http_config *cfg, struct gw_http **ret, struct ak_error *err)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(cfg->port) };
        struct gw_http *h = calloc(1, sizeof(*h));

        if (!h)
                return ak_error_errno(err, -ENOMEM, "gateway HTTP server");
        h->cfg = *cfg;
        if (inet_pton(AF_INET, cfg->listen_host ? cfg->listen_host : "127.0.0.1", &sa.sin_addr) != 1) {
                free(h);
                return ak_error_set(err, -EINVAL, "listen address '%s' is not an IPv4 address", cfg->listen_host);
        }
        h->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                                        MHD_USE_ERROR_LOG,
                                0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, &sa,
                                MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections ? cfg->max_connections : 1024,
                                MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s ? cfg->idle_timeout_s : 30,
                                MHD_OPTION_THREAD_STACK_SIZE, (size_t)1 << 20,
                                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 << 10,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                MHD_OPTION_UNESCAPE_CALLBACK, keep_escapes, NULL, MHD_OPTION_END);
        if (!h->d) {
                free(h);
                return ak_error_set(err, -EADDRINUSE, "cannot listen on %s:%u (in use, or not an address of this host)",
                                    cfg->listen_host ? cfg->listen_host : "127.0.0.1", cfg->port);
        }
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
        h->port = info ? info->port : cfg->port;
        *ret = h;
        return 0;
}

uint16_t gw_http_port(const struct gw_http *h)
{
        return h->port;
}

void gw_http_stop(struct gw_http *h)
{
        if (!h)
                return;
        MHD_stop_daemon(h->d);
        free(h);
}
