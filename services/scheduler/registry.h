/* The registry: the scheduler's whole state, all of it soft. Executors
 * register and heartbeat their full status (capacity, allocation, labels,
 * cached images, warm pools, sandboxes); the registry keeps the latest status
 * of each, marks executors lost when heartbeats stop, places new sandboxes
 * (placement.h) and remembers which executor owns which sandbox name. After a
 * scheduler restart all of it comes back from the next round of heartbeats.
 *
 * Capacity accounting: an executor's free vCPUs/memory are its capacity minus
 * the allocation it reported minus sandboxes placed on it since ("reserved"),
 * so a burst of creates between two heartbeats does not overfill one node. A
 * reservation ends when a heartbeat lists the sandbox, when the create fails
 * or a one-shot run ends, or at the second heartbeat after the create returned
 * (the sandbox may be gone by then).
 *
 * Sandbox names are unique across the fleet: a name is taken from the moment
 * a create for it is placed until the owning executor stops listing it (or
 * the create fails). When a known executor registers again (it restarted:
 * its VMs died with the old process), the names it no longer lists become
 * orphans: calls for them fail fast saying so, ListSandboxes shows them in
 * SANDBOX_STATE_ERROR, and they go on RemoveSandbox, on a create that reuses
 * the name, or forget_after_ms later (at most REGISTRY_MAX_ORPHANS are kept).
 *
 * Times are milliseconds on a monotonic clock, passed in by the caller (tests
 * drive time by hand). Thread-safe: every function takes the registry's
 * lock; none calls out while holding it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "protos/ak/v1/scheduler.pb-c.h"
#include "services/scheduler/placement.h"
#include "services/scheduler/spec.h"

struct registry_config {
        uint32_t heartbeat_interval_ms;  /* what executors are told; 0: 2000 */
        uint32_t lost_after_ms;          /* silent this long → lost; 0: 3 intervals */
        uint32_t forget_after_ms;        /* lost this long → dropped; 0: never */
        size_t max_executors;            /* 0: 65536 */
};

#define REGISTRY_MAX_ORPHANS 65536

struct registry;

int registry_new(const struct registry_config *cfg, int64_t now_ms, struct registry **ret);
void registry_free(struct registry *reg);

/* The effective configuration (defaults filled in). */
const struct registry_config *registry_config(const struct registry *reg);

/* ---- executors ---------------------------------------------------------- */

/* RegisterExecutor: adds the executor, or replaces the record of one with the
 * same id (it restarted, or this scheduler did). `owner` is the identity of
 * the credential that calls (caller.h): the first to register an id binds it
 * for as long as the record lives (lost included, until forgotten), and a
 * different owner is refused with -EPERM. Takes ownership of `status` (an
 * unpacked message, checked with spec_check_status) in every case.
 * Returns 0, or -EPERM, -EUSERS past max_executors, -ENOMEM (err says which). */
int registry_register(struct registry *reg, Ak__V1__ExecutorStatus *status, const char *owner,
                      int64_t now_ms, struct ak_error *err);

/* Heartbeat: replaces the executor's status (a lost executor comes back).
 * Takes ownership of `status`. Returns 0, or -ENOENT when the id is unknown
 * (the executor must register again), -EPERM when `owner` is not the one
 * that registered it, -ENOMEM. */
int registry_heartbeat(struct registry *reg, Ak__V1__ExecutorStatus *status, const char *owner,
                       int64_t now_ms, struct ak_error *err);

enum registry_event {
        REGISTRY_LOST,       /* no heartbeat for lost_after_ms */
        REGISTRY_FORGOTTEN,  /* lost for forget_after_ms: dropped with its sandboxes */
};

typedef void (*registry_event_fn)(void *data, enum registry_event ev, const char *executor_id,
                                  int64_t silent_ms);

/* Marks executors lost and forgets long-lost ones; `note` (may be NULL) hears
 * about each, under the lock (it must not call the registry). Returns how
 * many executors changed. */
int registry_reap(struct registry *reg, int64_t now_ms, registry_event_fn note, void *data);

/* An image the executor made (a disk snapshot) is placeable there at once,
 * before its next heartbeat reports it (that heartbeat's list then rules,
 * as always). 0, -ENOENT for an unknown executor, -ENOMEM. */
int registry_image_added(struct registry *reg, const char *executor_id, const char *image);

/* An executor a forwarded call could not reach: placement skips it until its
 * next heartbeat. Unknown ids are ignored. */
void registry_mark_unreachable(struct registry *reg, const char *executor_id);

enum registry_liveness {
        REGISTRY_LIVE,
        REGISTRY_IS_LOST,
        REGISTRY_GONE,       /* unknown id */
};

/* Whether calls to the executor may go on; when it is lost, `why` (may be
 * NULL) gets "executor X (ADDR) is lost: no heartbeat for N ms". */
enum registry_liveness registry_liveness(struct registry *reg, const char *executor_id,
                                         int64_t now_ms, char *why, size_t why_size);

/* ListExecutors, sorted by id: a fresh message the caller frees with
 * protobuf_c_message_free_unpacked. -E2BIG when it would pack past
 * max_bytes, -ENOMEM. last_heartbeat_ms is wall-clock (Unix ms). */
int registry_list_executors(struct registry *reg, size_t max_bytes,
                            Ak__V1__ListExecutorsResponse **ret);

