/* OCI image-spec documents, parsed strictly from outside bytes: an image
 * layout's index.json (and nested image indexes), image manifests (OCI and
 * Docker schema 2), image configs, and a `docker save` archive's
 * manifest.json. Pure functions over a buffer: no files, no allocation kept
 * (every result is a fixed-size struct), so the fuzz target covers them all.
 *
 * Every digest is checked to be "sha256:" + 64 lowercase hex digits (the only
 * algorithm ak verifies); every count and string has a limit below. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "vmm/image/disk_format.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OCI_DIGEST_LEN 71 /* "sha256:" + 64 hex */
#define OCI_MAX_LAYERS 128
#define OCI_MEDIA_TYPE_MAX 127
#define OCI_DOC_MAX ((size_t)4 << 20) /* index, manifest, config: bytes */
#define OCI_ENV_MAX 8192
#define OCI_COMMAND_MAX 4096    /* Entrypoint + Cmd, NUL-separated */
#define OCI_PATH_MAX 255

#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define DOCKER_MT_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MT_CONFIG "application/vnd.docker.container.image.v1+json"

enum oci_compression { OCI_TAR, OCI_TAR_GZIP, OCI_TAR_ZSTD };

/* ak's own layer type (disk_format.h): a whole ext4 root disk, the only
 * layer of its manifest. */
#define OCI_MT_AK_DISK AK_DISK_MEDIA_TYPE
#define OCI_LABEL_DISK_SIZE AK_DISK_LABEL_SIZE
#define OCI_LABEL_DISK_SOURCE AK_DISK_LABEL_SOURCE
#define OCI_LABEL_DISK_SANDBOX AK_DISK_LABEL_SANDBOX
#define OCI_LABEL_DISK_USER_IDS AK_DISK_LABEL_USER_IDS

struct oci_descriptor {
        char media_type[OCI_MEDIA_TYPE_MAX + 1];
        char digest[OCI_DIGEST_LEN + 1];
        uint64_t size;
};

struct oci_manifest {
        struct oci_descriptor config;
        struct oci_descriptor layers[OCI_MAX_LAYERS];
        size_t n_layers;
};

/* What of an image config ak keeps (the rest is ignored). */
struct oci_config {
        char os[32];
        char architecture[32];
        char diff_ids[OCI_MAX_LAYERS][OCI_DIGEST_LEN + 1];
        size_t n_diff_ids;
        char env[OCI_ENV_MAX];       /* "K=V" entries, each ended by '\n' */
        char working_dir[OCI_PATH_MAX + 1];
        char user[128];
        /* What runs when no command is given: Entrypoint then Cmd, each
         * argument NUL-terminated, n_command of them in command_len bytes. */
        char command[OCI_COMMAND_MAX];
        size_t command_len, n_command;
        /* config.Labels of a disk image (OCI_LABEL_DISK_*): 0 / "" when
         * absent. disk_size is at most OCI_DISK_MAX. */
        uint64_t disk_size;
        char disk_source[512];
        char disk_sandbox[64];
        char disk_user_ids[24];  /* "UID:GID", each decimal below 2^32 */
};
#define OCI_DISK_MAX ((uint64_t)AK_DISK_MAX)

/* A `docker save` manifest.json entry: paths inside the archive. */
struct oci_docker_entry {
        char config[OCI_PATH_MAX + 1];
        char layers[OCI_MAX_LAYERS][OCI_PATH_MAX + 1];
        size_t n_layers;
        char tag[256]; /* the first RepoTags entry, "" if none */
};

/* 0 if d is "sha256:" + 64 lowercase hex. */
int oci_digest_check(const char *d);

/* The layer media types ak applies, and their compression: -ENOTSUP for
 * anything else (foreign layers, encrypted layers). */
int oci_layer_compression(const char *media_type, enum oci_compression *ret);

/* From an image index (index.json or a nested one), the manifest named by
 * ref: NULL picks the only manifest (-EINVAL if there are several); a
 * "sha256:..." ref matches a digest; otherwise the
 * org.opencontainers.image.ref.name annotation. When the index lists
 * platforms, entries not linux/amd64 are skipped. The result may itself be
 * an index (media type OCI_MT_INDEX or DOCKER_MT_LIST): resolve it again
 * with ref NULL. -ENOENT when nothing matches (err lists what is there). */
int oci_index_find(const char *text, size_t len, const char *ref, struct oci_descriptor *ret, struct ak_error *err);

int oci_manifest_parse(const char *text, size_t len, struct oci_manifest *ret, struct ak_error *err);
int oci_config_parse(const char *text, size_t len, struct oci_config *ret, struct ak_error *err);

/* A docker-archive manifest.json: the entry whose RepoTags holds tag, or the
 * only one when tag is NULL. Paths are relative, without "..". */
int oci_docker_manifest_parse(const char *text, size_t len, const char *tag, struct oci_docker_entry *ret,
                              struct ak_error *err);

#ifdef __cplusplus
}
#endif
