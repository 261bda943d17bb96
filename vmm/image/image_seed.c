/* Image seeds (image.h): the kernel and `base` exported as files with a
 * sha256 manifest (seed_manifest.h), installed into a store without
 * touching the network. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/io.h"
#include "lib/base/pathfmt.h"
#include "lib/crypto/crypto.h"
#include "vmm/image/image_impl.h"
#include "vmm/image/seed_manifest.h"

#define SEED_MAX_DEPTH 16

/* Copies src to dst (created with mode), hashing what it copies. */
static int copy_hashed(const char *src, const char *dst, unsigned mode, char ret_hex[65], uint64_t *ret_size,
                       struct ak_error *err)
{
        static const char digits[] = "0123456789abcdef";
        struct crypto_sha256 *h = NULL;
        uint8_t d[CRYPTO_SHA256_LEN];
        char buf[65536];
        uint64_t size = 0;
        int r;

        _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (in < 0)
                return ak_error_errno(err, -errno, "open %s", src);
        _cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (out < 0)
                return ak_error_errno(err, -errno, "create %s", dst);
        if ((r = crypto_sha256_new(&h)) < 0)
                return ak_error_set(err, r, "sha256: %s", crypto_init_error_message(r));
        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = ak_error_errno(err, -errno, "read %s", src);
                        goto out;
                }
                if (n == 0)
                        break;
                crypto_sha256_update(h, buf, (size_t)n);
                size += (uint64_t)n;
                if (ak_write_full(out, buf, (size_t)n) < 0) {
                        r = ak_error_errno(err, -errno, "%swrite %s", errno == ENOSPC ? "disk full: " : "", dst);
                        goto out;
                }
        }
        if (fchmod(out, mode) < 0) {
                r = ak_error_errno(err, -errno, "chmod %s", dst);
                goto out;
        }
        crypto_sha256_final(h, d);
        for (int i = 0; i < CRYPTO_SHA256_LEN; i++) {
                ret_hex[2 * i] = digits[d[i] >> 4];
                ret_hex[2 * i + 1] = digits[d[i] & 15];
        }
        ret_hex[64] = 0;
        *ret_size = size;
        r = 0;
out:
        crypto_sha256_free(h);
        return r;
}

/* Copies the regular files under from/ to to/, one manifest line each
 * (named rel/...); anything else (a symlink, a device) is refused. */
static int export_tree(const char *from, const char *to, const char *rel, int depth, FILE *manifest,
                       struct ak_error *err)
{
        char src[PATH_MAX], dst[PATH_MAX], sub[SEED_MAX_PATH];
        int r = 0;

        if (depth > SEED_MAX_DEPTH)
                return ak_error_set(err, -ELOOP, "%s is nested too deep for a seed", from);
        if (ak_mkdir_p(to, 0755, false) < 0)
                return ak_error_errno(err, -errno, "create %s", to);
        DIR *d = opendir(from);
        if (!d)
                return ak_error_errno(err, -errno, "open %s", from);
        struct dirent *de;
        while (r == 0 && (de = readdir(d))) {
                struct stat st;
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                    (depth == 0 && strstr(de->d_name, ".lock")))
                        continue;
                if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name) >= sizeof(sub)) {
                        r = ak_error_set(err, -ENAMETOOLONG, "%s/%s: path too long for a seed", from, de->d_name);
                        break;
                }
                pathfmt(src, sizeof(src), "%s/%s", from, de->d_name);
                pathfmt(dst, sizeof(dst), "%s/%s", to, de->d_name);
                if (lstat(src, &st) < 0) {
                        r = ak_error_errno(err, -errno, "stat %s", src);
                } else if (S_ISDIR(st.st_mode)) {
                        r = export_tree(src, dst, sub, depth + 1, manifest, err);
                } else if (S_ISREG(st.st_mode)) {
                        char hex[65];
                        uint64_t size;
                        if ((r = copy_hashed(src, dst, st.st_mode & 0777, hex, &size, err)) == 0)
                                fprintf(manifest, "file %s %llu %o %s\n", hex, (unsigned long long)size,
                                        (unsigned)(st.st_mode & 0777), sub);
                } else {
                        r = ak_error_set(err, -EINVAL, "%s is not a regular file or directory: a seed holds only files",
                                         src);
                }
        }
        closedir(d);
        return r;
}

