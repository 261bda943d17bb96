/* Disk snapshots (executor_snapshot.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/pathfmt.h"
#include "lib/base/time.h"
#include "lib/base/utf8.h"
#include "lib/guest/guest_client.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_snapshot.h"
#include "services/executor/executor_state.h"
#include "vmm/backend/qemu_disk.h"
#include "vmm/backend/qmp.h"
#include "vmm/image/disk_pack.h"
#include "vmm/image/image.h"
#include "vmm/image/oci/push.h"
#include "vmm/vmbox.h"

#define BUSYBOX "/usr/local/bin/busybox"
#define DISK_FILE "ak-snapshot.raw"
#define COPY_TIMEOUT_MS (30 * 60 * 1000)
#define WATCHDOG_S "30"

static pthread_mutex_t take_lock = PTHREAD_MUTEX_INITIALIZER;

/* Runs script with the image's busybox sh as root: 0 and its first stdout
 * line in out (may be NULL), or -EIO with its words. */
static int guest_sh(const char *uds, const char *script, char *out, size_t out_size, struct ak_error *err)
{
        const char *const cmd[] = { BUSYBOX, "sh", "-c", script };
        struct proto_request_args req = PROTO_REQUEST_ARGS_INIT;
        struct proto_reply *rep = NULL;
        int fd = -1, r;
        req.id = "snapshot";
        req.type = "run";
        req.command = cmd;
        req.n_command = 4;
        req.timeout_ms = 20000;
        if ((r = guest_client_connect(uds, GUEST_AGENT_PORT, 10000, &fd)) < 0)
                return ak_error_errno(err, r, "connect to the guest agent");
        r = guest_client_call(fd, &req, 30000, &rep);
        close(fd);
        if (r < 0)
                return ak_error_errno(err, r, "guest call");
        if (!rep->has_exit_code || rep->exit_code != 0) {
                if (rep->stderr_str)
                        utf8_sanitize(rep->stderr_str, rep->stderr_len); /* guest text */
                r = ak_error_set(err, -EIO, "exit %d: %.200s%.200s", rep->has_exit_code ? rep->exit_code : -1,
                                 rep->stderr_str ? rep->stderr_str : "", rep->error ? rep->error : "");
                proto_reply_free(rep);
                return r;
        }
        if (out && out_size) {
                snprintf(out, out_size, "%.*s", (int)rep->stdout_len, rep->stdout_str ? rep->stdout_str : "");
                out[strcspn(out, "\n")] = 0;
        }
        proto_reply_free(rep);
        return 0;
}

/* What take needs of the sandbox, copied under ex->lock. */
struct source {
        char name[SANDBOX_NAME_MAX + 1], image[IMAGE_REF_MAX], tenant[64];
        char uds[108], vmdir[PATH_MAX];
        pid_t pid;
};

static int find_source(struct rpc_call *call, struct executor *ex, const Ak__V1__TakeSnapshotRequest *req,
                       struct source *src)
{
        const char *name = req->sandbox ? req->sandbox : "";
        struct sandbox *sb = sandbox_get(ex, name);
        /* Another tenant's sandbox is not there for the caller. */
        if (!sb || (req->tenant && *req->tenant && strcmp(req->tenant, sb->tenant) != 0)) {
                sandbox_put(ex, sb);
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %.80s on executor %s", name, ex->node.id);
        }
        int r = RPC_OK;
        pthread_mutex_lock(&ex->lock);
        if (sb->test_guest || sb->state != AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING || !sb->box)
                r = rpc_call_fail(call, RPC_FAILED_PRECONDITION, "sandbox %s is not running: start it first "
                                  "(`ak sandbox start %s`), then take the snapshot", sb->name, sb->name);
        else {
                snprintf(src->name, sizeof(src->name), "%s", sb->name);
                snprintf(src->image, sizeof(src->image), "%s", sb->image);
                snprintf(src->tenant, sizeof(src->tenant), "%s", sb->tenant);
                snprintf(src->uds, sizeof(src->uds), "%s", sb->uds);
                snprintf(src->vmdir, sizeof(src->vmdir), "%s", sb->vmdir);
                src->pid = vmbox_pid(sb->box);
        }
        pthread_mutex_unlock(&ex->lock);
        sandbox_put(ex, sb);
        return r;
}

