#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/pathfmt.h"
#include "services/executor/cgroup.h"

#define CFS_PERIOD_US 100000u

struct cgroup {
        bool v2;
        char dir[PATH_MAX];
};

static int write_file(const char *path, const char *text)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, text, strlen(text));
        int r = n < 0 ? -errno : 0;
        close(fd);
        return r;
}

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
        if (v2) {
                snprintf(p, sizeof(p), "%s/cgroup.subtree_control", cg->dir);
                if ((r = write_file(p, "+cpu")) < 0) {
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
        rmdir(cg->dir);
        free(cg);
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
                r = write_file(p, v);
        } else {
                snprintf(p, sizeof(p), "%s/cpu.cfs_period_us", dir);
                snprintf(v, sizeof(v), "%u", CFS_PERIOD_US);
                r = write_file(p, v);
                if (r == 0) {
                        snprintf(p, sizeof(p), "%s/cpu.cfs_quota_us", dir);
                        snprintf(v, sizeof(v), "%llu", quota);
                        r = write_file(p, v);
                }
        }
        if (r < 0)
                return ak_error_errno(err, r, "write %s", p);
        snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
        snprintf(v, sizeof(v), "%d", (int)pid);
        if ((r = write_file(p, v)) < 0)
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
        if ((r = write_file(p, v)) < 0)
                return ak_error_errno(err, r, "move thread %d into %s", (int)tid, p);
        return 0;
}

void cgroup_release(struct cgroup *cg, const char *name)
{
        char dir[PATH_MAX + 64];
        if (!cg)
                return;
        snprintf(dir, sizeof(dir), "%s/%s", cg->dir, name);
        rmdir(dir);
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

int cgroup_sweep(struct cgroup *cg)
{
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
