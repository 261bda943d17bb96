/* The executor service (ak.v1.Executor): the sandboxes of one node, each a
 * microVM (vmbox.h) with a security profile (profile.h), warm pools per
 * (image, profile), receipts through the signer, audit events through the
 * auditor (audit_queue.h), registration and heartbeats with the scheduler.
 *
 * State on disk, under cfg->state_dir:
 *   v/<n>/     one directory per VM (sockets and logs, vm.h; the sandbox's
 *              or pool's record, sandbox_record.h); removed with it
 * On start, the VMs an earlier run left (cfg.vm_supervisors) are re-adopted
 * and sandboxes whose VM is gone are listed in ERROR (executor_adopt.h);
 * other leftovers are removed.
 *
 * Thread-safety: every call from any thread; handlers run concurrently. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "lib/rpc/rpc.h"
#include "vmm/backend/vmm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EXECUTOR_MAX_SANDBOXES 1024
#define EXECUTOR_MAX_LABELS 64
#define EXECUTOR_MAX_POOLS 16
#define EXECUTOR_EXEC_TIMEOUT_MS 3600000u        /* 1 h */
#define EXECUTOR_EXEC_TIMEOUT_MAX_MS 86400000u   /* 1 day */
#define EXECUTOR_ADOPT_WORKERS 16               /* VMs re-adopted at once */
#define EXECUTOR_ADOPT_WORKERS_MAX 64
#define EXECUTOR_DRAIN_DEFAULT_MS 60000u         /* Drain without timeout_ms */
#define EXECUTOR_DRAIN_MAX_MS 3600000u

struct executor_pool_config {
        const char *image;
        const char *profile;
};

