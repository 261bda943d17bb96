/* Root filesystem images in two steps, each cached by its inputs:
 *   stage: `debootstrap --variant=minbase [--include=...] bookworm`, apt's
 *          caches dropped, packed into ext4 with `mkfs.ext4 -d` (no loop
 *          mount); keyed by suite, mirror and packages;
 *   image: a sparse copy of the stage with ak-guest written in as
 *          /usr/local/bin/ak-guest by debugfs; keyed by stage and ak-guest.
 * So a new guest agent costs a copy, not another debootstrap. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/pathfmt.h"
#include "lib/base/proc.h"
#include "vmm/image/image_impl.h"

/* Part of each step's input hash: bump when the step's output changes. */
#define STAGE_FORMAT "ak-rootfs-v2"
#define ROOTFS_FORMAT "ak-rootfs-v3"
#define SUITE "bookworm"
#define DEFAULT_MIRROR "http://deb.debian.org/debian"
#define DEBOOTSTRAP_TIMEOUT_MS (30 * 60 * 1000)

static const char *mirror(void)
{
        const char *m = getenv("AK_DEBIAN_MIRROR");
        return m && *m ? m : DEFAULT_MIRROR;
}

/* Debian package names: [a-z0-9][a-z0-9+.-]+ (policy 5.6.1). */
static int package_check(const char *p)
{
        size_t n = strlen(p);
        if (n < 2 || n > 100 || !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= '0' && p[0] <= '9')))
                return -EINVAL;
        for (size_t i = 1; i < n; i++)
                if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '+' || p[i] == '.' ||
                      p[i] == '-'))
                        return -EINVAL;
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted, duplicates dropped, joined with commas. */
static int package_list(const char *const *packages, size_t n, char *out, size_t size, struct ak_error *err)
{
        if (n > IMAGE_MAX_PACKAGES)
                return ak_error_set(err, -E2BIG, "too many packages (%zu; at most %d)", n, IMAGE_MAX_PACKAGES);
        const char **v = calloc(n + 1, sizeof(*v));
        if (!v)
                return ak_error_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                if (package_check(packages[i]) < 0) {
                        free(v);
                        return ak_error_set(err, -EINVAL, "'%s' is not a Debian package name", packages[i]);
                }
                v[i] = packages[i];
        }
        qsort(v, n, sizeof(*v), cmp_str);
        size_t len = 0;
        out[0] = 0;
        for (size_t i = 0; i < n; i++) {
                if (i && strcmp(v[i], v[i - 1]) == 0)
                        continue;
                int k = snprintf(out + len, size - len, "%s%s", len ? "," : "", v[i]);
                if (k < 0 || (size_t)k >= size - len) {
                        free(v);
                        return ak_error_set(err, -E2BIG, "package list too long");
                }
                len += (size_t)k;
        }
        free(v);
        return 0;
}

struct debootstrap_progress {
        const struct image_progress *p;
        char missing[512];
};

static void on_debootstrap_line(void *userdata, const char *line)
{
        struct debootstrap_progress *dp = userdata;
        /* "E: Couldn't find these debs: foo bar" */
        const char *m = strstr(line, "Couldn't find these debs:");
        if (m)
                snprintf(dp->missing, sizeof(dp->missing), "%s", m + strlen("Couldn't find these debs:") + 1);
        if (strncmp(line, "I: ", 3) == 0)
                image_report(dp->p, "debootstrap", "%s", line + 3);
}

static uint64_t tree_bytes;

static int du_cb(const char *path, const struct stat *st, int type, struct FTW *f)
{
        if (type == FTW_F || type == FTW_SL || type == FTW_D)
                tree_bytes += (uint64_t)st->st_blocks * 512 + 4096;
        return 0;
}

static int debootstrap(const char *root, const char *packages, const struct image_progress *p,
                       struct ak_error *err)
{
        char include[4200];
        const char *argv[8];
        int n = 0, status, r;
        char *out = NULL;

