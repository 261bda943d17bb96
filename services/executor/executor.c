/* The executor as a whole: executor_new (defaults, directories, the image
 * store, the background threads), executor_free, its service table and
 * main's log line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/binpath.h"
#include "lib/base/fs.h"
#include "lib/base/time.h"
#include "lib/receipt/receipt.h"
#include "lib/svc/log.h"
#include "services/executor/audit_queue.h"
#include "services/executor/capacity.h"
#include "services/executor/cgroup.h"
#include "services/executor/executor_adopt.h"
#include "services/executor/executor_detached.h"
#include "services/executor/executor_drain.h"
#include "services/executor/executor_exec.h"
#include "services/executor/executor_files.h"
#include "services/executor/executor_images.h"
#include "services/executor/executor_janitor.h"
#include "services/executor/executor_lifecycle.h"
#include "services/executor/executor_metrics.h"
#include "services/executor/executor_pool.h"
#include "services/executor/executor_pull.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_shell.h"
#include "services/executor/executor_stdin.h"
#include "services/executor/executor_snapshot.h"
#include "services/executor/executor_state.h"
#include "services/executor/executor_status.h"
#include "services/executor/executor_vm.h"
#include "services/executor/profile.h"
#include "vmm/image/image.h"
#include "vmm/vm.h"

static const struct rpc_method methods[] = {
        { "CreateSandbox", RPC_UNARY, lifecycle_handle_create },
        { "StartSandbox", RPC_UNARY, lifecycle_handle_start },
        { "StopSandbox", RPC_UNARY, lifecycle_handle_stop },
        { "ExtendSandbox", RPC_UNARY, lifecycle_handle_extend },
        { "RemoveSandbox", RPC_UNARY, lifecycle_handle_remove },
        { "GetSandbox", RPC_UNARY, lifecycle_handle_get },
        { "ListSandboxes", RPC_UNARY, lifecycle_handle_list },
        { "Exec", RPC_SERVER_STREAMING, exec_handle_exec },
        { "Run", RPC_SERVER_STREAMING, exec_handle_run },
        { "WriteFile", RPC_UNARY, files_handle_write },
        { "ReadFile", RPC_UNARY, files_handle_read },
        { "Mkdir", RPC_UNARY, files_handle_mkdir },
        { "RemoveFile", RPC_UNARY, files_handle_remove },
        { "ExecDetached", RPC_UNARY, detached_handle_exec },
        { "GetDetached", RPC_UNARY, detached_handle_get },
        { "ListDetached", RPC_UNARY, detached_handle_list },
        { "DetachedLogs", RPC_UNARY, detached_handle_logs },
        { "KillDetached", RPC_UNARY, detached_handle_kill },
        { "OpenShell", RPC_SERVER_STREAMING, shell_handle_open },
        { "ShellInput", RPC_UNARY, shell_handle_input },
        { "ShellResize", RPC_UNARY, shell_handle_resize },
        { "ShellClose", RPC_UNARY, shell_handle_close },
        { "GetStatus", RPC_UNARY, status_handle_get },
        { "TakeSnapshot", RPC_UNARY, snapshot_handle_take },
        { "ListSnapshots", RPC_UNARY, snapshot_handle_list },
        { "DeleteSnapshot", RPC_UNARY, snapshot_handle_delete },
        { "Drain", RPC_UNARY, drain_handle },
        { "WriteStdin", RPC_UNARY, stdin_handle_write },
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
                if (ak_uuid7(sb->uuid) < 0) {
                        free(sb);
                        return ak_error_set(err, -EIO, "getrandom for a test guest's uuid");
                }
                snprintf(sb->image, sizeof(sb->image), "%s", IMAGE_BASE);
                snprintf(sb->uds, sizeof(sb->uds), "%s", uds);
                sb->profile = profile_find(NULL);
                sb->vcpus = 0; /* holds no capacity */
                sb->memory_mb = 0;
                sb->persistent = true;
                sb->test_guest = true;
                sb->created_at_ms = ak_real_ms();
                sb->state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING;
                sb->refs = 1;
                ex->sandboxes[ex->n_sandboxes++] = sb;
        }
        return 0;
}

