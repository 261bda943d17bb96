// A kernel as image_kernel_get leaves one in an image store, with the
// modules the base image loads: made-up bytes, nothing boots it. For tests
// of the image store that never start a VM (seed_test, input_stamp_test).
#pragma once

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "lib/base/fs.h"

namespace akvm {

// Writes `data` to `path`, creating its parent directories.
inline void WriteFileMkdir(const std::string& path, const std::string& data) {
  ASSERT_EQ(ak_mkdir_p(path.c_str(), 0755, true), 0) << path;
  std::ofstream f(path, std::ios::binary);
  f << data;
  ASSERT_TRUE(f.good()) << path;
}

// The whole of `path` ("" when it cannot be read).
inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// store/kernel/ENTRY (release, vmlinuz, modules) and store/kernel/current.
inline void FakeKernel(const std::string& store, const char* entry, const char* release) {
  std::string k = store + "/kernel/" + entry;
  std::string m = k + "/lib/modules/" + release;
  WriteFileMkdir(k + "/release", std::string(release) + "\n" + entry + "\n");
  WriteFileMkdir(k + "/vmlinuz", std::string(4096, 'K'));
  WriteFileMkdir(m + "/modules.dep",
                 "kernel/drivers/virtio/virtio.ko:\n"
                 "kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko\n"
                 "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko\n"
                 "kernel/net/vmw_vsock/vsock.ko:\n"
                 "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko: kernel/net/vmw_vsock/vsock.ko\n"
                 "kernel/drivers/net/virtio_net.ko: kernel/drivers/virtio/virtio.ko\n"
                 "kernel/drivers/virtio/virtio_balloon.ko: kernel/drivers/virtio/virtio.ko\n");
  for (const char* ko : {"drivers/virtio/virtio", "drivers/virtio/virtio_mmio", "drivers/block/virtio_blk",
                         "net/vmw_vsock/vsock", "net/vmw_vsock/vmw_vsock_virtio_transport", "drivers/net/virtio_net",
                         "drivers/virtio/virtio_balloon"})
    WriteFileMkdir(m + "/kernel/" + ko + ".ko", std::string("module ") + ko);
  ASSERT_EQ(symlink(entry, (store + "/kernel/current").c_str()), 0);
}

}  // namespace akvm
