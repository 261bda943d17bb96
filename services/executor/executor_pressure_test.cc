// The memory-pressure refusal on a real ak-executor process, through the
// real client: its /proc inputs (--proc-dir) are files of this test. While
// MemAvailable is under 10% of MemTotal, or PSI "full avg10" is at least
// 10%, CreateSandbox fails with RESOURCE_EXHAUSTED saying which signal and
// its figures, and the warm pool (--min-warm 1) does not refill; once both
// are back under their limits the pool starts booting a VM at once.
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

extern "C" {
#include "lib/base/time.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
}
#include "services/executor/testing/executor_client.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/fake_kernel.h"
#include "vmm/testing/vm_fixture.h"

using aktest::Runfile;
using aktest::ServiceProcess;
using aktest::Slurp;

namespace {

void WriteFile(const std::string& path, const std::string& text) {
  // Whole files at once (rename), as the kernel's are read.
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << text;
  }
  ASSERT_EQ(rename(tmp.c_str(), path.c_str()), 0) << path;
}

std::string Meminfo(unsigned total_mib, unsigned avail_mib) {
  return "MemTotal:       " + std::to_string(total_mib * 1024) + " kB\nMemFree:        " +
         std::to_string(avail_mib * 1024) + " kB\nMemAvailable:   " + std::to_string(avail_mib * 1024) +
         " kB\nBuffers:              0 kB\n";
}

std::string Psi(const char* avg10) {
  // "some" is high throughout: only "full" may refuse.
  return std::string("some avg10=60.00 avg60=0.00 avg300=0.00 total=1\nfull avg10=") + avg10 +
         " avg60=0.00 avg300=0.00 total=0\n";
}

class PressureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string error;
    if (!akvm::GetKernel(&skip_, &error)) {
      if (skip_.empty()) fail_ = "guest kernel: " + error;
      return;
    }
    dir_ = akvm::MakeTempDir("akpress");
    proc_ = dir_ + "/proc";
    mkdir(proc_.c_str(), 0700);
    mkdir((proc_ + "/pressure").c_str(), 0700);
    // Under pressure from the start: the pool must not boot its first VM.
    WriteFile(proc_ + "/meminfo", Meminfo(24000, 1200));
    WriteFile(proc_ + "/pressure/memory", Psi("0.00"));
    exec_ = new ServiceProcess;
    if (!exec_->Start({Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure",
                       "--state-dir", dir_ + "/st", "--images", akvm::ImageStoreDir(), "--min-warm", "1",
                       "--max-warm", "1", "--proc-dir", proc_},
                      dir_, "executor")) {
      fail_ = "start ak-executor: " + Slurp(exec_->err);
      return;
    }
    struct ak_error err = {};
    if (rpc_channel_new(exec_->addr.c_str(), nullptr, &ch_, &err) < 0) fail_ = err.msg;
  }
  static void TearDownTestSuite() {
    rpc_channel_free(ch_);
    if (exec_) {
      EXPECT_EQ(exec_->Stop(), 0) << Slurp(exec_->err);
    }
    delete exec_;
    if (!dir_.empty()) akvm::RemoveDir(dir_);
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(fail_.empty()) << fail_;
  }

  // CreateSandbox of `name` (base image); its code, *msg its error.
  static int Create(const char* name, std::string* msg) {
    Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
    spec.name = const_cast<char*>(name);
    Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
    cr.spec = &spec;
    ProtobufCMessage* resp = nullptr;
    int code = aktest::ExecutorUnary(ch_, "CreateSandbox", &cr.base, 180000, &resp, msg);
    if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
    return code;
  }
  // The base pool's ready + booting VMs (-1 when GetStatus fails).
  static int PoolVms() {
    Ak__V1__GetExecutorStatusRequest req = AK__V1__GET_EXECUTOR_STATUS_REQUEST__INIT;
    ProtobufCMessage* resp = nullptr;
    if (aktest::ExecutorUnary(ch_, "GetStatus", &req.base, 10000, &resp, nullptr) != RPC_OK) return -1;
    auto* st = reinterpret_cast<Ak__V1__ExecutorStatus*>(resp);
    int n = 0;
    for (size_t i = 0; i < st->n_pools; i++) n += static_cast<int>(st->pools[i]->ready + st->pools[i]->booting);
    protobuf_c_message_free_unpacked(resp, nullptr);
    return n;
  }

  static std::string dir_, proc_, skip_, fail_;
  static ServiceProcess* exec_;
  static struct rpc_channel* ch_;
};

std::string PressureTest::dir_, PressureTest::proc_, PressureTest::skip_, PressureTest::fail_;
ServiceProcess* PressureTest::exec_;
struct rpc_channel* PressureTest::ch_;