/* The snapshot's name: req's, or "<sandbox>-<UTC yyyymmdd-hhmmss>". */
static int pick_name(struct rpc_call *call, const Ak__V1__TakeSnapshotRequest *req, const struct source *src,
                     char name[IMAGE_NAME_MAX + 1])
{
        if (req->name && *req->name)
                snprintf(name, IMAGE_NAME_MAX + 1, "%.*s", IMAGE_NAME_MAX, req->name);
        else {
                char t[16];
                time_t now = time(NULL);
                struct tm tm;
                strftime(t, sizeof(t), "%Y%m%d-%H%M%S", gmtime_r(&now, &tm));
                snprintf(name, IMAGE_NAME_MAX + 1, "%.47s-%.15s", src->name, t);
                for (char *p = name; *p; p++)
                        if (*p >= 'A' && *p <= 'Z')
                                *p = (char)(*p - 'A' + 'a');
        }
        if ((req->name && strlen(req->name) > IMAGE_NAME_MAX) || image_name_check(name) < 0)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "name \"%.80s\": a snapshot name is an image name: "
                                     "1 to %d of a-z 0-9 . _ - starting with a letter or digit",
                                     req->name && *req->name ? req->name : name, IMAGE_NAME_MAX);
        return RPC_OK;
}

/* The sandbox's image must give it a root disk (not the base initramfs),
 * and the name must be free. */
static int check_store(struct rpc_call *call, struct executor *ex, const struct source *src, const char *name)
{
        struct image_info info;
        struct ak_error err = { 0 };
        pthread_mutex_lock(&ex->images.lock);
        int lr = image_lookup(ex->images.store, src->image, &info, &err);
        int nr = image_lookup(ex->images.store, name, &(struct image_info){ 0 }, NULL);
        pthread_mutex_unlock(&ex->images.lock);
        if (lr < 0)
                return rpc_call_fail(call, RPC_FAILED_PRECONDITION, "sandbox %s: its image %s: %s", src->name,
                                     src->image, err.msg);
        if (strcmp(info.kind, "rootfs") != 0)
                return rpc_call_fail(call, RPC_FAILED_PRECONDITION,
                                     "sandbox %s runs image %s, the base initramfs: it has no root disk to "
                                     "snapshot (its files live in memory). Create the sandbox from a root disk "
                                     "image (`ak image build`, `ak image import`, `ak image pull`) to take "
                                     "snapshots of it", src->name, src->image);
        if (nr == 0)
                return rpc_call_fail(call, RPC_ALREADY_EXISTS, "an image named %s exists already on executor %s: "
                                     "pick another snapshot name, or remove it first (`ak snapshot rm %s`)",
                                     name, ex->node.id, name);
        return RPC_OK;
}

/* Steps 1-3 of executor_snapshot.h: freeze (or pause), start the copy,
 * thaw (or continue). */
static int start_copy(const struct source *src, int qmp, char method[16], int64_t *pause_ms, struct ak_error *err)
{
        char watchdog[32] = "";
        struct ak_error ferr = { 0 };
        bool frozen = guest_sh(src->uds,
                               "B=" BUSYBOX "; $B sync && $B fsfreeze --freeze / || exit 3; "
                               "$B setsid $B sh -c '" BUSYBOX " sleep " WATCHDOG_S "; " BUSYBOX
                               " fsfreeze --unfreeze /' </dev/null >/dev/null 2>&1 & echo $!",
                               watchdog, sizeof(watchdog), &ferr) == 0;
        int64_t t0 = ak_mono_ms();
        int r;
        if (!frozen) {
                /* Best effort: an image without busybox cannot sync either. */
                guest_sh(src->uds, "B=" BUSYBOX "; $B sync", NULL, 0, NULL);
                t0 = ak_mono_ms();
                if ((r = qemu_vm_pause(qmp, true, err)) < 0)
                        return r;
        }
        r = qemu_disk_backup_start(qmp, err);
        if (frozen) {
                char script[160];
                bool pid_ok = watchdog[0] && strspn(watchdog, "0123456789") == strlen(watchdog);
                snprintf(script, sizeof(script), "B=" BUSYBOX "; %s%s%s$B fsfreeze --unfreeze /",
                         pid_ok ? "$B kill " : "", pid_ok ? watchdog : "", pid_ok ? " 2>/dev/null; " : "");
                struct ak_error terr = { 0 };
                int tr = guest_sh(src->uds, script, NULL, 0, &terr);
                if (tr < 0 && r == 0)
                        r = ak_error_set(err, tr, "thaw the guest's root file system (its watchdog thaws it within "
                                         WATCHDOG_S " s): %s", terr.msg);
        } else {
                int cr = qemu_vm_pause(qmp, false, r == 0 ? err : NULL);
                if (cr < 0 && r == 0)
                        r = cr;
        }
        *pause_ms = ak_mono_ms() - t0;
        snprintf(method, 16, "%s", frozen ? "fsfreeze" : "sync+pause");
        return r;
}

