/* One layer, one pass: the blob is read once; its bytes are hashed (the
 * blob digest), decompressed by an outer libarchive reader in raw format
 * whose output is hashed (the diff_id) and fed to an inner tar reader.
 *
 * A tar stream that ends right after an entry's data, without the data's
 * padding to 512 bytes or the end-of-archive blocks, is whole: Go's
 * archive/tar (docker, containerd) reads it so, and `umoci insert` writes
 * such layers. libarchive wants the padding, so the stream is given zeros
 * up to the next 512-byte boundary after its end (not hashed), and a layer
 * whose last entry's data reaches into those zeros is refused as truncated. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "lib/crypto/crypto.h"
#include "vmm/image/oci_layer.h"
#include "vmm/image/oci_pathset.h"

#define BUF_SIZE (128 * 1024)

struct layer_read {
        int fd;
        uint64_t blob_bytes;
        uint64_t blob_limit; /* the size the manifest gives */
        struct crypto_sha256 *blob_hash;
        struct crypto_sha256 *diff_hash;
        struct archive *outer;
        uint64_t tar_bytes; /* what the layer's tar stream really has */
        bool ended, padded;
        char in[BUF_SIZE];
        char out[BUF_SIZE];
        char why[256]; /* a read error of ours, not libarchive's */
};

static ssize_t blob_read_cb(struct archive *a, void *data, const void **buf)
{
        struct layer_read *l = data;
        (void)a;
        for (;;) {
                ssize_t n = read(l->fd, l->in, sizeof(l->in));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        snprintf(l->why, sizeof(l->why), "read blob: %s", strerror(errno));
                        return -1;
                }
                crypto_sha256_update(l->blob_hash, l->in, (size_t)n);
                l->blob_bytes += (uint64_t)n;
                if (l->blob_bytes > l->blob_limit) {
                        snprintf(l->why, sizeof(l->why), "blob longer than the %llu bytes the manifest gives",
                                 (unsigned long long)l->blob_limit);
                        return -1;
                }
                *buf = l->in;
                return n;
        }
}

static ssize_t tar_read_cb(struct archive *a, void *data, const void **buf)
{
        static const char zeros[512];
        struct layer_read *l = data;
        (void)a;
        if (l->ended)
                return 0;
        la_ssize_t n = archive_read_data(l->outer, l->out, sizeof(l->out));
        if (n < 0) {
                snprintf(l->why, sizeof(l->why), "decompress: %s", archive_error_string(l->outer));
                return -1;
        }
        if (n == 0) {
                l->ended = true;
                if (l->tar_bytes % 512) {
                        l->padded = true;
                        *buf = zeros;
                        return (ssize_t)(512 - l->tar_bytes % 512);
                }
                return 0;
        }
        crypto_sha256_update(l->diff_hash, l->out, (size_t)n);
        l->tar_bytes += (uint64_t)n;
        *buf = l->out;
        return n;
}

static int open_beneath(int dirfd, const char *path, int flags, int *ret)
{
        struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC),
                                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
        int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
        if (fd < 0)
                return -errno;
        *ret = fd;
        return 0;
}