        argv[n++] = "debootstrap";
        argv[n++] = "--variant=minbase";
        if (packages[0]) {
                pathfmt(include, sizeof(include), "--include=%s", packages);
                argv[n++] = include;
        }
        argv[n++] = SUITE;
        argv[n++] = root;
        argv[n++] = mirror();
        argv[n] = NULL;
        struct debootstrap_progress dp = { .p = p };
        struct proc_opts o = { .argv = argv, .timeout_ms = DEBOOTSTRAP_TIMEOUT_MS, .on_line = on_debootstrap_line,
                               .userdata = &dp };
        image_report(p, "debootstrap", "debootstrap --variant=minbase %s%s %s (about a minute)",
                     packages[0] ? include : "", packages[0] ? "" : "", SUITE);
        if ((r = proc_run(&o, &status, &out, err)) < 0) {
                if (r == -ENOENT)
                        ak_error_set(err, r, "debootstrap is not installed: apt-get install debootstrap "
                                             "(tools/deps.sh installs it)");
                return r;
        }
        if (status == 0) {
                free(out);
                return 0;
        }
        if (dp.missing[0])
                r = ak_error_set(err, -ENOENT, "package not found in Debian %s: %s", SUITE, dp.missing);
        else if (image_output_disk_full(out))
                r = ak_error_set(err, -ENOSPC, "disk full while running debootstrap: free some space under %s",
                                 root);
        else
                r = ak_error_set(err, -EIO, "debootstrap failed (exit %d): %s", status, proc_tail_lines(out, 4));
        free(out);
        return r;
}

static int debugfs_sif(const char *file, const char *field, unsigned value, bool octal, struct ak_error *err)
{
        char cmd[64];
        char *out = NULL;
        int status, r;
        pathfmt(cmd, sizeof(cmd), octal ? "sif / %s 0%o" : "sif / %s %u", field, value);
        const char *argv[] = { "debugfs", "-w", "-R", cmd, file, NULL };
        struct proc_opts o = { .argv = argv, .timeout_ms = 60000 };
        if ((r = proc_run(&o, &status, &out, err)) < 0)
                return r == -ENOENT ? ak_error_set(err, r, "debugfs is not installed: apt-get install e2fsprogs") : r;
        /* debugfs exits 0 even when a command fails; on success it says
         * nothing after its banner. */
        const char *said = strchr(out ? out : "", '\n');
        if (status != 0 || (said && said[1]))
                r = ak_error_set(err, -EIO, "debugfs '%s' on %s failed: %s", cmd, file,
                                 proc_tail_lines(out ? out : "", 3));
        free(out);
        return r;
}

int image_ext4_root_attrs(const char *file, uid_t uid, gid_t gid, mode_t mode, struct ak_error *err)
{
        int r = 0;
        if ((mode & 07777) != 0755)
                r = debugfs_sif(file, "mode", (unsigned)(S_IFDIR | (mode & 07777)), true, err);
        if (r == 0 && uid != 0)
                r = debugfs_sif(file, "uid", (unsigned)uid, false, err);
        if (r == 0 && gid != 0)
                r = debugfs_sif(file, "gid", (unsigned)gid, false, err);
        return r;
}

int image_mkfs_ext4(const char *root, const char *file, const struct image_progress *p, struct ak_error *err)
{
        char size[32];
        int status, r;
        char *out = NULL;

        tree_bytes = 0;
        if (nftw(root, du_cb, 64, FTW_PHYS | FTW_MOUNT) < 0)
                return ak_error_errno(err, -errno, "measure %s", root);
        /* Room for the files, ext4's metadata, and what the guest writes. */
        uint64_t mb = tree_bytes / (1 << 20) * 5 / 4 + 256;
        pathfmt(size, sizeof(size), "%llum", (unsigned long long)mb);
        image_report(p, "mkfs", "mkfs.ext4 -d (%llu MiB)", (unsigned long long)mb);
        const char *argv[] = { "mkfs.ext4", "-q", "-F", "-L", "akroot", "-E", "root_owner=0:0", "-d", root, file, size, NULL };
        struct proc_opts o = { .argv = argv, .timeout_ms = 10 * 60 * 1000 };
        if ((r = proc_run(&o, &status, &out, err)) < 0) {
                if (r == -ENOENT)
                        ak_error_set(err, r, "mkfs.ext4 is not installed: apt-get install e2fsprogs");
                return r;
        }
        if (status != 0) {
                if (image_output_disk_full(out))
                        r = ak_error_set(err, -ENOSPC, "disk full while writing %s", file);
                else
                        r = ak_error_set(err, -EIO, "mkfs.ext4 failed (exit %d): %s", status, proc_tail_lines(out, 3));
        }
        free(out);
        return r;
}

