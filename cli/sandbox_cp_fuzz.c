/* libFuzzer: what a sandbox sends `ak sandbox cp` on the client. The first
 * byte picks: even, the copy-out head line; odd, the rest as a directory's
 * tar unpacked into a fresh temp directory (removed after each input). */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/sandbox_cp_local.h"
#include "lib/base/fs.h"
#include "lib/base/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        struct ak_error err = { 0 };
        if ((data[0] & 1) == 0) {
                struct sandbox_cp_head h;
                sandbox_cp_parse_head((const char *)data + 1, size - 1, &h, &err);
                return 0;
        }
        int fd = memfd_create("fuzz.tar", MFD_CLOEXEC);
        char dir[] = "/tmp/akcpf.XXXXXX";
        if (fd < 0 || !mkdtemp(dir))
                abort();
        if (ak_write_full(fd, data + 1, size - 1) < 0 || lseek(fd, 0, SEEK_SET) < 0)
                abort();
        char out[sizeof(dir) + 4];
        memcpy(out, dir, sizeof(dir) - 1);
        memcpy(out + sizeof(dir) - 1, "/out", 5);
        sandbox_cp_unpack(fd, out, "fuzz", &err);
        close(fd);
        ak_rm_rf(dir);
        return 0;
}
