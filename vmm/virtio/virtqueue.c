#include <errno.h>
#include <string.h>

#include "vmm/virtio/virtqueue.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "virtio rings are little-endian; so is the host");
_Static_assert(sizeof(struct vring_desc_le) == 16, "descriptor layout");

static uint16_t *avail_flags(struct vq *q) { return (uint16_t *)q->avail; }
static uint16_t *avail_idx(struct vq *q) { return (uint16_t *)(q->avail + 2); }
static uint16_t *avail_ring(struct vq *q, unsigned i) { return (uint16_t *)(q->avail + 4 + 2 * i); }
static uint16_t *used_event(struct vq *q) { return (uint16_t *)(q->avail + 4 + 2 * q->num); }
static uint16_t *used_idx_p(struct vq *q) { return (uint16_t *)(q->used + 2); }
static struct vring_used_elem_le *used_ring(struct vq *q, unsigned i)
{
        return (struct vring_used_elem_le *)(q->used + 4 + 8 * i);
}
static uint16_t *avail_event(struct vq *q) { return (uint16_t *)(q->used + 4 + 8 * q->num); }

void vq_init(struct vq *q, const struct guest_mem *mem, uint16_t num, void *desc, void *avail, void *used,
             uint16_t last_avail_idx, bool indirect, bool event_idx)
{
        memset(q, 0, sizeof(*q));
        q->mem = mem;
        q->num = num;
        q->desc = desc;
        q->avail = avail;
        q->used = used;
        q->indirect = indirect;
        q->event_idx = event_idx;
        q->last_avail_idx = last_avail_idx;
        /* The used index continues from what the guest last saw. */
        q->used_idx = __atomic_load_n(used_idx_p(q), __ATOMIC_ACQUIRE);
}

int vq_map_uva(struct vq *q, const struct guest_mem *mem, uint16_t num, uint64_t desc_uva, uint64_t avail_uva,
               uint64_t used_uva, uint16_t last_avail_idx, bool indirect, bool event_idx)
{
        if (num == 0 || num > VQ_MAX_SIZE || (num & (num - 1)))
                return -EINVAL;
        if ((desc_uva & 15) || (avail_uva & 1) || (used_uva & 3))
                return -EINVAL;
        void *d = guest_mem_uva(mem, desc_uva, vq_desc_size(num));
        void *a = guest_mem_uva(mem, avail_uva, vq_avail_size(num));
        void *u = guest_mem_uva(mem, used_uva, vq_used_size(num));
        if (!d || !a || !u)
                return -EINVAL;
        vq_init(q, mem, num, d, a, u, last_avail_idx, indirect, event_idx);
        return 0;
}

/* Adds guest buffer [addr, addr+len) to the chain, split where it crosses
 * regions. */
static int add_buffer(struct vq *q, struct vq_chain *c, uint64_t addr, uint32_t len, bool write)
{
        uint64_t left = len;

        if (!write && c->n_in)
                return -EIO; /* readable after writable */
        while (left) {
                uint64_t got;
                void *p = guest_mem_gpa_prefix(q->mem, addr, left, &got);
                if (!p)
                        return -EIO;
                if (c->n_out + c->n_in >= VQ_MAX_IOV)
                        return -EIO;
                c->iov[c->n_out + c->n_in] = (struct iovec){ p, got };
                if (write) {
                        c->n_in++;
                        c->in_len += got;
                } else {
                        c->n_out++;
                        c->out_len += got;
                }
                addr += got;
                left -= got;
        }
        /* used.len is 32 bits: keep totals representable. */
        if (c->in_len > UINT32_MAX || c->out_len > UINT32_MAX)
                return -EIO;
        return 0;
}

static int walk_indirect(struct vq *q, struct vq_chain *c, uint64_t addr, uint32_t len)
{
        if (len == 0 || len % sizeof(struct vring_desc_le))
                return -EIO;
        unsigned n = len / sizeof(struct vring_desc_le);
        if (n > VQ_MAX_INDIRECT)
                return -EIO;
        const struct vring_desc_le *table = guest_mem_gpa(q->mem, addr, len);
        if (!table)
                return -EIO;
        unsigned i = 0;
        for (unsigned count = 0;; count++) {
                struct vring_desc_le d;
                if (i >= n || count >= n)
                        return -EIO;
                memcpy(&d, (const void *)&table[i], sizeof(d));
                if (d.flags & VRING_DESC_F_INDIRECT)
                        return -EIO; /* no nesting */
                int r = add_buffer(q, c, d.addr, d.len, d.flags & VRING_DESC_F_WRITE);
                if (r < 0)
                        return r;
                if (!(d.flags & VRING_DESC_F_NEXT))
                        return 0;
                i = d.next;
        }
}