static int dir_absent_or_empty(const char *dir, struct ak_error *err)
{
        DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : ak_error_errno(err, -errno, "open %s", dir);
        struct dirent *de;
        int r = 0;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        r = ak_error_set(err, -EEXIST, "%s is not empty: export a seed into a new directory", dir);
        closedir(d);
        return r;
}

int image_seed_export(struct image_store *s, const char *dir, const struct image_progress *p, struct ak_error *err)
{
        struct image_kernel k;
        struct image_info base;
        char path[PATH_MAX], tmp[PATH_MAX], rel[SEED_MAX_PATH];
        int r;

        if ((r = dir_absent_or_empty(dir, err)) < 0)
                return r;
        if ((r = image_build_base(s, p, &base, err)) < 0 || (r = image_kernel_get(s, p, &k, err)) < 0)
                return ak_error_wrap(err, "export a seed");
        const char *entry = strrchr(k.dir, '/') + 1;
        if (ak_mkdir_p(dir, 0755, false) < 0)
                return ak_error_errno(err, -errno, "create %s", dir);
        pathfmt(tmp, sizeof(tmp), "%s/" SEED_MANIFEST_FILE ".tmp", dir);
        FILE *f = fopen(tmp, "we");
        if (!f)
                return ak_error_errno(err, -errno, "create %s", tmp);
        fprintf(f, SEED_MANIFEST_MAGIC "\nkernel %s\nbase %s\n", entry, base.hash);
        image_report(p, "seed", "copying the kernel %s and the base image %.12s", entry, base.hash);
        snprintf(rel, sizeof(rel), "kernel/%s", entry);
        pathfmt(path, sizeof(path), "%s/%s", dir, rel);
        r = export_tree(k.dir, path, rel, 0, f, err);
        if (r == 0) {
                snprintf(rel, sizeof(rel), "images/%s", base.hash);
                pathfmt(path, sizeof(path), "%s/%s", dir, rel);
                r = export_tree(base.dir, path, rel, 0, f, err);
        }
        if (fflush(f) != 0 || fsync(fileno(f)) < 0)
                r = r < 0 ? r : ak_error_errno(err, -errno, "write %s", tmp);
        fclose(f);
        pathfmt(path, sizeof(path), "%s/" SEED_MANIFEST_FILE, dir);
        if (r == 0 && rename(tmp, path) < 0)
                r = ak_error_errno(err, -errno, "rename %s", tmp);
        if (r < 0)
                return ak_error_wrap(err, "export a seed to %s", dir);
        return 0;
}

static int manifest_load(const char *dir, struct seed_manifest **ret, struct ak_error *err)
{
        char path[PATH_MAX];
        struct stat st;

        pathfmt(path, sizeof(path), "%s/" SEED_MANIFEST_FILE, dir);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return ak_error_errno(err, -errno, "open %s (is %s a seed made by `ak image export-seed`?)", path,
                                      dir);
        if (fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "stat %s", path);
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > SEED_MAX_MANIFEST)
                return ak_error_set(err, -E2BIG, "%s: not a regular file of at most %u bytes", path,
                                    SEED_MAX_MANIFEST);
        _cleanup_free_ char *text = malloc((size_t)st.st_size + 1);
        if (!text)
                return ak_error_set(err, -ENOMEM, "out of memory");
        ssize_t n = ak_read_full(fd, text, (size_t)st.st_size);
        if (n < 0)
                return ak_error_errno(err, (int)n, "read %s", path);
        int r = seed_manifest_parse(text, (size_t)n, ret, err);
        return r < 0 ? ak_error_wrap(err, "%s", path) : 0;
}

/* Copies the files listed under prefix ("kernel/<entry>/") from the seed to
 * to/<rest of the path>, each checked against the manifest. */
static int install_files(const char *seed, const struct seed_manifest *m, const char *prefix, const char *to,
                         struct ak_error *err)
{
        size_t pl = strlen(prefix);
        for (size_t i = 0; i < m->n_files; i++) {
                const struct seed_file *f = &m->files[i];
                char src[PATH_MAX], dst[PATH_MAX], hex[65];
                uint64_t size;
                int r;
                if (strncmp(f->path, prefix, pl) != 0)
                        continue;
                pathfmt(src, sizeof(src), "%s/%s", seed, f->path);
                pathfmt(dst, sizeof(dst), "%s/%s", to, f->path + pl);
                if (ak_mkdir_p(dst, 0755, true) < 0)
                        return ak_error_errno(err, -errno, "create the parents of %s", dst);
                if ((r = copy_hashed(src, dst, f->mode, hex, &size, err)) < 0)
                        return r;
                if (size != f->size || strcmp(hex, f->sha256) != 0)
                        return ak_error_set(err, -EBADMSG,
                                            "seed file %s: %llu bytes with sha256 %s, but the manifest says %llu "
                                            "bytes with %s: the seed is damaged (export it again with `ak image "
                                            "export-seed`)",
                                            src, (unsigned long long)size, hex, (unsigned long long)f->size,
                                            f->sha256);
        }
        return 0;
}

