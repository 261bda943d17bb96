/* The http_webhook destination, with libcurl: POST a JSON array, as
 * agentkernel's send_http_webhook (Content-Type, Authorization, custom
 * headers), with connect and total timeouts. Retrying is delivery.c's job;
 * this file only says which kind of failure it was. One easy handle per
 * destination keeps the connection alive between batches. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "lib/base/version.h"
#include "services/auditor/dest.h"

#define MAX_RETRY_AFTER_MS (3600ull * 1000)

struct webhook {
        CURL *curl;
        struct curl_slist *headers;
        char *url;
        uint32_t connect_timeout_ms;
        uint32_t request_timeout_ms;
        /* per request */
        char *body;
        size_t body_cap;
        char *response;
        size_t response_len;
        uint64_t retry_after_ms;
        const int *stop;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void webhook_close(void *state)
{
        struct webhook *h = state;

        if (!h)
                return;
        if (h->curl)
                curl_easy_cleanup(h->curl);
        curl_slist_free_all(h->headers);
        free(h->url);
        free(h->body);
        free(h->response);
        free(h);
}

static int add_header(struct webhook *h, const char *name, const char *value)
{
        char *line;
        struct curl_slist *l;

        if (asprintf(&line, "%s: %s", name, value) < 0)
                return -ENOMEM;
        l = curl_slist_append(h->headers, line);
        free(line);
        if (!l)
                return -ENOMEM;
        h->headers = l;
        return 0;
}

static int webhook_open(const struct audit_dest_config *dc, const struct audit_config *c, void **ret_state,
                        struct ak_error *err)
{
        struct webhook *h;
        int r = 0;

        pthread_once(&curl_once, curl_init);
        if (curl_init_result != CURLE_OK)
                return ak_error_set(err, -EIO, "webhook %s: curl_global_init: %s", dc->url,
                                    curl_easy_strerror(curl_init_result));
        h = calloc(1, sizeof(*h));
        if (!h)
                return ak_error_errno(err, -ENOMEM, "webhook %s", dc->url);
        h->url = strdup(dc->url);
        h->curl = curl_easy_init();
        h->connect_timeout_ms = c->connect_timeout_ms;
        h->request_timeout_ms = c->request_timeout_ms;
        if (!h->url || !h->curl)
                r = -ENOMEM;
        if (r == 0)
                r = add_header(h, "Content-Type", "application/json");
        if (r == 0 && dc->authorization)
                r = add_header(h, "Authorization", dc->authorization);
        for (size_t i = 0; r == 0 && i < dc->n_headers; i++)
                r = add_header(h, dc->headers[i].name, dc->headers[i].value);
        /* No "Expect: 100-continue" round trip for large batches. */
        if (r == 0) {
                struct curl_slist *l = curl_slist_append(h->headers, "Expect:");
                if (l)
                        h->headers = l;
                else
                        r = -ENOMEM;
        }
        if (r < 0) {
                webhook_close(h);
                return ak_error_errno(err, r, "webhook %s", dc->url);
        }
        *ret_state = h;
        return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct webhook *h = userdata;
        size_t n = size * nmemb, keep = n;

        if (h->response_len + keep > DEST_MAX_RESPONSE)
                keep = DEST_MAX_RESPONSE - h->response_len;
        if (keep) {
                char *p = realloc(h->response, h->response_len + keep + 1);
                if (!p)
                        return 0;
                memcpy(p + h->response_len, data, keep);
                h->response = p;
                h->response_len += keep;
                p[h->response_len] = '\0';
        }
        return n; /* the rest of a huge body is read and dropped */
}