int image_check_space(const char *dir, struct ak_error *err)
{
        struct statvfs vfs;
        if (statvfs(dir, &vfs) < 0)
                return ak_error_errno(err, -errno, "statvfs %s", dir);
        uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        if (avail < IMAGE_ROOTFS_MIN_FREE)
                return ak_error_set(err, -ENOSPC,
                                    "disk full: %llu MiB free under %s; building a root filesystem needs about %llu MiB",
                                    (unsigned long long)(avail >> 20), dir,
                                    (unsigned long long)(IMAGE_ROOTFS_MIN_FREE >> 20));
        return 0;
}

/* debootstrap + mkfs into stage/<stage>/rootfs.ext4, unless it is there. */
static int ensure_stage(struct image_store *s, const char *stage, const char *packages, const struct image_progress *p,
                        struct ak_error *err)
{
        char dir[PATH_MAX], path[PATH_MAX], lock[PATH_MAX], tmp[PATH_MAX], root[PATH_MAX], dbs[PATH_MAX];
        int lfd = -1, r;

        pathfmt(dir, sizeof(dir), "%s/stage/%s", s->dir, stage);
        pathfmt(path, sizeof(path), "%s/rootfs.ext4", dir);
        if (access(path, R_OK) == 0) {
                image_report(p, "cache", "packages already bootstrapped (stage %.12s)", stage);
                return 0;
        }
        if (geteuid() != 0)
                return ak_error_set(err, -EPERM, "building a root filesystem image needs root (debootstrap chroots)");
        if (proc_which("debootstrap", dbs, sizeof(dbs)) < 0)
                return ak_error_set(err, -ENOENT, "debootstrap is not installed: apt-get install debootstrap "
                                                  "(tools/deps.sh installs it)");
        if ((r = image_check_space(s->dir, err)) < 0)
                return r;
        pathfmt(lock, sizeof(lock), "%s/stage/%s.lock", s->dir, stage);
        if ((r = image_lock(lock, &lfd, err)) < 0)
                return r;
        if (access(path, R_OK) == 0) /* bootstrapped while we waited */
                goto out;
        if ((r = image_tmpdir(s, tmp, err)) < 0)
                goto out;
        pathfmt(root, sizeof(root), "%s/root", tmp);
        if ((r = debootstrap(root, packages, p, err)) < 0)
                goto clean;
        /* The .debs and package lists are not needed in the guest. */
        static const char *const drop[] = { "var/cache/apt/archives", "var/lib/apt/lists" };
        for (size_t i = 0; i < AK_ARRAY_SIZE(drop); i++) {
                char d[PATH_MAX];
                pathfmt(d, sizeof(d), "%s/%s", root, drop[i]);
                ak_rm_rf(d);
                mkdir(d, 0755);
        }
        char ext4[PATH_MAX];
        pathfmt(ext4, sizeof(ext4), "%s/rootfs.ext4", tmp);
        r = image_mkfs_ext4(root, ext4, p, err);
        ak_rm_rf(root);
        if (r < 0)
                goto clean;
        if (rename(tmp, dir) < 0 && errno != EEXIST && errno != ENOTEMPTY) {
                r = ak_error_errno(err, -errno, "move %s to %s", tmp, dir);
                goto clean;
        }
        goto out;
clean:
        ak_rm_rf(tmp);
out:
        unlink(lock);
        close(lfd);
        return r;
}

/* A copy of the stage with ak-guest written in as /usr/local/bin/ak-guest
 * and a static busybox as /usr/local/bin/busybox (the host sets up the
 * guest's network with it) by debugfs: no mount needed. */
