/* Delivery: one thread per destination that reads the spool from the
 * destination's cursor, batches events (batch_size, flush interval), formats
 * them (agentkernel JSON or OCSF), hands them to the destination, and on
 * success moves and persists the cursor. Failures are retried with capped
 * exponential backoff and jitter (Retry-After honoured), round after round:
 * nothing is dropped. Rejected batches (HTTP 4xx) go to the dead-letter file,
 * one JSON line per batch with the response, and the cursor moves on.
 *
 * Thread-safety: delivery_status may be called from any thread; the rest
 * from the thread that owns the delivery. */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "lib/spool/spool.h"
#include "services/auditor/config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The dead-letter file, shared by every delivery of an auditor. */
struct deadletter {
        char *path;
        pthread_mutex_t mu;
};

struct delivery;

/* Called from a delivery thread after it has persisted a new cursor. */
typedef void (*delivery_progress_fn)(void *userdata);

/* Prepares the delivery of dc (which, with c, must outlive it): opens the
 * destination and loads its cursor from the spool directory dir_fd. */
int delivery_new(const struct audit_config *c, const struct audit_dest_config *dc, struct spool *spool, int dir_fd,
                 struct deadletter *dl, delivery_progress_fn progress, void *userdata, struct delivery **ret,
                 struct ak_error *err);

int delivery_start(struct delivery *d, struct ak_error *err);

/* Stops the thread (a local destination first delivers what is stored),
 * persists the cursor and frees. NULL is a no-op. */
void delivery_free(struct delivery *d);

struct delivery_status {
        const char *name;             /* valid while the delivery is */
        uint64_t delivered_position;  /* last position delivered (0: none) */
        uint64_t persisted_position;  /* ... and recorded on disk */
        uint64_t dead_lettered;       /* events sent to the dead-letter file */
        uint64_t delivered_events;    /* since start */
        char last_error[512];         /* "" when the last attempt succeeded */
};

void delivery_status(struct delivery *d, struct delivery_status *ret);

#ifdef __cplusplus
}
#endif
