/* A client of one repository on one registry (the OCI distribution API v2):
 * the /v2/ ping that picks https or (loopback / --insecure-registry only)
 * plain http, authentication (anonymous or credential bearer tokens, basic
 * auth, OAuth2 identity tokens), manifests and blobs with retries, resume and
 * digest checks.
 *
 * Credentials go only to the registry's own origin and its token realm, never
 * to a host a blob redirect points at, and never into error messages.
 *
 * Thread-safety: one registry object per thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "vmm/image/oci/auth.h"
#include "vmm/image/oci/layout.h"
#include "vmm/image/oci/manifest.h"

#ifdef __cplusplus
extern "C" {
#endif

struct oci_registry_options {
        const char *ca_file;           /* or NULL: the system's CAs */
        const char *const *insecure;   /* HOST[:PORT] allowed over plain http */
        size_t n_insecure;
        const struct oci_cred *cred;   /* or NULL: anonymous */
        int max_attempts;              /* per request, for 5xx/429/connection errors (0: 5) */
        int backoff_ms;                /* first retry's wait, doubled each time (0: 500) */
        int low_speed_s;               /* stall timeout (0: 60) */
        bool push;                     /* ask tokens for "pull,push", not "pull" */
        /* Called as blob bytes arrive (may be often: the caller throttles). */
        void (*progress)(void *userdata, const char *digest, uint64_t done, uint64_t total);
        void *progress_userdata;
};

struct oci_registry;

/* host: the API host[:port] (oci_ref_api_host); repo: the repository path.
 * Pings the registry and authenticates when it asks to. */
int oci_registry_open(const char *host, const char *repo, const struct oci_registry_options *o,
                      struct oci_registry **ret, struct ak_error *err);
void oci_registry_free(struct oci_registry *r);

/* "https" or "http": what the ping settled on. */
const char *oci_registry_scheme(const struct oci_registry *r);

/* GET /v2/<repo>/manifests/<reference>: the body (at most OCI_MANIFEST_MAX,
 * malloc'd), its Content-Type, and its digest (sha256 of the body, checked
 * against the reference when it is a digest and against the registry's
 * Docker-Content-Digest when given). -ENOENT: unknown tag/manifest;
 * -EACCES: refused; -EBADMSG: digest mismatch. */
int oci_registry_get_manifest(struct oci_registry *r, const char *reference, char **ret_body, size_t *ret_len,
                              char ret_content_type[256], char ret_digest[OCI_DIGEST_LEN + 1], struct ak_error *err);

/* Downloads blob desc into the layout (nothing if it is there already): the
 * bytes are hashed while written to a temporary file and stored under the
 * digest only when size and digest match. A broken transfer is resumed with
 * Range when the registry honours it, else restarted. */
int oci_registry_fetch_blob(struct oci_registry *r, struct oci_layout *l, const struct oci_descriptor *desc,
                            struct ak_error *err);

/* Uploads blob desc from the layout unless the registry has it (HEAD):
 * POST /v2/<repo>/blobs/uploads/, then one PUT of the whole blob to the
 * Location it answers (oci_upload_url) with ?digest=. The registry checks
 * the digest; 201 is success. Returns 1 when uploaded, 0 when the registry
 * had it; -ENOENT: not in the layout; -EACCES: refused. */
int oci_registry_push_blob(struct oci_registry *r, struct oci_layout *l, const struct oci_descriptor *desc,
                           struct ak_error *err);

/* PUT /v2/<repo>/manifests/<reference> with body as media_type. */
int oci_registry_put_manifest(struct oci_registry *r, const char *reference, const char *body, size_t len,
                              const char *media_type, struct ak_error *err);

/* Whether host (HOST[:PORT]) may be spoken to over plain http: a loopback
 * host, or one in list (an entry without a port matches every port). */
bool oci_registry_insecure_allowed(const char *host, const char *const *list, size_t n);

#ifdef __cplusplus
}
#endif
