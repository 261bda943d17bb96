/* The host name a guest's TCP stream names in its first bytes: the
 * server_name of a TLS ClientHello, or the Host of an HTTP/1.x request.
 *
 * The bytes come from a hostile guest. The parsers read only buf[0..len),
 * allocate nothing, keep no state between calls (call again with the longer
 * buffer when they ask for more) and are strict: anything a server might
 * read differently from us (two server_name entries, two Host headers, an
 * absolute-form URI naming another host than Host, obsolete line folding,
 * bare LF, a name with characters no host name has) is malformed, and the
 * caller refuses the connection.
 *
 * TLS: TLS 1.0-1.3 record framing (record version 3.1-3.4, first record may
 * say 3.0 or 3.1), a ClientHello fragmented across handshake records is
 * reassembled up to SNIFF_HELLO_MAX bytes, GREASE values are unknown
 * extensions and skipped. With Encrypted Client Hello the name found is the
 * outer (public) SNI, which is the server the connection reaches. SSLv2
 * hellos are not TLS here (SNIFF_OTHER).
 *
 * What no parser of the first bytes can see: the HTTP Host inside a TLS
 * session (fronting with an allowed SNI and another Host inside needs TLS
 * interception), and the second request on a kept-alive plain HTTP
 * connection (only the first request's Host is checked). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SNIFF_NAME_MAX 256      /* a name of up to 253 characters + NUL */
#define SNIFF_HELLO_MAX 16384   /* the largest ClientHello reassembled */
#define SNIFF_HEADERS_MAX 16384 /* the largest HTTP request head (line + headers) read */

enum sniff_proto {
        SNIFF_OTHER = 0, /* neither TLS nor HTTP/1.x */
        SNIFF_TLS,
        SNIFF_HTTP,
};

enum sniff_status {
        SNIFF_NAME = 1, /* a name was found: name[] holds it, lowercase, no port, no trailing dot */
        SNIFF_NONE = 0, /* complete, and it names no host (no SNI; HTTP/1.0 without Host; other protocol) */
};

/* Returns SNIFF_NAME, SNIFF_NONE, -EAGAIN when the answer needs more bytes
 * than len (call again when more arrived), or -EBADMSG when malformed or
 * larger than the bounds above. name (SNIFF_NAME_MAX bytes) is written only
 * for SNIFF_NAME. */
int sniff_tls(const uint8_t *buf, size_t len, char name[SNIFF_NAME_MAX]);
int sniff_http(const uint8_t *buf, size_t len, char name[SNIFF_NAME_MAX]);

/* Which of the two the first bytes are (-EAGAIN when too few bytes tell),
 * then that parser. *ret_proto is written whenever the protocol is known,
 * even when the result is -EAGAIN or -EBADMSG. */
int sniff(const uint8_t *buf, size_t len, enum sniff_proto *ret_proto, char name[SNIFF_NAME_MAX]);

/* Checks and normalises a host name (letters, digits, '-', '_', '.'; labels
 * of 1-63; at most 253 characters, one trailing dot dropped) or an IPv6
 * literal in brackets (kept with its brackets), lowercase into out.
 * 0 or -EBADMSG. */
int sniff_host_name(const char *s, size_t n, char out[SNIFF_NAME_MAX]);

const char *sniff_proto_name(enum sniff_proto p);

#ifdef __cplusplus
}
#endif
