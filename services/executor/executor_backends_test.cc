// ak-executor --vmm firecracker|apple as a real process, called through
// lib/rpc, with a double of the VMM (testing/firecracker_double.py as the
// `firecracker` binary: no KVM here; testing/container_double as Apple's
// `container` CLI) and ak-guest on the host as the guest agent behind the
// backend's hybrid vsock: create, exec, files, remove, nothing left behind.
#include <gtest/gtest.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

extern "C" {
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
}
#include "services/executor/testing/executor_client.h"
#include "tests/testing/service_process.h"
#include "vmm/testing/vm_fixture.h"

namespace {

using aktest::ProcessesMentioning;
using aktest::Runfile;
using aktest::Slurp;

class ExecutorBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = akvm::MakeTempDir("akexb");
    std::string guest = Runfile("guest/ak-guest");
    setenv("AK_GUEST_BIN", guest.c_str(), 1);
    if (GetParam() == "firecracker") {
      setenv("AK_FIRECRACKER", Runfile("vmm/backend/testing/firecracker_double.py").c_str(), 1);
      setenv("AK_FIRECRACKER_SKIP_KVM_CHECK", "1", 1);
      setenv("AK_FIRECRACKER_KERNEL", guest.c_str(), 1);  // the double boots any ELF file
      setenv("AK_FC_DOUBLE_GUEST", guest.c_str(), 1);
    } else {
      setenv("AK_CONTAINER_CLI", Runfile("vmm/backend/testing/container_double").c_str(), 1);
      setenv("AK_CONTAINER_DOUBLE_STATE", (dir_ + "/containers").c_str(), 1);
      setenv("AK_CONTAINER_DOUBLE_GUEST", guest.c_str(), 1);
      setenv("AK_APPLE_IMAGE", "ghcr.io/example/ak-guest:latest", 1);
    }
    ASSERT_TRUE(exec_.Start({Runfile("services/executor/ak-executor"), "--listen", "127.0.0.1:0", "--insecure", "--state-dir",
                             dir_ + "/st", "--images", akvm::ImageStoreDir(), "--min-warm", "0", "--vmm",
                             GetParam()},
                            dir_, "executor"))
        << Slurp(dir_ + "/executor.err");
    struct ak_error err = {};
    ASSERT_EQ(rpc_channel_new(exec_.addr.c_str(), nullptr, &ch_, &err), 0) << err.msg;
  }
  void TearDown() override {
    rpc_channel_free(ch_);
    EXPECT_EQ(exec_.Stop(), 0) << Slurp(exec_.err);
    EXPECT_EQ(ProcessesMentioning(dir_), 0);
    akvm::RemoveDir(dir_);
  }
  int Unary(const char* method, const ProtobufCMessage* req, ProtobufCMessage** resp, std::string* e) {
    return aktest::ExecutorUnary(ch_, method, req, 180000, resp, e);
  }
  int Create(const char* name, Ak__V1__Network net, std::string* e) {
    Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
    spec.name = const_cast<char*>(name);
    spec.network = net;
    Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
    cr.spec = &spec;
    ProtobufCMessage* resp = nullptr;
    int r = Unary("CreateSandbox", &cr.base, &resp, e);
    // The sandbox says which backend runs it (sandbox.proto's names).
    if (resp) {
      EXPECT_EQ(std::string(reinterpret_cast<Ak__V1__Sandbox*>(resp)->backend), GetParam());
      protobuf_c_message_free_unpacked(resp, nullptr);
    }
    return r;
  }
  // Exec argv; returns stdout, or "" with *status set on failure.
  std::string Exec(const char* sandbox, std::vector<std::string> argv, int* exit_code) {
    Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    req.sandbox = const_cast<char*>(sandbox);
    req.argv = a.data();
    req.n_argv = a.size();
    req.timeout_ms = 30000;
    aktest::StreamOut o;
    aktest::ExecutorStream(ch_, "Exec", &req.base, 60000, &o);
    EXPECT_LE(o.status, 0) << o.error;  // the stream opened
    *exit_code = o.result ? o.result->exit_code : -1;
    return o.out;
  }

  std::string dir_;
  aktest::ServiceProcess exec_;
  struct rpc_channel* ch_ = nullptr;
};

