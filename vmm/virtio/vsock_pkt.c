#include <string.h>

#include "vmm/virtio/vsock_pkt.h"

static uint64_t get64(const uint8_t *p)
{
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--)
                v = v << 8 | p[i];
        return v;
}

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t get16(const uint8_t *p)
{
        return (uint16_t)(p[0] | p[1] << 8);
}

static void put64(uint8_t *p, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static void put16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

void vsock_hdr_decode(const uint8_t b[VSOCK_HDR_SIZE], struct vsock_hdr *h)
{
        h->src_cid = get64(b);
        h->dst_cid = get64(b + 8);
        h->src_port = get32(b + 16);
        h->dst_port = get32(b + 20);
        h->len = get32(b + 24);
        h->type = get16(b + 28);
        h->op = get16(b + 30);
        h->flags = get32(b + 32);
        h->buf_alloc = get32(b + 36);
        h->fwd_cnt = get32(b + 40);
}

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t b[VSOCK_HDR_SIZE])
{
        put64(b, h->src_cid);
        put64(b + 8, h->dst_cid);
        put32(b + 16, h->src_port);
        put32(b + 20, h->dst_port);
        put32(b + 24, h->len);
        put16(b + 28, h->type);
        put16(b + 30, h->op);
        put32(b + 32, h->flags);
        put32(b + 36, h->buf_alloc);
        put32(b + 40, h->fwd_cnt);
}

const char *vsock_op_name(uint16_t op)
{
        static const char *const names[] = { "INVALID", "REQUEST", "RESPONSE", "RST",
                                             "SHUTDOWN", "RW", "CREDIT_UPDATE", "CREDIT_REQUEST" };
        return op < sizeof(names) / sizeof(names[0]) ? names[op] : "INVALID";
}
