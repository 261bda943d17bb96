#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/crypto/crypto.h"
#include "services/executor/executor_impl.h"
#include "services/executor/guest_client.h"

static int64_t wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rm_cb(const char *path, const struct stat *st, int type, struct FTW *f)
{
        (void)st;
        (void)f;
        return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void rm_tree(const char *dir)
{
        nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void strv_free(char **v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}

static void sandbox_free(struct sandbox *sb)
{
        strv_free(sb->env_keys, sb->n_env);
        strv_free(sb->env_values, sb->n_env);
        strv_free(sb->label_keys, sb->n_labels);
        strv_free(sb->label_values, sb->n_labels);
        free(sb);
}

struct sandbox *sandbox_get(struct executor *ex, const char *name)
{
        struct sandbox *found = NULL;
        pthread_mutex_lock(&ex->lock);
        for (size_t i = 0; i < ex->n_sandboxes; i++)
                if (strcmp(ex->sandboxes[i]->name, name) == 0) {
                        found = ex->sandboxes[i];
                        found->refs++;
                        break;
                }
        pthread_mutex_unlock(&ex->lock);
        return found;
}

void sandbox_put(struct executor *ex, struct sandbox *sb)
{
        if (!sb)
                return;
        pthread_mutex_lock(&ex->lock);
        bool last = --sb->refs == 0;
        pthread_mutex_unlock(&ex->lock);
        if (last)
                sandbox_free(sb);
}

int sandbox_running_uds(struct executor *ex, struct sandbox *sb, char uds[108])
{
        int r = 0;
        pthread_mutex_lock(&ex->lock);
        if (sb->removed)
                r = -ENOENT;
        else if (sb->state != AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING || (!sb->box && !sb->test_guest))
                r = -ESRCH;
        else
                memcpy(uds, sb->uds, 108);
        pthread_mutex_unlock(&ex->lock);
        return r;
}

void active_begin(struct executor *ex, struct active *a)
{
        pthread_mutex_lock(&ex->lock);
        a->next = ex->active;
        ex->active = a;
        pthread_mutex_unlock(&ex->lock);
}

void active_end(struct executor *ex, struct active *a)
{
        pthread_mutex_lock(&ex->lock);
        for (struct active **p = &ex->active; *p; p = &(*p)->next)
                if (*p == a) {
                        *p = a->next;
                        break;
                }
        pthread_mutex_unlock(&ex->lock);
}

/* Under ex->lock: ends the guest connections of sb (all when sb is NULL). */
static void active_kill_locked(struct executor *ex, struct sandbox *sb)
{
        for (struct active *a = ex->active; a; a = a->next)
                if (!sb || a->sb == sb) {
                        a->cancelled = true;
                        shutdown(a->fd, SHUT_RDWR);
                }
}

int fail_guest(struct rpc_call *call, const char *what, const char *sandbox, int r)
{
        switch (r) {
        case -ENOENT:
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", sandbox);
        case -ESRCH:
                return rpc_call_fail(call, RPC_FAILED_PRECONDITION, "sandbox %s is not running: start it first",
                                     sandbox);
        case -ETIMEDOUT:
                return rpc_call_fail(call, RPC_UNAVAILABLE, "%s in sandbox %s: the guest agent did not answer in time",
                                     what, sandbox);
        case -EPROTO:
                return rpc_call_fail(call, RPC_UNAVAILABLE, "%s in sandbox %s: the guest agent sent a malformed "
                                     "or oversized frame (the sandbox can be removed)", what, sandbox);
        case -ECANCELED:
                return rpc_call_fail(call, RPC_CANCELLED, "%s in sandbox %s: cancelled", what, sandbox);
        default:
                return rpc_call_fail(call, RPC_UNAVAILABLE, "%s in sandbox %s: guest agent unreachable: %s", what,
                                     sandbox, strerror(-r));
        }
}

/* The restrictive profile's read-only root: /tmp becomes a 64 MiB tmpfs,
 * then / is remounted read-only (inside the guest, before anyone uses it). */
static int lock_down_root(const char *uds, struct ak_error *err)
{
        static const char script[] = "mkdir -p /tmp && mount -t tmpfs -o size=64m,mode=1777 tmpfs /tmp && "
                                     "mount -o remount,ro /";
        static const char *const cmd[] = { "/bin/sh", "-c", script };
        struct proto_request_args req = PROTO_REQUEST_ARGS_INIT;
        struct proto_reply *rep = NULL;
        int fd = -1, r;

        req.id = "lockdown";
        req.type = "run";
        req.command = cmd;
        req.n_command = 3;
        req.timeout_ms = 20000;
        if ((r = guest_client_connect(uds, GUEST_AGENT_PORT, 10000, &fd)) < 0)
                return ak_error_errno(err, r, "read-only root: connect to the guest");
        r = guest_client_call(fd, &req, 30000, &rep);
        close(fd);
        if (r < 0)
                return ak_error_errno(err, r, "read-only root: run mount in the guest");
        if (!rep->has_exit_code || rep->exit_code != 0) {
                r = ak_error_set(err, -EIO, "read-only root: mount failed in the guest: %.200s%.200s",
                                 rep->stderr_str ? rep->stderr_str : "", rep->error ? rep->error : "");
                proto_reply_free(rep);
                return r;
        }
        proto_reply_free(rep);
        return 0;
}

int executor_vm_config(struct executor *ex, const char *image, const struct profile *p, unsigned vcpus,
                       unsigned memory_mb, bool network, char dir[PATH_MAX], struct vmbox **ret,
                       struct ak_error *err)
{
        struct image_boot boot;
        struct vmbox *box = NULL;
        int r;

        pthread_mutex_lock(&ex->images_lock);
        r = image_resolve_boot(ex->images, image, NULL, &boot, err);
        pthread_mutex_unlock(&ex->images_lock);
        pthread_mutex_lock(&ex->lock);
        uint64_t n = ex->next_vm++;
        pthread_mutex_unlock(&ex->lock);
        if (r < 0)
                return ak_error_wrap(err, "image %s", image);
        snprintf(dir, PATH_MAX, "%.64s/v/%" PRIu64, ex->state_dir, n);
        if (mkdir(dir, 0700) < 0)
                return ak_error_errno(err, -errno, "mkdir %s", dir);
        struct vm_config vc = {
                .dir = dir,
                .kernel = boot.kernel,
                .initrd = boot.initrd,
                .root_disk = boot.rootfs[0] ? boot.rootfs : NULL,
                .root_mode = VMM_DISK_SNAPSHOT,
                .vcpus = vcpus,
                .memory_mb = memory_mb,
                .network = network,
                .accel = ex->cfg.accel,
                .vmm = ex->cfg.vmm,
        };
        if ((r = vmbox_boot(&vc, ex->cfg.boot_timeout_ms, &box, err)) < 0) {
                rm_tree(dir);
                return r;
        }
        if (ex->cgroup && p->cpu_percent) {
                char name[32];
                snprintf(name, sizeof(name), "vm%" PRIu64, n);
                if ((r = cgroup_limit(ex->cgroup, name, vmbox_pid(box), p->cpu_percent * (vcpus ? vcpus : 1),
                                      err)) < 0)
                        goto fail;
        }
        if (p->read_only_root && (r = lock_down_root(vmbox_uds(box), err)) < 0)
                goto fail;
        *ret = box;
        return 0;
fail:
        executor_vm_dispose(ex, box, dir);
        return r;
}

void executor_vm_dispose(struct executor *ex, struct vmbox *box, const char *dir)
{
        vmbox_free(box, 2000);
        const char *base = strrchr(dir, '/');
        if (ex->cgroup && base) {
                char name[32];
                snprintf(name, sizeof(name), "vm%s", base + 1);
                cgroup_release(ex->cgroup, name);
        }
        rm_tree(dir);
}

static int check_name(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > SANDBOX_NAME_MAX || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
                return -EINVAL;
        for (size_t i = 1; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' ||
                      s[i] == '-'))
                        return -EINVAL;
        return 0;
}

static int copy_map(Ak__V1__SandboxSpec__EnvEntry **e, size_t n, char ***rk, char ***rv)
{
        char **k = calloc(n + 1, sizeof(char *)), **v = calloc(n + 1, sizeof(char *));
        if (!k || !v)
                goto oom;
        for (size_t i = 0; i < n; i++)
                if (!(k[i] = strdup(e[i]->key ? e[i]->key : "")) || !(v[i] = strdup(e[i]->value ? e[i]->value : "")))
                        goto oom;
        *rk = k;
        *rv = v;
        return 0;
oom:
        strv_free(k, n);
        strv_free(v, n);
        return -ENOMEM;
}

static int check_map(struct rpc_call *call, const char *field, Ak__V1__SandboxSpec__EnvEntry **e, size_t n)
{
        if (n > SANDBOX_MAX_ENV)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.%s: %zu entries, at most %d", field, n,
                                     SANDBOX_MAX_ENV);
        for (size_t i = 0; i < n; i++)
                if ((e[i]->key && strlen(e[i]->key) > SANDBOX_MAX_STRING) ||
                    (e[i]->value && strlen(e[i]->value) > SANDBOX_MAX_STRING) || !e[i]->key || !e[i]->key[0] ||
                    strchr(e[i]->key, '='))
                        return rpc_call_fail(call, RPC_INVALID_ARGUMENT,
                                             "spec.%s: key \"%.64s\": keys are 1..%d bytes without '=', values at "
                                             "most %d bytes", field, e[i]->key ? e[i]->key : "", SANDBOX_MAX_STRING,
                                             SANDBOX_MAX_STRING);
        return RPC_OK;
}

