// The client side of `ak sandbox cp` (sandbox_cp_local.h): the guest's head
// line and the unpacking of a directory's tar, with hostile archives.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

extern "C" {
#include "cli/sandbox_cp_local.h"
#include "lib/base/fs.h"
}

namespace {

const std::string kSha(64, 'a');

int Parse(const std::string& s, sandbox_cp_head* h, std::string* why) {
  ak_error err = {};
  int r = sandbox_cp_parse_head(s.data(), s.size(), h, &err);
  *why = err.msg;
  return r;
}

TEST(SandboxCpHead, Good) {
  sandbox_cp_head h;
  std::string why;
  ASSERT_EQ(Parse("file 104857600 " + kSha + " 640 /root/big file\n", &h, &why), 0) << why;
  EXPECT_FALSE(h.dir);
  EXPECT_EQ(h.size, 104857600ull);
  EXPECT_EQ(std::string(h.sha256), kSha);
  EXPECT_EQ(h.mode, 0640u);
  EXPECT_STREQ(h.path, "/root/big file");
  ASSERT_EQ(Parse("dir 0 " + kSha + " 700 /tmp/.ak-cp.x/a.tar\n", &h, &why), 0) << why;
  EXPECT_TRUE(h.dir);
  EXPECT_EQ(h.size, 0ull);
}

TEST(SandboxCpHead, Bad) {
  sandbox_cp_head h;
  std::string why;
  const std::vector<std::string> bad = {
      "",
      "file 1 " + kSha + " 644 /x",                      // no newline
      "link 1 " + kSha + " 644 /x\n",                    // kind
      "file -1 " + kSha + " 644 /x\n",                   // size
      "file 1 " + std::string(64, 'A') + " 644 /x\n",    // upper-case hex
      "file 1 " + kSha.substr(1) + " 644 /x\n",          // short hash
      "file 1 " + kSha + " 648 /x\n",                    // not octal
      "file 1 " + kSha + " 17777 /x\n",                  // mode too long
      "file 1 " + kSha + " 644 x\n",                     // relative path
      "file 1 " + kSha + " 644 /x\nfile 1 " + kSha + " 644 /y\n",  // two lines
      "file 99999999999999999999 " + kSha + " 644 /x\n",
      std::string("file 1 ") + kSha + " 644 /x\0y\n",
  };
  for (const auto& s : bad) EXPECT_LT(Parse(s, &h, &why), 0) << s;
  EXPECT_EQ(Parse("file 68719476737 " + kSha + " 644 /x\n", &h, &why), -EFBIG);
  EXPECT_NE(why.find("copy limit"), std::string::npos) << why;
}

struct Entry {
  std::string name;
  mode_t type;  // AE_IFREG, AE_IFDIR, AE_IFLNK; hardlink when link set on a file
  unsigned perm;
  std::string data_or_link;
  bool hardlink = false;
};

class SandboxCpUnpack : public ::testing::Test {
 protected:
  void SetUp() override {
    char d[] = "/tmp/akcpu.XXXXXX";
    ASSERT_NE(mkdtemp(d), nullptr);
    dir_ = d;
  }
  void TearDown() override { ak_rm_rf(dir_.c_str()); }

  // Writes entries as a tar to a file; returns an fd at its start.
  int Tar(const std::vector<Entry>& entries) {
    std::string path = dir_ + "/a.tar";
    archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    EXPECT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
    for (const auto& e : entries) {
      archive_entry* ae = archive_entry_new();
      archive_entry_set_pathname(ae, e.name.c_str());
      archive_entry_set_filetype(ae, e.type);
      archive_entry_set_perm(ae, e.perm);
      if (e.hardlink) {
        archive_entry_set_hardlink(ae, e.data_or_link.c_str());
        archive_entry_set_size(ae, 0);
      } else if (e.type == AE_IFLNK) {
        archive_entry_set_symlink(ae, e.data_or_link.c_str());
      } else if (e.type == AE_IFREG) {
        archive_entry_set_size(ae, (la_int64_t)e.data_or_link.size());
      }
      EXPECT_EQ(archive_write_header(a, ae), ARCHIVE_OK);
      if (e.type == AE_IFREG && !e.hardlink)
        archive_write_data(a, e.data_or_link.data(), e.data_or_link.size());
      archive_entry_free(ae);
    }
    archive_write_close(a);
    archive_write_free(a);
    return open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }

  int Unpack(const std::vector<Entry>& entries, std::string* why) {
    int fd = Tar(entries);
    EXPECT_GE(fd, 0);
    ak_error err = {};
    int r = sandbox_cp_unpack(fd, (dir_ + "/out").c_str(), "sb:/t", &err);
    close(fd);
    *why = err.msg;
    return r;
  }

  std::string dir_;
};

TEST_F(SandboxCpUnpack, TreeModesAndSymlinks) {
  std::string why;
  ASSERT_EQ(Unpack({{"./", AE_IFDIR, 0755, ""},
                    {"./sub/", AE_IFDIR, 0711, ""},
                    {"./empty/", AE_IFDIR, 0700, ""},
                    {"./sub/x.sh", AE_IFREG, 0750, "echo\n"},
                    {"./out", AE_IFLNK, 0777, "/etc/passwd"},
                    {"./up", AE_IFLNK, 0777, "../../.."},
                    {"./hl", AE_IFREG, 0644, "./sub/x.sh", true}},
                   &why),
            0)
      << why;
  struct stat st;
  std::string o = dir_ + "/out";
  ASSERT_EQ(stat((o + "/sub/x.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  ASSERT_EQ(stat((o + "/sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
  ASSERT_EQ(stat((o + "/empty").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  char buf[64] = {};
  ASSERT_GT(readlink((o + "/out").c_str(), buf, sizeof(buf) - 1), 0);
  EXPECT_STREQ(buf, "/etc/passwd");
  ASSERT_EQ(lstat((o + "/up").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  ASSERT_EQ(stat((o + "/hl").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
}

TEST_F(SandboxCpUnpack, RefusesEscapes) {
  std::string why;
  EXPECT_EQ(Unpack({{"../evil", AE_IFREG, 0644, "x"}}, &why), -EPERM);
  EXPECT_NE(why.find("\"../evil\" leaving"), std::string::npos) << why;
  EXPECT_EQ(Unpack({{"a/../../evil", AE_IFREG, 0644, "x"}}, &why), -EPERM);
  EXPECT_EQ(Unpack({{"/tmp/evil", AE_IFREG, 0644, "x"}}, &why), -EPERM);
  EXPECT_EQ(Unpack({{"hl", AE_IFREG, 0644, "../../etc/passwd", true}}, &why), -EPERM);
  struct stat st;
  EXPECT_NE(stat((dir_ + "/evil").c_str(), &st), 0);
}

TEST_F(SandboxCpUnpack, DropsSetIdAndRefusesDevices) {
  std::string why;
  ASSERT_EQ(Unpack({{"suid", AE_IFREG, 06755, "x"}, {"sticky/", AE_IFDIR, 01777, ""}}, &why), 0) << why;
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/out/suid").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(stat((dir_ + "/out/sticky").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  EXPECT_EQ(Unpack({{"null", AE_IFCHR, 0666, ""}}, &why), -EPERM);
  EXPECT_NE(why.find("\"null\", neither a file"), std::string::npos) << why;
  EXPECT_EQ(Unpack({{"fifo", AE_IFIFO, 0644, ""}}, &why), -EPERM);
}

TEST_F(SandboxCpUnpack, NeverWritesThroughASymlink) {
  std::string victim = dir_ + "/victim";
  ASSERT_EQ(mkdir(victim.c_str(), 0755), 0);
  std::string why;
  EXPECT_LT(Unpack({{"link", AE_IFLNK, 0777, victim}, {"link/x", AE_IFREG, 0644, "owned"}}, &why), 0);
  struct stat st;
  EXPECT_NE(stat((victim + "/x").c_str(), &st), 0) << "wrote through the symlink";
}

TEST_F(SandboxCpUnpack, RefusesNonTar) {
  std::string path = dir_ + "/junk";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "this is not a tar archive, not at all, no", 41), 41);
  lseek(fd, 0, SEEK_SET);
  ak_error err = {};
  EXPECT_LT(sandbox_cp_unpack(fd, (dir_ + "/out").c_str(), "sb:/t", &err), 0);
  close(fd);
  EXPECT_NE(std::string(err.msg).find("sb:/t"), std::string::npos) << err.msg;
}

}  // namespace
