/* The store's index: listing names, removing images (and the debootstrap
 * stages they were made from), collecting unnamed ones, and resolving what a
 * VM boots. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/pathfmt.h"
#include "vmm/image/image_impl.h"

static int cmp_info(const void *a, const void *b)
{
        return strcmp(((const struct image_info *)a)->name, ((const struct image_info *)b)->name);
}

int image_list(struct image_store *s, struct image_info **ret, size_t *ret_n, struct ak_error *err)
{
        char path[PATH_MAX];
        struct image_info *v = NULL;
        size_t n = 0;

        pathfmt(path, sizeof(path), "%s/names", s->dir);
        DIR *d = opendir(path);
        if (!d)
                return ak_error_errno(err, -errno, "open %s", path);
        struct dirent *de;
        while ((de = readdir(d))) {
                struct image_info info;
                char hash[IMAGE_HASH_LEN + 1], key[IMAGE_REF_MAX];
                if (image_names_entry(s, de->d_name, hash, key) < 0)
                        continue;
                if (image_lookup(s, key, &info, NULL) < 0)
                        continue; /* a name whose image went away: not listed */
                struct image_info *nv = realloc(v, (n + 1) * sizeof(*v));
                if (!nv) {
                        closedir(d);
                        free(v);
                        return ak_error_set(err, -ENOMEM, "out of memory");
                }
                v = nv;
                v[n++] = info;
        }
        closedir(d);
        if (n)
                qsort(v, n, sizeof(*v), cmp_info);
        *ret = v;
        *ret_n = n;
        return 0;
}

