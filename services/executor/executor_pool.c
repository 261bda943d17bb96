/* Warm pools: VMs booted ahead of time per (image, profile), kept between
 * min_warm and max_warm, dropped past max_age or when they stop answering
 * ping. One background thread boots (one VM at a time: boots are CPU-heavy)
 * and checks; a create takes a ready VM under the lock and never waits.
 * A pool of an OCI reference this node lacks first waits for its pull
 * (images_ensure: the one pull of that reference creates share). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/time.h"
#include "lib/guest/guest_client.h"
#include "lib/svc/log.h"
#include "services/executor/capacity.h"
#include "services/executor/executor_images.h"
#include "services/executor/executor_adopt.h"
#include "services/executor/executor_pool.h"
#include "services/executor/executor_state.h"
#include "services/executor/executor_vm.h"
#include "vmm/vmbox.h"

/* After a failed pull (or a missing local image) the pool asks again only
 * this much later. */
#define POOL_PULL_RETRY_MS 30000
/* The warm-up command's bounds. */
#define POOL_WARM_UP_MS 30000

int pool_take(struct executor *ex, const char *image, const struct profile *p, struct pool_vm *ret)
{
        int r = -ENOENT;
        pthread_mutex_lock(&ex->lock);
        for (size_t i = 0; i < ex->n_pools; i++) {
                struct pool *pl = &ex->pools[i];
                if (strcmp(pl->image, image) != 0 || pl->profile != p)
                        continue;
                if (pl->n_ready) {
                        *ret = pl->ready[0];
                        memmove(pl->ready, pl->ready + 1, (pl->n_ready - 1) * sizeof(*pl->ready));
                        pl->n_ready--;
                        pl->hits++;
                        pl->taken_at_ms = ak_mono_ms();
                        r = 0;
                } else {
                        pl->misses++;
                }
                pthread_cond_broadcast(&ex->cond);
                break;
        }
        pthread_mutex_unlock(&ex->lock);
        return r;
}

/* Under ex->lock: removes pool VMs that are too old or whose VMM exited,
 * into out (disposed of by the caller outside the lock). */
static size_t cull_locked(struct executor *ex, struct pool *pl, struct pool_vm *out, size_t max)
{
        size_t n = 0;
        int64_t now = ak_mono_ms();
        for (size_t i = 0; i < pl->n_ready && n < max;) {
                struct pool_vm *v = &pl->ready[i];
                bool old = ex->cfg.pool_max_age_s &&
                           now - vmbox_ready_at_ms(v->box) > (int64_t)ex->cfg.pool_max_age_s * 1000;
                if (old || !vmbox_running(v->box) || i >= ex->cfg.pool_max_warm) {
                        out[n++] = *v;
                        memmove(v, v + 1, (pl->n_ready - i - 1) * sizeof(*v));
                        pl->n_ready--;
                } else {
                        i++;
                }
        }
        return n;
}

/* The first command in a fresh VM, run the way a Run's is (executor_exec.c:
 * root, HOME and USER, streamed): its code paths in the guest (the agent's
 * run and stream handling, fork and exec in the kernel) are translated and
 * their memory touched here rather than during a user's first command.
 * The image's `true`; any answer will do (an image without `true` still
 * warms most of the path), a guest that does not answer is not taken into
 * the pool. It runs before the VM is in the pool, and leaves nothing but
 * a used PID behind. */
