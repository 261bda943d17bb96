/* libmicrohttpd glue: request state, limits, auth, and the hand-off to
 * gateway_handle.
 *
 * One epoll thread serves every connection, so an idle connection costs an
 * fd and a little memory, never a thread. A request whose body is in runs
 * on a worker thread of its own (gateway_handle blocks on the scheduler)
 * while its connection is suspended; the worker fills the response and
 * resumes it. An SSE stream has a pump thread that reads the scheduler's
 * stream into a bounded buffer; the connection is suspended whenever that
 * buffer is empty and resumed when the pump adds to it. Workers and pumps
 * together are at most max_active. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/base/hostport.h"
#include "lib/base/trace.h"
#include "lib/metrics/metrics.h"
#include "lib/svc/auth.h"
#include "lib/svc/log.h"
#include "lib/svc/tokens.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http.h"

/* An SSE pump holds at most this much that the client has not taken yet. */
#define GW_SSE_BUFFER ((size_t)256 << 10)
#define GW_WORKER_STACK ((size_t)1 << 20)

struct gw_http {
        struct gw_http_config cfg;
        struct MHD_Daemon *d;
        uint16_t port;
        pthread_mutex_t lock;
        pthread_cond_t idle;     /* signalled when active drops */
        unsigned active;         /* workers + pumps running */
        bool stopping;
        struct sse_pump *pumps;  /* running pumps, to cancel at stop */
};

struct req_state {
        struct gw_http *h;
        struct MHD_Connection *c;
        char tenant[TOKEN_NAME_MAX + 1];
        char *body;
        size_t len, cap;
        bool too_big;
        bool answered;   /* a response is queued already */
        bool working;    /* a worker runs gateway_handle; the connection is suspended */
        bool done;       /* the worker filled resp */
        struct gw_route rt;
        bool has_label;
        char label[512];
        struct gw_resp resp;
        char request_id[AK_REQUEST_ID_MAX + 1];    /* the client's X-Request-Id, or ours */
        char traceparent[AK_TRACEPARENT_LEN + 1];  /* the client's, when valid */
};

/* An SSE stream between its pump thread and MHD's reader callback. Owned
 * by both (refs); the last to let go frees it. */
struct sse_pump {
        struct gw_http *h;
        struct MHD_Connection *c;
        struct gw_sse *s;        /* read only by the pump thread */
        pthread_mutex_t lock;
        pthread_cond_t room;     /* signalled when the reader took bytes */
        char *buf;
        size_t len, off;
        bool eof;                /* the stream ended: after buf, the end */
        bool suspended;          /* the reader suspended c waiting for bytes */
        bool abandoned;          /* MHD let go of the response */
        int refs;
        struct sse_pump *next;   /* in h->pumps */
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

/* ak_gateway_http_responses_total{code}: every answer, refusals included. */
static struct metric_family *responses;
static pthread_once_t responses_once = PTHREAD_ONCE_INIT;

static void responses_init(void)
{
        static const char *const labels[] = { "code" };
        static const struct metric_def def = { "ak_gateway_http_responses_total",
                                               "HTTP responses the gateway sent, by status code.",
                                               METRIC_COUNTER, labels, 1, NULL, 0, 64 };
        metrics_register(metrics_default(), &def, &responses, NULL);
}

static void count_response(unsigned status)
{
        char code[16];

        pthread_once(&responses_once, responses_init);
        snprintf(code, sizeof(code), "%u", status);
        const char *v[] = { code };
        metrics_add(metrics_series(responses, v), 1);
}

/* Every response says which request it answers (X-Request-Id). */
static enum MHD_Result send_resp(struct MHD_Connection *c, struct gw_resp *r, const struct req_state *st)
{
        count_response(r->status);
        struct MHD_Response *resp =
                r->body ? MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE)
                        : MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
        if (!resp) {
                free(r->body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "application/json");
        if (st->request_id[0])
                MHD_add_response_header(resp, "X-Request-Id", st->request_id);
        enum MHD_Result ok = MHD_queue_response(c, r->status, resp);
        MHD_destroy_response(resp);
        return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg,
                                  const struct req_state *st)
{
        struct gw_resp r;
        if (gw_resp_error(&r, status, msg) < 0)
                return MHD_NO;
        return send_resp(c, &r, st);
}

static void active_done(struct gw_http *h)
{
        pthread_mutex_lock(&h->lock);
        h->active--;
        pthread_cond_broadcast(&h->idle);
        pthread_mutex_unlock(&h->lock);
}

/* Takes one active slot; false when max_active are running or the server
 * is stopping. */
static bool active_take(struct gw_http *h)
{
        pthread_mutex_lock(&h->lock);
        bool ok = !h->stopping && h->active < h->cfg.max_active;
        if (ok)
                h->active++;
        pthread_mutex_unlock(&h->lock);
        return ok;
}

static bool start_thread(void *(*fn)(void *), void *arg)
{
        pthread_attr_t a;
        pthread_t t;

        if (pthread_attr_init(&a))
                return false;
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&a, GW_WORKER_STACK);
        int r = pthread_create(&t, &a, fn, arg);
        pthread_attr_destroy(&a);
        return r == 0;
}

