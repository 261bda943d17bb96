/* An OCI image layout directory (image-spec's image-layout.md) used as the
 * pull cache: one blob store for every image pulled, so a layer shared by two
 * images, or one image under two tags, is stored once.
 *
 *   <dir>/oci-layout       {"imageLayoutVersion":"1.0.0"}
 *   <dir>/index.json       one entry per pulled reference: the image's
 *                          manifest descriptor with the annotation
 *                          org.opencontainers.image.ref.name = the normalized
 *                          reference ("docker.io/library/python:3.12-alpine")
 *   <dir>/blobs/sha256/<hex>   manifests, configs, layers, exactly as the
 *                          registry served them (digests unchanged)
 *   <dir>/tmp/             blobs being written (never read as blobs)
 *
 * This is the layout `skopeo copy docker://REF oci:DIR:TAG` writes; a reader
 * picks an image by its ref.name annotation. A blob appears under its digest
 * only after its bytes were hashed and matched (write to tmp/, fsync,
 * rename), so an interrupted or corrupt download never leaves a blob behind.
 * index.json is rewritten under a lock with write + rename, so several
 * processes may pull into one layout at once.
 *
 * Thread-safety: a layout object and a writer belong to one thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "vmm/image/oci/manifest.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OCI_ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

struct oci_layout;

/* Opens the layout at dir, creating it (and its parents) if missing: an
 * oci-layout file, an empty index.json, blobs/sha256/ and tmp/ are added
 * where absent. An existing oci-layout file must say version 1.0.0
 * (-EINVAL otherwise). */
int oci_layout_open(const char *dir, struct oci_layout **ret, struct ak_error *err);
void oci_layout_free(struct oci_layout *l);
const char *oci_layout_dir(const struct oci_layout *l);

/* Whether the blob is stored with this size (size UINT64_MAX: any). Stored
 * blobs were verified when written, so they are not hashed again. A blob
 * found gets a fresh mtime: a pull reusing it keeps oci_layout_prune's
 * grace period from taking it before the pull records its image. */
bool oci_layout_has_blob(const struct oci_layout *l, const char *digest, uint64_t size);

/* Path of a stored blob. */
void oci_layout_blob_path(const struct oci_layout *l, const char *digest, char *ret, size_t size);

/* Stores data as the blob digest after checking its SHA-256 (-EBADMSG when
 * it does not match). */
int oci_layout_put_blob(struct oci_layout *l, const char *digest, const void *data, size_t len,
                        struct ak_error *err);

/* Stores the file at tmp_path (under <dir>/tmp/, open as fd, written by
 * the caller, who hashed every byte of it as it wrote them: a blob ak made
 * itself, as `ak image push` of a local disk) as the blob digest: fsync,
 * mode 0644, rename. On failure the file stays where it was. */
int oci_layout_adopt_blob(struct oci_layout *l, const char *tmp_path, int fd, const char *digest,
                          struct ak_error *err);

/* A blob being downloaded: a temporary file hashed as it is written. */
struct oci_blob_writer;

/* Starts a blob of the given expected digest and size. */
int oci_blob_writer_new(struct oci_layout *l, const char *digest, uint64_t size, struct oci_blob_writer **ret,
                        struct ak_error *err);
/* Appends bytes: -EFBIG when they pass the declared size. */
int oci_blob_writer_write(struct oci_blob_writer *w, const void *data, size_t len, struct ak_error *err);
/* Bytes written so far (where a resumed download continues). */
uint64_t oci_blob_writer_offset(const struct oci_blob_writer *w);
/* Forgets everything written (the server restarted from byte 0). */
int oci_blob_writer_rewind(struct oci_blob_writer *w, struct ak_error *err);
/* Checks size and digest, then stores the blob under its digest: -EPROTO for
 * a short blob, -EBADMSG for a digest mismatch (the temporary file is
 * removed either way). */
int oci_blob_writer_commit(struct oci_blob_writer *w, struct ak_error *err);
/* Removes the temporary file (if not committed) and frees. NULL: no-op. */
void oci_blob_writer_free(struct oci_blob_writer *w);

/* Records desc (a manifest stored in the layout) under ref_name in
 * index.json, replacing the entry that had that name. Entries of other names
 * are kept as they were. */
int oci_layout_set_ref(struct oci_layout *l, const struct oci_descriptor *desc, const char *ref_name,
                       struct ak_error *err);

/* The descriptor index.json records for ref_name: -ENOENT when none. */
int oci_layout_get_ref(struct oci_layout *l, const char *ref_name, struct oci_descriptor *ret,
                       struct ak_error *err);

/* Takes the layout's lock (index.json.lock, flock LOCK_EX), which every
 * index.json update holds: 0 with the locked fd in *ret_fd (close it to
 * unlock). */
int oci_layout_lock(struct oci_layout *l, int *ret_fd, struct ak_error *err);

/* The descriptors of index.json's entries (malloc'd array in *ret). */
int oci_layout_index_entries(struct oci_layout *l, struct oci_descriptor **ret, size_t *ret_n,
                             struct ak_error *err);

struct oci_prune_stats {
        size_t removed;        /* blobs removed */
        uint64_t bytes;        /* their size */
        size_t young;          /* unreferenced but younger than the grace period: kept */
};

/* Removes the blobs no index.json entry reaches (through indexes,
 * manifests, configs, layers), under the layout's lock so no index.json
 * update interleaves. A blob modified less than grace_s seconds ago stays
 * (a running pull stores its blobs before it records the image), and tmp/
 * (downloads in progress) is left alone. When a referenced index or
 * manifest cannot be read or parsed nothing is removed (-EINVAL, err says
 * which). */
int oci_layout_prune(struct oci_layout *l, int64_t grace_s, struct oci_prune_stats *ret, struct ak_error *err);

#ifdef __cplusplus
}
#endif