/* Removes name under dirfd, a directory with everything in it. */
static int remove_at(int parent, const char *name)
{
        if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
                return 0;
        if (errno != EISDIR && errno != EPERM)
                return -errno;
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        struct dirent *de;
        int r = 0;
        while (r == 0 && (de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        r = remove_at(fd, de->d_name);
        closedir(d);
        if (r == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0)
                r = -errno;
        return r;
}

/* An opaque directory: everything in it that this layer did not put there
 * goes (inside kept subdirectories too). prefix is its path, "" for the root. */
static int make_opaque(int dir, const char *prefix, const struct oci_pathset *set)
{
        int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        struct dirent *de;
        int r = 0;
        char path[PATH_MAX];
        while (r == 0 && (de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if ((size_t)snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "/" : "", de->d_name) >= sizeof(path))
                        r = -ENAMETOOLONG;
                else if (!oci_pathset_has(set, path))
                        r = remove_at(fd, de->d_name);
                else if (de->d_type == DT_DIR) {
                        int sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                r = -errno;
                        else {
                                r = make_opaque(sub, path, set);
                                close(sub);
                        }
                }
        }
        closedir(d);
        return r;
}

/* "/", "./", ".", "//.": the root itself (an entry `umoci insert DIR /`
 * and docker's own exports write for the root's mode and owner). */
static bool is_root_name(const char *name)
{
        if (!name[0])
                return false;
        for (const char *s = name; *s; s++)
                if (*s != '/' && !(*s == '.' && (s == name || s[-1] == '/') && (s[1] == '/' || !s[1])))
                        return false;
        return true;
}

/* "./a//b/" -> "a/b"; -EINVAL for absolute names and "..". */
static int clean_path(const char *in, char *out, size_t size)
{
        size_t used = 0;
        if (in[0] == '/')
                return -EINVAL;
        for (const char *s = in; *s;) {
                const char *e = strchr(s, '/');
                size_t n = e ? (size_t)(e - s) : strlen(s);
                if (n == 2 && s[0] == '.' && s[1] == '.')
                        return -EINVAL;
                if (n && !(n == 1 && s[0] == '.')) {
                        if (used + n + 2 > size)
                                return -ENAMETOOLONG;
                        if (used)
                                out[used++] = '/';
                        memcpy(out + used, s, n);
                        used += n;
                }
                s += n + (e ? 1 : 0);
        }
        out[used] = 0;
        return 0;
}

/* Opens the parent directory of path (creating missing ones 0755, as
 * docker does) beneath rootfd; *ret_base points at the last component.
 * Each missing directory is made under its parent as opened beneath the
 * root, so no name is ever resolved outside it. */
static int open_parent(int rootfd, char *path, int *ret_fd, const char **ret_base)
{
        char *slash = strrchr(path, '/');
        int fd = -1, prev, r;
        if (!slash) {
                if ((fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3)) < 0)
                        return -errno;
                *ret_fd = fd;
                *ret_base = path;
                return 0;
        }
        *slash = 0;
        r = open_beneath(rootfd, path, O_PATH | O_DIRECTORY, &fd);
        if (r == -ENOENT) {
                if ((prev = fcntl(rootfd, F_DUPFD_CLOEXEC, 3)) < 0)
                        r = -errno;
                for (char *p = path; r == -ENOENT;) {
                        char *next = strchr(p, '/');
                        if (next)
                                *next = 0;
                        r = open_beneath(rootfd, path, O_PATH | O_DIRECTORY, &fd);
                        if (r == -ENOENT) {
                                if (mkdirat(prev, p, 0755) < 0 && errno != EEXIST)
                                        r = -errno;
                                else
                                        r = open_beneath(rootfd, path, O_PATH | O_DIRECTORY, &fd);
                        }
                        if (next)
                                *next = '/';
                        close(prev);
                        prev = fd;
                        if (r < 0 || !next)
                                break;
                        p = next + 1;
                        r = -ENOENT;
                }
        }
        *slash = '/';
        if (r < 0)
                return r;
        *ret_fd = fd;
        *ret_base = slash + 1;
        return 0;
}

static int write_contents(struct archive *tar, int fd, int64_t size)
{
        const void *buf;
        size_t len;
        la_int64_t off;
        int r;
        while ((r = archive_read_data_block(tar, &buf, &len, &off)) == ARCHIVE_OK) {
                if (off < 0 || (uint64_t)off + len > (uint64_t)size)
                        return -EINVAL;
                for (size_t done = 0; done < len;) {
                        ssize_t w = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0)
                                return -errno;
                        done += (size_t)w;
                }
        }
        if (r != ARCHIVE_EOF)
                return -EIO;
        return ftruncate(fd, size) < 0 ? -errno : 0; /* sparse tails */
}

