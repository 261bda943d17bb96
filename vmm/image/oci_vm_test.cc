// An imported OCI image booted as a VM's root disk: a busybox/musl-style
// image (a static busybox and its applet links, as Alpine's busybox image,
// plus musl's loader and a program linked against it) written as a layout
// (gzip, then zstd with a whiteout and an opaque directory, then gzip) by
// testdata/mklayout.py, imported, booted, and commands run in
// it see the image's files, owners and modes. And a FROM scratch image (one
// static program, no shell, no /etc) booted with network: the guest's
// network setup and the sandbox user's setup (vm_guest_prepare) run by the
// injected busybox, and the program runs. Needs root and the kernel.
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
constexpr const char* kScratchImage = "test-oci-scratch";

bool WriteLayout(const std::string& spec, const std::string& body) {
  FILE* f = fopen(spec.c_str(), "w");
  if (!f) return false;
  fputs(body.c_str(), f);
  fclose(f);
  const char* argv[] = {"python3", "vmm/image/testdata/mklayout.py", spec.c_str(), nullptr};
  struct proc_opts o = {};
  o.argv = argv;
  o.timeout_ms = 60000;
  int st;
  struct ak_error err = {};
  return proc_run(&o, &st, nullptr, &err) == 0 && st == 0;
}

// Imports src as image and boots it; sets *skip or *error on failure.
struct vm* ImportAndBoot(const std::string& src, const char* image, const std::string& dir, bool network,
                         std::string* skip, std::string* error) {
  struct ak_error err = {};
  struct image_store* s = nullptr;
  struct image_info info;
  if (image_store_open(akvm::ImageStoreDir().c_str(), &s, &err) < 0 ||
      image_store_set_guest_binary(s, "guest/ak-guest", &err) < 0 ||
      image_import(s, src.c_str(), image, nullptr, &info, &err) < 0) {
    *error = err.msg;
    image_store_free(s);
    return nullptr;
  }
  image_store_free(s);
  return akvm::BootVm(image, dir, network, skip, error);
}

// The root skip reasons of both suites.
std::string NeedsRootAndBusybox(std::string* busybox) {
  char bb[PATH_MAX];
  if (geteuid() != 0) return "importing images needs root";
  if (proc_which("busybox", bb, sizeof(bb)) < 0) return "busybox-static is not installed (tools/deps.sh)";
  *busybox = bb;
  return "";
}

// A program linked against musl (dynamically: /lib/ld-musl-x86_64.so.1 is
// its interpreter, as in Alpine), built here with Debian's musl-gcc; "" when
// musl-tools is missing.
std::string MuslProgram(const std::string& dir) {
  char gcc[PATH_MAX];
  if (proc_which("musl-gcc", gcc, sizeof(gcc)) < 0 || access("/lib/ld-musl-x86_64.so.1", R_OK) != 0) return "";
  std::string src = dir + "/hello-musl.c", out = dir + "/hello-musl";
  FILE* f = fopen(src.c_str(), "w");
  if (!f) return "";
  fputs("#include <stdio.h>\nint main(int c, char **v) { printf(\"musl says %s\\n\", c > 1 ? v[1] : \"\"); "
        "return 0; }\n", f);
  fclose(f);
  const char* argv[] = {gcc, "-O2", "-o", out.c_str(), src.c_str(), nullptr};
  struct proc_opts o = {};
  o.argv = argv;
  o.timeout_ms = 60000;
  int st;
  struct ak_error err = {};
  return proc_run(&o, &st, nullptr, &err) == 0 && st == 0 ? out : "";
}