/* Up to COPY_TIMEOUT_MS, and ended (cancelled, cleaned up, said why) 5 s
 * before the caller stops waiting rather than finished for no one. */
static int copy_timeout_ms(struct rpc_call *call)
{
        int64_t left = rpc_call_remaining_ms(call) - 5000;
        return left < 1000 ? 1000 : left < COPY_TIMEOUT_MS ? (int)left : COPY_TIMEOUT_MS;
}

static int take(struct rpc_call *call, struct executor *ex, const struct source *src, const char *name,
                Ak__V1__Snapshot *out, char method[16])
{
        char vmm_path[PATH_MAX], host_path[PATH_MAX], qmp_path[PATH_MAX + 16];
        struct ak_error err = { 0 };
        int qmp = -1, r;

        if ((r = qemu_disk_target(src->pid, src->vmdir, DISK_FILE, vmm_path, host_path, &err)) < 0)
                return rpc_call_fail(call, RPC_INTERNAL, "snapshot of %s: %s", src->name, err.msg);
        unlink(host_path);
        snprintf(qmp_path, sizeof(qmp_path), "%s/qmp.sock", src->vmdir);
        if ((r = qmp_connect(qmp_path, 10000, &qmp)) < 0)
                return rpc_call_fail(call, RPC_UNAVAILABLE, "snapshot of %s: QMP %s: %s", src->name, qmp_path,
                                     strerror(-r));
        /* The target is made and opened before the guest is frozen: the
         * freeze lasts only for blockdev-backup's start. */
        uint64_t size = 0;
        int64_t t0 = ak_mono_ms();
        if ((r = qemu_disk_backup_prepare(qmp, vmm_path, host_path, &size, &err)) < 0) {
                close(qmp);
                return rpc_call_fail(call, RPC_INTERNAL, "snapshot of %s: %s", src->name, err.msg);
        }
        r = start_copy(src, qmp, method, &out->pause_ms, &err);
        if (r == 0)
                r = qemu_disk_backup_wait(qmp, copy_timeout_ms(call), &err);
        qemu_disk_backup_release(qmp);
        close(qmp);
        out->copy_ms = ak_mono_ms() - t0;
        if (r < 0) {
                unlink(host_path);
                return rpc_call_fail(call, RPC_INTERNAL, "snapshot of %s: %s", src->name, err.msg);
        }
        struct image_info meta = { 0 }, info;
        snprintf(meta.snapshot_sandbox, sizeof(meta.snapshot_sandbox), "%s", src->name);
        snprintf(meta.snapshot_image, sizeof(meta.snapshot_image), "%s", src->image);
        snprintf(meta.snapshot_tenant, sizeof(meta.snapshot_tenant), "%s", src->tenant);
        pthread_mutex_lock(&ex->images.lock);
        r = image_snapshot_add(ex->images.store, name, host_path, &meta, &info, &err);
        pthread_mutex_unlock(&ex->images.lock);
        if (r < 0) {
                unlink(host_path);
                return rpc_call_fail(call, r == -EEXIST ? RPC_ALREADY_EXISTS : RPC_INTERNAL, "%s", err.msg);
        }
        out->created_at_ms = info.created_at * 1000;
        out->size_bytes = info.size_bytes;
        return RPC_OK;
}