static int warm_up(struct vmbox *box, struct ak_error *err)
{
        static const char *const argv[] = { "true" };
        static const char *const keys[] = { "HOME", "USER" }, *const vals[] = { "/root", "root" };
        struct proto_request_args req = PROTO_REQUEST_ARGS_INIT;
        req.id = "warm-up";
        req.type = "run";
        req.command = argv;
        req.n_command = 1;
        req.env_keys = keys;
        req.env_values = vals;
        req.n_env = 2;
        req.stream = 1;
        req.timeout_ms = POOL_WARM_UP_MS;
        uint64_t t0 = ak_mono_ns();
        int fd = -1;
        struct proto_reply *rep = NULL;
        int r = guest_client_connect(vmbox_uds(box), GUEST_AGENT_PORT, POOL_WARM_UP_MS, &fd);
        if (r == 0) {
                r = guest_client_call(fd, &req, POOL_WARM_UP_MS, &rep);
                close(fd);
        }
        if (r < 0)
                return ak_error_errno(err, r, "warm-up command in the new pool VM %s", vmbox_dir(box));
        SVC_LOG(SVC_LOG_DEBUG, "pool vm warmed up", SVC_LOG_S("dir", vmbox_dir(box)),
                SVC_LOG_I("exit_code", rep->has_exit_code ? rep->exit_code : -1),
                SVC_LOG_I("duration_us", (ak_mono_ns() - t0) / 1000));
        proto_reply_free(rep);
        return 0;
}

/* Under ex->lock: whether a refill should wait (POOL_REFILL_DEFER_MS), and
 * until when. */
static bool refill_deferred_locked(const struct executor *ex, const struct pool *pl, struct timespec *ret_until)
{
        int64_t left = pl->taken_at_ms + POOL_REFILL_DEFER_MS - ak_mono_ms();
        if (!ex->runs || !pl->taken_at_ms || left <= 0)
                return false;
        *ret_until = ak_timespec_after(CLOCK_REALTIME, left);
        return true;
}

