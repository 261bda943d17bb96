/* libFuzzer target for applying a hostile layer: the input is the layer
 * blob (tar, or gzip/zstd of one), applied into a scratch root under a
 * fresh directory with a small budget. Whatever it holds, nothing may appear
 * outside the root (a sibling canary directory stays empty) and the call
 * must return (0 or an error with words). Digests are not checked (NULL),
 * so the fuzzer reaches the entries. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/base/fs.h"
#include "vmm/image/oci_layer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64];

static void remove_base(void)
{
        ak_rm_rf(base);
}

static int count(const char *dir)
{
        DIR *d = opendir(dir);
        int n = 0;
        if (!d)
                return -1;
        for (struct dirent *de; (de = readdir(d));)
                n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
        closedir(d);
        return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char root[128], canary[128];
        struct ak_error err = { 0 };

        if (!base[0]) {
                snprintf(base, sizeof(base), "/tmp/ak-layer-fuzz.XXXXXX");
                if (!mkdtemp(base))
                        abort();
                atexit(remove_base);
        }
        snprintf(root, sizeof(root), "%s/a/root", base);
        snprintf(canary, sizeof(canary), "%s/a/canary", base);
        ak_mkdir_p(root, 0755, false);
        ak_mkdir_p(canary, 0755, false);
        int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int fd = memfd_create("layer", MFD_CLOEXEC);
        if (rootfd < 0 || fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0)
                abort();
        struct oci_layer_budget budget = { .max_bytes = 1 << 20, .max_entries = 256 };
        int r = oci_layer_apply(rootfd, fd, NULL, size, NULL, &budget, &err);
        if (r < 0 && !err.msg[0])
                abort();
        if (count(canary) != 0 || count(base) != 1)
                abort(); /* something escaped the root */
        close(fd);
        close(rootfd);
        char a[128];
        snprintf(a, sizeof(a), "%s/a", base);
        ak_rm_rf(a);
        return 0;
}