/* Under ex->lock: vCPUs and memory held by sandboxes and pool VMs. */
static void allocated_locked(struct executor *ex, unsigned *vcpus, uint64_t *mem)
{
        *vcpus = 0;
        *mem = 0;
        for (size_t i = 0; i < ex->n_sandboxes; i++)
                if (ex->sandboxes[i]->state != AK__V1__SANDBOX_STATE__SANDBOX_STATE_STOPPED) {
                        *vcpus += ex->sandboxes[i]->vcpus;
                        *mem += ex->sandboxes[i]->memory_mb;
                }
        for (size_t i = 0; i < ex->n_pools; i++) {
                unsigned n = (unsigned)ex->pools[i].n_ready + ex->pools[i].booting;
                *vcpus += n;
                *mem += (uint64_t)n * (ex->pools[i].profile->memory_mb ? ex->pools[i].profile->memory_mb
                                                                        : VM_DEFAULT_MEMORY_MB);
        }
}

void executor_allocated(struct executor *ex, unsigned *vcpus, uint64_t *mem);
void executor_allocated(struct executor *ex, unsigned *vcpus, uint64_t *mem)
{
        allocated_locked(ex, vcpus, mem);
}

static void set_running(struct executor *ex, struct sandbox *sb, struct vmbox *box, const char *dir)
{
        pthread_mutex_lock(&ex->lock);
        sb->box = box;
        snprintf(sb->uds, sizeof(sb->uds), "%s", vmbox_uds(box));
        snprintf(sb->vmdir, sizeof(sb->vmdir), "%s", dir);
        sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING;
        sb->error[0] = 0;
        pthread_mutex_unlock(&ex->lock);
}

