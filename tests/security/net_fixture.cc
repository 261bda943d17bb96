// The network tests' shared fixture (net_fixture.h).
#include "tests/security/net_fixture.h"

#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

using aktest::Sh;

std::string NetFixture::skip_, NetFixture::setup_error_, NetFixture::dir_, NetFixture::dir2_, NetFixture::dir3_,
    NetFixture::forward_, NetFixture::ifname_;
struct vm *NetFixture::vm_ = nullptr, *NetFixture::vm2_ = nullptr, *NetFixture::vm3_ = nullptr;
aktest::DnsServer* NetFixture::dns_ = nullptr;
struct net_reporter NetFixture::reporter3_;
std::mutex NetFixture::events_mu_;
std::vector<struct net_event> NetFixture::events3_;
const char* const NetFixture::kDnsUpstream = "198.18.0.53";

static const char* const kPolicyDeny[] = {"198.18.0.1/32"};
static const uint16_t kPolicyPorts[] = {kPort};
const struct vmm_net_egress NetFixture::kPolicy = {nullptr, 0, kPolicyDeny, 1, kPolicyPorts, 1};
static const char* const kDnsDeny[] = {"0.0.0.0/0"};
static const char* const kDnsAllowNames[] = {"allowed.test", "rebind.test"};
const struct vmm_net_egress NetFixture::kDnsPolicy = {nullptr, 0, kDnsDeny, 1, nullptr, 0, kDnsAllowNames, 2,
                                                      nullptr, 0};

void NetFixture::SetUpSuite(unsigned vms) {
  if (geteuid() != 0) {
    skip_ = "needs root (network namespaces, nftables)";
    return;
  }
  aktest::PathWithSbin();  // Bazel's PATH has no sbin
  if (Sh("nft --version") != 0 || Sh("ip -V") != 0) {
    setup_error_ = "nft or ip missing: run tools/deps.sh (nftables, iproute2)";
    return;
  }
  if (!aktest::MakeTestInternet(&forward_, &setup_error_)) return;
  dir_ = akvm::MakeTempDir("aknet");
  std::string error;
  dns_ = new aktest::DnsServer("akt-inet", "198.18.0.53");
  if (!dns_->ok()) {
    setup_error_ = "could not serve DNS on 198.18.0.53:53 in akt-inet";
    return;
  }
  std::set<std::string> before = HostIfnames();
  vm_ = akvm::BootVm("base", dir_, true, &skip_, &error, 1, 256, {"198.18.0.128/25"}, nullptr, {kDnsUpstream});
  if (!vm_ && skip_.empty()) setup_error_ = error;
  // The VM's host end: the akv* link its boot added. Other VMs on this
  // machine (other test binaries) have theirs: with more than one new link
  // the teardown's leak check has nothing certain to check, and is skipped.
  std::set<std::string> added;
  for (const auto& l : HostIfnames())
    if (!before.count(l)) added.insert(l);
  if (vm_ && added.size() == 1) ifname_ = *added.begin();
  if (vm_ && (vms & kVmPolicy)) {
    dir2_ = akvm::MakeTempDir("aknet2");
    vm2_ = akvm::BootVm("base", dir2_, true, &skip_, &error, 1, 256, {"198.18.0.128/25"}, &kPolicy);
    if (!vm2_ && skip_.empty()) setup_error_ = error;
  }
  if (vm_ && (vms & kVmDomains)) {
    dir3_ = akvm::MakeTempDir("aknet4");
    akvm::BootOptions o;
    o.deny_cidrs = {"198.18.0.128/25"};
    o.egress = &kDnsPolicy;
    o.dns_upstreams = {kDnsUpstream};
    net_reporter_init(&reporter3_, OnEvent, nullptr, 1000, 1000);
    o.reporter = &reporter3_;
    vm3_ = akvm::BootVm("base", dir3_, true, o, &skip_, &error);
    if (!vm3_ && skip_.empty()) setup_error_ = error;
  }
}

void NetFixture::TearDownTestSuite() {
  if (vm3_) vm_free(vm3_);
  vm3_ = nullptr;
  if (dir3_.size()) net_reporter_destroy(&reporter3_);
  if (!dir3_.empty()) akvm::RemoveDir(dir3_);
  delete dns_;
  dns_ = nullptr;
  if (vm2_) vm_free(vm2_);
  vm2_ = nullptr;
  if (!dir2_.empty()) akvm::RemoveDir(dir2_);
  if (vm_) vm_free(vm_);
  vm_ = nullptr;
  // The VM's veth went with it.
  if (!ifname_.empty() && if_nametoindex(ifname_.c_str()) != 0)
    ADD_FAILURE() << ifname_ << " left behind after vm_free";
  if (!dir_.empty()) akvm::RemoveDir(dir_);
  aktest::RestoreForwarding(forward_);
  aktest::RemoveTestInternet();
}

std::set<std::string> NetFixture::HostIfnames() {
  std::set<std::string> out;
  FILE* p = popen("ip -o link show type veth | grep -o 'akv[0-9]*@' | tr -d @", "r");
  char buf[64];
  while (p && fgets(buf, sizeof(buf), p)) out.insert(std::string(buf, strcspn(buf, "\n")));
  if (p) pclose(p);
  return out;
}

std::string NetFixture::Guest(const std::string& cmd, bool policy, struct vm* in) {
  std::string err;
  if (!in) in = policy ? vm2_ : vm_;
  struct proto_reply* r = akvm::Run(vm_vsock_uds(in), {"sh", "-c", cmd}, 60000, &err);
  EXPECT_NE(r, nullptr) << err;
  if (!r) return "";
  std::string out = r->stdout_str ? r->stdout_str : "";
  proto_reply_free(r);
  return out;
}

void NetFixture::OnEvent(void*, const struct net_event* ev) {
  std::lock_guard<std::mutex> l(events_mu_);
  events3_.push_back(*ev);
}

bool NetFixture::Reported(enum net_event_kind kind, const std::string& name) {
  std::lock_guard<std::mutex> l(events_mu_);
  for (const auto& ev : events3_)
    if (ev.kind == kind && name == ev.name) return true;
  return false;
}
