/* A kernel built with everything in it (vmm/kernel/build_kernel.sh, from
 * Debian's linux-source), installed into the store beside Debian's, and
 * the switch between the two (image.h). Its store entry has the same shape
 * as a Debian one (image_kernel_load): vmlinuz, a release file, and
 * lib/modules/<release>/ with an empty modules.dep and the kernel's
 * modules.builtin, so the base image loads nothing and checks that each
 * module it would load is built in. */
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
#include "vmm/image/bzimage.h"
#include "vmm/image/image_impl.h"

/* Larger than any kernel image or modules.builtin we build (~2 MiB, ~10 KiB). */
#define BUILT_VMLINUZ_MAX ((size_t)64 << 20)
#define BUILT_BUILTIN_MAX ((size_t)1 << 20)

/* The entry's files under dir: vmlinuz, release, lib/modules/<release>/. */
static int write_entry(const char *dir, const char *bzimage, const char *builtin, const char *release,
                       const char *entry, struct ak_error *err)
{
        char path[PATH_MAX], text[256];
        int r;

        pathfmt(path, sizeof(path), "%s/lib/modules/%s", dir, release);
        if (ak_mkdir_p(path, 0755, false) < 0)
                return ak_error_errno(err, -errno, "create %s", path);
        pathfmt(path, sizeof(path), "%s/vmlinuz", dir);
        if ((r = image_copy_file(bzimage, path, err)) < 0)
                return r;
        pathfmt(path, sizeof(path), "%s/lib/modules/%s/modules.builtin", dir, release);
        if ((r = image_copy_file(builtin, path, err)) < 0)
                return r;
        pathfmt(path, sizeof(path), "%s/lib/modules/%s/modules.dep", dir, release);
        if ((r = image_write_file_atomic(path, "", 0, err)) < 0)
                return r;
        pathfmt(path, sizeof(path), "%s/release", dir);
        /* Built without PCI, it cannot load microvm's ACPI tables. */
        int n = snprintf(text, sizeof(text), "%s\n%s\n" IMAGE_KERNEL_NO_ACPI "\n", release, entry);
        return image_write_file_atomic(path, text, (size_t)n, err);
}

/* Checks modules.builtin: "kernel/<path>.ko" lines, nothing else. */
static int check_builtin(const char *path, struct ak_error *err)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = ak_read_file(path, BUILT_BUILTIN_MAX, &data, &len);
        if (r == -EFBIG)
                return ak_error_set(err, r, "%s is larger than %zu bytes: not a modules.builtin", path,
                                    BUILT_BUILTIN_MAX);
        if (r < 0)
                return ak_error_errno(err, r, "read %s (the kernel build writes it beside vmlinux)", path);
        size_t lines = 0;
        for (char *l = data, *e; l < data + len; l = e + 1, lines++) {
                e = memchr(l, '\n', (size_t)(data + len - l));
                if (!e)
                        return ak_error_set(err, -EINVAL, "%s: line %zu does not end with a newline", path, lines + 1);
                if (e - l < 12 || strncmp(l, "kernel/", 7) != 0 || strncmp(e - 3, ".ko", 3) != 0 ||
                    memchr(l, 0, (size_t)(e - l)))
                        return ak_error_set(err, -EINVAL, "%s: line %zu is not kernel/<path>.ko: not a "
                                                          "modules.builtin", path, lines + 1);
        }
        return 0;
}

