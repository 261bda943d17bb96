/* Sandbox names: placement and reservations, reconciliation with executors'
 * statuses, routing, listing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/cleanup.h"
#include "services/scheduler/bitset.h"
#include "services/scheduler/pbcopy.h"
#include "services/scheduler/registry_internal.h"

static struct sandbox_entry *entry_get(struct registry *reg, const char *name)
{
        return strmap_get(reg->sandboxes, name, strlen(name));
}

static const char *tenant_or_default(const char *t)
{
        return t && *t ? t : SPEC_DEFAULT_TENANT;
}

const char *entry_tenant(const struct sandbox_entry *s)
{
        const Ak__V1__Sandbox *sb = entry_sandbox(s);
        if (sb && sb->spec && sb->spec->tenant && *sb->spec->tenant)
                return sb->spec->tenant;
        return tenant_or_default(s->tenant);
}

bool registry_scope_has(const struct registry_scope *scope, const char *tenant)
{
        return !scope || scope->admin || strcmp(tenant_or_default(scope->tenant), tenant_or_default(tenant)) == 0;
}

static bool in_scope(const struct sandbox_entry *s, const struct registry_scope *scope)
{
        return registry_scope_has(scope, entry_tenant(s));
}

/* What tenant's sandboxes hold now, placed creates included (orphans hold
 * nothing). */
static void tenant_usage(struct registry *reg, const char *tenant, struct registry_quota *ret)
{
        size_t pos = 0;
        void *v;
        memset(ret, 0, sizeof(*ret));
        while (strmap_next(reg->sandboxes, &pos, NULL, NULL, &v)) {
                const struct sandbox_entry *s = v;
                if (s->orphan || strcmp(entry_tenant(s), tenant) != 0)
                        continue;
                const Ak__V1__Sandbox *sb = entry_sandbox(s);
                ret->sandboxes++;
                ret->vcpus += s->vcpus ? s->vcpus : sb && sb->spec ? sb->spec->vcpus : 0;
                ret->memory_mb += s->memory_mb ? s->memory_mb : sb && sb->spec ? sb->spec->memory_mb : 0;
        }
}

static int quota_check(struct registry *reg, const char *tenant, const struct spec_needs *needs,
                       const struct registry_quota *q, struct ak_error *err)
{
        if (!q || (!q->sandboxes && !q->vcpus && !q->memory_mb))
                return 0;
        struct registry_quota used;
        tenant_usage(reg, tenant, &used);
        if (q->sandboxes && used.sandboxes + 1 > q->sandboxes)
                return ak_error_set(err, -EDQUOT,
                                    "tenant %s: quota sandboxes=%u reached (%u in use): remove one first",
                                    tenant, q->sandboxes, used.sandboxes);
        if (q->vcpus && (uint64_t)used.vcpus + needs->vcpus > q->vcpus)
                return ak_error_set(err, -EDQUOT,
                                    "tenant %s: quota vcpus=%u: %u in use, this sandbox asks %u", tenant,
                                    q->vcpus, used.vcpus, needs->vcpus);
        if (q->memory_mb && used.memory_mb + needs->memory_mb > q->memory_mb)
                return ak_error_set(err, -EDQUOT,
                                    "tenant %s: quota memory-mb=%llu: %llu MB in use, this sandbox asks %llu",
                                    tenant, (unsigned long long)q->memory_mb,
                                    (unsigned long long)used.memory_mb, (unsigned long long)needs->memory_mb);
        return 0;
}

static void entry_link(struct executor *e, struct sandbox_entry *s)
{
        s->owner = e;
        s->prev = NULL;
        s->next = e->sandboxes;
        if (e->sandboxes)
                e->sandboxes->prev = s;
        e->sandboxes = s;
}

static void entry_unlink(struct sandbox_entry *s)
{
        if (s->prev)
                s->prev->next = s->next;
        else
                s->owner->sandboxes = s->next;
        if (s->next)
                s->next->prev = s->prev;
        s->prev = s->next = NULL;
}

static struct sandbox_entry *entry_new(struct registry *reg, const char *name, struct executor *e)
{
        struct sandbox_entry *s = calloc(1, sizeof(*s));
        if (s)
                s->name = strdup(name);
        if (!s || !s->name || strmap_put(reg->sandboxes, name, strlen(name), s) < 0) {
                if (s)
                        free(s->name);
                free(s);
                return NULL;
        }
        entry_link(e, s);
        return s;
}

