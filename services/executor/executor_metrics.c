#include "services/executor/executor_metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "lib/metrics/metrics.h"
#include "lib/svc/phases.h"
#include "protos/ak/v1/sandbox.pb-c.h"
#include "services/executor/audit_queue.h"
#include "services/executor/executor_lifecycle.h"
#include "services/executor/executor_pool.h"
#include "services/executor/executor_sandbox.h"
#include "services/executor/executor_state.h"

static const char *const state_l[] = { "state" };
static const char *const pool_l[] = { "image", "profile" };
static const char *const source_l[] = { "source" };
static const char *const exit_l[] = { "exit_code" };
static const char *const signed_l[] = { "signed" };
static const char *const phase_l[] = { "call", "phase" };
static const double boot_buckets[] = { 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120 };

enum {
        F_SANDBOXES, F_POOL_READY, F_POOL_BOOTING, F_POOL_HITS, F_POOL_MISSES, F_CAP_VCPUS, F_CAP_MEM,
        F_ALLOC_VCPUS, F_ALLOC_MEM, F_AUDIT_QUEUED, F_AUDIT_SENT, F_AUDIT_DROPPED, F_AUDIT_REFUSED,
        F_BOOT, F_BOOT_FAIL, F_START, F_EXEC, F_EXEC_SECONDS, F_EXEC_TIMEOUTS, F_RECEIPTS, F_PHASE, F_N,
};

#define G(n, h, l, nl) { n, h, METRIC_GAUGE, l, nl, NULL, 0, 0 }
#define C(n, h, l, nl, max) { n, h, METRIC_COUNTER, l, nl, NULL, 0, max }
#define H(n, h, l, nl, b, nb) { n, h, METRIC_HISTOGRAM, l, nl, b, nb, 0 }
static const struct metric_def defs[F_N] = {
        [F_SANDBOXES] = G("ak_executor_sandboxes", "Sandboxes on this executor, by state.", state_l, 1),
        [F_POOL_READY] = G("ak_executor_pool_ready_vms", "Warm VMs ready to be taken, by pool.", pool_l, 2),
        [F_POOL_BOOTING] = G("ak_executor_pool_booting_vms", "Warm VMs booting, by pool.", pool_l, 2),
        [F_POOL_HITS] = C("ak_executor_pool_hits_total", "Sandboxes that took a warm VM, by pool.", pool_l, 2, 0),
        [F_POOL_MISSES] = C("ak_executor_pool_misses_total", "Sandboxes of a pool's shape that found no warm VM.",
                            pool_l, 2, 0),
        [F_CAP_VCPUS] = G("ak_executor_capacity_vcpus", "vCPUs this executor offers to sandboxes.", NULL, 0),
        [F_CAP_MEM] = G("ak_executor_capacity_memory_bytes", "Memory this executor offers to sandboxes.", NULL, 0),
        [F_ALLOC_VCPUS] = G("ak_executor_allocated_vcpus", "vCPUs its sandboxes hold.", NULL, 0),
        [F_ALLOC_MEM] = G("ak_executor_allocated_memory_bytes", "Memory its sandboxes hold.", NULL, 0),
        [F_AUDIT_QUEUED] = G("ak_executor_audit_queued_events", "Audit events waiting to reach the auditor.", NULL, 0),
        [F_AUDIT_SENT] = C("ak_executor_audit_sent_total", "Audit events the auditor acknowledged.", NULL, 0, 0),
        [F_AUDIT_DROPPED] = C("ak_executor_audit_dropped_total", "Audit events dropped: the queue was full.", NULL, 0, 0),
        [F_AUDIT_REFUSED] = C("ak_executor_audit_refused_total",
                              "Audit events not stored on disk; their operations failed.", NULL, 0, 0),
        [F_BOOT] = H("ak_executor_vm_boot_seconds", "Time to boot a VM until its guest answers.", NULL, 0,
                     boot_buckets, sizeof(boot_buckets) / sizeof(double)),
        [F_BOOT_FAIL] = C("ak_executor_vm_boot_failures_total", "VM boots that failed.", NULL, 0, 0),
        [F_START] = H("ak_executor_sandbox_start_seconds",
                      "Time for a sandbox to get a running VM, from a warm pool or a boot.", source_l, 1,
                      boot_buckets, sizeof(boot_buckets) / sizeof(double)),
        [F_EXEC] = C("ak_executor_execs_total", "Commands run in sandboxes, by exit code (none: -1).", exit_l, 1, 300),
        [F_EXEC_SECONDS] = H("ak_executor_exec_seconds", "Duration of commands run in sandboxes.", NULL, 0, NULL, 0),
        [F_EXEC_TIMEOUTS] = C("ak_executor_exec_timeouts_total", "Commands ended by their timeout.", NULL, 0, 0),
        [F_RECEIPTS] = C("ak_executor_receipts_total", "Receipts produced, by whether the signer signed them.",
                         signed_l, 1, 0),
        [F_PHASE] = H("ak_executor_call_phase_seconds",
                      "Where a Run's, Exec's or CreateSandbox's time goes, by call and phase (total: all of it).",
                      phase_l, 2, NULL, 0),
};

