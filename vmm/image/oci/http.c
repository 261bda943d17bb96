#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/version.h"
#include "vmm/image/oci/http.h"

struct oci_http {
        CURL *curl;
        char ca_file[4096];
        int low_speed_s;
        char errbuf[CURL_ERROR_SIZE];
};

struct xfer {
        const struct oci_http_req *req;
        FILE *upload;        /* PUT from a file */
        size_t upload_done;  /* PUT from memory */
        struct oci_http_resp *resp;
        CURL *curl;
        int sink_error;
        size_t max_body;
        uint64_t upload_size;
};

static CURLcode global_result = CURLE_FAILED_INIT;

static void global_init(void)
{
        global_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int oci_http_new(const char *ca_file, int low_speed_s, struct oci_http **ret, struct ak_error *err)
{
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, global_init);
        if (global_result != CURLE_OK)
                return ak_error_set(err, -ENOMEM, "libcurl: global init failed: %s", curl_easy_strerror(global_result));
        struct oci_http *h = calloc(1, sizeof(*h));
        if (!h)
                return ak_error_set(err, -ENOMEM, "out of memory");
        if (ca_file && strlen(ca_file) >= sizeof(h->ca_file)) {
                free(h);
                return ak_error_set(err, -ENAMETOOLONG, "CA file path too long");
        }
        if (ca_file)
                strcpy(h->ca_file, ca_file);
        h->low_speed_s = low_speed_s > 0 ? low_speed_s : 60;
        h->curl = curl_easy_init();
        if (!h->curl) {
                free(h);
                return ak_error_set(err, -ENOMEM, "libcurl: cannot make a handle");
        }
        *ret = h;
        return 0;
}

void oci_http_free(struct oci_http *h)
{
        if (!h)
                return;
        curl_easy_cleanup(h->curl);
        free(h);
}

void oci_http_resp_clear(struct oci_http_resp *resp)
{
        free(resp->body);
        memset(resp, 0, sizeof(*resp));
}

static void set_header(char *dst, size_t size, const char *v, size_t n, bool *too_long)
{
        if (n >= size) {
                if (too_long)
                        *too_long = true;
                n = size - 1;
        }
        memcpy(dst, v, n);
        dst[n] = '\0';
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
        struct xfer *x = ud;
        size_t n = size * nmemb;
        if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
                /* A new response (after 100 Continue): forget earlier headers. */
                char *body = x->resp->body;
                memset(x->resp, 0, sizeof(*x->resp));
                x->resp->body = body;
                x->resp->content_length = -1;
                return n;
        }
        const char *colon = memchr(data, ':', n);
        if (!colon)
                return n;
        size_t nlen = (size_t)(colon - data);
        const char *v = colon + 1;
        size_t vlen = n - nlen - 1;
        while (vlen && (*v == ' ' || *v == '\t'))
                v++, vlen--;
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
                vlen--;
        struct oci_http_resp *r = x->resp;
#define IS(name) (nlen == sizeof(name) - 1 && strncasecmp(data, name, nlen) == 0)
        if (IS("Content-Type"))
                set_header(r->content_type, sizeof(r->content_type), v, vlen, NULL);
        else if (IS("WWW-Authenticate") && !r->www_authenticate[0])
                set_header(r->www_authenticate, sizeof(r->www_authenticate), v, vlen, &r->www_authenticate_too_long);
        else if (IS("Docker-Content-Digest"))
                set_header(r->docker_content_digest, sizeof(r->docker_content_digest), v, vlen, NULL);
        else if (IS("Location"))
                set_header(r->location_raw, sizeof(r->location_raw), v, vlen, &r->location_too_long);
        else if (IS("Content-Range"))
                set_header(r->content_range, sizeof(r->content_range), v, vlen, NULL);
        else if (IS("Content-Length")) {
                char buf[32];
                set_header(buf, sizeof(buf), v, vlen, NULL);
                char *end;
                errno = 0;
                long long cl = strtoll(buf, &end, 10);
                r->content_length = (errno || *end || end == buf || cl < 0) ? -1 : cl;
        }
#undef IS
        return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
        struct xfer *x = ud;
        size_t n = size * nmemb;
        long status = 0;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
        x->resp->status = status;
        if (x->req->sink && status >= 200 && status < 300) {
                int r = x->req->sink(x->req->sink_userdata, x->resp, data, n);
                if (r < 0) {
                        x->sink_error = r;
                        return 0;
                }
                return n;
        }
        size_t max = x->req->sink ? OCI_HTTP_SMALL_BODY_MAX : x->max_body;
        if (x->resp->body_len + n > max) {
                /* Error bodies are for messages: keep the start, drop the rest. */
                if (x->req->sink || status < 200 || status >= 300)
                        return n;
                x->sink_error = -EFBIG;
                return 0;
        }
        char *b = realloc(x->resp->body, x->resp->body_len + n + 1);
        if (!b) {
                x->sink_error = -ENOMEM;
                return 0;
        }
        memcpy(b + x->resp->body_len, data, n);
        x->resp->body_len += n;
        b[x->resp->body_len] = '\0';
        x->resp->body = b;
        return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
        struct xfer *x = ud;
        size_t n = size * nmemb;
        if (x->upload) {
                size_t got = fread(buf, 1, n, x->upload);
                return got == 0 && ferror(x->upload) ? CURL_READFUNC_ABORT : got;
        }
        size_t left = x->req->upload_len - x->upload_done;
        if (n > left)
                n = left;
        memcpy(buf, (const char *)x->req->upload_data + x->upload_done, n);
        x->upload_done += n;
        return n;
}