static void entry_drop_own(struct sandbox_entry *s)
{
        if (s->own)
                protobuf_c_message_free_unpacked(&s->own->base, NULL);
        s->own = NULL;
}

void entry_unreserve(struct registry *reg, struct sandbox_entry *s)
{
        if (!s->reserved)
                return;
        s->reserved = false;
        s->owner->reserved_vcpus -= s->vcpus;
        s->owner->reserved_memory_mb -= s->memory_mb;
        registry_refresh_slot(reg, s->owner);
}

void entry_release_share(struct registry *reg, struct sandbox_entry *s)
{
        struct executor *e = s->owner;
        if (!s->listed || s->orphan || (s->credited_seq && s->credited_seq == e->hb_seq))
                return;
        const Ak__V1__Sandbox *sb = entry_sandbox(s);
        uint32_t v = s->vcpus ? s->vcpus : sb && sb->spec ? sb->spec->vcpus : 0;
        uint64_t m = s->memory_mb ? s->memory_mb : sb && sb->spec ? sb->spec->memory_mb : 0;
        s->credited_seq = e->hb_seq;
        e->released_vcpus += v;
        e->released_memory_mb += m;
        registry_refresh_slot(reg, e);
}

void entry_remove(struct registry *reg, struct sandbox_entry *s)
{
        if (s->orphan)
                reg->n_orphans--;
        entry_unreserve(reg, s);
        entry_unlink(s);
        strmap_del(reg->sandboxes, s->name, strlen(s->name));
        entry_drop_own(s);
        free(s->pull_image);
        free(s->name);
        free(s);
}

/* The name stays, failing fast with what happened, until removed, reused by
 * a create, listed again, or expired by the reaper. */
static void entry_orphan(struct registry *reg, struct sandbox_entry *s, int64_t now_ms)
{
        if (!s->own && s->reported) {
                /* reported points into the status about to be replaced. */
                s->own = (Ak__V1__Sandbox *)pbcopy(&s->reported->base);
        }
        entry_unreserve(reg, s);
        s->orphan = true;
        s->orphaned_ms = now_ms;
        s->listed = s->created = s->restarted = false;
        s->reported = NULL;
        s->claim_id = 0;
        reg->n_orphans++;
}

int registry_reconcile(struct registry *reg, struct executor *e, const Ak__V1__ExecutorStatus *st,
                       bool restarted, int64_t now_ms)
{
        for (struct sandbox_entry *s = e->sandboxes; s; s = s->next)
                s->seen = false;
        int r = 0;
        for (size_t i = 0; i < st->n_sandboxes; i++) {
                const Ak__V1__Sandbox *sb = st->sandboxes[i];
                struct sandbox_entry *s = entry_get(reg, sb->spec->name);
                if (!s) {
                        s = entry_new(reg, sb->spec->name, e);
                        if (!s) {
                                r = -ENOMEM;
                                continue;
                        }
                } else if (s->owner != e) {
                        /* Two executors claim one name (they were used
                         * directly): the first keeps it while it lives. */
                        if (!s->owner->lost && !s->orphan)
                                continue;
                        entry_unreserve(reg, s);
                        entry_unlink(s);
                        entry_link(e, s);
                        s->placing = s->created = false;
                        s->claim_id = 0;
                }
                if (s->orphan) {
                        s->orphan = false;
                        reg->n_orphans--;
                }
                s->seen = true;
                s->listed = true;
                s->created = false;
                s->reported = sb;
                entry_drop_own(s);
                /* The executor's allocation counts it now. */
                entry_unreserve(reg, s);
        }
        struct sandbox_entry *next;
        for (struct sandbox_entry *s = e->sandboxes; s; s = next) {
                next = s->next;
                if (s->seen || s->orphan)
                        continue;
                if (restarted && s->listed && !s->placing && reg->n_orphans < REGISTRY_MAX_ORPHANS) {
                        entry_orphan(reg, s, now_ms);
                        continue;
                }
                s->listed = false;
                s->reported = NULL;
                if (s->placing)
                        continue;
                /* A status sent before our create returned does not list it
                 * yet; the second one after must. (A re-registration may
                 * also be the retry of one that timed out rather than a
                 * restart: what is still missing after the grace was lost.) */
                if (s->created && e->hb_seq - s->confirm_seq < 2) {
                        s->restarted |= restarted;
                        continue;
                }
                if (s->restarted && reg->n_orphans < REGISTRY_MAX_ORPHANS) {
                        entry_orphan(reg, s, now_ms);
                        continue;
                }
                entry_remove(reg, s);
        }
        return r;
}

