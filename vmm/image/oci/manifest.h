/* Image manifests and indexes (OCI image-spec v1 and Docker's schema 2),
 * parsed strictly from registry bytes.
 *
 *   index:    application/vnd.oci.image.index.v1+json,
 *             application/vnd.docker.distribution.manifest.list.v2+json
 *   manifest: application/vnd.oci.image.manifest.v1+json,
 *             application/vnd.docker.distribution.manifest.v2+json
 *
 * The kind comes from the JSON "mediaType" when present, else from the HTTP
 * Content-Type (OCI makes mediaType optional); the two must agree when both
 * name a known type. Every descriptor needs a sha256 digest and a size
 * (0..OCI_BLOB_MAX). Pure functions on outside bytes; thread-safe. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "vmm/image/oci/ref.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OCI_MANIFEST_MAX ((size_t)4 << 20)
#define OCI_BLOB_MAX ((uint64_t)64 << 30)
#define OCI_MAX_LAYERS 1024
#define OCI_MAX_INDEX_ENTRIES 4096
#define OCI_MEDIA_TYPE_MAX 255

#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define OCI_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
/* What a manifest request accepts, as an Accept header value. */
#define OCI_MANIFEST_ACCEPT OCI_MT_INDEX ", " OCI_MT_MANIFEST ", " OCI_MT_DOCKER_LIST ", " OCI_MT_DOCKER_MANIFEST

enum oci_manifest_kind {
        OCI_KIND_INDEX = 1,
        OCI_KIND_MANIFEST = 2,
};

struct oci_descriptor {
        char media_type[OCI_MEDIA_TYPE_MAX + 1];
        char digest[OCI_DIGEST_LEN + 1];
        uint64_t size;
        /* index entries only ("" when not given) */
        char os[32];
        char architecture[32];
        char variant[32];
};

struct oci_manifest {
        enum oci_manifest_kind kind;
        char media_type[OCI_MEDIA_TYPE_MAX + 1]; /* the one it was parsed as */
        /* manifest */
        struct oci_descriptor config;
        /* manifest: layers; index: manifests */
        struct oci_descriptor *items;
        size_t n_items;
};

/* Parses len bytes (at most OCI_MANIFEST_MAX). content_type is the HTTP
 * Content-Type (parameters after ';' ignored), or NULL/"" when unknown.
 * Returns 0 and *ret (free with oci_manifest_free), -EINVAL with err saying
 * which member is wrong, -E2BIG, -ENOTSUP (a schema 1 or unknown media
 * type), -ENOMEM. */
int oci_manifest_decode(const char *json, size_t len, const char *content_type, struct oci_manifest **ret,
                       struct ak_error *err);
void oci_manifest_free(struct oci_manifest *m);

/* The entry of an index for os/architecture ("linux", "amd64"): an entry
 * whose platform matches, preferring one without a variant. Returns its
 * index, or -ENOENT with err listing the platforms the index has. */
int oci_index_select(const struct oci_manifest *index, const char *os, const char *arch, struct ak_error *err);

#ifdef __cplusplus
}
#endif
