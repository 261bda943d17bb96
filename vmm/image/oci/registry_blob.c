/* Blob downloads: hashed into a temporary file, resumed with Range after a
 * broken transfer, stored only when verified. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/image/oci/registry_impl.h"

struct blob_sink {
        struct oci_registry *r;
        struct oci_blob_writer *w;
        const struct oci_descriptor *desc;
        uint64_t range_start; /* what this attempt asked for */
        bool started;
        struct ak_error *err;
};

/* "bytes START-END/TOTAL": START. */
static int content_range_start(const char *v, uint64_t *ret)
{
        unsigned long long start;
        char unit[8];
        if (sscanf(v, "%7s %llu-", unit, &start) != 2 || strcmp(unit, "bytes") != 0)
                return -EINVAL;
        *ret = start;
        return 0;
}

static int blob_data(void *ud, const struct oci_http_resp *resp, const void *data, size_t len)
{
        struct blob_sink *s = ud;
        if (!s->started) {
                s->started = true;
                if (s->range_start > 0 && resp->status == 200) {
                        /* The registry ignored Range: start over. */
                        int rc = oci_blob_writer_rewind(s->w, s->err);
                        if (rc < 0)
                                return rc;
                } else if (s->range_start > 0 && resp->status == 206) {
                        uint64_t start;
                        if (content_range_start(resp->content_range, &start) < 0 || start != s->range_start)
                                return ak_error_set(s->err, -EPROTO, "blob %s: asked for bytes from %" PRIu64
                                                    ", got Content-Range \"%.60s\"", s->desc->digest, s->range_start,
                                                    resp->content_range);
                } else if (resp->status != 200) {
                        return ak_error_set(s->err, -EPROTO, "blob %s: unexpected status %ld", s->desc->digest,
                                            resp->status);
                }
        }
        int rc = oci_blob_writer_write(s->w, data, len, s->err);
        if (rc < 0)
                return rc;
        if (s->r->o.progress)
                s->r->o.progress(s->r->o.progress_userdata, s->desc->digest, oci_blob_writer_offset(s->w),
                                 s->desc->size);
        return 0;
}

/* One attempt. 0 when the body arrived in full with a 2xx; *ret_retry says
 * whether a failure is worth another attempt. */
static int attempt_fetch(struct oci_registry *r, struct blob_sink *s, bool *ret_retry, struct ak_error *err)
{
        char url[OCI_URL_MAX];
        snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", r->base, r->repo, s->desc->digest);
        uint64_t offset = oci_blob_writer_offset(s->w);
        s->range_start = offset < s->desc->size ? offset : 0;
        if (offset >= s->desc->size && offset > 0) {
                /* All bytes came but the transfer broke at the end: check them. */
                *ret_retry = false;
                return 0;
        }
        s->started = false;
        struct oci_http_req req = { .method = "GET", .url = url, .range_start = s->range_start,
                                    .sink = blob_data, .sink_userdata = s };
        struct oci_http_resp resp;
        bool retry = false;
        int rc = registry_send(r, &req, &resp, &retry, err);
        *ret_retry = retry;
        if (rc < 0)
                return rc;
        if (resp.status == 416 && s->range_start > 0) {
                /* Range not satisfiable: start over without it next time. */
                oci_http_resp_clear(&resp);
                *ret_retry = true;
                int r2 = oci_blob_writer_rewind(s->w, err);
                return r2 < 0 ? r2 : ak_error_set(err, -EIO, "blob %s: range refused", s->desc->digest);
        }
        if (resp.status < 200 || resp.status >= 300) {
                char text[300];
                registry_error_text(&resp, text, sizeof(text));
                *ret_retry = registry_status_retryable(resp.status);
                rc = ak_error_set(err, resp.status == 404 ? -ENOENT : resp.status == 401 || resp.status == 403 ? -EACCES
                                                                                                            : -EIO,
                                  "%s/%s: blob %s: answered %ld%s%s", r->host, r->repo, s->desc->digest, resp.status,
                                  text[0] ? ": " : "", text);
                oci_http_resp_clear(&resp);
                return rc;
        }
        oci_http_resp_clear(&resp);
        if (!s->started && s->desc->size > 0) {
                *ret_retry = true;
                return ak_error_set(err, -EIO, "blob %s: empty answer", s->desc->digest);
        }
        if (oci_blob_writer_offset(s->w) < s->desc->size) {
                /* The connection closed cleanly but early (no Content-Length). */
                *ret_retry = true;
                return ak_error_set(err, -EPROTO, "blob %s: the registry sent %" PRIu64 " of %" PRIu64 " bytes",
                                    s->desc->digest, oci_blob_writer_offset(s->w), s->desc->size);
        }
        return 0;
}

int oci_registry_fetch_blob(struct oci_registry *r, struct oci_layout *l, const struct oci_descriptor *desc,
                            struct ak_error *err)
{
        if (oci_layout_has_blob(l, desc->digest, desc->size))
                return 0;
        struct oci_blob_writer *w = NULL;
        int rc = oci_blob_writer_new(l, desc->digest, desc->size, &w, err);
        if (rc < 0)
                return rc;
        struct blob_sink s = { .r = r, .w = w, .desc = desc, .err = err };
        int attempt;
        for (attempt = 1;; attempt++) {
                bool retry = false;
                rc = attempt_fetch(r, &s, &retry, err);
                if (rc == 0 || !retry || attempt >= r->o.max_attempts)
                        break;
                registry_backoff(r, attempt + 1);
        }
        if (rc < 0 && rc != -EFBIG && rc != -EBADMSG && rc != -EPROTO && rc != -ENOENT && rc != -EACCES)
                ak_error_wrap(err, "download failed after %d attempt(s), nothing stored", attempt);
        if (rc == 0)
                rc = oci_blob_writer_commit(w, err);
        oci_blob_writer_free(w);
        return rc;
}
