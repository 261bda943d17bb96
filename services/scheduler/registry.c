/* Executors: registration, heartbeats, lost and forgotten, and the placement
 * index (slots, bitsets, interned keys) their statuses feed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/base/time.h"
#include "services/scheduler/bitset.h"
#include "services/scheduler/pbcopy.h"
#include "services/scheduler/registry_internal.h"

int registry_new(const struct registry_config *cfg, int64_t now_ms, struct registry **ret)
{
        struct registry *reg = calloc(1, sizeof(*reg));
        if (!reg)
                return -ENOMEM;
        if (cfg)
                reg->cfg = *cfg;
        if (!reg->cfg.heartbeat_interval_ms)
                reg->cfg.heartbeat_interval_ms = 2000;
        if (!reg->cfg.lost_after_ms)
                reg->cfg.lost_after_ms = 3 * reg->cfg.heartbeat_interval_ms;
        if (!reg->cfg.max_executors)
                reg->cfg.max_executors = 65536;
        reg->started_ms = now_ms;
        reg->next_claim = 1;
        pthread_mutex_init(&reg->lock, NULL);
        reg->executors = strmap_new();
        reg->sandboxes = strmap_new();
        reg->labels = keyset_new(0);
        reg->images = keyset_new(0);
        reg->pools = keyset_new(0);
        if (!reg->executors || !reg->sandboxes || !reg->labels || !reg->images || !reg->pools) {
                registry_free(reg);
                return -ENOMEM;
        }
        *ret = reg;
        return 0;
}

const struct registry_config *registry_config(const struct registry *reg)
{
        return &reg->cfg;
}

static void drop_keys(struct registry *reg, struct executor *e)
{
        for (size_t i = 0; i < e->n_labels; i++) {
                bitset_clear(e->labels[i]->bits, e->slot);
                keyset_unref(reg->labels, e->labels[i]);
        }
        for (size_t i = 0; i < e->n_images; i++) {
                bitset_clear(e->images[i]->bits, e->slot);
                keyset_unref(reg->images, e->images[i]);
        }
        for (size_t i = 0; i < e->n_pools; i++) {
                bitset_clear(e->pools[i].key->bits, e->slot);
                keyset_unref(reg->pools, e->pools[i].key);
        }
        e->n_labels = e->n_images = e->n_pools = 0;
}

/* "a" + "\0" + "b" into buf (which holds 2 * SPEC_MAX_LABEL_BYTES + 2). */
static size_t pair_key(char *buf, const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        memcpy(buf, a, la);
        buf[la] = '\0';
        memcpy(buf + la + 1, b, lb);
        return la + 1 + lb;
}

/* Interns the status's labels, images and pools and sets e's bits. */
static int take_keys(struct registry *reg, struct executor *e, const Ak__V1__ExecutorStatus *st)
{
        char key[2 * SPEC_MAX_LABEL_BYTES + 2];
        struct keyset_key **labels = realloc(e->labels, (st->n_labels + 1) * sizeof(*labels));
        if (labels)
                e->labels = labels;
        struct keyset_key **images = realloc(e->images, (st->n_images + 1) * sizeof(*images));
        if (images)
                e->images = images;
        struct pool_ref *pools = realloc(e->pools, (st->n_pools + 1) * sizeof(*pools));
        if (pools)
                e->pools = pools;
        if (!labels || !images || !pools)
                return -ENOMEM;
        for (size_t i = 0; i < st->n_labels; i++) {
                size_t n = pair_key(key, st->labels[i]->key, st->labels[i]->value);
                if (keyset_ref(reg->labels, key, n, &e->labels[e->n_labels]) < 0)
                        return -ENOMEM;
                bitset_set(e->labels[e->n_labels++]->bits, e->slot);
        }
        for (size_t i = 0; i < st->n_images; i++) {
                if (keyset_ref(reg->images, st->images[i], strlen(st->images[i]),
                               &e->images[e->n_images]) < 0)
                        return -ENOMEM;
                bitset_set(e->images[e->n_images++]->bits, e->slot);
        }
        for (size_t i = 0; i < st->n_pools; i++) {
                const Ak__V1__PoolStatus *p = st->pools[i];
                size_t n = pair_key(key, p->image, p->profile);
                struct pool_ref *ref = &e->pools[e->n_pools];
                if (keyset_ref(reg->pools, key, n, &ref->key) < 0)
                        return -ENOMEM;
                ref->ready = p->ready;
                ref->taken = 0;
                e->n_pools++;
                if (p->ready > 0)
                        bitset_set(ref->key->bits, e->slot);
        }
        return 0;
}

