// A booted base-image microVM shared by the tests of a suite, and helpers
// to talk to its guest agent through the hybrid vsock socket.
#pragma once

#include <string>
#include <vector>

extern "C" {
#include "lib/guest/protocol.h"
#include "vmm/backend/vmm_net.h"  // struct vmm_net_egress, for BootVm
}

struct vm;

namespace akvm {

// Where VM tests keep built images between runs: $AK_TEST_IMAGES, else
// /var/tmp/ak-test-images (a cache: the kernel download and the images are
// reused by the next run and by the ASan pass).
std::string ImageStoreDir();

// Whether an error message (from the image code, or an RPC status or CLI
// output that carries it) says the guest kernel cannot be downloaded on this
// machine at all (IMAGE_KERNEL_UNAVAILABLE: no apt-get, no network or mirror,
// the package not in apt's lists). Only that makes a VM test skip; any other
// failure to get the kernel (a corrupt cache, unpacking, depmod) fails it.
bool KernelUnavailable(const std::string& message);

// Gets the guest kernel into ImageStoreDir(), downloading it on first use:
// true; false with *skip_reason where it cannot be downloaded here
// (KernelUnavailable), else with *error.
bool GetKernel(std::string* skip_reason, std::string* error);

// Boots a VM from image `image` ("base" or a rootfs image name). On a
// machine that cannot download the kernel (KernelUnavailable) *skip_reason
// says why and nullptr is returned; on other failures *error.
struct vm* BootVm(const std::string& image, const std::string& dir, bool network, std::string* skip_reason,
                  std::string* error, int vcpus = 1, int memory_mb = 256,
                  const std::vector<std::string>& deny_cidrs = {},
                  const struct vmm_net_egress* egress = nullptr,
                  const std::vector<std::string>& dns_upstreams = {});

// BootVm with every option: what the defaults above leave out.
struct BootOptions {
  int vcpus = 1;
  int memory_mb = 256;
  std::vector<std::string> deny_cidrs;          // the operator's (--deny-cidr)
  const struct vmm_net_egress* egress = nullptr;  // the sandbox's own
  bool allow_private = false;                   // --egress-allow-private
  bool no_jail = false;                         // vm_config.no_jail: QEMU unconfined, the host's network namespace
  std::vector<std::string> dns_upstreams;       // --dns-upstream: the VM resolver's upstreams
  struct net_reporter* reporter = nullptr;      // the VM's denials reported to it
};
struct vm* BootVm(const std::string& image, const std::string& dir, bool network, const BootOptions& options,
                  std::string* skip_reason, std::string* error);

// A short directory under /tmp for sockets (removed by RemoveDir).
std::string MakeTempDir(const char* prefix);
void RemoveDir(const std::string& dir);

// One request on a fresh connection; returns nullptr (and *error) on failure.
struct proto_reply* Call(const char* uds, const struct proto_request_args& req, int timeout_ms,
                         std::string* error);
// run argv, returns the reply.
struct proto_reply* Run(const char* uds, const std::vector<std::string>& argv, int timeout_ms,
                        std::string* error);

// The VM's QEMU command line, its arguments joined by spaces ("" if gone).
std::string QemuArgv(struct vm* vm);

std::string Base64(const std::string& bytes);
std::string Unbase64(const std::string& text);

}  // namespace akvm
