/* Placement decisions per second: the registry (placement over slot
 * bitsets, with the name check, the reservation and its release) on
 * simulated fleets of 1,000 and 10,000 executors, beside two plain linear
 * scans over the same fleet measured in the same run: one that only checks
 * free capacity (the floor of any placement), and one that applies every
 * rule by comparing strings per executor (what the bitsets replace). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/scheduler/bench.h"
#include "lib/base/time.h"
#include "services/scheduler/pbcopy.h"
#include "services/scheduler/registry.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return (uint32_t)(rng_state % n);
}

/* One simulated executor, as plain data (the baselines scan these). */
struct node {
        char id[24], zone[16], rack[16];
        bool gpu;
        uint32_t vcpus, alloc_vcpus;
        uint64_t memory_mb, alloc_memory_mb;
        const char *images[3];
        size_t n_images;
        const char *pool_image[2];
        uint32_t pool_ready[2];
        size_t n_pools;
};

static void make_fleet(struct node *nodes, size_t n)
{
        static const uint32_t sizes[] = { 16, 32, 64 };
        for (size_t i = 0; i < n; i++) {
                struct node *x = &nodes[i];
                memset(x, 0, sizeof(*x));
                snprintf(x->id, sizeof(x->id), "e%05zu", i);
                snprintf(x->zone, sizeof(x->zone), "z%u", rnd(4));
                snprintf(x->rack, sizeof(x->rack), "r%u", rnd(50));
                x->gpu = rnd(10) == 0;
                x->vcpus = sizes[rnd(3)];
                x->memory_mb = (uint64_t)x->vcpus * 4096;
                /* Every executor busy to some degree (an idle one would end
                 * each scan early), memory and vCPUs loaded differently. */
                x->alloc_vcpus = 1 + rnd(x->vcpus * 4 / 5);
                x->alloc_memory_mb = 512 + (uint64_t)rnd((uint32_t)(x->memory_mb * 4 / 5));
                if (rnd(10) < 9)
                        x->images[x->n_images++] = "base";
                if (rnd(10) < 3)
                        x->images[x->n_images++] = "py";
                if (rnd(10) == 0)
                        x->images[x->n_images++] = "node";
                if (rnd(20) == 0) {
                        x->pool_image[x->n_pools] = "base";
                        x->pool_ready[x->n_pools++] = 1 + rnd(3);
                }
                if (rnd(50) == 0) {
                        x->pool_image[x->n_pools] = "py";
                        x->pool_ready[x->n_pools++] = 1 + rnd(3);
                }
        }
}

/* The node's status as an owned message for the registry. */
static Ak__V1__ExecutorStatus *status_of(const struct node *x)
{
        Ak__V1__ExecutorStatus st = AK__V1__EXECUTOR_STATUS__INIT;
        Ak__V1__Capacity cap = AK__V1__CAPACITY__INIT, alloc = AK__V1__CAPACITY__INIT;
        Ak__V1__ExecutorStatus__LabelsEntry lab[3], *labp[3];
        Ak__V1__PoolStatus pools[2], *poolp[2];
        st.executor_id = (char *)x->id;
        st.address = (char *)"127.0.0.1:1";
        cap.vcpus = x->vcpus;
        cap.memory_mb = x->memory_mb;
        alloc.vcpus = x->alloc_vcpus;
        alloc.memory_mb = x->alloc_memory_mb;
        st.capacity = &cap;
        st.allocated = &alloc;
        const char *keys[3] = { "zone", "rack", "gpu" }, *vals[3] = { x->zone, x->rack, "1" };
        for (size_t i = 0; i < 3; i++) {
                ak__v1__executor_status__labels_entry__init(&lab[i]);
                lab[i].key = (char *)keys[i];
                lab[i].value = (char *)vals[i];
                labp[i] = &lab[i];
        }
        st.n_labels = x->gpu ? 3 : 2;
        st.labels = labp;
        st.n_images = x->n_images;
        st.images = (char **)x->images;
        for (size_t i = 0; i < x->n_pools; i++) {
                ak__v1__pool_status__init(&pools[i]);
                pools[i].image = (char *)x->pool_image[i];
                pools[i].profile = (char *)"moderate";
                pools[i].ready = x->pool_ready[i];
                poolp[i] = &pools[i];
        }
        st.n_pools = x->n_pools;
        st.pools = poolp;
        return (Ak__V1__ExecutorStatus *)pbcopy(&st.base);
}

/* ---- baselines ---------------------------------------------------------- */

struct cap_only {
        uint64_t free_memory_mb;
        uint32_t free_vcpus;
        uint32_t load_ppm;
};

