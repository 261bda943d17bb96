/* libFuzzer target: vhost-user messages as a front-end (QEMU, or something
 * pretending to be it) could send them, plus the guest memory those
 * messages map, filled with fuzzer bytes so the rings they configure hold
 * garbage descriptors.
 *
 * Input: u16 n, then n bytes of messages (12-byte header, payload of the
 * size the header claims, cut at the input's end), then up to 64 KiB of
 * guest memory. Messages that carry fds get real ones (a memfd holding the
 * guest memory for SET_MEM_TABLE, eventfds otherwise), as many as a byte
 * of the flags field asks for. After each message, every running ring is
 * drained with vq_pop/vq_push. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/virtio/vhost_user.h"

#define MEM_SIZE (64 * 1024)

static void get_config(void *userdata, uint8_t *buf)
{
        memset(buf, 0x33, 8);
}

static const struct vhost_user_backend backend = {
        .features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
                    (1ull << VIRTIO_RING_F_EVENT_IDX),
        .n_queues = 2,
        .config_size = 8,
        .get_config = get_config,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 2)
                return 0;
        size_t n = (size_t)data[0] | (size_t)data[1] << 8;
        data += 2;
        size -= 2;
        if (n > size)
                n = size;
        const uint8_t *msgs = data, *mem = data + n;
        size_t mem_len = size - n < MEM_SIZE ? size - n : MEM_SIZE;

        int memfd = memfd_create("fuzz-guest", MFD_CLOEXEC);
        if (memfd < 0 || ftruncate(memfd, MEM_SIZE) < 0 || pwrite(memfd, mem, mem_len, 0) < 0) {
                if (memfd >= 0)
                        close(memfd);
                return 0;
        }
        struct vhost_user *vu = NULL;
        if (vhost_user_new(&backend, NULL, &vu) < 0) {
                close(memfd);
                return 0;
        }
        size_t off = 0;
        while (off + VHOST_USER_HDR_SIZE <= n) {
                struct vhost_user_msg m, reply;
                memset(&m, 0, sizeof(m));
                memcpy(&m, msgs + off, VHOST_USER_HDR_SIZE);
                off += VHOST_USER_HDR_SIZE;
                uint32_t claimed = m.size;
                size_t take = claimed;
                if (take > VHOST_USER_MAX_PAYLOAD)
                        take = VHOST_USER_MAX_PAYLOAD;
                if (take > n - off)
                        take = n - off;
                memcpy((uint8_t *)&m + VHOST_USER_HDR_SIZE, msgs + off, take);
                off += take;
                /* The size field keeps what the header claimed: the handler
                 * must not trust it beyond what it checks. Sizes recv would
                 * refuse are refused before handle, as in vhost_user_recv. */
                if (claimed > VHOST_USER_MAX_PAYLOAD)
                        continue;
                int fds[VHOST_USER_MAX_FDS];
                unsigned nfds = (m.flags >> 16) % (VHOST_USER_MAX_FDS + 1);
                for (unsigned i = 0; i < nfds; i++)
                        fds[i] = m.request == VHOST_USER_SET_MEM_TABLE ? dup(memfd) : eventfd(0, EFD_CLOEXEC);
                bool has_reply = false;
                vhost_user_handle(vu, &m, fds, nfds, &reply, &has_reply);
                for (unsigned q = 0; q < 2; q++) {
                        struct vq *vq = vhost_user_queue(vu, q);
                        struct vq_chain c;
                        for (int i = 0; vq && i < 64; i++) {
                                int r = vq_pop(vq, &c);
                                if (r == 0 || r == -EPIPE)
                                        break;
                                if (r == 1 && c.n_in) {
                                        uint8_t b[64] = { 0 };
                                        vq_chain_write(&c, 0, b, sizeof(b));
                                }
                                if (r == 1) {
                                        uint8_t b[64];
                                        vq_chain_read(&c, 0, b, sizeof(b));
                                }
                                vq_push(vq, c.head, 0);
                        }
                        if (vq)
                                vq_should_notify(vq);
                        vhost_user_notify(vu, q);
                }
        }
        vhost_user_free(vu);
        close(memfd);
        return 0;
}