struct executor_config {
        const char *state_dir;          /* required, short (Unix socket paths) */
        const char *images_dir;         /* image store; required */
        /* An image seed (image.h) installed into the store by executor_new
         * (NULL: none): a damaged seed fails it. */
        const char *image_seed;
        /* The store's images are kept under this (least recently used ones
         * not in use removed, images_collect); 0: no limit. */
        uint64_t image_cache_max_bytes;
        const char *executor_id;        /* "" → host name */
        const char *address;            /* where clients reach us (status) */
        unsigned capacity_vcpus;        /* 0 → online CPUs */
        /* 0 → the guest MB that fit in 90% of RAM at the measured host cost
         * of an idle sandbox (capacity.h). */
        uint64_t capacity_memory_mb;
        /* Where meminfo and pressure/memory are read for the memory-pressure
         * check that stops placements and pool refills (NULL: /proc). */
        const char *proc_dir;
        const char *const *label_keys;  /* n_labels */
        const char *const *label_values;
        size_t n_labels;
        struct rpc_channel *signer;     /* NULL: receipts stay unsigned */
        struct rpc_channel *auditor;    /* NULL: audit events are not sent */
        /* NULL: the audit queue is in memory (drops counted); else on disk
         * there, fail closed (audit_queue.h). */
        const char *audit_queue_dir;
        uint64_t audit_queue_max_bytes; /* 0: 64 MiB */
        struct rpc_channel *scheduler;  /* NULL: no registration */
        /* Warm pools: min 0 disables them. */
        const struct executor_pool_config *pools;
        size_t n_pools;
        unsigned pool_min_warm, pool_max_warm, pool_max_age_s;
        enum vmm_accel accel;
        const struct vmm_ops *vmm;      /* NULL → vmm_qemu_ops */
        int boot_timeout_ms;            /* 0 → 120000 */
        /* Sandboxes with network (vmm_net.h): the /30 pool of their veths
         * (NULL: 100.96.0.0/16) and CIDRs denied besides the host,
         * link-local and private ranges (a cluster's pod and service
         * networks). At most VMM_NET_MAX_DENY. */
        const char *net_pool;
        const char *const *deny_cidrs;
        size_t n_deny_cidrs;
        /* A sandbox's egress.allow may re-open the private ranges and
         * deny_cidrs (--egress-allow-private); never loopback, the host or
         * link-local. */
        bool egress_allow_private;
        /* The upstream resolvers of sandboxes' DNS resolvers ("ADDR[:PORT]",
         * --dns-upstream; at most RESOLVER_MAX_UPSTREAMS); none: the host's
         * resolv.conf nameservers. */
        const char *const *dns_upstreams;
        size_t n_dns_upstreams;
        /* Exec/Run without timeout_ms: the guest kills the command after
         * this, the host gives up on the guest 15 s later. 0 →
         * EXECUTOR_EXEC_TIMEOUT_MS; at most EXECUTOR_EXEC_TIMEOUT_MAX_MS. */
        uint32_t exec_timeout_ms;
        unsigned reap_interval_ms;      /* TTL checks; 0 → 500 */
        /* VMs without network run under ak-vmm supervisors and outlive
         * the executor: executor_free leaves them running and the next
         * executor_new on the same state_dir re-adopts them
         * (executor_adopt.h). ak-vmm is found with binpath_find
         * ("vmm/ak-vmm", AK_VMM_BIN). */
        bool vm_supervisors;
        /* With vm_supervisors: a cgroup v2 directory outside the
         * executor's container (cgroup.h, cgroup_new_home) where each VM's
         * supervisor and QEMU run in a child cgroup "vm<N>", so a container
         * runtime's kill of the executor's cgroup spares them and the next
         * executor adopts them. Checked at executor_new (not inside our own
         * cgroup, writable). NULL: VMs stay in the executor's cgroup. */
        const char *vm_cgroup;
        /* Threads that re-adopt VMs at start (executor_adopt.h); 0:
         * EXECUTOR_ADOPT_WORKERS, at most EXECUTOR_ADOPT_WORKERS_MAX. */
        unsigned adopt_workers;
        /* Pulling an OCI reference a create names and this node lacks
         * (executor_pull.h): a docker config.json with registry
         * credentials (a Kubernetes imagePullSecret's .dockerconfigjson;
         * NULL: $DOCKER_CONFIG/config.json or ~/.docker/config.json), a CA
         * file for registries' TLS (NULL: the system's), registries
         * reached over plain HTTP besides loopback ones (host[:port], at
         * most 16), and how long a create waits for a pull (0: 15 min; the
         * pull goes on after). */
        const char *registry_auth_file;
        const char *registry_ca_file;
        const char *const *insecure_registries;
        size_t n_insecure_registries;
        unsigned pull_wait_ms;
        /* Where sandboxes' secrets (SandboxSpec.secrets) are read from: a
         * mounted Kubernetes Secret directory, one file per name
         * (--secrets-dir); NULL: the sealed vault in $AK_HOME/secrets
         * (lib/vault), as `ak secret set` fills it on one machine. */
        const char *secrets_dir;
        /* The CA certificates (PEM file) the hosts secrets are bound to
         * must chain to (--secrets-upstream-ca); NULL: the system's roots. */
        const char *secrets_upstream_ca;
        /* Test seam (ak-executor --test-guest NAME=UDS): persistent running
         * sandboxes with no VM whose guest agent is whatever listens on the
         * hybrid-vsock socket UDS, so tests can attach a hostile fake guest.
         * Never set in production. At most EXECUTOR_MAX_TEST_GUESTS. */
        const char *const *test_guest_names;
        const char *const *test_guest_uds;
        size_t n_test_guests;
};

#define EXECUTOR_MAX_TEST_GUESTS 8

struct executor;

int executor_new(const struct executor_config *cfg, struct executor **ret, struct ak_error *err);
/* Adds the Executor service to srv (before rpc_server_start). */
int executor_add_to_server(struct executor *ex, struct rpc_server *srv, struct ak_error *err);
/* Stops background threads, every VM (with cfg.vm_supervisors: every VM
 * that runs under a supervisor is left running, and no sandbox counts as
 * removed), frees. NULL is a no-op. */
void executor_free(struct executor *ex);

/* One line on the auditor queue / cpu quota / registration for main's log
 * when something changed since the last call ("" otherwise). */
void executor_log_line(struct executor *ex, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
