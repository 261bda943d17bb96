/* Placement: which executor gets a new sandbox. Pure functions over a view of
 * the fleet that the registry keeps current; nothing here allocates, locks or
 * remembers anything, so every rule is tested on hand-built views.
 *
 * The rules, in order:
 *   1. Filters: the executor is live (heartbeating, reachable), carries every
 *      node_selector label, has the image cached when the image cannot be
 *      built anywhere (see placement_request.image_required), and has the
 *      free vCPUs and memory the sandbox asks for. Free means capacity minus
 *      what the executor reported allocated minus what was placed there since;
 *      for a warm-pool hit, plus the warm VM it takes over (1 vCPU, 512 MB:
 *      executors count pool VMs as allocated).
 *   2. Preference tiers: an executor with a warm VM ready for the sandbox's
 *      (image, profile), then one with the image cached, then any.
 *   3. Within the best non-empty tier, the least loaded executor; among equal
 *      loads, the first at or after `start` in slot order, wrapping around, so
 *      a caller that advances `start` spreads ties.
 * A census says, on failure, which filter excluded how many executors. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What one warm VM holds, as ak-executor's admission credits it. */
#define PLACEMENT_POOL_VM_VCPUS 1
#define PLACEMENT_POOL_VM_MEMORY_MB 512

/* The hot numbers of one executor slot, 16 bytes so a 10,000-executor scan
 * stays in cache. */
struct placement_slot {
        uint64_t free_memory_mb;
        uint32_t free_vcpus;
        uint32_t load_ppm;     /* share of capacity in use, 0..1,000,000 */
};

struct placement_view {
        const struct placement_slot *slots;
        size_t n_slots;           /* slots [0, n_slots) may be in use */
        const uint64_t *present;  /* bit per slot: holds a registered executor */
        const uint64_t *live;     /* bit per slot: present, not lost, reachable */
};

struct placement_request {
        uint32_t vcpus;
        uint64_t memory_mb;
        /* One bitset per node_selector label (executors carrying it); a NULL
         * entry means no executor carries that label. */
        const uint64_t *const *selector;
        size_t n_selector;
        /* Executors with the image cached; NULL when none has it. */
        const uint64_t *image;
        /* true: only executors with the image cached qualify (an image that
         * executors cannot build on their own). */
        bool image_required;
        /* Executors with a warm VM ready for (image, profile); NULL: none. */
        const uint64_t *pool;
        size_t start;             /* where tie-breaking starts (any value) */
};

enum placement_tier {
        PLACEMENT_POOL = 1,       /* warm-pool hit */
        PLACEMENT_IMAGE = 2,      /* image cached */
        PLACEMENT_ANY = 3,
};

struct placement_choice {
        size_t slot;
        enum placement_tier tier;
};

/* Picks an executor. Returns 0 with *ret set, or -ENOSPC when none passes the
 * filters (placement_census says why). */
int placement_choose(const struct placement_view *v, const struct placement_request *req,
                     struct placement_choice *ret);

/* Each present executor counted once, under the first filter it fails, in
 * the order lost, labels, image, vCPUs, memory; `fit` counts those that pass. */
struct placement_census {
        size_t executors, lost, labels, image, vcpus, memory, fit;
};

void placement_census(const struct placement_view *v, const struct placement_request *req,
                      struct placement_census *ret);

/* Writes the RESOURCE_EXHAUSTED message for a failed placement into buf:
 * what was asked (image may be NULL, selector is "k=v,..." or ""), and how
 * many executors each filter excluded. */
void placement_explain(const struct placement_census *c, const struct placement_request *req,
                       const char *image, const char *selector, char *buf, size_t size);