/* "k=v,k2=v2" into buf. */
static void selector_text(const Ak__V1__SandboxSpec *spec, char *buf, size_t size)
{
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; spec && i < spec->n_node_selector && len < size; i++) {
                int n = snprintf(buf + len, size - len, "%s%s=%s", i ? "," : "",
                                 spec->node_selector[i]->key, spec->node_selector[i]->value);
                if (n < 0)
                        break;
                len += (size_t)n;
        }
}

static int pick_name(struct registry *reg, const Ak__V1__SandboxSpec *spec, const char *tenant, char *name,
                     struct ak_error *err)
{
        if (spec && spec->name && *spec->name) {
                struct sandbox_entry *s = entry_get(reg, spec->name);
                if (s && s->orphan) {
                        /* The name of a sandbox lost with its executor is free again. */
                        entry_remove(reg, s);
                        s = NULL;
                }
                if (s && strcmp(entry_tenant(s), tenant) != 0)
                        return ak_error_set(err, -EEXIST,
                                            "the sandbox name %s is taken (names are unique across the "
                                            "fleet): choose another",
                                            spec->name);
                if (s)
                        return ak_error_set(err, -EEXIST, "sandbox %s already exists (on executor %s)",
                                            spec->name, s->owner->id);
                snprintf(name, SPEC_NAME_MAX + 1, "%s", spec->name);
                return 0;
        }
        for (int tries = 0; tries < 16; tries++) {
                int r = spec_generate_name(name, SPEC_NAME_MAX + 1);
                if (r < 0)
                        return ak_error_errno(err, r, "generate a sandbox name");
                if (!entry_get(reg, name))
                        return 0;
        }
        return ak_error_set(err, -EEXIST, "generate a sandbox name: 16 random names were all taken");
}

int registry_place(struct registry *reg, const Ak__V1__SandboxSpec *spec,
                   const struct spec_needs *needs, const struct registry_quota *quota,
                   struct registry_claim *ret, struct ak_error *err)
{
        const char *tenant = tenant_or_default(spec ? spec->tenant : NULL);
        const uint64_t *selector[SPEC_MAX_SELECTOR];
        size_t n_selector = spec ? spec->n_node_selector : 0;
        char key[2 * SPEC_MAX_LABEL_BYTES + 2];
        if (n_selector > SPEC_MAX_SELECTOR)
                return ak_error_set(err, -EINVAL, "spec.node_selector: more than %d entries",
                                    SPEC_MAX_SELECTOR);

