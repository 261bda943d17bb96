/* The guest kernel: Debian's linux-image-cloud-amd64, fetched once with
 * `apt-get download` (the metapackage names the real package), unpacked
 * with `dpkg-deb -x`, and given the modules.dep the .deb lacks (`depmod`). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/pathfmt.h"
#include "lib/base/proc.h"
#include "vmm/image/image_impl.h"

#define KERNEL_META "linux-image-cloud-amd64"
#define APT_TIMEOUT_MS (10 * 60 * 1000)

int image_kernel_load(struct image_store *s, const char *entry, struct image_kernel *ret)
{
        struct image_kernel k = { 0 };
        char path[PATH_MAX], line1[128] = "", line2[160] = "", line3[32] = "";

        pathfmt(k.dir, sizeof(k.dir), "%s/kernel/%s", s->dir, entry);
        pathfmt(path, sizeof(path), "%s/release", k.dir);
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        bool ok = fgets(line1, sizeof(line1), f) && fgets(line2, sizeof(line2), f);
        /* Optional boot settings (image_kernel_install): "acpi=off". */
        if (ok && fgets(line3, sizeof(line3), f))
                k.no_acpi = strcmp(line3, IMAGE_KERNEL_NO_ACPI "\n") == 0;
        fclose(f);
        line1[strcspn(line1, "\n")] = 0;
        line2[strcspn(line2, "\n")] = 0;
        if (!ok || !line1[0] || strchr(line1, '/') || strlen(line1) >= sizeof(k.release) ||
            strlen(line2) >= sizeof(k.package))
                return -EINVAL;
        strcpy(k.release, line1);
        strcpy(k.package, line2);
        k.ak_built = strncmp(entry, IMAGE_KERNEL_AK_PREFIX, strlen(IMAGE_KERNEL_AK_PREFIX)) == 0;
        pathfmt(k.vmlinuz, sizeof(k.vmlinuz), "%s/vmlinuz", k.dir);
        pathfmt(k.modules_dir, sizeof(k.modules_dir), "%s/lib/modules/%s", k.dir, k.release);
        pathfmt(path, sizeof(path), "%s/modules.dep", k.modules_dir);
        if (access(k.vmlinuz, R_OK) < 0 || access(path, R_OK) < 0)
                return -ENOENT;
        *ret = k;
        return 0;
}

int image_kernel_current(struct image_store *s, struct image_kernel *ret)
{
        char link[PATH_MAX], target[256];

        pathfmt(link, sizeof(link), "%s/kernel/current", s->dir);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
                return -ENOENT;
        target[n] = 0;
        if (strchr(target, '/'))
                return -EINVAL;
        return image_kernel_load(s, target, ret);
}

/* Runs a helper; on failure err gets its name, status and last lines. */
static int run(const char *const *argv, const char *cwd, char **ret_output, struct ak_error *err)
{
        struct proc_opts o = { .argv = argv, .cwd = cwd, .timeout_ms = APT_TIMEOUT_MS };
        char *out = NULL;
        int status;
        int r = proc_run(&o, &status, &out, err);
        if (r < 0)
                return r;
        if (status != 0) {
                r = ak_error_set(err, -EIO, "%s %s failed (exit %d): %s", argv[0], argv[1], status,
                                 proc_tail_lines(out, 3));
                if (image_output_disk_full(out))
                        ak_error_wrap(err, "disk full");
                free(out);
                return r;
        }
        if (ret_output)
                *ret_output = out;
        else
                free(out);
        return 0;
}

/* The one file in dir named <prefix>*.deb. */
static int find_deb(const char *dir, const char *prefix, char ret[PATH_MAX])
{
        DIR *d = opendir(dir);
        if (!d)
                return -errno;
        struct dirent *de;
        int r = -ENOENT;
        size_t pl = strlen(prefix);
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                if (n > 4 && strcmp(de->d_name + n - 4, ".deb") == 0 && strncmp(de->d_name, prefix, pl) == 0) {
                        pathfmt(ret, PATH_MAX, "%s/%s", dir, de->d_name);
                        r = 0;
                        break;
                }
        }
        closedir(d);
        return r;
}

