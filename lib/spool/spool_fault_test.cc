// The spool under faults: damage in the middle of a segment (recovery keeps
// every later record that checks out and quarantines the damaged bytes), a
// failed fsync (every later append is refused), and the directory syncs that
// make newly created files and directories durable.
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lib/spool/spool.h"
#include "lib/spool/testing/spool_util.h"
#include "tests/testing/test_util.h"

namespace {

using aktest::TempDir;
using namespace spool_test;

std::vector<std::string> Quarantined(const std::string &dir)
{
        std::vector<std::string> out;
        DIR *d = opendir(dir.c_str());
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (strstr(de->d_name, ".quarantine"))
                        out.push_back(de->d_name);
        if (d)
                closedir(d);
        std::sort(out.begin(), out.end());
        return out;
}

// Offset of record `n` (1-based) in a segment holding Rec(1), Rec(2), ...
size_t RecordOffset(int n)
{
        size_t off = SPOOL_SEGMENT_HEADER;
        for (int i = 1; i < n; i++)
                off += SPOOL_RECORD_HEADER + Rec(i).size();
        return off;
}

// 20 acknowledged records in the one (newest) segment; `damage` then breaks
// record 8 and, for some cases, 9. Recovery must keep every other record.
void CheckMidSegmentDamage(bool prealloc, const std::function<void(std::string &)> &damage,
                           const std::set<uint64_t> &lost)
{
        TempDir dir;
        std::string sdir = dir / "spool";
        struct spool *s = Open(sdir, 0, 0, prealloc);
        for (int i = 1; i <= 20; i++)
                ASSERT_EQ(0, Append(s, {Rec(i)}));
        spool_free(s);
        ASSERT_EQ(1u, Segments(sdir).size());
        std::string seg = sdir + "/" + Segments(sdir)[0];
        std::string bytes = aktest::ReadFile(seg);
        std::string before = bytes;
        damage(bytes);
        aktest::WriteFile(seg, bytes);

        s = Open(sdir, 0, 0, prealloc);
        ASSERT_NE(nullptr, s);
        auto all = ReadAll(s);
        std::vector<uint64_t> want;
        for (uint64_t i = 1; i <= 20; i++)
                if (!lost.count(i))
                        want.push_back(i);
        std::vector<uint64_t> got;
        for (auto &r : all) {
                got.push_back(r.first);
                EXPECT_EQ(Rec((int)r.first), r.second);
        }
        EXPECT_EQ(want, got);
        struct spool_stats st;
        spool_stats(s, &st);
        EXPECT_EQ(21u, st.next_position);
        EXPECT_EQ(lost.size(), st.lost_records);
        EXPECT_GT(st.corrupt_bytes, 0u);
        EXPECT_EQ(0u, st.truncated_bytes);
        EXPECT_EQ(1u, st.quarantine_files);
        // The damaged bytes are kept aside, not dropped.
        auto q = Quarantined(sdir);
        ASSERT_EQ(1u, q.size());
        std::string kept = aktest::ReadFile(sdir + "/" + q[0]);
        EXPECT_EQ(st.corrupt_bytes, kept.size());
        size_t at = RecordOffset(8);
        EXPECT_EQ(bytes.substr(at, kept.size()), kept);

        uint64_t first;
        ASSERT_EQ(0, Append(s, {"after"}, &first));
        EXPECT_EQ(21u, first);
        spool_free(s);

        // Repaired for good: the next open finds nothing wrong and keeps all.
        s = Open(sdir, 0, 0, prealloc);
        spool_stats(s, &st);
        EXPECT_EQ(0u, st.corrupt_bytes);
        EXPECT_EQ(0u, st.truncated_bytes);
        EXPECT_EQ(22u, st.next_position);
        all = ReadAll(s);
        ASSERT_EQ(want.size() + 1, all.size());
        EXPECT_EQ("after", all.back().second);
        EXPECT_EQ(1u, Quarantined(sdir).size());
        spool_free(s);
}

TEST(SpoolFault, MidSegmentPayloadDamageKeepsTheLaterAcknowledgedRecords)
{
        for (bool prealloc : {false, true}) {
                SCOPED_TRACE(prealloc ? "preallocated" : "not preallocated");
                CheckMidSegmentDamage(prealloc, [](std::string &b) { b[RecordOffset(8) + 20] ^= 0x01; }, {8});
        }
}

TEST(SpoolFault, MidSegmentHeaderDamageKeepsTheLaterAcknowledgedRecords)
{
        // A length that points past the next record: the scan must find the
        // next record by its own checked header, not by trusting this one.
        CheckMidSegmentDamage(true, [](std::string &b) { b[RecordOffset(8) + 1] ^= 0x01; }, {8});
}

TEST(SpoolFault, ZeroedRunOverTwoRecordsLosesOnlyThem)
{
        CheckMidSegmentDamage(
                false,
                [](std::string &b) {
                        size_t from = RecordOffset(8), to = RecordOffset(10);
                        b.replace(from, to - from, std::string(to - from, '\0'));
                },
                {8, 9});
}

// Damage again at the same offset (now record 9, after 8 was quarantined):
// a second quarantine file, the first is kept.
TEST(SpoolFault, QuarantineNeverOverwritesAnEarlierOne)
{
        TempDir dir;
        std::string sdir = dir / "spool";
        struct spool *s = Open(sdir, 0, 0, false);
        for (int i = 1; i <= 12; i++)
                ASSERT_EQ(0, Append(s, {Rec(i)}));
        spool_free(s);
        std::string seg = sdir + "/" + Segments(sdir)[0];
        for (int round = 0; round < 2; round++) {
                std::string bytes = aktest::ReadFile(seg);
                bytes[RecordOffset(8) + 20] ^= 0x01;
                aktest::WriteFile(seg, bytes);
                s = Open(sdir, 0, 0, false);
                auto all = ReadAll(s);
                EXPECT_EQ(11u - round, all.size());
                spool_free(s);
        }
        auto q = Quarantined(sdir);
        ASSERT_EQ(2u, q.size());
        EXPECT_NE(aktest::ReadFile(sdir + "/" + q[0]), aktest::ReadFile(sdir + "/" + q[1]));
}

TEST(SpoolFault, DamageInAnOlderSegmentKeepsItsLaterRecords)
{
        TempDir dir;
        std::string sdir = dir / "spool";
        struct spool *s = Open(sdir, 0, 4096);
        for (int i = 1; i <= 200; i++)
                ASSERT_EQ(0, Append(s, {Rec(i)}));
        spool_free(s);
        auto segs = Segments(sdir);
        ASSERT_GE(segs.size(), 3u);
        std::string path = sdir + "/" + segs[0];
        std::string bytes = aktest::ReadFile(path);
        bytes[RecordOffset(2) + 19] ^= 0x20;
        aktest::WriteFile(path, bytes);

        s = Open(sdir, 0, 4096);
        struct spool_stats st;
        spool_stats(s, &st);
        EXPECT_EQ(201u, st.next_position);
        EXPECT_EQ(1u, st.lost_records);
        auto all = ReadAll(s);
        ASSERT_EQ(199u, all.size());
        for (size_t i = 0; i < all.size(); i++) {
                EXPECT_EQ(i < 1 ? i + 1 : i + 2, all[i].first);
                EXPECT_EQ(Rec((int)all[i].first), all[i].second);
        }
        EXPECT_EQ(1u, Quarantined(sdir).size());
        spool_free(s);
}

// A seam in place of fsync/fdatasync: fails the next `fail` data syncs (as
// Linux reports a writeback error once, then syncs "succeed"), and records
// which directories were synced.
struct Seam {
        std::atomic<int> fail{0};
        std::atomic<int> data_syncs{0};
        std::mutex mu;
        std::set<ino_t> dirs;

