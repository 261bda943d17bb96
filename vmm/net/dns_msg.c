#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "vmm/net/dns_msg.h"

#define HDR 12
#define F_QR 0x8000
#define F_OPCODE 0x7800
#define F_TC 0x0200
#define F_RD 0x0100
#define F_RA 0x0080

static uint16_t get16(const uint8_t *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
}

int dns_name_read(const uint8_t *msg, size_t len, size_t *off, char out[DNS_NAME_MAX + 1])
{
        size_t p = *off, o = 0, wire = 0, after = 0;
        unsigned jumps = 0;
        for (;;) {
                if (p >= len)
                        return -EBADMSG;
                uint8_t l = msg[p];
                if ((l & 0xc0) == 0xc0) {
                        if (p + 1 >= len || ++jumps > DNS_MSG_MAX_JUMPS)
                                return -EBADMSG;
                        if (!after)
                                after = p + 2;
                        p = (size_t)(l & 0x3f) << 8 | msg[p + 1];
                        continue;
                }
                if (l & 0xc0) /* 0x40, 0x80: extended label types, not used */
                        return -EBADMSG;
                wire += 1u + l;
                if (wire > DNS_NAME_MAX)
                        return -EBADMSG;
                if (l == 0)
                        break;
                if (p + 1 + l > len)
                        return -EBADMSG;
                if (o)
                        out[o++] = '.';
                for (size_t i = 0; i < l; i++) {
                        uint8_t c = msg[p + 1 + i];
                        /* A '.' or NUL inside a label would change the name's meaning as text. */
                        if (c == '.' || c == 0)
                                return -EBADMSG;
                        out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
                }
                p += 1u + l;
        }
        out[o] = 0;
        *off = after ? after : p + 1;
        return 0;
}

/* text (lowercase, no trailing dot) in wire form at out: its length or -ENOSPC. */
static int name_write(const char *text, uint8_t *out, size_t cap)
{
        size_t o = 0;
        for (const char *s = text; *s;) {
                const char *dot = strchr(s, '.');
                size_t l = dot ? (size_t)(dot - s) : strlen(s);
                if (l == 0 || l > 63 || o + 1 + l >= cap)
                        return -ENOSPC;
                out[o++] = (uint8_t)l;
                memcpy(out + o, s, l);
                o += l;
                s += l + (dot ? 1 : 0);
        }
        if (o + 1 > cap)
                return -ENOSPC;
        out[o++] = 0;
        return (int)o;
}

static int question_read(const uint8_t *msg, size_t len, size_t *off, struct dns_question *q)
{
        int r;
        if ((r = dns_name_read(msg, len, off, q->name)) < 0)
                return r;
        if (*off + 4 > len)
                return -EBADMSG;
        q->type = get16(msg + *off);
        q->klass = get16(msg + *off + 2);
        *off += 4;
        return 0;
}

int dns_msg_parse_query(const uint8_t *msg, size_t len, struct dns_query *ret)
{
        struct dns_query q;
        size_t off = HDR;
        int r;
        if (len < HDR)
                return -EBADMSG;
        q.id = get16(msg);
        q.flags = get16(msg + 2);
        if ((q.flags & F_QR) || (q.flags & F_OPCODE) || get16(msg + 4) != 1)
                return -EOPNOTSUPP;
        if ((r = question_read(msg, len, &off, &q.q)) < 0)
                return r;
        q.end = off;
        *ret = q;
        return 0;
}

/* Skips a record's owner name; reads its type, class, ttl and rdata span. */
static int rr_read(const uint8_t *msg, size_t len, size_t *off, char owner[DNS_NAME_MAX + 1], uint16_t *type,
                   uint32_t *ttl, size_t *rdata, uint16_t *rdlen)
{
        int r;
        if ((r = dns_name_read(msg, len, off, owner)) < 0)
                return r;
        if (*off + 10 > len)
                return -EBADMSG;
        *type = get16(msg + *off);
        *ttl = get32(msg + *off + 4);
        *rdlen = get16(msg + *off + 8);
        *rdata = *off + 10;
        if (*rdata + *rdlen > len)
                return -EBADMSG;
        *off = *rdata + *rdlen;
        return 0;
}

/* Whether owner is the question's name or one of the CNAME targets so far. */
static int in_chain(const struct dns_answer *a, const char *owner)
{
        if (strcmp(owner, a->q.name) == 0)
                return 1;
        for (size_t i = 0; i < a->n_cnames; i++)
                if (strcmp(owner, a->cnames[i]) == 0)
                        return 1;
        return 0;
}

/* One answer record: a CNAME from the chain extends it (when !addrs), an
 * A/AAAA owned by the chain is taken (when addrs). */