static int add_guest(const char *stage_file, const char *tmp, const char *guest, const char *busybox,
                     struct ak_error *err)
{
        char path[PATH_MAX], cmds[PATH_MAX];
        int status, r;
        char *out = NULL;

        pathfmt(path, sizeof(path), "%s/rootfs.ext4", tmp);
        const char *cp[] = { "cp", "--sparse=always", stage_file, path, NULL };
        struct proc_opts o = { .argv = cp, .timeout_ms = 10 * 60 * 1000 };
        if ((r = proc_run(&o, &status, &out, err)) < 0)
                return r;
        if (status != 0) {
                r = image_output_disk_full(out) ? ak_error_set(err, -ENOSPC, "disk full while copying %s", stage_file)
                                                : ak_error_set(err, -EIO, "cp %s: %s", stage_file, proc_tail_lines(out, 2));
                free(out);
                return r;
        }
        free(out);
        out = NULL;
        /* Relative names in the command file: store paths may hold spaces. */
        pathfmt(path, sizeof(path), "%s/ak-guest.bin", tmp);
        if ((r = image_copy_file(guest, path, err)) < 0)
                return r;
        char bb[PATH_MAX];
        pathfmt(bb, sizeof(bb), "%s/busybox.bin", tmp);
        if ((r = image_copy_file(busybox, bb, err)) < 0)
                return r;
        pathfmt(cmds, sizeof(cmds), "%s/debugfs.cmds", tmp);
        FILE *f = fopen(cmds, "we");
        if (!f)
                return ak_error_errno(err, -errno, "create %s", cmds);
        fputs("cd /usr/local/bin\nwrite ak-guest.bin ak-guest\nsif ak-guest mode 0100755\n"
              "write busybox.bin busybox\nsif busybox mode 0100755\n", f);
        if (fclose(f) != 0)
                return ak_error_errno(err, -errno, "write %s", cmds);
        const char *dbg[] = { "debugfs", "-w", "-f", "debugfs.cmds", "rootfs.ext4", NULL };
        struct proc_opts d = { .argv = dbg, .cwd = tmp, .timeout_ms = 60000 };
        if ((r = proc_run(&d, &status, &out, err)) < 0) {
                if (r == -ENOENT)
                        ak_error_set(err, r, "debugfs is not installed: apt-get install e2fsprogs");
                return r;
        }
        /* debugfs exits 0 even when a command fails: look at what it said. */
        if (status != 0 || !strstr(out, "Allocated inode")) {
                r = image_output_disk_full(out) ? ak_error_set(err, -ENOSPC, "disk full: no room for ak-guest in the image")
                                                : ak_error_set(err, -EIO, "debugfs could not add ak-guest: %s",
                                                               proc_tail_lines(out, 3));
                free(out);
                return r;
        }
        free(out);
        unlink(path);
        unlink(bb);
        unlink(cmds);
        return 0;
}

static int stage_key(const char *list, char ret[IMAGE_HASH_LEN + 1], struct ak_error *err)
{
        char text[8192];
        pathfmt(text, sizeof(text), STAGE_FORMAT "\nsuite=%s\nmirror=%s\nvariant=minbase\npackages=%s\n", SUITE,
                mirror(), list);
        return image_hash_text(text, ret, err);
}

int image_stage_file(struct image_store *s, const char *const *packages, size_t n_packages, char ret[PATH_MAX],
                     struct ak_error *err)
{
        char list[4096], stage[IMAGE_HASH_LEN + 1];
        int r;

        if ((r = package_list(packages, n_packages, list, sizeof(list), err)) < 0 || (r = stage_key(list, stage, err)) < 0)
                return r;
        pathfmt(ret, PATH_MAX, "%s/stage/%s/rootfs.ext4", s->dir, stage);
        return 0;
}