void registry_refresh_slot(struct registry *reg, struct executor *e)
{
        const Ak__V1__ExecutorStatus *st = e->status;
        uint64_t cap_v = st && st->capacity ? st->capacity->vcpus : 0;
        uint64_t cap_m = st && st->capacity ? st->capacity->memory_mb : 0;
        uint64_t alloc_v = st && st->allocated ? st->allocated->vcpus : 0;
        uint64_t alloc_m = st && st->allocated ? st->allocated->memory_mb : 0;
        alloc_v = alloc_v > e->released_vcpus ? alloc_v - e->released_vcpus : 0;
        alloc_m = alloc_m > e->released_memory_mb ? alloc_m - e->released_memory_mb : 0;
        uint64_t used_v = alloc_v + e->reserved_vcpus;
        uint64_t used_m = alloc_m + e->reserved_memory_mb;
        struct placement_slot *p = &reg->hot[e->slot];
        p->free_vcpus = cap_v > used_v ? (uint32_t)(cap_v - used_v) : 0;
        p->free_memory_mb = cap_m > used_m ? cap_m - used_m : 0;
        uint64_t share_v = cap_v ? (used_v >= cap_v ? 1000000 : used_v * 1000000 / cap_v) : 1000000;
        uint64_t share_m = cap_m ? (used_m >= cap_m ? 1000000 : used_m * 1000000 / cap_m) : 1000000;
        p->load_ppm = (uint32_t)((share_v + share_m) / 2);
        /* A draining executor (Drain) takes nothing new. */
        if (e->lost || e->unreachable || (st && st->draining))
                bitset_clear(reg->live, e->slot);
        else
                bitset_set(reg->live, e->slot);
}

static int grow_slots(struct registry *reg)
{
        size_t cap = reg->cap_slots ? reg->cap_slots * 2 : 64;
        size_t old_words = BITSET_WORDS(reg->cap_slots), words = BITSET_WORDS(cap);
        struct executor **by_slot = realloc(reg->by_slot, cap * sizeof(*by_slot));
        if (by_slot)
                reg->by_slot = by_slot;
        struct placement_slot *hot = realloc(reg->hot, cap * sizeof(*hot));
        if (hot)
                reg->hot = hot;
        uint64_t *present = realloc(reg->present, words * sizeof(uint64_t));
        if (present)
                reg->present = present;
        uint64_t *live = realloc(reg->live, words * sizeof(uint64_t));
        if (live)
                reg->live = live;
        size_t *free_slots = realloc(reg->free_slots, cap * sizeof(*free_slots));
        if (free_slots)
                reg->free_slots = free_slots;
        if (!by_slot || !hot || !present || !live || !free_slots)
                return -ENOMEM;
        memset(reg->present + old_words, 0, (words - old_words) * sizeof(uint64_t));
        memset(reg->live + old_words, 0, (words - old_words) * sizeof(uint64_t));
        if (keyset_resize(reg->labels, words) < 0 || keyset_resize(reg->images, words) < 0 ||
            keyset_resize(reg->pools, words) < 0)
                return -ENOMEM;
        reg->cap_slots = cap;
        return 0;
}

static void executor_free(struct registry *reg, struct executor *e)
{
        if (!e)
                return;
        drop_keys(reg, e);
        free(e->labels);
        free(e->images);
        free(e->pools);
        if (e->status)
                protobuf_c_message_free_unpacked(&e->status->base, NULL);
        free(e->id);
        free(e->owner);
        free(e);
}

static int executor_add(struct registry *reg, const char *id, struct executor **ret,
                        struct ak_error *err)
{
        if (strmap_count(reg->executors) >= reg->cfg.max_executors)
                return ak_error_set(err, -EUSERS,
                                    "executor %s: the scheduler already has %zu executors, its limit",
                                    id, reg->cfg.max_executors);
        if (reg->n_free == 0 && reg->n_slots == reg->cap_slots && grow_slots(reg) < 0)
                return ak_error_errno(err, -ENOMEM, "executor %s", id);
        struct executor *e = calloc(1, sizeof(*e));
        if (e)
                e->id = strdup(id);
        if (!e || !e->id || strmap_put(reg->executors, id, strlen(id), e) < 0) {
                if (e)
                        free(e->id);
                free(e);
                return ak_error_errno(err, -ENOMEM, "executor %s", id);
        }
        e->slot = reg->n_free ? reg->free_slots[--reg->n_free] : reg->n_slots++;
        reg->by_slot[e->slot] = e;
        bitset_set(reg->present, e->slot);
        *ret = e;
        return 0;
}

