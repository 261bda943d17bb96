/* A main() for libFuzzer targets outside --config=fuzz: runs each file named
 * on the command line (or each file of a named directory) through
 * LLVMFuzzerTestOneInput once, so corpora double as regression tests. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);
int main(int argc, char **argv);

static int run_file(const char *path)
{
        struct stat st;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "fuzz: open %s: %s\n", path, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        size_t n = (size_t)st.st_size;
        uint8_t *buf = malloc(n ? n : 1);
        size_t got = 0;
        while (buf && got < n) {
                ssize_t r = read(fd, buf + got, n - got);
                if (r <= 0)
                        break;
                got += (size_t)r;
        }
        close(fd);
        if (!buf || got != n) {
                fprintf(stderr, "fuzz: read %s failed\n", path);
                free(buf);
                return -1;
        }
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
        return 0;
}

static int run_path(const char *path, int *count)
{
        struct stat st;
        if (stat(path, &st) < 0) {
                fprintf(stderr, "fuzz: %s: %s\n", path, strerror(errno));
                return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
                (*count)++;
                return run_file(path);
        }
        DIR *d = opendir(path);
        if (!d)
                return -1;
        struct dirent *de;
        int rc = 0;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char sub[4096];
                snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
                if (run_path(sub, count) < 0)
                        rc = -1;
        }
        closedir(d);
        return rc;
}

int main(int argc, char **argv)
{
        int count = 0, rc = 0;
        if (LLVMFuzzerInitialize)
                LLVMFuzzerInitialize(&argc, &argv);
        /* Always exercise the empty input: parsers must survive it. */
        LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
        for (int i = 1; i < argc; i++)
                if (run_path(argv[i], &count) < 0)
                        rc = 1;
        printf("fuzz corpus: %d inputs ran\n", count);
        return rc;
}