std::string Layout(const std::string& dir, const std::string& busybox, const std::string& musl) {
  std::string spec = dir + "/spec.json", out = dir + "/layout";
  std::string applets;
  for (const char* a : {"sh", "cat", "ls", "stat", "id", "test", "echo"})
    applets += std::string(",{\"path\": \"bin/") + a + "\", \"type\": \"symlink\", \"link\": \"busybox\"}";
  std::string musl_layer;
  if (!musl.empty())
    musl_layer = ", {\"compression\": \"gzip\", \"entries\": ["
                 "{\"path\": \"lib/ld-musl-x86_64.so.1\", \"src\": \"/lib/ld-musl-x86_64.so.1\", \"mode\": 493},"
                 "{\"path\": \"usr/bin/hello-musl\", \"src\": \"" + musl + "\", \"mode\": 493}]}";
  char buf[6144];
  snprintf(buf, sizeof(buf),
          "{\"out\": \"%s\", \"tag\": \"1.36\", \"config\": {\"Env\": [\"PATH=/bin\"], \"User\": \"1000\"},"
          " \"layers\": [{\"compression\": \"gzip\", \"entries\": ["
          "  {\"path\": \"bin/busybox\", \"src\": \"%s\", \"mode\": 493}%s,"
          "  {\"path\": \"etc/motd\", \"data\": \"welcome to the imported image\\n\"},"
          "  {\"path\": \"etc/old\", \"data\": \"whited out\\n\"},"
          "  {\"path\": \"etc/motd2\", \"type\": \"hardlink\", \"link\": \"etc/motd\"},"
          "  {\"path\": \"opq/gone\", \"data\": \"hidden by an opaque dir\\n\"},"
          "  {\"path\": \"home/u\", \"type\": \"dir\", \"uid\": 1000, \"gid\": 1000, \"mode\": 448}]},"
          " {\"compression\": \"zstd\", \"entries\": ["
          "  {\"path\": \"etc/.wh.old\"},"
          "  {\"path\": \"opq/.wh..wh..opq\"},"
          "  {\"path\": \"opq/kept\", \"data\": \"k\"},"
          "  {\"path\": \"home/u/notes\", \"data\": \"mine\\n\", \"uid\": 1000, \"gid\": 1000, \"mode\": 384},"
          "  {\"path\": \"usr/bin/priv\", \"data\": \"x\", \"mode\": 2541}]}%s]}",
          out.c_str(), busybox.c_str(), applets.c_str(), musl_layer.c_str());
  return WriteLayout(spec, buf) ? out : "";
}

class OciVmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string bb;
    if (!(skip_ = NeedsRootAndBusybox(&bb)).empty()) return;
    dir_ = akvm::MakeTempDir("akocivm");
    musl_ = !MuslProgram(dir_).empty();
    std::string layout = Layout(dir_, bb, musl_ ? dir_ + "/hello-musl" : "");
    if (layout.empty()) {
      error_ = "mklayout.py failed";
      return;
    }
    vm_ = ImportAndBoot("oci-layout:" + layout + ":1.36", kImage, dir_, false, &skip_, &error_);
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
  static bool musl_;
};

std::string OciVmTest::dir_, OciVmTest::skip_, OciVmTest::error_;
struct vm* OciVmTest::vm_ = nullptr;
bool OciVmTest::musl_ = false;

