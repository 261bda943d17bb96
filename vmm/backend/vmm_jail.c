/* The parent fills a struct vmm_jail with every path and number the child
 * needs; the child (vmm_jail_enter) only makes system calls and copies
 * bytes, because the parent may have threads (fork leaves their locks). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "vmm/backend/vmm_jail.h"

static char *const jail_env[] = { "PATH=/usr/local/bin:/usr/bin:/bin", NULL };
static char *const jail_env_tmp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "TMPDIR=" VMM_JAIL_TMP, NULL };

static int inside(const struct vmm_jail *j, const char *path, char out[PATH_MAX], struct ak_error *err)
{
        if (path[0] != '/')
                return ak_error_set(err, -EINVAL, "jail: %s is not an absolute path", path);
        int n = snprintf(out, PATH_MAX, "%s%s", j->root, path);
        if (n < 0 || n >= PATH_MAX)
                return ak_error_set(err, -ENAMETOOLONG, "jail: %s%s is too long", j->root, path);
        return 0;
}

/* Whether uid:gid (no supplementary groups) may read (and write). */
static bool may(const struct stat *st, uid_t uid, gid_t gid, bool write)
{
        mode_t r = st->st_uid == uid ? S_IRUSR : st->st_gid == gid ? S_IRGRP : S_IROTH;
        mode_t w = st->st_uid == uid ? S_IWUSR : st->st_gid == gid ? S_IWGRP : S_IWOTH;
        return (st->st_mode & r) && (!write || (st->st_mode & w));
}

int vmm_jail_bind_at(struct vmm_jail *j, const char *src, const char *dst, unsigned flags, struct ak_error *err)
{
        struct stat st;
        int r;

        if (!j->confine)
                return 0;
        if (j->n_binds == VMM_JAIL_MAX_BINDS)
                return ak_error_set(err, -E2BIG, "jail: more than %d paths", VMM_JAIL_MAX_BINDS);
        if (stat(src, &st) < 0)
                return ak_error_errno(err, -errno, "jail: %s", src);
        bool dir = S_ISDIR(st.st_mode);
        if (!dir && !S_ISREG(st.st_mode))
                return ak_error_set(err, -EINVAL, "jail: %s is neither a file nor a directory", src);
        if (!may(&st, j->uid, j->gid, flags & VMM_JAIL_RW))
                return ak_error_set(err, -EACCES, "jail: the VMM's uid %u cannot %s %s (mode %04o, owner %u:%u): "
                                    "run: chmod o+%s %s", (unsigned)j->uid, flags & VMM_JAIL_RW ? "write" : "read",
                                    src, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid,
                                    flags & VMM_JAIL_RW ? "rw" : "r", src);
        struct vmm_jail_bind *b = &j->binds[j->n_binds];
        if ((r = inside(j, dst, b->dst, err)) < 0)
                return r;
        if (snprintf(b->src, sizeof(b->src), "%s", src) >= (int)sizeof(b->src))
                return ak_error_set(err, -ENAMETOOLONG, "jail: %s is too long", src);
        b->dir = dir;
        b->flags = flags;
        j->n_binds++;
        return 0;
}

int vmm_jail_bind(struct vmm_jail *j, const char *path, unsigned flags, struct ak_error *err)
{
        return vmm_jail_bind_at(j, path, path, flags, err);
}

static int node(struct vmm_jail *j, const char *path, mode_t mode, bool own, struct ak_error *err)
{
        struct stat st;
        int r;

        if (!j->confine)
                return 0;
        if (j->n_nodes == AK_ARRAY_SIZE(j->nodes))
                return ak_error_set(err, -E2BIG, "jail: too many device nodes");
        if (stat(path, &st) < 0)
                return ak_error_errno(err, -errno, "jail: %s", path);
        if (!S_ISCHR(st.st_mode))
                return ak_error_set(err, -EINVAL, "jail: %s is not a character device", path);
        if ((r = inside(j, path, j->nodes[j->n_nodes].path, err)) < 0)
                return r;
        j->nodes[j->n_nodes].rdev = st.st_rdev;
        j->nodes[j->n_nodes].mode = mode;
        j->nodes[j->n_nodes].own = own;
        j->n_nodes++;
        return 0;
}

int vmm_jail_device(struct vmm_jail *j, const char *path, struct ak_error *err)
{
        return node(j, path, 0600, true, err);
}

