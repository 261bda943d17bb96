/* Disk snapshots as images (image_snapshot_add in image.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/pathfmt.h"
#include "lib/base/uuid.h"
#include "vmm/image/image.h"
#include "vmm/image/image_impl.h"

/* Copies src to dst keeping holes (SEEK_DATA/SEEK_HOLE), so a mostly empty
 * disk stays small on a file system without reflinks. */
static int copy_sparse(const char *src, const char *dst, struct ak_error *err)
{
        struct stat st;
        _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (in < 0 || fstat(in, &st) < 0)
                return ak_error_errno(err, -errno, "open %s", src);
        if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
                return ak_error_set(err, -EPERM, "%s: not a regular file with one name: refused", src);
        _cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (out < 0)
                return ak_error_errno(err, -errno, "create %s", dst);
        if (ftruncate(out, st.st_size) < 0)
                return ak_error_errno(err, -errno, "size %s", dst);
        off_t pos = 0;
        while (pos < st.st_size) {
                off_t data = lseek(in, pos, SEEK_DATA);
                if (data < 0 && errno == ENXIO)
                        break; /* only a hole is left */
                if (data < 0)
                        return ak_error_errno(err, -errno, "seek %s", src);
                off_t hole = lseek(in, data, SEEK_HOLE);
                if (hole < 0)
                        return ak_error_errno(err, -errno, "seek %s", src);
                loff_t ip = data, op = data;
                while (ip < hole) {
                        ssize_t n = copy_file_range(in, &ip, out, &op, (size_t)(hole - ip), 0);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                return ak_error_errno(err, -errno, "copy %s to %s", src, dst);
                        if (n == 0)
                                return ak_error_set(err, -EIO, "copy %s to %s: %s shrank", src, dst, src);
                }
                pos = hole;
        }
        if (fsync(out) < 0)
                return ak_error_errno(err, -errno, "write %s", dst);
        return 0;
}

/* Punches holes where disk holds only zeros (whole blocks of its file
 * system), as `fallocate --dig-holes` does: a copy made by QEMU writes
 * every block of the disk, its empty space included. */
static int dig_holes(const char *disk, struct ak_error *err)
{
        enum { BUF = 1 << 20 };
        struct stat st;
        _cleanup_close_ int fd = open(disk, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "open %s", disk);
        if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
                return ak_error_set(err, -EPERM, "%s: not a regular file with one name: refused", disk);
        size_t bs = st.st_blksize > 0 && st.st_blksize <= BUF && BUF % st.st_blksize == 0 ? (size_t)st.st_blksize
                                                                                         : 4096;
        _cleanup_free_ char *buf = malloc(BUF);
        if (!buf)
                return ak_error_set(err, -ENOMEM, "dig holes in %s: out of memory", disk);
        off_t pos = 0, zero_from = -1;
        for (;;) {
                ssize_t n = pread(fd, buf, BUF, pos);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return ak_error_errno(err, -errno, "read %s at %lld", disk, (long long)pos);
                for (size_t i = 0; i < (size_t)n; i += bs) {
                        size_t len = (size_t)n - i < bs ? (size_t)n - i : bs;
                        bool zero = len == bs && buf[i] == 0 && memcmp(buf + i, buf + i + 1, bs - 1) == 0;
                        off_t at = pos + (off_t)i;
                        if (zero && zero_from < 0)
                                zero_from = at;
                        if (!zero && zero_from >= 0) {
                                if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, zero_from,
                                              at - zero_from) < 0)
                                        return ak_error_errno(err, -errno, "punch holes in %s", disk);
                                zero_from = -1;
                        }
                }
                if (n == 0)
                        break;
                pos += n;
        }
        if (zero_from >= 0 &&
            fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, zero_from, pos - zero_from) < 0)
                return ak_error_errno(err, -errno, "punch holes in %s", disk);
        return 0;
}

