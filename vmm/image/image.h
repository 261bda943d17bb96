/* Guest images: the kernel, the `base` initramfs, and root filesystems
 * built from Debian packages, kept in a content-addressed store.
 *
 * Layout of the store directory (normally $AK_HOME/images):
 *   kernel/<package>_<version>/   vmlinuz + lib/modules/<release>/ (depmod'ed),
 *                                 from `apt-get download` + `dpkg-deb -x`
 *   kernel/current                which of those is in use (a symlink)
 *   <hash>/manifest.json          one built image; hash = SHA-256 of its inputs
 *   <hash>/initrd.cpio            (base) busybox + ak-guest + modules
 *   <hash>/rootfs.ext4            (rootfs) debootstrap minbase + packages + ak-guest
 *   stage/<hash>/rootfs.ext4      debootstrap minbase + packages alone, keyed by
 *                                 suite/mirror/packages: a new ak-guest is
 *                                 written into a copy of it (debugfs), not
 *                                 bootstrapped again
 *   names/<name>                  the hash a name points at
 * A build with the same inputs finds <hash> and is a cache hit. Builds run
 * in a temporary directory and appear with one rename; a lock file per hash
 * keeps two builders from doing the same work.
 *
 * The kernel is Debian's linux-image-cloud-amd64: virtio, virtio_mmio,
 * virtio_blk and vsock are modules there, so the base initramfs carries them
 * (with their dependencies from modules.dep) and ak-guest --init loads them.
 * Or ak's own small kernel (image_kernel_install), where they are built in
 * (listed in its modules.builtin) and the initramfs carries no modules.
 *
 * Thread-safety: none per store object; several processes may share a
 * store directory. */
#pragma once

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IMAGE_NAME_MAX 63
/* An image key: a local name (image_name_check) or a normalized OCI
 * reference ("127.0.0.1:5000/test/busy:1"), with its NUL. */
#define IMAGE_REF_MAX 512
#define IMAGE_MAX_PACKAGES 256
#define IMAGE_HASH_LEN 64
#define IMAGE_BASE "base"
/* Needed free space before a root filesystem build starts. */
#define IMAGE_ROOTFS_MIN_FREE ((uint64_t)1536 << 20)

/* Progress reports: phase is a short stable word ("kernel", "download",
 * "initramfs", "debootstrap", "mkfs"), detail a line for a person. */
struct image_progress {
        void (*report)(void *userdata, const char *phase, const char *detail);
        void *userdata;
};

struct image_kernel {
        char dir[PATH_MAX];
        char vmlinuz[PATH_MAX];
        char modules_dir[PATH_MAX];   /* .../lib/modules/<release> */
        char release[64];             /* "6.1.0-56-cloud-amd64" */
        char package[128];            /* "linux-image-6.1.0-56-cloud-amd64_6.1.192-2" */
        /* The kernel cannot use QEMU microvm's ACPI tables (ak's small
         * kernel has no PCI, and ACPICA fails on the DSDT without it): the
         * VM boots with -M microvm,acpi=off (vmm_config.no_acpi). Recorded
         * as a third line "acpi=off" of the entry's release file. */
        bool no_acpi;
        /* ak's own small kernel (image_kernel_install: an entry named
         * ak-guest-*), not Debian's: an idle guest costs the host about half
         * (services/executor/capacity.h). */
        bool ak_built;
};

struct image_info {
        char name[IMAGE_REF_MAX];     /* a local name, or the normalized reference it was recorded by */
        char hash[IMAGE_HASH_LEN + 1];
        char kind[8];                 /* "base" or "rootfs" */
        char kernel[128];             /* kernel package it was built for (base) */
        char packages[4096];          /* comma-separated (rootfs) */
        char stage[IMAGE_HASH_LEN + 1]; /* rootfs: the debootstrap stage it was made from */
        /* Imported OCI images (empty for the others): */
        char digest[72];              /* the manifest's "sha256:..." (docker-archive: the config's) */
        char source[512];             /* what it was imported from ("oci-layout:DIR:TAG") */
        char env[8192];               /* the image config's Env, "K=V" lines each ended by '\n' */
        char working_dir[256];        /* its WorkingDir */
        char user[128];               /* its User */
        char user_ids[32];            /* User by the image's passwd/group: "UID:GID"; "" none/unknown */
        char command[4096];           /* its Entrypoint + Cmd, each argument NUL-terminated */
        size_t command_len, n_command;
        /* Disk snapshots (empty for the others): the sandbox it was taken
         * from, that sandbox's image and tenant. */
        char snapshot_sandbox[64];
        char snapshot_image[IMAGE_REF_MAX];
        char snapshot_tenant[64];
        uint64_t size_bytes;
        int64_t created_at;           /* Unix seconds */
        char dir[PATH_MAX];
};

