// A real root filesystem for tests that must not reach a Debian mirror:
// the debootstrap stage that image_build_rootfs(store, name, no packages)
// starts from, seeded with a static busybox (and a link per applet in /bin),
// /etc/passwd and /etc/group for root, an empty /usr/local/bin (where the
// build writes ak-guest) and /etc/ak-image holding `marker`, packed by
// `mkfs.ext4 -d` in about a second. Everything after the stage (ak-guest
// added, the image published and named, booted as the root disk) is the
// real build. debootstrap minbase would take a minute or more and fetch
// from deb.debian.org, which tests must not reach.
//
// The stage's key includes $AK_DEBIAN_MIRROR as the process sees it at the
// time of the call and of the build: set it first to a URL of the test's own
// on loopback (UseLoopbackMirror), so the seeded stage is not a real one
// and a build that misses it fails at once instead of reaching out.
#pragma once

#include <string>

namespace akvm {

// Sets AK_DEBIAN_MIRROR in this process to http://127.0.0.1:9/<tag>
// (nothing listens on the discard port) and returns it.
std::string UseLoopbackMirror(const std::string& tag);

// Seeds <store_dir>/stage/<key>/rootfs.ext4 (see above): true, or false
// with *error.
bool SeedTinyStage(const std::string& store_dir, const std::string& marker, std::string* error);

}  // namespace akvm