static int boot_sandbox(struct executor *ex, struct sandbox *sb, bool try_pool, struct ak_error *err)
{
        struct pool_vm pv;
        bool pool_shape = sb->vcpus == 1 && sb->network == sb->profile->network &&
                          sb->memory_mb == (sb->profile->memory_mb ? sb->profile->memory_mb : VM_DEFAULT_MEMORY_MB);
        if (try_pool && pool_shape && pool_take(ex, sb->image, sb->profile, &pv) == 0) {
                sb->from_pool = true;
                set_running(ex, sb, pv.box, pv.dir);
                return 0;
        }
        char dir[PATH_MAX];
        struct vmbox *box = NULL;
        int r = executor_vm_config(ex, sb->image, sb->profile, sb->vcpus, sb->memory_mb, sb->network, dir, &box,
                                   err);
        if (r < 0)
                return r;
        set_running(ex, sb, box, dir);
        return 0;
}

int executor_create(struct executor *ex, const Ak__V1__SandboxSpec *spec, struct rpc_call *call,
                    struct sandbox **ret)
{
        static const Ak__V1__SandboxSpec empty = AK__V1__SANDBOX_SPEC__INIT;
        struct ak_error err = { 0 };
        char name[SANDBOX_NAME_MAX + 1];
        int r;

