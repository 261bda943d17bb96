#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/home.h"
#include "lib/base/pathfmt.h"
#include "lib/json/json.h"
#include "lib/json/writer.h"
#include "vmm/vm_registry.h"

#define RECORD_MAX (64 * 1024)

int vm_name_check(const char *name)
{
        size_t n = strlen(name);
        if (n == 0 || n > VM_NAME_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                          (i > 0 && (c == '.' || c == '_' || c == '-'));
                if (!ok)
                        return -EINVAL;
        }
        return 0;
}

int vm_registry_ak_home(char ret[PATH_MAX], struct ak_error *err)
{
        int r = ak_home(ret);

        if (r == -ENOENT)
                return ak_error_set(err, r, "no home directory: set AK_HOME");
        if (r < 0)
                return ak_error_set(err, r, "AK_HOME too long");
        return 0;
}

int vm_registry_root(char ret[PATH_MAX], struct ak_error *err)
{
        char home[PATH_MAX];
        int r = vm_registry_ak_home(home, err);
        if (r < 0)
                return r;
        if (pathfmt(ret, PATH_MAX, "%s/vms", home) < 0)
                return ak_error_set(err, -ENAMETOOLONG, "AK_HOME too long");
        return 0;
}

int vm_registry_dir(const char *name, char ret[PATH_MAX], struct ak_error *err)
{
        char root[PATH_MAX];
        if (vm_name_check(name) < 0)
                return ak_error_set(err, -EINVAL, "invalid VM name '%s': use a-z, 0-9, '.', '_', '-' (at most %d)",
                                    name, VM_NAME_MAX);
        int r = vm_registry_root(root, err);
        if (r < 0)
                return r;
        if (pathfmt(ret, PATH_MAX, "%s/%s", root, name) < 0)
                return ak_error_set(err, -ENAMETOOLONG, "AK_HOME too long");
        return 0;
}

static void key_str(struct json_writer *w, const char *k, const char *v)
{
        json_writer_key(w, k, strlen(k));
        json_writer_string(w, v, strlen(v));
}

static void key_u64(struct json_writer *w, const char *k, uint64_t v)
{
        json_writer_key(w, k, strlen(k));
        json_writer_u64(w, v);
}

int vm_record_write(const char *dir, const struct vm_record *r, struct ak_error *err)
{
        struct json_writer *w = NULL;
        char path[PATH_MAX], tmp[PATH_MAX], *out = NULL;
        size_t len;

        if (json_writer_new(JSON_WRITER_PRETTY, RECORD_MAX, &w) < 0)
                return ak_error_set(err, -ENOMEM, "out of memory");
        json_writer_begin_object(w);
        key_str(w, "name", r->name);
        key_u64(w, "pid", (uint64_t)r->pid);
        key_u64(w, "pid_start", r->pid_start);
        key_u64(w, "vmm_pid", (uint64_t)r->vmm_pid);
        key_u64(w, "vmm_start", r->vmm_start);
        key_str(w, "dir", r->dir);
        key_str(w, "vsock_uds", r->vsock_uds);
        key_str(w, "console_log", r->console_log);
        key_str(w, "image", r->image);
        key_str(w, "image_hash", r->image_hash);
        key_u64(w, "vcpus", r->vcpus);
        key_u64(w, "memory_mb", r->memory_mb);
        json_writer_key(w, "network", 7);
        json_writer_bool(w, r->network);
        key_str(w, "accel", r->accel);
        json_writer_key(w, "created_at", 10);
        json_writer_i64(w, r->created_at);
        json_writer_end_object(w);
        int rc = json_writer_finish(w, &out, &len);
        json_writer_free(w);
        if (rc < 0)
                return ak_error_errno(err, rc, "VM record");
        if (pathfmt(path, sizeof(path), "%s/vm.json", dir) < 0 || pathfmt(tmp, sizeof(tmp), "%s/.vm.json.tmp", dir) < 0) {
                free(out);
                return ak_error_set(err, -ENAMETOOLONG, "path too long: %s", dir);
        }
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                free(out);
                return ak_error_errno(err, -errno, "create %s", tmp);
        }
        ssize_t n = write(fd, out, len);
        free(out);
        if (n != (ssize_t)len || fsync(fd) < 0 || rename(tmp, path) < 0) {
                int e = n < 0 ? -errno : -EIO;
                unlink(tmp);
                return ak_error_errno(err, e, "write %s", path);
        }
        return 0;
}