TEST_F(PressureTest, RefusesCreatesAndStopsPoolRefillsUntilRelieved) {
  // MemAvailable 1200 of 24000 MiB: 5%, under the 10% kept free.
  std::string msg;
  EXPECT_EQ(Create("p1", &msg), RPC_RESOURCE_EXHAUSTED) << msg;
  EXPECT_NE(msg.find("no room for p1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1200 MiB available of 24000 MiB"), std::string::npos) << msg;
  EXPECT_NE(msg.find("10% kept free"), std::string::npos) << msg;
  // The pool thread has had rounds to refill (it checks on every one).
  for (int i = 0; i < 6; i++) {
    EXPECT_EQ(PoolVms(), 0) << "the pool refilled under memory pressure";
    usleep(500 * 1000);
  }

  // Enough memory, but every running task stalled on it 25% of the last 10 s.
  WriteFile(proc_ + "/meminfo", Meminfo(24000, 12000));
  WriteFile(proc_ + "/pressure/memory", Psi("25.00"));
  msg.clear();
  EXPECT_EQ(Create("p2", &msg), RPC_RESOURCE_EXHAUSTED) << msg;
  EXPECT_NE(msg.find("25.00%"), std::string::npos) << msg;
  EXPECT_NE(msg.find("PSI full avg10"), std::string::npos) << msg;
  usleep(1500 * 1000);
  EXPECT_EQ(PoolVms(), 0) << "the pool refilled under memory pressure (PSI)";

  // A /proc file the executor cannot parse refuses too, and says which.
  WriteFile(proc_ + "/pressure/memory", "garbage\n");
  msg.clear();
  EXPECT_EQ(Create("p3", &msg), RPC_RESOURCE_EXHAUSTED) << msg;
  EXPECT_NE(msg.find("pressure/memory"), std::string::npos) << msg;

  // Relieved: the pool boots its warm VM without being asked.
  WriteFile(proc_ + "/pressure/memory", Psi("0.50"));
  int64_t t0 = ak_mono_ms();
  int n = 0;
  while ((n = PoolVms()) == 0 && ak_mono_ms() - t0 < 30000) usleep(200 * 1000);
  EXPECT_GE(n, 1) << "the pool did not refill once the pressure was gone";
}

// Without --capacity-memory-mb the executor offers what fits at the
// measured idle cost of its store's kernel (capacity.h): on a 24 GiB node
// under TCG, 151 sandboxes of 256 MiB with Debian's kernel, 345 with ak's
// small kernel (bench/density --fit booted 330). No VM boots here.
TEST(CapacityOffer, FollowsTheStoresKernel) {
  std::string dir = akvm::MakeTempDir("akcapk");
  ASSERT_FALSE(dir.empty());
  std::string proc = dir + "/proc";
  ASSERT_EQ(mkdir(proc.c_str(), 0700), 0);
  ASSERT_EQ(mkdir((proc + "/pressure").c_str(), 0700), 0);
  WriteFile(proc + "/meminfo", Meminfo(24576, 20000));
  WriteFile(proc + "/pressure/memory", Psi("0.00"));
  struct Case {
    const char* entry;
    uint64_t sandboxes;
  } cases[] = {{"linux-image-6.1.0-99-cloud-amd64_6.1.999-1", 151}, {"ak-guest-6.1.192_0123456789abcdef", 345}};
  for (const Case& c : cases) {
    std::string store = dir + "/" + c.entry;
    akvm::FakeKernel(store, c.entry, "6.1.192");
    ServiceProcess ex;
    ASSERT_TRUE(ex.Start({Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure",
                          "--state-dir", dir + "/st-" + std::to_string(c.sandboxes), "--images", store, "--min-warm",
                          "0", "--accel", "tcg", "--proc-dir", proc},
                         dir, "executor"))
        << Slurp(ex.err);
    struct rpc_channel* ch = nullptr;
    struct ak_error err = {};
    ASSERT_EQ(rpc_channel_new(ex.addr.c_str(), nullptr, &ch, &err), 0) << err.msg;
    Ak__V1__GetExecutorStatusRequest req = AK__V1__GET_EXECUTOR_STATUS_REQUEST__INIT;
    ProtobufCMessage* resp = nullptr;
    std::string msg;
    ASSERT_EQ(aktest::ExecutorUnary(ch, "GetStatus", &req.base, 10000, &resp, &msg), RPC_OK) << msg;
    auto* st = reinterpret_cast<Ak__V1__ExecutorStatus*>(resp);
    ASSERT_NE(st->capacity, nullptr);
    EXPECT_EQ(st->capacity->memory_mb, c.sandboxes * 256) << c.entry;
    protobuf_c_message_free_unpacked(resp, nullptr);
    rpc_channel_free(ch);
    EXPECT_EQ(ex.Stop(), 0) << Slurp(ex.err);
  }
  akvm::RemoveDir(dir);
}

}  // namespace
