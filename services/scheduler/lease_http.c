/* lease_http.h over libcurl's easy interface (one call at a time, from
 * the elector's thread). */
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/io.h"
#include "lib/base/version.h"
#include "services/scheduler/lease_http.h"
#include "services/scheduler/lease_record.h"

int lease_http_init(struct ak_error *err)
{
        CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (c != CURLE_OK)
                return ak_error_set(err, -EIO, "curl_global_init: %s", curl_easy_strerror(c));
        return 0;
}

struct answer {
        char *data;
        size_t len;
        bool too_big;
};

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
        struct answer *a = userdata;
        size_t add = size * n;
        if (add > LEASE_MAX_BODY - a->len) {
                a->too_big = true;
                return 0; /* CURLE_WRITE_ERROR ends the transfer */
        }
        char *d = realloc(a->data, a->len + add + 1);
        if (!d)
                return 0;
        memcpy(d + a->len, p, add);
        a->len += add;
        d[a->len] = 0;
        a->data = d;
        return add;
}

/* "Authorization: Bearer <first line of the token file>", malloc'd. */
static int auth_header(const char *path, char **ret, struct ak_error *err)
{
        char *tok = NULL;
        size_t len = 0;
        int r = ak_read_file(path, LEASE_TOKEN_MAX, &tok, &len);
        if (r < 0)
                return ak_error_errno(err, r, "service account token %s", path);
        size_t n = 0;
        while (n < len && tok[n] != '\n' && tok[n] != '\r')
                n++;
        for (size_t i = 0; i < n; i++) {
                if ((unsigned char)tok[i] <= ' ' || tok[i] == 0x7f)
                        n = 0;
        }
        if (n == 0) {
                explicit_bzero(tok, len);
                free(tok);
                return ak_error_set(err, -EINVAL, "service account token %s: empty or not one printable word",
                                    path);
        }
        char *h = NULL;
        if (asprintf(&h, "Authorization: Bearer %.*s", (int)n, tok) < 0)
                h = NULL;
        explicit_bzero(tok, len);
        free(tok);
        if (!h)
                return ak_error_set(err, -ENOMEM, "out of memory");
        *ret = h;
        return 0;
}

static void setup(CURL *c, const struct lease_http *h, const char *method, const char *url, const char *json,
                  struct curl_slist *headers, struct answer *a)
{
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (json) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json));
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "ak-scheduler/" AK_VERSION);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        if (h->ca_file)
                curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
}

int lease_http_call(const struct lease_http *h, const char *method, const char *url, const char *json,
                    long *ret_status, char **ret_body, size_t *ret_len, struct ak_error *err)
{
        struct answer a = { 0 };
        struct curl_slist *headers = NULL, *l;
        char *auth = NULL;
        int r = auth_header(h->token_file, &auth, err);
        if (r < 0)
                return r;
        CURL *c = curl_easy_init();
        if (!c) {
                r = ak_error_set(err, -ENOMEM, "%s %s: curl_easy_init failed", method, url);
                goto out;
        }
        const char *hs[] = { auth, "Accept: application/json", json ? "Content-Type: application/json" : NULL };
        for (size_t i = 0; i < 3 && hs[i]; i++) {
                if (!(l = curl_slist_append(headers, hs[i]))) {
                        r = ak_error_set(err, -ENOMEM, "out of memory");
                        goto out;
                }
                headers = l;
        }
        setup(c, h, method, url, json, headers, &a);
        CURLcode cc = curl_easy_perform(c);
        if (cc != CURLE_OK) {
                r = a.too_big ? ak_error_set(err, -E2BIG, "%s %s: answer larger than %u bytes", method, url,
                                             LEASE_MAX_BODY)
                              : ak_error_set(err, cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO,
                                             "%s %s: %s", method, url, curl_easy_strerror(cc));
                goto out;
        }
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (!a.data && !(a.data = calloc(1, 1))) {
                r = ak_error_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        *ret_status = status;
        *ret_body = a.data;
        *ret_len = a.len;
        a.data = NULL;
out:
        free(a.data);
        curl_slist_free_all(headers);
        if (c)
                curl_easy_cleanup(c);
        explicit_bzero(auth, strlen(auth));
        free(auth);
        return r;
}