/* Drops one reference (p->lock held; released here). */
static void pump_unref(struct sse_pump *p)
{
        bool last = --p->refs == 0;
        pthread_mutex_unlock(&p->lock);
        if (!last)
                return;
        pthread_cond_destroy(&p->room);
        pthread_mutex_destroy(&p->lock);
        gw_sse_free(p->s);
        free(p->buf);
        free(p);
}

static void pump_unlink(struct sse_pump *p)
{
        struct gw_http *h = p->h;
        pthread_mutex_lock(&h->lock);
        for (struct sse_pump **q = &h->pumps; *q; q = &(*q)->next)
                if (*q == p) {
                        *q = p->next;
                        break;
                }
        pthread_mutex_unlock(&h->lock);
}

/* Appends n bytes (p->lock held); on no memory the stream ends early. */
static void pump_append(struct sse_pump *p, const char *d, size_t n)
{
        if (p->off) {
                memmove(p->buf, p->buf + p->off, p->len - p->off);
                p->len -= p->off;
                p->off = 0;
        }
        char *b = realloc(p->buf, p->len + n);
        if (!b) {
                p->eof = true;
                return;
        }
        p->buf = b;
        memcpy(p->buf + p->len, d, n);
        p->len += n;
}

static void *pump_main(void *arg)
{
        struct sse_pump *p = arg;
        struct gw_http *h = p->h;
        char chunk[16 << 10];

        for (;;) {
                size_t n = gw_sse_read(p->s, chunk, sizeof(chunk));   /* blocks on the scheduler */
                pthread_mutex_lock(&p->lock);
                if (n)
                        pump_append(p, chunk, n);
                else
                        p->eof = true;
                if (p->suspended && !p->abandoned) {
                        p->suspended = false;
                        MHD_resume_connection(p->c);
                }
                while (!p->eof && !p->abandoned && p->len - p->off > GW_SSE_BUFFER)
                        pthread_cond_wait(&p->room, &p->lock);
                bool end = p->eof || p->abandoned;
                pthread_mutex_unlock(&p->lock);
                if (end)
                        break;
        }
        pump_unlink(p);
        pthread_mutex_lock(&p->lock);
        pump_unref(p);
        active_done(h);
        return NULL;
}

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct sse_pump *p = cls;
        ssize_t r;
        (void)pos;

        pthread_mutex_lock(&p->lock);
        if (p->off < p->len) {
                size_t n = p->len - p->off < max ? p->len - p->off : max;
                memcpy(buf, p->buf + p->off, n);
                p->off += n;
                pthread_cond_signal(&p->room);
                r = (ssize_t)n;
        } else if (p->eof) {
                r = MHD_CONTENT_READER_END_OF_STREAM;
        } else {
                /* Nothing yet: sleep until the pump resumes us. */
                p->suspended = true;
                MHD_suspend_connection(p->c);
                r = 0;
        }
        pthread_mutex_unlock(&p->lock);
        return r;
}

static void sse_free(void *cls)
{
        struct sse_pump *p = cls;
        pthread_mutex_lock(&p->lock);
        p->abandoned = true;
        gw_sse_cancel(p->s);   /* the pump stops waiting on the scheduler */
        pthread_cond_signal(&p->room);
        pump_unref(p);
}

/* Queues an SSE response fed by a new pump thread; s is consumed. The
 * caller holds an active slot for the pump, released here on failure. */
static enum MHD_Result send_sse(struct gw_http *h, struct MHD_Connection *c, struct gw_sse *s,
                                const struct req_state *st)
{
        count_response(200);
        struct sse_pump *p = calloc(1, sizeof(*p));
        if (!p) {
                gw_sse_free(s);
                active_done(h);
                return send_error(c, 500, "out of memory", st);
        }
        p->h = h;
        p->c = c;
        p->s = s;
        p->refs = 2;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->room, NULL);
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 << 10, sse_reader, p, sse_free);
        if (!resp) {
                p->refs = 1;
                pthread_mutex_lock(&p->lock);
                pump_unref(p);
                active_done(h);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        if (st->request_id[0])
                MHD_add_response_header(resp, "X-Request-Id", st->request_id);
        pthread_mutex_lock(&h->lock);
        p->next = h->pumps;
        h->pumps = p;
        pthread_mutex_unlock(&h->lock);
        if (!start_thread(pump_main, p)) {
                pump_unlink(p);
                pthread_mutex_lock(&p->lock);
                p->eof = true;
                p->refs--;   /* the pump's, never started; MHD's goes with resp */
                pthread_mutex_unlock(&p->lock);
                active_done(h);
        }
        enum MHD_Result ok = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        return ok;
}