static int64_t ts_ns(struct timespec t)
{
        return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int image_watch_changed(struct image_store *s, struct image_watch *w)
{
        char path[PATH_MAX];
        struct stat st;
        struct timespec now;

        pathfmt(path, sizeof(path), "%s/names", s->dir);
        /* The clock first: a change after it is after this look. */
        clock_gettime(CLOCK_REALTIME, &now);
        if (stat(path, &st) < 0)
                return -errno;
        bool same = w->valid && st.st_dev == w->dev && st.st_ino == w->ino &&
                    ts_ns(st.st_mtim) == ts_ns(w->mtime) && ts_ns(st.st_ctim) == ts_ns(w->ctime);
        /* The last look came so soon after the last change that a second
         * change in the same timestamp tick would not show: look again. */
        int64_t last_change = ts_ns(st.st_mtim) > ts_ns(st.st_ctim) ? ts_ns(st.st_mtim) : ts_ns(st.st_ctim);
        bool racy = w->valid && w->looked_at_ns - last_change < IMAGE_WATCH_RACY_NS;
        if (same && !racy)
                return 0;
        w->valid = true;
        w->dev = st.st_dev;
        w->ino = st.st_ino;
        w->mtime = st.st_mtim;
        w->ctime = st.st_ctim;
        w->looked_at_ns = ts_ns(now);
        return 1;
}

/* The debootstrap stage goes with the last image made from it. */
static void remove_unused_stage(struct image_store *s, const char *stage)
{
        char path[PATH_MAX];
        DIR *d = opendir(s->dir);
        if (!d)
                return;
        struct dirent *de;
        bool used = false;
        while (!used && (de = readdir(d))) {
                struct image_info info;
                if (strlen(de->d_name) == IMAGE_HASH_LEN && image_manifest_read(s, de->d_name, &info, NULL) == 0)
                        used = strcmp(info.stage, stage) == 0;
        }
        closedir(d);
        if (used)
                return;
        pathfmt(path, sizeof(path), "%s/stage/%s", s->dir, stage);
        ak_rm_rf(path);
}

int image_remove(struct image_store *s, const char *name, struct ak_error *err)
{
        return image_remove_force(s, name, false, err);
}

int image_remove_force(struct image_store *s, const char *name, bool force, struct ak_error *err)
{
        char hash[IMAGE_HASH_LEN + 1], path[PATH_MAX], lock[PATH_MAX], users[256], entry[PATH_MAX];

        if (image_key_check(name) < 0)
                return ak_error_set(err, -EINVAL, "invalid image name '%s'", name);
        int r = image_key_get(s, name, hash, NULL);
        if (r == -ENOENT)
                return ak_error_set(err, -ENOENT, "no image named '%s' (see `ak image list`)", name);
        if (r < 0)
                return ak_error_errno(err, r, "image name %s", name);
        pathfmt(lock, sizeof(lock), "%s/%s.lock", s->dir, hash);
        _cleanup_close_ int lfd = -1;
        if ((r = image_lock(lock, &lfd, err)) < 0)
                return r;
        if (!force && (r = image_users(s, hash, users, sizeof(users))) > 0) {
                users[strcspn(users, "\n")] = 0;
                return ak_error_set(err, -EBUSY,
                                    "image %s is in use by %s%s (stop it first, or remove it anyway with --force)",
                                    name, users, r > 1 ? " and others" : "");
        }
        if ((r = image_key_path(s, name, entry)) < 0)
                return ak_error_errno(err, r, "image name %s", name);
        if (unlink(entry) < 0)
                return ak_error_errno(err, -errno, "remove %s", entry);
        /* Another name may still point at the same image. */
        pathfmt(path, sizeof(path), "%s/names", s->dir);
        DIR *d = opendir(path);
        if (d) {
                struct dirent *de;
                char other[IMAGE_HASH_LEN + 1], key[IMAGE_REF_MAX];
                while ((de = readdir(d)))
                        if (image_names_entry(s, de->d_name, other, key) == 0 && strcmp(other, hash) == 0) {
                                closedir(d);
                                return 0;
                        }
                closedir(d);
        }
        struct image_info gone;
        bool had_stage = image_manifest_read(s, hash, &gone, NULL) == 0 && gone.stage[0];
        pathfmt(path, sizeof(path), "%s/%s", s->dir, hash);
        r = ak_rm_rf(path);
        if (r < 0)
                return ak_error_errno(err, r, "remove %s", path);
        unlink(lock);
        pathfmt(path, sizeof(path), "%s/inuse/%s", s->dir, hash);
        rmdir(path); /* only when no mark is left */
        if (had_stage)
                remove_unused_stage(s, gone.stage);
        return 0;
}

int image_resolve_boot(struct image_store *s, const char *name, const struct image_progress *p,
                       struct image_boot *ret, struct ak_error *err)
{
        struct image_info base, img;
        struct image_kernel k;
        struct image_boot b = { 0 };
        int r;

        if ((r = image_kernel_get(s, p, &k, err)) < 0)
                return r;
        if ((r = image_build_base(s, p, &base, err)) < 0)
                return r;
        pathfmt(b.kernel, sizeof(b.kernel), "%s", k.vmlinuz);
        b.no_acpi = k.no_acpi;
        pathfmt(b.initrd, sizeof(b.initrd), "%s/initrd.cpio", base.dir);
        if (strcmp(name, IMAGE_BASE) == 0) {
                img = base;
        } else {
                if ((r = image_lookup(s, name, &img, err)) < 0)
                        return r;
                if (strcmp(img.kind, "rootfs") != 0)
                        return ak_error_set(err, -EINVAL, "image %s is a %s image, not bootable as a root disk",
                                            name, img.kind);
                pathfmt(b.rootfs, sizeof(b.rootfs), "%s/rootfs.ext4", img.dir);
        }
        pathfmt(b.name, sizeof(b.name), "%s", name);
        memcpy(b.hash, img.hash, sizeof(b.hash));
        *ret = b;
        return 0;
}

static bool is_hash(const char *s)
{
        return strlen(s) == IMAGE_HASH_LEN && strspn(s, "0123456789abcdef") == IMAGE_HASH_LEN;
}

void image_gc(struct image_store *s, int64_t min_age_s)
{
        image_gc_count(s, min_age_s);
}

int image_prune(struct image_store *s, size_t *ret_images, struct ak_error *err)
{
        char path[PATH_MAX];
        pathfmt(path, sizeof(path), "%s/names", s->dir);
        if (access(path, R_OK) < 0)
                return ak_error_errno(err, -errno, "read %s", path);
        size_t n = image_gc_count(s, 0);
        if (ret_images)
                *ret_images = n;
        return 0;
}

size_t image_gc_count(struct image_store *s, int64_t min_age_s)
{
        size_t removed = 0;
        char path[PATH_MAX], named[64][IMAGE_HASH_LEN + 1];
        size_t n_named = 0;
        int64_t now = (int64_t)time(NULL);

        pathfmt(path, sizeof(path), "%s/names", s->dir);
        DIR *d = opendir(path);
        if (!d)
                return 0;
        struct dirent *de;
        char key[IMAGE_REF_MAX];
        while ((de = readdir(d)))
                if (n_named < AK_ARRAY_SIZE(named) && image_names_entry(s, de->d_name, named[n_named], key) == 0)
                        n_named++;
        closedir(d);
        if (n_named == AK_ARRAY_SIZE(named))
                return 0; /* too many names to be sure: keep everything */
        d = opendir(s->dir);
        if (!d)
                return 0;
        while ((de = readdir(d))) {
                struct image_info info;
                bool used = false;
                if (!is_hash(de->d_name))
                        continue;
                for (size_t i = 0; i < n_named; i++)
                        used |= strcmp(named[i], de->d_name) == 0;
                char users[8];
                if (used || image_manifest_read(s, de->d_name, &info, NULL) < 0 ||
                    now - info.created_at < min_age_s || image_users(s, de->d_name, users, sizeof(users)) > 0)
                        continue;
                char lock[PATH_MAX];
                int lfd = -1;
                pathfmt(lock, sizeof(lock), "%s/%s.lock", s->dir, de->d_name);
                if (image_lock(lock, &lfd, NULL) < 0)
                        continue;
                pathfmt(path, sizeof(path), "%s/%s", s->dir, de->d_name);
                ak_rm_rf(path);
                unlink(lock);
                close(lfd);
                pathfmt(path, sizeof(path), "%s/inuse/%s", s->dir, de->d_name);
                rmdir(path);
                removed++;
                if (info.stage[0])
                        remove_unused_stage(s, info.stage);
        }
        closedir(d);
        return removed;
}
