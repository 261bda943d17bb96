/* The registry client's insides, shared by registry.c, registry_auth.c and
 * registry_blob.c. */
#pragma once

#include <limits.h>

#include "vmm/image/oci/http.h"
#include "vmm/image/oci/ref.h"
#include "vmm/image/oci/registry.h"

struct oci_registry {
        struct oci_http *http;
        struct oci_registry_options o;
        char host[OCI_REF_NAME_MAX + 1];
        char repo[OCI_REF_NAME_MAX + 1];
        char scheme[8];
        char base[OCI_REF_NAME_MAX + 16]; /* "https://host[:port]" */
        char authorization[OCI_TOKEN_MAX + 16]; /* "" or "Bearer ..." / "Basic ..." */
        struct oci_cred cred;
        bool have_cred;
};

/* Answers a 401 with challenge (the WWW-Authenticate value): fetches a token
 * or sets basic auth. -EACCES with err saying what to do when there are no
 * credentials for a Basic challenge or the token server refuses. */
int registry_authenticate(struct oci_registry *r, const char *challenge, struct ak_error *err);

/* One request to the registry with redirects (the Authorization kept only on
 * the registry's own origin; plain-http targets only where allowed) and one
 * re-authentication on 401. No retries. */
int registry_send(struct oci_registry *r, const struct oci_http_req *req, struct oci_http_resp *resp,
                  bool *ret_retryable, struct ak_error *err);

/* Whether a status is worth retrying (5xx, 429). */
bool registry_status_retryable(long status);

/* Sleeps before attempt n (1-based, n >= 2). */
void registry_backoff(const struct oci_registry *r, int attempt);

/* The registry's error JSON ({"errors":[{"code","message"}]}) as words, or
 * the start of the body; into buf. */
void registry_error_text(const struct oci_http_resp *resp, char *buf, size_t size);

/* registry_send with retries for 5xx/429 and connection errors; any other
 * answer is returned as is. */
int registry_send_retrying(struct oci_registry *r, const struct oci_http_req *req, struct oci_http_resp *resp,
                           struct ak_error *err);

/* err for a non-2xx answer about what: -ENOENT (404), -EACCES (401/403),
 * else -EPROTO, with the registry's own words. */
int registry_status_error(struct oci_registry *r, const char *what, const struct oci_http_resp *resp,
                          struct ak_error *err);
