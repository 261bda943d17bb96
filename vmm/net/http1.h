/* HTTP/1.1 message framing (RFC 9112 section 6) for the secrets' relay
 * (issue 19), which carries several requests per guest connection and
 * several exchanges per pooled server connection: where a request or a
 * response ends is what decides that the next bytes are the next message,
 * so anything two readers could frame differently is refused (request
 * smuggling, response splitting).
 *
 * Both sides' bytes are hostile: the guest's requests and the server's
 * answers. Every size has a limit (HTTP1_*_MAX), lines end in CRLF only
 * (a bare CR or LF is refused), obsolete line folding is refused, and so
 * are: Content-Length and Transfer-Encoding together, two Content-Lengths
 * that differ, a Content-Length that is not digits, a request whose
 * Transfer-Encoding does not end in chunked, Transfer-Encoding in HTTP/1.0.
 *
 * Nothing here allocates or keeps state beyond the caller's structs.
 * Thread-safety: pure functions over their arguments. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HTTP1_HEAD_MAX 16384     /* a request or response head, start line to empty line */
#define HTTP1_FIELDS_MAX 128     /* header lines per head */
#define HTTP1_CHUNK_LINE_MAX 1024 /* a chunk-size line with its extensions */
#define HTTP1_TRAILERS_MAX 16384 /* a chunked body's trailer section */
#define HTTP1_LENGTH_MAX 0xFFFFFFFFFFFFull /* Content-Length or one chunk: at most 2^48 - 1 */

enum http1_framing {
        HTTP1_BODY_NONE = 0, /* the message ends with its head */
        HTTP1_BODY_LENGTH,   /* Content-Length bytes */
        HTTP1_BODY_CHUNKED,  /* chunked, with trailers */
        HTTP1_BODY_CLOSE,    /* until the server closes (responses only) */
};

struct http1_head {
        size_t head_len;   /* bytes through the empty line */
        int minor;         /* HTTP/1.<minor>: 0 or 1 */
        int status;        /* responses: 100..599; requests: 0 */
        char method[16];   /* requests: "GET"...; responses: "" */
        enum http1_framing framing;
        uint64_t length;   /* for HTTP1_BODY_LENGTH */
        bool conn_close;   /* Connection: close */
        bool conn_keep_alive;
        bool conn_other;   /* a Connection token other than close and keep-alive (upgrade, a header name) */
        bool upgrade;      /* an Upgrade header */
        bool expect_continue;
};

/* Parses the request head at b[0..n). 0 with *ret filled, or -EAGAIN (no
 * empty line yet: read more), -E2BIG (longer than HTTP1_HEAD_MAX or more
 * than HTTP1_FIELDS_MAX fields), -EBADMSG (malformed or ambiguous, above).
 * A request's body is Content-Length or chunked, else none. */
int http1_parse_request(const uint8_t *b, size_t n, struct http1_head *ret);

/* Parses the response head at b[0..n) to a request whose method was
 * request_method ("HEAD" answers have no body, nor have 1xx, 204 and 304;
 * a 2xx to CONNECT is a tunnel: HTTP1_BODY_CLOSE). Results as above. */
int http1_parse_response(const uint8_t *b, size_t n, const char *request_method, struct http1_head *ret);

/* Whether the connection may carry another message after this one, by the
 * head's version and Connection header alone. */
bool http1_keep_alive(const struct http1_head *h);

/* Where a message's body ends, fed as its bytes arrive. */
struct http1_body {
        enum http1_framing framing;
        uint64_t left;       /* of the Content-Length, or of the current chunk */
        int state;
        size_t line;         /* bytes of the current chunk-size or trailer line */
        size_t trailers;     /* bytes of the trailer section so far */
};

void http1_body_init(struct http1_body *body, const struct http1_head *h);

/* Consumes p[0..n) of the body: 1 when the message ended within them
 * (*ret_used says how many were its own; the rest is the next message's),
 * 0 when all n were the body's and more is to come, -EBADMSG for a chunk
 * framing error or a limit passed (*ret_used undefined). A close-delimited
 * body never ends here (the caller sees the close). */
int http1_body_feed(struct http1_body *body, const uint8_t *p, size_t n, size_t *ret_used);

/* Whether the body is complete (a NONE body at once). */
bool http1_body_done(const struct http1_body *body);

#ifdef __cplusplus
}
#endif
