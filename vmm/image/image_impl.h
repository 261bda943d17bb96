/* The image store's insides, shared by image_store.c, image_kernel.c,
 * image_base.c and image_rootfs.c. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm/image/image.h"

/* The store's path is at most this long, so that every path built under it
 * (fixed suffixes, hashes, kernel releases) fits PATH_MAX. */
#define IMAGE_STORE_DIR_MAX 2048

struct image_store {
        char dir[PATH_MAX];
        char guest_bin[PATH_MAX];
};

void image_report(const struct image_progress *p, const char *phase, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* SHA-256 of a file's contents as hex. */
int image_hash_file(const char *path, char ret_hex[IMAGE_HASH_LEN + 1], struct ak_error *err);
/* How many files image_hash_file has opened for hashing in this process
 * (thread-safe): lets tests see that a stamp hit hashed nothing. */
uint64_t image_hash_file_count(void);
/* SHA-256 of a string as hex. */
int image_hash_text(const char *text, char ret_hex[IMAGE_HASH_LEN + 1], struct ak_error *err);

/* mkdtemp under <store>/tmp. */
int image_tmpdir(struct image_store *s, char ret[PATH_MAX], struct ak_error *err);
/* Copies a regular file (mode kept). */
int image_copy_file(const char *src, const char *dst, struct ak_error *err);
/* An exclusive flock on path (created); returns the fd. */
int image_lock(const char *path, int *ret_fd, struct ak_error *err);

/* The guest agent binary to build with. */
int image_guest_binary(struct image_store *s, const char **ret, struct ak_error *err);

/* Writes <dir>/manifest.json for info. */
int image_manifest_write(const char *dir, const struct image_info *info, struct ak_error *err);
/* Reads <store>/<hash>/manifest.json. -ENOENT when the image is not there. */
int image_manifest_read(struct image_store *s, const char *hash, struct image_info *ret, struct ak_error *err);
/* The hash a name points at: 0, -ENOENT, -EINVAL for a corrupt entry. */
int image_name_get(struct image_store *s, const char *name, char hash[IMAGE_HASH_LEN + 1]);
/* Points name at hash (atomically). */
int image_name_set(struct image_store *s, const char *name, const char *hash, struct ak_error *err);

/* Image keys (image_ref.c): a name's entry as image_name_get, a reference's
 * as names/@<sha256 of the normalized reference>. image_key_get: 0,
 * -ENOENT, -EINVAL (a bad key or entry); ret_key (may be NULL) the name or
 * normalized reference. */
int image_key_get(struct image_store *s, const char *key, char hash[IMAGE_HASH_LEN + 1],
                  char ret_key[IMAGE_REF_MAX]);
int image_key_set(struct image_store *s, const char *key, const char *hash, struct ak_error *err);
/* The names/ file of a key (to remove it). */
int image_key_path(struct image_store *s, const char *key, char ret[PATH_MAX]);
/* Reads the entry names/<file> found by a directory listing: its hash and
 * key; -EINVAL for anything that is not a valid entry. */
int image_names_entry(struct image_store *s, const char *file, char hash[IMAGE_HASH_LEN + 1],
                      char ret_key[IMAGE_REF_MAX]);
/* Writes path through a temporary file, fsync and rename. */
int image_write_file_atomic(const char *path, const void *data, size_t len, struct ak_error *err);

/* Moves a finished temporary image dir to <store>/<hash>. A concurrent
 * builder that won the race is fine (ours is removed). */
int image_publish(struct image_store *s, const char *tmpdir, const char *hash, struct ak_error *err);

/* Removes images no name points at any more (a name was rebuilt with a
 * newer ak-guest) once they are older than min_age_s, and a debootstrap
 * stage with them when no image is left that was made from it. */
void image_gc(struct image_store *s, int64_t min_age_s);
/* image_gc's work, counting what it removed. */
size_t image_gc_count(struct image_store *s, int64_t min_age_s);

/* Packs the tree at root into a new ext4 file with `mkfs.ext4 -d` (owners,
 * modes, xattrs, devices as in the tree; root dir owned 0:0), sized for the
 * contents plus headroom for what the guest writes. */
int image_mkfs_ext4(const char *root, const char *file, const struct image_progress *p, struct ak_error *err);
/* The root directory of an ext4 image file gets this owner and mode
 * (mkfs.ext4 -d makes it 0755 root:root whatever the tree's root is). */
int image_ext4_root_attrs(const char *file, uid_t uid, gid_t gid, mode_t mode, struct ak_error *err);
/* -ENOSPC (with words) unless IMAGE_ROOTFS_MIN_FREE is free under dir. */
int image_check_space(const char *dir, struct ak_error *err);

/* The release file's optional third line for a kernel that boots without
 * ACPI (image_kernel.no_acpi). */
#define IMAGE_KERNEL_NO_ACPI "acpi=off"
/* The entry name of a kernel image_kernel_install stored (image_kernel.ak_built). */
#define IMAGE_KERNEL_AK_PREFIX "ak-guest-"
/* Reads <store>/kernel/<entry> ("<release>\n<package>\n[acpi=off\n]" in
 * its release file, vmlinuz, modules.dep): -ENOENT when incomplete. */
int image_kernel_load(struct image_store *s, const char *entry, struct image_kernel *ret);
/* Points <store>/kernel/current at entry (atomically). */
int image_kernel_set_current(struct image_store *s, const char *entry, struct ak_error *err);

/* Whether a command output says the disk is full. */
bool image_output_disk_full(const char *output);