static int find_release(const char *root, char ret[64])
{
        char path[PATH_MAX];

        pathfmt(path, sizeof(path), "%s/boot", root);
        DIR *d = opendir(path);
        if (!d)
                return -errno;
        struct dirent *de;
        int r = -ENOENT;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "vmlinuz-", 8) == 0 && strlen(de->d_name + 8) < 64 &&
                    !strchr(de->d_name + 8, '/')) {
                        strcpy(ret, de->d_name + 8);
                        r = 0;
                        break;
                }
        closedir(d);
        return r;
}

/* Whether a failed `apt-get download`, by its message, means the archive
 * cannot be reached from here: apt's words for a network or mirror failure. */
static bool apt_unreachable(const char *msg)
{
        static const char *const words[] = { "Failed to fetch", "Temporary failure resolving", "Could not resolve",
                                             "Could not connect", "Unable to connect", "Network is unreachable" };
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
                if (strstr(msg, words[i]))
                        return true;
        return false;
}

/* With $AK_DEBIAN_MIRROR set, apt reads that mirror alone, through its own
 * sources.list and lists under <tmp>/apt (filled by `apt-get update` once per
 * fetch), as debootstrap does for root filesystems; unset, the machine's own
 * apt sources. */
struct apt_opts {
        char sources[PATH_MAX + 32], parts[64], lists[PATH_MAX + 32];
        bool own;
};

static int apt_setup(const char *tmp, struct apt_opts *a, struct ak_error *err)
{
        const char *mirror = getenv("AK_DEBIAN_MIRROR");
        char dir[PATH_MAX], path[PATH_MAX];
        *a = (struct apt_opts){ .own = mirror && *mirror };
        if (!a->own)
                return 0;
        if (strchr(mirror, ' ') || strchr(mirror, '\n'))
                return ak_error_set(err, -EINVAL, "AK_DEBIAN_MIRROR '%s' is not a URL", mirror);
        pathfmt(dir, sizeof(dir), "%s/apt/lists/partial", tmp);
        if (ak_mkdir_p(dir, 0755, false) < 0)
                return ak_error_errno(err, -errno, "create %s", dir);
        pathfmt(path, sizeof(path), "%s/apt/sources.list", tmp);
        FILE *f = fopen(path, "we");
        if (!f)
                return ak_error_errno(err, -errno, "create %s", path);
        fprintf(f, "deb %s bookworm main\n", mirror);
        if (fclose(f) != 0)
                return ak_error_errno(err, -errno, "write %s", path);
        snprintf(a->sources, sizeof(a->sources), "Dir::Etc::SourceList=%s", path);
        snprintf(a->parts, sizeof(a->parts), "Dir::Etc::SourceParts=/nonexistent");
        pathfmt(path, sizeof(path), "%s/apt/lists", tmp);
        snprintf(a->lists, sizeof(a->lists), "Dir::State::Lists=%s", path);
        return 0;
}

/* Whether a failed apt run means the packages cannot be had here at all
 * (no apt-get, a timeout, no network or mirror): then IMAGE_KERNEL_UNAVAILABLE. */
static int apt_failed(int r, const char *pkg, struct ak_error *err)
{
        if (strncmp(err->msg, "disk full", 9) == 0) /* run() said so; apt may also say "Failed to fetch" */
                return r;
        if (strstr(err->msg, "Unable to locate package"))
                ak_error_wrap(err, "apt does not know %s (run `apt-get update`)", pkg);
        else if (r != -ENOENT && r != -ETIMEDOUT && !apt_unreachable(err->msg))
                return r;
        err->code = IMAGE_KERNEL_UNAVAILABLE;
        return IMAGE_KERNEL_UNAVAILABLE;
}