static struct metric_family *fam[F_N];
static int init_error;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
        struct metrics_registry *reg = metrics_default();
        for (size_t i = 0; i < F_N; i++) {
                struct metric_def d = defs[i];
                if (i == F_EXEC_SECONDS || i == F_PHASE) {
                        d.buckets = metrics_latency_buckets;
                        d.n_buckets = metrics_n_latency_buckets;
                }
                int r = metrics_register(reg, &d, &fam[i], NULL);
                if (r < 0 && !init_error)
                        init_error = r;
        }
}

static const char *state_name(Ak__V1__SandboxState s)
{
        switch (s) {
        case AK__V1__SANDBOX_STATE__SANDBOX_STATE_CREATING: return "creating";
        case AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING: return "running";
        case AK__V1__SANDBOX_STATE__SANDBOX_STATE_STOPPED: return "stopped";
        case AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR: return "error";
        default: return "unspecified";
        }
}

static void set0(int f, double v)
{
        metrics_set(metrics_series0(fam[f]), v);
}

static void collect(void *data)
{
        struct executor *ex = data;
        static const char *const states[] = { "creating", "running", "stopped", "error" };
        double by_state[4] = { 0 };

        struct audit_queue_stats as;
        audit_queue_stats(ex->audit, &as);
        set0(F_AUDIT_QUEUED, (double)as.queued);
        set0(F_AUDIT_SENT, (double)as.sent);
        set0(F_AUDIT_DROPPED, (double)as.dropped);
        set0(F_AUDIT_REFUSED, (double)as.refused);
        set0(F_CAP_VCPUS, ex->cfg.capacity_vcpus);
        set0(F_CAP_MEM, (double)ex->cfg.capacity_memory_mb * 1048576.0);

        pthread_mutex_lock(&ex->lock);
        unsigned v;
        uint64_t mem;
        lifecycle_allocated_locked(ex, &v, &mem);
        set0(F_ALLOC_VCPUS, v);
        set0(F_ALLOC_MEM, (double)mem * 1048576.0);
        for (size_t i = 0; i < ex->n_sandboxes; i++) {
                const char *n = state_name(ex->sandboxes[i]->state);
                for (size_t k = 0; k < 4; k++)
                        if (n == states[k])
                                by_state[k]++;
        }
        for (size_t i = 0; i < ex->n_pools; i++) {
                const struct pool *p = &ex->pools[i];
                const char *lv[] = { p->image, p->profile->name };
                metrics_set(metrics_series(fam[F_POOL_READY], lv), (double)p->n_ready);
                metrics_set(metrics_series(fam[F_POOL_BOOTING], lv), p->booting);
                metrics_set(metrics_series(fam[F_POOL_HITS], lv), (double)p->hits);
                metrics_set(metrics_series(fam[F_POOL_MISSES], lv), (double)p->misses);
        }
        pthread_mutex_unlock(&ex->lock);
        for (size_t k = 0; k < 4; k++) {
                const char *lv[] = { states[k] };
                metrics_set(metrics_series(fam[F_SANDBOXES], lv), by_state[k]);
        }
}

int exmetrics_attach(struct executor *ex)
{
        pthread_once(&once, init);
        if (init_error)
                return init_error;
        /* Series that exist before their first event, so a scrape shows 0
         * rather than nothing. */
        const char *pool[] = { "pool" }, *boot[] = { "boot" }, *yes[] = { "true" }, *no[] = { "false" };
        metrics_series(fam[F_START], pool);
        metrics_series(fam[F_START], boot);
        metrics_series(fam[F_RECEIPTS], yes);
        metrics_series(fam[F_RECEIPTS], no);
        return metrics_add_collector(metrics_default(), collect, ex);
}

void exmetrics_detach(struct executor *ex)
{
        if (ex)
                metrics_remove_collector(metrics_default(), collect, ex);
}

void exmetrics_vm_boot(double seconds, bool ok)
{
        pthread_once(&once, init);
        if (ok)
                metrics_observe(metrics_series0(fam[F_BOOT]), seconds);
        else
                metrics_add(metrics_series0(fam[F_BOOT_FAIL]), 1);
}

void exmetrics_sandbox_start(bool from_pool, double seconds)
{
        pthread_once(&once, init);
        const char *v[] = { from_pool ? "pool" : "boot" };
        metrics_observe(metrics_series(fam[F_START], v), seconds);
}

void exmetrics_exec(int exit_code, bool timed_out, double seconds)
{
        char code[16];

        pthread_once(&once, init);
        /* Exit codes are 0-255 from a guest; anything else reads -1. */
        snprintf(code, sizeof(code), "%d", exit_code >= 0 && exit_code <= 255 ? exit_code : -1);
        const char *v[] = { code };
        metrics_add(metrics_series(fam[F_EXEC], v), 1);
        metrics_observe(metrics_series0(fam[F_EXEC_SECONDS]), seconds);
        if (timed_out)
                metrics_add(metrics_series0(fam[F_EXEC_TIMEOUTS]), 1);
}

void exmetrics_receipt(bool is_signed)
{
        pthread_once(&once, init);
        const char *v[] = { is_signed ? "true" : "false" };
        metrics_add(metrics_series(fam[F_RECEIPTS], v), 1);
}

void exmetrics_phases(const struct svc_phases *ph)
{
        pthread_once(&once, init);
        svc_phases_finish(ph, fam[F_PHASE]);
}