static bool retryable_code(CURLcode c)
{
        switch (c) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                return true;
        default:
                return false;
        }
}

static void setup(struct oci_http *h, const struct oci_http_req *req, struct xfer *x, struct curl_slist **headers)
{
        CURL *c = h->curl;
        char line[OCI_TOKEN_MAX + 64];
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, req->url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)h->low_speed_s);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "ak/" AK_VERSION);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
        if (h->ca_file[0])
                curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
        if (strcmp(req->method, "HEAD") == 0)
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        else if (strcmp(req->method, "POST") == 0)
                curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, req->form ? req->form : "");
        else if (strcmp(req->method, "PUT") == 0) {
                curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
                curl_easy_setopt(c, CURLOPT_READDATA, x);
                curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->upload_size);
                /* Registries answer at once; no 1 s wait for 100 Continue. */
                *headers = curl_slist_append(*headers, "Expect:");
        }
        if (req->content_type) {
                snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
                *headers = curl_slist_append(*headers, line);
        }
        if (req->range_start > 0) {
                char range[48];
                snprintf(range, sizeof(range), "%llu-", (unsigned long long)req->range_start);
                curl_easy_setopt(c, CURLOPT_RANGE, range);
        }
        if (req->accept) {
                snprintf(line, sizeof(line), "Accept: %s", req->accept);
                *headers = curl_slist_append(*headers, line);
        }
        if (req->authorization) {
                snprintf(line, sizeof(line), "Authorization: %s", req->authorization);
                *headers = curl_slist_append(*headers, line);
                memset(line, 0, sizeof(line));
        }
        if (*headers)
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, *headers);
}

int oci_http_do(struct oci_http *h, const struct oci_http_req *req, struct oci_http_resp *resp,
                bool *ret_retryable, bool *ret_tls_handshake, struct ak_error *err)
{
        struct xfer x = { .req = req, .resp = resp, .curl = h->curl };
        struct curl_slist *headers = NULL;
        memset(resp, 0, sizeof(*resp));
        resp->content_length = -1;
        x.max_body = req->max_body ? req->max_body : OCI_HTTP_SMALL_BODY_MAX;
        *ret_retryable = false;
        if (ret_tls_handshake)
                *ret_tls_handshake = false;
        h->errbuf[0] = '\0';
        x.upload_size = req->upload_len;
        if (req->upload_path) {
                int fd = open(req->upload_path, O_RDONLY | O_CLOEXEC);
                struct stat st;
                if (fd < 0 || fstat(fd, &st) < 0 || !(x.upload = fdopen(fd, "rb"))) {
                        int e = -errno;
                        if (fd >= 0)
                                close(fd);
                        return ak_error_errno(err, e, "%s %s: open %s", req->method, req->url, req->upload_path);
                }
                x.upload_size = (uint64_t)st.st_size;
        }
        setup(h, req, &x, &headers);
        CURLcode c = curl_easy_perform(h->curl);
        curl_slist_free_all(headers);
        if (x.upload)
                fclose(x.upload);
        long status = 0;
        curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
        resp->status = status;
        char *loc = NULL;
        if (curl_easy_getinfo(h->curl, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
                snprintf(resp->location, sizeof(resp->location), "%s", loc);
        if (x.sink_error) {
                oci_http_resp_clear(resp);
                if (x.sink_error == -EFBIG && !req->sink)
                        return ak_error_set(err, -EFBIG, "%s %s: answer larger than %zu bytes", req->method, req->url,
                                            x.max_body);
                return x.sink_error;
        }
        if (c != CURLE_OK) {
                oci_http_resp_clear(resp);
                *ret_retryable = retryable_code(c);
                if (ret_tls_handshake)
                        *ret_tls_handshake = c == CURLE_SSL_CONNECT_ERROR;
                int code = c == CURLE_COULDNT_CONNECT ? -ECONNREFUSED
                           : c == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
                           : c == CURLE_PEER_FAILED_VERIFICATION || c == CURLE_SSL_CACERT_BADFILE ? -EPERM
                                                                                                 : -EIO;
                return ak_error_set(err, code, "%s %s: %s", req->method, req->url,
                                    h->errbuf[0] ? h->errbuf : curl_easy_strerror(c));
        }
        return 0;
}

int oci_http_escape(struct oci_http *h, const char *s, char **ret)
{
        char *e = curl_easy_escape(h->curl, s, 0);
        if (!e)
                return -ENOMEM;
        *ret = strdup(e);
        curl_free(e);
        return *ret ? 0 : -ENOMEM;
}

int oci_http_url_origin(const char *url, char *ret_scheme, size_t scheme_size, char *ret_hostport,
                        size_t hostport_size)
{
        CURLU *u = curl_url();
        char *scheme = NULL, *host = NULL, *port = NULL;
        int r = -EINVAL;
        if (!u)
                return -ENOMEM;
        if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
            (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0)) {
                curl_url_get(u, CURLUPART_PORT, &port, 0); /* NULL when default */
                if ((size_t)snprintf(ret_scheme, scheme_size, "%s", scheme) < scheme_size &&
                    (size_t)snprintf(ret_hostport, hostport_size, "%s%s%s", host, port ? ":" : "", port ? port : "") <
                            hostport_size)
                        r = 0;
        }
        curl_free(scheme);
        curl_free(host);
        curl_free(port);
        curl_url_cleanup(u);
        return r;
}