static size_t scan_capacity(const struct cap_only *c, size_t n, uint32_t vcpus, uint64_t mem)
{
        size_t best = SIZE_MAX;
        uint32_t best_load = UINT32_MAX;
        for (size_t i = 0; i < n; i++)
                if (c[i].free_vcpus >= vcpus && c[i].free_memory_mb >= mem && c[i].load_ppm < best_load) {
                        best_load = c[i].load_ppm;
                        best = i;
                }
        return best;
}

struct want {
        uint32_t vcpus;
        uint64_t memory_mb;
        const char *image;
        bool image_required;
        const char *zone;       /* NULL: no selector */
        bool gpu;
};

static bool has_image(const struct node *x, const char *image)
{
        for (size_t i = 0; i < x->n_images; i++)
                if (strcmp(x->images[i], image) == 0)
                        return true;
        return false;
}

/* Every rule, strings compared per executor: filters, then tiers. */
static size_t scan_strings(const struct node *nodes, const struct cap_only *c, size_t n,
                           const struct want *w)
{
        size_t best[3] = { SIZE_MAX, SIZE_MAX, SIZE_MAX };
        uint32_t best_load[3] = { UINT32_MAX, UINT32_MAX, UINT32_MAX };
        for (size_t i = 0; i < n; i++) {
                const struct node *x = &nodes[i];
                if (w->zone && strcmp(x->zone, w->zone) != 0)
                        continue;
                if (w->gpu && !x->gpu)
                        continue;
                bool cached = has_image(x, w->image);
                if (w->image_required && !cached)
                        continue;
                if (c[i].free_vcpus < w->vcpus || c[i].free_memory_mb < w->memory_mb)
                        continue;
                int tier = 2;
                for (size_t p = 0; p < x->n_pools; p++)
                        if (strcmp(x->pool_image[p], w->image) == 0 && x->pool_ready[p] > 0)
                                tier = 0;
                if (tier == 2 && cached)
                        tier = 1;
                if (c[i].load_ppm < best_load[tier]) {
                        best_load[tier] = c[i].load_ppm;
                        best[tier] = i;
                }
        }
        return best[0] != SIZE_MAX ? best[0] : best[1] != SIZE_MAX ? best[1] : best[2];
}

/* ---- the registry --------------------------------------------------------- */

struct scenario {
        const char *what;
        const char *image, *profile;
        const char *zone;
        bool gpu;
};

static const struct scenario scenarios[] = {
        { "base/moderate (warm pools first)", "", "", NULL, false },
        { "base/restrictive (cached image)", "", "restrictive", NULL, false },
        { "py, required (on 30%)", "py", "restrictive", NULL, false },
        { "node_selector zone=z1,gpu=1", "", "restrictive", "z1", true },
};

struct heartbeater {
        struct registry *reg;
        const struct node *nodes;
        size_t n;
        atomic_bool stop;
        uint64_t sent;
};

/* The fleet's heartbeats at their real rate: every executor every 2 s. */
static void *heartbeat_main(void *arg)
{
        struct heartbeater *h = arg;
        uint64_t start = ak_mono_ns();
        size_t i = 0;
        while (!atomic_load(&h->stop)) {
                uint64_t due = start + h->sent * 2000000000ull / h->n;
                if (ak_mono_ns() < due) {
                        struct timespec ts = { 0, 200000 };
                        nanosleep(&ts, NULL);
                        continue;
                }
                struct ak_error err;
                Ak__V1__ExecutorStatus *st = status_of(&h->nodes[i]);
                if (!st || registry_heartbeat(h->reg, st, "bench", 0, &err) < 0)
                        abort();
                h->sent++;
                i = (i + 1) % h->n;
        }
        return NULL;
}

static double place_rate(struct registry *reg, const struct scenario *sc, unsigned tiers[4],
                         uint64_t *refused)
{
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        Ak__V1__SandboxSpec__NodeSelectorEntry sel[2], *selp[2];
        spec.name = (char *)"bench";
        spec.image = (char *)sc->image;
        spec.profile = (char *)sc->profile;
        if (sc->zone) {
                ak__v1__sandbox_spec__node_selector_entry__init(&sel[0]);
                sel[0].key = (char *)"zone";
                sel[0].value = (char *)sc->zone;
                ak__v1__sandbox_spec__node_selector_entry__init(&sel[1]);
                sel[1].key = (char *)"gpu";
                sel[1].value = (char *)"1";
                selp[0] = &sel[0];
                selp[1] = &sel[1];
                spec.n_node_selector = sc->gpu ? 2 : 1;
                spec.node_selector = selp;
        }
        struct spec_needs needs;
        struct ak_error err;
        if (spec_check(&spec, &needs, &err) < 0)
                abort();
        uint64_t ops = 0, start = ak_mono_ns(), end = start + (uint64_t)(bench_seconds * 1e9);
        uint64_t now;
        do {
                for (int k = 0; k < 256; k++) {
                        struct registry_claim claim;
                        int r = registry_place(reg, &spec, &needs, NULL, &claim, &err);
                        if (r == 0) {
                                tiers[claim.tier]++;
                                registry_release(reg, &claim);
                        } else {
                                (*refused)++;
                        }
                        ops++;
                }
                now = ak_mono_ns();
        } while (now < end);
        return (double)ops / ((double)(now - start) / 1e9);
}