        if (!spec)
                spec = &empty;
        if (spec->name && spec->name[0]) {
                if (check_name(spec->name) < 0)
                        return rpc_call_fail(call, RPC_INVALID_ARGUMENT,
                                             "spec.name \"%.80s\": want [a-z0-9][a-z0-9_.-]{0,62}", spec->name);
                snprintf(name, sizeof(name), "%s", spec->name);
        } else {
                uint8_t rnd[6];
                if (crypto_random_bytes(rnd, sizeof(rnd)) < 0)
                        return rpc_call_fail(call, RPC_INTERNAL, "no random bytes for a sandbox name");
                snprintf(name, sizeof(name), "sb-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
                         rnd[5]);
        }
        const char *image = spec->image && spec->image[0] ? spec->image : IMAGE_BASE;
        if (image_name_check(image) < 0)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.image \"%.80s\": not an image name", image);
        const struct profile *p = profile_find(spec->profile);
        if (!p)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT,
                                     "spec.profile \"%.80s\": want permissive, moderate or restrictive",
                                     spec->profile);
        if (spec->vcpus > VMM_MAX_VCPUS)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.vcpus %u: at most %d", spec->vcpus,
                                     VMM_MAX_VCPUS);
        if (spec->memory_mb && (spec->memory_mb < VMM_MIN_MEMORY_MB || spec->memory_mb > VMM_MAX_MEMORY_MB))
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.memory_mb %u: want %d..%d", spec->memory_mb,
                                     VMM_MIN_MEMORY_MB, VMM_MAX_MEMORY_MB);
        if (spec->ttl_seconds > 30u * 86400)
                return rpc_call_fail(call, RPC_INVALID_ARGUMENT, "spec.ttl_seconds %u: at most 30 days",
                                     spec->ttl_seconds);
        if ((r = check_map(call, "env", spec->env, spec->n_env)) != RPC_OK ||
            (r = check_map(call, "labels", (Ak__V1__SandboxSpec__EnvEntry **)spec->labels, spec->n_labels)) != RPC_OK)
                return r;

        struct sandbox *sb = calloc(1, sizeof(*sb));
        if (!sb)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        snprintf(sb->name, sizeof(sb->name), "%s", name);
        snprintf(sb->image, sizeof(sb->image), "%s", image);
        sb->profile = p;
        sb->vcpus = spec->vcpus ? spec->vcpus : 1;
        sb->memory_mb = spec->memory_mb ? spec->memory_mb : (p->memory_mb ? p->memory_mb : VM_DEFAULT_MEMORY_MB);
        sb->network_req = spec->network;
        sb->network = spec->network == AK__V1__NETWORK__NETWORK_ON    ? true
                      : spec->network == AK__V1__NETWORK__NETWORK_OFF ? false
                                                                      : p->network;
        sb->ttl_seconds = spec->ttl_seconds;
        sb->persistent = spec->persistent;
        sb->created_at_ms = wall_ms();
        sb->expires_at_ms = spec->ttl_seconds ? sb->created_at_ms + (int64_t)spec->ttl_seconds * 1000 : 0;
        sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_CREATING;
        sb->refs = 2; /* the table's and the caller's */
        if (copy_map(spec->env, spec->n_env, &sb->env_keys, &sb->env_values) < 0 ||
            copy_map((Ak__V1__SandboxSpec__EnvEntry **)spec->labels, spec->n_labels, &sb->label_keys,
                     &sb->label_values) < 0) {
                sandbox_free(sb);
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        }
        sb->n_env = spec->n_env;
        sb->n_labels = spec->n_labels;

        pthread_mutex_lock(&ex->lock);
        int code = RPC_OK;
        unsigned used_vcpus;
        uint64_t used_mem;
        allocated_locked(ex, &used_vcpus, &used_mem);
        for (size_t i = 0; i < ex->n_sandboxes; i++)
                if (strcmp(ex->sandboxes[i]->name, name) == 0)
                        code = RPC_ALREADY_EXISTS;
        if (code == RPC_OK && ex->n_sandboxes >= EXECUTOR_MAX_SANDBOXES)
                code = RPC_RESOURCE_EXHAUSTED;
        /* A pool VM taken for this sandbox is already counted. */
        if (code == RPC_OK && (used_vcpus + sb->vcpus > ex->cfg.capacity_vcpus + 1 ||
                               used_mem + sb->memory_mb > ex->cfg.capacity_memory_mb + 512))
                code = RPC_RESOURCE_EXHAUSTED;
        if (code == RPC_OK)
                ex->sandboxes[ex->n_sandboxes++] = sb;
        pthread_mutex_unlock(&ex->lock);
        if (code != RPC_OK) {
                sandbox_free(sb);
                if (code == RPC_ALREADY_EXISTS)
                        return rpc_call_fail(call, code, "a sandbox named %s already exists on this executor", name);
                return rpc_call_fail(call, code, "no capacity for %s: %u of %u vCPUs and %" PRIu64 " of %" PRIu64
                                     " MB in use", name, used_vcpus, ex->cfg.capacity_vcpus, used_mem,
                                     ex->cfg.capacity_memory_mb);
        }
        audit_emit(ex, call, "sandbox_created", "create", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT, name, NULL);
        if ((r = boot_sandbox(ex, sb, true, &err)) < 0) {
                pthread_mutex_lock(&ex->lock);
                sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR;
                snprintf(sb->error, sizeof(sb->error), "%.500s", err.msg);
                pthread_mutex_unlock(&ex->lock);
                audit_emit(ex, call, "sandbox_error", "start", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_ERROR, name, NULL);
                *ret = sb;
                return rpc_call_fail(call, RPC_UNAVAILABLE, "sandbox %s: boot failed: %s", name, err.msg);
        }
        audit_emit(ex, call, "sandbox_started", "start", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT, name, NULL);
        *ret = sb;
        return RPC_OK;
}

/* Takes the VM away from sb (under the lock) and disposes of it outside. */
static void stop_vm(struct executor *ex, struct sandbox *sb, Ak__V1__SandboxState state)
{
        char dir[PATH_MAX];
        pthread_mutex_lock(&ex->lock);
        struct vmbox *box = sb->box;
        sb->box = NULL;
        sb->test_guest = false;
        sb->state = state;
        snprintf(dir, sizeof(dir), "%s", sb->vmdir);
        active_kill_locked(ex, sb);
        pthread_mutex_unlock(&ex->lock);
        if (box)
                executor_vm_dispose(ex, box, dir);
}

