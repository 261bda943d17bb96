/* Applying one image layer (a tar stream, gzip- or zstd-compressed or not)
 * onto a root filesystem tree being built, as the OCI image spec's
 * layer.md says: entries in order, `.wh.NAME` deletes NAME from the layers
 * below, `.wh..wh..opq` empties its directory of everything the layers below
 * put there, and owners (numeric), modes (setuid/setgid/sticky), xattrs,
 * hard links, symlinks, device nodes and fifos are kept.
 *
 * The layer is hostile: every path is resolved beneath the root
 * (openat2 RESOLVE_BENEATH, no magic links), so an absolute name, a ".."
 * or a parent that is a symlink leading outside is refused with an error
 * naming the entry, never followed. Symlinks are written as data and never
 * followed while extracting. Sizes are bounded by the caller's budget before
 * anything is written.
 *
 * REQUIRES: root (CAP_CHOWN, CAP_MKNOD) to keep owners and device nodes;
 * rootfd is a directory only this call writes to. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "lib/base/error.h"
#include "vmm/image/oci_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

struct oci_layer_budget {
        uint64_t max_bytes;   /* file contents over all layers */
        uint64_t max_entries; /* entries over all layers */
        uint64_t bytes;       /* used so far (updated) */
        uint64_t entries;
};

/* Applies the layer in blob_fd (read from its current offset to the end)
 * onto rootfd. Checks, in the same single pass, that the blob's bytes hash to
 * blob_digest and are blob_size long, and that the uncompressed tar stream
 * hashes to diff_id; on a mismatch the tree is left half-applied and the
 * caller must throw it away. */
int oci_layer_apply(int rootfd, int blob_fd, const char *blob_digest, uint64_t blob_size, const char *diff_id,
                    struct oci_layer_budget *budget, struct ak_error *err);

/* Unpacks a plain archive of files (a `docker save` tarball) into dirfd:
 * regular files, directories and symlinks only, paths beneath dirfd as
 * above, owners not kept. */
int oci_archive_unpack(int dirfd, int fd, struct oci_layer_budget *budget, struct ak_error *err);

/* openat2(dirfd, path, flags, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS):
 * 0 or -errno (-EXDEV when path leads outside dirfd). */
int oci_open_beneath(int dirfd, const char *path, int flags, int *ret_fd);

/* Writes a copy of the host file src at path (relative) under rootfd,
 * owned by root with mode, replacing what is there; parents are created
 * 0755 and resolved beneath rootfd. */
int oci_root_add_file(int rootfd, const char *path, const char *src, mode_t mode, struct ak_error *err);

#ifdef __cplusplus
}
#endif
