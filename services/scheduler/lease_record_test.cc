#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "services/scheduler/lease_record.h"
}

namespace {

int Parse(const std::string &s, lease_record *r, std::string *msg = nullptr)
{
        ak_error err;
        int rc = lease_record_parse(s.data(), s.size(), r, &err);
        if (rc < 0 && msg)
                *msg = err.msg;
        return rc;
}

TEST(LeaseTime, FormatsMicroTime)
{
        char b[32];
        ASSERT_EQ(0, lease_time_format(1765112710654321LL, b, sizeof(b)));
        EXPECT_STREQ("2025-12-07T13:05:10.654321Z", b);
        EXPECT_EQ(-EINVAL, lease_time_format(1, b, 27));
        EXPECT_EQ(-EINVAL, lease_time_format(-1, b, sizeof(b)));
}

TEST(LeaseTime, ParsesRfc3339)
{
        int64_t us;
        ASSERT_EQ(0, lease_time_parse("2025-12-07T13:05:10.654321Z", &us));
        EXPECT_EQ(1765112710654321LL, us);
        ASSERT_EQ(0, lease_time_parse("2025-12-07T14:05:10.6543219+01:00", &us));
        EXPECT_EQ(1765112710654321LL, us);
        ASSERT_EQ(0, lease_time_parse("2025-12-07T13:05:10Z", &us));
        EXPECT_EQ(1765112710000000LL, us);
        for (const char *bad : {"", "2025-12-07", "2025-12-07T13:05:10", "2025-13-07T13:05:10Z",
                                "2025-02-29T13:05:10Z", "2025-12-07T13:05:10.Z", "2025-12-07T13:05:10.1234567890Z",
                                "1969-12-31T23:59:59Z", "2025-12-07T13:05:10Z ", "2025-12-07T13:05:10+0100"})
                EXPECT_EQ(-EINVAL, lease_time_parse(bad, &us)) << bad;
}

TEST(LeaseRecord, ReadsWhatTheApiServerSends)
{
        lease_record r;
        ASSERT_EQ(0, Parse(R"({"kind":"Lease","apiVersion":"coordination.k8s.io/v1",
                "metadata":{"name":"ak-scheduler","namespace":"ak","resourceVersion":"812"},
                "spec":{"holderIdentity":"pod-a","leaseDurationSeconds":15,
                "acquireTime":"2025-12-07T13:00:00.000001Z","renewTime":"2025-12-07T13:05:10.654321Z",
                "leaseTransitions":4}})",
                           &r));
        EXPECT_STREQ("812", r.resource_version);
        EXPECT_STREQ("pod-a", r.holder);
        EXPECT_EQ(15u, r.duration_s);
        EXPECT_EQ(1765112710654321LL, r.renew_us);
        EXPECT_EQ(4u, r.transitions);
}

TEST(LeaseRecord, EmptySpecIsZero)
{
        lease_record r;
        ASSERT_EQ(0, Parse(R"({"metadata":{"resourceVersion":"1"},"spec":{"holderIdentity":null}})", &r));
        EXPECT_STREQ("", r.holder);
        EXPECT_EQ(0, r.renew_us);
        ASSERT_EQ(0, Parse(R"({"metadata":{"resourceVersion":"1"}})", &r));
}

TEST(LeaseRecord, RefusesWhatIsWrong)
{
        lease_record r;
        std::string msg;
        struct {
                const char *json, *says;
        } cases[] = {
                {"[]", "want an object"},
                {R"({"kind":"Status","metadata":{}})", "kind Status"},
                {R"({"spec":{}})", "metadata"},
                {R"({"metadata":{}})", "resourceVersion is missing"},
                {R"({"metadata":{"resourceVersion":1}})", "resourceVersion"},
                {R"({"metadata":{"resourceVersion":"1"},"spec":{"leaseDurationSeconds":-1}})", "leaseDurationSeconds"},
                {R"({"metadata":{"resourceVersion":"1"},"spec":{"leaseDurationSeconds":1e3}})", "leaseDurationSeconds"},
                {R"({"metadata":{"resourceVersion":"1"},"spec":{"leaseTransitions":4294967296}})", "leaseTransitions"},
                {R"({"metadata":{"resourceVersion":"1"},"spec":{"renewTime":"yesterday"}})", "renewTime"},
                {R"({"metadata":{"resourceVersion":"1"},"spec":{"holderIdentity":7}})", "holderIdentity"},
                {"{", "lease JSON:"},
        };
        for (auto &c : cases) {
                EXPECT_EQ(-EINVAL, Parse(c.json, &r, &msg)) << c.json;
                EXPECT_NE(std::string::npos, msg.find(c.says)) << msg;
        }
        std::string big = R"({"metadata":{"resourceVersion":"1"},"x":")" + std::string(LEASE_MAX_BODY, 'a') + "\"}";
        EXPECT_EQ(-E2BIG, Parse(big, &r, &msg));
        std::string holder = R"({"metadata":{"resourceVersion":"1"},"spec":{"holderIdentity":")" +
                             std::string(LEASE_HOLDER_SIZE, 'a') + "\"}}";
        EXPECT_EQ(-EINVAL, Parse(holder, &r, &msg));
}

TEST(LeaseRecord, WritesWhatItReads)
{
        lease_record r = {};
        snprintf(r.holder, sizeof(r.holder), "pod-b");
        r.duration_s = 10;
        r.acquire_us = 1765112710000001LL;
        r.renew_us = 1765112710654321LL;
        r.transitions = 2;
        char *json;
        size_t len;
        ASSERT_EQ(0, lease_record_write(&r, "ak", "ak-scheduler", &json, &len));
        EXPECT_STREQ(R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"ak-scheduler",)"
                     R"("namespace":"ak"},"spec":{"holderIdentity":"pod-b","leaseDurationSeconds":10,)"
                     R"("acquireTime":"2025-12-07T13:05:10.000001Z","renewTime":"2025-12-07T13:05:10.654321Z",)"
                     R"("leaseTransitions":2}})",
                     json);
        free(json);
        snprintf(r.resource_version, sizeof(r.resource_version), "99");
        ASSERT_EQ(0, lease_record_write(&r, "ak", "l", &json, &len));
        lease_record back;
        ASSERT_EQ(0, Parse(std::string(json, len), &back));
        EXPECT_STREQ("99", back.resource_version);
        EXPECT_EQ(r.renew_us, back.renew_us);
        EXPECT_EQ(r.acquire_us, back.acquire_us);
        free(json);
}

TEST(LeaseName, Checks)
{
        EXPECT_EQ(0, lease_check_name("ak-scheduler"));
        EXPECT_EQ(0, lease_check_name("a.b-c9"));
        for (const char *bad : {"", "-a", "a-", "A", "a/b", "a b", "a_b"})
                EXPECT_EQ(-EINVAL, lease_check_name(bad)) << bad;
        EXPECT_EQ(-EINVAL, lease_check_name(std::string(254, 'a').c_str()));
}

}  // namespace