int executor_remove(struct executor *ex, const char *name, struct rpc_call *call)
{
        struct sandbox *sb = NULL;
        pthread_mutex_lock(&ex->lock);
        for (size_t i = 0; i < ex->n_sandboxes; i++)
                if (strcmp(ex->sandboxes[i]->name, name) == 0) {
                        sb = ex->sandboxes[i];
                        ex->sandboxes[i] = ex->sandboxes[--ex->n_sandboxes];
                        sb->removed = true;
                        break;
                }
        pthread_mutex_unlock(&ex->lock);
        if (!sb)
                return -ENOENT;
        bool had_vm = sb->box != NULL;
        stop_vm(ex, sb, AK__V1__SANDBOX_STATE__SANDBOX_STATE_STOPPED);
        if (had_vm)
                audit_emit(ex, call, "sandbox_stopped", "stop", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT, name,
                           NULL);
        audit_emit(ex, call, "sandbox_removed", "remove", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT, name, NULL);
        sandbox_put(ex, sb);
        return 0;
}

/* ---- RPC handlers of the lifecycle ---- */

static int reply_sandbox(struct executor *ex, struct rpc_call *call, struct sandbox *sb)
{
        pthread_mutex_lock(&ex->lock);
        Ak__V1__Sandbox *m = sandbox_to_proto(ex, sb);
        pthread_mutex_unlock(&ex->lock);
        if (!m)
                return rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        rpc_call_reply(call, &m->base);
        sandbox_proto_free(m);
        return RPC_OK;
}

static int h_create(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        struct executor *ex = ud;
        const Ak__V1__CreateSandboxRequest *req = (const void *)msg;
        struct sandbox *sb = NULL;
        int code = executor_create(ex, req->spec, call, &sb);
        if (code == RPC_OK)
                code = reply_sandbox(ex, call, sb);
        sandbox_put(ex, sb);
        return code;
}

static int h_start(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        struct executor *ex = ud;
        const Ak__V1__StartSandboxRequest *req = (const void *)msg;
        struct ak_error err = { 0 };
        struct sandbox *sb = sandbox_get(ex, req->name ? req->name : "");
        if (!sb)
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", req->name);
        pthread_mutex_lock(&ex->lock);
        bool need = !sb->box && sb->state != AK__V1__SANDBOX_STATE__SANDBOX_STATE_CREATING;
        if (need)
                sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_CREATING;
        pthread_mutex_unlock(&ex->lock);
        int code = RPC_OK;
        if (need) {
                if (boot_sandbox(ex, sb, false, &err) < 0) {
                        pthread_mutex_lock(&ex->lock);
                        sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR;
                        snprintf(sb->error, sizeof(sb->error), "%.500s", err.msg);
                        pthread_mutex_unlock(&ex->lock);
                        audit_emit(ex, call, "sandbox_error", "start", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_ERROR,
                                   sb->name, NULL);
                        code = rpc_call_fail(call, RPC_UNAVAILABLE, "sandbox %s: boot failed: %s", sb->name, err.msg);
                } else {
                        audit_emit(ex, call, "sandbox_started", "start", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT,
                                   sb->name, NULL);
                }
        }
        if (code == RPC_OK)
                code = reply_sandbox(ex, call, sb);
        sandbox_put(ex, sb);
        return code;
}

static int h_stop(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        struct executor *ex = ud;
        const Ak__V1__StopSandboxRequest *req = (const void *)msg;
        struct sandbox *sb = sandbox_get(ex, req->name ? req->name : "");
        if (!sb)
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", req->name);
        bool had_vm = sb->box != NULL;
        stop_vm(ex, sb, AK__V1__SANDBOX_STATE__SANDBOX_STATE_STOPPED);
        if (had_vm)
                audit_emit(ex, call, "sandbox_stopped", "stop", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT, sb->name,
                           NULL);
        int code = reply_sandbox(ex, call, sb);
        sandbox_put(ex, sb);
        return code;
}

static int h_remove(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        const Ak__V1__RemoveSandboxRequest *req = (const void *)msg;
        if (executor_remove(ud, req->name ? req->name : "", call) < 0)
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", req->name);
        Ak__V1__RemoveSandboxResponse resp = AK__V1__REMOVE_SANDBOX_RESPONSE__INIT;
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}

static int h_get(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        const Ak__V1__GetSandboxRequest *req = (const void *)msg;
        struct sandbox *sb = sandbox_get(ud, req->name ? req->name : "");
        if (!sb)
                return rpc_call_fail(call, RPC_NOT_FOUND, "no sandbox named %s", req->name);
        int code = reply_sandbox(ud, call, sb);
        sandbox_put(ud, sb);
        return code;
}

