#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "services/scheduler/bitset.h"
#include "services/scheduler/placement.h"

/* The executors of word w that pass the bitset filters (not capacity). */
static uint64_t candidates(const struct placement_view *v, const struct placement_request *req,
                           const uint64_t *tier, size_t w)
{
        uint64_t m = v->live[w];
        if (tier)
                m &= tier[w];
        if (req->image_required)
                m &= req->image[w];
        for (size_t i = 0; i < req->n_selector && m; i++)
                m &= req->selector[i][w];
        return m;
}

/* The least loaded executor of `tier` (NULL: all) that fits, scanning slots
 * from req->start round to just before it so the first of equals wins. */
static bool scan(const struct placement_view *v, const struct placement_request *req,
                 const uint64_t *tier, size_t *ret_slot)
{
        size_t n_words = BITSET_WORDS(v->n_slots);
        size_t start = req->start % v->n_slots;
        size_t w0 = start / 64;
        unsigned b0 = start % 64;
        uint32_t best = UINT32_MAX;
        bool found = false;
        /* A pool hit takes over a warm VM its executor already counts as
         * allocated: credit one (ak-executor admits creates with the same). */
        bool pool = tier && tier == req->pool;
        uint64_t slack_vcpus = pool ? PLACEMENT_POOL_VM_VCPUS : 0;
        uint64_t slack_memory_mb = pool ? PLACEMENT_POOL_VM_MEMORY_MB : 0;

        /* k == n_words comes back to the first word for its bits below b0. */
        for (size_t k = 0; k <= n_words; k++) {
                size_t w = (w0 + k) % n_words;
                uint64_t m = candidates(v, req, tier, w);
                if (k == 0)
                        m &= ~(uint64_t)0 << b0;
                else if (k == n_words)
                        m &= b0 ? ~(uint64_t)0 >> (64 - b0) : 0;
                while (m) {
                        size_t s = w * 64 + (size_t)__builtin_ctzll(m);
                        m &= m - 1;
                        const struct placement_slot *p = &v->slots[s];
                        if ((uint64_t)p->free_vcpus + slack_vcpus < req->vcpus ||
                            p->free_memory_mb + slack_memory_mb < req->memory_mb)
                                continue;
                        if (p->load_ppm < best) {
                                best = p->load_ppm;
                                *ret_slot = s;
                                found = true;
                                if (best == 0)
                                        return true;
                        }
                }
        }
        return found;
}

int placement_choose(const struct placement_view *v, const struct placement_request *req,
                     struct placement_choice *ret)
{
        if (v->n_slots == 0 || (req->image_required && !req->image))
                return -ENOSPC;
        for (size_t i = 0; i < req->n_selector; i++)
                if (!req->selector[i])
                        return -ENOSPC;
        static const enum placement_tier tiers[] = { PLACEMENT_POOL, PLACEMENT_IMAGE, PLACEMENT_ANY };
        for (size_t t = 0; t < 3; t++) {
                const uint64_t *bits = tiers[t] == PLACEMENT_POOL  ? req->pool
                                       : tiers[t] == PLACEMENT_IMAGE ? req->image
                                                                     : NULL;
                if (tiers[t] != PLACEMENT_ANY && !bits)
                        continue;
                size_t slot;
                if (scan(v, req, bits, &slot)) {
                        ret->slot = slot;
                        ret->tier = tiers[t];
                        return 0;
                }
        }
        return -ENOSPC;
}

void placement_census(const struct placement_view *v, const struct placement_request *req,
                      struct placement_census *ret)
{
        struct placement_census c = { 0 };
        for (size_t s = 0; s < v->n_slots; s++) {
                if (!bitset_test(v->present, s))
                        continue;
                c.executors++;
                bool labels = true;
                for (size_t i = 0; i < req->n_selector && labels; i++)
                        labels = req->selector[i] && bitset_test(req->selector[i], s);
                const struct placement_slot *p = &v->slots[s];
                if (!bitset_test(v->live, s))
                        c.lost++;
                else if (!labels)
                        c.labels++;
                else if (req->image_required && !(req->image && bitset_test(req->image, s)))
                        c.image++;
                else if (p->free_vcpus < req->vcpus)
                        c.vcpus++;
                else if (p->free_memory_mb < req->memory_mb)
                        c.memory++;
                else
                        c.fit++;
        }
        *ret = c;
}

__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t size, size_t *len,
                                                         const char *fmt, ...)
{
        if (*len >= size)
                return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf + *len, size - *len, fmt, ap);
        va_end(ap);
        if (n > 0)
                *len += (size_t)n;
}

void placement_explain(const struct placement_census *c, const struct placement_request *req,
                       const char *image, const char *selector, char *buf, size_t size)
{
        size_t len = 0;
        if (size == 0)
                return;
        buf[0] = '\0';
        append(buf, size, &len, "no executor can take the sandbox (%u vCPU%s, %llu MB", req->vcpus,
               req->vcpus == 1 ? "" : "s", (unsigned long long)req->memory_mb);
        if (image && req->image_required)
                append(buf, size, &len, ", image \"%s\"", image);
        if (selector && *selector)
                append(buf, size, &len, ", node_selector %s", selector);
        append(buf, size, &len, ")");
        if (c->executors == 0) {
                append(buf, size, &len, ": no executor is registered (start ak-executor with "
                                        "--scheduler pointing here)");
                return;
        }
        append(buf, size, &len, ": of %zu executor%s", c->executors, c->executors == 1 ? "" : "s");
        const char *sep = ", ";
        if (c->lost) {
                append(buf, size, &len, "%s%zu lost, unreachable or draining", sep, c->lost);
                sep = ", ";
        }
        if (c->labels) {
                append(buf, size, &len, "%s%zu lack the node_selector labels", sep, c->labels);
                sep = ", ";
        }
        if (c->image) {
                append(buf, size, &len, "%s%zu lack the image", sep, c->image);
                sep = ", ";
        }
        if (c->vcpus) {
                append(buf, size, &len, "%s%zu have fewer than %u free vCPUs", sep, c->vcpus, req->vcpus);
                sep = ", ";
        }
        if (c->memory) {
                append(buf, size, &len, "%s%zu have less than %llu MB free memory", sep, c->memory,
                       (unsigned long long)req->memory_mb);
                sep = ", ";
        }
        if (c->fit)
                append(buf, size, &len, "%s%zu fit", sep, c->fit);
}
