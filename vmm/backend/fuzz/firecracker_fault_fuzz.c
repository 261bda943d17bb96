/* libFuzzer target: Firecracker API answers as fc_fault_message reads them
 * (what a VMM, or something on its socket, sends back). The first byte
 * picks the output buffer size (1..256); the rest is the body. The message
 * must come out NUL-terminated, within the buffer, free of control bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/backend/vmm_firecracker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        size_t cap = (size_t)data[0] + 1;
        char *buf = malloc(cap);
        if (!buf)
                return 0;
        if (fc_fault_message((const char *)data + 1, size - 1, buf, cap) == 0) {
                size_t n = strnlen(buf, cap);
                if (n >= cap)
                        abort();
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char)buf[i] < 0x20 && buf[i] != '\t')
                                abort();
        }
        free(buf);
        return 0;
}