int image_build_rootfs(struct image_store *s, const char *name, const char *const *packages, size_t n_packages,
                       const struct image_progress *p, struct image_info *ret, struct ak_error *err)
{
        struct image_info info = { 0 };
        char list[4096], hash[IMAGE_HASH_LEN + 1], stage[IMAGE_HASH_LEN + 1], gh[IMAGE_HASH_LEN + 1], text[8192];
        char lock[PATH_MAX], tmp[PATH_MAX] = "", path[PATH_MAX];
        const char *guest;
        int lfd = -1, r;

        if (image_name_check(name) < 0)
                return ak_error_set(err, -EINVAL, "invalid image name '%s': use a-z, 0-9, '.', '_', '-' (at most %d)",
                                    name, IMAGE_NAME_MAX);
        if (strcmp(name, IMAGE_BASE) == 0)
                return ak_error_set(err, -EINVAL, "'base' is the built-in initramfs image; choose another name");
        if ((r = package_list(packages, n_packages, list, sizeof(list), err)) < 0)
                return r;
        if ((r = image_guest_binary(s, &guest, err)) < 0 || (r = image_hash_file(guest, gh, err)) < 0)
                return r;
        char busybox[PATH_MAX], bh[IMAGE_HASH_LEN + 1];
        if (proc_which("busybox", busybox, sizeof(busybox)) < 0)
                return ak_error_set(err, -ENOENT, "busybox not found: install busybox-static (tools/deps.sh)");
        if ((r = image_hash_file(busybox, bh, err)) < 0)
                return r;
        if ((r = stage_key(list, stage, err)) < 0)
                return r;
        pathfmt(text, sizeof(text), ROOTFS_FORMAT "\nstage=%s\nguest=%s\nbusybox=%s\n", stage, gh, bh);
        if ((r = image_hash_text(text, hash, err)) < 0)
                return r;
        if (image_manifest_read(s, hash, &info, NULL) == 0) {
                image_report(p, "cache", "same inputs as image %.12s: nothing to build", hash);
                goto named;
        }
        pathfmt(lock, sizeof(lock), "%s/%s.lock", s->dir, hash);
        if ((r = image_lock(lock, &lfd, err)) < 0)
                return r;
        if (image_manifest_read(s, hash, &info, NULL) == 0)
                goto named;
        if ((r = ensure_stage(s, stage, list, p, err)) < 0)
                goto out;
        image_report(p, "agent", "adding ak-guest to a copy of stage %.12s", stage);
        if ((r = image_tmpdir(s, tmp, err)) < 0)
                goto out;
        char stage_file[PATH_MAX];
        pathfmt(stage_file, sizeof(stage_file), "%s/stage/%s/rootfs.ext4", s->dir, stage);
        if ((r = add_guest(stage_file, tmp, guest, busybox, err)) < 0)
                goto out;
        pathfmt(path, sizeof(path), "%s/rootfs.ext4", tmp);
        struct stat st;
        if (stat(path, &st) < 0) {
                r = ak_error_errno(err, -errno, "stat %s", path);
                goto out;
        }
        pathfmt(info.name, sizeof(info.name), "%s", name);
        memcpy(info.hash, hash, sizeof(info.hash));
        pathfmt(info.kind, sizeof(info.kind), "rootfs");
        pathfmt(info.packages, sizeof(info.packages), "%s", list);
        memcpy(info.stage, stage, sizeof(info.stage));
        info.size_bytes = (uint64_t)st.st_blocks * 512;
        info.created_at = (int64_t)time(NULL);
        if ((r = image_manifest_write(tmp, &info, err)) < 0 || (r = image_publish(s, tmp, hash, err)) < 0)
                goto out;
        tmp[0] = 0;
        if ((r = image_manifest_read(s, hash, &info, err)) < 0)
                goto out;
named:
        if ((r = image_name_set(s, name, hash, err)) < 0)
                goto out;
        image_gc(s, 24 * 3600);
        pathfmt(info.name, sizeof(info.name), "%s", name);
        *ret = info;
        r = 0;
out:
        if (tmp[0])
                ak_rm_rf(tmp);
        if (lfd >= 0)
                close(lfd);
        if (r < 0)
                ak_error_wrap(err, "build image %s", name);
        return r;
}
