/* libFuzzer target for bzimage_release (bzimage.h): whatever it accepts is
 * a release of allowed characters that occurs, followed by a space or NUL,
 * at the offset the header names; whatever it refuses says why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/image/bzimage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char release[BZIMAGE_RELEASE_MAX];
        struct ak_error err = { 0 };

        if (bzimage_release(data, size, release, &err) != 0) {
                if (!err.msg[0])
                        abort();
                return 0;
        }
        size_t n = strlen(release);
        if (n == 0 || n >= BZIMAGE_RELEASE_MAX || strchr(release, '/') || strcmp(release, "..") == 0)
                abort();
        size_t at = (size_t)(data[0x20E] | data[0x20F] << 8) + 0x200;
        if (at + n >= size || memcmp(data + at, release, n) != 0 || (data[at + n] != ' ' && data[at + n] != 0))
                abort();
        return 0;
}