static int apt_update(const struct apt_opts *a, struct ak_error *err)
{
        if (!a->own)
                return 0;
        const char *argv[] = { "apt-get", "update", "--error-on=any", "-o", "Acquire::Retries=0", "-o", a->sources,
                               "-o", a->parts, "-o", a->lists, "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
                               "-o", "APT::Sandbox::User=root", NULL };
        int r = run(argv, NULL, NULL, err);
        return r < 0 ? apt_failed(r, "the package lists", err) : 0;
}

/* `apt-get download pkg` into dir. When the package cannot be had on this
 * machine at all (no apt-get, a timeout, no network or mirror, a package apt
 * does not know) the code is IMAGE_KERNEL_UNAVAILABLE; other failures (a full
 * disk) keep theirs. */
static int download(const struct apt_opts *a, const char *pkg, const char *dir, struct ak_error *err)
{
        const char *plain[] = { "apt-get", "download", pkg, NULL };
        const char *own[] = { "apt-get", "download", "-o", "Acquire::Retries=0", "-o", a->sources, "-o", a->parts,
                              "-o", a->lists, "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
                              "-o", "APT::Sandbox::User=root", pkg, NULL };
        int r = run(a->own ? own : plain, dir, NULL, err);
        return r < 0 ? apt_failed(r, pkg, err) : 0;
}

static int fetch(struct image_store *s, const char *tmp, const struct image_progress *p, struct ak_error *err)
{
        char deb[PATH_MAX], root[PATH_MAX], kdir[PATH_MAX], path[PATH_MAX], path2[PATH_MAX], release[64];
        char *out = NULL;
        struct apt_opts apt;
        int r;

        if ((r = apt_setup(tmp, &apt, err)) < 0)
                return r;
        if (apt.own)
                image_report(p, "download", "apt-get update from %s", getenv("AK_DEBIAN_MIRROR"));
        if ((r = apt_update(&apt, err)) < 0)
                return r;
        image_report(p, "download", "apt-get download %s", KERNEL_META);
        if ((r = download(&apt, KERNEL_META, tmp, err)) < 0)
                return r;
        if (find_deb(tmp, KERNEL_META "_", deb) < 0)
                return ak_error_set(err, -ENOENT, "apt-get download %s left no .deb in %s", KERNEL_META, tmp);
        const char *depends[] = { "dpkg-deb", "-f", deb, "Depends", NULL };
        if ((r = run(depends, NULL, &out, err)) < 0)
                return r;
        /* "linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)" */
        char pkg[128] = "";
        const char *li = strstr(out, "linux-image-");
        if (li)
                pathfmt(pkg, sizeof(pkg), "%.*s", (int)strcspn(li, " ,|(\n"), li);
        free(out);
        if (!pkg[0])
                return ak_error_set(err, -EINVAL, "%s does not depend on a linux-image package", deb);
        image_report(p, "download", "apt-get download %s", pkg);
        if ((r = download(&apt, pkg, tmp, err)) < 0)
                return r;
        char prefix[160];
        pathfmt(prefix, sizeof(prefix), "%s_", pkg);
        if (find_deb(tmp, prefix, deb) < 0)
                return ak_error_set(err, -ENOENT, "apt-get download %s left no .deb in %s", pkg, tmp);
        image_report(p, "kernel", "unpacking %s", strrchr(deb, '/') + 1);
        pathfmt(root, sizeof(root), "%s/root", tmp);
        const char *x[] = { "dpkg-deb", "-x", deb, root, NULL };
        if ((r = run(x, NULL, NULL, err)) < 0)
                return r;
        if (find_release(root, release) < 0)
                return ak_error_set(err, -ENOENT, "%s has no boot/vmlinuz-*", deb);
        const char *dep[] = { "depmod", "-b", root, release, NULL };
        if ((r = run(dep, NULL, NULL, err)) < 0)
                return r;

        /* <tmp>/kernel/{vmlinuz,lib/modules/<release>,release}, then one rename. */
        pathfmt(kdir, sizeof(kdir), "%s/kernel", tmp);
        pathfmt(path, sizeof(path), "%s/lib", kdir);
        if (mkdir(kdir, 0755) < 0 || mkdir(path, 0755) < 0)
                return ak_error_errno(err, -errno, "create %s", path);
        pathfmt(path, sizeof(path), "%s/boot/vmlinuz-%s", root, release);
        pathfmt(path2, sizeof(path2), "%s/vmlinuz", kdir);
        if (rename(path, path2) < 0)
                return ak_error_errno(err, -errno, "move %s", path);
        pathfmt(path, sizeof(path), "%s/lib/modules", root);
        pathfmt(path2, sizeof(path2), "%s/lib/modules", kdir);
        if (rename(path, path2) < 0)
                return ak_error_errno(err, -errno, "move %s", path);
        /* The package file name without _amd64.deb: package_version. */
        char entry[160];
        const char *base = strrchr(deb, '/') + 1;
        pathfmt(entry, sizeof(entry), "%.*s", (int)(strlen(base) - strlen("_amd64.deb")), base);
        if (strchr(entry, '/') || strcmp(entry, "current") == 0)
                return ak_error_set(err, -EINVAL, "unexpected package file name %s", base);
        pathfmt(path, sizeof(path), "%s/release", kdir);
        FILE *f = fopen(path, "we");
        if (!f)
                return ak_error_errno(err, -errno, "create %s", path);
        fprintf(f, "%s\n%s\n", release, entry);
        if (fclose(f) != 0)
                return ak_error_errno(err, -errno, "write %s", path);
        pathfmt(path, sizeof(path), "%s/kernel/%s", s->dir, entry);
        if (rename(kdir, path) < 0 && errno != EEXIST && errno != ENOTEMPTY)
                return ak_error_errno(err, -errno, "move the kernel to %s", path);
        return image_kernel_set_current(s, entry, err);
}