static bool labels_match(const struct sandbox *sb, const Ak__V1__ListSandboxesRequest *req)
{
        for (size_t i = 0; i < req->n_label_selector; i++) {
                bool ok = false;
                for (size_t j = 0; j < sb->n_labels && !ok; j++)
                        ok = strcmp(sb->label_keys[j], req->label_selector[i]->key) == 0 &&
                             strcmp(sb->label_values[j], req->label_selector[i]->value) == 0;
                if (!ok)
                        return false;
        }
        return true;
}

static int h_list(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        struct executor *ex = ud;
        const Ak__V1__ListSandboxesRequest *req = (const void *)msg;
        Ak__V1__ListSandboxesResponse resp = AK__V1__LIST_SANDBOXES_RESPONSE__INIT;
        pthread_mutex_lock(&ex->lock);
        resp.sandboxes = calloc(ex->n_sandboxes + 1, sizeof(*resp.sandboxes));
        for (size_t i = 0; resp.sandboxes && i < ex->n_sandboxes; i++)
                if (labels_match(ex->sandboxes[i], req)) {
                        Ak__V1__Sandbox *m = sandbox_to_proto(ex, ex->sandboxes[i]);
                        if (m)
                                resp.sandboxes[resp.n_sandboxes++] = m;
                }
        pthread_mutex_unlock(&ex->lock);
        rpc_call_reply(call, &resp.base);
        for (size_t i = 0; i < resp.n_sandboxes; i++)
                sandbox_proto_free(resp.sandboxes[i]);
        free(resp.sandboxes);
        return RPC_OK;
}

/* ---- background: TTLs, dead VMs, cancelled calls ---- */

static void *janitor(void *arg)
{
        struct executor *ex = arg;
        pthread_mutex_lock(&ex->lock);
        while (!ex->stop) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                int64_t ns = ts.tv_nsec + (int64_t)ex->cfg.reap_interval_ms * 1000000;
                ts.tv_sec += ns / 1000000000;
                ts.tv_nsec = ns % 1000000000;
                pthread_cond_timedwait(&ex->cond, &ex->lock, &ts);
                if (ex->stop)
                        break;
                for (struct active *a = ex->active; a; a = a->next)
                        if (!a->cancelled && a->call && rpc_call_cancelled(a->call)) {
                                a->cancelled = true;
                                shutdown(a->fd, SHUT_RDWR);
                        }
                int64_t now = wall_ms();
                char expired[SANDBOX_NAME_MAX + 1] = "";
                for (size_t i = 0; i < ex->n_sandboxes; i++) {
                        struct sandbox *sb = ex->sandboxes[i];
                        if (sb->expires_at_ms && now >= sb->expires_at_ms) {
                                snprintf(expired, sizeof(expired), "%s", sb->name);
                                break;
                        }
                        if (sb->box && sb->state == AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING &&
                            !vmbox_running(sb->box)) {
                                sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR;
                                snprintf(sb->error, sizeof(sb->error), "the VM exited (see %.400s/console.log)",
                                         sb->vmdir);
                                active_kill_locked(ex, sb);
                        }
                }
                if (expired[0]) {
                        pthread_mutex_unlock(&ex->lock);
                        executor_remove(ex, expired, NULL);
                        pthread_mutex_lock(&ex->lock);
                }
        }
        pthread_mutex_unlock(&ex->lock);
        return NULL;
}

/* ---- life cycle of the executor ---- */

static const struct rpc_method methods[] = {
        { "CreateSandbox", RPC_UNARY, h_create },
        { "StartSandbox", RPC_UNARY, h_start },
        { "StopSandbox", RPC_UNARY, h_stop },
        { "RemoveSandbox", RPC_UNARY, h_remove },
        { "GetSandbox", RPC_UNARY, h_get },
        { "ListSandboxes", RPC_UNARY, h_list },
        { "Exec", RPC_SERVER_STREAMING, handle_exec },
        { "Run", RPC_SERVER_STREAMING, handle_run },
        { "WriteFile", RPC_UNARY, handle_write_file },
        { "ReadFile", RPC_UNARY, handle_read_file },
        { "Mkdir", RPC_UNARY, handle_mkdir },
        { "RemoveFile", RPC_UNARY, handle_remove_file },
        { "OpenShell", RPC_SERVER_STREAMING, handle_open_shell },
        { "ShellInput", RPC_UNARY, handle_shell_input },
        { "ShellResize", RPC_UNARY, handle_shell_resize },
        { "ShellClose", RPC_UNARY, handle_shell_close },
        { "GetStatus", RPC_UNARY, handle_get_status },
};

