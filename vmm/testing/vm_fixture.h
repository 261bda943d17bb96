// A booted base-image microVM shared by the tests of a suite, and helpers
// to talk to its guest agent through the hybrid vsock socket.
#pragma once

#include <string>
#include <vector>

extern "C" {
#include "lib/guest/protocol.h"
}

struct vm;

namespace akvm {

// Where VM tests keep built images between runs: $AK_TEST_IMAGES, else
// /var/tmp/ak-test-images (a cache: the kernel download and the images are
// reused by the next run and by the ASan pass).
std::string ImageStoreDir();

// Boots a VM from image `image` ("base" or a rootfs image name). On a
// machine that cannot get the kernel (no apt, no network) *skip_reason says
// why and nullptr is returned; on other failures *error.
struct vm* BootVm(const std::string& image, const std::string& dir, bool network, std::string* skip_reason,
                  std::string* error, int vcpus = 1, int memory_mb = 256);

// A short directory under /tmp for sockets (removed by RemoveDir).
std::string MakeTempDir(const char* prefix);
void RemoveDir(const std::string& dir);

// One request on a fresh connection; returns nullptr (and *error) on failure.
struct proto_reply* Call(const char* uds, const struct proto_request_args& req, int timeout_ms,
                         std::string* error);
// run argv, returns the reply.
struct proto_reply* Run(const char* uds, const std::vector<std::string>& argv, int timeout_ms,
                        std::string* error);

std::string Base64(const std::string& bytes);
std::string Unbase64(const std::string& text);

}  // namespace akvm
