/* Warm pools (executor_pool.c): VMs booted ahead of time per (image,
 * profile). Private to services/executor. */
#pragma once

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "services/executor/profile.h"
#include "vmm/image/image.h"

struct executor;
struct vmbox;

struct pool_vm {
        struct vmbox *box;
        char dir[PATH_MAX];
};

/* One per cfg.pools entry (ex->pools, fixed after executor_new); image
 * and profile are read-only, the rest is under ex->lock. */
struct pool {
        char image[IMAGE_REF_MAX];         /* a local name or a normalized reference */
        const struct profile *profile;
        struct pool_vm *ready;      /* at most cfg.pool_max_warm */
        size_t n_ready;
        unsigned booting;
        uint64_t hits, misses;
        int64_t taken_at_ms;        /* CLOCK_MONOTONIC of the last take; 0: none */
};

/* A refill waits while a Run is in progress on this executor (its VM was
 * likely just taken: a boot beside it would take the CPU its command
 * needs), but never longer than this after the last take. */
#define POOL_REFILL_DEFER_MS 1000

/* Takes a ready VM of (image, p) into *ret (takes ex->lock; never waits):
 * 0, or -ENOENT (no such pool, or none ready: counted as a miss). */
int pool_take(struct executor *ex, const char *image, const struct profile *p, struct pool_vm *ret);
/* pthread body, arg the executor: boots VMs up to cfg.pool_min_warm, drops
 * old, dead and unanswering ones. Returns once ex->stop is set. A booted
 * VM runs one command (`true`, as root, streamed, as a Run's) before it
 * is ready: the guest's first command is the slow one (under TCG its code
 * is translated then), and that should not be a user's. */
void *pool_thread(void *arg);
/* Disposes of every ready VM and frees ex->pools (executor_free, after the
 * pool thread is joined). */
void pool_free_all(struct executor *ex);
