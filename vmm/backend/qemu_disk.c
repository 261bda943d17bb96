/* Root disk copies of running QEMU VMs over QMP (qemu_disk.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/pathfmt.h"
#include "lib/base/time.h"
#include "lib/json/json.h"
#include "vmm/backend/qemu_disk.h"
#include "vmm/backend/qmp.h"
#include "vmm/backend/vmm_jail.h"

#define QMP_TIMEOUT_MS 10000

int qemu_disk_target(pid_t pid, const char *dir, const char *file_name, char ret_vmm[PATH_MAX],
                     char ret_host[PATH_MAX], struct ak_error *err)
{
        char ns[64];
        struct stat ours, its;
        snprintf(ns, sizeof(ns), "/proc/%d/ns/mnt", (int)pid);
        if (stat("/proc/self/ns/mnt", &ours) < 0 || stat(ns, &its) < 0)
                return ak_error_errno(err, -errno, "mount namespace of QEMU (pid %d)", (int)pid);
        bool confined = ours.st_ino != its.st_ino || ours.st_dev != its.st_dev;
        char tmp[PATH_MAX];
        if (pathfmt(tmp, sizeof(tmp), "%s/tmp", dir) < 0 ||
            pathfmt(ret_host, PATH_MAX, "%s/%s", tmp, file_name) < 0)
                return ak_error_set(err, -ENAMETOOLONG, "VM directory %s: too long", dir);
        if (!confined && mkdir(tmp, 0700) < 0 && errno != EEXIST)
                return ak_error_errno(err, -errno, "mkdir %s", tmp);
        if (confined)
                pathfmt(ret_vmm, PATH_MAX, "%s/%s", VMM_JAIL_TMP, file_name);
        else
                pathfmt(ret_vmm, PATH_MAX, "%s", ret_host);
        return 0;
}

/* Runs one QMP command: 0 and the parsed reply's "return" kept in
 * *ret_reply (NULL allowed), or -EIO with QEMU's error description. */
static int qmp_run(int fd, const char *cmd, const char *what, struct json_value **ret_reply, struct ak_error *err)
{
        char *line = NULL;
        struct json_value *v = NULL;
        int r = qmp_command(fd, cmd, QMP_TIMEOUT_MS, &line);
        if (r < 0)
                return ak_error_errno(err, r, "QMP %s", what);
        r = json_parse(line, strlen(line), &v, NULL);
        free(line);
        if (r < 0 || json_value_type(v) != JSON_OBJECT) {
                json_value_free(v);
                return ak_error_set(err, -EPROTO, "QMP %s: a reply that is not a JSON object", what);
        }
        const struct json_value *e = json_object_get(v, "error");
        if (e) {
                char desc[512] = "";
                json_object_copy_string(e, "desc", desc, sizeof(desc));
                json_value_free(v);
                return ak_error_set(err, -EIO, "QMP %s: %s", what, desc[0] ? desc : "failed");
        }
        if (ret_reply)
                *ret_reply = v;
        else
                json_value_free(v);
        return 0;
}

int qemu_vm_pause(int qmp_fd, bool pause, struct ak_error *err)
{
        return pause ? qmp_run(qmp_fd, "{\"execute\":\"stop\"}", "stop", NULL, err)
                     : qmp_run(qmp_fd, "{\"execute\":\"cont\"}", "cont", NULL, err);
}

/* The virtual size of drive "root" (query-block). */
static int root_size(int fd, uint64_t *ret, struct ak_error *err)
{
        struct json_value *v = NULL;
        int r = qmp_run(fd, "{\"execute\":\"query-block\"}", "query-block", &v, err);
        if (r < 0)
                return r;
        const struct json_value *a = json_object_get(v, "return");
        bool found = false;
        for (size_t i = 0; a && json_value_type(a) == JSON_ARRAY && i < json_array_size(a); i++) {
                const struct json_value *d = json_array_get(a, i);
                char dev[32] = "";
                if (json_value_type(d) != JSON_OBJECT || json_object_copy_string(d, "device", dev, sizeof(dev)) < 0 ||
                    strcmp(dev, "root") != 0)
                        continue;
                const struct json_value *img = json_object_get(json_object_get(d, "inserted"), "image");
                const struct json_value *sz = json_object_get(img, "virtual-size");
                if (sz && json_number_u64(sz, ret) == 0 && *ret > 0)
                        found = true;
        }
        json_value_free(v);
        return found ? 0 : ak_error_set(err, -ENOENT, "QMP query-block: no drive \"root\" with a disk in it");
}

/* host_path made new and sized, owned by its directory's owner (QEMU's
 * user when confined: the directory is its TMPDIR). */