static int walk_chain(struct vq *q, struct vq_chain *c, uint16_t head)
{
        unsigned i = head;

        for (unsigned count = 0;; count++) {
                struct vring_desc_le d;
                if (i >= q->num || count >= q->num)
                        return -EIO;
                memcpy(&d, (const void *)&q->desc[i], sizeof(d));
                if (d.flags & VRING_DESC_F_INDIRECT) {
                        /* Only alone (2.7.5.3.1: not with NEXT) and only if negotiated. */
                        if (!q->indirect || (d.flags & VRING_DESC_F_NEXT) || count > 0)
                                return -EIO;
                        return walk_indirect(q, c, d.addr, d.len);
                }
                int r = add_buffer(q, c, d.addr, d.len, d.flags & VRING_DESC_F_WRITE);
                if (r < 0)
                        return r;
                if (!(d.flags & VRING_DESC_F_NEXT))
                        return 0;
                i = d.next;
        }
}

int vq_pop(struct vq *q, struct vq_chain *c)
{
        if (q->broken || !q->num)
                return -EPIPE;
        uint16_t idx = __atomic_load_n(avail_idx(q), __ATOMIC_ACQUIRE);
        if (idx == q->last_avail_idx) {
                if (!q->event_idx)
                        return 0;
                /* Ask for a kick at the next buffer, then look again: the
                 * driver may have added one before it could see our request. */
                __atomic_store_n(avail_event(q), q->last_avail_idx, __ATOMIC_RELAXED);
                __atomic_thread_fence(__ATOMIC_SEQ_CST);
                idx = __atomic_load_n(avail_idx(q), __ATOMIC_ACQUIRE);
                if (idx == q->last_avail_idx)
                        return 0;
        }
        if ((uint16_t)(idx - q->last_avail_idx) > q->num) {
                q->broken = true;
                return -EPIPE;
        }
        uint16_t head = __atomic_load_n(avail_ring(q, q->last_avail_idx % q->num), __ATOMIC_RELAXED);
        q->last_avail_idx++;
        c->head = head;
        c->n_out = c->n_in = 0;
        c->out_len = c->in_len = 0;
        int r = walk_chain(q, c, head);
        if (r < 0) {
                /* A head outside the table cannot even be returned. */
                if (head >= q->num) {
                        q->broken = true;
                        return -EPIPE;
                }
                return r;
        }
        return 1;
}

void vq_unpop(struct vq *q)
{
        q->last_avail_idx--;
}

void vq_push(struct vq *q, uint16_t head, uint32_t len)
{
        struct vring_used_elem_le *e = used_ring(q, q->used_idx % q->num);

        __atomic_store_n(&e->id, head, __ATOMIC_RELAXED);
        __atomic_store_n(&e->len, len, __ATOMIC_RELAXED);
        q->used_idx++;
        __atomic_store_n(used_idx_p(q), q->used_idx, __ATOMIC_RELEASE);
}

bool vq_should_notify(struct vq *q)
{
        if (!q->num)
                return false;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (!q->event_idx)
                return !(__atomic_load_n(avail_flags(q), __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT);
        uint16_t old = q->signalled_used, now = q->used_idx;
        bool valid = q->signalled_used_valid;
        q->signalled_used = now;
        q->signalled_used_valid = true;
        if (!valid)
                return true;
        uint16_t ev = __atomic_load_n(used_event(q), __ATOMIC_RELAXED);
        return (uint16_t)(now - ev - 1) < (uint16_t)(now - old);
}

static unsigned chain_iov(const struct iovec *iov, unsigned n, size_t offset, size_t len, struct iovec *out,
                          unsigned max)
{
        unsigned k = 0;

        for (unsigned i = 0; i < n && len && k < max; i++) {
                if (offset >= iov[i].iov_len) {
                        offset -= iov[i].iov_len;
                        continue;
                }
                size_t take = iov[i].iov_len - offset;
                if (take > len)
                        take = len;
                out[k++] = (struct iovec){ (uint8_t *)iov[i].iov_base + offset, take };
                len -= take;
                offset = 0;
        }
        return k;
}

unsigned vq_chain_in_iov(const struct vq_chain *c, size_t offset, size_t len, struct iovec *iov, unsigned max)
{
        return chain_iov(c->iov + c->n_out, c->n_in, offset, len, iov, max);
}

unsigned vq_chain_out_iov(const struct vq_chain *c, size_t offset, size_t len, struct iovec *iov, unsigned max)
{
        return chain_iov(c->iov, c->n_out, offset, len, iov, max);
}

size_t vq_chain_read(const struct vq_chain *c, size_t offset, void *dst, size_t len)
{
        struct iovec v[VQ_MAX_IOV];
        unsigned n = vq_chain_out_iov(c, offset, len, v, VQ_MAX_IOV);
        size_t done = 0;

        for (unsigned i = 0; i < n; i++) {
                memcpy((uint8_t *)dst + done, v[i].iov_base, v[i].iov_len);
                done += v[i].iov_len;
        }
        return done;
}

size_t vq_chain_write(const struct vq_chain *c, size_t offset, const void *src, size_t len)
{
        struct iovec v[VQ_MAX_IOV];
        unsigned n = vq_chain_in_iov(c, offset, len, v, VQ_MAX_IOV);
        size_t done = 0;

        for (unsigned i = 0; i < n; i++) {
                memcpy(v[i].iov_base, (const uint8_t *)src + done, v[i].iov_len);
                done += v[i].iov_len;
        }
        return done;
}
