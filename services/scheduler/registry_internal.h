/* Shared between registry.c (executors) and registry_sandboxes.c (names,
 * placement); nothing else includes this. Everything here runs under
 * registry.lock. */
#pragma once

#include <pthread.h>

#include "services/scheduler/keyset.h"
#include "services/scheduler/registry.h"
#include "services/scheduler/strmap.h"

struct pool_ref {
        struct keyset_key *key;   /* "image\0profile" */
        uint32_t ready;           /* as last reported */
        uint32_t taken;           /* placed as pool hits since */
};

struct sandbox_entry;

struct executor {
        size_t slot;
        char *id;
        char *owner;                      /* the identity that registered it (caller.h) */
        Ak__V1__ExecutorStatus *status;   /* owned, the latest reported */
        int64_t last_heartbeat_ms;        /* monotonic */
        int64_t last_heartbeat_wall_ms;
        bool lost;
        bool unreachable;
        uint64_t hb_seq;                  /* statuses applied so far */
        uint32_t reserved_vcpus;
        uint64_t reserved_memory_mb;
        /* What the latest status counted as allocated for sandboxes that are
         * gone since (a run ended, a remove succeeded): free again until the
         * next status, which no longer counts them. */
        uint32_t released_vcpus;
        uint64_t released_memory_mb;
        struct keyset_key **labels;       /* "key\0value" */
        size_t n_labels;
        struct keyset_key **images;
        size_t n_images;
        struct pool_ref *pools;
        size_t n_pools;
        struct sandbox_entry *sandboxes;  /* owned entries, a doubly linked list */
};

/* One sandbox name. */
struct sandbox_entry {
        char *name;
        char tenant[SPEC_TENANT_MAX + 1]; /* placed for; "" when only reported */
        struct executor *owner;
        struct sandbox_entry *prev, *next;
        uint64_t claim_id;                /* 0 when not placed by us */
        char *pull_image;                 /* placed for an OCI reference: it, normalized
                                             (its owner may be pulling it); else NULL */
        bool placing;                     /* a create or run is in flight */
        bool created;                     /* our create returned; not listed yet */
        bool listed;                      /* the owner's latest status lists it */
        bool reserved;                    /* vcpus/memory_mb count as reserved */
        bool seen;                        /* scratch for status reconciliation */
        bool restarted;                   /* its executor re-registered while it was
                                             created but not listed yet */
        bool orphan;                      /* its executor restarted without it */
        int64_t orphaned_ms;              /* monotonic, while orphan */
        const Ak__V1__Sandbox *reported;  /* into owner->status while listed */
        Ak__V1__Sandbox *own;             /* owned copy from a reply, fresher */
        uint32_t vcpus;
        uint64_t memory_mb;
        uint64_t confirm_seq;             /* owner->hb_seq when the create returned */
        uint64_t credited_seq;            /* owner->hb_seq when its share was released */
};

struct registry {
        pthread_mutex_t lock;
        struct registry_config cfg;
        int64_t started_ms;
        struct strmap *executors;         /* id → struct executor */
        struct strmap *sandboxes;         /* name → struct sandbox_entry */
        struct executor **by_slot;        /* cap_slots long */
        struct placement_slot *hot;       /* cap_slots long */
        uint64_t *present, *live;         /* BITSET_WORDS(cap_slots) long */
        size_t cap_slots;
        size_t n_slots;                   /* high-water mark */
        size_t *free_slots;               /* a stack of released slots */
        size_t n_free;
        struct keyset *labels, *images, *pools;
        size_t n_orphans;
        uint64_t placements;              /* tie-breaking start */
        uint64_t next_claim;
};

/* The sandbox of an entry as best known (NULL while a create is in flight). */
static inline const Ak__V1__Sandbox *entry_sandbox(const struct sandbox_entry *s)
{
        return s->own ? s->own : s->reported;
}

/* The entry's tenant: as last reported, else as placed, else "default". */
const char *entry_tenant(const struct sandbox_entry *s);

/* Recomputes e's placement numbers and live bit from status + reservations. */
void registry_refresh_slot(struct registry *reg, struct executor *e);

/* Entries (registry_sandboxes.c). */
void entry_unreserve(struct registry *reg, struct sandbox_entry *s);
/* s is gone from its executor, which last reported it: its share of the
 * reported allocation is free until the next status (once per status). */
void entry_release_share(struct registry *reg, struct sandbox_entry *s);
void entry_remove(struct registry *reg, struct sandbox_entry *s);

/* Reconciles e's entries with the sandboxes its new status lists (before
 * e->status is replaced; e->hb_seq already counts the new status). With
 * `restarted` (a known executor registered again: a new process), names
 * the old process reported that the new one does not list become orphans
 * instead of vanishing. */
int registry_reconcile(struct registry *reg, struct executor *e, const Ak__V1__ExecutorStatus *st,
                       bool restarted, int64_t now_ms);

/* Drops orphans older than max_age_ms. */
void registry_expire_orphans(struct registry *reg, int64_t now_ms, int64_t max_age_ms);

/* "executor X (ADDR) is lost: no heartbeat for N ms" */
void registry_describe_lost(const struct executor *e, int64_t now_ms, char *buf, size_t size);

/* "sandbox S was lost with executor X: it restarted N ms ago without it ..." */
void registry_describe_orphan(const struct sandbox_entry *s, int64_t now_ms, char *buf, size_t size);