/* First call for a request: policy, auth, Content-Length. Returns MHD_YES
 * with st->answered when it queued a refusal. */
static enum MHD_Result first_call(struct gw_http *h, struct MHD_Connection *c, const char *url, struct req_state *st)
{
        const char *why;

        gw_trace_from_headers(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id"),
                              MHD_lookup_connection_value(c, MHD_HEADER_KIND, "traceparent"), st->request_id,
                              st->traceparent);
        if (!h->cfg.any_host &&
            gw_http_check_origin(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"),
                                 MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"),
                                 MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site"), &why) < 0) {
                st->answered = true;
                return send_error(c, 403, why, st);
        }
        bool health = !strcmp(url, "/health");
        if (h->cfg.keys && !health) {
                struct svc_who who;
                const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
                if (!auth) {
                        st->answered = true;
                        return send_error(c, 401, "Missing Authorization header", st);
                }
                if (strncasecmp(auth, "Bearer ", 7)) {
                        st->answered = true;
                        return send_error(c, 401, "Invalid authorization format. Use: Bearer <api_key>", st);
                }
                if (svc_auth_who(h->cfg.keys, auth, &who) < 0 || !who.tenant[0]) {
                        st->answered = true;
                        return send_error(c, 401, "Invalid API key", st);
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
                        return send_error(c, 413, "the request body is larger than 16 MiB", st);
                }
        }
        return MHD_YES;
}

static void *worker_main(void *arg)
{
        struct req_state *st = arg;
        struct gw_http *h = st->h;
        struct MHD_Connection *c = st->c;

        /* The scheduler calls this request makes carry its id (lib/base/trace.h). */
        ak_trace_set(st->request_id, st->traceparent);
        if (gateway_handle(h->cfg.gateway, &st->rt, st->tenant, st->body, st->len, st->has_label ? st->label : NULL,
                           &st->resp) < 0)
                gw_resp_error(&st->resp, 500, "out of memory");
        ak_trace_clear();
        st->done = true;
        /* st belongs to the connection again from here on: not touched. */
        MHD_resume_connection(c);
        active_done(h);
        return NULL;
}

/* The response the worker left; an SSE stream keeps the worker's slot for
 * its pump. */
static enum MHD_Result send_done(struct gw_http *h, struct MHD_Connection *c, struct req_state *st)
{
        struct gw_resp r = st->resp;
        memset(&st->resp, 0, sizeof(st->resp));
        if (!r.sse)
                return send_resp(c, &r, st);
        if (!active_take(h)) {
                gw_sse_free(r.sse);
                return send_error(c, 503, "the gateway is stopping or has too many requests in progress; retry",
                                  st);
        }
        return send_sse(h, c, r.sse, st);
}

/* The body is in: routes the request and hands it to a worker. */
static enum MHD_Result dispatch(struct gw_http *h, struct MHD_Connection *c, const char *method, const char *url,
                                struct req_state *st)
{
        struct ak_error err = { 0 };

