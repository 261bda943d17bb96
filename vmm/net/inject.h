/* Secret injection into one HTTP/1.x request head that a guest sent inside a
 * TLS session the host proxy terminated (issue 19). The guest knows only a
 * placeholder per secret; this puts the real value where the placeholder
 * stands in the secret's one header (Authorization unless named otherwise),
 * on requests to the one host the secret is bound to, and refuses a request
 * that carries a placeholder anywhere else: in the request line, in another
 * header, or to another host (an exfiltration attempt, for the audit).
 *
 * The request head comes from a hostile guest. inject_request reads only
 * buf[0..len), allocates nothing, keeps no state between calls, and is as
 * strict as sniff_http (it checks the head with it first): anything a server
 * might read differently is malformed. The Host header (or absolute URI) must
 * name the TLS server name the session was opened for, so an allowed SNI
 * cannot carry a request for another host.
 *
 * Bodies are neither searched nor changed: a placeholder there reaches the
 * server as the placeholder, which is worth nothing. The caller frames the
 * body from *ret_body and forwards it as it is.
 *
 * Thread-safety: pure function over its arguments. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "vmm/net/sniff.h"

#ifdef __cplusplus
extern "C" {
#endif

#define INJECT_PLACEHOLDER_PREFIX "AKSECRET_"
/* prefix + 32 lowercase hex digits (128 random bits) */
#define INJECT_PLACEHOLDER_LEN (sizeof(INJECT_PLACEHOLDER_PREFIX) - 1 + 32)
#define INJECT_HEADER_DEFAULT "Authorization"
#define INJECT_HEADER_NAME_MAX 64
#define INJECT_SECRETS_MAX 32

struct inject_secret {
        char placeholder[INJECT_PLACEHOLDER_LEN + 1];
        char host[SNIFF_NAME_MAX];                   /* as sniff_host_name keeps it */
        char header[INJECT_HEADER_NAME_MAX + 1];     /* a token (RFC 9110), any case */
        const uint8_t *value;                        /* checked by inject_value_check */
        size_t value_len;
};

enum inject_body {
        INJECT_BODY_NONE = 0,    /* no body: the next request follows the head */
        INJECT_BODY_LENGTH,      /* Content-Length bytes */
        INJECT_BODY_CHUNKED,     /* Transfer-Encoding: chunked */
};

/* Fills out with a fresh placeholder (prefix + 128 bits from getrandom as hex)
 * and a NUL. 0 or -errno. */
int inject_placeholder_new(char out[INJECT_PLACEHOLDER_LEN + 1]);

/* 0 if value can stand in a header value (1..INJECT_VALUE_MAX bytes, no
 * control characters but tab, no DEL, not starting or ending with space or
 * tab), else -EINVAL: a CR or LF would let a secret's value add headers. */
#define INJECT_VALUE_MAX 8192
int inject_value_check(const uint8_t *value, size_t len);

/* 0 if name is a header name to inject into: a token of at most
 * INJECT_HEADER_NAME_MAX characters that is not Host, Content-Length or
 * Transfer-Encoding (which frame and route the request). -EINVAL if not. */
int inject_header_check(const char *name);

/* Rewrites the request head at the start of buf (len bytes so far) sent in a
 * TLS session for server name sni, using secrets[0..n).
 *
 * Returns the number of bytes of buf the head took (through its empty line),
 * with the rewritten head in out[0..*ret_out_len) and the body's framing in
 * *ret_body (and its length in *ret_body_len for INJECT_BODY_LENGTH); or
 *   -EAGAIN       the head is not complete yet: call again with more bytes,
 *   -EBADMSG      malformed, longer than SNIFF_HEADERS_MAX, an HTTP/2
 *                 preface, a method that is not 1..15 upper-case letters, a Host other than sni, or framing a server could
 *                 read two ways (two Content-Lengths, both it and
 *                 Transfer-Encoding, a coding other than chunked),
 *   -EACCES       a placeholder where it may not be: *ret_secret is the index
 *                 of the secret whose placeholder it is,
 *   -ENOBUFS      the rewritten head does not fit out_size bytes.
 * Outputs are written only when the result is not negative (and *ret_secret
 * for -EACCES). */
int inject_request(const uint8_t *buf, size_t len, const char *sni, const struct inject_secret *secrets,
                   size_t n, uint8_t *out, size_t out_size, size_t *ret_out_len, enum inject_body *ret_body,
                   uint64_t *ret_body_len, size_t *ret_secret);

/* For proxy hooks: the method and path (the target without query or
 * fragment, cut to INJECT_PATH_MAX bytes; an absolute URI's path; "/" for
 * none) of a head inject_request accepted, in head[0..len) (its result).
 * Outputs are NUL-terminated; left "" when the line has no such parts. */
#define INJECT_METHOD_MAX 15
#define INJECT_PATH_MAX 255
void inject_request_line(const uint8_t *head, size_t len, char method[INJECT_METHOD_MAX + 1],
                         char path[INJECT_PATH_MAX + 1]);

/* The status code of a server's first answer bytes b[0..n) ("HTTP/1.x
 * NNN"), or 0 when they do not start so. */
int inject_answer_status(const uint8_t *b, size_t n);

#ifdef __cplusplus
}
#endif
