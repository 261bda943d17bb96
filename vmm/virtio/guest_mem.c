#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "vmm/virtio/guest_mem.h"

struct mapping {
        struct guest_mem_region r;
        uint8_t *base; /* the mmap: mmap_offset + size bytes from offset 0 */
        size_t map_len;
};

struct guest_mem {
        struct mapping maps[GUEST_MEM_MAX_REGIONS];
        unsigned n;
};

int guest_mem_new(struct guest_mem **ret)
{
        struct guest_mem *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        *ret = m;
        return 0;
}

static void unmap_all(struct mapping *maps, unsigned n)
{
        for (unsigned i = 0; i < n; i++)
                if (maps[i].base)
                        munmap(maps[i].base, maps[i].map_len);
}

void guest_mem_free(struct guest_mem *m)
{
        if (!m)
                return;
        unmap_all(m->maps, m->n);
        free(m);
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
        return a < b + blen && b < a + alen;
}

static int check_region(const struct guest_mem_region *r)
{
        if (r->size == 0 || r->size > GUEST_MEM_MAX_REGION_SIZE)
                return -EINVAL;
        if (r->gpa + r->size < r->gpa || r->uva + r->size < r->uva)
                return -EINVAL;
        if (r->mmap_offset > GUEST_MEM_MAX_REGION_SIZE)
                return -EINVAL;
        return 0;
}

int guest_mem_set_table(struct guest_mem *m, const struct guest_mem_region *regions, const int *fds,
                        unsigned n)
{
        struct mapping maps[GUEST_MEM_MAX_REGIONS] = { 0 };
        int r;

        if (n > GUEST_MEM_MAX_REGIONS)
                return -EINVAL;
        for (unsigned i = 0; i < n; i++) {
                r = check_region(&regions[i]);
                if (r < 0)
                        return r;
                for (unsigned j = 0; j < i; j++)
                        if (ranges_overlap(regions[i].gpa, regions[i].size, regions[j].gpa, regions[j].size))
                                return -EINVAL;
        }
        for (unsigned i = 0; i < n; i++) {
                struct stat st;
                uint64_t need = regions[i].mmap_offset + regions[i].size;

                if (fstat(fds[i], &st) < 0) {
                        r = -errno;
                        goto fail;
                }
                /* A mapping past the end of the file faults with SIGBUS when
                 * touched: refuse it here instead. */
                if (st.st_size < 0 || (uint64_t)st.st_size < need) {
                        r = -EINVAL;
                        goto fail;
                }
                void *p = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
                if (p == MAP_FAILED) {
                        r = -errno;
                        goto fail;
                }
                maps[i].r = regions[i];
                maps[i].base = p;
                maps[i].map_len = need;
        }
        unmap_all(m->maps, m->n);
        memcpy(m->maps, maps, sizeof(maps));
        m->n = n;
        return 0;
fail:
        unmap_all(maps, n);
        return r;
}

unsigned guest_mem_n_regions(const struct guest_mem *m)
{
        return m->n;
}

void *guest_mem_gpa_prefix(const struct guest_mem *m, uint64_t gpa, uint64_t len, uint64_t *ret_len)
{
        for (unsigned i = 0; i < m->n; i++) {
                const struct mapping *mp = &m->maps[i];
                if (gpa < mp->r.gpa || gpa - mp->r.gpa >= mp->r.size)
                        continue;
                uint64_t off = gpa - mp->r.gpa;
                uint64_t avail = mp->r.size - off;
                *ret_len = len < avail ? len : avail;
                return mp->base + mp->r.mmap_offset + off;
        }
        return NULL;
}

void *guest_mem_gpa(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
        uint64_t got;
        uint64_t want = len ? len : 1;
        void *p = guest_mem_gpa_prefix(m, gpa, want, &got);

        return p && got == want ? p : NULL;
}

void *guest_mem_uva(const struct guest_mem *m, uint64_t uva, uint64_t len)
{
        uint64_t want = len ? len : 1;

        for (unsigned i = 0; i < m->n; i++) {
                const struct mapping *mp = &m->maps[i];
                if (uva < mp->r.uva || uva - mp->r.uva >= mp->r.size)
                        continue;
                uint64_t off = uva - mp->r.uva;
                if (want > mp->r.size - off)
                        return NULL;
                return mp->base + mp->r.mmap_offset + off;
        }
        return NULL;
}