static void executor_forget(struct registry *reg, struct executor *e)
{
        while (e->sandboxes)
                entry_remove(reg, e->sandboxes);
        strmap_del(reg->executors, e->id, strlen(e->id));
        bitset_clear(reg->present, e->slot);
        bitset_clear(reg->live, e->slot);
        reg->by_slot[e->slot] = NULL;
        reg->free_slots[reg->n_free++] = e->slot;
        executor_free(reg, e);
}

void registry_free(struct registry *reg)
{
        if (!reg)
                return;
        if (reg->executors) {
                size_t pos = 0;
                void *v;
                while (strmap_next(reg->executors, &pos, NULL, NULL, &v)) {
                        struct executor *e = v;
                        while (e->sandboxes)
                                entry_remove(reg, e->sandboxes);
                        executor_free(reg, e);
                }
        }
        strmap_free(reg->executors);
        strmap_free(reg->sandboxes);
        keyset_free(reg->labels);
        keyset_free(reg->images);
        keyset_free(reg->pools);
        free(reg->by_slot);
        free(reg->hot);
        free(reg->present);
        free(reg->live);
        free(reg->free_slots);
        pthread_mutex_destroy(&reg->lock);
        free(reg);
}

/* Applies a status (owned) to e: keys, sandboxes, numbers. */
static int apply_status(struct registry *reg, struct executor *e, Ak__V1__ExecutorStatus *st,
                        bool restarted, int64_t now_ms, struct ak_error *err)
{
        drop_keys(reg, e);
        int r = take_keys(reg, e, st);
        e->hb_seq++;
        e->released_vcpus = 0;
        e->released_memory_mb = 0;
        if (r == 0)
                r = registry_reconcile(reg, e, st, restarted, now_ms);
        if (e->status)
                protobuf_c_message_free_unpacked(&e->status->base, NULL);
        e->status = st;
        e->last_heartbeat_ms = now_ms;
        e->last_heartbeat_wall_ms = ak_real_ms();
        e->lost = false;
        e->unreachable = false;
        registry_refresh_slot(reg, e);
        if (r < 0)
                return ak_error_errno(err, r, "executor %s: status", e->id);
        return 0;
}

static int owner_check(const struct executor *e, const char *owner, struct ak_error *err)
{
        if (strcmp(e->owner, owner) == 0)
                return 0;
        return ak_error_set(err, -EPERM,
                            "executor %s is bound to another identity (the one that registered it first); "
                            "this credential (%s) may not register or heartbeat as it: give each executor "
                            "its own --executor-id",
                            e->id, owner);
}

int registry_register(struct registry *reg, Ak__V1__ExecutorStatus *status, const char *owner,
                      int64_t now_ms, struct ak_error *err)
{
        pthread_mutex_lock(&reg->lock);
        struct executor *e = strmap_get(reg->executors, status->executor_id, strlen(status->executor_id));
        /* A known executor registers again only as a new process (heartbeats
         * keep an old one known): what its predecessor ran is gone. */
        bool restarted = e != NULL;
        int r = 0;
        if (e)
                r = owner_check(e, owner, err);
        else if ((r = executor_add(reg, status->executor_id, &e, err)) == 0 && !(e->owner = strdup(owner))) {
                executor_forget(reg, e);
                r = ak_error_errno(err, -ENOMEM, "executor %s", status->executor_id);
        }
        if (r == 0)
                r = apply_status(reg, e, status, restarted, now_ms, err);
        else
                protobuf_c_message_free_unpacked(&status->base, NULL);
        pthread_mutex_unlock(&reg->lock);
        return r;
}