TEST_F(OciVmTest, CommandsRunInTheImportedImage) {
  std::string err;
  struct proto_reply* r = akvm::Run(
      vm_vsock_uds(vm_),
      {"/bin/sh", "-c",
       "cat /etc/motd; stat -c '%n %u:%g %a' /home/u /home/u/notes /usr/bin/priv; "
       "test -e /etc/old && echo old-present || echo old-gone; test -x /usr/local/bin/ak-guest && echo agent; "
       "test /etc/motd -ef /etc/motd2 && stat -c 'links %h' /etc/motd; ls /opq; "
       "test -e /lib64/ld-linux-x86-64.so.2 && echo glibc || echo no-glibc"},
      60000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_EQ(r->exit_code, 0) << (r->stderr_str ? r->stderr_str : "");
  EXPECT_STREQ(r->stdout_str,
               "welcome to the imported image\n"
               "/home/u 1000:1000 700\n"
               "/home/u/notes 1000:1000 600\n"
               "/usr/bin/priv 0:0 4755\n"
               "old-gone\nagent\nlinks 2\nkept\nno-glibc\n");
  proto_reply_free(r);
}

// Alpine-style: a program linked against musl, its loader in the image's
// /lib (the agent itself is static and needs neither).
TEST_F(OciVmTest, MuslProgramRuns) {
  if (!musl_) GTEST_SKIP() << "musl-gcc (musl-tools, tools/deps.sh) is not installed";
  std::string err;
  struct proto_reply* r = akvm::Run(vm_vsock_uds(vm_), {"/usr/bin/hello-musl", "hi"}, 60000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_EQ(r->exit_code, 0) << (r->stderr_str ? r->stderr_str : "");
  EXPECT_STREQ(r->stdout_str, "musl says hi\n");
  proto_reply_free(r);
}

// FROM scratch: /app/hello and nothing else (no /bin/sh, no /etc, no
// /tmp). On main its network setup failed ("can't create
// /etc/resolv.conf") and the sandbox user's setup ran /bin/sh ("Failed to
// run command: No such file or directory").
class OciScratchVmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string bb;
    if (!(skip_ = NeedsRootAndBusybox(&bb)).empty()) return;
    dir_ = akvm::MakeTempDir("akociscr");
    std::string layout = dir_ + "/layout";
    if (!WriteLayout(dir_ + "/spec.json", "{\"out\": \"" + layout + "\", \"config\": {\"Cmd\": [\"/app/hello\"]}, "
                     "\"layers\": [{\"entries\": [{\"path\": \"app/hello\", \"mode\": 493, "
                     "\"src\": \"vmm/image/scratch_hello\"}]}]}")) {
      error_ = "mklayout.py failed";
      return;
    }
    vm_ = ImportAndBoot("oci-layout:" + layout, kScratchImage, dir_, true, &skip_, &error_);
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

std::string OciScratchVmTest::dir_, OciScratchVmTest::skip_, OciScratchVmTest::error_;
struct vm* OciScratchVmTest::vm_ = nullptr;

TEST_F(OciScratchVmTest, BootsWithNetworkAndRunsItsProgram) {
#if defined(__SANITIZE_ADDRESS__)
  // scratch_hello is linked dynamically under ASan (gcc will not link
  // -static with -fsanitize=address), and a FROM scratch image has no libc
  // for it; the normal pass runs it static.
  GTEST_SKIP() << "a FROM scratch program must be static; ASan builds are not";
#endif
  std::string err;
  struct proto_reply* r = akvm::Run(vm_vsock_uds(vm_), {"/app/hello", "a", "b"}, 60000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_EQ(r->exit_code, 0) << (r->stderr_str ? r->stderr_str : "");
  EXPECT_STREQ(r->stdout_str, "hello from scratch: a b\nresolv.conf: nameserver 10.0.2.3\n");
  proto_reply_free(r);
}

TEST_F(OciScratchVmTest, SandboxUserSetUpWithoutAShell) {
  const struct vm_guest_user u = {.id = 1000, .name = "sandbox", .home = "/home/sandbox"};
  struct ak_error e = {};
  ASSERT_EQ(vm_guest_prepare(vm_vsock_uds(vm_), true, &u, false, &e), 0) << e.msg;
  std::string err;
  struct proto_reply* r = akvm::Run(
      vm_vsock_uds(vm_), {"/usr/local/bin/busybox", "stat", "-c", "%n %u:%g %a", "/home/sandbox", "/tmp", "/proc/self"},
      60000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_STREQ(r->stdout_str, "/home/sandbox 1000:1000 755\n/tmp 0:0 1777\n/proc/self 0:0 777\n")
      << (r->stderr_str ? r->stderr_str : "");
  proto_reply_free(r);
  r = akvm::Run(vm_vsock_uds(vm_), {"/usr/local/bin/busybox", "cat", "/etc/passwd", "/etc/group"}, 60000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_STREQ(r->stdout_str, "sandbox:x:1000:1000:ak sandbox:/home/sandbox:/bin/sh\nsandbox:x:1000:\n");
  proto_reply_free(r);
}

}  // namespace