/* What a VM boots. rootfs is "" for the base image. */
struct image_boot {
        char name[IMAGE_REF_MAX];
        char hash[IMAGE_HASH_LEN + 1];
        char kernel[PATH_MAX];
        char initrd[PATH_MAX];
        char rootfs[PATH_MAX];
        bool no_acpi;                 /* the kernel's (struct image_kernel) */
};

struct image_store;

/* Opens (creating) the store at dir. */
int image_store_open(const char *dir, struct image_store **ret, struct ak_error *err);
void image_store_free(struct image_store *s);
const char *image_store_dir(const struct image_store *s);

/* Sets the ak-guest binary to put into images (default: found next to the
 * running program, or $AK_GUEST_BIN). */
int image_store_set_guest_binary(struct image_store *s, const char *path, struct ak_error *err);

/* image_kernel_get's code when the kernel cannot be downloaded on this
 * machine at all: apt-get is missing, times out, cannot reach its mirror, or
 * its lists lack the package. Its message then starts with
 * IMAGE_KERNEL_UNAVAILABLE_MSG, so a caller on the far side of an RPC can tell
 * too. Every other failure (a corrupt cache, unpacking, depmod, a full disk)
 * has another code and says "get the guest kernel". */
#define IMAGE_KERNEL_UNAVAILABLE (-ENETUNREACH)
#define IMAGE_KERNEL_UNAVAILABLE_MSG "cannot download the guest kernel"

/* What an air-gapped node is told to do when it has no kernel: named in
 * IMAGE_KERNEL_UNAVAILABLE errors. */
#define IMAGE_SEED_HINT                                                                                      \
        "no image seed installed: pre-seed this node with `ak image seed --from DIR` or start ak-executor " \
        "with --image-seed DIR, DIR made by `ak image export-seed DIR` where the archive is reachable"

/* Image seeds: the kernel and the base image as plain files in a directory
 * with a manifest of their sha256 (seed_manifest.h), so that a node (an
 * executor's container image, an air-gapped machine) never fetches them.
 *
 * image_seed_export writes DIR (created; must be absent or empty) from this
 * store, getting the kernel and building base first if needed.
 * image_seed_install copies what the store lacks from DIR into it, each file
 * checked against the manifest's size and sha256 as it is copied (a
 * mismatch fails naming the file; nothing half-copied is left), and points
 * kernel/current at the seed's kernel when the store has no working one.
 * Already-present parts are not read again. Either holds the store's kernel
 * lock while it works. */
int image_seed_export(struct image_store *s, const char *dir, const struct image_progress *p, struct ak_error *err);
int image_seed_install(struct image_store *s, const char *dir, const struct image_progress *p, struct ak_error *err);

/* The store's current kernel as it is, never fetched: 0 and *ret, -ENOENT
 * when the store has none yet (or its entry is incomplete). */
int image_kernel_current(struct image_store *s, struct image_kernel *ret);

/* The kernel, downloaded and unpacked on first use. */
int image_kernel_get(struct image_store *s, const struct image_progress *p, struct image_kernel *ret,
                     struct ak_error *err);

/* A kernel directory name in the store (with its NUL). */
#define IMAGE_KERNEL_ENTRY_MAX 160

/* Installs a kernel built with everything in it (no loadable modules), as
 * vmm/kernel/build_kernel.sh makes one from Debian's linux-source: bzimage
 * and the build's modules.builtin. Its entry, kernel/ak-guest-<release>_<the
 * first 16 hex digits of its sha256>, holds vmlinuz, the release file and
 * lib/modules/<release>/ with an empty modules.dep and modules.builtin; it
 * becomes kernel/current, so the next base image (and every VM booted
 * after) uses it. The release is read from the image's boot header; a file
 * that is not a bzImage, or a modules.builtin that is not one, is refused
 * with nothing stored. Installing the same bytes again finds the entry. */
int image_kernel_install(struct image_store *s, const char *bzimage, const char *modules_builtin,
                         const struct image_progress *p, char ret_entry[IMAGE_KERNEL_ENTRY_MAX], struct ak_error *err);

/* Points kernel/current back at Debian's cloud kernel: the newest one in
 * the store, else fetched (as image_kernel_get). */