static int answer_rr(const uint8_t *msg, size_t len, size_t *off, struct dns_answer *a, int addrs)
{
        char owner[DNS_NAME_MAX + 1], target[DNS_NAME_MAX + 1];
        uint16_t type, rdlen;
        uint32_t ttl;
        size_t rdata;
        int r;
        if ((r = rr_read(msg, len, off, owner, &type, &ttl, &rdata, &rdlen)) < 0)
                return r;
        if ((type == DNS_TYPE_A && rdlen != 4) || (type == DNS_TYPE_AAAA && rdlen != 16))
                return -EBADMSG;
        if (!in_chain(a, owner))
                return 0;
        if (ttl > 0x7fffffff) /* RFC 2181 8: a TTL with the top bit set is 0 */
                ttl = 0;
        if (type == DNS_TYPE_CNAME && !addrs) {
                size_t p = rdata;
                if ((r = dns_name_read(msg, len, &p, target)) < 0 || p != rdata + rdlen)
                        return -EBADMSG;
                if (in_chain(a, target) || a->n_cnames >= DNS_MSG_MAX_CNAMES)
                        return 0;
                memcpy(a->cnames[a->n_cnames], target, sizeof(target));
                if (a->n_cnames == 0 || ttl < a->cname_ttl)
                        a->cname_ttl = ttl;
                a->n_cnames++;
        } else if ((type == DNS_TYPE_A || type == DNS_TYPE_AAAA) && addrs && a->n_addrs < DNS_MSG_MAX_ADDRS) {
                struct dns_addr *d = &a->addrs[a->n_addrs++];
                d->family = type == DNS_TYPE_A ? AF_INET : AF_INET6;
                memset(d->bytes, 0, sizeof(d->bytes));
                memcpy(d->bytes, msg + rdata, rdlen);
                d->ttl = ttl;
        }
        return 0;
}

static int answer_pass(const uint8_t *msg, size_t len, size_t off, uint16_t an, struct dns_answer *a, int addrs)
{
        int r;
        for (uint16_t i = 0; i < an; i++)
                if ((r = answer_rr(msg, len, &off, a, addrs)) < 0)
                        return r;
        return 0;
}

int dns_msg_parse_answer(const uint8_t *msg, size_t len, struct dns_answer *ret)
{
        size_t off = HDR;
        int r;
        if (len < HDR)
                return -EBADMSG;
        memset(ret, 0, sizeof(*ret));
        ret->id = get16(msg);
        ret->flags = get16(msg + 2);
        ret->rcode = ret->flags & 0xf;
        ret->truncated = !!(ret->flags & F_TC);
        if (!(ret->flags & F_QR) || get16(msg + 4) != 1)
                return -EBADMSG;
        uint16_t an = get16(msg + 6);
        if ((r = question_read(msg, len, &off, &ret->q)) < 0)
                return r;
        /* Records may come in any order: follow the chain until it stops
         * growing (at most DNS_MSG_MAX_CNAMES links), then take addresses. */
        for (size_t before = (size_t)-1; before != ret->n_cnames;) {
                before = ret->n_cnames;
                if ((r = answer_pass(msg, len, off, an, ret, 0)) < 0)
                        return r;
        }
        return answer_pass(msg, len, off, an, ret, 1);
}

int dns_msg_build_query(uint16_t id, uint16_t flags, const struct dns_question *q, uint8_t *out, size_t cap)
{
        if (cap < HDR + 4)
                return -ENOSPC;
        memset(out, 0, HDR);
        put16(out, id);
        put16(out + 2, flags & F_RD);
        put16(out + 4, 1);
        int n = name_write(q->name, out + HDR, cap - HDR - 4);
        if (n < 0)
                return n;
        put16(out + HDR + n, q->type);
        put16(out + HDR + n + 2, q->klass);
        return HDR + n + 4;
}

int dns_msg_build_error(const struct dns_query *query, uint8_t rcode, uint8_t *out, size_t cap)
{
        int n = dns_msg_build_query(query->id, query->flags, &query->q, out, cap);
        if (n < 0)
                return n;
        put16(out + 2, (uint16_t)(F_QR | (query->flags & F_RD) | F_RA | (rcode & 0xf)));
        return n;
}

/* One record at out+o: owner, type, class IN, ttl, rdata. */
static int rr_write(uint8_t *out, size_t cap, size_t o, const char *owner, uint16_t type, uint32_t ttl,
                    const uint8_t *rdata, size_t rdlen)
{
        int n = name_write(owner, out + o, cap - o);
        if (n < 0 || o + (size_t)n + 10 + rdlen > cap)
                return -ENOSPC;
        o += (size_t)n;
        put16(out + o, type);
        put16(out + o + 2, DNS_CLASS_IN);
        put16(out + o + 4, (uint16_t)(ttl >> 16));
        put16(out + o + 6, (uint16_t)ttl);
        put16(out + o + 8, (uint16_t)rdlen);
        memcpy(out + o + 10, rdata, rdlen);
        return n + 10 + (int)rdlen;
}

int dns_msg_build_answer(const struct dns_query *query, const struct dns_answer *a, const uint8_t *keep,
                         uint8_t *out, size_t cap)
{
        int n = dns_msg_build_error(query, a->rcode, out, cap);
        if (n < 0)
                return n;
        size_t o = (size_t)n;
        uint16_t count = 0;
        const char *owner = query->q.name;
        for (size_t i = 0; i < a->n_cnames; i++, count++) {
                uint8_t rdata[DNS_NAME_MAX + 1];
                int l = name_write(a->cnames[i], rdata, sizeof(rdata)), w;
                if (l < 0 || (w = rr_write(out, cap, o, owner, DNS_TYPE_CNAME, a->cname_ttl, rdata,
                                           (size_t)l)) < 0)
                        return -ENOSPC;
                o += (size_t)w;
                owner = a->cnames[i];
        }
        for (size_t i = 0; i < a->n_addrs; i++) {
                const struct dns_addr *d = &a->addrs[i];
                if (!keep[i])
                        continue;
                int w = rr_write(out, cap, o, owner, d->family == AF_INET ? DNS_TYPE_A : DNS_TYPE_AAAA, d->ttl,
                                 d->bytes, d->family == AF_INET ? 4 : 16);
                if (w < 0)
                        return w;
                o += (size_t)w;
                count++;
        }
        put16(out + 6, count);
        return (int)o;
}