static int get_u64(const struct json_value *o, const char *k, uint64_t max, uint64_t *ret)
{
        const struct json_value *v = json_object_get(o, k);
        if (!v || json_number_u64(v, ret) < 0 || *ret > max)
                return -EINVAL;
        return 0;
}

int vm_record_read(const char *dir, struct vm_record *ret, struct ak_error *err)
{
        char path[PATH_MAX], buf[RECORD_MAX + 1];
        struct vm_record r = { 0 };
        struct json_value *v = NULL;
        uint64_t u;

        if (pathfmt(path, sizeof(path), "%s/vm.json", dir) < 0)
                return ak_error_set(err, -ENAMETOOLONG, "path too long: %s", dir);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return ak_error_errno(err, -errno, "open %s", path);
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0)
                return ak_error_errno(err, -errno, "read %s", path);
        if (n > RECORD_MAX)
                return ak_error_set(err, -EFBIG, "%s: too large", path);
        if (json_parse(buf, (size_t)n, &v, NULL) < 0 || json_value_type(v) != JSON_OBJECT)
                goto bad;
        if (json_object_copy_string(v, "name", r.name, sizeof(r.name)) < 0 || json_object_copy_string(v, "dir", r.dir, sizeof(r.dir)) < 0 ||
            json_object_copy_string(v, "vsock_uds", r.vsock_uds, sizeof(r.vsock_uds)) < 0 ||
            json_object_copy_string(v, "console_log", r.console_log, sizeof(r.console_log)) < 0 ||
            json_object_copy_string(v, "image", r.image, sizeof(r.image)) < 0 ||
            json_object_copy_string(v, "image_hash", r.image_hash, sizeof(r.image_hash)) < 0 ||
            json_object_copy_string(v, "accel", r.accel, sizeof(r.accel)) < 0)
                goto bad;
        if (get_u64(v, "pid", INT32_MAX, &u) < 0)
                goto bad;
        r.pid = (pid_t)u;
        if (get_u64(v, "vmm_pid", INT32_MAX, &u) < 0)
                goto bad;
        r.vmm_pid = (pid_t)u;
        if (get_u64(v, "pid_start", UINT64_MAX, &r.pid_start) < 0 ||
            get_u64(v, "vmm_start", UINT64_MAX, &r.vmm_start) < 0)
                goto bad;
        if (get_u64(v, "vcpus", 1024, &u) < 0)
                goto bad;
        r.vcpus = (unsigned)u;
        if (get_u64(v, "memory_mb", 1u << 24, &u) < 0)
                goto bad;
        r.memory_mb = (unsigned)u;
        const struct json_value *net = json_object_get(v, "network"), *ca = json_object_get(v, "created_at");
        if (!net || json_value_type(net) != JSON_BOOL || !ca || json_number_i64(ca, &r.created_at) < 0)
                goto bad;
        r.network = json_bool(net);
        json_value_free(v);
        *ret = r;
        return 0;
bad:
        json_value_free(v);
        return ak_error_set(err, -EINVAL, "%s: not a valid VM record", path);
}

int vm_proc_start_time(pid_t pid, uint64_t *ret)
{
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -ESRCH;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return -ESRCH;
        buf[n] = 0;
        /* "pid (comm) state ..." - comm may hold spaces and ')': skip to the last ')'. */
        char *p = strrchr(buf, ')');
        if (!p)
                return -EINVAL;
        p++;
        /* Field 3 is state; starttime is field 22. */
        for (int field = 3; field < 22; field++) {
                p = strchr(p + 1, ' ');
                if (!p)
                        return -EINVAL;
        }
        char state = buf[strlen(buf) > 0 ? (size_t)(strrchr(buf, ')') - buf) + 2 : 0];
        if (state == 'Z' || state == 'X')
                return -ESRCH;
        *ret = strtoull(p + 1, NULL, 10);
        return 0;
}

bool vm_proc_alive(pid_t pid, uint64_t start)
{
        uint64_t s;
        return pid > 0 && vm_proc_start_time(pid, &s) == 0 && s == start;
}
