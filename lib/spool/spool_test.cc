// The spool: durable appends, group commit, recovery from torn tails and
// damage, limits, release, and a real full disk (a small tmpfs, as root).
#include "lib/spool/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "lib/spool/crc32c.h"
#include "lib/spool/testing/spool_util.h"
#include "tests/testing/test_util.h"

namespace {

using aktest::TempDir;
using namespace spool_test;

TEST(Crc32c, KnownValues)
{
        EXPECT_EQ(0xe3069283u, crc32c("123456789", 9));
        EXPECT_EQ(0u, crc32c("", 0));
        EXPECT_EQ(crc32c("123456789", 9), crc32c_extend(crc32c("1234", 4), "56789", 5));
}

TEST(Spool, AppendReadReopen)
{
        TempDir dir;
        struct spool *s = Open(dir / "spool");
        uint64_t first;
        ASSERT_EQ(0, Append(s, {Rec(1), Rec(2)}, &first));
        EXPECT_EQ(1u, first);
        ASSERT_EQ(0, Append(s, {Rec(3)}, &first));
        EXPECT_EQ(3u, first);
        auto all = ReadAll(s);
        ASSERT_EQ(3u, all.size());
        for (int i = 0; i < 3; i++) {
                EXPECT_EQ((uint64_t)i + 1, all[i].first);
                EXPECT_EQ(Rec(i + 1), all[i].second);
        }
        auto from2 = ReadAll(s, 2);
        ASSERT_EQ(2u, from2.size());
        EXPECT_EQ(2u, from2[0].first);
        spool_free(s);

        s = Open(dir / "spool");
        struct spool_stats st;
        spool_stats(s, &st);
        EXPECT_EQ(4u, st.next_position);
        EXPECT_EQ(1u, st.oldest_position);
        EXPECT_EQ(0u, st.truncated_bytes);
        EXPECT_EQ(3u, ReadAll(s).size());
        ASSERT_EQ(0, Append(s, {Rec(4)}, &first));
        EXPECT_EQ(4u, first);
        spool_free(s);
}

TEST(Spool, RefusesBadRecordsAndASecondOpener)
{
        TempDir dir;
        struct spool *s = Open(dir / "spool");
        std::string msg;
        EXPECT_EQ(-EINVAL, Append(s, {""}, nullptr, &msg));
        EXPECT_EQ("spool: record 0 has 0 bytes (1 to 1048576)", msg);
        EXPECT_EQ(-EINVAL, Append(s, {}, nullptr, &msg));
        struct spool *s2 = nullptr;
        struct ak_error err = {};
        EXPECT_EQ(-EBUSY, spool_open((dir / "spool").c_str(), nullptr, &s2, &err));
        EXPECT_NE(std::string::npos, std::string(err.msg).find("in use by another process"));
        spool_free(s);
}

bool AllZero(const std::string &s, size_t from)
{
        for (size_t i = from; i < s.size(); i++)
                if (s[i])
                        return false;
        return true;
}

// A crash can leave any prefix of the last, unacknowledged write on disk.
TEST(Spool, TornTailIsClearedAtEveryLength)
{
        TempDir dir;
        std::string sdir = dir / "spool";
        struct spool *s = Open(sdir, 0, 0, false);
        for (int i = 1; i <= 4; i++)
                ASSERT_EQ(0, Append(s, {Rec(i)}));
        spool_free(s);
        std::string seg = sdir + "/" + Segments(sdir).at(0);
        std::string good = aktest::ReadFile(seg);
        s = Open(sdir, 0, 0, false);
        ASSERT_EQ(0, Append(s, {Rec(5), Rec(6)}));
        spool_free(s);
        std::string full = aktest::ReadFile(seg);
        ASSERT_GT(full.size(), good.size());

        for (size_t len = good.size() + 1; len < full.size(); len++) {
                aktest::WriteFile(seg, full.substr(0, len));
                s = Open(sdir, 0, 0, false);
                // Record 5 may have made it whole before the cut (its batch was
                // never acknowledged, keeping it is allowed); record 6 did not.
                size_t rec5_end = good.size() + 16 + Rec(5).size();
                uint64_t kept = len >= rec5_end ? 5 : 4;
                size_t valid = kept == 5 ? rec5_end : good.size();
                struct spool_stats st;
                spool_stats(s, &st);
                EXPECT_EQ(kept + 1, st.next_position) << len;
                EXPECT_LE(st.truncated_bytes, len - valid) << len;
                EXPECT_EQ(kept, ReadAll(s).size()) << len;
                EXPECT_TRUE(AllZero(aktest::ReadFile(seg), valid)) << len;
                uint64_t first;
                ASSERT_EQ(0, Append(s, {Rec(7)}, &first));
                EXPECT_EQ(kept + 1, first);
                EXPECT_EQ(Rec(7), ReadAll(s).back().second);
                spool_free(s);
        }

        // Junk after the last good record (a torn write of garbage) is cleared too.
        aktest::WriteFile(seg, good + std::string(100, '\xa5'));
        s = Open(sdir, 0, 0, false);
        struct spool_stats st;
        spool_stats(s, &st);
        EXPECT_EQ(100u, st.truncated_bytes);
        EXPECT_EQ(4u, ReadAll(s).size());
        spool_free(s);
        std::string after = aktest::ReadFile(seg);
        EXPECT_EQ(good, after.substr(0, good.size()));
        EXPECT_TRUE(AllZero(after, good.size()));
}

// With preallocation, records overwrite zeros; a torn write leaves its bytes
// among them.
TEST(Spool, PreallocatedSegmentsRecover)
{
        TempDir dir;
        std::string sdir = dir / "spool";
        struct spool *s = Open(sdir, 0, 64 << 10);
        for (int i = 1; i <= 10; i++)
                ASSERT_EQ(0, Append(s, {Rec(i)}));
        struct spool_stats st;
        spool_stats(s, &st);
        EXPECT_EQ(64u << 10, st.bytes); // the whole preallocated segment
        spool_free(s);
        std::string seg = sdir + "/" + Segments(sdir).at(0);
        std::string bytes = aktest::ReadFile(seg);
        ASSERT_EQ(64u << 10, bytes.size());
        size_t valid = 16;
        for (int i = 1; i <= 10; i++)
                valid += 16 + Rec(i).size();
        EXPECT_TRUE(AllZero(bytes, valid));
        // A torn record 11: a header and half its payload.
        std::string torn = bytes.substr(16, 16 + Rec(1).size() / 2);
        bytes.replace(valid, torn.size(), torn);
        aktest::WriteFile(seg, bytes);

        s = Open(sdir, 0, 64 << 10);
        spool_stats(s, &st);
        EXPECT_EQ(11u, st.next_position);
        EXPECT_GT(st.truncated_bytes, 0u);
        EXPECT_EQ(10u, ReadAll(s).size());
        uint64_t first;
        ASSERT_EQ(0, Append(s, {"after"}, &first));
        EXPECT_EQ(11u, first);
        spool_free(s);
        s = Open(sdir, 0, 64 << 10);
        spool_stats(s, &st);
        EXPECT_EQ(0u, st.truncated_bytes);
        EXPECT_EQ(12u, st.next_position);
        EXPECT_EQ("after", ReadAll(s).back().second);

        // Rotation takes the spare the background thread made.
        for (int i = 0; i < 2000; i++)
                ASSERT_EQ(0, Append(s, {Rec(i)}));
        spool_free(s);
        auto segs = Segments(sdir);
        ASSERT_GE(segs.size(), 2u);
        EXPECT_EQ(64u << 10, aktest::ReadFile(sdir + "/" + segs[1]).size());
}


TEST(Spool, GroupCommitKeepsEveryBatchWholeAndInOrder)
{
        TempDir dir;
        struct spool *s = Open(dir / "spool", 0, 64 << 10);
        const int threads = 16, per = 60, batch = 5;
        std::vector<std::thread> ts;
        std::atomic<int> failures{0};
        std::vector<std::vector<uint64_t>> firsts(threads);
        for (int t = 0; t < threads; t++)
                ts.emplace_back([&, t] {
                        for (int i = 0; i < per; i++) {
                                std::vector<std::string> recs;
                                for (int k = 0; k < batch; k++)
                                        recs.push_back("t" + std::to_string(t) + "-" + std::to_string(i) + "-" +
                                                       std::to_string(k));
                                uint64_t first;
                                if (Append(s, recs, &first) != 0)
                                        failures++;
                                else
                                        firsts[t].push_back(first);
                        }
                });
        for (auto &t : ts)
                t.join();
        EXPECT_EQ(0, failures.load());
        auto all = ReadAll(s);
        ASSERT_EQ((size_t)threads * per * batch, all.size());
        for (size_t i = 0; i < all.size(); i++)
                EXPECT_EQ(i + 1, all[i].first);
        for (int t = 0; t < threads; t++)
                for (int i = 0; i < per; i++) {
                        uint64_t f = firsts[t][i];
                        for (int k = 0; k < batch; k++)
                                EXPECT_EQ("t" + std::to_string(t) + "-" + std::to_string(i) + "-" +
                                                  std::to_string(k),
                                          all[f - 1 + k].second);
                }
        struct spool_stats st;
        spool_stats(s, &st);
        EXPECT_EQ((uint64_t)threads * per * batch, st.committed_records);
        EXPECT_LE(st.commits, (uint64_t)threads * per);
        printf("group commit: %llu appends in %llu fsyncs\n", (unsigned long long)threads * per,
               (unsigned long long)st.commits);
        spool_free(s);
}

TEST(Spool, FullRefusesWithoutLosingAndReleaseFrees)
{
        TempDir dir;
        std::string sdir = dir / "spool";
        struct spool *s = Open(sdir, 64 << 10, 8 << 10);
        std::string big(900, 'e');
        uint64_t acked = 0, first;
        std::string msg;
        int r;
        while ((r = Append(s, {big + std::to_string(acked)}, &first, &msg)) == 0)
                acked++;
        EXPECT_EQ(-ENOSPC, r);
        EXPECT_NE(std::string::npos, msg.find("full")) << msg;
        struct spool_stats st;
        spool_stats(s, &st);
        EXPECT_LE(st.bytes, 64u << 10);
        EXPECT_EQ(acked + 1, st.next_position);
        // Still full; everything acknowledged is there.
        EXPECT_EQ(-ENOSPC, Append(s, {big}));
        auto all = ReadAll(s);
        ASSERT_EQ(acked, all.size());
        for (uint64_t i = 0; i < acked; i++)
                EXPECT_EQ(big + std::to_string(i), all[i].second);

        // A reader inside a released segment still reads it to its end.
        struct spool_reader *rd = nullptr;
        ASSERT_EQ(0, spool_reader_new(s, 1, &rd));
        uint64_t pos;
        const char *data;
        size_t len;
        ASSERT_EQ(1, spool_reader_next(rd, &pos, &data, &len));

        size_t before = Segments(sdir).size();
        uint64_t freed = spool_release(s, acked / 2);
        EXPECT_GT(freed, 0u);
        EXPECT_LT(Segments(sdir).size(), before);
        spool_stats(s, &st);
        EXPECT_GT(st.oldest_position, 1u);
        EXPECT_LE(st.oldest_position, acked / 2);
        uint64_t expect = 2;
        while (spool_reader_next(rd, &pos, &data, &len) == 1 && pos < st.oldest_position)
                EXPECT_EQ(expect++, pos);
        spool_reader_free(rd);

        EXPECT_EQ(0, Append(s, {big}, &first));
        EXPECT_EQ(acked + 1, first);
        // Nothing is released past what was delivered, and never the segment being written.
        spool_release(s, UINT64_MAX);
        EXPECT_EQ(1u, Segments(sdir).size());
        spool_free(s);
}

TEST(Spool, WaitWakesOnCommit)
{
        TempDir dir;
        struct spool *s = Open(dir / "spool");
        EXPECT_FALSE(spool_wait(s, 1, 50));
        std::thread t([&] {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                Append(s, {"x"});
        });
        EXPECT_TRUE(spool_wait(s, 1, 10000));
        t.join();
        spool_free(s);
}

// A real full disk: ENOSPC from write(2), with nothing acknowledged lost.
TEST(Spool, DiskFullIsResourceExhaustionNotLoss)
{
        TempDir dir;
        std::string mnt = dir / "mnt";
        mkdir(mnt.c_str(), 0700);
        if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=256k") != 0)
                GTEST_SKIP() << "DiskFullIsResourceExhaustionNotLoss needs root to mount a small tmpfs: "
                             << strerror(errno);
        std::string sdir = mnt + "/spool";
        {
                struct spool *s = Open(sdir, 1 << 30, 64 << 10);
                std::string rec(3000, 'd');
                uint64_t acked = 0;
                std::string msg;
                int r;
                while ((r = Append(s, {rec + std::to_string(acked), rec}, nullptr, &msg)) == 0)
                        acked += 2;
                EXPECT_EQ(-ENOSPC, r) << msg;
                EXPECT_NE(std::string::npos, msg.find("disk full")) << msg;
                while (Append(s, {rec}) == 0) // whatever room the failed pair left
                        acked++;
                EXPECT_EQ(-ENOSPC, Append(s, {rec}));
                EXPECT_EQ(acked, ReadAll(s).size());
                spool_free(s);
                s = Open(sdir, 1 << 30, 64 << 10);
                struct spool_stats st;
                spool_stats(s, &st);
                EXPECT_EQ(acked + 1, st.next_position);
                EXPECT_EQ(0u, st.truncated_bytes); // the failed write was taken back at once
                auto all = ReadAll(s);
                ASSERT_EQ(acked, all.size());
                EXPECT_EQ(rec + "0", all[0].second);
                spool_free(s);
        }
        EXPECT_EQ(0, umount2(mnt.c_str(), MNT_DETACH));
}

}  // namespace
