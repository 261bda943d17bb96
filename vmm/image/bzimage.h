/* The release of a Linux x86 kernel image (bzImage), read from its setup
 * header as the boot protocol defines it (Documentation/x86/boot.rst):
 * boot_flag 0xAA55 at 0x1FE, "HdrS" at 0x202, the protocol version at
 * 0x206, and at 0x20E the offset (minus 0x200) of a NUL-terminated version
 * string, "6.1.192 (user@host) #1 SMP ...", whose first word is the
 * release (`uname -r`). The image is outside bytes (a file a user names),
 * so every offset is checked against len. */
#pragma once

#include <stddef.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A release is at most this long, with its NUL (struct image_kernel's). */
#define BZIMAGE_RELEASE_MAX 64
/* How far into the image the version string may lie: it is in the setup
 * code, which is at most 64 sectors of 512 bytes. */
#define BZIMAGE_SETUP_MAX 0x8000
/* The longest version string read. */
#define BZIMAGE_VERSION_MAX 512

/* Reads the release from the first len bytes of an image (len may be less
 * than the file: BZIMAGE_SETUP_MAX is enough). The release is
 * [A-Za-z0-9._+~-]+, not "." or "..". -EINVAL, with err saying what is
 * wrong, for anything else. */
int bzimage_release(const void *buf, size_t len, char ret[BZIMAGE_RELEASE_MAX], struct ak_error *err);

#ifdef __cplusplus
}
#endif