static bool current_kernel_works(struct image_store *s)
{
        char link[PATH_MAX], target[256];
        struct image_kernel k;

        pathfmt(link, sizeof(link), "%s/kernel/current", s->dir);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
                return false;
        target[n] = 0;
        return !strchr(target, '/') && image_kernel_load(s, target, &k) == 0;
}

static int install_kernel(struct image_store *s, const char *seed, const struct seed_manifest *m,
                          const struct image_progress *p, struct ak_error *err)
{
        char lock[PATH_MAX], tmp[PATH_MAX], prefix[SEED_MAX_PATH], from[PATH_MAX], to[PATH_MAX];
        struct image_kernel k;
        int r;

        pathfmt(lock, sizeof(lock), "%s/kernel/.lock", s->dir);
        _cleanup_close_ int lfd = -1;
        if ((r = image_lock(lock, &lfd, err)) < 0)
                return r;
        if (image_kernel_load(s, m->kernel, &k) != 0) {
                image_report(p, "seed", "installing the kernel %s from %s", m->kernel, seed);
                if ((r = image_tmpdir(s, tmp, err)) < 0)
                        return r;
                snprintf(prefix, sizeof(prefix), "kernel/%s/", m->kernel);
                pathfmt(from, sizeof(from), "%s/k", tmp);
                pathfmt(to, sizeof(to), "%s/kernel/%s", s->dir, m->kernel);
                r = install_files(seed, m, prefix, from, err);
                if (r == 0) {
                        ak_rm_rf(to); /* an incomplete one: image_kernel_load failed under the lock */
                        if (rename(from, to) < 0)
                                r = ak_error_errno(err, -errno, "move the kernel to %s", to);
                }
                ak_rm_rf(tmp);
                if (r < 0)
                        return r;
                if (image_kernel_load(s, m->kernel, &k) != 0)
                        return ak_error_set(err, -ENOENT,
                                            "the seed's kernel %s lacks its release file, vmlinuz or modules.dep",
                                            m->kernel);
        }
        if (!current_kernel_works(s))
                return image_kernel_set_current(s, m->kernel, err);
        return 0;
}

static int install_base(struct image_store *s, const char *seed, const struct seed_manifest *m,
                        const struct image_progress *p, struct ak_error *err)
{
        char lock[PATH_MAX], tmp[PATH_MAX], prefix[SEED_MAX_PATH];
        struct image_info info;
        int r;

        if (!m->base[0])
                return 0;
        pathfmt(lock, sizeof(lock), "%s/%s.lock", s->dir, m->base);
        _cleanup_close_ int lfd = -1;
        if ((r = image_lock(lock, &lfd, err)) < 0)
                return r;
        if (image_manifest_read(s, m->base, &info, NULL) == 0)
                return 0;
        image_report(p, "seed", "installing the base image %.12s from %s", m->base, seed);
        if ((r = image_tmpdir(s, tmp, err)) < 0)
                return r;
        snprintf(prefix, sizeof(prefix), "images/%s/", m->base);
        r = install_files(seed, m, prefix, tmp, err);
        if (r == 0)
                r = image_publish(s, tmp, m->base, err);
        if (r < 0) {
                ak_rm_rf(tmp);
                return r;
        }
        if ((r = image_manifest_read(s, m->base, &info, err)) < 0)
                return ak_error_wrap(err, "the seed's base image %.12s", m->base);
        return 0;
}

int image_seed_install(struct image_store *s, const char *dir, const struct image_progress *p, struct ak_error *err)
{
        struct seed_manifest *m = NULL;
        int r = manifest_load(dir, &m, err);
        if (r == 0 && (r = install_kernel(s, dir, m, p, err)) == 0)
                r = install_base(s, dir, m, p, err);
        seed_manifest_free(m);
        if (r < 0)
                return ak_error_wrap(err, "install the image seed %s", dir);
        return 0;
}