static double baseline_rate(const struct node *nodes, const struct cap_only *c, size_t n,
                            const struct want *w, bool strings)
{
        uint64_t ops = 0, start = ak_mono_ns(), end = start + (uint64_t)(bench_seconds * 1e9), now;
        volatile size_t sink = 0;
        do {
                for (int k = 0; k < 64; k++) {
                        sink += strings ? scan_strings(nodes, c, n, w)
                                        : scan_capacity(c, n, w->vcpus, w->memory_mb);
                        ops++;
                }
                now = ak_mono_ns();
        } while (now < end);
        (void)sink;
        return (double)ops / ((double)(now - start) / 1e9);
}

static int bench_fleet(size_t n)
{
        struct node *nodes = calloc(n, sizeof(*nodes));
        struct cap_only *caps = calloc(n, sizeof(*caps));
        struct registry *reg;
        struct registry_config cfg = { .max_executors = n };
        if (!nodes || !caps || registry_new(&cfg, 0, &reg) < 0)
                return 1;
        make_fleet(nodes, n);
        for (size_t i = 0; i < n; i++) {
                struct ak_error err;
                if (registry_register(reg, status_of(&nodes[i]), "bench", 0, &err) < 0) {
                        fprintf(stderr, "bench: %s\n", err.msg);
                        return 1;
                }
                struct placement_slot s;
                registry_slot_of(reg, nodes[i].id, &s);
                caps[i] = (struct cap_only){ s.free_memory_mb, s.free_vcpus, s.load_ppm };
        }

        printf("\n%zu executors\n", n);
        printf("  %-44s %14s %10s   %s\n", "what", "decisions/s", "us each", "tiers chosen: pool/image/any");
        for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
                unsigned tiers[4] = { 0 };
                uint64_t refused = 0;
                double rate = place_rate(reg, &scenarios[i], tiers, &refused);
                printf("  registry: %-34s %14.0f %10.2f   %u/%u/%u%s\n", scenarios[i].what, rate, 1e6 / rate,
                       tiers[1], tiers[2], tiers[3], refused ? " (some refused)" : "");
        }
        /* Under the fleet's own heartbeat load (every executor every 2 s). */
        struct heartbeater hb = { .reg = reg, .nodes = nodes, .n = n };
        pthread_t t;
        pthread_create(&t, NULL, heartbeat_main, &hb);
        unsigned tiers[4] = { 0 };
        uint64_t refused = 0;
        uint64_t t0 = ak_mono_ns();
        double rate = place_rate(reg, &scenarios[0], tiers, &refused);
        double hb_rate = (double)hb.sent / ((double)(ak_mono_ns() - t0) / 1e9);
        atomic_store(&hb.stop, true);
        pthread_join(t, NULL);
        char what[64];
        snprintf(what, sizeof(what), "%s + %.0f heartbeats/s", "base/moderate", hb_rate);
        printf("  registry: %-34s %14.0f %10.2f   %u/%u/%u\n", what, rate, 1e6 / rate, tiers[1], tiers[2],
               tiers[3]);

        struct want w = { 1, 256, "base", false, NULL, false };
        double cap_rate = baseline_rate(nodes, caps, n, &w, false);
        printf("  baseline: %-34s %14.0f %10.2f\n", "linear scan, capacity only", cap_rate, 1e6 / cap_rate);
        double str_rate = baseline_rate(nodes, caps, n, &w, true);
        printf("  baseline: %-34s %14.0f %10.2f\n", "linear scan, all rules by strcmp", str_rate,
               1e6 / str_rate);
        registry_free(reg);
        free(nodes);
        free(caps);
        return 0;
}

int bench_placement(void)
{
        printf("bench/scheduler: placement decisions per second (each: name check, placement, "
               "reservation, then release), %.1f s per row\n",
               bench_seconds);
        int rc = bench_fleet(1000);
        rc |= bench_fleet(10000);
        printf("target: >= 10,000 placements/s at 10,000 executors\n");
        return rc;
}