        pthread_mutex_lock(&reg->lock);
        int r = pick_name(reg, spec, tenant, ret->name, err);
        if (r < 0 || (r = quota_check(reg, tenant, needs, quota, err)) < 0)
                goto out;
        for (size_t i = 0; i < n_selector; i++) {
                const Ak__V1__SandboxSpec__NodeSelectorEntry *kv = spec->node_selector[i];
                size_t la = strlen(kv->key), lb = strlen(kv->value);
                memcpy(key, kv->key, la);
                key[la] = '\0';
                memcpy(key + la + 1, kv->value, lb);
                selector[i] = keyset_bits(reg->labels, key, la + 1 + lb);
        }
        size_t li = strlen(needs->image), lp = strlen(needs->profile);
        memcpy(key, needs->image, li);
        key[li] = '\0';
        memcpy(key + li + 1, needs->profile, lp);
        struct placement_request req = {
                .vcpus = needs->vcpus,
                .memory_mb = needs->memory_mb,
                .selector = selector,
                .n_selector = n_selector,
                .image = keyset_bits(reg->images, needs->image, li),
                /* base is built on first use anywhere, a reference pulled on
                 * a miss; a local name is only where it was built. */
                .image_required = spec_image_is_local(needs->image) && strcmp(needs->image, SPEC_DEFAULT_IMAGE) != 0,
                .pool = keyset_bits(reg->pools, key, li + 1 + lp),
                .start = (size_t)reg->placements++,
        };
        struct placement_view view = {
                .slots = reg->hot, .n_slots = reg->n_slots, .present = reg->present, .live = reg->live,
        };
        struct placement_choice choice;
        if (req.image_required && !req.image) {
                r = ak_error_set(err, -ENOENT,
                                 "no executor has image \"%s\": build it on an executor's node with `ak image build "
                                 "%s` (`ak image list` there shows its images, `ak status` what each executor reports)",
                                 needs->image, needs->image);
                goto out;
        }
        if (placement_choose(&view, &req, &choice) < 0) {
                struct placement_census census;
                char sel[512];
                placement_census(&view, &req, &census);
                selector_text(spec, sel, sizeof(sel));
                placement_explain(&census, &req, needs->image, sel, err ? err->msg : sel,
                                  err ? sizeof(err->msg) : sizeof(sel));
                if (err)
                        err->code = -ENOSPC;
                r = -ENOSPC;
                goto out;
        }
        struct executor *e = reg->by_slot[choice.slot];
        struct sandbox_entry *s = entry_new(reg, ret->name, e);
        if (!s) {
                r = ak_error_errno(err, -ENOMEM, "place sandbox %s", ret->name);
                goto out;
        }
        snprintf(s->tenant, sizeof(s->tenant), "%s", tenant);
        /* Best effort: only ListSandboxes' view of a waiting create needs it. */
        if (!spec_image_is_local(needs->image))
                s->pull_image = strdup(needs->image);
        s->claim_id = reg->next_claim++;
        s->placing = true;
        s->reserved = true;
        s->vcpus = needs->vcpus;
        s->memory_mb = needs->memory_mb;
        e->reserved_vcpus += needs->vcpus;
        e->reserved_memory_mb += needs->memory_mb;
        if (choice.tier == PLACEMENT_POOL) {
                for (size_t i = 0; i < e->n_pools; i++) {
                        struct pool_ref *p = &e->pools[i];
                        if (p->key->bits != req.pool || p->taken >= p->ready)
                                continue;
                        if (++p->taken >= p->ready)
                                bitset_clear(p->key->bits, e->slot);
                        break;
                }
        }
        registry_refresh_slot(reg, e);
        ret->id = s->claim_id;
        ret->tier = choice.tier;
        snprintf(ret->executor_id, sizeof(ret->executor_id), "%s", e->id);
        snprintf(ret->address, sizeof(ret->address), "%s", e->status->address);
out:
        pthread_mutex_unlock(&reg->lock);
        return r;
}

static struct sandbox_entry *claimed(struct registry *reg, const struct registry_claim *claim)
{
        struct sandbox_entry *s = entry_get(reg, claim->name);
        return s && s->claim_id == claim->id ? s : NULL;
}

void registry_confirm(struct registry *reg, const struct registry_claim *claim,
                      const Ak__V1__Sandbox *sb)
{
        pthread_mutex_lock(&reg->lock);
        struct sandbox_entry *s = claimed(reg, claim);
        if (s) {
                s->placing = false;
                s->created = !s->listed;
                s->confirm_seq = s->owner->hb_seq;
                if (sb) {
                        Ak__V1__Sandbox *copy = (Ak__V1__Sandbox *)pbcopy(&sb->base);
                        if (copy) {
                                entry_drop_own(s);
                                s->own = copy;
                        }
                }
        }
        pthread_mutex_unlock(&reg->lock);
}

void registry_release(struct registry *reg, const struct registry_claim *claim)
{
        pthread_mutex_lock(&reg->lock);
        struct sandbox_entry *s = claimed(reg, claim);
        if (s) {
                s->placing = false;
                entry_unreserve(reg, s);
                if (!s->listed)
                        entry_remove(reg, s);
                else
                        entry_release_share(reg, s);
        }
        pthread_mutex_unlock(&reg->lock);
}

