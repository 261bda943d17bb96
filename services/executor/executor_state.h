/* The executor's shared state (struct executor), private to
 * services/executor. Each internal module has a header of its own
 * (executor_<module>.h declares <module>_*); this one says which module
 * owns which field and how it is locked:
 *
 *   - The fields in the first group are set up by executor_new and only
 *     read afterwards: any thread, no lock.
 *   - images.lock guards images.store. Resolving an image may build it for
 *     minutes, so images.lock is never taken with `lock` held.
 *   - catalog.lock guards catalog (executor_images.h): held for a stat or a
 *     listing of the store's names, never with another lock held.
 *   - `lock` guards every other field, and the changing fields of each
 *     sandbox, pool and guest call. Guest I/O never happens with it held:
 *     handlers take a reference (sandbox_get) and use the sandbox's copy
 *     of the vsock socket path (sandbox_running_uds). `cond`, with `lock`,
 *     wakes the background threads (stop, a pool VM taken, a disposal
 *     queued). */
#pragma once

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "services/executor/executor.h"
#include "vmm/image/image.h"

struct audit_queue;
struct cgroup;
struct disposal;
struct guest_call;
struct image_pull;
struct image_store;
struct images_use;
struct pool;
struct sandbox;

/* What GetStatus and the scheduler are told about this node. */
struct executor_node {
        char id[128];               /* cfg.executor_id, or the host name */
        char address[256];
        char backend[32];           /* as sandbox.proto names backends */
        char accel[8];              /* "kvm", "tcg" or "apple" */
        char **label_keys, **label_values;      /* cfg.n_labels each */
};

/* Started by executor_new, joined by executor_free (after setting stop). */
struct executor_threads {
        pthread_t janitor, pooler, heart;       /* executor_janitor.c, executor_pool.c, executor_status.c */
        bool have_janitor, have_pooler, have_heart;
};

struct executor {
        /* executor.c, read-only after executor_new: */
        struct executor_config cfg;             /* with the defaults filled in */
        char state_dir[PATH_MAX], images_dir[PATH_MAX];
        char vmm_bin[PATH_MAX];                 /* ak-vmm, with cfg.vm_supervisors */
        struct executor_node node;
        struct audit_queue *audit;              /* thread-safe on its own */
        struct cgroup *cgroup;                  /* NULL: no cpu quotas ... */
        char cpu_quota_note[600];               /* ... and why */
        struct executor_threads threads;

        struct {
                pthread_mutex_t lock;
                struct image_store *store;      /* not thread-safe */
        } images;
        /* executor_images.c: the store's names as reported, current
         * without a restart. A store handle of its own, so a heartbeat
         * never waits on images.lock (held across builds). */
        struct {
                pthread_mutex_t lock;
                struct image_store *store;
                struct image_watch watch;
                char **names;                   /* sorted, "base" among them */
                size_t n_names;
                struct images_use *uses;        /* one in-use mark per VM (images_use_begin) */
        } catalog;

        /* executor_pull.c: pulls of references this node lacks. */
        struct {
                pthread_mutex_t lock;
                pthread_cond_t cond;            /* a pull finished (CLOCK_MONOTONIC) */
                struct image_pull *v[32];       /* PULL_MAX */
                size_t n;
                unsigned running;               /* pull threads alive */
                struct pull_waiter *waiters;    /* creates waiting on a pull */
        } pulls;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop;                              /* executor_free */
        /* The sandbox table (executor_lifecycle.c adds and removes, at most
         * EXECUTOR_MAX_SANDBOXES; each entry holds a reference). */
        struct sandbox **sandboxes;
        size_t n_sandboxes;
        /* executor_pool.c; the array is fixed after executor_new. */
        struct pool *pools;
        size_t n_pools;
        struct guest_call *guest_calls;         /* executor_guest_call.c */
        /* VMs of removed sandboxes that the janitor stops and deletes in
         * the background (lifecycle_remove's `later`). */
        struct disposal *disposals;
        uint64_t next_vm;                       /* executor_vm.c: VM directory numbers */
        /* executor_drain.c: Drain was called (creates refused), and the
         * Run calls in progress (cond is broadcast when one ends). */
        bool draining;
        unsigned runs;
        /* executor_netaudit.c: the reporters of VMs with network, and the
         * denials of VMs gone. */
        struct net_audit *net_audits;
        uint64_t net_denied_past;
        uint64_t net_overruns_past;
        /* The heartbeat's last error ("" when registered), and what
         * executor_log_line last reported. */
        struct {
                char sched_note[512];
                uint64_t logged_dropped;
                uint64_t logged_refused;
                char logged_sched[512];
        } notes;
};