        static int Sync(void *ctx, int fd, bool data_only)
        {
                auto *t = static_cast<Seam *>(ctx);
                struct stat st;
                if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
                        std::lock_guard<std::mutex> l(t->mu);
                        t->dirs.insert(st.st_ino);
                } else if (data_only) {
                        t->data_syncs++;
                        if (t->fail > 0) {
                                t->fail--;
                                return -EIO;
                        }
                }
                return 0;
        }
        bool Synced(const std::string &path)
        {
                struct stat st;
                std::lock_guard<std::mutex> l(mu);
                return stat(path.c_str(), &st) == 0 && dirs.count(st.st_ino);
        }
        struct spool_io io = { Sync, this };
};

TEST(SpoolFault, AFailedFsyncRefusesEveryLaterAppend)
{
        for (bool prealloc : {false, true}) {
                SCOPED_TRACE(prealloc ? "preallocated" : "not preallocated");
                TempDir dir;
                Seam seam;
                std::string sdir = dir / "spool";
                struct spool *s = Open(sdir, 0, 4096, prealloc, &seam.io);
                ASSERT_EQ(0, Append(s, {Rec(1)}));
                seam.fail = 1;  // once: the next sync "succeeds", the pages it dropped are gone
                std::string msg;
                EXPECT_EQ(-EIO, Append(s, {Rec(2)}, nullptr, &msg));
                EXPECT_EQ(0, seam.fail.load());
                for (int i = 0; i < 5; i++) {
                        EXPECT_EQ(-EIO, Append(s, {Rec(3)}, nullptr, &msg));
                        EXPECT_NE(std::string::npos, msg.find("failed fsync")) << msg;
                }
                // Also across a segment rotation.
                EXPECT_EQ(-EIO, Append(s, {std::string(5000, 'r')}, nullptr, &msg));
                struct spool_stats st;
                spool_stats(s, &st);
                EXPECT_EQ(2u, st.next_position);
                EXPECT_NE(0, st.broken);
                spool_free(s);
                // A restart (a new open) reads what is on disk and takes appends again.
                s = Open(sdir, 0, 4096, prealloc, &seam.io);
                uint64_t first;
                EXPECT_EQ(0, Append(s, {Rec(4)}, &first));
                EXPECT_EQ(2u, first);
                spool_free(s);
        }
}

