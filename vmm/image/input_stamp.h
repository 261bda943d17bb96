/* A stat stamp of the files an image's digest is computed from, so that a
 * cache hit costs a few stat(2) calls instead of hashing megabytes
 * (image_base.c keeps one for the base image: <store>/stamps/base).
 *
 * The stamp is a text file in the store. It is read back as outside bytes
 * (the store may be damaged or tampered with): at most INPUT_STAMP_MAX_BYTES,
 * parsed strictly, and anything that does not parse is simply not a stamp
 * (the caller hashes in full). A stamp only ever lets a caller skip work when
 * every file it names still has the same device, inode, size, mtime and
 * ctime; it never says anything about a file it does not name.
 *
 *   ak-input-stamp 1
 *   format <word>               the image format the digest was made for
 *   kernel <word>               the kernel package it was made for
 *   env <sha256>                of the environment that chose the files
 *   hash <sha256>               the digest (the image's store hash)
 *   recorded <ns>               CLOCK_REALTIME when the files were stat'ed
 *   file <role> <dev> <ino> <size> <mtime_ns> <ctime_ns> <path>
 *
 * one `file` line per input, 1 to INPUT_STAMP_MAX_FILES of them; <word> is
 * [A-Za-z0-9._+:~-]+; <role> [a-z]+ (at most 15 bytes); numbers decimal
 * without sign or leading zeros; <path> absolute, the rest of the line (no
 * NUL), shorter than INPUT_STAMP_PATH_MAX. Every line ends with '\n', each
 * key comes once and in this order, nothing else is allowed.
 *
 * Racily clean files (git's problem with its index): a file changed in the
 * same file system timestamp tick as it was stat'ed could change again
 * without moving its times. A file whose ctime is not at least
 * INPUT_STAMP_RACY_NS older than the stamp's `recorded` never matches (ctime
 * cannot be set from user space, unlike mtime), so it is hashed again until
 * a stamp is written safely later. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define INPUT_STAMP_MAGIC "ak-input-stamp 1"
#define INPUT_STAMP_MAX_FILES 48
#define INPUT_STAMP_PATH_MAX 1024
#define INPUT_STAMP_MAX_BYTES (64 * 1024)
#define INPUT_STAMP_RACY_NS ((uint64_t)2 * 1000 * 1000 * 1000)

struct input_stamp_file {
        char role[16];
        char path[INPUT_STAMP_PATH_MAX];
        uint64_t dev, ino, size, mtime_ns, ctime_ns;
};

struct input_stamp {
        char format[32];
        char kernel[160];
        char env[65];
        char hash[65];
        uint64_t recorded_ns;
        struct input_stamp_file files[INPUT_STAMP_MAX_FILES];
        size_t n_files;
};

/* Parses text (len bytes, need not be NUL-terminated) into *ret (written
 * only on success). -EINVAL with err naming the line and what is wrong;
 * -E2BIG beyond INPUT_STAMP_MAX_BYTES or INPUT_STAMP_MAX_FILES. */
int input_stamp_parse(const char *text, size_t len, struct input_stamp *ret, struct ak_error *err);

/* Writes s as text into buf (NUL-terminated): its length, or -E2BIG when it
 * does not fit size, -EINVAL when a field would not parse back. */
int input_stamp_format(const struct input_stamp *s, char *buf, size_t size);

/* Fills *ret from stat(2) of path (following symlinks, as the hashing
 * open(2) does). -errno from stat, -ENAMETOOLONG for a path too long for a
 * stamp, -EINVAL for a role that is not [a-z]+, a relative path, or a file
 * that is not regular or has times before 1970. */
int input_stamp_file_stat(const char *role, const char *path, struct input_stamp_file *ret);

/* Whether the file f names is still the one recorded: stat(2) now gives the
 * same device, inode, size, mtime and ctime, and its ctime is at least
 * INPUT_STAMP_RACY_NS older than recorded_ns. */
bool input_stamp_file_current(const struct input_stamp_file *f, uint64_t recorded_ns);

#ifdef __cplusplus
}
#endif