/* ---- sandboxes ---------------------------------------------------------- */

/* Whose sandboxes a call may see and act on: one tenant's, or (admin, or
 * scope NULL) everyone's. A sandbox's tenant is its spec.tenant as last
 * reported ("" = "default"), else the one it was placed for. */
struct registry_scope {
        const char *tenant;
        bool admin;
};

/* A tenant's limits on what its sandboxes hold at once, placed creates
 * included; 0: no limit. */
struct registry_quota {
        uint32_t sandboxes;
        uint32_t vcpus;
        uint64_t memory_mb;
};

/* A placed create: the name it holds and where it goes. */
struct registry_claim {
        uint64_t id;
        char name[SPEC_NAME_MAX + 1];
        char executor_id[EXECUTOR_ID_MAX + 1];
        char address[EXECUTOR_ADDRESS_MAX + 1];
        enum placement_tier tier;
};

/* Takes the spec's name (or generates one when empty) and picks an executor,
 * reserving `needs` on it, for tenant spec->tenant ("" = "default").
 * Returns 0; -EEXIST when the name is taken in the fleet (another tenant's
 * name is not said to be anywhere); -EDQUOT when the tenant's sandboxes
 * with this one would pass `quota` (NULL: none; err names the quota);
 * -ENOENT when the spec names a local image (spec_image_is_local) that no
 * registered executor reports (err says how to make it); -ENOSPC when no
 * executor fits (err: placement_explain's words). */
/* Whether some registered executor, neither lost nor draining, has the
 * labels spec's node_selector asks for and offers at least vcpus and
 * memory_mb in all (free or not): a request that fits none can never be
 * placed, and is not worth queueing. */
bool registry_could_fit(struct registry *reg, const Ak__V1__SandboxSpec *spec, uint32_t vcpus, uint64_t memory_mb);

int registry_place(struct registry *reg, const Ak__V1__SandboxSpec *spec,
                   const struct spec_needs *needs, const struct registry_quota *quota,
                   struct registry_claim *ret, struct ak_error *err);

/* The create succeeded: the sandbox now exists on the claimed executor.
 * `sb` (may be NULL) is what the executor returned; it is copied. */
void registry_confirm(struct registry *reg, const struct registry_claim *claim,
                      const Ak__V1__Sandbox *sb);

/* The create failed, or a one-shot run ended and removed its sandbox: the
 * name and the reservation go (unless a heartbeat already lists the name). */
void registry_release(struct registry *reg, const struct registry_claim *claim);

/* Where calls for a sandbox go. */
struct registry_route {
        char executor_id[EXECUTOR_ID_MAX + 1];
        char address[EXECUTOR_ADDRESS_MAX + 1];
};

/* Returns 0 with *ret; -ENOENT when no executor reports `name` (or it was
 * removed, or forgotten with its executor); -EHOSTDOWN when the call must
 * fail fast: its executor is lost, or unreachable since a forwarded call
 * failed, or restarted without it (an orphan). err then names the executor
 * and says what to do. A sandbox outside `scope` is -ENOENT, in the same
 * words as one that does not exist. */
int registry_route(struct registry *reg, const char *name, const struct registry_scope *scope,
                   int64_t now_ms, struct registry_route *ret, struct ak_error *err);

/* RemoveSandbox of an orphan: the executor has nothing left to remove, so
 * the name just goes. Returns 0, or -ENOENT when `name` is not an orphan in
 * `scope`. */
int registry_forget_orphan(struct registry *reg, const char *name, const struct registry_scope *scope);

/* True for the first lost_after_ms after registry_new: executors may not have
 * heartbeated yet, so an unknown name may still turn up. */
bool registry_rebuilding(struct registry *reg, int64_t now_ms);

/* A fresher Sandbox from the executor that owns it (Start/Stop/Get replies).
 * Ignored when another executor owns the name. */
void registry_sandbox_seen(struct registry *reg, const char *executor_id, const Ak__V1__Sandbox *sb);

/* The sandbox was removed (RemoveSandbox succeeded or said NOT_FOUND). */
void registry_sandbox_gone(struct registry *reg, const char *executor_id, const char *name);

/* ListSandboxes: every known sandbox in `scope` whose labels contain all of `selector`,
 * and (without a selector) each create still waiting for its executor to pull
 * its image, CREATING with image_pull as the executor's latest status says,
 * sorted by name; sandboxes of lost executors are shown in
 * SANDBOX_STATE_ERROR with the reason. Fresh message (caller frees);
 * -E2BIG past max_bytes, -ENOMEM. */
int registry_list_sandboxes(struct registry *reg, const Ak__V1__ListSandboxesRequest *req,
                            const struct registry_scope *scope, int64_t now_ms, size_t max_bytes, Ak__V1__ListSandboxesResponse **ret);

/* ---- for tests and benchmarks -------------------------------------------- */

struct registry_stats {
        size_t executors, live, sandboxes, reserved_entries, keys;
};

void registry_stats(struct registry *reg, struct registry_stats *ret);

/* Whether a sandbox of `tenant` ("" = "default") is in `scope`. */
bool registry_scope_has(const struct registry_scope *scope, const char *tenant);

/* The placement view's numbers for one executor (false when unknown). */
bool registry_slot_of(struct registry *reg, const char *executor_id, struct placement_slot *ret);
