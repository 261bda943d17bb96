/* Installing an ak disk layer (disk_format.h) as a root disk: the layer's
 * bytes (outside bytes: a registry's or an image layout's) are one zstd
 * stream holding the raw ext4 disk. Used by image_import when a manifest's
 * only layer has that media type; fuzzed (image_disk_fuzz). */
#pragma once

#include <stdint.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct image_disk_expect {
        /* "sha256:..." of the compressed layer and its size: checked over
         * every byte of layer_fd (NULL digest: not checked, for the fuzzer;
         * the size is checked whenever not UINT64_MAX). */
        const char *layer_digest;
        uint64_t layer_size;
        /* "sha256:..." of the uncompressed disk (the config's diff_id; NULL:
         * not checked) and its size from the config's label (0: unknown). */
        const char *diff_id;
        uint64_t disk_size;
        /* The most bytes the disk may have (a limit the caller sets). */
        uint64_t max_bytes;
};

/* Decompresses layer_fd (read from its current offset to its end) into
 * out_fd, an empty regular file: all-zero 4 KiB blocks are left as holes,
 * the file is sized and fsync'ed. Returns 0 with *ret_size (may be NULL), or
 * -EBADMSG (digest, diff_id or size mismatch; a stream that is not zstd or
 * is corrupt or truncated), -EFBIG (past max_bytes or disk_size), -EIO;
 * err says which and on what. out_fd's contents are undefined on failure:
 * the caller removes the file. */
int image_disk_install(int layer_fd, const struct image_disk_expect *x, int out_fd, uint64_t *ret_size,
                       struct ak_error *err);

#ifdef __cplusplus
}
#endif
