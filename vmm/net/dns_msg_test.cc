#include "vmm/net/dns_msg.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using Bytes = std::vector<uint8_t>;

void Put16(Bytes *b, uint16_t v)
{
        b->push_back(v >> 8);
        b->push_back(v & 0xff);
}

void Name(Bytes *b, const std::string &n)
{
        size_t s = 0;
        while (s < n.size()) {
                size_t dot = n.find('.', s);
                if (dot == std::string::npos)
                        dot = n.size();
                b->push_back((uint8_t)(dot - s));
                b->insert(b->end(), n.begin() + s, n.begin() + dot);
                s = dot + 1;
        }
        b->push_back(0);
}

Bytes Header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an)
{
        Bytes b;
        Put16(&b, id);
        Put16(&b, flags);
        Put16(&b, qd);
        Put16(&b, an);
        Put16(&b, 0);
        Put16(&b, 0);
        return b;
}

void Rr(Bytes *b, uint16_t owner_ptr, uint16_t type, uint32_t ttl, const Bytes &rdata)
{
        Put16(b, 0xc000 | owner_ptr);
        Put16(b, type);
        Put16(b, DNS_CLASS_IN);
        Put16(b, ttl >> 16);
        Put16(b, ttl & 0xffff);
        Put16(b, rdata.size());
        b->insert(b->end(), rdata.begin(), rdata.end());
}

TEST(DnsMsg, QueryParsedLowercased)
{
        Bytes q = Header(0x1234, 0x0100, 1, 0);
        Name(&q, "WWW.Example.com");
        Put16(&q, DNS_TYPE_A);
        Put16(&q, DNS_CLASS_IN);
        struct dns_query out;
        ASSERT_EQ(dns_msg_parse_query(q.data(), q.size(), &out), 0);
        EXPECT_EQ(out.id, 0x1234);
        EXPECT_STREQ(out.q.name, "www.example.com");
        EXPECT_EQ(out.q.type, DNS_TYPE_A);
        EXPECT_EQ(out.end, q.size());
        for (size_t cut = 0; cut < q.size(); cut++)
                EXPECT_EQ(dns_msg_parse_query(q.data(), cut, &out), -EBADMSG) << cut;
        q[2] |= 0x80; /* a response */
        EXPECT_EQ(dns_msg_parse_query(q.data(), q.size(), &out), -EOPNOTSUPP);
}

TEST(DnsMsg, BadNamesRefused)
{
        struct dns_query out;
        Bytes loop = Header(1, 0, 1, 0);
        Put16(&loop, 0xc00c); /* points at itself */
        Put16(&loop, 1);
        Put16(&loop, 1);
        EXPECT_EQ(dns_msg_parse_query(loop.data(), loop.size(), &out), -EBADMSG);
        Bytes dot = Header(1, 0, 1, 0);
        dot.insert(dot.end(), { 3, 'a', '.', 'b', 0, 0, 1, 0, 1 });
        EXPECT_EQ(dns_msg_parse_query(dot.data(), dot.size(), &out), -EBADMSG) << "a '.' inside a label";
        Bytes lng = Header(1, 0, 1, 0);
        for (int i = 0; i < 5; i++) {
                lng.push_back(63);
                lng.insert(lng.end(), 63, 'a');
        }
        lng.insert(lng.end(), { 0, 0, 1, 0, 1 });
        EXPECT_EQ(dns_msg_parse_query(lng.data(), lng.size(), &out), -EBADMSG) << "over 255 bytes";
}

/* www.example.com CNAME cdn.example.net, cdn A 198.18.0.1 and AAAA, plus an
 * A record for an unrelated owner (must be ignored). */
