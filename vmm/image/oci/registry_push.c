/* Blob and manifest uploads: HEAD to skip what the registry has, POST to
 * start an upload, one monolithic PUT with the digest the registry checks. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/image/oci/registry_impl.h"
#include "vmm/image/oci/upload.h"

/* HEAD /v2/<repo>/blobs/<digest>: 0 with *ret_present. */
static int blob_present(struct oci_registry *r, const struct oci_descriptor *desc, bool *ret_present,
                        struct ak_error *err)
{
        char url[OCI_URL_MAX];
        snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", r->base, r->repo, desc->digest);
        struct oci_http_req req = { .method = "HEAD", .url = url };
        struct oci_http_resp resp;
        int rc = registry_send_retrying(r, &req, &resp, err);
        if (rc < 0)
                return rc;
        long status = resp.status;
        if (status == 200 || status == 404) {
                *ret_present = status == 200;
                rc = 0;
        } else {
                char what[OCI_DIGEST_LEN + 16];
                snprintf(what, sizeof(what), "blob %s", desc->digest);
                rc = registry_status_error(r, what, &resp, err);
        }
        oci_http_resp_clear(&resp);
        return rc;
}

/* POST /v2/<repo>/blobs/uploads/: the PUT URL for desc into ret. */
static int upload_start(struct oci_registry *r, const struct oci_descriptor *desc, char *ret, size_t size,
                        struct ak_error *err)
{
        char url[OCI_URL_MAX], what[OCI_DIGEST_LEN + 32];
        snprintf(url, sizeof(url), "%s/v2/%s/blobs/uploads/", r->base, r->repo);
        snprintf(what, sizeof(what), "upload of blob %s", desc->digest);
        struct oci_http_req req = { .method = "POST", .url = url };
        struct oci_http_resp resp;
        int rc = registry_send_retrying(r, &req, &resp, err);
        if (rc < 0)
                return rc;
        if (resp.status != 202)
                rc = registry_status_error(r, what, &resp, err);
        else if (resp.location_too_long)
                rc = ak_error_set(err, -E2BIG, "%s/%s: %s: Location longer than %d bytes", r->host, r->repo, what,
                                  OCI_URL_MAX - 1);
        else if (oci_upload_url(r->base, resp.location_raw, strlen(resp.location_raw), desc->digest, ret, size, err) < 0)
                rc = ak_error_wrap(err, "%s/%s: %s", r->host, r->repo, what);
        oci_http_resp_clear(&resp);
        return rc;
}

int oci_registry_push_blob(struct oci_registry *r, struct oci_layout *l, const struct oci_descriptor *desc,
                           struct ak_error *err)
{
        if (!oci_layout_has_blob(l, desc->digest, desc->size))
                return ak_error_set(err, -ENOENT, "blob %s (%" PRIu64 " bytes) is not in the layout %s", desc->digest,
                                    desc->size, oci_layout_dir(l));
        bool present = false;
        int rc = blob_present(r, desc, &present, err);
        if (rc < 0 || present)
                return rc;
        char path[4096], url[OCI_URL_MAX];
        oci_layout_blob_path(l, desc->digest, path, sizeof(path));
        for (int attempt = 1;; attempt++) {
                /* A failed upload session is not resumed: start a new one. */
                rc = upload_start(r, desc, url, sizeof(url), err);
                if (rc < 0)
                        return rc;
                struct oci_http_req req = { .method = "PUT", .url = url, .upload_path = path,
                                            .content_type = "application/octet-stream" };
                struct oci_http_resp resp;
                bool retry = false;
                rc = registry_send(r, &req, &resp, &retry, err);
                if (rc == 0 && resp.status == 201) {
                        oci_http_resp_clear(&resp);
                        break;
                }
                if (rc == 0) {
                        char what[OCI_DIGEST_LEN + 32];
                        snprintf(what, sizeof(what), "upload of blob %s", desc->digest);
                        retry = registry_status_retryable(resp.status);
                        rc = registry_status_error(r, what, &resp, err);
                        oci_http_resp_clear(&resp);
                }
                if (!retry || attempt >= r->o.max_attempts)
                        return attempt > 1 ? ak_error_wrap(err, "after %d attempts", attempt) : rc;
                registry_backoff(r, attempt + 1);
        }
        if (r->o.progress)
                r->o.progress(r->o.progress_userdata, desc->digest, desc->size, desc->size);
        return 1;
}

int oci_registry_put_manifest(struct oci_registry *r, const char *reference, const char *body, size_t len,
                              const char *media_type, struct ak_error *err)
{
        char url[OCI_URL_MAX], what[OCI_REF_TAG_MAX + OCI_DIGEST_LEN + 16];
        snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", r->base, r->repo, reference);
        snprintf(what, sizeof(what), "manifest %s", reference);
        struct oci_http_req req = { .method = "PUT", .url = url, .upload_data = body, .upload_len = len,
                                    .content_type = media_type };
        struct oci_http_resp resp;
        int rc = registry_send_retrying(r, &req, &resp, err);
        if (rc < 0)
                return rc;
        if (resp.status != 201 && resp.status != 200)
                rc = registry_status_error(r, what, &resp, err);
        oci_http_resp_clear(&resp);
        return rc;
}
