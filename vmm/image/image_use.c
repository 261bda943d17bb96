/* In-use marks and least-recently-used collection (image.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/io.h"
#include "lib/base/pathfmt.h"
#include "vmm/image/image_impl.h"

struct image_use {
        char path[PATH_MAX];
        char dir[PATH_MAX];
        int fd;
};

static bool label_ok(const char *l)
{
        size_t n = strlen(l);
        if (n == 0 || n > IMAGE_USE_LABEL_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = l[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == ':' || c == '-'))
                        return false;
        }
        return true;
}

static bool hash_ok(const char *h)
{
        return strlen(h) == IMAGE_HASH_LEN && strspn(h, "0123456789abcdef") == IMAGE_HASH_LEN;
}

int image_use_begin(struct image_store *s, const char *hash, const char *label, struct image_use **ret,
                    struct ak_error *err)
{
        static unsigned counter;
        char tmp[PATH_MAX];

        if (!hash_ok(hash) || !label_ok(label))
                return ak_error_set(err, -EINVAL, "in-use mark: bad hash or label '%.200s'", label);
        struct image_use *u = calloc(1, sizeof(*u));
        if (!u)
                return ak_error_set(err, -ENOMEM, "out of memory");
        u->fd = -1;
        pathfmt(u->dir, sizeof(u->dir), "%s/inuse/%s", s->dir, hash);
        if (mkdir(u->dir, 0755) < 0 && errno != EEXIST) {
                int r = ak_error_errno(err, -errno, "create %s", u->dir);
                free(u);
                return r;
        }
        unsigned n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        pathfmt(u->path, sizeof(u->path), "%s/%d-%u-%ld", u->dir, (int)getpid(), n, (long)time(NULL));
        /* Locked under a hidden name, then renamed: a reader never sees an
         * unlocked mark that is not stale. */
        pathfmt(tmp, sizeof(tmp), "%s/.%d-%u", u->dir, (int)getpid(), n);
        u->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (u->fd < 0 || flock(u->fd, LOCK_SH) < 0 || ak_write_full(u->fd, label, strlen(label)) < 0 ||
            rename(tmp, u->path) < 0) {
                int r = ak_error_errno(err, -errno, "mark %.12s in use", hash);
                unlink(tmp);
                if (u->fd >= 0)
                        close(u->fd);
                free(u);
                return r;
        }
        *ret = u;
        return 0;
}

void image_use_end(struct image_use *u)
{
        if (!u)
                return;
        unlink(u->path);
        close(u->fd);
        utimensat(AT_FDCWD, u->dir, NULL, 0); /* the last use */
        free(u);
}

int image_users(struct image_store *s, const char *hash, char *buf, size_t size)
{
        char dir[PATH_MAX], path[PATH_MAX];
        size_t len = 0;
        int n = 0;

        if (size)
                buf[0] = 0;
        if (!hash_ok(hash))
                return 0;
        pathfmt(dir, sizeof(dir), "%s/inuse/%s", s->dir, hash);
        DIR *d = opendir(dir);
        if (!d)
                return 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                pathfmt(path, sizeof(path), "%s/%s", dir, de->d_name);
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        continue;
                if (flock(fd, LOCK_EX | LOCK_NB) == 0) { /* nobody holds it: its process is gone */
                        unlink(path);
                        continue;
                }
                char label[IMAGE_USE_LABEL_MAX + 1];
                ssize_t r = ak_read_full(fd, label, sizeof(label) - 1);
                label[r > 0 ? r : 0] = 0;
                n++;
                if (len < size) {
                        int w = snprintf(buf + len, size - len, "%s%s", len ? "\n" : "", label[0] ? label : "?");
                        len += w > 0 ? (size_t)w : 0;
                }
        }
        closedir(d);
        return n;
}

int64_t image_last_used(struct image_store *s, const char *hash)
{
        char dir[PATH_MAX];
        struct stat st;
        struct image_info info;
        int64_t t = 0;

        if (!hash_ok(hash))
                return 0;
        if (image_manifest_read(s, hash, &info, NULL) == 0)
                t = info.created_at;
        pathfmt(dir, sizeof(dir), "%s/inuse/%s", s->dir, hash);
        if (stat(dir, &st) == 0 && (int64_t)st.st_mtime > t)
                t = (int64_t)st.st_mtime;
        return t;
}

static int by_last_use(const void *a, const void *b)
{
        const struct image_info *x = a, *y = b;
        /* created_at was overwritten with the last use by image_collect. */
        return x->created_at < y->created_at ? -1 : x->created_at > y->created_at;
}

int image_collect(struct image_store *s, uint64_t max_bytes, size_t *ret_removed, struct ak_error *err)
{
        struct image_info *v = NULL;
        size_t n = 0, removed = 0;
        uint64_t total = 0;
        char users[64];
        int r = image_list(s, &v, &n, err);
        if (r < 0)
                return r;
        /* One entry per image (names sharing a hash counted once). */
        for (size_t i = 0; i < n; i++) {
                bool dup = false;
                for (size_t j = 0; j < i && !dup; j++)
                        dup = strcmp(v[j].hash, v[i].hash) == 0;
                if (!dup)
                        total += v[i].size_bytes;
                v[i].created_at = image_last_used(s, v[i].hash);
        }
        qsort(v, n, sizeof(*v), by_last_use);
        for (size_t i = 0; i < n && total > max_bytes; i++) {
                if (!v[i].name[0] || strcmp(v[i].name, IMAGE_BASE) == 0 || strcmp(v[i].kind, "base") == 0 ||
                    image_users(s, v[i].hash, users, sizeof(users)) > 0)
                        continue;
                /* Every name of this image goes, then its files (image_remove
                 * deletes them with the last name). */
                bool kept = false;
                for (size_t j = 0; j < n; j++)
                        if (strcmp(v[j].hash, v[i].hash) == 0 && v[j].name[0] &&
                            image_remove_force(s, v[j].name, false, NULL) < 0)
                                kept = true;
                for (size_t j = 0; j < n; j++)
                        if (j != i && strcmp(v[j].hash, v[i].hash) == 0)
                                v[j].name[0] = 0;
                if (!kept) {
                        total -= total < v[i].size_bytes ? total : v[i].size_bytes;
                        removed++;
                }
        }
        free(v);
        if (ret_removed)
                *ret_removed = removed;
        return 0;
}
