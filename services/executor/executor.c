#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/crypto/crypto.h"
#include "lib/guest/guest_client.h"
#include "services/executor/executor_impl.h"

int64_t wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sandbox_free(struct sandbox *sb)
{
        receipt_strv_free(sb->env_keys, sb->n_env);
        receipt_strv_free(sb->env_values, sb->n_env);
        receipt_strv_free(sb->label_keys, sb->n_labels);
        receipt_strv_free(sb->label_values, sb->n_labels);
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
void active_kill_locked(struct executor *ex, struct sandbox *sb)
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

/* ---- life cycle of the executor ---- */

static const struct rpc_method methods[] = {
        { "CreateSandbox", RPC_UNARY, handle_create_sandbox },
        { "StartSandbox", RPC_UNARY, handle_start_sandbox },
        { "StopSandbox", RPC_UNARY, handle_stop_sandbox },
        { "RemoveSandbox", RPC_UNARY, handle_remove_sandbox },
        { "GetSandbox", RPC_UNARY, handle_get_sandbox },
        { "ListSandboxes", RPC_UNARY, handle_list_sandboxes },
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
                if (sandbox_name_check(name) < 0 || strlen(uds) >= 108)
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
        /* As sandbox.proto names backends: "qemu-microvm", "firecracker", "apple". */
        const struct vmm_ops *vmm = cfg->vmm ? cfg->vmm : &vmm_qemu_ops;
        snprintf(ex->backend, sizeof(ex->backend), "%s", vmm == &vmm_qemu_ops ? "qemu-microvm" : vmm->name);
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
        /* Firecracker is KVM only; Apple's containers run on its own hypervisor. */
        snprintf(ex->accel, sizeof(ex->accel), "%s", vmm == &vmm_apple_ops ? "apple" : kvm ? "kvm" : "tcg");
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
        executor_rm_tree(p);
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
        if ((r = pthread_create(&ex->janitor, NULL, janitor_thread, ex)) != 0) {
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
                executor_remove(ex, ex->sandboxes[0]->name, NULL, false);
        executor_dispose_queued(ex);
        pool_free_all(ex);
        audit_queue_free(ex->audit, 3000);
        cgroup_free(ex->cgroup);
        image_store_free(ex->images);
        receipt_strv_free(ex->label_keys, ex->cfg.n_labels);
        receipt_strv_free(ex->label_values, ex->cfg.n_labels);
        free(ex->sandboxes);
        pthread_mutex_destroy(&ex->lock);
        pthread_mutex_destroy(&ex->images_lock);
        pthread_cond_destroy(&ex->cond);
        free(ex);
}