static int own_disk(const char *path, struct stat *st, struct ak_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return ak_error_errno(err, -errno, "open %s (a symbolic link where the disk was?)", path);
        if (fstat(fd, st) < 0)
                return ak_error_errno(err, -errno, "stat %s", path);
        if (!S_ISREG(st->st_mode) || st->st_nlink != 1)
                return ak_error_set(err, -EPERM, "%s: not a regular file with one name (mode %o, %ju links): "
                                    "refused", path, (unsigned)st->st_mode, (uintmax_t)st->st_nlink);
        if (fchmod(fd, 0644) < 0 || (geteuid() == 0 && fchown(fd, 0, 0) < 0) || fstat(fd, st) < 0)
                return ak_error_errno(err, -errno, "own %s", path);
        return 0;
}

static int move_disk(const char *disk, const char *dst, struct ak_error *err)
{
        if (rename(disk, dst) == 0)
                return 0;
        if (errno != EXDEV)
                return ak_error_errno(err, -errno, "move %s to %s", disk, dst);
        int r = copy_sparse(disk, dst, err);
        if (r < 0) {
                unlink(dst);
                return r;
        }
        unlink(disk);
        return 0;
}

int image_snapshot_add(struct image_store *s, const char *name, const char *disk, const struct image_info *meta,
                       struct image_info *ret, struct ak_error *err)
{
        char hash[IMAGE_HASH_LEN + 1], tmp[PATH_MAX], path[PATH_MAX], id[AK_UUID_LEN + 1];
        char key[IMAGE_NAME_MAX + sizeof(meta->snapshot_sandbox) + AK_UUID_LEN + 32];
        struct image_info info = { 0 };
        struct stat st;
        int r;

        if (image_name_check(name) < 0)
                return ak_error_set(err, -EINVAL, "invalid snapshot name '%s': use a-z, 0-9, '.', '_', '-' "
                                    "(at most %d, starting with a letter or digit)", name, IMAGE_NAME_MAX);
        if (!meta->snapshot_sandbox[0])
                return ak_error_set(err, -EINVAL, "snapshot %s: no source sandbox", name);
        if ((r = image_name_get(s, name, hash)) != -ENOENT)
                return ak_error_set(err, -EEXIST, "an image named '%s' exists already: pick another name, or "
                                    "remove it first (`ak snapshot rm %s` or `ak image rm %s`)", name, name, name);
        if ((r = ak_uuid7(id)) < 0)
                return ak_error_errno(err, r, "snapshot id");
        snprintf(key, sizeof(key), "snapshot\n%s\n%s\n%s", name, meta->snapshot_sandbox, id);
        if ((r = image_hash_text(key, hash, err)) < 0 || (r = image_tmpdir(s, tmp, err)) < 0)
                return r;
        pathfmt(path, sizeof(path), "%s/rootfs.ext4", tmp);
        if ((r = dig_holes(disk, err)) < 0 || (r = move_disk(disk, path, err)) < 0)
                goto fail;
        /* disk was in a directory the VMM's user may write: what was moved
         * may be a link it put there. Owned and sized through an fd of a
         * regular file with no other name, never through the path. */
        if ((r = own_disk(path, &st, err)) < 0)
                goto fail;
        pathfmt(info.name, sizeof(info.name), "%s", name);
        memcpy(info.hash, hash, sizeof(info.hash));
        pathfmt(info.kind, sizeof(info.kind), "rootfs");
        memcpy(info.snapshot_sandbox, meta->snapshot_sandbox, sizeof(info.snapshot_sandbox));
        memcpy(info.snapshot_image, meta->snapshot_image, sizeof(info.snapshot_image));
        memcpy(info.snapshot_tenant, meta->snapshot_tenant, sizeof(info.snapshot_tenant));
        snprintf(info.source, sizeof(info.source), "snapshot:%s", meta->snapshot_sandbox);
        info.size_bytes = (uint64_t)st.st_blocks * 512;
        info.created_at = (int64_t)time(NULL);
        if ((r = image_manifest_write(tmp, &info, err)) < 0 || (r = image_publish(s, tmp, hash, err)) < 0)
                goto fail;
        if ((r = image_name_set(s, name, hash, err)) < 0) {
                pathfmt(path, sizeof(path), "%s/%s", s->dir, hash);
                ak_rm_rf(path);
                return ak_error_wrap(err, "snapshot %s", name);
        }
        *ret = info;
        return 0;
fail:
        ak_rm_rf(tmp);
        return ak_error_wrap(err, "snapshot %s", name);
}