static int set_xattrs(struct archive_entry *e, int parent, const char *base)
{
        const char *name;
        const void *value;
        size_t size;
        char path[64 + NAME_MAX];
        snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", parent, base);
        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
                if (lsetxattr(path, name, value, size, 0) < 0)
                        return -errno;
        return 0;
}

struct entry_ctx {
        int rootfd;
        uint64_t data_end; /* where the last regular file's data ends in the tar stream */
        char data_name[128]; /* which file that is (for the error) */
        struct archive *tar;
        struct oci_layer_budget *budget;
        struct oci_pathset *set;
        bool plain; /* an archive of files, not a layer: no owners, whiteouts or devices */
        struct ak_error *err;
};

/* Names as bytes, whatever the process's locale: libarchive's locale form
 * when it has one, else the UTF-8 a pax header carried (what docker wrote to
 * disk). NULL when the entry has none. */
static const char *name_pathname(struct archive_entry *e)
{
        const char *n = archive_entry_pathname(e);
        return n ? n : archive_entry_pathname_utf8(e);
}

static const char *name_hardlink(struct archive_entry *e)
{
        const char *n = archive_entry_hardlink(e);
        return n ? n : archive_entry_hardlink_utf8(e);
}

static const char *name_symlink(struct archive_entry *e)
{
        const char *n = archive_entry_symlink(e);
        return n ? n : archive_entry_symlink_utf8(e);
}

/* The root entry: its owner, mode, xattrs and time on the root directory
 * (what it is cannot change: only a directory is accepted). An archive of
 * files (plain) keeps the directory it is unpacked into as it is. */
