/* libFuzzer target for installing a hostile disk layer (image_disk.h): the
 * input's first byte picks a declared disk size (0: none), the rest is the
 * layer (a zstd stream, or anything). Digests are not checked (NULL), so the
 * fuzzer reaches the decompressor. Whatever it holds, the call returns 0 or
 * an error with words, and a disk it accepts is no larger than the limits
 * and exactly as long as it says. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/image/image_disk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_DISK ((uint64_t)8 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ak_error err = { 0 };
        if (size < 1)
                return 0;
        int in = memfd_create("layer", MFD_CLOEXEC), out = memfd_create("disk", MFD_CLOEXEC);
        if (in < 0 || out < 0 || write(in, data + 1, size - 1) != (ssize_t)(size - 1) || lseek(in, 0, SEEK_SET) != 0)
                abort();
        struct image_disk_expect x = {
                .layer_size = data[0] & 1 ? size - 1 : UINT64_MAX,
                .disk_size = (uint64_t)(data[0] >> 1) * 4096,
                .max_bytes = FUZZ_MAX_DISK,
        };
        uint64_t got = 0;
        int r = image_disk_install(in, &x, out, &got, &err);
        struct stat st;
        if (r < 0 && !err.msg[0])
                abort();
        if (r == 0 && (fstat(out, &st) < 0 || (uint64_t)st.st_size != got || got > FUZZ_MAX_DISK ||
                       (x.disk_size && got != x.disk_size) || got == 0))
                abort();
        close(in);
        close(out);
        return 0;
}
