#include "vmm/image/bzimage.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define BOOT_FLAG_OFF 0x1FE
#define HEADER_OFF 0x202
#define VERSION_OFF 0x206
#define KERNEL_VERSION_OFF 0x20E
/* The boot protocol that added kernel_version. */
#define PROTOCOL_MIN 0x200

static unsigned le16(const uint8_t *p)
{
        return (unsigned)p[0] | (unsigned)p[1] << 8;
}

int bzimage_release(const void *buf, size_t len, char ret[BZIMAGE_RELEASE_MAX], struct ak_error *err)
{
        const uint8_t *b = buf;

        if (len < KERNEL_VERSION_OFF + 2)
                return ak_error_set(err, -EINVAL, "%zu bytes: too short for a Linux x86 boot header: not a bzImage",
                                    len);
        if (le16(b + BOOT_FLAG_OFF) != 0xAA55 || memcmp(b + HEADER_OFF, "HdrS", 4) != 0)
                return ak_error_set(err, -EINVAL, "not a bzImage (no boot flag 0xAA55 and \"HdrS\" "
                                                  "header): give a bzImage (arch/x86/boot/bzImage)");
        unsigned version = le16(b + VERSION_OFF);
        if (version < PROTOCOL_MIN)
                return ak_error_set(err, -EINVAL, "boot protocol %u.%02u is older than 2.00: no version string",
                                    version >> 8, version & 0xff);
        unsigned kv = le16(b + KERNEL_VERSION_OFF);
        if (kv == 0)
                return ak_error_set(err, -EINVAL, "the boot header has no version string (kernel_version is 0)");
        size_t at = (size_t)kv + 0x200;
        if (at >= len || at >= BZIMAGE_SETUP_MAX)
                return ak_error_set(err, -EINVAL, "the version string's offset 0x%zx lies beyond the setup code "
                                                  "(%zu bytes read)", at, len);
        size_t room = len - at < BZIMAGE_VERSION_MAX ? len - at : BZIMAGE_VERSION_MAX;
        const char *s = (const char *)b + at;
        if (!memchr(s, 0, room))
                return ak_error_set(err, -EINVAL, "the version string at 0x%zx has no end within %zu bytes", at,
                                    room);
        size_t n = strcspn(s, " ");
        if (n == 0 || n >= BZIMAGE_RELEASE_MAX)
                return ak_error_set(err, -EINVAL, "the version string at 0x%zx starts with a release of %zu bytes "
                                                  "(1..%d allowed)", at, n, BZIMAGE_RELEASE_MAX - 1);
        static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+~-";
        if (strspn(s, ok) < n || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                return ak_error_set(err, -EINVAL, "the release in the version string at 0x%zx has characters "
                                                  "other than [A-Za-z0-9._+~-]", at);
        memcpy(ret, s, n);
        ret[n] = 0;
        return 0;
}
