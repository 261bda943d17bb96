/* libFuzzer target: the virtio-vsock device as a hostile guest drives it.
 * A fake driver lays out rx and tx rings in a memfd; the input is a list of
 * operations: the guest sends packets (any header, any payload), posts rx
 * buffers, scribbles on its own rings; the host connects, writes, closes;
 * time passes. After each operation the device runs as the bridge runs it.
 * Host "listeners" exist for even ports (socketpairs), odd ones refuse.
 *
 * Each op is one byte (op % 8) followed by its arguments. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/virtio/vsock_dev.h"
#include "vmm/virtio/vsock_pkt.h"

#define MEM_SIZE (1 << 20)
#define GPA 0x100000ull
#define UVA 0x7f0000000000ull
#define NUM 16
#define MAX_HOST 16

struct ring {
        uint64_t desc, avail, used; /* offsets into the memfd */
        uint16_t avail_idx, next_desc;
};

struct fuzz {
        uint8_t *mem;
        struct ring rx, tx;
        uint64_t heap;
        int host[MAX_HOST]; /* our end of host connections */
        unsigned n_host;
};

static const uint8_t *in;
static size_t in_len;

static unsigned take(size_t n, void *out)
{
        size_t k = n < in_len ? n : in_len;
        memset(out, 0, n);
        memcpy(out, in, k);
        in += k;
        in_len -= k;
        return (unsigned)k;
}

static uint8_t byte(void)
{
        uint8_t b;
        take(1, &b);
        return b;
}

static uint64_t alloc(struct fuzz *f, size_t n)
{
        if (f->heap + n > MEM_SIZE)
                f->heap = 0x20000; /* reuse: a real driver would too */
        uint64_t off = f->heap;
        f->heap += (n + 15) & ~15ull;
        return off;
}

static void add_desc(struct fuzz *f, struct ring *r, uint64_t off, uint32_t len, uint16_t flags, uint16_t next)
{
        uint8_t *d = f->mem + r->desc + 16u * (r->next_desc % NUM);
        uint64_t gpa = GPA + off;
        memcpy(d, &gpa, 8);
        memcpy(d + 8, &len, 4);
        memcpy(d + 12, &flags, 2);
        memcpy(d + 14, &next, 2);
}

static void publish(struct fuzz *f, struct ring *r, uint16_t head)
{
        memcpy(f->mem + r->avail + 4 + 2 * (r->avail_idx % NUM), &head, 2);
        r->avail_idx++;
        memcpy(f->mem + r->avail + 2, &r->avail_idx, 2);
}

static void guest_send(struct fuzz *f)
{
        uint8_t h[VSOCK_HDR_SIZE];
        take(sizeof(h), h);
        size_t plen = byte();
        plen = plen * 4;
        uint64_t off = alloc(f, VSOCK_HDR_SIZE + plen);
        memcpy(f->mem + off, h, sizeof(h));
        take(plen, f->mem + off + VSOCK_HDR_SIZE);
        uint16_t head = f->tx.next_desc % NUM;
        if (plen) {
                add_desc(f, &f->tx, off, VSOCK_HDR_SIZE, 1 /* NEXT */, (uint16_t)((head + 1) % NUM));
                f->tx.next_desc++;
                add_desc(f, &f->tx, off + VSOCK_HDR_SIZE, (uint32_t)plen, 0, 0);
                f->tx.next_desc++;
        } else {
                add_desc(f, &f->tx, off, VSOCK_HDR_SIZE, 0, 0);
                f->tx.next_desc++;
        }
        publish(f, &f->tx, head);
}

static void guest_post_rx(struct fuzz *f)
{
        uint32_t size = (uint32_t)byte() * 32 + 8;
        uint64_t off = alloc(f, size);
        uint16_t head = f->rx.next_desc % NUM;
        add_desc(f, &f->rx, off, size, 2 /* WRITE */, 0);
        f->rx.next_desc++;
        publish(f, &f->rx, head);
}

static void guest_scribble(struct fuzz *f)
{
        uint16_t where;
        take(2, &where);
        uint8_t n = byte() % 16;
        /* Anywhere in the two rings' areas. */
        uint64_t off = f->rx.desc + where % (0x2000);
        take(n, f->mem + off);
}

