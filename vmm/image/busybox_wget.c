/* Debian's busybox-static (bookworm, 1:1.35.0-4) is configured without
 * FEATURE_WGET_TIMEOUT, yet its wget still hands getopt32 the integer
 * option "-T SEC" with no place to store it (NULL): `wget -T 5 URL` writes
 * through NULL and dies with SIGSEGV while parsing its arguments, before
 * any name lookup. (Name resolution itself works: static glibc 2.34+ has
 * the files and dns NSS back-ends built in and reads /etc/hosts and
 * /etc/resolv.conf without loading anything; tests/security:net_test
 * checks both.) A wrapper script cannot catch it: busybox sh runs its own
 * applets before looking in PATH. So the packed copy's wget option string
 * names that option with a byte no command line uses, and `-T` becomes an
 * invalid option answered with busybox's usage text and exit status 1,
 * as this build's own `wget --help` (which lists no -T) says it should.
 * One byte, only at the one exact match, only in a build whose wget lacks
 * -T; any other busybox is packed unchanged. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "lib/base/proc.h"
#include "vmm/image/busybox_wget.h"

/* wget's getopt32 spec in busybox 1.35, with its terminating NUL (the
 * complementary "-1" follows). The 'T' is at WGET_T_AT. */
static const char wget_opts[] = "cqSO:o:P:Y:U:T:+t:n::";
#define WGET_T_AT 13
#define MAX_BUSYBOX (16u << 20)

int busybox_wget_patch(char *bin, size_t len, bool wget_has_timeout)
{
        const size_t n = sizeof(wget_opts); /* with the NUL */
        char *hit = NULL;

        if (wget_has_timeout)
                return 0;
        for (char *p = bin; (size_t)(p - bin) + n <= len; p++) {
                p = memchr(p, 'c', len - (size_t)(p - bin) - n + 1);
                if (!p)
                        break;
                if (memcmp(p, wget_opts, n) != 0)
                        continue;
                if (hit)
                        return -EEXIST; /* twice: not the layout we know */
                hit = p;
        }
        if (!hit)
                return 0;
        hit[WGET_T_AT] = '\001';
        return 1;
}

int busybox_read_for_image(const char *path, char **ret, size_t *ret_len, struct ak_error *err)
{
        const char *argv[] = { path, "wget", "--help", NULL };
        struct proc_opts o = { .argv = argv, .timeout_ms = 30000 };
        char *out = NULL;
        struct stat st;
        int status, r;

        if ((r = proc_run(&o, &status, &out, err)) < 0)
                return ak_error_wrap(err, "%s wget --help", path);
        bool has_timeout = out && strstr(out, "-T SEC") != NULL;
        free(out);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "read %s", path);
        if (st.st_size <= 0 || (uint64_t)st.st_size > MAX_BUSYBOX)
                return ak_error_set(err, -EFBIG, "%s: %lld bytes is not a busybox binary (at most %u)", path,
                                    (long long)st.st_size, MAX_BUSYBOX);
        size_t len = (size_t)st.st_size;
        char *bin = malloc(len);
        if (!bin)
                return ak_error_set(err, -ENOMEM, "out of memory");
        ssize_t got = ak_read_full(fd, bin, len);
        if (got != (ssize_t)len) {
                free(bin);
                return ak_error_errno(err, got < 0 ? (int)got : -EIO, "read %s", path);
        }
        if ((r = busybox_wget_patch(bin, len, has_timeout)) < 0) {
                free(bin);
                return ak_error_set(err, r, "%s: wget's option string appears twice; an unknown busybox build "
                                    "(install Debian's busybox-static)", path);
        }
        *ret = bin;
        *ret_len = len;
        return 0;
}