int registry_route(struct registry *reg, const char *name, const struct registry_scope *scope,
                   int64_t now_ms, struct registry_route *ret, struct ak_error *err)
{
        int r = 0;
        pthread_mutex_lock(&reg->lock);
        struct sandbox_entry *s = entry_get(reg, name);
        char why[AK_ERROR_MAX / 2];
        if (!s || !in_scope(s, scope)) {
                r = ak_error_set(err, -ENOENT, "no sandbox named %s in the fleet", name);
        } else if (s->orphan) {
                registry_describe_orphan(s, now_ms, why, sizeof(why));
                r = ak_error_set(err, -EHOSTDOWN, "%s", why);
        } else if (s->owner->lost) {
                registry_describe_lost(s->owner, now_ms, why, sizeof(why));
                r = ak_error_set(err, -EHOSTDOWN,
                                 "sandbox %s: %s; its sandboxes' calls fail until it heartbeats again: "
                                 "check that ak-executor %s runs and reaches this scheduler (a restarted "
                                 "executor does not keep its sandboxes)",
                                 name, why, s->owner->id);
        } else if (s->owner->unreachable) {
                r = ak_error_set(err, -EHOSTDOWN,
                                 "sandbox %s: executor %s (%s) is unreachable: a call to it failed and it "
                                 "did not answer a health check; its sandboxes' calls fail until it "
                                 "heartbeats again: check that ak-executor %s runs",
                                 name, s->owner->id, s->owner->status->address, s->owner->id);
        } else {
                snprintf(ret->executor_id, sizeof(ret->executor_id), "%s", s->owner->id);
                snprintf(ret->address, sizeof(ret->address), "%s", s->owner->status->address);
        }
        pthread_mutex_unlock(&reg->lock);
        return r;
}

int registry_forget_orphan(struct registry *reg, const char *name, const struct registry_scope *scope)
{
        pthread_mutex_lock(&reg->lock);
        struct sandbox_entry *s = entry_get(reg, name);
        bool orphan = s && s->orphan && in_scope(s, scope);
        if (orphan)
                entry_remove(reg, s);
        pthread_mutex_unlock(&reg->lock);
        return orphan ? 0 : -ENOENT;
}

void registry_expire_orphans(struct registry *reg, int64_t now_ms, int64_t max_age_ms)
{
        for (size_t i = 0; i < reg->n_slots && reg->n_orphans; i++) {
                struct executor *e = reg->by_slot[i];
                struct sandbox_entry *next;
                for (struct sandbox_entry *s = e ? e->sandboxes : NULL; s; s = next) {
                        next = s->next;
                        if (s->orphan && now_ms - s->orphaned_ms > max_age_ms)
                                entry_remove(reg, s);
                }
        }
}

void registry_describe_orphan(const struct sandbox_entry *s, int64_t now_ms, char *buf, size_t size)
{
        snprintf(buf, size,
                 "sandbox %s was lost with executor %s: the executor restarted %lld ms ago and no longer "
                 "has it (a sandbox's VM does not survive its executor); `ak sandbox remove %s` forgets "
                 "the name, or create it again",
                 s->name, s->owner->id, (long long)(now_ms - s->orphaned_ms), s->name);
}

void registry_sandbox_seen(struct registry *reg, const char *executor_id, const Ak__V1__Sandbox *sb)
{
        if (!sb->spec || !sb->spec->name)
                return;
        Ak__V1__Sandbox *copy = (Ak__V1__Sandbox *)pbcopy(&sb->base);
        if (!copy)
                return;
        pthread_mutex_lock(&reg->lock);
        struct sandbox_entry *s = entry_get(reg, sb->spec->name);
        if (s && strcmp(s->owner->id, executor_id) == 0) {
                entry_drop_own(s);
                s->own = TAKE_PTR(copy);
        }
        pthread_mutex_unlock(&reg->lock);
        if (copy)
                protobuf_c_message_free_unpacked(&copy->base, NULL);
}

void registry_sandbox_gone(struct registry *reg, const char *executor_id, const char *name)
{
        pthread_mutex_lock(&reg->lock);
        struct sandbox_entry *s = entry_get(reg, name);
        if (s && !s->placing && strcmp(s->owner->id, executor_id) == 0) {
                entry_release_share(reg, s);
                entry_remove(reg, s);
        }
        pthread_mutex_unlock(&reg->lock);
}

static bool labels_match(const Ak__V1__Sandbox *sb, const Ak__V1__ListSandboxesRequest *req)
{
        for (size_t i = 0; req && i < req->n_label_selector; i++) {
                const char *k = req->label_selector[i]->key, *v = req->label_selector[i]->value;
                bool found = false;
                for (size_t j = 0; sb->spec && j < sb->spec->n_labels && !found; j++)
                        found = strcmp(sb->spec->labels[j]->key, k) == 0 &&
                                strcmp(sb->spec->labels[j]->value, v) == 0;
                if (!found)
                        return false;
        }
        return true;
}

struct listed {
        const char *name;
        Ak__V1__Sandbox sb;      /* a shallow copy, adjusted */
        char *error;
        Ak__V1__SandboxSpec spec; /* a create waiting on a pull: its spec */
};