void *pool_thread(void *arg)
{
        struct executor *ex = arg;
        size_t check = 0;

        pthread_mutex_lock(&ex->lock);
        while (!ex->stop) {
                struct pool_vm gone[8];
                struct pool *target = NULL;
                for (size_t i = 0; i < ex->n_pools; i++) {
                        struct pool *pl = &ex->pools[i];
                        size_t n = cull_locked(ex, pl, gone, 8);
                        if (n) {
                                pthread_mutex_unlock(&ex->lock);
                                for (size_t k = 0; k < n; k++)
                                        evm_dispose(ex, gone[k].box, gone[k].dir);
                                pthread_mutex_lock(&ex->lock);
                        }
                        if (!target && pl->n_ready + pl->booting < ex->cfg.pool_min_warm)
                                target = pl;
                }
                if (ex->stop)
                        break;
                /* No warm VMs while the node is under memory pressure. */
                struct capacity_probe probe;
                if (target && (capacity_probe_read(ex->cfg.proc_dir, &probe, NULL) < 0 ||
                               capacity_pressure_check(&probe, NULL) < 0))
                        target = NULL;
                /* Not beside the Run that took the VM (drain_run_end wakes us). */
                struct timespec until;
                if (target && refill_deferred_locked(ex, target, &until)) {
                        pthread_cond_timedwait(&ex->cond, &ex->lock, &until);
                        continue;
                }
                if (target) {
                        target->booting++;
                        char image[IMAGE_REF_MAX];
                        snprintf(image, sizeof(image), "%s", target->image);
                        const struct profile *p = target->profile;
                        pthread_mutex_unlock(&ex->lock);
                        struct pool_vm v;
                        struct ak_error err = { 0 };
                        /* A reference this node lacks: pulled by the pull
                         * creates of it share (one per reference). */
                        uint64_t t0 = ak_mono_ns();
                        int r = images_ensure(ex, image, NULL, NULL, &err);
                        bool pulled = r == 0;
                        if (r == 0)
                                r = evm_boot(ex, image, p, 1, p->memory_mb ? p->memory_mb : VM_DEFAULT_MEMORY_MB,
                                             p->network, NULL, NULL, v.dir, &v.box, &err);
                        if (r == 0 && (r = warm_up(v.box, &err)) < 0) {
                                const char *what = image, *why = err.msg;
                                SVC_LOG(SVC_LOG_WARN, "pool vm dropped", SVC_LOG_S("image", what),
                                        SVC_LOG_S("error", why));
                                evm_dispose(ex, v.box, v.dir);
                        }
                        if (r == 0 && vmbox_supervised(v.box))
                                adopt_record_pool(v.dir, image, p->name, vmbox_net_ifname(v.box), NULL);
                        SVC_LOG(r == 0 ? SVC_LOG_INFO : SVC_LOG_WARN, r == 0 ? "pool refill" : "pool refill failed",
                                SVC_LOG_S("image", image), SVC_LOG_S("profile", p->name),
                                SVC_LOG_I("boot_ms", (ak_mono_ns() - t0) / 1000000),
                                SVC_LOG_S("error", r == 0 ? "" : err.msg));
                        pthread_mutex_lock(&ex->lock);
                        target->booting--;
                        if (r == 0 && !ex->stop && target->n_ready < ex->cfg.pool_max_warm) {
                                target->ready[target->n_ready++] = v;
                        } else if (r == 0) {
                                pthread_mutex_unlock(&ex->lock);
                                evm_dispose(ex, v.box, v.dir);
                                pthread_mutex_lock(&ex->lock);
                        } else if (!ex->stop) {
                                /* Do not spin on a broken image, nor ask a
                                 * registry again at once: wait before retrying. */
                                struct timespec ts = ak_timespec_after(CLOCK_REALTIME,
                                                                       pulled ? 5000 : POOL_PULL_RETRY_MS);
                                pthread_cond_timedwait(&ex->cond, &ex->lock, &ts);
                        }
                        continue;
                }
                /* Health: ping one ready VM per round, outside the lock and
                 * left in the pool meanwhile (a create may take it: it never
                 * waits for a check); dropped if it does not answer and is
                 * still there. */
                struct pool *pl = ex->n_pools ? &ex->pools[check++ % ex->n_pools] : NULL;
                if (pl && pl->n_ready) {
                        struct vmbox *box = pl->ready[0].box;
                        char uds[PATH_MAX];
                        snprintf(uds, sizeof(uds), "%s", vmbox_uds(box));
                        pthread_mutex_unlock(&ex->lock);
                        bool ok = guest_client_ping(uds, 3000) == 0;
                        pthread_mutex_lock(&ex->lock);
                        for (size_t k = 0; !ok && k < pl->n_ready; k++)
                                if (pl->ready[k].box == box) {
                                        struct pool_vm v = pl->ready[k];
                                        memmove(pl->ready + k, pl->ready + k + 1,
                                                (pl->n_ready - k - 1) * sizeof(v));
                                        pl->n_ready--;
                                        pthread_mutex_unlock(&ex->lock);
                                        SVC_LOG(SVC_LOG_WARN, "pool vm dropped: no answer to a ping in 3 s",
                                                SVC_LOG_S("image", pl->image), SVC_LOG_S("dir", v.dir));
                                        evm_dispose(ex, v.box, v.dir);
                                        pthread_mutex_lock(&ex->lock);
                                        break;
                                }
                }
                struct timespec ts = ak_timespec_after(CLOCK_REALTIME, 500);
                pthread_cond_timedwait(&ex->cond, &ex->lock, &ts);
        }
        pthread_mutex_unlock(&ex->lock);
        return NULL;
}

void pool_free_all(struct executor *ex)
{
        for (size_t i = 0; ex->pools && i < ex->n_pools; i++) {
                for (size_t k = 0; k < ex->pools[i].n_ready; k++)
                        if (ex->cfg.vm_supervisors)
                                evm_release(ex, ex->pools[i].ready[k].box, ex->pools[i].ready[k].dir);
                        else
                                evm_dispose(ex, ex->pools[i].ready[k].box, ex->pools[i].ready[k].dir);
                free(ex->pools[i].ready);
        }
        free(ex->pools);
}
