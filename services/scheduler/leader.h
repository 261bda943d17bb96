/* ak-scheduler's --leader-elect: the flags, and the wiring of lease.h into
 * the servers. A follower refuses every call (clients' and executors')
 * UNAVAILABLE naming the leader, before reading its request, with the
 * trailer "ak-leader: <holderIdentity>" (rpc_call_refuse_elsewhere; "" while
 * no leader is known), so lib/rpc's failover clients send it again on a new
 * connection; it reports NOT_SERVING to health checks, so
 * a Kubernetes Service with a gRPC readiness probe routes to the leader
 * only. Without --leader-elect main.c creates none of this. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"
#include "lib/rpc/rpc.h"
#include "services/scheduler/lease.h"

enum {
        LEADER_OPT_ELECT = 1900,
        LEADER_OPT_NAME,
        LEADER_OPT_NAMESPACE,
        LEADER_OPT_DURATION,
        LEADER_OPT_IDENTITY,
        LEADER_OPT_API,
        LEADER_OPT_TOKEN,
        LEADER_OPT_CA,
};

#define LEADER_OPTIONS                                                                                    \
        { "leader-elect", no_argument, NULL, LEADER_OPT_ELECT },                                          \
        { "lease-name", required_argument, NULL, LEADER_OPT_NAME },                                       \
        { "lease-namespace", required_argument, NULL, LEADER_OPT_NAMESPACE },                             \
        { "lease-duration-s", required_argument, NULL, LEADER_OPT_DURATION },                             \
        { "lease-identity", required_argument, NULL, LEADER_OPT_IDENTITY },                               \
        { "api-server", required_argument, NULL, LEADER_OPT_API },                                        \
        { "api-token-file", required_argument, NULL, LEADER_OPT_TOKEN },                                  \
        { "api-ca-file", required_argument, NULL, LEADER_OPT_CA }

#define LEADER_USAGE                                                                                      \
        "  --leader-elect              several replicas, one leader, through a Kubernetes\n"             \
        "                              coordination.k8s.io/v1 Lease; followers answer\n"                 \
        "                              UNAVAILABLE naming the leader, health NOT_SERVING\n"              \
        "  --lease-name NAME           the Lease (default ak-scheduler)\n"                              \
        "  --lease-namespace NS        its namespace (default: the service account's)\n"                 \
        "  --lease-duration-s N        leaseDurationSeconds (default 15, 1-3600): a dead\n"             \
        "                              leader is replaced after about this long\n"                       \
        "  --lease-identity ID         holderIdentity (default $POD_NAME, else the host name)\n"        \
        "  --api-server URL            Kubernetes API (default https://$KUBERNETES_SERVICE_HOST:\n"      \
        "                              $KUBERNETES_SERVICE_PORT)\n"                                       \
        "  --api-token-file F, --api-ca-file F   default: the pod's service account\n"                   \
        "                              (" LEASE_SA_DIR "/token, ca.crt)\n"

struct leader_flags {
        bool elect;
        struct lease_config lease;
        /* A replica that has just become leader knows no executor yet (the
         * registry is soft state): for this long it refuses every call but
         * RegisterExecutor and Heartbeat as a follower does (UNAVAILABLE,
         * "ak-leader" naming itself), so clients retry instead of hearing
         * "no executor" or "no such sandbox". main.c: one heartbeat interval
         * plus the failover back-off limit (executors retry within it). */
        unsigned warmup_ms;
};

/* getopt's opt for one of LEADER_OPTIONS: 1 taken, 0 not ours, -1 bad
 * (said in err). */
int leader_flags_take(struct leader_flags *f, int opt, const char *arg, struct ak_error *err);
/* A problem with the combination, or NULL. */
const char *leader_flags_problem(const struct leader_flags *f);

struct leader;

/* inner authorizes calls while leading (scheduler_authorize). log as
 * lease_config's. Nothing runs until leader_start. */
int leader_new(const struct leader_flags *f, rpc_authorize_fn inner, void *inner_data,
               void (*log)(void *data, const char *line), struct leader **ret, struct ak_error *err);

/* For rpc_server_options.authorize with authorize_data = the leader. */
int leader_authorize(struct rpc_call *call, void *data);

/* Marks srv and health (NULL: none) NOT_SERVING and starts electing; they
 * become SERVING while this replica leads. REQUIRES: both outlive
 * leader_stop. */
int leader_start(struct leader *l, struct rpc_server *srv, struct rpc_server *health, struct ak_error *err);

/* Stops electing, stops leading (calls are refused from here on) and
 * releases the Lease if held, so another replica takes over at once. Call
 * before shutting the servers down. Idempotent. */
void leader_stop(struct leader *l);

/* leader_stop, then frees. REQUIRES: no call is being authorized (the
 * server is shut down). NULL is a no-op. */
void leader_free(struct leader *l);