/* The pull that a create still in flight waits on, as its executor's
 * latest status reports it; NULL when none. REQUIRES reg->lock. */
static Ak__V1__ImagePull *waiting_pull(const struct sandbox_entry *s)
{
        const Ak__V1__ExecutorStatus *st = s->owner->status;
        if (!s->placing || !s->pull_image || !st)
                return NULL;
        for (size_t i = 0; i < st->n_pulls; i++)
                if (strcmp(st->pulls[i]->image, s->pull_image) == 0 && strcmp(st->pulls[i]->state, "failed") != 0)
                        return st->pulls[i];
        return NULL;
}

/* A create waiting on its image pull, listed as CREATING with the pull (it
 * has no Sandbox of its own yet; sb.spec is set once the items are sorted).
 * REQUIRES reg->lock. */
static void list_waiting(const struct sandbox_entry *s, Ak__V1__ImagePull *pull, struct listed *it)
{
        it->spec = (Ak__V1__SandboxSpec)AK__V1__SANDBOX_SPEC__INIT;
        it->spec.name = s->name;
        it->spec.image = s->pull_image;
        it->spec.tenant = (char *)entry_tenant(s);
        it->sb = (Ak__V1__Sandbox)AK__V1__SANDBOX__INIT;
        it->sb.state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_CREATING;
        it->sb.executor_id = s->owner->id;
        it->sb.image_pull = pull;
        it->name = s->name;
}

static int cmp_listed(const void *a, const void *b)
{
        return strcmp(((const struct listed *)a)->name, ((const struct listed *)b)->name);
}

int registry_list_sandboxes(struct registry *reg, const Ak__V1__ListSandboxesRequest *req,
                            const struct registry_scope *scope, int64_t now_ms, size_t max_bytes, Ak__V1__ListSandboxesResponse **ret)
{
        pthread_mutex_lock(&reg->lock);
        size_t n = 0, cap = strmap_count(reg->sandboxes);
        struct listed *items = calloc(cap ? cap : 1, sizeof(*items));
        Ak__V1__Sandbox **ptrs = calloc(cap ? cap : 1, sizeof(*ptrs));
        uint8_t *buf = NULL;
        size_t len = 0;
        int r = 0;
        if (!items || !ptrs) {
                r = -ENOMEM;
                goto out;
        }
        size_t pos = 0;
        void *v;
        while (strmap_next(reg->sandboxes, &pos, NULL, NULL, &v)) {
                const struct sandbox_entry *s = v;
                const Ak__V1__Sandbox *sb = entry_sandbox(s);
                Ak__V1__ImagePull *pull = sb ? NULL : waiting_pull(s);
                if (pull && in_scope(s, scope) && (!req || req->n_label_selector == 0)) {
                        list_waiting(s, pull, &items[n++]);
                        continue;
                }
                if (!sb || !in_scope(s, scope) || !labels_match(sb, req))
                        continue;
                struct listed *it = &items[n++];
                it->name = s->name;
                it->sb = *sb;
                if (!*it->sb.executor_id)
                        it->sb.executor_id = s->owner->id;
                if (s->orphan || s->owner->lost) {
                        char why[512];
                        if (s->orphan)
                                registry_describe_orphan(s, now_ms, why, sizeof(why));
                        else
                                registry_describe_lost(s->owner, now_ms, why, sizeof(why));
                        it->error = strdup(why);
                        if (!it->error) {
                                r = -ENOMEM;
                                goto out;
                        }
                        it->sb.state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR;
                        it->sb.error = it->error;
                }
        }
        qsort(items, n, sizeof(*items), cmp_listed);
        for (size_t i = 0; i < n; i++) {
                if (items[i].spec.name) /* a waiting create's, moved by the sort */
                        items[i].sb.spec = &items[i].spec;
                ptrs[i] = &items[i].sb;
        }
        Ak__V1__ListSandboxesResponse resp = AK__V1__LIST_SANDBOXES_RESPONSE__INIT;
        resp.n_sandboxes = n;
        resp.sandboxes = ptrs;
        r = pbcopy_pack(&resp.base, max_bytes, &buf, &len);
out:
        pthread_mutex_unlock(&reg->lock);
        for (size_t i = 0; items && i < n; i++)
                free(items[i].error);
        free(items);
        free(ptrs);
        if (r == 0)
                r = pbcopy_unpack(&ak__v1__list_sandboxes_response__descriptor, buf, len, (ProtobufCMessage **)ret);
        return r;
}