int executor_add_to_server(struct executor *ex, struct rpc_server *srv, struct ak_error *err)
{
        return rpc_server_add_service(srv, &ak__v1__executor__descriptor, methods,
                                      sizeof(methods) / sizeof(methods[0]), ex, err);
}

/* The --test-guest seam (executor.h): sandboxes without a VM. */
static int add_test_guests(struct executor *ex, struct ak_error *err)
{
        if (ex->cfg.n_test_guests > EXECUTOR_MAX_TEST_GUESTS)
                return ak_error_set(err, -EINVAL, "at most %d test guests", EXECUTOR_MAX_TEST_GUESTS);
        for (size_t i = 0; i < ex->cfg.n_test_guests; i++) {
                const char *name = ex->cfg.test_guest_names[i], *uds = ex->cfg.test_guest_uds[i];
                if (check_name(name) < 0 || strlen(uds) >= 108)
                        return ak_error_set(err, -EINVAL, "test guest %.80s=%.200s: want a sandbox name and a "
                                            "socket path under 108 bytes", name, uds);
                struct sandbox *sb = calloc(1, sizeof(*sb));
                if (!sb)
                        return ak_error_set(err, -ENOMEM, "out of memory");
                snprintf(sb->name, sizeof(sb->name), "%s", name);
                snprintf(sb->image, sizeof(sb->image), "%s", IMAGE_BASE);
                snprintf(sb->uds, sizeof(sb->uds), "%s", uds);
                sb->profile = profile_find(NULL);
                sb->vcpus = 0; /* holds no capacity */
                sb->memory_mb = 0;
                sb->persistent = true;
                sb->test_guest = true;
                sb->created_at_ms = wall_ms();
                sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING;
                sb->refs = 1;
                ex->sandboxes[ex->n_sandboxes++] = sb;
        }
        return 0;
}