/* Retry-After: delay-seconds or an HTTP-date (RFC 9110 10.2.3). */
static uint64_t parse_retry_after(const char *v)
{
        char *end;
        struct tm tm = { 0 };

        while (*v == ' ' || *v == '\t')
                v++;
        if (*v >= '0' && *v <= '9') {
                unsigned long long s = strtoull(v, &end, 10);
                if (s > MAX_RETRY_AFTER_MS / 1000)
                        return MAX_RETRY_AFTER_MS;
                return s ? s * 1000 : 1;
        }
        end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (!end)
                return 0;
        time_t at = timegm(&tm), now = time(NULL);
        if (at <= now)
                return 1;
        if ((uint64_t)(at - now) > MAX_RETRY_AFTER_MS / 1000)
                return MAX_RETRY_AFTER_MS;
        return (uint64_t)(at - now) * 1000;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct webhook *h = userdata;
        size_t n = size * nmemb;
        char line[256];

        if (n > 12 && n < sizeof(line) && strncasecmp(data, "retry-after:", 12) == 0) {
                memcpy(line, data + 12, n - 12);
                line[n - 12] = '\0';
                line[strcspn(line, "\r\n")] = '\0';
                h->retry_after_ms = parse_retry_after(line);
        }
        return n;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
        struct webhook *h = userdata;

        return __atomic_load_n(h->stop, __ATOMIC_RELAXED) ? 1 : 0;
}

/* "[e1,e2,...]" into h->body. */
static int build_body(struct webhook *h, const struct iovec *events, size_t n, size_t *ret_len)
{
        size_t len = 2 + (n ? n - 1 : 0), off = 0;

        for (size_t i = 0; i < n; i++)
                len += events[i].iov_len;
        if (len + 1 > h->body_cap) {
                char *b = realloc(h->body, len + 1);
                if (!b)
                        return -ENOMEM;
                h->body = b;
                h->body_cap = len + 1;
        }
        h->body[off++] = '[';
        for (size_t i = 0; i < n; i++) {
                if (i)
                        h->body[off++] = ',';
                memcpy(h->body + off, events[i].iov_base, events[i].iov_len);
                off += events[i].iov_len;
        }
        h->body[off++] = ']';
        h->body[off] = '\0';
        *ret_len = off;
        return 0;
}

static void webhook_deliver(void *state, const struct iovec *events, size_t n, const int *stop,
                            struct dest_outcome *out)
{
        struct webhook *h = state;
        CURL *c = h->curl;
        size_t len;
        long status = 0;
        CURLcode cr;

        if (build_body(h, events, n, &len) < 0) {
                out->result = DEST_RETRY;
                snprintf(out->message, sizeof(out->message), "POST %s: out of memory", h->url);
                return;
        }
        free(h->response);
        h->response = NULL;
        h->response_len = 0;
        h->retry_after_ms = 0;
        h->stop = stop;

        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, h->url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, h->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "ak-auditor/" AK_VERSION);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)h->connect_timeout_ms);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)h->request_timeout_ms);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);

        cr = curl_easy_perform(c);
        if (cr != CURLE_OK) {
                out->result = DEST_RETRY;
                snprintf(out->message, sizeof(out->message), "POST %s: %s", h->url,
                         cr == CURLE_ABORTED_BY_CALLBACK ? "stopped for shutdown" : curl_easy_strerror(cr));
                return;
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        out->http_status = status;
        if (status >= 200 && status < 300) {
                out->result = DEST_OK;
                return;
        }
        out->response = h->response;
        out->response_len = h->response_len;
        h->response = NULL;
        h->response_len = 0;
        if (status >= 500 || status == 429 || status == 408 || status < 200 || (status >= 300 && status < 400)) {
                out->result = DEST_RETRY;
                out->retry_after_ms = h->retry_after_ms;
        } else {
                out->result = DEST_REJECTED;
        }
        snprintf(out->message, sizeof(out->message), "POST %s: HTTP %ld%s%.200s", h->url, status,
                 out->response_len ? ": " : "", out->response ? out->response : "");
}

const struct dest_ops dest_webhook_ops = {
        .type = "http_webhook",
        .local = false,
        .open = webhook_open,
        .deliver = webhook_deliver,
        .close = webhook_close,
};
