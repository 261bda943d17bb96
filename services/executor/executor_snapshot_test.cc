// Disk snapshots through ak-executor (a real process, real VMs): a file
// written in a persistent sandbox on a root disk image (a tiny image built
// from a seeded stage, tiny_stage.h) just before TakeSnapshot, never synced
// by anyone but the snapshot, is in a new sandbox restored from it; the
// source keeps running and writable; the snapshot is listed with where it
// came from, refused when its name is taken, removed; unknown sandboxes and
// snapshots and a base-image sandbox are refused with what to do. Three VM
// boots (source, restored, base), shared by the checks.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>

extern "C" {
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "vmm/image/image.h"
}
#include "services/executor/testing/executor_client.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/tiny_stage.h"
#include "vmm/testing/vm_fixture.h"

namespace {

using aktest::Runfile;
using aktest::ServiceProcess;
using aktest::Slurp;

class ExecutorSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = akvm::MakeTempDir("aksn");
    ASSERT_FALSE(dir_.empty());
    std::string skip, error;
    if (!akvm::GetKernel(&skip, &error)) {
      if (!skip.empty()) GTEST_SKIP() << skip;
      FAIL() << error;
    }
    setenv("AK_GUEST_BIN", Runfile("guest/ak-guest").c_str(), 1);
    image_ = "test-snapsrc-" + std::to_string(getpid());
    snap_ = "test-snap-" + std::to_string(getpid());
    akvm::UseLoopbackMirror("executor-snapshot-test-" + std::to_string(getpid()));
    ASSERT_TRUE(exec_.Start({Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure",
                             "--state-dir", dir_ + "/st", "--images", akvm::ImageStoreDir(), "--min-warm", "0",
                             "--executor-id", "x1"},
                            dir_, "executor"))
        << Slurp(exec_.err);
    struct ak_error err = {};
    ASSERT_EQ(rpc_channel_new(exec_.addr.c_str(), nullptr, &ch_, &err), 0) << err.msg;
    ASSERT_EQ(image_store_open(akvm::ImageStoreDir().c_str(), &store_, &err), 0) << err.msg;
  }
  void TearDown() override {
    if (store_) {
      image_remove(store_, snap_.c_str(), nullptr);
      image_remove(store_, image_.c_str(), nullptr);
    }
    image_store_free(store_);
    rpc_channel_free(ch_);
    if (exec_.pid > 0) {
      EXPECT_EQ(exec_.Stop(), 0) << Slurp(exec_.err);
    }
    akvm::RemoveDir(dir_);
  }

  int Create(const std::string& sandbox, const std::string& image, std::string* e, const char* tenant = nullptr) {
    Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
    spec.tenant = const_cast<char*>(tenant ? tenant : "");
    spec.name = const_cast<char*>(sandbox.c_str());
    spec.image = const_cast<char*>(image.c_str());
    spec.persistent = true;
    Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
    cr.spec = &spec;
    ProtobufCMessage* resp = nullptr;
    int r = aktest::ExecutorUnary(ch_, "CreateSandbox", &cr.base, 300000, &resp, e);
    if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
    return r;
  }
  int Write(const std::string& sandbox, const std::string& path, const std::string& content, std::string* e) {
    Ak__V1__WriteFileRequest req = AK__V1__WRITE_FILE_REQUEST__INIT;
    req.sandbox = const_cast<char*>(sandbox.c_str());
    req.path = const_cast<char*>(path.c_str());
    req.content.data = reinterpret_cast<uint8_t*>(const_cast<char*>(content.data()));
    req.content.len = content.size();
    return aktest::ExecutorUnary(ch_, "WriteFile", &req.base, 60000, nullptr, e);
  }
  std::string Read(const std::string& sandbox, const std::string& path) {
    Ak__V1__ReadFileRequest req = AK__V1__READ_FILE_REQUEST__INIT;
    req.sandbox = const_cast<char*>(sandbox.c_str());
    req.path = const_cast<char*>(path.c_str());
    ProtobufCMessage* resp = nullptr;
    std::string e;
    if (aktest::ExecutorUnary(ch_, "ReadFile", &req.base, 60000, &resp, &e) != RPC_OK) return "<error: " + e + ">";
    auto* r = reinterpret_cast<Ak__V1__ReadFileResponse*>(resp);
    std::string s(reinterpret_cast<const char*>(r->content.data), r->content.len);
    protobuf_c_message_free_unpacked(resp, nullptr);
    return s;
  }
  int Take(const std::string& sandbox, const std::string& name, Ak__V1__Snapshot** ret, std::string* e) {
    Ak__V1__TakeSnapshotRequest req = AK__V1__TAKE_SNAPSHOT_REQUEST__INIT;
    req.sandbox = const_cast<char*>(sandbox.c_str());
    req.name = const_cast<char*>(name.c_str());
    ProtobufCMessage* resp = nullptr;
    int r = aktest::ExecutorUnary(ch_, "TakeSnapshot", &req.base, 600000, &resp, e);
    if (ret)
      *ret = reinterpret_cast<Ak__V1__Snapshot*>(resp);
    else if (resp)
      protobuf_c_message_free_unpacked(resp, nullptr);
    return r;
  }
  int Delete(const std::string& name, std::string* e) {
    Ak__V1__DeleteSnapshotRequest req = AK__V1__DELETE_SNAPSHOT_REQUEST__INIT;
    req.name = const_cast<char*>(name.c_str());
    return aktest::ExecutorUnary(ch_, "DeleteSnapshot", &req.base, 60000, nullptr, e);
  }
  // The listed snapshots named name ("sandbox image tenant"), "" when absent.
  std::string Listed(const std::string& name, const std::string& tenant) {
    Ak__V1__ListSnapshotsRequest req = AK__V1__LIST_SNAPSHOTS_REQUEST__INIT;
    req.tenant = const_cast<char*>(tenant.c_str());
    ProtobufCMessage* resp = nullptr;
    std::string e, out;
    if (aktest::ExecutorUnary(ch_, "ListSnapshots", &req.base, 60000, &resp, &e) != RPC_OK) return "<error: " + e + ">";
    auto* l = reinterpret_cast<Ak__V1__ListSnapshotsResponse*>(resp);
    for (size_t i = 0; i < l->n_snapshots; i++)
      if (name == l->snapshots[i]->name)
        out = std::string(l->snapshots[i]->sandbox) + " " + l->snapshots[i]->image + " " + l->snapshots[i]->tenant;
    protobuf_c_message_free_unpacked(resp, nullptr);
    return out;
  }

  std::string dir_, image_, snap_;
  ServiceProcess exec_;
  struct rpc_channel* ch_ = nullptr;
  struct image_store* store_ = nullptr;
};

