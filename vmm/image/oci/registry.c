#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/crypto/crypto.h"
#include "lib/encoding/hex.h"
#include "lib/json/json.h"
#include "vmm/image/oci/registry_impl.h"

#define MAX_REDIRECTS 5

bool oci_registry_insecure_allowed(const char *host, const char *const *list, size_t n)
{
        if (oci_host_is_loopback(host))
                return true;
        for (size_t i = 0; i < n; i++) {
                if (strcmp(list[i], host) == 0)
                        return true;
                /* "HOST" (no port) matches HOST:any. */
                size_t l = strlen(list[i]);
                if (!strchr(list[i], ':') && strncmp(host, list[i], l) == 0 && host[l] == ':')
                        return true;
        }
        return false;
}

bool registry_status_retryable(long status)
{
        return status == 429 || (status >= 500 && status <= 599);
}

void registry_backoff(const struct oci_registry *r, int attempt)
{
        long ms = r->o.backoff_ms > 0 ? r->o.backoff_ms : 500;
        for (int i = 2; i < attempt && ms < 30000; i++)
                ms *= 2;
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

void registry_error_text(const struct oci_http_resp *resp, char *buf, size_t size)
{
        struct json_value *v = NULL;
        buf[0] = '\0';
        if (!resp->body || !resp->body_len)
                return;
        if (json_parse(resp->body, resp->body_len, &v, NULL) == 0 && json_value_type(v) == JSON_OBJECT) {
                const struct json_value *errs = json_object_get(v, "errors");
                size_t used = 0;
                for (size_t i = 0; errs && json_value_type(errs) == JSON_ARRAY && i < json_array_size(errs) && i < 3;
                     i++) {
                        const struct json_value *e = json_array_get(errs, i);
                        if (json_value_type(e) != JSON_OBJECT)
                                continue;
                        const struct json_value *c = json_object_get(e, "code"), *m = json_object_get(e, "message");
                        used += (size_t)snprintf(buf + used, size > used ? size - used : 0, "%s%.60s: %.200s",
                                                 used ? "; " : "",
                                                 c && json_value_type(c) == JSON_STRING ? json_string(c, NULL) : "?",
                                                 m && json_value_type(m) == JSON_STRING ? json_string(m, NULL) : "");
                        if (used >= size)
                                break;
                }
        }
        json_value_free(v);
        if (!buf[0]) {
                size_t n = 0;
                while (n < resp->body_len && n < 200 && n + 1 < size && resp->body[n] >= 0x20 && resp->body[n] < 0x7f)
                        n++;
                memcpy(buf, resp->body, n);
                buf[n] = '\0';
        }
}

/* Where a redirect may go, and whether it keeps the Authorization. */
static int check_redirect(struct oci_registry *r, const char *url, const char *how, bool *ret_same_origin,
                          struct ak_error *err)
{
        char scheme[8], hostport[OCI_REF_NAME_MAX + 16];
        if (oci_http_url_origin(url, scheme, sizeof(scheme), hostport, sizeof(hostport)) < 0)
                return ak_error_set(err, -EPROTO, "registry %s %s \"%.200s\", not an http(s) URL", r->host, how,
                                    url);
        if (strcmp(scheme, "http") == 0 && !oci_registry_insecure_allowed(hostport, r->o.insecure, r->o.n_insecure))
                return ak_error_set(err, -EPERM, "registry %s %s plain http://%s: refused (only loopback and "
                                    "--insecure-registry hosts may be reached without TLS)", r->host, how, hostport);
        *ret_same_origin = strcmp(scheme, r->scheme) == 0 && strcmp(hostport, r->host) == 0;
        return 0;
}

int registry_send(struct oci_registry *r, const struct oci_http_req *req0, struct oci_http_resp *resp,
                  bool *ret_retryable, struct ak_error *err)
{
        struct oci_http_req req = *req0;
        char url[OCI_URL_MAX];
        bool same_origin = true, reauthed = false;
        snprintf(url, sizeof(url), "%s", req0->url);
        /* An upload Location may name another host: credentials stay home. */
        int rc0 = check_redirect(r, url, "gave an upload URL on", &same_origin, err);
        if (rc0 < 0)
                return rc0;
        for (int hop = 0;; hop++) {
                req.url = url;
                req.authorization = same_origin && r->authorization[0] ? r->authorization : NULL;
                int rc = oci_http_do(r->http, &req, resp, ret_retryable, NULL, err);
                if (rc < 0)
                        return rc;
                if (resp->status == 401 && same_origin && !reauthed) {
                        char challenge[OCI_AUTH_HEADER_MAX + 1];
                        snprintf(challenge, sizeof(challenge), "%s", resp->www_authenticate);
                        bool too_long = resp->www_authenticate_too_long;
                        oci_http_resp_clear(resp);
                        if (too_long)
                                return ak_error_set(err, -E2BIG, "registry %s: WWW-Authenticate longer than %d bytes",
                                                    r->host, OCI_AUTH_HEADER_MAX);
                        if (!challenge[0])
                                return ak_error_set(err, -EACCES, "registry %s answered 401 without WWW-Authenticate",
                                                    r->host);
                        rc = registry_authenticate(r, challenge, err);
                        if (rc < 0)
                                return rc;
                        reauthed = true;
                        hop--;
                        continue;
                }
                bool redirect = resp->status == 301 || resp->status == 302 || resp->status == 303 ||
                                resp->status == 307 || resp->status == 308;
                if (!redirect)
                        return 0;
                if (!resp->location[0] || hop >= MAX_REDIRECTS) {
                        oci_http_resp_clear(resp);
                        return ak_error_set(err, -ELOOP, "%s: %s", url,
                                            hop >= MAX_REDIRECTS ? "more than 5 redirects" : "redirect without Location");
                }
                snprintf(url, sizeof(url), "%s", resp->location);
                oci_http_resp_clear(resp);
                rc = check_redirect(r, url, "redirected to", &same_origin, err);
                if (rc < 0)
                        return rc;
        }
}

/* GET /v2/ on scheme; 0 with the status in *ret_status. */
static int ping(struct oci_registry *r, const char *scheme, long *ret_status, bool *ret_tls, struct ak_error *err)
{
        char url[OCI_URL_MAX];
        struct oci_http_resp resp;
        snprintf(r->scheme, sizeof(r->scheme), "%s", scheme);
        snprintf(r->base, sizeof(r->base), "%s://%s", scheme, r->host);
        snprintf(url, sizeof(url), "%s/v2/", r->base);
        struct oci_http_req req = { .method = "GET", .url = url };
        int rc = 0;
        for (int attempt = 1;; attempt++) {
                bool retry = false;
                rc = oci_http_do(r->http, &req, &resp, &retry, ret_tls, err);
                if (rc == 0 && !registry_status_retryable(resp.status))
                        break;
                if (rc == 0)
                        oci_http_resp_clear(&resp);
                if (attempt >= r->o.max_attempts || (rc < 0 && !retry)) {
                        if (rc == 0)
                                rc = ak_error_set(err, -EIO, "registry %s: GET /v2/ answered %ld %d times", r->host,
                                                  resp.status, attempt);
                        return rc;
                }
                registry_backoff(r, attempt + 1);
        }
        *ret_status = resp.status;
        char challenge[OCI_AUTH_HEADER_MAX + 1];
        snprintf(challenge, sizeof(challenge), "%s", resp.www_authenticate);
        oci_http_resp_clear(&resp);
        if (*ret_status == 401)
                return registry_authenticate(r, challenge, err);
        return 0;
}

int oci_registry_open(const char *host, const char *repo, const struct oci_registry_options *o,
                      struct oci_registry **ret, struct ak_error *err)
{
        struct oci_registry *r = calloc(1, sizeof(*r));
        if (!r)
                return ak_error_set(err, -ENOMEM, "out of memory");
        r->o = *o;
        if (r->o.max_attempts <= 0)
                r->o.max_attempts = 5;
        snprintf(r->host, sizeof(r->host), "%s", host);
        snprintf(r->repo, sizeof(r->repo), "%s", repo);
        if (o->cred) {
                r->cred = *o->cred;
                r->have_cred = true;
                r->o.cred = NULL;
        }
        int rc = oci_http_new(o->ca_file, o->low_speed_s, &r->http, err);
        long status = 0;
        bool tls_handshake = false;
        if (rc == 0) {
                rc = ping(r, "https", &status, &tls_handshake, err);
                if (rc < 0 && tls_handshake && oci_registry_insecure_allowed(host, o->insecure, o->n_insecure))
                        rc = ping(r, "http", &status, &tls_handshake, err);
                else if (rc < 0 && tls_handshake)
                        ak_error_wrap(err, "registry %s: TLS failed (if it speaks plain http, name it with "
                                      "--insecure-registry %s)", host, host);
                else if (rc < 0 && rc == -EPERM)
                        ak_error_wrap(err, "registry %s: its certificate is not trusted (give its CA with --ca-file)",
                                      host);
        }
        if (rc == 0 && status != 200 && status != 401)
                rc = ak_error_set(err, -EPROTO, "registry %s: GET /v2/ answered %ld: not an OCI registry?", host,
                                  status);
        if (rc < 0) {
                oci_registry_free(r);
                return rc;
        }
        *ret = r;
        return 0;
}

void oci_registry_free(struct oci_registry *r)
{
        if (!r)
                return;
        oci_http_free(r->http);
        memset(r->authorization, 0, sizeof(r->authorization));
        memset(&r->cred, 0, sizeof(r->cred));
        free(r);
}

const char *oci_registry_scheme(const struct oci_registry *r)
{
        return r->scheme;
}

/* A request with retries; a 2xx/3xx/4xx answer is returned as is. */
int registry_send_retrying(struct oci_registry *r, const struct oci_http_req *req, struct oci_http_resp *resp,
                           struct ak_error *err)
{
        for (int attempt = 1;; attempt++) {
                bool retry = false;
                int rc = registry_send(r, req, resp, &retry, err);
                if (rc == 0 && !registry_status_retryable(resp->status))
                        return 0;
                if (attempt >= r->o.max_attempts || (rc < 0 && !retry)) {
                        if (rc == 0) {
                                char text[300];
                                registry_error_text(resp, text, sizeof(text));
                                rc = ak_error_set(err, -EIO, "%s %s: answered %ld %s(%d attempts)", req->method,
                                                  req->url, resp->status, text, attempt);
                                oci_http_resp_clear(resp);
                        } else if (retry) {
                                ak_error_wrap(err, "after %d attempts", attempt);
                        }
                        return rc;
                }
                if (rc == 0)
                        oci_http_resp_clear(resp);
                registry_backoff(r, attempt + 1);
        }
}

int registry_status_error(struct oci_registry *r, const char *what, const struct oci_http_resp *resp,
                          struct ak_error *err)
{
        char text[400];
        registry_error_text(resp, text, sizeof(text));
        if (resp->status == 404)
                return ak_error_set(err, -ENOENT, "%s/%s: %s not found (%s)", r->host, r->repo, what,
                                    text[0] ? text : "404");
        if (resp->status == 401 || resp->status == 403)
                return ak_error_set(err, -EACCES, "%s/%s: %s: access denied (%ld%s%s): the repository may not exist "
                                    "or need credentials (--authfile)", r->host, r->repo, what, resp->status,
                                    text[0] ? ", " : "", text);
        return ak_error_set(err, -EPROTO, "%s/%s: %s: unexpected answer %ld%s%s", r->host, r->repo, what, resp->status,
                            text[0] ? ": " : "", text);
}

int oci_registry_get_manifest(struct oci_registry *r, const char *reference, char **ret_body, size_t *ret_len,
                              char ret_content_type[256], char ret_digest[OCI_DIGEST_LEN + 1], struct ak_error *err)
{
        char url[OCI_URL_MAX], what[OCI_REF_TAG_MAX + 100];
        snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", r->base, r->repo, reference);
        snprintf(what, sizeof(what), "manifest %s", reference);
        struct oci_http_req req = { .method = "GET", .url = url, .accept = OCI_MANIFEST_ACCEPT,
                                    .max_body = OCI_MANIFEST_MAX };
        struct oci_http_resp resp;
        int rc = registry_send_retrying(r, &req, &resp, err);
        if (rc < 0)
                return rc == -EFBIG ? ak_error_wrap(err, "%s", what) : rc;
        if (resp.status != 200) {
                rc = registry_status_error(r, what, &resp, err);
                oci_http_resp_clear(&resp);
                return rc;
        }
        uint8_t d[CRYPTO_SHA256_LEN];
        char digest[OCI_DIGEST_LEN + 1] = "sha256:";
        rc = crypto_sha256(resp.body ? resp.body : "", resp.body_len, d);
        if (rc < 0) {
                oci_http_resp_clear(&resp);
                return ak_error_set(err, rc, "SHA-256: %s", crypto_init_error_message(rc));
        }
        hex_encode(d, sizeof(d), digest + 7, sizeof(digest) - 7);
        if (strncmp(reference, "sha256:", 7) == 0 && strcmp(reference, digest) != 0)
                rc = ak_error_set(err, -EBADMSG, "%s: the registry's manifest hashes to %s (digest mismatch)", what,
                                  digest);
        else if (resp.docker_content_digest[0] && strncmp(resp.docker_content_digest, "sha256:", 7) == 0 &&
                 strcmp(resp.docker_content_digest, digest) != 0)
                rc = ak_error_set(err, -EBADMSG, "%s: Docker-Content-Digest says %.80s but the body hashes to %s", what,
                                  resp.docker_content_digest, digest);
        if (rc < 0) {
                oci_http_resp_clear(&resp);
                return rc;
        }
        snprintf(ret_content_type, 256, "%s", resp.content_type);
        strcpy(ret_digest, digest);
        *ret_len = resp.body_len;
        *ret_body = resp.body ? resp.body : strdup("");
        return 0;
}
