/* DNS messages (RFC 1035) as a VM's resolver sees them: queries from the
 * guest and answers from upstream resolvers, both outside bytes. Every
 * length, offset and compression pointer is checked against the message;
 * a pointer chain is bounded (DNS_MSG_MAX_JUMPS) so a loop ends.
 *
 * Pure functions, thread-safe, no allocation. */
#pragma once

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DNS_MSG_MAX 65535     /* a message over TCP; UDP ones are smaller */
#define DNS_MSG_UDP_MAX 4096  /* what we read or send over UDP */
#define DNS_NAME_MAX 255      /* wire form; the text form is at most 253 */
#define DNS_MSG_MAX_JUMPS 32
#define DNS_MSG_MAX_ADDRS 32  /* addresses kept from one answer */
#define DNS_MSG_MAX_CNAMES 16 /* CNAME records followed in one answer */

enum {
        DNS_TYPE_A = 1,
        DNS_TYPE_CNAME = 5,
        DNS_TYPE_TXT = 16,
        DNS_TYPE_AAAA = 28,
        DNS_CLASS_IN = 1,
        DNS_RCODE_NOERROR = 0,
        DNS_RCODE_SERVFAIL = 2,
        DNS_RCODE_NXDOMAIN = 3,
        DNS_RCODE_REFUSED = 5,
};

struct dns_question {
        char name[DNS_NAME_MAX + 1]; /* lowercase text, no trailing dot; "" for the root */
        uint16_t type, klass;
};

/* A query: the header's id and flags and its one question. */
struct dns_query {
        uint16_t id, flags;
        struct dns_question q;
        size_t end; /* the offset after the question */
};

struct dns_addr {
        int family;        /* AF_INET or AF_INET6 */
        uint8_t bytes[16];
        uint32_t ttl;
};

/* An answer to a query, read for the resolver: only what the question's
 * name leads to (itself and the CNAME chain from it, in the answer section)
 * is taken. */
struct dns_answer {
        uint16_t id, flags;
        uint8_t rcode;
        struct dns_question q;
        size_t n_addrs;
        struct dns_addr addrs[DNS_MSG_MAX_ADDRS];
        size_t n_cnames;
        char cnames[DNS_MSG_MAX_CNAMES][DNS_NAME_MAX + 1]; /* targets, in order */
        uint32_t cname_ttl;                                /* the smallest CNAME TTL */
        int truncated;                                     /* TC was set */
};

/* A name at *off in msg into text (lowercased); *off moves past it (past
 * the first pointer, if any). 0, or -EBADMSG. */
int dns_name_read(const uint8_t *msg, size_t len, size_t *off, char out[DNS_NAME_MAX + 1]);

/* A query with one question (QR clear, opcode QUERY). 0, -EBADMSG for a
 * malformed message, -EOPNOTSUPP for a valid one we do not serve (not one
 * question, another opcode, a response). */
int dns_msg_parse_query(const uint8_t *msg, size_t len, struct dns_query *ret);

/* An upstream's answer: 0 with ret filled, -EBADMSG. The caller checks the
 * id and question against what it sent. */
int dns_msg_parse_answer(const uint8_t *msg, size_t len, struct dns_answer *ret);

/* A query for q with id and flags (RD kept) into out: its length, or
 * -ENOSPC. */
int dns_msg_build_query(uint16_t id, uint16_t flags, const struct dns_question *q, uint8_t *out, size_t cap);

/* A response to query with rcode and no records: its length, or -ENOSPC. */
int dns_msg_build_error(const struct dns_query *query, uint8_t rcode, uint8_t *out, size_t cap);

/* A response to query rebuilt from a: its question, the CNAME chain, then
 * the addresses for which keep[i] is nonzero (names uncompressed; nothing
 * else from upstream reaches the guest). Its length, or -ENOSPC. */
int dns_msg_build_answer(const struct dns_query *query, const struct dns_answer *a, const uint8_t *keep,
                         uint8_t *out, size_t cap);

#ifdef __cplusplus
}
#endif