Bytes ChainAnswer(bool backwards)
{
        Bytes a = Header(0x4242, 0x8180, 1, 4);
        Name(&a, "www.example.com");
        Put16(&a, DNS_TYPE_A);
        Put16(&a, DNS_CLASS_IN);
        Bytes cname;
        Name(&cname, "cdn.example.net");
        Bytes other = Header(0, 0, 0, 0);
        other.clear();
        Name(&other, "evil.test");
        size_t cname_rr = a.size();
        if (!backwards)
                Rr(&a, 12, DNS_TYPE_CNAME, 300, cname);
        size_t cdn_off = backwards ? 0 : cname_rr + 12;
        if (backwards) {
                /* The target written out in full first, as an A record's owner. */
                cdn_off = a.size();
                a.insert(a.end(), cname.begin(), cname.end());
                Put16(&a, DNS_TYPE_A);
                Put16(&a, DNS_CLASS_IN);
                Put16(&a, 0);
                Put16(&a, 60);
                Put16(&a, 4);
                a.insert(a.end(), { 198, 18, 0, 1 });
                Rr(&a, 12, DNS_TYPE_CNAME, 300, cname);
        } else {
                Rr(&a, cdn_off, DNS_TYPE_A, 60, { 198, 18, 0, 1 });
        }
        Bytes v6(16, 0);
        v6[15] = 1;
        Rr(&a, cdn_off, DNS_TYPE_AAAA, 30, v6);
        size_t evil = a.size();
        a.insert(a.end(), other.begin(), other.end());
        (void)evil;
        Put16(&a, DNS_TYPE_A);
        Put16(&a, DNS_CLASS_IN);
        Put16(&a, 0);
        Put16(&a, 60);
        Put16(&a, 4);
        a.insert(a.end(), { 127, 0, 0, 1 });
        return a;
}

TEST(DnsMsg, AnswerFollowsCnameChainInAnyOrder)
{
        for (bool backwards : { false, true }) {
                Bytes a = ChainAnswer(backwards);
                struct dns_answer out;
                ASSERT_EQ(dns_msg_parse_answer(a.data(), a.size(), &out), 0) << backwards;
                EXPECT_EQ(out.id, 0x4242);
                ASSERT_EQ(out.n_cnames, 1u);
                EXPECT_STREQ(out.cnames[0], "cdn.example.net");
                EXPECT_EQ(out.cname_ttl, 300u);
                ASSERT_EQ(out.n_addrs, 2u) << "the unrelated owner's 127.0.0.1 must not be taken";
                const struct dns_addr *v4 = out.addrs[0].family == AF_INET ? &out.addrs[0] : &out.addrs[1];
                EXPECT_EQ(v4->bytes[0], 198);
                EXPECT_EQ(v4->ttl, 60u);
                for (size_t cut = 12; cut < a.size(); cut++) {
                        struct dns_answer t;
                        EXPECT_NE(dns_msg_parse_answer(a.data(), cut, &t), 0) << "cut at " << cut;
                }
        }
}

TEST(DnsMsg, RebuiltAnswerKeepsOnlyWhatIsKept)
{
        Bytes a = ChainAnswer(false);
        struct dns_answer in;
        ASSERT_EQ(dns_msg_parse_answer(a.data(), a.size(), &in), 0);
        struct dns_query q = { .id = 7, .flags = 0x0100, .q = in.q, .end = 0 };
        uint8_t keep[DNS_MSG_MAX_ADDRS] = { 0, 1 };
        uint8_t out[1024];
        int n = dns_msg_build_answer(&q, &in, keep, out, sizeof(out));
        ASSERT_GT(n, 0);
        struct dns_answer back;
        ASSERT_EQ(dns_msg_parse_answer(out, (size_t)n, &back), 0);
        EXPECT_EQ(back.id, 7);
        EXPECT_EQ(back.n_cnames, 1u);
        ASSERT_EQ(back.n_addrs, 1u);
        EXPECT_EQ(back.addrs[0].family, in.addrs[1].family);
        EXPECT_EQ(out[3] & 0xf, DNS_RCODE_NOERROR);
        EXPECT_EQ(dns_msg_build_answer(&q, &in, keep, out, 20), -ENOSPC);
}

TEST(DnsMsg, ErrorEchoesQuestion)
{
        struct dns_query q = {};
        q.id = 99;
        q.flags = 0x0100;
        snprintf(q.q.name, sizeof(q.q.name), "other.test");
        q.q.type = DNS_TYPE_A;
        q.q.klass = DNS_CLASS_IN;
        uint8_t out[512];
        int n = dns_msg_build_error(&q, DNS_RCODE_NXDOMAIN, out, sizeof(out));
        ASSERT_GT(n, 0);
        struct dns_answer a;
        ASSERT_EQ(dns_msg_parse_answer(out, (size_t)n, &a), 0);
        EXPECT_EQ(a.rcode, DNS_RCODE_NXDOMAIN);
        EXPECT_STREQ(a.q.name, "other.test");
        EXPECT_EQ(a.id, 99);
        EXPECT_EQ(a.n_addrs, 0u);
}

} // namespace