int registry_heartbeat(struct registry *reg, Ak__V1__ExecutorStatus *status, const char *owner,
                       int64_t now_ms, struct ak_error *err)
{
        pthread_mutex_lock(&reg->lock);
        struct executor *e = strmap_get(reg->executors, status->executor_id, strlen(status->executor_id));
        int r;
        if (e && (r = owner_check(e, owner, err)) < 0) {
                protobuf_c_message_free_unpacked(&status->base, NULL);
        } else if (e) {
                r = apply_status(reg, e, status, false, now_ms, err);
        } else {
                r = ak_error_set(err, -ENOENT, "executor %s is not registered here (this scheduler "
                                               "restarted or forgot it): register again",
                                 status->executor_id);
                protobuf_c_message_free_unpacked(&status->base, NULL);
        }
        pthread_mutex_unlock(&reg->lock);
        return r;
}

int registry_reap(struct registry *reg, int64_t now_ms, registry_event_fn note, void *data)
{
        int changed = 0;
        pthread_mutex_lock(&reg->lock);
        for (size_t s = 0; s < reg->n_slots; s++) {
                struct executor *e = reg->by_slot[s];
                if (!e)
                        continue;
                int64_t silent = now_ms - e->last_heartbeat_ms;
                if (!e->lost && silent > (int64_t)reg->cfg.lost_after_ms) {
                        e->lost = true;
                        registry_refresh_slot(reg, e);
                        changed++;
                        if (note)
                                note(data, REGISTRY_LOST, e->id, silent);
                } else if (e->lost && reg->cfg.forget_after_ms &&
                           silent > (int64_t)reg->cfg.lost_after_ms + reg->cfg.forget_after_ms) {
                        changed++;
                        if (note)
                                note(data, REGISTRY_FORGOTTEN, e->id, silent);
                        executor_forget(reg, e);
                }
        }
        if (reg->n_orphans && reg->cfg.forget_after_ms)
                registry_expire_orphans(reg, now_ms, reg->cfg.forget_after_ms);
        pthread_mutex_unlock(&reg->lock);
        return changed;
}

int registry_image_added(struct registry *reg, const char *executor_id, const char *image)
{
        size_t len = strlen(image);
        int r = -ENOENT;
        pthread_mutex_lock(&reg->lock);
        struct executor *e = strmap_get(reg->executors, executor_id, strlen(executor_id));
        if (e) {
                r = 0;
                for (size_t i = 0; i < e->n_images; i++)
                        if (e->images[i]->len == len && memcmp(e->images[i]->name, image, len) == 0)
                                goto out; /* known already */
                struct keyset_key **images = realloc(e->images, (e->n_images + 1) * sizeof(*images));
                if (!images) {
                        r = -ENOMEM;
                        goto out;
                }
                e->images = images;
                if ((r = keyset_ref(reg->images, image, len, &e->images[e->n_images])) == 0)
                        bitset_set(e->images[e->n_images++]->bits, e->slot);
        }
out:
        pthread_mutex_unlock(&reg->lock);
        return r;
}

void registry_mark_unreachable(struct registry *reg, const char *executor_id)
{
        pthread_mutex_lock(&reg->lock);
        struct executor *e = strmap_get(reg->executors, executor_id, strlen(executor_id));
        if (e) {
                e->unreachable = true;
                registry_refresh_slot(reg, e);
        }
        pthread_mutex_unlock(&reg->lock);
}

enum registry_liveness registry_liveness(struct registry *reg, const char *executor_id,
                                         int64_t now_ms, char *why, size_t why_size)
{
        pthread_mutex_lock(&reg->lock);
        struct executor *e = strmap_get(reg->executors, executor_id, strlen(executor_id));
        enum registry_liveness l = !e ? REGISTRY_GONE : e->lost ? REGISTRY_IS_LOST : REGISTRY_LIVE;
        if (l == REGISTRY_IS_LOST && why)
                registry_describe_lost(e, now_ms, why, why_size);
        pthread_mutex_unlock(&reg->lock);
        return l;
}

bool registry_rebuilding(struct registry *reg, int64_t now_ms)
{
        return now_ms - reg->started_ms < (int64_t)reg->cfg.lost_after_ms;
}

void registry_describe_lost(const struct executor *e, int64_t now_ms, char *buf, size_t size)
{
        snprintf(buf, size, "executor %s (%s) is lost: no heartbeat for %lld ms", e->id,
                 e->status ? e->status->address : "?", (long long)(now_ms - e->last_heartbeat_ms));
}

