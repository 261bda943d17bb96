/* Guest memory as a vhost-user back-end sees it: up to GUEST_MEM_MAX_REGIONS
 * regions, each shared by the VMM as a file descriptor (memfd) and mapped
 * here. Every address that comes from the VMM or the guest is translated
 * with a bounds check: a range that is not wholly inside one region gives
 * NULL, never a pointer past a mapping.
 *
 * Two address spaces are known: guest physical addresses (what descriptors
 * hold) and the VMM's own user addresses (what VHOST_USER_SET_VRING_ADDR
 * holds, without VIRTIO_F_IOMMU_PLATFORM).
 *
 * Thread-safety: none; one thread maps and translates. The guest writes the
 * memory concurrently: callers read each guest field once. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GUEST_MEM_MAX_REGIONS 8
/* A region larger than this is refused (the machine has far less). */
#define GUEST_MEM_MAX_REGION_SIZE ((uint64_t)1 << 40)

struct guest_mem_region {
        uint64_t gpa;         /* guest physical address of the first byte */
        uint64_t size;
        uint64_t uva;         /* the VMM's user address of the first byte */
        uint64_t mmap_offset; /* where the region starts in its fd */
};

struct guest_mem;

int guest_mem_new(struct guest_mem **ret);
/* Unmaps everything. NULL is a no-op. */
void guest_mem_free(struct guest_mem *m);

/* Replaces the table with n regions backed by fds[0..n). The fds are only
 * read (mmap'd); the caller keeps and closes them. All-or-nothing: on error
 * the previous table stays. -EINVAL for n > GUEST_MEM_MAX_REGIONS, an empty
 * or oversized region, overlapping guest ranges, arithmetic overflow, or a
 * file shorter than mmap_offset + size (touching it would raise SIGBUS);
 * mmap's -errno otherwise. n == 0 clears the table. */
int guest_mem_set_table(struct guest_mem *m, const struct guest_mem_region *regions, const int *fds,
                        unsigned n);

unsigned guest_mem_n_regions(const struct guest_mem *m);

/* The host pointer for guest physical [gpa, gpa + len), or NULL when the
 * range is not wholly inside one region (len 0 is checked as 1 byte). */
void *guest_mem_gpa(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* The host pointer for gpa and how many bytes from it are contiguous in the
 * same region, at most len (written to *ret_len). NULL when gpa is in no
 * region. Lets a buffer that spans two regions be split. */
void *guest_mem_gpa_prefix(const struct guest_mem *m, uint64_t gpa, uint64_t len, uint64_t *ret_len);

/* The same for a VMM user address range. */
void *guest_mem_uva(const struct guest_mem *m, uint64_t uva, uint64_t len);

#ifdef __cplusplus
}
#endif
