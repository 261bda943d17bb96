#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "lib/base/fs.h"
#include "lib/base/pathfmt.h"
#include "services/executor/cgroup.h"

#define CFS_PERIOD_US 100000u
/* rmdir of a VM's cgroup: tries 10 ms apart while its processes exit. */
#define CGROUP_RELEASE_TRIES 300

struct cgroup {
        bool v2;
        /* home: dir is --vm-cgroup PATH itself (cgroup_new_home), not ours
         * to remove; cpu: cpu.max can be set in its children. */
        bool home, cpu;
        char dir[PATH_MAX];
};


static bool has_word(const char *path, const char *word)
{
        char buf[512];
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        for (char *save = NULL, *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
                if (strcmp(t, word) == 0)
                        return true;
        return false;
}

static int try_root(struct cgroup *cg, const char *root, bool v2, char *why, size_t why_size)
{
        char p[PATH_MAX + 32];
        int r;

        snprintf(cg->dir, sizeof(cg->dir), "%s/ak-executor-%d", root, (int)getpid());
        if (mkdir(cg->dir, 0755) < 0 && errno != EEXIST) {
                r = -errno;
                snprintf(why, why_size, "mkdir %.300s: %s", cg->dir, strerror(errno));
                return r;
        }
        cg->v2 = v2;
        cg->cpu = true;
        if (v2) {
                snprintf(p, sizeof(p), "%s/cgroup.subtree_control", cg->dir);
                if ((r = ak_write_kernel_file(p, "+cpu")) < 0) {
                        snprintf(why, why_size, "enable cpu in %.300s: %s", p, strerror(-r));
                        rmdir(cg->dir);
                        return r;
                }
        }
        return 0;
}

int cgroup_new(struct cgroup **ret, struct ak_error *err)
{
        char why[2][512] = { "no cgroup2 mount with the cpu controller at /sys/fs/cgroup",
                             "no cgroup v1 cpu controller at /sys/fs/cgroup/cpu" };
        struct cgroup *cg = calloc(1, sizeof(*cg));
        if (!cg)
                return ak_error_set(err, -ENOMEM, "out of memory");
        static const char *const v2roots[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
        for (size_t i = 0; i < 2; i++) {
                char p[64];
                snprintf(p, sizeof(p), "%s/cgroup.controllers", v2roots[i]);
                if (has_word(p, "cpu") && try_root(cg, v2roots[i], true, why[0], sizeof(why[0])) == 0) {
                        *ret = cg;
                        return 0;
                }
        }
        if (access("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", W_OK) == 0 &&
            try_root(cg, "/sys/fs/cgroup/cpu", false, why[1], sizeof(why[1])) == 0) {
                *ret = cg;
                return 0;
        }
        free(cg);
        return ak_error_set(err, -ENOTSUP, "%s; %s", why[0], why[1]);
}

void cgroup_free(struct cgroup *cg)
{
        if (!cg)
                return;
        if (!cg->home)
                rmdir(cg->dir);
        free(cg);
}

bool cgroup_is_home(const struct cgroup *cg)
{
        return cg->home;
}

bool cgroup_has_cpu(const struct cgroup *cg)
{
        return cg->cpu;
}

const char *cgroup_kind(const struct cgroup *cg)
{
        return cg->v2 ? "v2" : "v1";
}

const char *cgroup_dir(const struct cgroup *cg)
{
        return cg->dir;
}

int cgroup_limit(struct cgroup *cg, const char *name, pid_t pid, unsigned percent, struct ak_error *err)
{
        char dir[PATH_MAX + 64], p[PATH_MAX + 128], v[64];
        int r;

        if (percent < 1 || percent > 6400 || strchr(name, '/'))
                return ak_error_set(err, -EINVAL, "cpu quota %u%% for %s: out of range 1..6400", percent, name);
        snprintf(dir, sizeof(dir), "%s/%s", cg->dir, name);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return ak_error_errno(err, -errno, "mkdir %s", dir);
        unsigned long long quota = (unsigned long long)CFS_PERIOD_US * percent / 100;
        if (cg->v2) {
                snprintf(p, sizeof(p), "%s/cpu.max", dir);
                snprintf(v, sizeof(v), "%llu %u", quota, CFS_PERIOD_US);
                r = ak_write_kernel_file(p, v);
        } else {
                snprintf(p, sizeof(p), "%s/cpu.cfs_period_us", dir);
                snprintf(v, sizeof(v), "%u", CFS_PERIOD_US);
                r = ak_write_kernel_file(p, v);
                if (r == 0) {
                        snprintf(p, sizeof(p), "%s/cpu.cfs_quota_us", dir);
                        snprintf(v, sizeof(v), "%llu", quota);
                        r = ak_write_kernel_file(p, v);
                }
        }
        if (r < 0)
                return ak_error_errno(err, r, "write %s", p);
        snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
        snprintf(v, sizeof(v), "%d", (int)pid);
        if ((r = ak_write_kernel_file(p, v)) < 0)
                return ak_error_errno(err, r, "move pid %d into %s", (int)pid, p);
        return 0;
}

int cgroup_add_thread(struct cgroup *cg, const char *name, pid_t tid, struct ak_error *err)
{
        char p[PATH_MAX + 128], v[32];
        int r;

        if (strchr(name, '/'))
                return ak_error_set(err, -EINVAL, "cgroup name %s: no '/' allowed", name);
        if (cg->v2)
                return ak_error_set(err, -EOPNOTSUPP, "thread %d into %s/%s: cgroup v2 keeps a process's threads in "
                                    "one domain unless the subtree is threaded (which rules out memory and io "
                                    "limits per VM)", (int)tid, cg->dir, name);
        snprintf(p, sizeof(p), "%s/%s/tasks", cg->dir, name);
        snprintf(v, sizeof(v), "%d", (int)tid);
        if ((r = ak_write_kernel_file(p, v)) < 0)
                return ak_error_errno(err, r, "move thread %d into %s", (int)tid, p);
        return 0;
}

void cgroup_release(struct cgroup *cg, const char *name)
{
        char dir[PATH_MAX + 64];
        if (!cg)
                return;
        snprintf(dir, sizeof(dir), "%s/%s", cg->dir, name);
        /* A process just killed leaves its cgroup when the kernel has torn
         * it down (a zombie no longer counts): moments, not seconds. */
        for (int i = 0; i < CGROUP_RELEASE_TRIES && rmdir(dir) < 0 && errno == EBUSY; i++)
                usleep(10000);
}

/* Whether pid runs a program named ak-executor (its comm). */
static bool executor_alive(long pid)
{
        char path[64], comm[32] = "";
        snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        bool ok = fgets(comm, sizeof(comm), f) != NULL;
        fclose(f);
        return ok && strcmp(comm, "ak-executor\n") == 0;
}

/* Home: each empty "vm<N>" child is a VM that ended while no executor
 * ran (or whose adoption failed): removed. */
static int sweep_home(struct cgroup *cg)
{
        char sub[PATH_MAX + 128];
        int removed = 0;
        DIR *d = opendir(cg->dir);
        if (!d)
                return 0;
        struct dirent *e;
        while ((e = readdir(d)))
                if (e->d_type == DT_DIR && strncmp(e->d_name, "vm", 2) == 0 && e->d_name[2] >= '0' &&
                    e->d_name[2] <= '9' && pathfmt(sub, sizeof(sub), "%s/%s", cg->dir, e->d_name) == 0 &&
                    rmdir(sub) == 0)
                        removed++;
        closedir(d);
        return removed;
}

int cgroup_sweep(struct cgroup *cg)
{
        if (cg->home)
                return sweep_home(cg);

        char parent[PATH_MAX], dir[PATH_MAX + 64], sub[PATH_MAX + 128];
        int removed = 0;
        snprintf(parent, sizeof(parent), "%s", cg->dir);
        char *slash = strrchr(parent, '/');
        if (!slash)
                return 0;
        *slash = 0;
        DIR *d = opendir(parent);
        if (!d)
                return 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                char *end;
                if (strncmp(e->d_name, "ak-executor-", 12) != 0)
                        continue;
                long pid = strtol(e->d_name + 12, &end, 10);
                if (*end || pid <= 0 || pid == (long)getpid() || executor_alive(pid))
                        continue;
                if (pathfmt(dir, sizeof(dir), "%s/%s", parent, e->d_name) < 0)
                        continue;
                DIR *c = opendir(dir);
                struct dirent *ce;
                while (c && (ce = readdir(c)))
                        /* rmdir takes only an empty cgroup (EBUSY otherwise). */
                        if (ce->d_type == DT_DIR && ce->d_name[0] != '.' &&
                            pathfmt(sub, sizeof(sub), "%s/%s", dir, ce->d_name) == 0 && rmdir(sub) == 0)
                                removed++;
                if (c)
                        closedir(c);
                if (rmdir(dir) == 0)
                        removed++;
        }
        closedir(d);
        return removed;
}

/* ---- The VMs' home: --vm-cgroup PATH ---- */

/* Whether pid is listed in dir/cgroup.procs. */
static bool procs_has(const char *dir, pid_t pid)
{
        char p[PATH_MAX + 32];
        long v;
        if (pathfmt(p, sizeof(p), "%s/cgroup.procs", dir) < 0)
                return false;
        FILE *f = fopen(p, "re");
        if (!f)
                return false;
        bool found = false;
        while (!found && fscanf(f, "%ld", &v) == 1)
                found = v == (long)pid;
        fclose(f);
        return found;
}

static bool is_cgroup2(const char *path)
{
        struct statfs sf;
        return statfs(path, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* The checks on PATH that need no change to the system: absolute, no "..",
 * not under Kubernetes' pod cgroups; its deepest existing ancestor (into
 * ret_existing) on a cgroup2 mount; and neither that nor any cgroup above
 * it on the mount is this process's own. */
static int home_check(const char *path, char ret_existing[PATH_MAX], struct ak_error *err)
{
        static const char fix[] = "give --vm-cgroup a cgroup v2 directory outside the executor's container and pod, "
                                  "e.g. /sys/fs/cgroup/ak.slice/vms with the host's /sys/fs/cgroup mounted read-write";
        char a[PATH_MAX], up[PATH_MAX];
        struct stat st, pst;
        bool dotdot = false;
        for (const char *q = strstr(path, "/.."); q; q = strstr(q + 1, "/.."))
                dotdot = dotdot || q[3] == '/' || q[3] == 0;
        if (path[0] != '/' || strlen(path) >= PATH_MAX - 64 || dotdot)
                return ak_error_set(err, -EINVAL, "--vm-cgroup %s: want an absolute path without \"..\" "
                                    "(at most %d bytes)", path, PATH_MAX - 65);
        if (strstr(path, "/kubepods"))
                return ak_error_set(err, -EINVAL, "--vm-cgroup %s: lies under Kubernetes' pod cgroups (kubepods), "
                                    "which the kubelet removes, processes and all, with their pods: %s", path, fix);
        snprintf(a, sizeof(a), "%s", path);
        while (stat(a, &st) < 0) {
                char *slash = strrchr(a, '/');
                if (errno != ENOENT || !slash || slash == a)
                        return ak_error_errno(err, -errno, "--vm-cgroup %s: stat %s", path, a);
                *slash = 0;
        }
        if (!S_ISDIR(st.st_mode) || !is_cgroup2(a))
                return ak_error_set(err, -ENOTDIR, "--vm-cgroup %s: %s is not a directory on a cgroup v2 mount "
                                    "(on a hybrid host the v2 mount is often /sys/fs/cgroup/unified): %s", path, a,
                                    fix);
        /* Up to the mount's root: a cgroup that holds this process is where
         * a container runtime's kill lands (cgroup.kill kills the subtree).
         * Not the host's root cgroup (no process can be killed by it; it
         * alone has no cgroup.events), but a cgroup namespace's root, which
         * is the container's own cgroup, does have one. */
        snprintf(up, sizeof(up), "%s", a);
        for (;;) {
                char events[PATH_MAX + 32];
                if (pathfmt(events, sizeof(events), "%s/cgroup.events", up) == 0 && access(events, F_OK) == 0 &&
                    procs_has(up, getpid()))
                        return ak_error_set(err, -EINVAL, "--vm-cgroup %s: lies inside this executor's own cgroup "
                                            "%s, which a container runtime kills as a whole when the container "
                                            "stops (and with a cgroup namespace, the cgroup2 mount's root is the "
                                            "container's own cgroup): %s", path, up, fix);
                char *slash = strrchr(up, '/');
                if (!slash || slash == up)
                        break;
                *slash = 0;
                if (stat(up, &pst) < 0 || pst.st_dev != st.st_dev)
                        break;
        }
        snprintf(ret_existing, PATH_MAX, "%s", a);
        return 0;
}

/* Makes PATH below its existing ancestor `have`, one level at a time,
 * enabling the cpu controller in each new level (and PATH) where its
 * parent offers it; a level that cannot take it is noted, not fatal. */
static int home_make(struct cgroup *cg, const char *path, const char *have, struct ak_error *err)
{
        char d[PATH_MAX], p[PATH_MAX + 32];
        size_t at = strlen(have);
        snprintf(d, sizeof(d), "%s", path);
        for (;;) {
                char *slash = strchr(d + at + 1, '/');
                if (slash)
                        *slash = 0;
                if (strlen(d) > strlen(have)) {
                        if (mkdir(d, 0755) < 0 && errno != EEXIST)
                                return ak_error_errno(err, -errno, "--vm-cgroup %s: mkdir %s", path, d);
                        pathfmt(p, sizeof(p), "%s/cgroup.controllers", d);
                        if (has_word(p, "cpu")) {
                                pathfmt(p, sizeof(p), "%s/cgroup.subtree_control", d);
                                ak_write_kernel_file(p, "+cpu");
                        }
                }
                if (!slash)
                        break;
                *slash = '/';
                at = (size_t)(slash - d);
        }
        pathfmt(p, sizeof(p), "%s/cgroup.subtree_control", path);
        if (!has_word(p, "cpu"))
                ak_write_kernel_file(p, "+cpu"); /* PATH existed: ours all the same */
        cg->cpu = has_word(p, "cpu");
        return 0;
}

int cgroup_new_home(const char *path, struct cgroup **ret, struct ak_error *err)
{
        char have[PATH_MAX], probe[PATH_MAX + 32];
        int r;
        if ((r = home_check(path, have, err)) < 0)
                return r;
        struct cgroup *cg = calloc(1, sizeof(*cg));
        if (!cg)
                return ak_error_set(err, -ENOMEM, "out of memory");
        cg->v2 = cg->home = true;
        snprintf(cg->dir, sizeof(cg->dir), "%s", path);
        size_t n = strlen(cg->dir);
        while (n > 1 && cg->dir[n - 1] == '/')
                cg->dir[--n] = 0;
        if ((r = home_make(cg, cg->dir, have, err)) < 0) {
                free(cg);
                return r;
        }
        /* Every VM needs a child here: make sure one can be made. */
        pathfmt(probe, sizeof(probe), "%s/ak-probe-%d", cg->dir, (int)getpid());
        if (mkdir(probe, 0755) < 0 && errno != EEXIST) {
                r = ak_error_errno(err, -errno, "--vm-cgroup %s: cannot make a child cgroup (mkdir %s): run the "
                                   "executor as root with the cgroup fs mounted read-write", path, probe);
                free(cg);
                return r;
        }
        rmdir(probe);
        *ret = cg;
        return 0;
}

int cgroup_prepare(struct cgroup *cg, const char *name, char *ret_dir, size_t size, struct ak_error *err)
{
        char dir[PATH_MAX + 64];
        if (!name[0] || strchr(name, '/') || name[0] == '.')
                return ak_error_set(err, -EINVAL, "cgroup name %s: want a plain name", name);
        if (pathfmt(dir, sizeof(dir), "%s/%s", cg->dir, name) < 0 || strlen(dir) >= size)
                return ak_error_set(err, -ENAMETOOLONG, "cgroup %s/%s: path too long", cg->dir, name);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return ak_error_errno(err, -errno, "mkdir %s", dir);
        snprintf(ret_dir, size, "%s", dir);
        return 0;
}

int cgroup_enter(struct cgroup *cg, const char *name, pid_t pid, struct ak_error *err)
{
        char dir[PATH_MAX + 64], p[PATH_MAX + 128], v[32];
        int r;
        if ((r = cgroup_prepare(cg, name, dir, sizeof(dir), err)) < 0)
                return r;
        pathfmt(p, sizeof(p), "%s/cgroup.procs", dir);
        snprintf(v, sizeof(v), "%d", (int)pid);
        if ((r = ak_write_kernel_file(p, v)) < 0)
                return ak_error_errno(err, r, "move pid %d into %s", (int)pid, p);
        return 0;
}
