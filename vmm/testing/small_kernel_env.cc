// Linked into a VM test binary (vm_small_kernel_test: vm_test.cc's cases),
// this makes every VM of the binary boot ak's small kernel
// (//vmm/kernel:guest_kernel): before any suite starts, a fresh image store gets
// the kernel installed (image_kernel_install) and $AK_TEST_IMAGES points
// the fixture at it, so the base image is built for the small kernel.
// Its own case checks the guest runs that kernel with no modules.
#include <stdlib.h>
#include <string.h>

#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "vmm/image/image.h"
#include "vmm/vm.h"
}
#include "lib/guest/guest_client.h"
#include "vmm/testing/vm_fixture.h"

namespace {

std::string g_store, g_entry, g_error;

class SmallKernelEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    // Under /var/tmp like the default store: the base image is a few MiB.
    char d[] = "/var/tmp/ak-small-kernel.XXXXXX";
    ASSERT_NE(mkdtemp(d), nullptr);
    g_store = d;
    struct ak_error err = {};
    struct image_store* s = nullptr;
    char entry[IMAGE_KERNEL_ENTRY_MAX] = "";
    if (image_store_open(g_store.c_str(), &s, &err) < 0 ||
        image_kernel_install(s, "vmm/kernel/bzImage", "vmm/kernel/modules.builtin", nullptr, entry, &err) < 0)
      g_error = err.msg;
    image_store_free(s);
    g_entry = entry;
    setenv("AK_TEST_IMAGES", g_store.c_str(), 1);
  }
  void TearDown() override { akvm::RemoveDir(g_store); }
};

const ::testing::Environment* const g_env = ::testing::AddGlobalTestEnvironment(new SmallKernelEnv);

TEST(SmallKernel, GuestRunsItWithoutModules) {
  ASSERT_TRUE(g_error.empty()) << g_error;
  std::string dir = akvm::MakeTempDir("akvmsk"), skip, error;
  ASSERT_FALSE(dir.empty());
  struct vm* v = akvm::BootVm("base", dir, false, &skip, &error);
  ASSERT_NE(v, nullptr) << error << skip;
  std::string err;
  struct proto_reply* r = akvm::Run(vm_vsock_uds(v), {"uname", "-r"}, 20000, &err);
  ASSERT_NE(r, nullptr) << err;
  // ak-guest-<release>_<hash>: the guest's release is the installed one.
  std::string release = g_entry.substr(strlen("ak-guest-"), g_entry.rfind('_') - strlen("ak-guest-"));
  EXPECT_EQ(std::string(r->stdout_str ? r->stdout_str : ""), release + "\n");
  proto_reply_free(r);
  // Everything built in: no module support at all, nothing to load.
  r = akvm::Run(vm_vsock_uds(v), {"/bin/sh", "-c", "test -e /proc/modules; echo $?; cat /etc/ak/modules | wc -c"},
                20000, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_STREQ(r->stdout_str, "1\n0\n");
  proto_reply_free(r);
  vm_free(v);
  akvm::RemoveDir(dir);
}

}  // namespace
