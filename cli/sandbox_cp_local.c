#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/sandbox_cp_local.h"

int sandbox_cp_parse_head(const char *s, size_t n, struct sandbox_cp_head *h, struct ak_error *err)
{
        memset(h, 0, sizeof(*h));
        if (n == 0 || s[n - 1] != '\n' || memchr(s, '\0', n) || memchr(s, '\n', n) != s + n - 1)
                return ak_error_set(err, -EINVAL, "want one line ending in a newline");
        size_t i = 0;
        if (n >= 5 && memcmp(s, "file ", 5) == 0) {
                i = 5;
        } else if (n >= 4 && memcmp(s, "dir ", 4) == 0) {
                h->dir = true;
                i = 4;
        } else {
                return ak_error_set(err, -EINVAL, "want \"file\" or \"dir\" first");
        }
        while (i < n && s[i] == ' ')
                i++;
        size_t d0 = i;
        unsigned long long v = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
                if (i - d0 >= 15)
                        return ak_error_set(err, -EINVAL, "size too long");
                v = v * 10 + (unsigned long long)(s[i] - '0');
        }
        if (i == d0 || i >= n || s[i] != ' ')
                return ak_error_set(err, -EINVAL, "want a decimal size");
        if (v > SANDBOX_CP_MAX_BYTES)
                return ak_error_set(err, -EFBIG, "%llu bytes is more than the %llu GiB copy limit", v,
                                    SANDBOX_CP_MAX_BYTES >> 30);
        h->size = v;
        i++;
        for (int k = 0; k < 64; k++, i++) {
                if (i >= n || !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return ak_error_set(err, -EINVAL, "want 64 lowercase hex digits of SHA-256");
                h->sha256[k] = s[i];
        }
        if (i >= n || s[i] != ' ')
                return ak_error_set(err, -EINVAL, "want a space after the SHA-256");
        i++;
        size_t m0 = i;
        unsigned mode = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '7'; i++) {
                if (i - m0 >= 4)
                        return ak_error_set(err, -EINVAL, "mode too long");
                mode = mode * 8 + (unsigned)(s[i] - '0');
        }
        if (i == m0 || i >= n || s[i] != ' ')
                return ak_error_set(err, -EINVAL, "want an octal mode");
        h->mode = mode;
        i++;
        size_t plen = n - 1 - i;
        if (plen == 0 || s[i] != '/' || plen >= sizeof(h->path))
                return ak_error_set(err, -EINVAL, "want an absolute path of at most %zu bytes", sizeof(h->path) - 1);
        memcpy(h->path, s + i, plen);
        h->path[plen] = 0;
        return 0;
}

/* An entry name that stays inside the target: relative, no ".." part. */
static bool name_inside(const char *name)
{
        if (!name || name[0] == '/')
                return false;
        for (const char *p = name; *p;) {
                size_t n = strcspn(p, "/");
                if (n == 2 && p[0] == '.' && p[1] == '.')
                        return false;
                p += n;
                while (*p == '/')
                        p++;
        }
        return true;
}

static int copy_data(struct archive *in, struct archive *out)
{
        const void *buf;
        size_t len;
        la_int64_t off;
        int r;
        while ((r = archive_read_data_block(in, &buf, &len, &off)) == ARCHIVE_OK)
                if (archive_write_data_block(out, buf, len, off) < ARCHIVE_OK)
                        return ARCHIVE_FAILED;
        return r == ARCHIVE_EOF ? ARCHIVE_OK : r;
}

int sandbox_cp_unpack(int fd, const char *dir, const char *what, struct ak_error *err)
{
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return ak_error_errno(err, -errno, "mkdir %s", dir);
        struct archive *in = archive_read_new(), *out = archive_write_disk_new();
        if (!in || !out) {
                archive_read_free(in);
                archive_write_free(out);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                    ARCHIVE_EXTRACT_SECURE_NODOTDOT;
        /* Names are made absolute below (DIR/NAME) after name_inside has
         * checked them: no SECURE_NOABSOLUTEPATHS. */
        if (geteuid() == 0)
                flags |= ARCHIVE_EXTRACT_OWNER;
        archive_write_disk_set_options(out, flags);
        archive_read_support_format_tar(in);
        int r = 0;
        if (archive_read_open_fd(in, fd, 1 << 16) != ARCHIVE_OK)
                r = ak_error_set(err, -EIO, "reading the archive of %s: %s", what, archive_error_string(in));
        struct archive_entry *e;
        int ar;
        while (r == 0 && (ar = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
                const char *name = archive_entry_pathname(e), *link = archive_entry_hardlink(e);
                if (!name_inside(name) || (link && !name_inside(link))) {
                        r = ak_error_set(err, -EPERM, "the archive of %s has entry \"%.200s\" leaving %s: refused", what,
                                         name ? name : "", dir);
                        break;
                }
                mode_t type = archive_entry_filetype(e);
                if (!link && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
                        r = ak_error_set(err, -EPERM,
                                         "the archive of %s has \"%.200s\", neither a file, a directory nor a "
                                         "symlink (a device or fifo): refused",
                                         what, name);
                        break;
                }
                /* The sandbox does not get to make set-id programs here. */
                archive_entry_set_perm(e, archive_entry_perm(e) & 01777);
                char full[PATH_MAX];
                if (snprintf(full, sizeof(full), "%s/%s", dir, name) >= (int)sizeof(full))
                        r = ak_error_set(err, -ENAMETOOLONG, "%s/%.100s...: path too long", dir, name);
                else
                        archive_entry_copy_pathname(e, full);
                if (r == 0 && link) {
                        if (snprintf(full, sizeof(full), "%s/%s", dir, link) >= (int)sizeof(full))
                                r = ak_error_set(err, -ENAMETOOLONG, "%s/%.100s...: path too long", dir, link);
                        else
                                archive_entry_copy_hardlink(e, full);
                }
                if (r == 0 && (archive_write_header(out, e) < ARCHIVE_WARN || copy_data(in, out) < ARCHIVE_WARN ||
                               archive_write_finish_entry(out) < ARCHIVE_WARN))
                        r = ak_error_set(err, -EIO, "unpacking %s: %s", name, archive_error_string(out));
        }
        if (r == 0 && ar != ARCHIVE_EOF)
                r = ak_error_set(err, -EIO, "reading the archive of %s: %s", what, archive_error_string(in));
        if (archive_write_close(out) != ARCHIVE_OK && r == 0)
                r = ak_error_set(err, -EIO, "unpacking into %s: %s", dir, archive_error_string(out));
        archive_read_free(in);
        archive_write_free(out);
        return r;
}