int executor_new(const struct executor_config *cfg, struct executor **ret, struct ak_error *err)
{
        char p[PATH_MAX + 8];
        int r;

        if (!cfg->state_dir || !cfg->images_dir)
                return ak_error_set(err, -EINVAL, "state and image directories are required");
        if (strlen(cfg->state_dir) > 60)
                return ak_error_set(err, -ENAMETOOLONG, "state directory %s: at most 60 bytes (Unix socket paths "
                                    "of its VMs must fit 108 bytes)", cfg->state_dir);
        if (cfg->n_pools > EXECUTOR_MAX_POOLS || cfg->n_labels > EXECUTOR_MAX_LABELS)
                return ak_error_set(err, -EINVAL, "at most %d pools and %d labels", EXECUTOR_MAX_POOLS,
                                    EXECUTOR_MAX_LABELS);
        if (cfg->pool_min_warm > cfg->pool_max_warm || cfg->pool_max_warm > 64)
                return ak_error_set(err, -EINVAL, "pool sizes: want min-warm <= max-warm <= 64 (got %u, %u)",
                                    cfg->pool_min_warm, cfg->pool_max_warm);
        struct executor *ex = calloc(1, sizeof(*ex));
        if (!ex)
                return ak_error_set(err, -ENOMEM, "out of memory");
        ex->cfg = *cfg;
        pthread_mutex_init(&ex->lock, NULL);
        pthread_mutex_init(&ex->images_lock, NULL);
        pthread_cond_init(&ex->cond, NULL);
        snprintf(ex->state_dir, sizeof(ex->state_dir), "%s", cfg->state_dir);
        snprintf(ex->images_dir, sizeof(ex->images_dir), "%s", cfg->images_dir);
        if (cfg->executor_id && cfg->executor_id[0])
                snprintf(ex->id, sizeof(ex->id), "%s", cfg->executor_id);
        else if (gethostname(ex->id, sizeof(ex->id) - 1) < 0)
                snprintf(ex->id, sizeof(ex->id), "executor");
        snprintf(ex->address, sizeof(ex->address), "%s", cfg->address ? cfg->address : "");
        snprintf(ex->backend, sizeof(ex->backend), "qemu-microvm");
        if (!ex->cfg.boot_timeout_ms)
                ex->cfg.boot_timeout_ms = 120000;
        if (!ex->cfg.reap_interval_ms)
                ex->cfg.reap_interval_ms = 500;
        if (!ex->cfg.capacity_vcpus)
                ex->cfg.capacity_vcpus = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
        if (!ex->cfg.capacity_memory_mb)
                ex->cfg.capacity_memory_mb =
                        (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGE_SIZE) / (1 << 20) * 3 / 4;
        char why[256];
        bool kvm = cfg->accel == VMM_ACCEL_KVM || (cfg->accel == VMM_ACCEL_AUTO && vmm_kvm_usable(why, sizeof(why)));
        snprintf(ex->accel, sizeof(ex->accel), "%s", kvm ? "kvm" : "tcg");
        ex->sandboxes = calloc(EXECUTOR_MAX_SANDBOXES, sizeof(*ex->sandboxes));
        ex->label_keys = calloc(cfg->n_labels + 1, sizeof(char *));
        ex->label_values = calloc(cfg->n_labels + 1, sizeof(char *));
        ex->pools = calloc(cfg->n_pools + 1, sizeof(*ex->pools));
        if (!ex->sandboxes || !ex->label_keys || !ex->label_values || !ex->pools) {
                r = ak_error_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        for (size_t i = 0; i < cfg->n_labels; i++) {
                ex->label_keys[i] = strdup(cfg->label_keys[i]);
                ex->label_values[i] = strdup(cfg->label_values[i]);
        }
        for (size_t i = 0; i < cfg->n_pools; i++) {
                const struct profile *pr = profile_find(cfg->pools[i].profile);
                if (!pr || image_name_check(cfg->pools[i].image) < 0) {
                        r = ak_error_set(err, -EINVAL, "pool %s/%s: unknown image name or profile",
                                         cfg->pools[i].image, cfg->pools[i].profile);
                        goto fail;
                }
                snprintf(ex->pools[i].image, sizeof(ex->pools[i].image), "%s", cfg->pools[i].image);
                ex->pools[i].profile = pr;
                ex->pools[i].ready = calloc(cfg->pool_max_warm + 1, sizeof(struct pool_vm));
                if (!ex->pools[i].ready) {
                        r = ak_error_set(err, -ENOMEM, "out of memory");
                        goto fail;
                }
                ex->n_pools++;
        }
        if ((r = add_test_guests(ex, err)) < 0)
                goto fail;
        if (mkdir(ex->state_dir, 0700) < 0 && errno != EEXIST) {
                r = ak_error_errno(err, -errno, "state directory %s", ex->state_dir);
                goto fail;
        }
        /* VMs of an earlier run died with it (PR_SET_PDEATHSIG); their
         * directories are leftovers. */
        snprintf(p, sizeof(p), "%s/v", ex->state_dir);
        rm_tree(p);
        if (mkdir(p, 0700) < 0) {
                r = ak_error_errno(err, -errno, "mkdir %s", p);
                goto fail;
        }
        if ((r = image_store_open(ex->images_dir, &ex->images, err)) < 0)
                goto fail;
        struct ak_error cerr = { 0 };
        if (cgroup_new(&ex->cgroup, &cerr) < 0)
                snprintf(ex->cpu_quota_note, sizeof(ex->cpu_quota_note), "cpu quota unavailable: %.500s", cerr.msg);
        if ((r = audit_queue_new(cfg->auditor, AUDIT_QUEUE_DEFAULT_CAPACITY, &ex->audit, err)) < 0)
                goto fail;
        if ((r = pthread_create(&ex->janitor, NULL, janitor, ex)) != 0) {
                r = ak_error_errno(err, -r, "start the janitor thread");
                goto fail;
        }
        ex->have_janitor = true;
        if (ex->n_pools && cfg->pool_min_warm) {
                if ((r = pthread_create(&ex->pooler, NULL, pool_thread, ex)) != 0) {
                        r = ak_error_errno(err, -r, "start the pool thread");
                        goto fail;
                }
                ex->have_pooler = true;
        }
        if (cfg->scheduler) {
                if ((r = pthread_create(&ex->heart, NULL, heartbeat_thread, ex)) != 0) {
                        r = ak_error_errno(err, -r, "start the heartbeat thread");
                        goto fail;
                }
                ex->have_heart = true;
        }
        *ret = ex;
        return 0;
fail:
        executor_free(ex);
        return r;
}

void executor_free(struct executor *ex)
{
        if (!ex)
                return;
        pthread_mutex_lock(&ex->lock);
        ex->stop = true;
        pthread_cond_broadcast(&ex->cond);
        pthread_mutex_unlock(&ex->lock);
        if (ex->have_janitor)
                pthread_join(ex->janitor, NULL);
        if (ex->have_pooler)
                pthread_join(ex->pooler, NULL);
        if (ex->have_heart)
                pthread_join(ex->heart, NULL);
        while (ex->n_sandboxes)
                executor_remove(ex, ex->sandboxes[0]->name, NULL);
        pool_free_all(ex);
        audit_queue_free(ex->audit, 3000);
        cgroup_free(ex->cgroup);
        image_store_free(ex->images);
        strv_free(ex->label_keys, ex->cfg.n_labels);
        strv_free(ex->label_values, ex->cfg.n_labels);
        free(ex->sandboxes);
        pthread_mutex_destroy(&ex->lock);
        pthread_mutex_destroy(&ex->images_lock);
        pthread_cond_destroy(&ex->cond);
        free(ex);
}