int image_kernel_use_debian(struct image_store *s, const struct image_progress *p, struct image_kernel *ret,
                            struct ak_error *err);

/* The base image (an initramfs), built if missing; named "base". */
int image_build_base(struct image_store *s, const struct image_progress *p, struct image_info *ret,
                     struct ak_error *err);

/* A root filesystem image from Debian packages (needs root and debootstrap),
 * built if missing, named name. packages may be empty. Errors say what to do:
 * a package Debian does not have, a full disk, no debootstrap. */
int image_build_rootfs(struct image_store *s, const char *name, const char *const *packages, size_t n_packages,
                       const struct image_progress *p, struct image_info *ret, struct ak_error *err);

/* Imports an OCI image as a root filesystem image named name: src is
 *   oci-layout:DIR[:REF]      an OCI image layout (what `skopeo copy ...
 *                             oci:DIR:TAG` writes); REF a tag
 *                             (org.opencontainers.image.ref.name) or a
 *                             "sha256:..." manifest digest; none: the only one
 *   docker-archive:TAR[:TAG]  a `docker save` tarball
 * Layers are applied in order (whiteouts, owners, modes, xattrs, links,
 * devices kept; every blob and diff_id verified; paths confined to the
 * root), ak-guest and busybox added in /usr/local/bin, packed into ext4
 * without mounting. Content-addressed by the manifest digest (and the
 * agent): importing the same image again or under another name stores it
 * once. Needs root (owners, device nodes). Errors name the layer and the
 * entry; nothing is stored on failure. */
int image_import(struct image_store *s, const char *src, const char *name, const struct image_progress *p,
                 struct image_info *ret, struct ak_error *err);

/* A default image name for src (the tag or the layout directory's name,
 * made a valid image name), or -EINVAL when none can be made. */
int image_import_default_name(const char *src, char ret[IMAGE_NAME_MAX + 1]);

/* The debootstrap output image_build_rootfs starts from for packages (with
 * $AK_DEBIAN_MIRROR, as it builds): <store>/stage/<key>/rootfs.ext4, an ext4
 * of the tree. A build finds it there and does not bootstrap again. Tests
 * that must not reach a Debian mirror put a small tree packed with
 * `mkfs.ext4 -d` there (it needs /usr/local/bin, where ak-guest goes). */
int image_stage_file(struct image_store *s, const char *const *packages, size_t n_packages, char ret[PATH_MAX],
                     struct ak_error *err);

/* Image keys. A key with '/', ':' or '@' is an OCI reference (docker's
 * rules, vmm/image/oci/ref.h) and names the image recorded under its
 * normalized form (names/@<sha256 of it>); any other key is a local name. So
 * a bare "python" is only ever the local image "python": Docker Hub's is
 * "python:latest" or "docker.io/library/python". */
bool image_key_is_ref(const char *key);
/* The normalized reference (docker.io/library/python:latest), or -EINVAL
 * with err saying what is wrong. */
int image_ref_normalize(const char *text, char ret[IMAGE_REF_MAX], struct ak_error *err);
/* 0 if key is a valid local name or a reference that parses. */
int image_key_check(const char *key);

/* The image a name (or reference: an image key) points at: -ENOENT when
 * there is none. ret->name is the name, or the normalized reference. */
int image_lookup(struct image_store *s, const char *name, struct image_info *ret, struct ak_error *err);

/* Every named image, sorted by name; images recorded by reference are listed
 * under the normalized reference (free with free()). */
int image_list(struct image_store *s, struct image_info **ret, size_t *ret_n, struct ak_error *err);

/* Cheap change detection for the store's names, for a process that reports
 * what its store holds (the executor, per heartbeat): one stat(2) of
 * <store>/names per call. Every change to a name (image_name_set,
 * image_remove, from any process) renames or unlinks an entry there, which
 * moves the directory's mtime and ctime. A change within the same file system
 * timestamp tick as the last look would leave them equal, so a look taken
 * less than IMAGE_WATCH_RACY_NS after the last change counts as stale
 * (git's "racily clean" index entries): the names are listed again until a
 * look comes safely later. Zero-initialise before the first call; one per
 * reader, not thread-safe. */
#define IMAGE_WATCH_RACY_NS ((int64_t)2 * 1000 * 1000 * 1000)
struct image_watch {
        bool valid;
        dev_t dev;
        ino_t ino;
        struct timespec mtime, ctime;
        int64_t looked_at_ns;   /* CLOCK_REALTIME of the last look that returned 1 */
};

