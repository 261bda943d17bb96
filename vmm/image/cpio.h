/* A cpio "newc" archive writer (the format the Linux kernel unpacks as an
 * initramfs). Entries are written in the order given, with mtime 0, uid 0
 * and gid 0, so the same inputs give the same bytes. Device nodes can be
 * written without privileges (unlike mknod + cpio).
 *
 * Errors are sticky: after the first failure every call is a no-op and
 * cpio_finish returns it. Not thread-safe. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cpio;

/* Writes to fd (not closed by the writer). */
int cpio_new(int fd, struct cpio **ret);
/* Frees the writer (without finishing). NULL is a no-op. */
void cpio_free(struct cpio *w);

/* path is relative to the archive root ("bin/sh"), at most 4095 bytes,
 * without "." or ".." components. Parents must come first. */
void cpio_add_dir(struct cpio *w, const char *path, mode_t perm);
void cpio_add_data(struct cpio *w, const char *path, mode_t perm, const void *data, size_t len);
/* Copies the contents of the file at src (at most 1 GiB). */
void cpio_add_file(struct cpio *w, const char *path, mode_t perm, const char *src);
void cpio_add_symlink(struct cpio *w, const char *path, const char *target);
void cpio_add_chardev(struct cpio *w, const char *path, mode_t perm, unsigned major, unsigned minor);

/* Writes the trailer. Returns 0 or the first error (-errno; -EINVAL for a
 * bad path, -EFBIG for a file too large). */
int cpio_finish(struct cpio *w);

/* Bytes written so far. */
uint64_t cpio_size(const struct cpio *w);

#ifdef __cplusplus
}
#endif
