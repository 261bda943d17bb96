/* The manifest of an image seed directory (image_seed.c): what a node can be
 * pre-seeded with so that it never fetches the guest kernel. A text file,
 * DIR/ak-image-seed, written by image_seed_export and read back from a
 * directory that may have been copied, baked into a container image or
 * tampered with, so it is parsed as outside bytes:
 *
 *   ak-image-seed 1
 *   kernel <entry>              the kernel's directory name in the store
 *                               ("linux-image-6.1.0-57-cloud-amd64_6.1.192-3")
 *   base <hash>                 the base image's store hash (optional)
 *   file <sha256> <size> <mode> <path>     one line per file
 *
 * <path> is relative to DIR and lies under kernel/<entry>/ or
 * images/<hash>/; components are [A-Za-z0-9._+-]+, never "." or "..";
 * mode is octal, at most 0777. Nothing else is allowed (no symlinks, no
 * devices): a seed is only regular files, each checked by its sha256. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SEED_MANIFEST_FILE "ak-image-seed"
#define SEED_MANIFEST_MAGIC "ak-image-seed 1"
#define SEED_MAX_FILES 8192
#define SEED_MAX_PATH 512
#define SEED_MAX_MANIFEST (4u << 20)
#define SEED_MAX_FILE_SIZE ((uint64_t)4 << 30)

struct seed_file {
        char sha256[65];
        uint64_t size;
        unsigned mode;
        char path[SEED_MAX_PATH];
};

struct seed_manifest {
        char kernel[160];
        char base[65];          /* "" when the seed has no base image */
        struct seed_file *files;
        size_t n_files;
};

/* Parses text (len bytes, need not be NUL-terminated). Errors name the line
 * and what is wrong with it. */
int seed_manifest_parse(const char *text, size_t len, struct seed_manifest **ret, struct ak_error *err);
void seed_manifest_free(struct seed_manifest *m);

/* 0 when entry is a valid kernel directory name: [A-Za-z0-9._+-]+, not "."
 * "..", or "current", shorter than 160. */
int seed_kernel_entry_check(const char *entry);

#ifdef __cplusplus
}
#endif
