#include "lib/base/fs.h"
#include "vmm/testing/vm_fixture.h"

#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "lib/encoding/base64.h"
#include "lib/guest/guest_client.h"
#include "vmm/image/image.h"
#include "vmm/vm.h"

namespace akvm {

std::string ImageStoreDir() {
  const char* d = getenv("AK_TEST_IMAGES");
  return d && *d ? d : "/var/tmp/ak-test-images";
}

std::string MakeTempDir(const char* prefix) {
  std::string t = std::string("/tmp/") + prefix + ".XXXXXX";
  std::vector<char> buf(t.begin(), t.end());
  buf.push_back(0);
  if (!mkdtemp(buf.data())) return "";
  return buf.data();
}

void RemoveDir(const std::string& dir) {
  if (!dir.empty()) ak_rm_rf(dir.c_str());
}

bool KernelUnavailable(const std::string& message) {
  return message.find(IMAGE_KERNEL_UNAVAILABLE_MSG) != std::string::npos;
}

bool GetKernel(std::string* skip_reason, std::string* error) {
  struct ak_error err = {};
  struct image_store* store = nullptr;
  if (image_store_open(ImageStoreDir().c_str(), &store, &err) < 0) {
    *error = err.msg;
    return false;
  }
  struct image_kernel k;
  int r = image_kernel_get(store, nullptr, &k, &err);
  image_store_free(store);
  if (r == IMAGE_KERNEL_UNAVAILABLE && KernelUnavailable(err.msg))
    *skip_reason = err.msg;
  else if (r < 0)
    *error = err.msg;
  return r == 0;
}

struct vm* BootVm(const std::string& image, const std::string& dir, bool network, std::string* skip_reason,
                  std::string* error, int vcpus, int memory_mb, const std::vector<std::string>& deny_cidrs,
                  const struct vmm_net_egress* egress, const std::vector<std::string>& dns_upstreams) {
  BootOptions o;
  o.vcpus = vcpus;
  o.memory_mb = memory_mb;
  o.deny_cidrs = deny_cidrs;
  o.egress = egress;
  o.dns_upstreams = dns_upstreams;
  return BootVm(image, dir, network, o, skip_reason, error);
}

struct vm* BootVm(const std::string& image, const std::string& dir, bool network, const BootOptions& o,
                  std::string* skip_reason, std::string* error) {
  struct ak_error err = {};
  struct image_store* store = nullptr;
  if (image_store_open(ImageStoreDir().c_str(), &store, &err) < 0) {
    *error = err.msg;
    return nullptr;
  }
  struct image_boot boot;
  int r = image_resolve_boot(store, image.c_str(), nullptr, &boot, &err);
  image_store_free(store);
  if (r < 0) {
    // No way to download the kernel here: the test is skipped, by name.
    if (r == IMAGE_KERNEL_UNAVAILABLE && KernelUnavailable(err.msg)) {
      *skip_reason = err.msg;
      return nullptr;
    }
    *error = err.msg;
    return nullptr;
  }
  struct vm_config cfg = {};
  cfg.dir = dir.c_str();
  cfg.kernel = boot.kernel;
  cfg.initrd = boot.initrd;
  cfg.root_disk = boot.rootfs[0] ? boot.rootfs : nullptr;
  cfg.root_mode = VMM_DISK_SNAPSHOT;
  cfg.vcpus = o.vcpus;
  cfg.memory_mb = o.memory_mb;
  cfg.network = network;
  cfg.no_acpi = boot.no_acpi;
  std::vector<const char*> deny;
  for (const std::string& c : o.deny_cidrs) deny.push_back(c.c_str());
  cfg.net_deny_cidrs = deny.data();
  cfg.n_net_deny_cidrs = deny.size();
  cfg.net_egress = o.egress;
  cfg.net_allow_private = o.allow_private;
  cfg.net_reporter = o.reporter;
  cfg.no_jail = o.no_jail;
  std::vector<const char*> ups;
  for (const std::string& u : o.dns_upstreams) ups.push_back(u.c_str());
  cfg.net_dns_upstreams = ups.data();
  cfg.n_net_dns_upstreams = ups.size();
  struct vm* v = nullptr;
  if (vm_start(&cfg, &v, &err) < 0) {
    *error = err.msg;
    return nullptr;
  }
  // TCG (and ASan) are slow: a generous bound, normally ~3 s.
  if (vm_wait_ready(v, 120000, &err) < 0) {
    *error = err.msg;
    vm_free(v);
    return nullptr;
  }
  return v;
}

struct proto_reply* Call(const char* uds, const struct proto_request_args& req, int timeout_ms,
                         std::string* error) {
  int fd = -1;
  int r = guest_client_connect(uds, GUEST_AGENT_PORT, timeout_ms, &fd);
  if (r < 0) {
    *error = std::string("connect: ") + strerror(-r);
    return nullptr;
  }
  struct proto_reply* rep = nullptr;
  r = guest_client_call(fd, &req, timeout_ms, &rep);
  close(fd);
  if (r < 0) {
    *error = std::string("call: ") + strerror(-r);
    return nullptr;
  }
  return rep;
}

struct proto_reply* Run(const char* uds, const std::vector<std::string>& argv, int timeout_ms,
                        std::string* error) {
  std::vector<const char*> v;
  for (auto& a : argv) v.push_back(a.c_str());
  struct proto_request_args req = PROTO_REQUEST_ARGS_INIT;
  req.id = "run";
  req.type = "run";
  req.command = v.data();
  req.n_command = v.size();
  return Call(uds, req, timeout_ms, error);
}

std::string Base64(const std::string& bytes) {
  char* out = nullptr;
  if (base64_encode_alloc(bytes.data(), bytes.size(), &out) < 0) return "";
  std::string s(out);
  free(out);
  return s;
}

std::string Unbase64(const std::string& text) {
  uint8_t* buf = nullptr;
  size_t len = 0;
  if (base64_decode_alloc(text.data(), text.size(), &buf, &len) < 0) return "<bad base64>";
  std::string s(reinterpret_cast<char*>(buf), len);
  free(buf);
  return s;
}

std::string QemuArgv(struct vm* vm) {
  std::ifstream f("/proc/" + std::to_string(vm_pid(vm)) + "/cmdline", std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string argv = ss.str();
  for (char& c : argv) c = c ? c : ' ';
  return argv;
}

}  // namespace akvm
