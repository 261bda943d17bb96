/* A local disk image (a snapshot, or any root filesystem image of the
 * store) packed as an OCI image (disk_format.h) in the OCI layout cache, so
 * that oci_push can send it to a registry: `ak image push NAME REF`, and the
 * executor's TakeSnapshot with push. */
#pragma once

#include <stdint.h>

#include "lib/base/error.h"
#include "vmm/image/image.h"

#ifdef __cplusplus
extern "C" {
#endif

struct image_disk_packed {
        char manifest_digest[72];
        uint64_t disk_bytes;    /* the raw disk */
        uint64_t layer_bytes;   /* the compressed layer */
};

/* Packs the store image name (a "rootfs" image; -EINVAL for base, -ENOENT
 * when there is none) into the OCI layout at layout_dir (created if
 * missing), recorded in its index.json under ref_name (a normalized
 * reference, what oci_push finds its source by). The disk is read once,
 * holes skipped, compressed with zstd; the config carries the image's Env,
 * WorkingDir, User and command (a snapshot's: its source image's, when it
 * has none of its own) and the labels of disk_format.h. Blobs appear only
 * whole (temporary files renamed); nothing is left on failure but what
 * oci_layout_prune removes. Reads the image under an in-use mark, so it is
 * not collected meanwhile. */
int image_disk_pack(struct image_store *s, const char *name, const char *layout_dir, const char *ref_name,
                    const struct image_progress *p, struct image_disk_packed *ret, struct ak_error *err);

#ifdef __cplusplus
}
#endif