int image_kernel_install(struct image_store *s, const char *bzimage, const char *modules_builtin,
                         const struct image_progress *p, char ret_entry[IMAGE_KERNEL_ENTRY_MAX], struct ak_error *err)
{
        char release[BZIMAGE_RELEASE_MAX], hex[IMAGE_HASH_LEN + 1], entry[IMAGE_KERNEL_ENTRY_MAX];
        char lock[PATH_MAX], tmp[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
        _cleanup_free_ char *head = NULL;
        size_t len;
        struct image_kernel k;
        int r;

        _cleanup_close_ int fd = open(bzimage, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "open the kernel image %s", bzimage);
        if (!S_ISREG(st.st_mode) || (size_t)st.st_size > BUILT_VMLINUZ_MAX)
                return ak_error_set(err, -EINVAL, "%s is not a regular file of at most %zu bytes: not a bzImage",
                                    bzimage, BUILT_VMLINUZ_MAX);
        head = malloc(BZIMAGE_SETUP_MAX);
        if (!head)
                return ak_error_set(err, -ENOMEM, "out of memory");
        ssize_t n = ak_read_full(fd, head, BZIMAGE_SETUP_MAX);
        if (n < 0)
                return ak_error_errno(err, (int)n, "read %s", bzimage);
        len = (size_t)n;
        if ((r = bzimage_release(head, len, release, err)) < 0)
                return ak_error_wrap(err, "%s", bzimage);
        if ((r = check_builtin(modules_builtin, err)) < 0)
                return r;
        if ((r = image_hash_file(bzimage, hex, err)) < 0)
                return r;
        /* Content-addressed: another build is another entry (and base image). */
        snprintf(entry, sizeof(entry), IMAGE_KERNEL_AK_PREFIX "%s_%.16s", release, hex);

        pathfmt(lock, sizeof(lock), "%s/kernel/.lock", s->dir);
        _cleanup_close_ int lfd = -1;
        if ((r = image_lock(lock, &lfd, err)) < 0)
                return r;
        if (image_kernel_load(s, entry, &k) != 0) {
                image_report(p, "kernel", "installing %s as %s", bzimage, entry);
                if ((r = image_tmpdir(s, tmp, err)) < 0)
                        return r;
                pathfmt(from, sizeof(from), "%s/k", tmp);
                pathfmt(to, sizeof(to), "%s/kernel/%s", s->dir, entry);
                r = write_entry(from, bzimage, modules_builtin, release, entry, err);
                if (r == 0) {
                        ak_rm_rf(to); /* an incomplete one: image_kernel_load failed under the lock */
                        if (rename(from, to) < 0)
                                r = ak_error_errno(err, -errno, "move the kernel to %s", to);
                }
                ak_rm_rf(tmp);
                if (r < 0)
                        return r;
        }
        if ((r = image_kernel_set_current(s, entry, err)) < 0)
                return r;
        snprintf(ret_entry, IMAGE_KERNEL_ENTRY_MAX, "%s", entry);
        return 0;
}

/* The newest complete Debian kernel entry ("linux-image-..."), by name. */
static int find_debian(struct image_store *s, char ret[IMAGE_KERNEL_ENTRY_MAX])
{
        char dir[PATH_MAX];
        struct image_kernel k;
        int r = -ENOENT;

        pathfmt(dir, sizeof(dir), "%s/kernel", s->dir);
        DIR *d = opendir(dir);
        if (!d)
                return -errno;
        struct dirent *de;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "linux-image-", 12) == 0 && strlen(de->d_name) < IMAGE_KERNEL_ENTRY_MAX &&
                    (r < 0 || strcmp(de->d_name, ret) > 0) && image_kernel_load(s, de->d_name, &k) == 0) {
                        strcpy(ret, de->d_name);
                        r = 0;
                }
        closedir(d);
        return r;
}

int image_kernel_use_debian(struct image_store *s, const struct image_progress *p, struct image_kernel *ret,
                            struct ak_error *err)
{
        char lock[PATH_MAX], link[PATH_MAX], entry[IMAGE_KERNEL_ENTRY_MAX];
        int r;

        pathfmt(lock, sizeof(lock), "%s/kernel/.lock", s->dir);
        pathfmt(link, sizeof(link), "%s/kernel/current", s->dir);
        {
                _cleanup_close_ int lfd = -1;
                if ((r = image_lock(lock, &lfd, err)) < 0)
                        return r;
                if (find_debian(s, entry) == 0)
                        r = image_kernel_set_current(s, entry, err);
                else if (unlink(link) < 0 && errno != ENOENT)
                        r = ak_error_errno(err, -errno, "remove %s", link);
                if (r < 0)
                        return r;
        }
        return image_kernel_get(s, p, ret, err);
}