TEST_P(ExecutorBackendTest, CreateExecFilesRemove) {
  std::string e;
  int r = Create("fc1", AK__V1__NETWORK__NETWORK_OFF, &e);
  if (r != RPC_OK && akvm::KernelUnavailable(e)) GTEST_SKIP() << e;
  ASSERT_EQ(r, RPC_OK) << e << "\n" << Slurp(exec_.err);
  if (GetParam() == "firecracker") {
    // The VMM is the double, started with Firecracker's command line.
    EXPECT_EQ(ProcessesMentioning("firecracker_double.py --api-sock " + dir_ + "/st/v/"), 1);
  } else {
    // One container, running, without network.
    std::string calls = Slurp(dir_ + "/containers/calls.log");
    EXPECT_NE(calls.find("\"--network\", \"none\", \"ghcr.io/example/ak-guest:latest\", \"sleep\", \"infinity\"]"),
              std::string::npos)
        << calls;
  }

  int code = -1;
  EXPECT_EQ(Exec("fc1", {"sh", "-c", "echo hello from $0", "firecracker"}, &code), "hello from firecracker\n");
  EXPECT_EQ(code, 0);
  Exec("fc1", {"sh", "-c", "exit 7"}, &code);
  EXPECT_EQ(code, 7);

  std::string path = dir_ + "/file.txt", data = "written through the executor\n";
  Ak__V1__WriteFileRequest w = AK__V1__WRITE_FILE_REQUEST__INIT;
  w.sandbox = const_cast<char*>("fc1");
  w.path = const_cast<char*>(path.c_str());
  w.content.data = reinterpret_cast<uint8_t*>(data.data());
  w.content.len = data.size();
  ProtobufCMessage* resp = nullptr;
  ASSERT_EQ(Unary("WriteFile", &w.base, &resp, &e), RPC_OK) << e;
  protobuf_c_message_free_unpacked(resp, nullptr);
  EXPECT_EQ(Slurp(path), data);  // the "guest" is this host
  Ak__V1__ReadFileRequest rd = AK__V1__READ_FILE_REQUEST__INIT;
  rd.sandbox = const_cast<char*>("fc1");
  rd.path = const_cast<char*>(path.c_str());
  ASSERT_EQ(Unary("ReadFile", &rd.base, &resp, &e), RPC_OK) << e;
  auto* rr = reinterpret_cast<Ak__V1__ReadFileResponse*>(resp);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(rr->content.data), rr->content.len), data);
  protobuf_c_message_free_unpacked(resp, nullptr);

  Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
  rm.name = const_cast<char*>("fc1");
  ASSERT_EQ(Unary("RemoveSandbox", &rm.base, &resp, &e), RPC_OK) << e;
  protobuf_c_message_free_unpacked(resp, nullptr);
  // The VMM (or container) and the guest agent are gone, and so is the VM directory.
  EXPECT_EQ(ProcessesMentioning(dir_ + "/st/v/"), 0);
  if (GetParam() == "apple") {
    DIR* cd = opendir((dir_ + "/containers").c_str());
    ASSERT_NE(cd, nullptr);
    int containers = 0;
    while (struct dirent* ent = readdir(cd)) containers += std::string(ent->d_name).rfind("c-", 0) == 0;
    closedir(cd);
    EXPECT_EQ(containers, 0);
  }
  DIR* d = opendir((dir_ + "/st/v").c_str());
  ASSERT_NE(d, nullptr);
  int entries = 0;
  while (struct dirent* ent = readdir(d)) entries += ent->d_name[0] != '.';
  closedir(d);
  EXPECT_EQ(entries, 0);
}