int image_kernel_set_current(struct image_store *s, const char *entry, struct ak_error *err)
{
        char path[PATH_MAX], path2[PATH_MAX];

        pathfmt(path, sizeof(path), "%s/kernel/current.tmp", s->dir);
        pathfmt(path2, sizeof(path2), "%s/kernel/current", s->dir);
        unlink(path);
        if (symlink(entry, path) < 0 || rename(path, path2) < 0)
                return ak_error_errno(err, -errno, "link %s", path2);
        return 0;
}

int image_kernel_get(struct image_store *s, const struct image_progress *p, struct image_kernel *ret,
                     struct ak_error *err)
{
        char lock[PATH_MAX], tmp[PATH_MAX];
        int r;

        if (image_kernel_current(s, ret) == 0)
                return 0;
        pathfmt(lock, sizeof(lock), "%s/kernel/.lock", s->dir);
        _cleanup_close_ int lfd = -1;
        if ((r = image_lock(lock, &lfd, err)) < 0)
                return r;
        if (image_kernel_current(s, ret) == 0) /* fetched while we waited */
                return 0;
        if ((r = image_tmpdir(s, tmp, err)) < 0)
                return r;
        r = fetch(s, tmp, p, err);
        ak_rm_rf(tmp);
        if (r == IMAGE_KERNEL_UNAVAILABLE)
                return ak_error_wrap(err, IMAGE_KERNEL_UNAVAILABLE_MSG " into %s (%s)", s->dir, IMAGE_SEED_HINT);
        if (r < 0)
                return ak_error_wrap(err, "get the guest kernel");
        r = image_kernel_current(s, ret);
        if (r < 0)
                return ak_error_errno(err, r, "the kernel in %s/kernel", s->dir);
        return 0;
}