/* 1 when the names may have changed since the last call that returned 1
 * (always on the first call): the caller lists them again (image_list) right
 * after; 0 when they have not; -errno when <store>/names cannot be read. */
int image_watch_changed(struct image_store *s, struct image_watch *w);

/* Adds a disk snapshot as a "rootfs" image named name: disk (a raw ext4
 * disk file the VMM wrote, e.g. QEMU's blockdev-backup target) has holes
 * punched where it holds only zeros (a VMM's copy writes every block, empty
 * ones too) and is moved into the store (renamed, or copied keeping holes
 * when on another file system, then unlinked), with meta's snapshot_sandbox/_image/_tenant recorded and
 * source "snapshot:<sandbox>". -EINVAL for a bad name or a meta without
 * snapshot_sandbox, -EEXIST when an image has that name (disk is then left
 * where it was). The hash is not of the contents (hashing gigabytes would
 * cost as much as the copy): SHA-256 of the name, the sandbox and a UUIDv7,
 * so each snapshot is an image of its own. Not thread-safe (as every store
 * call); the name check and the name's creation are one step for callers
 * that serialise store writes. */
int image_snapshot_add(struct image_store *s, const char *name, const char *disk, const struct image_info *meta,
                       struct image_info *ret, struct ak_error *err);

/* Removes a name (or reference), and the image when no other name or
 * reference points at it. An image
 * in use (image_use_begin, by any process) is refused with -EBUSY naming a
 * user, unless force: a running VM keeps the files it has open either way. */
int image_remove(struct image_store *s, const char *name, struct ak_error *err);
int image_remove_force(struct image_store *s, const char *name, bool force, struct ak_error *err);

/* In-use marks, shared by every process on the store (the executor's
 * sandboxes and pools, `ak vm`): <store>/inuse/<hash>/<mark>, a file holding
 * its user's label and share-locked (flock) by the process using the image
 * for as long as it does, so a mark whose process died is stale (nobody holds
 * its lock) and is removed by the next reader. Creating or ending a mark
 * also records the image's last use (the mtime of <store>/inuse/<hash>),
 * which image_collect orders by. */
#define IMAGE_USE_LABEL_MAX 127
struct image_use;
/* Marks hash as used by label ([A-Za-z0-9._:-]+, e.g. "sandbox:sb-1"). */
int image_use_begin(struct image_store *s, const char *hash, const char *label, struct image_use **ret,
                    struct ak_error *err);
/* Ends the mark (removes it) and frees. NULL: no-op. */
void image_use_end(struct image_use *u);
/* The labels of hash's live marks, newline-separated into buf (truncated to
 * size); returns how many (0: not in use). Stale marks are removed. */
int image_users(struct image_store *s, const char *hash, char *buf, size_t size);
/* When hash was last used (Unix seconds): its newest mark's begin or end,
 * else the image's created_at; 0 when unknown. */
int64_t image_last_used(struct image_store *s, const char *hash);

/* Keeps the store's images under max_bytes (sizes as image_list reports
 * them): removes the least recently used (image_last_used) named images
 * that are not in use and not base, with all their names, until the rest
 * fits or nothing more may go. *ret_removed (may be NULL) counts them. */
int image_collect(struct image_store *s, uint64_t max_bytes, size_t *ret_removed, struct ak_error *err);

/* Removes every image no name points at and no process uses (what a
 * rebuilt name or a removed name left behind), and the debootstrap stages
 * only they were made from. *ret_images (may be NULL) counts them. */
int image_prune(struct image_store *s, size_t *ret_images, struct ak_error *err);

/* Kernel + initrd (+ root disk) for booting name ("base" is built on
 * first use; a rootfs image boots with the base initramfs). */
int image_resolve_boot(struct image_store *s, const char *name, const struct image_progress *p,
                       struct image_boot *ret, struct ak_error *err);

/* 0 if name is a valid image name: [a-z0-9][a-z0-9._-]*, at most
 * IMAGE_NAME_MAX bytes. */
int image_name_check(const char *name);

/* raw made into an image name (for a default name from a source or a
 * reference): lowercased, bytes outside [a-z0-9._-] become '-', leading
 * non-alphanumerics dropped, cut at IMAGE_NAME_MAX. 0, or -EINVAL when
 * nothing usable is left or the result is IMAGE_BASE. */
int image_name_from(const char *raw, char ret[IMAGE_NAME_MAX + 1]);

#ifdef __cplusplus
}
#endif