// OpenShell on one connection, ShellInput on others: the session lives in
// the one guest agent of the sandbox (for apple: the container's, reached
// through `container exec -i ... --relay`).
TEST_P(ExecutorBackendTest, Shell) {
  std::string e;
  int r = Create("sh1", AK__V1__NETWORK__NETWORK_OFF, &e);
  if (r != RPC_OK && akvm::KernelUnavailable(e)) GTEST_SKIP() << e;
  ASSERT_EQ(r, RPC_OK) << e;
  Ak__V1__OpenShellRequest open = AK__V1__OPEN_SHELL_REQUEST__INIT;
  open.sandbox = const_cast<char*>("sh1");
  struct rpc_stream* st = nullptr;
  struct ak_error err = {};
  struct rpc_call_options opt = {};
  opt.timeout_ms = 60000;
  ASSERT_EQ(rpc_stream_open(ch_, &ak__v1__executor__descriptor, "OpenShell", &open.base, &opt, &st, &err), RPC_OK);
  std::string session, screen;
  int exited = -100;
  bool sent = false;
  for (ProtobufCMessage* m = nullptr; exited == -100 && rpc_stream_next(st, &m, &err) > 0; m = nullptr) {
    auto* ev = reinterpret_cast<Ak__V1__ShellEvent*>(m);
    if (ev->kind == AK__V1__SHELL_EVENT__KIND__STARTED) session = ev->session_id;
    if (ev->kind == AK__V1__SHELL_EVENT__KIND__OUTPUT)
      screen.append(reinterpret_cast<char*>(ev->output.data), ev->output.len);
    if (ev->kind == AK__V1__SHELL_EVENT__KIND__EXITED) exited = ev->exit_code;
    protobuf_c_message_free_unpacked(m, nullptr);
    if (!session.empty() && !sent) {
      const char* text = "echo answer=$((6*7)); exit 4\n";
      Ak__V1__ShellInputRequest in = AK__V1__SHELL_INPUT_REQUEST__INIT;
      in.sandbox = const_cast<char*>("sh1");
      in.session_id = const_cast<char*>(session.c_str());
      in.input.data = reinterpret_cast<uint8_t*>(const_cast<char*>(text));
      in.input.len = strlen(text);
      ProtobufCMessage* resp = nullptr;
      EXPECT_EQ(Unary("ShellInput", &in.base, &resp, &e), RPC_OK) << e;
      if (resp) protobuf_c_message_free_unpacked(resp, nullptr);
      sent = true;
    }
  }
  rpc_stream_free(st);
  EXPECT_FALSE(session.empty()) << err.msg;
  EXPECT_NE(screen.find("answer=42"), std::string::npos) << screen;
  EXPECT_EQ(exited, 4);
  Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
  rm.name = const_cast<char*>("sh1");
  ProtobufCMessage* resp = nullptr;
  ASSERT_EQ(Unary("RemoveSandbox", &rm.base, &resp, &e), RPC_OK) << e;
  protobuf_c_message_free_unpacked(resp, nullptr);
}

// Firecracker (root): the VM's namespace with tap0, Firecracker (the double)
// in it, the network interface PUT; then vm.c asks the guest agent to set up
// eth0. The double's agent runs on the host, inside the VM's namespace and
// without CAP_NET_ADMIN like the double, so that step fails there (EPERM on
// `ip link set lo up`): the error shows the backend got that far and that
// what runs in the namespace cannot change it. Without root: refused, with
// the reason. Apple's runtime networks its containers itself: the default
// network, and vm.c leaves the guest's configuration alone.
TEST_P(ExecutorBackendTest, Network) {
  std::string e;
  int r = Create("net1", AK__V1__NETWORK__NETWORK_ON, &e);
  if (r != RPC_OK && akvm::KernelUnavailable(e)) GTEST_SKIP() << e;
  if (GetParam() == "firecracker") {
    EXPECT_NE(r, RPC_OK);
    if (geteuid() != 0) {
      EXPECT_NE(e.find("only root"), std::string::npos) << e;
      return;
    }
    EXPECT_NE(e.find("set up the guest's network"), std::string::npos) << e << "\n" << Slurp(exec_.err);
    EXPECT_NE(e.find("Operation not permitted"), std::string::npos) << e;
    return;
  }
  ASSERT_EQ(r, RPC_OK) << e;
  std::string calls = Slurp(dir_ + "/containers/calls.log");
  EXPECT_NE(calls.find("\"--memory\", \"512M\", \"ghcr.io/example/ak-guest:latest\""), std::string::npos) << calls;
  EXPECT_EQ(calls.find("--network"), std::string::npos) << calls;
  Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
  rm.name = const_cast<char*>("net1");
  ProtobufCMessage* resp = nullptr;
  ASSERT_EQ(Unary("RemoveSandbox", &rm.base, &resp, &e), RPC_OK) << e;
  protobuf_c_message_free_unpacked(resp, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Vmm, ExecutorBackendTest, ::testing::Values("firecracker", "apple"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