/* Without --capacity-memory-mb: what fits at the measured cost of an idle
 * sandbox (capacity.h) on this node's accelerator and the store's kernel,
 * 10% kept free; the pressure check guards what idle does not. */
static void capacity_default(struct executor *ex)
{
        struct capacity_probe probe;
        struct image_kernel k;
        bool ak_kernel = image_kernel_current(ex->images.store, &k) == 0 && k.ak_built;
        bool tcg = strcmp(ex->node.accel, "kvm") != 0;
        ex->cfg.capacity_memory_mb =
                capacity_probe_read(ex->cfg.proc_dir, &probe, NULL) == 0
                        ? capacity_offer_guest_mb(probe.mem_total_kib, VM_DEFAULT_MEMORY_MB, tcg, ak_kernel)
                        : (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGE_SIZE) / (1 << 20) * 3 / 4;
}

/* ex->cfg's defaults, the directories, and what the node reports about
 * itself (id, address, backend, accel). */
static void config_fill(struct executor *ex, const struct executor_config *cfg)
{
        snprintf(ex->state_dir, sizeof(ex->state_dir), "%s", cfg->state_dir);
        snprintf(ex->images_dir, sizeof(ex->images_dir), "%s", cfg->images_dir);
        if (cfg->executor_id && cfg->executor_id[0])
                snprintf(ex->node.id, sizeof(ex->node.id), "%s", cfg->executor_id);
        else if (gethostname(ex->node.id, sizeof(ex->node.id) - 1) < 0)
                snprintf(ex->node.id, sizeof(ex->node.id), "executor");
        snprintf(ex->node.address, sizeof(ex->node.address), "%s", cfg->address ? cfg->address : "");
        /* As sandbox.proto names backends: "qemu-microvm", "firecracker", "apple". */
        const struct vmm_ops *vmm = cfg->vmm ? cfg->vmm : &vmm_qemu_ops;
        snprintf(ex->node.backend, sizeof(ex->node.backend), "%s", vmm == &vmm_qemu_ops ? "qemu-microvm" : vmm->name);
        if (!ex->cfg.boot_timeout_ms)
                ex->cfg.boot_timeout_ms = 120000;
        if (!ex->cfg.exec_timeout_ms)
                ex->cfg.exec_timeout_ms = EXECUTOR_EXEC_TIMEOUT_MS;
        if (!ex->cfg.reap_interval_ms)
                ex->cfg.reap_interval_ms = 500;
        if (!ex->cfg.capacity_vcpus)
                ex->cfg.capacity_vcpus = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
        char why[256];
        bool kvm = cfg->accel == VMM_ACCEL_KVM || (cfg->accel == VMM_ACCEL_AUTO && vmm_kvm_usable(why, sizeof(why)));
        /* Firecracker is KVM only; Apple's containers run on its own hypervisor. */
        snprintf(ex->node.accel, sizeof(ex->node.accel), "%s", vmm == &vmm_apple_ops ? "apple" : kvm ? "kvm" : "tcg");
}

