/* The busybox that goes into the base initramfs, with the one fix Debian's
 * build needs (busybox_wget.c says why). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* In bin[0..len), if wget_has_timeout is false: the one exact copy of
 * busybox 1.35's wget option string gets its "-T" renamed to byte 1, so -T
 * is an invalid option instead of a write through NULL. Returns 1 if
 * patched, 0 if there was nothing to patch (another build, or one whose
 * wget has -T), -EEXIST if the string appears more than once (bin is then
 * unchanged). */
int busybox_wget_patch(char *bin, size_t len, bool wget_has_timeout);

/* Reads the busybox binary at path (at most 16 MiB), asks it whether its
 * wget has -T (`path wget --help`), and applies busybox_wget_patch. On
 * success *ret (malloc'd, caller frees) holds *ret_len bytes. */
int busybox_read_for_image(const char *path, char **ret, size_t *ret_len, struct ak_error *err);

#ifdef __cplusplus
}
#endif