TEST(SpoolFault, AFailedDirectorySyncRefusesLaterAppends)
{
        // Creating a segment syncs the directory; when that fails the segment
        // may vanish in a crash, so the spool refuses from then on.
        struct DirFail {
                std::atomic<bool> fail{false};
                static int Sync(void *ctx, int fd, bool data_only)
                {
                        struct stat st;
                        if (static_cast<DirFail *>(ctx)->fail && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
                                return -EIO;
                        return 0;
                }
        } df;
        struct spool_io io = { DirFail::Sync, &df };
        TempDir dir;
        struct spool *s = Open(dir / "spool", 0, 4096, false, &io);
        ASSERT_EQ(0, Append(s, {std::string(3000, 'a')}));
        df.fail = true;
        std::string msg;
        EXPECT_EQ(-EIO, Append(s, {std::string(3000, 'b')}, nullptr, &msg)) << msg;
        df.fail = false;
        EXPECT_EQ(-EIO, Append(s, {"c"}, nullptr, &msg));
        EXPECT_NE(std::string::npos, msg.find("failed fsync")) << msg;
        spool_free(s);
}

TEST(SpoolFault, CreatingTheSpoolSyncsEveryNewDirectorysParent)
{
        TempDir dir;
        Seam seam;
        std::string top = dir / "a", mid = top + "/b", sdir = mid + "/spool";
        struct spool *s = Open(sdir, 0, 4096, false, &seam.io);
        ASSERT_NE(nullptr, s);
        // Each directory made (a, a/b, a/b/spool) is an entry of its parent:
        // synced, or a crash can lose the spool with everything acknowledged in it.
        EXPECT_TRUE(seam.Synced(dir.path())) << "the parent of a/";
        EXPECT_TRUE(seam.Synced(top)) << "the parent of a/b/";
        EXPECT_TRUE(seam.Synced(mid)) << "the parent of a/b/spool/";
        EXPECT_TRUE(seam.Synced(sdir)) << "the spool directory (its first segment)";
        spool_free(s);
}

}  // namespace
