/* Pulling an image into the OCI layout cache: reference -> registry ->
 * manifest (an index resolved to one platform, linux/amd64 by default) ->
 * config and layers, each verified against its digest -> index.json entry
 * named by the normalized reference.
 *
 * Blobs already in the layout are not downloaded again, so the same image
 * under two tags, or two images sharing layers, cost one download per blob.
 * Whatever fails, no blob is left under a digest it does not hash to, and
 * index.json names the reference only after every blob of the image is
 * stored. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "vmm/image/oci/ref.h"
#include "vmm/image/oci/registry.h"

#ifdef __cplusplus
extern "C" {
#endif

struct oci_pull_options {
        /* A docker config.json; NULL: $DOCKER_CONFIG/config.json or
         * ~/.docker/config.json when it exists (else anonymous). */
        const char *authfile;
        const char *ca_file;
        const char *const *insecure;
        size_t n_insecure;
        const char *os;   /* NULL: "linux" */
        const char *arch; /* NULL: "amd64" */
        int max_attempts, backoff_ms, low_speed_s; /* 0: registry.h's defaults */
        void (*progress)(void *userdata, const char *digest, uint64_t done, uint64_t total);
        void *progress_userdata;
};

struct oci_pull_result {
        char ref[OCI_REF_FORMAT_MAX];              /* the normalized reference (the ref.name) */
        char manifest_digest[OCI_DIGEST_LEN + 1];  /* the platform manifest in the layout */
        char index_digest[OCI_DIGEST_LEN + 1];     /* the index it came from, or "" */
        char config_digest[OCI_DIGEST_LEN + 1];
        size_t n_layers;
        uint64_t total_bytes;   /* config + layers */
        uint64_t fetched_bytes; /* of those, downloaded now (the rest was cached) */
};

/* Credentials for domain from authfile (NULL: the default one, as above)
 * into *cred: 0 with *ret_found. A missing default file is not an error; a
 * missing named one is. */
int oci_load_cred(const char *authfile, const char *domain, struct oci_cred *cred, bool *ret_found,
                  struct ak_error *err);

/* Pulls ref_text into the layout at layout_dir (created if missing). */
int oci_pull(const char *layout_dir, const char *ref_text, const struct oci_pull_options *o,
             struct oci_pull_result *ret, struct ak_error *err);

#ifdef __cplusplus
}
#endif