static int make_target(const char *host_path, uint64_t size, struct ak_error *err)
{
        char dir[PATH_MAX];
        struct stat st;
        snprintf(dir, sizeof(dir), "%s", host_path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir)
                *slash = 0;
        if (stat(dir, &st) < 0)
                return ak_error_errno(err, -errno, "stat %s", dir);
        int fd = open(host_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return ak_error_errno(err, -errno, "create %s", host_path);
        int r = 0;
        if (fchown(fd, st.st_uid, st.st_gid) < 0)
                r = ak_error_errno(err, -errno, "chown %s to %u:%u", host_path, (unsigned)st.st_uid,
                                   (unsigned)st.st_gid);
        else if (ftruncate(fd, (off_t)size) < 0)
                r = ak_error_errno(err, -errno, "size %s to %llu bytes", host_path, (unsigned long long)size);
        close(fd);
        if (r < 0)
                unlink(host_path);
        return r;
}

int qemu_disk_backup_prepare(int qmp_fd, const char *vmm_path, const char *host_path, uint64_t *ret_size,
                             struct ak_error *err)
{
        char cmd[PATH_MAX + 512];
        int r;
        if (strpbrk(vmm_path, "\"\\"))
                return ak_error_set(err, -EINVAL, "backup target %s: quotes or backslashes", vmm_path);
        /* A job or node left by a caller that died: gone first (errors ignored). */
        qmp_run(qmp_fd, "{\"execute\":\"job-dismiss\",\"arguments\":{\"id\":\"" QEMU_DISK_JOB_ID "\"}}", "job-dismiss",
                NULL, NULL);
        qemu_disk_backup_release(qmp_fd);
        if ((r = root_size(qmp_fd, ret_size, err)) < 0 || (r = make_target(host_path, *ret_size, err)) < 0)
                return r;
        /* discard/detect-zeroes as drive-backup sets them for its target.
         * The job still fills the disk's empty space with allocated zeros
         * (a 64 MiB test disk using 5 MiB came out 64 MiB):
         * image_snapshot_add punches those out. */
        snprintf(cmd, sizeof(cmd),
                 "{\"execute\":\"blockdev-add\",\"arguments\":{\"node-name\":\"" QEMU_DISK_NODE "\","
                 "\"driver\":\"raw\",\"discard\":\"unmap\",\"detect-zeroes\":\"unmap\","
                 "\"file\":{\"driver\":\"file\",\"filename\":\"%s\"}}}",
                 vmm_path);
        if ((r = qmp_run(qmp_fd, cmd, "blockdev-add", NULL, err)) < 0)
                unlink(host_path);
        return r;
}

int qemu_disk_backup_start(int qmp_fd, struct ak_error *err)
{
        return qmp_run(qmp_fd,
                       "{\"execute\":\"blockdev-backup\",\"arguments\":{\"job-id\":\"" QEMU_DISK_JOB_ID "\","
                       "\"device\":\"root\",\"target\":\"" QEMU_DISK_NODE "\",\"sync\":\"full\","
                       "\"auto-dismiss\":false}}",
                       "blockdev-backup", NULL, err);
}

void qemu_disk_backup_release(int qmp_fd)
{
        qmp_run(qmp_fd, "{\"execute\":\"blockdev-del\",\"arguments\":{\"node-name\":\"" QEMU_DISK_NODE "\"}}",
                "blockdev-del", NULL, NULL);
}

/* The job's status ("running", "concluded", ...) and error from query-jobs:
 * 0, or -ENOENT when there is no such job. */
static int job_state(int fd, char status[32], char error[512], struct ak_error *err)
{
        struct json_value *v = NULL;
        int r = qmp_run(fd, "{\"execute\":\"query-jobs\"}", "query-jobs", &v, err);
        if (r < 0)
                return r;
        const struct json_value *a = json_object_get(v, "return");
        r = -ENOENT;
        for (size_t i = 0; a && json_value_type(a) == JSON_ARRAY && i < json_array_size(a); i++) {
                const struct json_value *j = json_array_get(a, i);
                char id[64] = "";
                if (json_value_type(j) != JSON_OBJECT || json_object_copy_string(j, "id", id, sizeof(id)) < 0 ||
                    strcmp(id, QEMU_DISK_JOB_ID) != 0)
                        continue;
                status[0] = error[0] = 0;
                json_object_copy_string(j, "status", status, 32);
                json_object_copy_string(j, "error", error, 512);
                r = 0;
        }
        json_value_free(v);
        return r;
}

int qemu_disk_backup_wait(int qmp_fd, int timeout_ms, struct ak_error *err)
{
        int64_t deadline = ak_mono_ms() + timeout_ms;
        bool cancelled = false;
        char status[32], error[512];
        int r;
        for (;;) {
                if ((r = job_state(qmp_fd, status, error, err)) == -ENOENT)
                        return ak_error_set(err, -EIO, "disk copy: QEMU has no job " QEMU_DISK_JOB_ID);
                if (r < 0)
                        return r;
                if (strcmp(status, "concluded") == 0 || strcmp(status, "null") == 0)
                        break;
                if (ak_mono_ms() > deadline) {
                        if (cancelled)
                                return ak_error_set(err, -ETIMEDOUT, "disk copy: not done after %d ms, and "
                                                    "still %s after job-cancel", timeout_ms, status);
                        /* Cancelled, then waited for (5 s more) so that
                         * its target node can be closed. */
                        qmp_run(qmp_fd,
                                "{\"execute\":\"job-cancel\",\"arguments\":{\"id\":\"" QEMU_DISK_JOB_ID "\"}}",
                                "job-cancel", NULL, NULL);
                        cancelled = true;
                        deadline = ak_mono_ms() + 5000;
                }
                usleep(20 * 1000);
        }
        qmp_run(qmp_fd, "{\"execute\":\"job-dismiss\",\"arguments\":{\"id\":\"" QEMU_DISK_JOB_ID "\"}}", "job-dismiss",
                NULL, NULL);
        if (cancelled)
                return ak_error_set(err, -ETIMEDOUT, "disk copy: not done after %d ms (cancelled)", timeout_ms);
        if (error[0])
                return ak_error_set(err, -EIO, "disk copy: QEMU: %s", error);
        return 0;
}
