// In-use marks, removal refused while an image is used, least-recently-used
// collection under a size limit, prune (image.h): made-up images, no VM.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "vmm/testing/vm_fixture.h"

extern "C" {
#include "vmm/image/image.h"
#include "vmm/image/image_impl.h"
}

namespace {

class UseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = akvm::MakeTempDir("akuse");
    ASSERT_FALSE(dir_.empty());
    struct ak_error err = {};
    ASSERT_EQ(image_store_open((dir_ + "/store").c_str(), &s_, &err), 0) << err.msg;
  }
  void TearDown() override {
    image_store_free(s_);
    akvm::RemoveDir(dir_);
  }
  // An image of size bytes named name, hash made of c; last used at t.
  std::string Add(const char* name, char c, uint64_t size, int64_t t, const char* kind = "rootfs") {
    std::string hash(64, c);
    struct ak_error err = {};
    struct image_info info = {};
    char tmp[PATH_MAX];
    EXPECT_EQ(image_tmpdir(s_, tmp, &err), 0);
    snprintf(info.name, sizeof(info.name), "%s", name);
    snprintf(info.hash, sizeof(info.hash), "%s", hash.c_str());
    snprintf(info.kind, sizeof(info.kind), "%s", kind);
    info.size_bytes = size;
    info.created_at = t;
    EXPECT_EQ(image_manifest_write(tmp, &info, &err), 0) << err.msg;
    EXPECT_EQ(image_publish(s_, tmp, hash.c_str(), &err), 0) << err.msg;
    if (name[0]) {
      EXPECT_EQ(image_name_set(s_, name, hash.c_str(), &err), 0);
    }
    return hash;
  }
  bool Has(const std::string& hash) {
    struct stat st;
    return stat((dir_ + "/store/" + hash).c_str(), &st) == 0;
  }
  std::string dir_;
  struct image_store* s_ = nullptr;
};

TEST_F(UseTest, RemoveIsRefusedWhileInUseUnlessForced) {
  std::string h = Add("py", 'a', 100, 1700000000);
  struct ak_error err = {};
  struct image_use* u = nullptr;
  ASSERT_EQ(image_use_begin(s_, h.c_str(), "sandbox:sb-1", &u, &err), 0) << err.msg;
  char users[256];
  EXPECT_EQ(image_users(s_, h.c_str(), users, sizeof(users)), 1);
  EXPECT_STREQ(users, "sandbox:sb-1");
  EXPECT_EQ(image_remove(s_, "py", &err), -EBUSY);
  EXPECT_NE(strstr(err.msg, "in use by sandbox:sb-1"), nullptr) << err.msg;
  EXPECT_NE(strstr(err.msg, "--force"), nullptr) << err.msg;
  EXPECT_TRUE(Has(h));
  EXPECT_GE(image_last_used(s_, h.c_str()), (int64_t)time(nullptr) - 5) << "a mark is a use";

  EXPECT_EQ(image_remove_force(s_, "py", true, &err), 0) << err.msg;
  EXPECT_FALSE(Has(h)) << "forced: removed (a running VM keeps what it has open)";
  image_use_end(u);
}

TEST_F(UseTest, PruneRemovesUnnamedImagesNotInUse) {
  std::string kept = Add("kept", 'a', 100, 1700000000);
  std::string used = Add("", 'b', 100, 1700000000);
  std::string gone = Add("", 'c', 100, 1700000000);
  struct ak_error err = {};
  struct image_use* u = nullptr;
  ASSERT_EQ(image_use_begin(s_, used.c_str(), "sandbox:sb-1", &u, &err), 0) << err.msg;
  size_t pruned = 99;
  ASSERT_EQ(image_prune(s_, &pruned, &err), 0) << err.msg;
  EXPECT_EQ(pruned, 1u);
  EXPECT_TRUE(Has(kept));
  EXPECT_TRUE(Has(used));
  EXPECT_FALSE(Has(gone));
  image_use_end(u);
  ASSERT_EQ(image_prune(s_, &pruned, &err), 0) << err.msg;
  EXPECT_EQ(pruned, 1u);
  EXPECT_FALSE(Has(used));
  EXPECT_TRUE(Has(kept));
}

TEST_F(UseTest, MarkOfADeadProcessIsStale) {
  std::string h = Add("py", 'b', 100, 1700000000);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct image_use* u = nullptr;
    _exit(image_use_begin(s_, h.c_str(), "vm:gone", &u, nullptr) == 0 ? 0 : 1);  // never ended
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  std::string marks = dir_ + "/store/inuse/" + h;
  struct ak_error err = {};
  char users[64];
  EXPECT_EQ(image_users(s_, h.c_str(), users, sizeof(users)), 0);
  EXPECT_EQ(rmdir(marks.c_str()), 0) << "the stale mark was removed";
  EXPECT_EQ(image_remove(s_, "py", &err), 0) << err.msg;
  EXPECT_FALSE(Has(h));
}

TEST_F(UseTest, CollectRemovesLeastRecentlyUsedNeverUsedOrBase) {
  std::string base = Add("base", 'f', 100, 1600000000, "base");
  std::string a = Add("a", 'a', 100, 1700000000);
  std::string b = Add("b", 'b', 100, 1700000100);
  std::string c = Add("c", 'c', 100, 1700000200);
  std::string d = Add("d", 'd', 100, 1700000300);
  struct ak_error err = {};
  ASSERT_EQ(image_name_set(s_, "a2", a.c_str(), &err), 0);  // a second name: one image, counted once
  // c was used last (a mark begun and ended now): it is the most recent.
  struct image_use* u = nullptr;
  ASSERT_EQ(image_use_begin(s_, c.c_str(), "vm:x", &u, &err), 0) << err.msg;
  image_use_end(u);
  // b is in use: never collected, however old.
  ASSERT_EQ(image_use_begin(s_, b.c_str(), "sandbox:sb-2", &u, &err), 0) << err.msg;

  size_t removed = 0;
  ASSERT_EQ(image_collect(s_, 500, &removed, &err), 0) << err.msg;  // 500 in store: fits
  EXPECT_EQ(removed, 0u);
  ASSERT_EQ(image_collect(s_, 300, &removed, &err), 0) << err.msg;  // a, then d (b used, c recent)
  EXPECT_EQ(removed, 2u);
  EXPECT_FALSE(Has(a));
  EXPECT_TRUE(Has(b));
  EXPECT_TRUE(Has(c));
  EXPECT_FALSE(Has(d));
  EXPECT_TRUE(Has(base));
  struct image_info info;
  EXPECT_EQ(image_lookup(s_, "a2", &info, &err), -ENOENT) << "every name of a collected image goes";
  ASSERT_EQ(image_collect(s_, 0, &removed, &err), 0) << err.msg;
  EXPECT_EQ(removed, 1u);  // c; b in use, base never
  EXPECT_TRUE(Has(b));
  EXPECT_TRUE(Has(base));
  image_use_end(u);
}

TEST_F(UseTest, BadMarksAreRefused) {
  struct ak_error err = {};
  struct image_use* u = nullptr;
  EXPECT_EQ(image_use_begin(s_, std::string(64, 'a').c_str(), "../x", &u, &err), -EINVAL);
  EXPECT_EQ(image_use_begin(s_, "../../etc", "ok", &u, &err), -EINVAL);
  EXPECT_EQ(image_use_begin(s_, std::string(64, 'a').c_str(), "", &u, &err), -EINVAL);
}

}  // namespace