static int host_connect_cb(void *userdata, uint32_t port, int *ret_fd)
{
        struct fuzz *f = userdata;
        int sv[2];
        if ((port & 1) || f->n_host == MAX_HOST)
                return -ECONNREFUSED;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
                return -errno;
        f->host[f->n_host++] = sv[1];
        *ret_fd = sv[0];
        return 0;
}

static void notify_cb(void *userdata, unsigned q)
{
}

static const struct vsock_dev_ops ops = { .connect = host_connect_cb, .notify = notify_cb };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct fuzz f = { 0 };
        struct guest_mem *gm = NULL;
        struct vsock_dev *dev = NULL;
        struct vq rx, tx;
        in = data;
        in_len = size;

        int memfd = memfd_create("fuzz-vsock", MFD_CLOEXEC);
        if (memfd < 0)
                return 0;
        if (ftruncate(memfd, MEM_SIZE) < 0 ||
            (f.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0)) == MAP_FAILED) {
                close(memfd);
                return 0;
        }
        f.rx = (struct ring){ .desc = 0x1000, .avail = 0x1200, .used = 0x1400 };
        f.tx = (struct ring){ .desc = 0x2000, .avail = 0x2200, .used = 0x2400 };
        f.heap = 0x20000;
        struct guest_mem_region reg = { GPA, MEM_SIZE, UVA, 0 };
        struct vsock_dev_config cfg = { .guest_cid = 3, .buf_alloc = 4096, .max_conns = 32, .connect_timeout_ms = 1 };
        if (guest_mem_new(&gm) < 0 || guest_mem_set_table(gm, &reg, &memfd, 1) < 0 ||
            vq_map_uva(&rx, gm, NUM, UVA + f.rx.desc, UVA + f.rx.avail, UVA + f.rx.used, 0, true, false) < 0 ||
            vq_map_uva(&tx, gm, NUM, UVA + f.tx.desc, UVA + f.tx.avail, UVA + f.tx.used, 0, true, false) < 0 ||
            vsock_dev_new(&cfg, &ops, &f, &dev) < 0)
                goto out;
        vsock_dev_set_queues(dev, &rx, &tx);

        for (int steps = 0; in_len && steps < 256; steps++) {
                uint8_t op = byte() % 8;
                switch (op) {
                case 0:
                        guest_send(&f);
                        break;
                case 1:
                        guest_post_rx(&f);
                        break;
                case 2: {
                        uint32_t port;
                        take(4, &port);
                        int sv[2];
                        if (f.n_host < MAX_HOST &&
                            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0) {
                                if (vsock_dev_host_connect(dev, sv[0], port) == 0)
                                        f.host[f.n_host++] = sv[1];
                                else {
                                        close(sv[0]);
                                        close(sv[1]);
                                }
                        }
                        break;
                }
                case 3: {
                        uint8_t k = byte(), n = byte();
                        uint8_t buf[256];
                        take(n, buf);
                        if (f.n_host)
                                (void)!send(f.host[k % f.n_host], buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                        break;
                }
                case 4: {
                        uint8_t k = byte();
                        if (f.n_host) {
                                int fd = f.host[k % f.n_host];
                                if (k & 0x80)  /* a half-close, or a hang-up kept open */
                                        shutdown(fd, (k & 0x40) ? SHUT_RDWR : SHUT_WR);
                                else {
                                        close(fd);
                                        unsigned slot = k % f.n_host;
                                        f.n_host--;
                                        f.host[slot] = f.host[f.n_host];
                                }
                        }
                        break;
                }
                case 5:
                        guest_scribble(&f);
                        break;
                case 6: {
                        uint8_t k = byte();
                        uint8_t buf[4096];
                        if (f.n_host)
                                while (recv(f.host[k % f.n_host], buf, sizeof(buf), MSG_DONTWAIT) > 0)
                                        ;
                        break;
                }
                default:
                        usleep(200); /* lets connect deadlines (1 ms) pass now and then */
                        vsock_dev_tick(dev);
                        break;
                }
                vsock_dev_process_tx(dev);
                vsock_dev_host_events(dev);
                vsock_dev_process_rx(dev);
                for (int i = 0; i < 8 && vsock_dev_timeout_ms(dev) == 0; i++)
                        vsock_dev_tick(dev);
        }
out:
        vsock_dev_free(dev);
        guest_mem_free(gm);
        for (unsigned i = 0; i < f.n_host; i++)
                close(f.host[i]);
        munmap(f.mem, MEM_SIZE);
        close(memfd);
        return 0;
}