        if (st->too_big)
                return send_error(c, 413, "the request body is larger than 16 MiB", st);
        int r = gw_route_parse(method, url, &st->rt, &err);
        if (r < 0)
                return send_error(c, r == -ENOENT ? 404 : r == -ENOTSUP ? 405 : 400, err.msg, st);
        const char *raw = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "label");
        if (raw && gw_percent_decode(raw, strlen(raw), st->label, sizeof(st->label)) < 0)
                return send_error(c, 400, "label: a bad %-escape, or longer than 511 bytes", st);
        st->has_label = raw != NULL;
        if (st->rt.id == GW_DETACHED_LOGS) {
                /* agentkernel's ?stream=stderr; anything else is stdout. */
                const char *stream = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "stream");
                st->rt.detached_stderr = stream && strcmp(stream, "stderr") == 0;
        }
        if (st->rt.id == GW_HEALTH) {
                /* Calls no one: answered here, no worker. */
                struct gw_resp resp;
                if (gateway_handle(h->cfg.gateway, &st->rt, st->tenant, NULL, 0, NULL, &resp) < 0)
                        return MHD_NO;
                return send_resp(c, &resp, st);
        }
        if (!active_take(h))
                return send_error(c, 503, "the gateway is stopping or has too many requests in progress; retry",
                                  st);
        st->h = h;
        st->c = c;
        st->working = true;
        MHD_suspend_connection(c);
        if (!start_thread(worker_main, st)) {
                active_done(h);
                gw_resp_error(&st->resp, 503, "the gateway cannot start a thread for the request; retry");
                st->done = true;
                MHD_resume_connection(c);
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
        if (st->done) {
                st->done = false;
                return send_done(h, c, st);
        }
        if (st->answered || st->working) {
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
        return dispatch(h, c, method, url, st);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
        (void)cls, (void)c, (void)toe;
        struct req_state *st = *con_cls;
        if (st) {
                free(st->resp.body);
                gw_sse_free(st->resp.sse);
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

/* libmicrohttpd's error messages (accept failures, bad TLS handshakes) as
 * warnings of the service's log, not free text on stderr. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
        char line[512];
        (void)cls;
        vsnprintf(line, sizeof(line), fmt, ap);
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = '\0';
        SVC_LOG(SVC_LOG_WARN, "http server", SVC_LOG_S("error", line));
}

int gw_http_start(const struct gw_http_config *cfg, struct gw_http **ret, struct ak_error *err)
{
        const char *listen = cfg->listen ? cfg->listen : "127.0.0.1:0";
        unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
        struct sockaddr_storage sa;
        int any, r;

        if ((r = ak_listen_addr_parse(listen, &sa, &any, err)) < 0)
                return r;
        /* [::]: IPv4 too (IPV6_V6ONLY off), whatever the sysctl says. */
        if (sa.ss_family == AF_INET6)
                flags |= any ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
        if (!cfg->tls_cert_pem != !cfg->tls_key_pem)
                return ak_error_set(err, -EINVAL, "TLS needs both a certificate and its key");
        if (cfg->tls_cert_pem) {
                if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
                        return ak_error_set(err, -ENOTSUP, "this libmicrohttpd was built without TLS (GnuTLS); "
                                                           "install Debian's libmicrohttpd12 or serve plain HTTP");
                flags |= MHD_USE_TLS;
        }
        struct gw_http *h = calloc(1, sizeof(*h));
        if (!h)
                return ak_error_errno(err, -ENOMEM, "gateway HTTP server");
        h->cfg = *cfg;
        h->cfg.tls_cert_pem = h->cfg.tls_key_pem = NULL;   /* not kept: MHD copied them */
        if (!h->cfg.max_connections)
                h->cfg.max_connections = 16384;
        if (!h->cfg.max_active)
                h->cfg.max_active = 1024;
        pthread_mutex_init(&h->lock, NULL);
        pthread_cond_init(&h->idle, NULL);
        struct MHD_OptionItem tls[] = {
                { MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cfg->tls_cert_pem },
                { MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)cfg->tls_key_pem },
                { MHD_OPTION_END, 0, NULL },
        };
        /* The logger first: libmicrohttpd warns when it comes later. */
        h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                MHD_OPTION_SOCK_ADDR, &sa,
                                MHD_OPTION_CONNECTION_LIMIT, h->cfg.max_connections,
                                MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s ? cfg->idle_timeout_s : 30,
                                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 << 10,
                                MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                MHD_OPTION_UNESCAPE_CALLBACK, keep_escapes, NULL,
                                MHD_OPTION_ARRAY, cfg->tls_cert_pem ? tls : tls + 2, MHD_OPTION_END);
        if (!h->d) {
                pthread_cond_destroy(&h->idle);
                pthread_mutex_destroy(&h->lock);
                free(h);
                if (cfg->tls_cert_pem)
                        return ak_error_set(err, -EINVAL, "cannot serve TLS on %s: the certificate or key is not "
                                                          "valid PEM, they do not match, or the address is in use",
                                            listen);
                return ak_error_set(err, -EADDRINUSE, "cannot listen on %s (in use, or not an address of this host)",
                                    listen);
        }
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
        h->port = info ? info->port : 0;
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
        /* No new requests; running ones end (streams are cancelled), and only
         * then may MHD free the connections their threads resume. */
        pthread_mutex_lock(&h->lock);
        h->stopping = true;
        for (struct sse_pump *p = h->pumps; p; p = p->next)
                gw_sse_cancel(p->s);
        while (h->active)
                pthread_cond_wait(&h->idle, &h->lock);
        pthread_mutex_unlock(&h->lock);
        MHD_stop_daemon(h->d);
        pthread_cond_destroy(&h->idle);
        pthread_mutex_destroy(&h->lock);
        free(h);
}