int vmm_jail_tmp(struct vmm_jail *j, const char *dir, struct ak_error *err)
{
        int r;
        if (!j->confine)
                return 0;
        if ((r = vmm_jail_bind_at(j, dir, VMM_JAIL_TMP, VMM_JAIL_RW, err)) < 0)
                return r;
        j->envp = jail_env_tmp;
        return 0;
}

int vmm_jail_netns(struct vmm_jail *j, int fd)
{
        if (!j->confine)
                return -EPERM;
        j->netns_fd = fd;
        return 0;
}

int vmm_jail_add_fd(struct vmm_jail *j, int fd)
{
        if (j->n_fds == VMM_JAIL_MAX_FDS)
                return -EMFILE;
        j->fds[j->n_fds] = fd;
        return 3 + (int)j->n_fds++;
}

/* Merged /usr: /lib, /bin, ... are links into /usr on Debian 12; elsewhere
 * they are directories, bound read-only. */
static int base_system(struct vmm_jail *j, struct ak_error *err)
{
        static const char *const tops[] = { "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32" };
        static const char *const devs[] = { "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random" };
        struct stat st;
        int r;

        if ((r = vmm_jail_bind(j, "/usr", VMM_JAIL_EXEC, err)) < 0)
                return r;
        for (size_t i = 0; i < AK_ARRAY_SIZE(tops); i++) {
                if (lstat(tops[i], &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        if ((r = vmm_jail_bind(j, tops[i], VMM_JAIL_EXEC, err)) < 0)
                                return r;
                        continue;
                }
                if (!S_ISLNK(st.st_mode) || j->n_links == AK_ARRAY_SIZE(j->links))
                        continue;
                ssize_t n = readlink(tops[i], j->links[j->n_links].target, PATH_MAX - 1);
                if (n <= 0)
                        continue;
                j->links[j->n_links].target[n] = 0;
                if ((r = inside(j, tops[i], j->links[j->n_links].path, err)) < 0)
                        return r;
                j->n_links++;
        }
        if (access("/etc/ld.so.cache", R_OK) == 0 && (r = vmm_jail_bind(j, "/etc/ld.so.cache", 0, err)) < 0)
                return r;
        for (size_t i = 0; i < AK_ARRAY_SIZE(devs); i++)
                if ((r = node(j, devs[i], 0666, false, err)) < 0)
                        return r;
        return 0;
}

int vmm_jail_init(struct vmm_jail *j, bool want_confine, uid_t uid, gid_t gid, const char *root_dir,
                  struct ak_error *err)
{
        memset(j, 0, sizeof(*j));
        j->confine = want_confine && geteuid() == 0;
        j->uid = uid;
        j->gid = gid;
        j->parent = getpid();
        j->envp = jail_env;
        j->netns_fd = -1;
        if (!j->confine)
                return 0;
        if (uid == 0 || gid == 0)
                return ak_error_set(err, -EINVAL, "jail: the VMM must not run as uid or gid 0");
        if (snprintf(j->root, sizeof(j->root), "%s", root_dir) >= (int)sizeof(j->root))
                return ak_error_set(err, -ENAMETOOLONG, "jail: %s is too long", root_dir);
        return base_system(j, err);
}

/* ---- the child: async-signal-safe from here on ---- */

static void say(const char *what, const char *path, int e)
{
        char buf[PATH_MAX + 128], num[16];
        size_t n = 0, k = 0;
        const char *parts[] = { "ak: confining the VMM: ", what, " ", path, ": errno " };
        for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
                for (const char *p = parts[i]; *p && n < sizeof(buf) - 20; p++)
                        buf[n++] = *p;
        do
                num[k++] = (char)('0' + e % 10);
        while ((e /= 10) && k < sizeof(num));
        while (k)
                buf[n++] = num[--k];
        buf[n++] = '\n';
        (void)!write(2, buf, n);
}

static int fail(const char *what, const char *path)
{
        int e = errno;
        say(what, path, e);
        return -e;
}

/* mkdir -p of path's parents (and path itself with self). */
static int mkdirs(const char *path, bool self)
{
        char buf[PATH_MAX];
        size_t len = strlen(path);
        if (len >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, path, len + 1);
        for (size_t i = 1; i <= len; i++) {
                if (buf[i] != '/' && (buf[i] || !self))
                        continue;
                char c = buf[i];
                buf[i] = 0;
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return fail("mkdir", buf);
                buf[i] = c;
        }
        return 0;
}

static int bind_one(const struct vmm_jail_bind *b)
{
        int r;
        if ((r = mkdirs(b->dst, b->dir)) < 0)
                return r;
        if (!b->dir) {
                int fd = open(b->dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                if (fd < 0)
                        return fail("create", b->dst);
                close(fd);
        }
        if (mount(b->src, b->dst, NULL, MS_BIND | MS_REC, NULL) < 0)
                return fail("bind", b->src);
        unsigned long fl = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV;
        if (!(b->flags & VMM_JAIL_RW))
                fl |= MS_RDONLY;
        if (!(b->flags & VMM_JAIL_EXEC))
                fl |= MS_NOEXEC;
        if (mount(NULL, b->dst, NULL, fl, NULL) < 0)
                return fail("remount", b->dst);
        return 0;
}

static int build_root(const struct vmm_jail *j)
{
        int r;
        if (unshare(CLONE_NEWNS) < 0)
                return fail("unshare", "CLONE_NEWNS");
        /* Nothing we mount leaks back to the host, and nothing the host
         * mounts later shows up here. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return fail("make private", "/");
        if (mount("tmpfs", j->root, "tmpfs", MS_NOSUID, "mode=0755,size=1m,nr_inodes=1024") < 0)
                return fail("mount tmpfs on", j->root);
        for (size_t i = 0; i < j->n_binds; i++)
                if ((r = bind_one(&j->binds[i])) < 0)
                        return r;
        for (size_t i = 0; i < j->n_links; i++) {
                if ((r = mkdirs(j->links[i].path, false)) < 0)
                        return r;
                if (symlink(j->links[i].target, j->links[i].path) < 0)
                        return fail("symlink", j->links[i].path);
        }
        for (size_t i = 0; i < j->n_nodes; i++) {
                if ((r = mkdirs(j->nodes[i].path, false)) < 0)
                        return r;
                if (mknod(j->nodes[i].path, S_IFCHR | j->nodes[i].mode, j->nodes[i].rdev) < 0 ||
                    chmod(j->nodes[i].path, j->nodes[i].mode) < 0)
                        return fail("mknod", j->nodes[i].path);
                if (j->nodes[i].own && chown(j->nodes[i].path, j->uid, j->gid) < 0)
                        return fail("chown", j->nodes[i].path);
        }
        if (mount(NULL, j->root, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID, NULL) < 0)
                return fail("remount read-only", j->root);
        /* pivot_root(".", ".") stacks the old root under the new one;
         * detaching it leaves only the new root (runc does the same). */
        if (chdir(j->root) < 0)
                return fail("chdir", j->root);
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return fail("pivot_root", j->root);
        if (umount2(".", MNT_DETACH) < 0)
                return fail("detach the old root", "/");
        if (chdir("/") < 0)
                return fail("chdir", "/");
        return 0;
}

static int keep_fds(const struct vmm_jail *j)
{
        int high[VMM_JAIL_MAX_FDS];
        /* Out of the way first, so that moving one onto 3 + i cannot close
         * another that is still to be moved. */
        for (size_t i = 0; i < j->n_fds; i++)
                if ((high[i] = fcntl(j->fds[i], F_DUPFD_CLOEXEC, 64)) < 0)
                        return fail("dup", "a passed fd");
        for (size_t i = 0; i < j->n_fds; i++)
                if (dup2(high[i], 3 + (int)i) < 0) /* dup2 clears FD_CLOEXEC */
                        return fail("dup2", "a passed fd");
        if (syscall(SYS_close_range, 3 + (unsigned)j->n_fds, ~0u, 0) < 0)
                return fail("close_range", "3..");
        return 0;
}

int vmm_jail_enter(const struct vmm_jail *j)
{
        int r;
        if (j->netns_fd >= 0 && setns(j->netns_fd, CLONE_NEWNET) < 0)
                return fail("setns", "CLONE_NEWNET");
        if ((r = keep_fds(j)) < 0)
                return r;
        if (j->confine) {
                if ((r = build_root(j)) < 0)
                        return r;
                if (setgroups(0, NULL) < 0)
                        return fail("setgroups", "[]");
                if (setresgid(j->gid, j->gid, j->gid) < 0)
                        return fail("setresgid", "");
                if (setresuid(j->uid, j->uid, j->uid) < 0)
                        return fail("setresuid", "");
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return fail("prctl", "PR_SET_NO_NEW_PRIVS");
        /* A change of credentials clears the parent-death signal. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                return fail("prctl", "PR_SET_PDEATHSIG");
        if (getppid() != j->parent) {
                errno = ESRCH;
                return fail("parent", "gone");
        }
        return 0;
}
