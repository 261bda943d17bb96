/* Pulling an OCI reference this node lacks (executor_pull.c): one pull per
 * reference per node, however many creates wait for it. The pull runs on a
 * thread of its own, through the same code as `ak image pull` (oci_pull into
 * <images>/oci, then image_import recorded under the normalized reference),
 * so a waiter that gives up (its deadline) does not stop it; the next create
 * of the same reference waits on the same pull. Private to
 * services/executor.
 *
 * Locking: ex->pulls.lock guards ex->pulls; never held with another lock,
 * and never across the pull itself. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "vmm/image/image.h"

struct executor;

#define PULL_MAX 32                     /* pulls remembered (running + recent failures) */
#define PULL_WAIT_MS_DEFAULT (15 * 60 * 1000)
#define PULL_FAILED_KEEP_MS (10 * 60 * 1000)

enum pull_state { PULL_PULLING, PULL_IMPORTING, PULL_DONE, PULL_FAILED };

/* One pull, shared by its waiters (ex->pulls.v). */
struct image_pull {
        char ref[IMAGE_REF_MAX];        /* normalized */
        enum pull_state state;
        uint64_t bytes_done, bytes_total;       /* of the blobs seen so far */
        char blob[80];                  /* the blob being downloaded */
        uint64_t blob_done, blobs_done;
        int code;                       /* -errno when FAILED */
        char error[1024];
        int64_t started_ms, finished_ms;    /* CLOCK_REALTIME */
        unsigned refs;                  /* waiters + the pulling thread */
        struct executor *ex;
};

/* A create that waits on a pull (GetSandbox of its name answers CREATING
 * with the pull's progress). Lives on the waiting thread's stack, linked
 * into ex->pulls.waiters for the wait. */
struct pull_waiter {
        const char *sandbox;            /* the sandbox being created */
        const char *tenant;
        struct image_pull *pull;
        struct pull_waiter *next;
};

/* What GetStatus reports about one pull. */
struct image_pull_status {
        char ref[IMAGE_REF_MAX];
        const char *state;              /* "pulling", "importing", "failed" */
        uint64_t bytes_done, bytes_total;
        char error[1024];
};

int pulls_init(struct executor *ex);
/* Waits for the running pulls' threads (executor_free, after stop). */
void pulls_free(struct executor *ex);

/* Pulls ref (normalized) unless a pull of it is running, then waits for it
 * up to the executor's pull deadline. 0 when the image is stored; else the
 * pull's -errno with err the registry's words (-ETIMEDOUT: still pulling
 * when the deadline passed). `sandbox` (may be NULL: a pool's pull) names
 * the create that waits, for pulls_waiting while it does; it and `tenant`
 * must stay valid until this returns. */
int pulls_ensure(struct executor *ex, const char *ref, const char *sandbox, const char *tenant,
                 struct ak_error *err);

/* If a create of `sandbox` waits on a pull now: 0 with the pull in *ret and
 * the create's tenant in ret_tenant ("" when none was named); else -ENOENT. */
int pulls_waiting(struct executor *ex, const char *sandbox, struct image_pull_status *ret, char *ret_tenant,
                  size_t tenant_size);

/* The running pulls and the failures of the last PULL_FAILED_KEEP_MS
 * (malloc'ed array; the caller frees it). */
int pulls_status(struct executor *ex, struct image_pull_status **ret, size_t *ret_n);
