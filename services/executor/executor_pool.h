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
};

/* Takes a ready VM of (image, p) into *ret (takes ex->lock; never waits):
 * 0, or -ENOENT (no such pool, or none ready: counted as a miss). */
int pool_take(struct executor *ex, const char *image, const struct profile *p, struct pool_vm *ret);
/* pthread body, arg the executor: boots VMs up to cfg.pool_min_warm, drops
 * old, dead and unanswering ones. Returns once ex->stop is set. */
void *pool_thread(void *arg);
/* Disposes of every ready VM and frees ex->pools (executor_free, after the
 * pool thread is joined). */
void pool_free_all(struct executor *ex);
