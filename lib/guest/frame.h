/* agentkernel's guest framing: a 4-byte little-endian length, then that many
 * bytes of JSON. A frame body is at most FRAME_MAX bytes.
 *
 * Two sides: an incremental reader for event loops (the agent), and blocking
 * helpers with timeouts for clients (host side and tests). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define FRAME_MAX (10u * 1024 * 1024)
#define FRAME_HEADER_SIZE 4

static inline void frame_put_header(uint8_t hdr[FRAME_HEADER_SIZE], uint32_t len)
{
        hdr[0] = (uint8_t)len;
        hdr[1] = (uint8_t)(len >> 8);
        hdr[2] = (uint8_t)(len >> 16);
        hdr[3] = (uint8_t)(len >> 24);
}

static inline uint32_t frame_get_header(const uint8_t hdr[FRAME_HEADER_SIZE])
{
        return (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
}

/* Incremental reader. Memory grows with the bytes actually received, never
 * with the length a header claims, so a peer cannot make it allocate 10 MiB
 * with 4 bytes. A header above the limit is reported once (FRAME_OVERSIZE)
 * and the body that follows is then skipped, so the stream stays in step. */
struct frame_reader;

enum frame_status {
        FRAME_NEED_MORE = 0, /* all input consumed, no complete frame yet */
        FRAME_READY = 1,     /* a frame is complete: take it */
        FRAME_OVERSIZE = 2,  /* a header above max: its body will be skipped */
};

/* max: the largest body accepted (normally FRAME_MAX). */
int frame_reader_new(size_t max, struct frame_reader **ret);
void frame_reader_free(struct frame_reader *r);

/* Consumes bytes from data[0..len) until a frame completes, an oversize
 * header is seen, or the input ends; *ret_consumed says how far it got.
 * Returns an enum frame_status, or -ENOMEM. After FRAME_READY the caller must
 * call frame_reader_take() before feeding more. */
int frame_reader_feed(struct frame_reader *r, const uint8_t *data, size_t len, size_t *ret_consumed);

/* Hands over the completed body (malloc'd, NUL-terminated; caller frees). */
void frame_reader_take(struct frame_reader *r, uint8_t **ret_body, size_t *ret_len);

/* The length the last oversize header claimed. */
uint32_t frame_reader_oversize_len(const struct frame_reader *r);

/* True when no partial frame is pending (a clean place for EOF). */
int frame_reader_idle(const struct frame_reader *r);

/* Blocking client side. fd may be blocking or not: both wait with poll().
 * timeout_ms < 0 waits forever; otherwise it bounds the whole frame (an
 * absolute deadline taken on entry), so a peer that sends or takes one byte
 * at a time cannot stretch one call beyond it.
 *
 * frame_write: header + body. -EMSGSIZE if len > FRAME_MAX, -ETIMEDOUT, or
 * the write's -errno (-EPIPE when the peer is gone; SIGPIPE is not raised).
 *
 * frame_read: one frame of at most max bytes into a malloc'd NUL-terminated
 * buffer. -EMSGSIZE for a larger header (the stream is then out of step:
 * close it), -ECONNRESET on EOF, -ETIMEDOUT, or the read's -errno. */
int frame_write(int fd, const void *body, size_t len, int timeout_ms);
int frame_read(int fd, size_t max, int timeout_ms, uint8_t **ret_body, size_t *ret_len);