int executor_new(const struct executor_config *cfg, struct executor **ret, struct ak_error *err)
{
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
        pthread_mutex_init(&ex->images.lock, NULL);
        pthread_mutex_init(&ex->catalog.lock, NULL);
        pthread_cond_init(&ex->cond, NULL);
        if ((r = pulls_init(ex)) < 0) {
                pthread_mutex_destroy(&ex->lock);
                pthread_mutex_destroy(&ex->images.lock);
                pthread_mutex_destroy(&ex->catalog.lock);
                pthread_cond_destroy(&ex->cond);
                free(ex);
                return ak_error_errno(err, r, "pull state");
        }
        config_fill(ex, cfg);
        ex->sandboxes = calloc(EXECUTOR_MAX_SANDBOXES, sizeof(*ex->sandboxes));
        ex->node.label_keys = calloc(cfg->n_labels + 1, sizeof(char *));
        ex->node.label_values = calloc(cfg->n_labels + 1, sizeof(char *));
        ex->pools = calloc(cfg->n_pools + 1, sizeof(*ex->pools));
        if (!ex->sandboxes || !ex->node.label_keys || !ex->node.label_values || !ex->pools) {
                r = ak_error_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        for (size_t i = 0; i < cfg->n_labels; i++) {
                ex->node.label_keys[i] = strdup(cfg->label_keys[i]);
                ex->node.label_values[i] = strdup(cfg->label_values[i]);
        }
        for (size_t i = 0; i < cfg->n_pools; i++) {
                const struct profile *pr = profile_find(cfg->pools[i].profile);
                if (!pr || image_key_check(cfg->pools[i].image) < 0) {
                        r = ak_error_set(err, -EINVAL, "pool %s/%s: unknown image name or profile",
                                         cfg->pools[i].image, cfg->pools[i].profile);
                        goto fail;
                }
                /* Pools are keyed as sandboxes name their image: a reference normalized. */
                if (!image_key_is_ref(cfg->pools[i].image) ||
                    image_ref_normalize(cfg->pools[i].image, ex->pools[i].image, NULL) < 0)
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
        if (cfg->vm_supervisors && binpath_find("vmm/ak-vmm", "AK_VMM_BIN", ex->vmm_bin, sizeof(ex->vmm_bin)) < 0) {
                r = ak_error_set(err, -ENOENT, "--vm-supervisors: ak-vmm not found (build //vmm:ak-vmm, install it "
                                 "beside ak-executor, or set AK_VMM_BIN)");
                goto fail;
        }
        if ((r = image_store_open(ex->images_dir, &ex->images.store, err)) < 0 ||
            (cfg->image_seed && (r = image_seed_install(ex->images.store, cfg->image_seed, NULL, err)) < 0) ||
            (r = images_catalog_open(ex, err)) < 0)
                goto fail;
        if (!ex->cfg.capacity_memory_mb)
                capacity_default(ex);
        struct ak_error cerr = { 0 };
        if (cfg->vm_cgroup) {
                /* Every VM goes there; it refuses to start where that would not help. */
                if ((r = cgroup_new_home(cfg->vm_cgroup, &ex->cgroup, err)) < 0)
                        goto fail;
                if (!cgroup_has_cpu(ex->cgroup))
                        snprintf(ex->cpu_quota_note, sizeof(ex->cpu_quota_note), "cpu quota unavailable: "
                                 "--vm-cgroup %.300s offers no cpu controller (enable +cpu in its parent's "
                                 "cgroup.subtree_control)", cfg->vm_cgroup);
        } else if (cgroup_new(&ex->cgroup, &cerr) < 0) {
                snprintf(ex->cpu_quota_note, sizeof(ex->cpu_quota_note), "cpu quota unavailable: %.500s", cerr.msg);
        }
        /* The VMs an earlier run left: taken back, or reported lost. */
        int64_t adopt_t0 = ak_mono_ms();
        if ((r = adopt_all(ex, err)) < 0)
                goto fail;
        if (ex->n_sandboxes)
                SVC_LOG(SVC_LOG_INFO, "sandboxes adopted", SVC_LOG_I("count", (int64_t)ex->n_sandboxes),
                        SVC_LOG_I("duration_ms", ak_mono_ms() - adopt_t0));
        /* The cgroups a killed executor left, now that its VMs are in ours. */
        if (ex->cgroup)
                cgroup_sweep(ex->cgroup);
        struct audit_queue_config aq = { .dir = cfg->audit_queue_dir, .max_bytes = cfg->audit_queue_max_bytes };
        if ((r = audit_queue_new(cfg->auditor, &aq, &ex->audit, err)) < 0)
                goto fail;
        if ((r = pthread_create(&ex->threads.janitor, NULL, janitor_thread, ex)) != 0) {
                r = ak_error_errno(err, -r, "start the janitor thread");
                goto fail;
        }
        ex->threads.have_janitor = true;
        if (ex->n_pools && cfg->pool_min_warm) {
                if ((r = pthread_create(&ex->threads.pooler, NULL, pool_thread, ex)) != 0) {
                        r = ak_error_errno(err, -r, "start the pool thread");
                        goto fail;
                }
                ex->threads.have_pooler = true;
        }
        if (cfg->scheduler) {
                if ((r = pthread_create(&ex->threads.heart, NULL, status_heartbeat_thread, ex)) != 0) {
                        r = ak_error_errno(err, -r, "start the heartbeat thread");
                        goto fail;
                }
                ex->threads.have_heart = true;
        }
        if ((r = exmetrics_attach(ex)) < 0) {
                r = ak_error_errno(err, r, "register the executor's metrics");
                goto fail;
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
        exmetrics_detach(ex);
        pthread_mutex_lock(&ex->lock);
        ex->stop = true;
        pthread_cond_broadcast(&ex->cond);
        pthread_mutex_unlock(&ex->lock);
        if (ex->threads.have_janitor)
                pthread_join(ex->threads.janitor, NULL);
        if (ex->threads.have_pooler)
                pthread_join(ex->threads.pooler, NULL);
        if (ex->threads.have_heart)
                pthread_join(ex->threads.heart, NULL);
        pulls_free(ex);
        if (ex->cfg.vm_supervisors)
                adopt_release_all(ex);
        while (ex->n_sandboxes)
                lifecycle_remove(ex, ex->sandboxes[0]->name, NULL, false);
        lifecycle_dispose_queued(ex);
        pool_free_all(ex);
        audit_queue_free(ex->audit, 3000);
        cgroup_free(ex->cgroup);
        image_store_free(ex->images.store);
        images_catalog_close(ex);
        receipt_strv_free(ex->node.label_keys, ex->cfg.n_labels);
        receipt_strv_free(ex->node.label_values, ex->cfg.n_labels);
        free(ex->sandboxes);
        pthread_mutex_destroy(&ex->lock);
        pthread_mutex_destroy(&ex->images.lock);
        pthread_mutex_destroy(&ex->catalog.lock);
        pthread_cond_destroy(&ex->cond);
        free(ex);
}

void executor_log_line(struct executor *ex, char *buf, size_t size)
{
        struct audit_queue_stats as;
        buf[0] = 0;
        audit_queue_stats(ex->audit, &as);
        pthread_mutex_lock(&ex->lock);
        if (as.dropped != ex->notes.logged_dropped) {
                snprintf(buf, size, "AUDIT EVENTS DROPPED: %llu in all (queue full, %llu waiting; auditor: %s)",
                         (unsigned long long)as.dropped, (unsigned long long)as.queued, as.last_error);
                ex->notes.logged_dropped = as.dropped;
        } else if (as.refused != ex->notes.logged_refused) {
                snprintf(buf, size, "AUDIT QUEUE REFUSED %llu events in all, their operations failed (%llu waiting): %s",
                         (unsigned long long)as.refused, (unsigned long long)as.queued, as.last_refusal);
                ex->notes.logged_refused = as.refused;
        } else if (strcmp(ex->notes.sched_note, ex->notes.logged_sched) != 0) {
                snprintf(buf, size, "scheduler: %s", ex->notes.sched_note[0] ? ex->notes.sched_note : "registered");
                snprintf(ex->notes.logged_sched, sizeof(ex->notes.logged_sched), "%s", ex->notes.sched_note);
        }
        pthread_mutex_unlock(&ex->lock);
}