static int cmp_record(const void *a, const void *b)
{
        const Ak__V1__ExecutorRecord *x = *(Ak__V1__ExecutorRecord *const *)a;
        const Ak__V1__ExecutorRecord *y = *(Ak__V1__ExecutorRecord *const *)b;
        return strcmp(x->status->executor_id, y->status->executor_id);
}

int registry_list_executors(struct registry *reg, size_t max_bytes,
                            Ak__V1__ListExecutorsResponse **ret)
{
        pthread_mutex_lock(&reg->lock);
        size_t n = strmap_count(reg->executors);
        Ak__V1__ExecutorRecord *recs = calloc(n ? n : 1, sizeof(*recs));
        Ak__V1__ExecutorRecord **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
        uint8_t *buf = NULL;
        size_t len = 0;
        int r = 0;
        if (!recs || !ptrs) {
                r = -ENOMEM;
                goto out;
        }
        size_t i = 0, pos = 0;
        void *v;
        while (strmap_next(reg->executors, &pos, NULL, NULL, &v)) {
                struct executor *e = v;
                ak__v1__executor_record__init(&recs[i]);
                recs[i].status = e->status;
                recs[i].last_heartbeat_ms = e->last_heartbeat_wall_ms;
                recs[i].lost = e->lost;
                ptrs[i] = &recs[i];
                i++;
        }
        qsort(ptrs, n, sizeof(*ptrs), cmp_record);
        Ak__V1__ListExecutorsResponse resp = AK__V1__LIST_EXECUTORS_RESPONSE__INIT;
        resp.n_executors = n;
        resp.executors = ptrs;
        r = pbcopy_pack(&resp.base, max_bytes, &buf, &len);
out:
        pthread_mutex_unlock(&reg->lock);
        free(recs);
        free(ptrs);
        if (r == 0)
                r = pbcopy_unpack(&ak__v1__list_executors_response__descriptor, buf, len, (ProtobufCMessage **)ret);
        return r;
}

void registry_stats(struct registry *reg, struct registry_stats *ret)
{
        pthread_mutex_lock(&reg->lock);
        struct registry_stats s = { .executors = strmap_count(reg->executors),
                                    .sandboxes = strmap_count(reg->sandboxes) };
        for (size_t i = 0; i < reg->n_slots; i++)
                if (reg->by_slot[i] && bitset_test(reg->live, i))
                        s.live++;
        size_t pos = 0;
        void *v;
        while (strmap_next(reg->sandboxes, &pos, NULL, NULL, &v))
                s.reserved_entries += ((struct sandbox_entry *)v)->reserved;
        s.keys = keyset_count(reg->labels) + keyset_count(reg->images) + keyset_count(reg->pools);
        pthread_mutex_unlock(&reg->lock);
        *ret = s;
}

bool registry_slot_of(struct registry *reg, const char *executor_id, struct placement_slot *ret)
{
        pthread_mutex_lock(&reg->lock);
        struct executor *e = strmap_get(reg->executors, executor_id, strlen(executor_id));
        if (e)
                *ret = reg->hot[e->slot];
        pthread_mutex_unlock(&reg->lock);
        return e != NULL;
}

static bool has_labels(const Ak__V1__ExecutorStatus *st, const Ak__V1__SandboxSpec *spec)
{
        for (size_t i = 0; i < spec->n_node_selector; i++) {
                const Ak__V1__SandboxSpec__NodeSelectorEntry *kv = spec->node_selector[i];
                bool found = false;
                for (size_t k = 0; !found && k < st->n_labels; k++)
                        found = strcmp(st->labels[k]->key, kv->key) == 0 && strcmp(st->labels[k]->value, kv->value) == 0;
                if (!found)
                        return false;
        }
        return true;
}

bool registry_could_fit(struct registry *reg, const Ak__V1__SandboxSpec *spec, uint32_t vcpus, uint64_t memory_mb)
{
        bool fits = false;
        size_t pos = 0;
        void *v;
        pthread_mutex_lock(&reg->lock);
        while (!fits && strmap_next(reg->executors, &pos, NULL, NULL, &v)) {
                const struct executor *e = v;
                const Ak__V1__ExecutorStatus *st = e->status;
                fits = !e->lost && st && !st->draining && st->capacity && st->capacity->vcpus >= vcpus &&
                       st->capacity->memory_mb >= memory_mb && has_labels(st, spec);
        }
        pthread_mutex_unlock(&reg->lock);
        return fits;
}
