/* Pushing an image from the OCI layout cache to a registry (`ak image push`):
 * the manifest index.json names src by (its config and layers first, each
 * skipped when the registry already has it), then the manifest itself under
 * the destination's tag or digest. The registry verifies every blob against
 * its digest; the manifest goes last, so a push that fails part-way leaves
 * no tag naming an incomplete image. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "vmm/image/oci/pull.h"
#include "vmm/image/oci/ref.h"

#ifdef __cplusplus
extern "C" {
#endif

struct oci_push_result {
        char ref[OCI_REF_FORMAT_MAX];             /* the normalized destination */
        char manifest_digest[OCI_DIGEST_LEN + 1];
        size_t n_blobs;        /* config + layers */
        size_t n_uploaded;     /* of those, sent now (the rest the registry had) */
        uint64_t uploaded_bytes;
};

/* Pushes the image named src_text (a reference, normalized as pull names
 * images in the layout) from the layout at layout_dir to dest_text. o: as
 * for a pull (authfile, CA, insecure registries, retries; os/arch unused);
 * tokens are asked for "pull,push". -ENOENT: src not in the layout;
 * -ENOTSUP: src names an index; -EINVAL: dest's digest is not the
 * manifest's. */
int oci_push(const char *layout_dir, const char *src_text, const char *dest_text, const struct oci_pull_options *o,
             struct oci_push_result *ret, struct ak_error *err);

#ifdef __cplusplus
}
#endif