TEST_F(ExecutorSnapshotTest, TakeRestoreListRemoveAndRefusals) {
  struct ak_error err = {};
  std::string e, error;
  ASSERT_TRUE(akvm::SeedTinyStage(akvm::ImageStoreDir(), "snapshot-source", &error)) << error;
  struct image_info info;
  ASSERT_EQ(image_build_rootfs(store_, image_.c_str(), nullptr, 0, nullptr, &info, &err), 0) << err.msg;

  // Refusals that need no VM.
  EXPECT_EQ(Take("nosuch", snap_, nullptr, &e), RPC_NOT_FOUND) << e;
  EXPECT_NE(e.find("no sandbox named nosuch"), std::string::npos) << e;
  EXPECT_EQ(Delete(snap_, &e), RPC_NOT_FOUND) << e;
  EXPECT_EQ(Delete(image_, &e), RPC_NOT_FOUND) << e;  // an image, not a snapshot
  EXPECT_NE(e.find("not a snapshot"), std::string::npos) << e;

  ASSERT_EQ(Create("src", image_, &e), RPC_OK) << e;
  EXPECT_EQ(Take("src", "Bad Name", nullptr, &e), RPC_INVALID_ARGUMENT) << e;
  EXPECT_EQ(Take("src", image_, nullptr, &e), RPC_ALREADY_EXISTS) << e;  // an image's name

  // Written through the guest's page cache just before the take: only the
  // snapshot's sync/freeze puts it on the disk before the copy starts.
  ASSERT_EQ(Write("src", "/kept.txt", "written before the snapshot\n", &e), RPC_OK) << e;
  Ak__V1__Snapshot* s = nullptr;
  ASSERT_EQ(Take("src", snap_, &s, &e), RPC_OK) << e << Slurp(exec_.err);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(std::string(s->name), snap_);
  EXPECT_EQ(std::string(s->sandbox), "src");
  EXPECT_EQ(std::string(s->image), image_);
  EXPECT_EQ(std::string(s->consistency), "fsfreeze");
  EXPECT_GT(s->size_bytes, 0u);
  // Sparse: the disk's empty space is not stored (QEMU's copy writes it).
  EXPECT_LT(s->size_bytes, info.size_bytes + (4u << 20)) << "source image uses " << info.size_bytes;
  EXPECT_GT(s->created_at_ms, 0);
  printf("snapshot: consistency=%s pause_ms=%lld copy_ms=%lld size=%llu\n", s->consistency, (long long)s->pause_ms, (long long)s->copy_ms,
         (unsigned long long)s->size_bytes);
  protobuf_c_message_free_unpacked(&s->base, nullptr);

  // The source runs on, writable, thawed.
  ASSERT_EQ(Write("src", "/after.txt", "after\n", &e), RPC_OK) << e;
  EXPECT_EQ(Read("src", "/after.txt"), "after\n");
  EXPECT_EQ(Take("src", snap_, nullptr, &e), RPC_ALREADY_EXISTS) << e;
  EXPECT_NE(e.find("ak snapshot rm " + snap_), std::string::npos) << e;

  EXPECT_EQ(Listed(snap_, ""), "src " + image_ + " default");
  EXPECT_EQ(Listed(snap_, "default"), "src " + image_ + " default");
  EXPECT_EQ(Listed(snap_, "other"), "");  // another tenant does not see it
  Ak__V1__DeleteSnapshotRequest other = AK__V1__DELETE_SNAPSHOT_REQUEST__INIT;
  other.name = const_cast<char*>(snap_.c_str());
  other.tenant = const_cast<char*>("other");
  EXPECT_EQ(aktest::ExecutorUnary(ch_, "DeleteSnapshot", &other.base, 60000, nullptr, &e), RPC_NOT_FOUND) << e;

  // Another tenant cannot restore it by name (refused before any VM boots).
  EXPECT_EQ(Create("thief", snap_, &e, "other"), RPC_FAILED_PRECONDITION) << e;
  EXPECT_NE(e.find("is not on executor x1 for tenant other"), std::string::npos) << e;
  EXPECT_EQ(e.find("default"), std::string::npos) << e;  // whose it is stays unsaid

  // Restored (CreateSandbox from it): the file is there, the later one not.
  ASSERT_EQ(Create("restored", snap_, &e), RPC_OK) << e;
  EXPECT_EQ(Read("restored", "/kept.txt"), "written before the snapshot\n");
  EXPECT_NE(Read("restored", "/after.txt").find("<error"), std::string::npos);
  EXPECT_EQ(Read("restored", "/etc/ak-image"), "snapshot-source\n");
  Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
  rm.name = const_cast<char*>("restored");
  EXPECT_EQ(aktest::ExecutorUnary(ch_, "RemoveSandbox", &rm.base, 60000, nullptr, &e), RPC_OK) << e;
  rm.name = const_cast<char*>("src");
  EXPECT_EQ(aktest::ExecutorUnary(ch_, "RemoveSandbox", &rm.base, 60000, nullptr, &e), RPC_OK) << e;

  EXPECT_EQ(Delete(snap_, &e), RPC_OK) << e;
  EXPECT_EQ(Listed(snap_, ""), "");
  EXPECT_EQ(Delete(snap_, &e), RPC_NOT_FOUND) << e;

  // The base image has no root disk.
  ASSERT_EQ(Create("basebox", IMAGE_BASE, &e), RPC_OK) << e;
  EXPECT_EQ(Take("basebox", snap_, nullptr, &e), RPC_FAILED_PRECONDITION) << e;
  EXPECT_NE(e.find("no root disk"), std::string::npos) << e;
  EXPECT_NE(e.find("root disk image"), std::string::npos) << e;
}

}  // namespace
