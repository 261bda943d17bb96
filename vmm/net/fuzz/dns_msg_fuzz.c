/* libFuzzer target: vmm/net/dns_msg.c, which reads a guest's queries and
 * upstreams' answers. The input is parsed as both. A parsed query rebuilt
 * as an error must parse again to the same question; a parsed answer
 * rebuilt for that question (every address kept) must parse again with
 * the same chain and addresses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/net/dns_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[DNS_MSG_MAX];

static void check_query(const struct dns_query *q)
{
        int n = dns_msg_build_error(q, DNS_RCODE_NXDOMAIN, out, sizeof(out));
        if (n < 0)
                return; /* a name we read but cannot write (a label > 63 through pointers is refused) */
        struct dns_answer *a = malloc(sizeof(*a));
        if (!a || dns_msg_parse_answer(out, (size_t)n, a) != 0 || a->rcode != DNS_RCODE_NXDOMAIN ||
            strcmp(a->q.name, q->q.name) != 0 || a->q.type != q->q.type || a->n_addrs != 0)
                abort();
        free(a);
}

static void check_answer(const struct dns_answer *a)
{
        struct dns_query q = { .id = a->id, .flags = 0x0100, .q = a->q };
        uint8_t keep[DNS_MSG_MAX_ADDRS];
        memset(keep, 1, sizeof(keep));
        int n = dns_msg_build_answer(&q, a, keep, out, sizeof(out));
        if (n < 0)
                return;
        struct dns_answer *b = malloc(sizeof(*b));
        if (!b || dns_msg_parse_answer(out, (size_t)n, b) != 0 || b->n_cnames != a->n_cnames ||
            b->n_addrs != a->n_addrs)
                abort();
        for (size_t i = 0; i < a->n_addrs; i++)
                if (memcmp(&a->addrs[i], &b->addrs[i], sizeof(a->addrs[i])) != 0)
                        abort();
        free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct dns_query q;
        if (dns_msg_parse_query(data, size, &q) == 0)
                check_query(&q);
        struct dns_answer *a = malloc(sizeof(*a));
        if (a && dns_msg_parse_answer(data, size, a) == 0)
                check_answer(a);
        free(a);
        return 0;
}
