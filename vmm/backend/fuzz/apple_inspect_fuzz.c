/* libFuzzer target: `container inspect` output as apple_inspect_state reads
 * it (what the container CLI, or whatever sits at its path, prints). The
 * first byte picks the output buffer size (1..256); the rest is the JSON.
 * The state must come out NUL-terminated, within the buffer, free of
 * control bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/backend/vmm_apple.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        size_t cap = (size_t)data[0] + 1;
        char *buf = malloc(cap);
        if (!buf)
                return 0;
        if (apple_inspect_state((const char *)data + 1, size - 1, buf, cap) == 0) {
                size_t n = strnlen(buf, cap);
                if (n >= cap)
                        abort();
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char)buf[i] < 0x20)
                                abort();
        }
        free(buf);
        return 0;
}
