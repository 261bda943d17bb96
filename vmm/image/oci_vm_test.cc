// An imported OCI image booted as a VM's root disk: a busybox/musl-style
// image (a static busybox and its applet links, no libc, as Alpine's
// busybox image) written as a two-layer layout (gzip, then zstd with a
// whiteout) by testdata/mklayout.py, imported, booted, and commands run in
// it see the image's files, owners and modes. Needs root and the kernel.
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "lib/base/proc.h"
#include "lib/guest/guest_client.h"
#include "vmm/image/image.h"
#include "vmm/testing/vm_fixture.h"
#include "vmm/vm.h"

namespace {

constexpr const char* kImage = "test-oci-busybox";

std::string Layout(const std::string& dir, const std::string& busybox) {
  std::string spec = dir + "/spec.json", out = dir + "/layout";
  std::string applets;
  for (const char* a : {"sh", "cat", "ls", "stat", "id", "test", "echo"})
    applets += std::string(",{\"path\": \"bin/") + a + "\", \"type\": \"symlink\", \"link\": \"busybox\"}";
  FILE* f = fopen(spec.c_str(), "w");
  fprintf(f,
          "{\"out\": \"%s\", \"tag\": \"1.36\", \"config\": {\"Env\": [\"PATH=/bin\"], \"User\": \"1000\"},"
          " \"layers\": [{\"compression\": \"gzip\", \"entries\": ["
          "  {\"path\": \"bin/busybox\", \"src\": \"%s\", \"mode\": 493}%s,"
          "  {\"path\": \"etc/motd\", \"data\": \"welcome to the imported image\\n\"},"
          "  {\"path\": \"etc/old\", \"data\": \"whited out\\n\"},"
          "  {\"path\": \"home/u\", \"type\": \"dir\", \"uid\": 1000, \"gid\": 1000, \"mode\": 448}]},"
          " {\"compression\": \"zstd\", \"entries\": ["
          "  {\"path\": \"etc/.wh.old\"},"
          "  {\"path\": \"home/u/notes\", \"data\": \"mine\\n\", \"uid\": 1000, \"gid\": 1000, \"mode\": 384},"
          "  {\"path\": \"usr/bin/priv\", \"data\": \"x\", \"mode\": 2541}]}]}",
          out.c_str(), busybox.c_str(), applets.c_str());
  fclose(f);
  const char* argv[] = {"python3", "vmm/image/testdata/mklayout.py", spec.c_str(), nullptr};
  struct proc_opts o = {};
  o.argv = argv;
  o.timeout_ms = 60000;
  int st;
  struct ak_error err = {};
  if (proc_run(&o, &st, nullptr, &err) < 0 || st != 0) return "";
  return out;
}

class OciVmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char bb[PATH_MAX];
    if (geteuid() != 0) {
      skip_ = "importing images needs root";
      return;
    }
    if (proc_which("busybox", bb, sizeof(bb)) < 0) {
      skip_ = "busybox-static is not installed (tools/deps.sh)";
      return;
    }
    dir_ = akvm::MakeTempDir("akocivm");
    std::string layout = Layout(dir_, bb);
    if (layout.empty()) {
      error_ = "mklayout.py failed";
      return;
    }
    struct ak_error err = {};
    struct image_store* s = nullptr;
    struct image_info info;
    if (image_store_open(akvm::ImageStoreDir().c_str(), &s, &err) < 0 ||
        image_store_set_guest_binary(s, "guest/ak-guest", &err) < 0 ||
        image_import(s, ("oci-layout:" + layout + ":1.36").c_str(), kImage, nullptr, &info, &err) < 0) {
      error_ = err.msg;
      image_store_free(s);
      return;
    }
    image_store_free(s);
    std::string skip;
    vm_ = akvm::BootVm(kImage, dir_, false, &skip, &error_);
    if (!skip.empty()) skip_ = skip;
  }
  static void TearDownTestSuite() {
    vm_free(vm_);
    vm_ = nullptr;
    if (!dir_.empty()) akvm::RemoveDir(dir_);
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_NE(vm_, nullptr) << error_;
  }
  static std::string dir_, skip_, error_;
  static struct vm* vm_;
};

std::string OciVmTest::dir_, OciVmTest::skip_, OciVmTest::error_;
struct vm* OciVmTest::vm_ = nullptr;

TEST_F(OciVmTest, CommandsRunInTheImportedImage) {
  std::string err;
  struct proto_reply* r = akvm::Run(
      vm_vsock_uds(vm_),
      {"/bin/sh", "-c",
       "cat /etc/motd; stat -c '%n %u:%g %a' /home/u /home/u/notes /usr/bin/priv; "
       "test -e /etc/old && echo old-present || echo old-gone; test -x /usr/local/bin/ak-guest && echo agent; "
       "test -e /lib/ld-musl-x86_64.so.1 -o -e /lib64/ld-linux-x86-64.so.2 && echo libc || echo no-libc"},
      60000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_EQ(r->exit_code, 0) << (r->stderr_str ? r->stderr_str : "");
  EXPECT_STREQ(r->stdout_str,
               "welcome to the imported image\n"
               "/home/u 1000:1000 700\n"
               "/home/u/notes 1000:1000 600\n"
               "/usr/bin/priv 0:0 4755\n"
               "old-gone\nagent\nno-libc\n");
  proto_reply_free(r);
}

}  // namespace