static int apply_root(struct entry_ctx *c, struct archive_entry *e, const char *name)
{
        int r;
        if (c->plain)
                return 0;
        if (archive_entry_filetype(e) != AE_IFDIR || archive_entry_hardlink(e))
                return ak_error_set(c->err, -EPERM, "entry '%s': the root, but not a directory (refused)", name);
        if (fchown(c->rootfd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
                return ak_error_errno(c->err, -errno, "chown the root (entry '%s')", name);
        if (fchmod(c->rootfd, archive_entry_perm(e) & 07777) < 0)
                return ak_error_errno(c->err, -errno, "chmod the root (entry '%s')", name);
        if ((r = set_xattrs(e, c->rootfd, ".")) < 0)
                return ak_error_errno(c->err, r, "set the xattrs of the root (entry '%s')", name);
        struct timespec t[2] = { { archive_entry_mtime(e), 0 }, { archive_entry_mtime(e), 0 } };
        (void)futimens(c->rootfd, t);
        return 0;
}

static int apply_entry(struct entry_ctx *c, struct archive_entry *e, const char *name)
{
        char path[PATH_MAX], link[PATH_MAX];
        const char *base, *hard = name_hardlink(e);
        mode_t type = archive_entry_filetype(e), mode = archive_entry_perm(e) & 07777;
        int64_t size = archive_entry_size(e);
        int r;

        if (is_root_name(name))
                return apply_root(c, e, name);
        if (clean_path(name, path, sizeof(path)) < 0)
                return ak_error_set(c->err, -EPERM, "entry '%s': an absolute path or '..' (refused)", name);
        if (!path[0])
                return 0;
        if (++c->budget->entries > c->budget->max_entries)
                return ak_error_set(c->err, -E2BIG, "more than %llu entries", (unsigned long long)c->budget->max_entries);
        if (type == AE_IFREG && !hard) {
                if (size < 0 || (uint64_t)size > c->budget->max_bytes - c->budget->bytes)
                        return ak_error_set(c->err, -EFBIG, "entry '%s' declares %lld bytes, over the %llu-byte limit "
                                            "for the image's contents", name, (long long)size,
                                            (unsigned long long)c->budget->max_bytes);
                c->budget->bytes += (uint64_t)size;
                c->data_end = (uint64_t)archive_filter_bytes(c->tar, -1) + (uint64_t)size;
                snprintf(c->data_name, sizeof(c->data_name), "%s", name);
        }
        _cleanup_close_ int parent = -1;
        if ((r = open_parent(c->rootfd, path, &parent, &base)) < 0) {
                if (r == -EXDEV || r == -ELOOP)
                        return ak_error_set(c->err, -EPERM, "entry '%s': its directory is a symlink that leads outside "
                                            "the root (refused)", name);
                return ak_error_errno(c->err, r, "entry '%s': open its directory", name);
        }
        if (!c->plain && strncmp(base, ".wh.", 4) == 0) {
                *(char *)(base - (base > path ? 1 : 0)) = 0;
                if (strcmp(base, ".wh..wh..opq") == 0)
                        r = make_opaque(parent, base > path ? path : "", c->set);
                else if (!base[4] || strcmp(base + 4, ".") == 0 || strcmp(base + 4, "..") == 0)
                        return ak_error_set(c->err, -EINVAL, "entry '%s': a whiteout without a name", name);
                else
                        r = remove_at(parent, base + 4);
                return r < 0 ? ak_error_errno(c->err, r, "whiteout '%s'", name) : 0;
        }
        if ((r = oci_pathset_add_with_parents(c->set, path)) < 0)
                return ak_error_set(c->err, r, "out of memory");
        struct stat st;
        bool keep_dir = type == AE_IFDIR && fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
        if (!keep_dir && (r = remove_at(parent, base)) < 0)
                return ak_error_errno(c->err, r, "entry '%s': replace what is there", name);
        if (hard) {
                _cleanup_close_ int tparent = -1;
                const char *tbase;
                if (clean_path(hard, link, sizeof(link)) < 0 || !link[0])
                        return ak_error_set(c->err, -EPERM, "hard link '%s' -> '%s': target outside the root (refused)",
                                            name, hard);
                if ((r = open_parent(c->rootfd, link, &tparent, &tbase)) < 0 || linkat(tparent, tbase, parent, base, 0) < 0)
                        return ak_error_errno(c->err, r < 0 ? r : -errno, "hard link '%s' -> '%s'", name, hard);
                return 0;
        }
        _cleanup_close_ int fd = -1;
        if (c->plain && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
                return ak_error_set(c->err, -EINVAL, "entry '%s': not a file, directory or symlink", name);
        switch (type) {
        case AE_IFREG:
                fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0)
                        return ak_error_errno(c->err, -errno, "create '%s'", name);
                if ((r = write_contents(c->tar, fd, size)) < 0)
                        return r == -EIO ? ak_error_set(c->err, r, "entry '%s': %s", name, archive_error_string(c->tar))
                                         : ak_error_errno(c->err, r, "write '%s'", name);
                break;
        case AE_IFDIR:
                if (!keep_dir && mkdirat(parent, base, 0700) < 0)
                        return ak_error_errno(c->err, -errno, "mkdir '%s'", name);
                break;
        case AE_IFLNK:
                if (symlinkat(name_symlink(e) ? name_symlink(e) : "", parent, base) < 0)
                        return ak_error_errno(c->err, -errno, "symlink '%s'", name);
                break;
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFIFO:
                if (mknodat(parent, base, (type == AE_IFCHR ? S_IFCHR : type == AE_IFBLK ? S_IFBLK : S_IFIFO) | 0600,
                            makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e))) < 0)
                        return ak_error_errno(c->err, -errno, "mknod '%s'", name);
                break;
        default:
                return 0; /* sockets and the like: nothing to keep */
        }
        if (c->plain)
                return type == AE_IFDIR && fchmodat(parent, base, 0700, 0) < 0 ? -errno : 0;
        if (fchownat(parent, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
                return ak_error_errno(c->err, -errno, "chown '%s' (importing images needs root)", name);
        /* After chown, which clears setuid/setgid. */
        if (type != AE_IFLNK && fchmodat(parent, base, mode, 0) < 0)
                return ak_error_errno(c->err, -errno, "chmod '%s'", name);
        if ((r = set_xattrs(e, parent, base)) < 0)
                return ak_error_errno(c->err, r, "set the xattrs of '%s'", name);
        struct timespec t[2] = { { archive_entry_mtime(e), 0 }, { archive_entry_mtime(e), 0 } };
        (void)utimensat(parent, base, t, AT_SYMLINK_NOFOLLOW);
        return 0;
}

static int apply_all(struct entry_ctx *c, struct layer_read *l)
{
        struct archive_entry *e;
        int r;
        /* ARCHIVE_WARN: a name that does not fit the locale (a UTF-8 pax
         * name under LANG=C); the entry is whole, the names below take it. */
        while ((r = archive_read_next_header(c->tar, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
                const char *name = name_pathname(e);
                if (!name)
                        return ak_error_set(c->err, -EINVAL, "an entry without a name");
                if ((r = apply_entry(c, e, name)) < 0)
                        return r;
        }
        if (r != ARCHIVE_EOF)
                return ak_error_set(c->err, -EINVAL, "not a valid tar stream: %s",
                                    l->why[0] ? l->why : archive_error_string(c->tar));
        return 0;
}

/* Reads the rest of the stream, for the hashes. */
static int drain(struct layer_read *l, struct ak_error *err)
{
        la_ssize_t n;
        while ((n = archive_read_data(l->outer, l->out, sizeof(l->out))) > 0)
                crypto_sha256_update(l->diff_hash, l->out, (size_t)n);
        if (n < 0)
                return ak_error_set(err, -EINVAL, "decompress: %s", archive_error_string(l->outer));
        const void *buf;
        ssize_t k;
        while ((k = blob_read_cb(NULL, l, &buf)) > 0)
                ;
        return k < 0 ? ak_error_set(err, -EIO, "%s", l->why) : 0;
}

static void hex(struct crypto_sha256 *h, char out[OCI_DIGEST_LEN + 1])
{
        uint8_t d[CRYPTO_SHA256_LEN];
        crypto_sha256_final(h, d);
        memcpy(out, "sha256:", 7);
        for (int i = 0; i < CRYPTO_SHA256_LEN; i++)
                snprintf(out + 7 + 2 * i, 3, "%02x", d[i]);
}

static int apply(int rootfd, int blob_fd, const char *blob_digest, uint64_t blob_size, const char *diff_id, bool plain,
                 struct oci_layer_budget *budget, struct ak_error *err)
{
        struct layer_read *l = calloc(1, sizeof(*l));
        struct oci_pathset *set = NULL;
        struct archive *tar = NULL;
        struct archive_entry *raw;
        char got[OCI_DIGEST_LEN + 1];
        int r;

        if (!l || oci_pathset_new(&set) < 0) {
                free(l);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        l->fd = blob_fd;
        l->blob_limit = blob_size;
        if ((r = crypto_sha256_new(&l->blob_hash)) < 0 || (r = crypto_sha256_new(&l->diff_hash)) < 0) {
                ak_error_set(err, r, "sha256: %s", crypto_init_error_message(r));
                goto out;
        }
        l->outer = archive_read_new();
        tar = archive_read_new();
        if (!l->outer || !tar) {
                r = ak_error_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        archive_read_support_filter_gzip(l->outer);
        archive_read_support_filter_zstd(l->outer);
        archive_read_support_format_raw(l->outer);
        archive_read_support_format_tar(tar);
        if (archive_read_open(l->outer, l, NULL, blob_read_cb, NULL) != ARCHIVE_OK ||
            archive_read_next_header(l->outer, &raw) != ARCHIVE_OK) {
                r = ak_error_set(err, -EINVAL, "not a layer: %s", l->why[0] ? l->why : archive_error_string(l->outer));
                goto out;
        }
        if (archive_read_open(tar, l, NULL, tar_read_cb, NULL) != ARCHIVE_OK) {
                r = ak_error_set(err, -EINVAL, "not a tar layer: %s", l->why[0] ? l->why : archive_error_string(tar));
                goto out;
        }
        struct entry_ctx c = { .rootfd = rootfd, .tar = tar, .budget = budget, .set = set, .plain = plain, .err = err };
        if ((r = apply_all(&c, l)) < 0 || (r = drain(l, err)) < 0)
                goto out;
        if (l->padded && c.data_end > l->tar_bytes) {
                r = ak_error_set(err, -EBADMSG, "the layer's tar stream ends inside the data of '%s' (%llu of its "
                                 "bytes missing): a truncated layer", c.data_name,
                                 (unsigned long long)(c.data_end - l->tar_bytes));
                goto out;
        }
        hex(l->blob_hash, got);
        if (blob_digest && (l->blob_bytes != blob_size || strcmp(got, blob_digest) != 0)) {
                r = ak_error_set(err, -EBADMSG, "blob is %llu bytes with digest %s; the manifest says %llu bytes, %s "
                                 "(a corrupt or truncated blob: fetch the image again)",
                                 (unsigned long long)l->blob_bytes, got, (unsigned long long)blob_size, blob_digest);
                goto out;
        }
        hex(l->diff_hash, got);
        if (diff_id && strcmp(got, diff_id) != 0) {
                r = ak_error_set(err, -EBADMSG, "uncompressed layer has digest %s; the image config's diff_id is %s",
                                 got, diff_id);
                goto out;
        }
        r = 0;
out:
        archive_read_free(tar);
        if (l->outer)
                archive_read_free(l->outer);
        crypto_sha256_free(l->blob_hash);
        crypto_sha256_free(l->diff_hash);
        free(l);
        oci_pathset_free(set);
        return r;
}

int oci_layer_apply(int rootfd, int blob_fd, const char *blob_digest, uint64_t blob_size, const char *diff_id,
                    struct oci_layer_budget *budget, struct ak_error *err)
{
        return apply(rootfd, blob_fd, blob_digest, blob_size, diff_id, false, budget, err);
}

int oci_archive_unpack(int dirfd, int fd, struct oci_layer_budget *budget, struct ak_error *err)
{
        return apply(dirfd, fd, NULL, UINT64_MAX, NULL, true, budget, err);
}

int oci_open_beneath(int dirfd, const char *path, int flags, int *ret_fd)
{
        return open_beneath(dirfd, path, flags, ret_fd);
}

int oci_root_add_file(int rootfd, const char *path, const char *src, mode_t mode, struct ak_error *err)
{
        char p[PATH_MAX];
        const char *base;
        _cleanup_close_ int parent = -1, in = -1, out = -1;
        int r;

        if (clean_path(path, p, sizeof(p)) < 0 || !p[0])
                return ak_error_set(err, -EINVAL, "add %s: not a relative path", path);
        if ((r = open_parent(rootfd, p, &parent, &base)) < 0)
                return ak_error_errno(err, r == -EXDEV ? -EPERM : r,
                                      "add /%s: open its directory in the image (a symlink leading outside?)", path);
        if ((r = remove_at(parent, base)) < 0)
                return ak_error_errno(err, r, "add /%s: replace what the image has there", path);
        if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
                return ak_error_errno(err, -errno, "open %s", src);
        if ((out = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
                return ak_error_errno(err, -errno, "create /%s in the image", path);
        bool write_failed;
        if ((r = ak_copy_fd(in, out, &write_failed)) < 0)
                return write_failed ? ak_error_errno(err, r, "write /%s in the image", path)
                                    : ak_error_errno(err, r, "read %s", src);
        if (fchown(out, 0, 0) < 0 || fchmod(out, mode) < 0)
                return ak_error_errno(err, -errno, "chown/chmod /%s in the image", path);
        return 0;
}
