/* User resolution against the image's passwd and group files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "vmm/image/oci_user.h"

#define ETC_FILE_MAX (4u << 20)

int oci_parse_id(const char *s, size_t n, int64_t *ret)
{
        int64_t v = 0;
        if (n == 0 || n > 5)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (s[i] - '0');
        }
        if (v > OCI_ID_MAX)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* The fields of one line split at ':' (at most max); returns how many. */
static size_t split(const char *line, size_t n, const char **f, size_t *fl, size_t max)
{
        size_t k = 0;
        const char *p = line, *end = line + n;
        while (k < max) {
                const char *c = memchr(p, ':', (size_t)(end - p));
                f[k] = p;
                fl[k] = c ? (size_t)(c - p) : (size_t)(end - p);
                k++;
                if (!c)
                        break;
                p = c + 1;
        }
        return k;
}

static int lookup(const char *text, size_t len, const char *key, int key_field, int nfields, int64_t *v1,
                  int64_t *v2, int f1, int f2)
{
        size_t klen = strlen(key);
        for (size_t off = 0; off < len;) {
                const char *nl = memchr(text + off, '\n', len - off);
                size_t n = nl ? (size_t)(nl - (text + off)) : len - off;
                const char *f[7];
                size_t fl[7];
                size_t k = split(text + off, n, f, fl, 7);
                off += n + 1;
                int64_t a, b = 0;
                if ((int)k < nfields || fl[key_field] != klen || memcmp(f[key_field], key, klen) != 0)
                        continue;
                if (oci_parse_id(f[f1], fl[f1], &a) < 0 || (f2 >= 0 && oci_parse_id(f[f2], fl[f2], &b) < 0))
                        continue;
                *v1 = a;
                if (v2)
                        *v2 = b;
                return 0;
        }
        return -ENOENT;
}

int oci_passwd_lookup(const char *text, size_t len, const char *key, int by_uid, int64_t *ret_uid,
                      int64_t *ret_gid)
{
        return lookup(text, len, key, by_uid ? 2 : 0, 4, ret_uid, ret_gid, 2, 3);
}

int oci_group_lookup(const char *text, size_t len, const char *name, int64_t *ret_gid)
{
        return lookup(text, len, name, 0, 3, ret_gid, NULL, 2, -1);
}

/* etc/<name> under rootfd, no symlink followed, at most ETC_FILE_MAX:
 * malloc'ed text, or NULL with *ret_len 0 when it is not there. */
static int read_etc(int rootfd, const char *name, char **ret, size_t *ret_len)
{
        *ret = NULL;
        *ret_len = 0;
        _cleanup_close_ int etc = openat(rootfd, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (etc < 0)
                return errno == ENOENT || errno == ELOOP || errno == ENOTDIR ? 0 : -errno;
        _cleanup_close_ int fd = openat(etc, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT || errno == ELOOP ? 0 : -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > ETC_FILE_MAX)
                return 0;
        char *buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        size_t len = 0;
        while (len < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

int oci_user_resolve(int rootfd, const char *user, char ret[32], struct ak_error *err)
{
        char u[128];
        const char *colon = strchr(user, ':');
        size_t un = colon ? (size_t)(colon - user) : strlen(user);
        if (un == 0 || un >= sizeof(u) || (colon && !colon[1]))
                return ak_error_set(err, -EINVAL, "User \"%.100s\": want USER[:GROUP]", user);
        memcpy(u, user, un);
        u[un] = 0;
        const char *group = colon ? colon + 1 : NULL;
        _cleanup_free_ char *pw = NULL, *gr = NULL;
        size_t pwn, grn;
        int r;
        if ((r = read_etc(rootfd, "passwd", &pw, &pwn)) < 0 || (r = read_etc(rootfd, "group", &gr, &grn)) < 0)
                return ak_error_errno(err, r, "read the image's /etc/passwd or /etc/group");
        int64_t uid, gid = 0, pgid;
        if (oci_parse_id(u, un, &uid) == 0) {
                /* A number: its passwd entry's group, else 0 (docker). */
                if (oci_passwd_lookup(pw ? pw : "", pwn, u, 1, &uid, &pgid) == 0)
                        gid = pgid;
        } else if (oci_passwd_lookup(pw ? pw : "", pwn, u, 0, &uid, &gid) < 0) {
                return ak_error_set(err, -ENOENT, "User \"%s\": no such user in the image's /etc/passwd", u);
        }
        if (group && oci_parse_id(group, strlen(group), &gid) < 0 && oci_group_lookup(gr ? gr : "", grn, group, &gid) < 0)
                return ak_error_set(err, -ENOENT, "User \"%.100s\": no group \"%.64s\" in the image's /etc/group",
                                    user, group);
        snprintf(ret, 32, "%lld:%lld", (long long)uid, (long long)gid);
        return 0;
}