/* A failed push's status: what the caller can act on. */
static int push_status(int r)
{
        switch (-r) {
        case ECONNREFUSED: case EHOSTUNREACH: case ENETUNREACH: case ETIMEDOUT: case ECONNRESET: case EAGAIN:
                return RPC_UNAVAILABLE;
        case EACCES: case EPERM:
                return RPC_PERMISSION_DENIED;
        case EINVAL:
                return RPC_INVALID_ARGUMENT;
        default:
                return RPC_INTERNAL;
        }
}

/* Packs the snapshot name as an ak disk image under ref and pushes it, with
 * the node's registry settings; a store handle of its own (a long
 * compression holds no lock of the executor's). */
static int push_snapshot(struct rpc_call *call, struct executor *ex, const char *name, const char *ref,
                         char digest[72])
{
        char layout[PATH_MAX];
        struct image_store *s = NULL;
        struct image_disk_packed packed;
        struct oci_push_result res;
        struct ak_error err = { 0 };
        struct oci_pull_options o = {
                .authfile = ex->cfg.registry_auth_file, .ca_file = ex->cfg.registry_ca_file,
                .insecure = ex->cfg.insecure_registries, .n_insecure = ex->cfg.n_insecure_registries,
        };
        pathfmt(layout, sizeof(layout), "%s/oci", ex->images_dir);
        int r = image_store_open(ex->images_dir, &s, &err);
        if (r == 0)
                r = image_disk_pack(s, name, layout, ref, NULL, &packed, &err);
        image_store_free(s);
        if (r == 0)
                r = oci_push(layout, ref, ref, &o, &res, &err);
        if (r < 0)
                return rpc_call_fail(call, push_status(r), "snapshot %s was taken and kept on executor %s, but its "
                                     "push to %s failed: %s", name, ex->node.id, ref, err.msg);
        snprintf(digest, 72, "%s", res.manifest_digest);
        return RPC_OK;
}

int snapshot_handle_take(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        struct executor *ex = data;
        const Ak__V1__TakeSnapshotRequest *req = (const Ak__V1__TakeSnapshotRequest *)msg;
        struct source src = { 0 };
        char name[IMAGE_NAME_MAX + 1], method[16] = "", push[IMAGE_REF_MAX] = "", digest[72] = "";
        struct ak_error err = { 0 };
        int r;

        if (req->push && *req->push && image_ref_normalize(req->push, push, &err) < 0)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "push \"%.200s\": %s", req->push, err.msg);
        if ((r = find_source(call, ex, req, &src)) != RPC_OK || (r = pick_name(call, req, &src, name)) != RPC_OK)
                return r;
        const struct vmm_ops *vmm = ex->cfg.vmm ? ex->cfg.vmm : &vmm_qemu_ops;
        if (vmm != &vmm_qemu_ops)
                return rpc_call_fail(call, RPC_FAILED_PRECONDITION, "snapshots need the QEMU backend; executor %s "
                                     "runs %s", ex->node.id, vmm->name);
        Ak__V1__Snapshot out = AK__V1__SNAPSHOT__INIT;
        pthread_mutex_lock(&take_lock);
        if ((r = check_store(call, ex, &src, name)) == RPC_OK)
                r = take(call, ex, &src, name, &out, method);
        pthread_mutex_unlock(&take_lock);
        if (r == RPC_OK && push[0])
                r = push_snapshot(call, ex, name, push, digest);
        if (r != RPC_OK)
                return r;
        if (push[0]) {
                out.pushed = push;
                out.pushed_digest = digest;
        }
        out.name = name;
        out.sandbox = src.name;
        out.image = src.image;
        out.tenant = src.tenant;
        out.executor_id = ex->node.id;
        out.consistency = method;
        rpc_call_reply(call, &out.base);
        return RPC_OK;
}

