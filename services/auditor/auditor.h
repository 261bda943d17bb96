/* The auditor: a spool that stores events durably before they are
 * acknowledged, and a delivery per configured destination. A segment of the
 * spool is deleted only once every destination has delivered (and recorded
 * on disk that it delivered) all of it.
 *
 * Thread-safety: auditor_append, auditor_status and auditor_spool may be
 * called from any number of threads at once. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/audit/event.h"
#include "lib/base/error.h"
#include "lib/spool/spool.h"
#include "services/auditor/config.h"
#include "services/auditor/delivery.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AUDITOR_MAX_EMIT 1000

struct auditor;

/* Opens the spool in spool_dir and prepares each destination of config.
 * Takes ownership of config (also on failure). Nothing runs until
 * auditor_start. */
int auditor_new(struct audit_config *config, const char *spool_dir, struct auditor **ret, struct ak_error *err);

/* Starts the delivery threads. */
int auditor_start(struct auditor *a, struct ak_error *err);

/* Stops delivery (local destinations get what is stored first), records the
 * cursors, closes the spool. NULL is a no-op. */
void auditor_free(struct auditor *a);

/* Stores events[0..n) (1..AUDITOR_MAX_EMIT) durably as agentkernel JSON and
 * returns the position of the first. Errors as spool_append: -ENOSPC when
 * the spool or disk is full (nothing of the batch stored), -EINVAL when an
 * event is too large, -EIO. */
int auditor_append(struct auditor *a, struct audit_event *const *events, size_t n, uint64_t *ret_first,
                   struct ak_error *err);

struct auditor_status {
        struct spool_stats spool;
        size_t n_dests;
        struct delivery_status *dests;   /* n_dests of them; free with auditor_status_free */
};

int auditor_status(struct auditor *a, struct auditor_status *ret);
void auditor_status_free(struct auditor_status *s);

/* The spool, for readers (Tail). Valid while the auditor is. */
struct spool *auditor_spool(struct auditor *a);

#ifdef __cplusplus
}
#endif
