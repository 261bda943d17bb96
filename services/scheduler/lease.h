/* Leader election through a Kubernetes coordination.k8s.io/v1 Lease, the
 * way client-go's leaderelection does it, over the API server's REST API
 * (libcurl) with the pod's service account.
 *
 * One thread per elector: every retry period it GETs the Lease; when it is
 * free (no holder, or the holder has not renewed for leaseDurationSeconds
 * as seen on this replica's own monotonic clock since the record last
 * changed) or ours, it PUTs (or POSTs, when there is none) the Lease with
 * holderIdentity = our identity and the resourceVersion it read, so of two
 * replicas writing at once the API server takes one and answers 409 to the
 * other, which re-reads.
 *
 * Safety: a leader counts itself leader only until renew_deadline (2/3 of
 * the duration) after the start of its last successful renewal, whatever its
 * thread is doing; another replica can take over only a whole duration
 * after it saw that renewal, so the two never lead at once (clock rates
 * aside; no wall-clock comparison across machines is made).
 *
 * Thread-safety: lease_elector_is_leader and _holder may be called from any
 * thread; on_change runs on the elector's thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"

#define LEASE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct lease_config {
        /* "https://host:port" or "http://127.0.0.1:port" (tests); NULL: from
         * KUBERNETES_SERVICE_HOST and _PORT (in-cluster). */
        const char *api_server;
        /* NULL: LEASE_SA_DIR/token, /ca.crt. token_file reread for each request
         * (projected tokens rotate). ca_file unused for http://. */
        const char *token_file, *ca_file;
        /* NULL: LEASE_SA_DIR/namespace. */
        const char *ns;
        const char *name;       /* the Lease's name; NULL: "ak-scheduler" */
        const char *identity;   /* holderIdentity; NULL: $POD_NAME, else the host name */
        unsigned duration_s;    /* leaseDurationSeconds; 0: 15 */
        /* Called on the elector's thread when this replica starts or stops
         * leading, or the holder changes (holder "" when none is known). */
        void (*on_change)(void *data, bool leading, const char *holder);
        /* One line per event worth an operator's eye; NULL: quiet. */
        void (*log)(void *data, const char *line);
        void *data;
};

struct lease_elector;

/* Resolves the defaults (reads the namespace file), checks them and starts
 * the thread. Not leader until the first successful write. */
int lease_elector_new(const struct lease_config *cfg, struct lease_elector **ret, struct ak_error *err);

/* True while this replica may act as leader (see Safety above). */
bool lease_elector_is_leader(struct lease_elector *e);

/* The last holderIdentity seen (ours only while leading; "" when unknown). */
void lease_elector_holder(struct lease_elector *e, char *buf, size_t size);

/* "ns/name" of the Lease, for messages. */
const char *lease_elector_lease(const struct lease_elector *e);

/* Stops the thread and leading (is_leader is false from here on); when
 * this replica held the Lease, releases it (empty holder) so a follower
 * takes over at once instead of after the duration. Idempotent; NULL is a
 * no-op. on_change is not called. */
void lease_elector_stop(struct lease_elector *e);

/* lease_elector_stop, then frees. NULL is a no-op. */
void lease_elector_free(struct lease_elector *e);