static bool visible(const struct image_info *i, const char *tenant)
{
        return i->snapshot_sandbox[0] && (!tenant || !*tenant || strcmp(tenant, i->snapshot_tenant) == 0);
}

int snapshot_check_restore(struct executor *ex, const char *image, const char *tenant, struct ak_error *err)
{
        struct image_info info;
        const char *t = tenant && *tenant ? tenant : "default";
        pthread_mutex_lock(&ex->catalog.lock);
        int r = image_lookup(ex->catalog.store, image, &info, NULL);
        pthread_mutex_unlock(&ex->catalog.lock);
        if (r < 0 || !info.snapshot_sandbox[0] || strcmp(info.snapshot_tenant, t) == 0)
                return 0; /* not a snapshot (a missing image is images_ensure's to report) */
        return ak_error_set(err, -ENOENT, "image \"%s\" is not on executor %s for tenant %s (`ak snapshot list` "
                            "shows the snapshots this tenant can restore)", image, ex->node.id, t);
}

int snapshot_handle_list(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        struct executor *ex = data;
        const Ak__V1__ListSnapshotsRequest *req = (const Ak__V1__ListSnapshotsRequest *)msg;
        struct image_info *all = NULL;
        size_t n = 0, k = 0;
        struct ak_error err = { 0 };

        pthread_mutex_lock(&ex->images.lock);
        int r = image_list(ex->images.store, &all, &n, &err);
        pthread_mutex_unlock(&ex->images.lock);
        if (r < 0)
                return rpc_call_fail(call, RPC_INTERNAL, "list snapshots: %s", err.msg);
        Ak__V1__Snapshot *v = calloc(n ? n : 1, sizeof(*v));
        Ak__V1__Snapshot **p = calloc(n ? n : 1, sizeof(*p));
        if (!v || !p) {
                free(v), free(p), free(all);
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "list snapshots: out of memory");
        }
        for (size_t i = 0; i < n; i++) {
                if (!visible(&all[i], req->tenant))
                        continue;
                ak__v1__snapshot__init(&v[k]);
                v[k].name = all[i].name;
                v[k].sandbox = all[i].snapshot_sandbox;
                v[k].image = all[i].snapshot_image;
                v[k].tenant = all[i].snapshot_tenant;
                v[k].created_at_ms = all[i].created_at * 1000;
                v[k].size_bytes = all[i].size_bytes;
                v[k].executor_id = ex->node.id;
                p[k] = &v[k];
                k++;
        }
        Ak__V1__ListSnapshotsResponse resp = AK__V1__LIST_SNAPSHOTS_RESPONSE__INIT;
        resp.snapshots = p;
        resp.n_snapshots = k;
        rpc_call_reply(call, &resp.base);
        free(v), free(p), free(all);
        return RPC_OK;
}

int snapshot_handle_delete(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        struct executor *ex = data;
        const Ak__V1__DeleteSnapshotRequest *req = (const Ak__V1__DeleteSnapshotRequest *)msg;
        const char *name = req->name ? req->name : "";
        struct image_info info;
        struct ak_error err = { 0 };
        int code = RPC_OK;

        if (image_name_check(name) < 0)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "name \"%.80s\": not a snapshot name", name);
        pthread_mutex_lock(&ex->images.lock);
        int r = image_lookup(ex->images.store, name, &info, NULL);
        if (r < 0 || !visible(&info, req->tenant))
                code = RPC_NOT_FOUND;
        else if ((r = image_remove(ex->images.store, name, &err)) < 0)
                code = RPC_INTERNAL;
        pthread_mutex_unlock(&ex->images.lock);
        if (code == RPC_NOT_FOUND)
                return rpc_call_fail(call, code, "no snapshot named %.80s on executor %s%s", name, ex->node.id,
                                     r == 0 && !info.snapshot_sandbox[0] ? " (an image of that name is not a "
                                                                           "snapshot: `ak image rm` removes it)"
                                                                         : "");
        if (code != RPC_OK)
                return rpc_call_fail(call, code, "remove snapshot %s: %s", name, err.msg);
        Ak__V1__DeleteSnapshotResponse resp = AK__V1__DELETE_SNAPSHOT_RESPONSE__INIT;
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}
