// A disk image through the OCI layout and back, without a registry: a
// snapshot packed (image_disk_pack) into a layout, imported into a second
// store (image_import installs the disk layer), byte-identical and sparse.
// A corrupt or truncated disk blob, a wrong diff_id and an unknown layer
// media type are refused with words and leave nothing in the store.
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "lib/base/fs.h"
#include "lib/base/proc.h"
#include "vmm/image/disk_format.h"
#include "vmm/image/disk_pack.h"
#include "vmm/image/image.h"
}

namespace {

const char kRef[] = "127.0.0.1:5999/t/snap:1";

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void Spit(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

std::set<std::string> Ls(const std::string& dir) {
  std::set<std::string> s;
  DIR* d = opendir(dir.c_str());
  if (!d) return s;
  while (struct dirent* de = readdir(d))
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) s.insert(de->d_name);
  closedir(d);
  return s;
}

class DiskPackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char bb[PATH_MAX];
    if (geteuid() != 0) GTEST_SKIP() << "image_import needs root";
    if (proc_which("busybox", bb, sizeof(bb)) < 0) GTEST_SKIP() << "busybox-static is not installed (tools/deps.sh)";
    char tmpl[] = "/tmp/akdisk.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    layout_ = dir_ + "/layout";
    struct ak_error err = {};
    ASSERT_EQ(image_store_open((dir_ + "/a").c_str(), &a_, &err), 0) << err.msg;
    ASSERT_EQ(image_store_open((dir_ + "/b").c_str(), &b_, &err), 0) << err.msg;
    ASSERT_EQ(image_store_set_guest_binary(b_, "guest/ak-guest", &err), 0) << err.msg;
    // A 64 MiB disk: a marker at 1 MiB and at 40 MiB, zeros (a hole) between.
    disk_ = dir_ + "/disk.raw";
    int fd = open(disk_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 64 << 20), 0);
    ASSERT_EQ(pwrite(fd, "hello from A", 12, 1 << 20), 12);
    std::string noise(300000, 'x');
    for (size_t i = 0; i < noise.size(); i++) noise[i] = (char)(i * 7919 % 251);
    ASSERT_EQ(pwrite(fd, noise.data(), noise.size(), 40 << 20), (ssize_t)noise.size());
    close(fd);
    want_ = Slurp(disk_);
    struct image_info meta = {}, info;
    snprintf(meta.snapshot_sandbox, sizeof(meta.snapshot_sandbox), "sb-a");
    snprintf(meta.snapshot_image, sizeof(meta.snapshot_image), "py");
    ASSERT_EQ(image_snapshot_add(a_, "snap1", disk_.c_str(), &meta, &info, &err), 0) << err.msg;
  }
  void TearDown() override {
    image_store_free(a_);
    image_store_free(b_);
    if (!dir_.empty()) ak_rm_rf(dir_.c_str());
  }

  void Pack(struct image_disk_packed* res) {
    struct ak_error err = {};
    ASSERT_EQ(image_disk_pack(a_, "snap1", layout_.c_str(), kRef, nullptr, res, &err), 0) << err.msg;
  }
  int Import(const char* name, struct image_info* info, struct ak_error* err) {
    std::string src = "oci-layout:" + layout_ + ":" + kRef;
    return image_import(b_, src.c_str(), name, nullptr, info, err);
  }
  std::string Blob(const std::string& digest) { return layout_ + "/blobs/sha256/" + digest.substr(7); }
  // The layer's digest, from the manifest.
  std::string LayerDigest(const struct image_disk_packed& res) {
    std::string m = Slurp(Blob(res.manifest_digest));
    size_t at = m.find(AK_DISK_MEDIA_TYPE);
    size_t d = m.find("sha256:", at);
    return m.substr(d, 71);
  }
  void ExpectNothingStored(const char* name) {
    struct image_info info;
    struct ak_error err = {};
    EXPECT_EQ(image_lookup(b_, name, &info, &err), -ENOENT);
    std::set<std::string> left = Ls(dir_ + "/b");
    for (auto& e : left) EXPECT_NE(e.size(), 64u) << "an image directory was left: " << e;
    EXPECT_TRUE(Ls(dir_ + "/b/tmp").empty());
  }

  std::string dir_, layout_, disk_, want_;
  struct image_store *a_ = nullptr, *b_ = nullptr;
};

TEST_F(DiskPackTest, RoundTripIsByteIdenticalSparseAndCachedByDigest) {
  struct image_disk_packed res;
  Pack(&res);
  EXPECT_EQ(res.disk_bytes, 64u << 20);
  EXPECT_LT(res.layer_bytes, 1u << 20);  // zeros compress
  std::string manifest = Slurp(Blob(res.manifest_digest));
  EXPECT_NE(manifest.find("\"mediaType\":\"" AK_DISK_MEDIA_TYPE "\""), std::string::npos) << manifest;

  struct image_info info;
  struct ak_error err = {};
  ASSERT_EQ(Import("restored", &info, &err), 0) << err.msg;
  EXPECT_STREQ(info.digest, res.manifest_digest);
  std::string got = Slurp(std::string(info.dir) + "/rootfs.ext4");
  ASSERT_EQ(got.size(), want_.size());
  EXPECT_TRUE(got == want_);
  struct stat st;
  ASSERT_EQ(stat((std::string(info.dir) + "/rootfs.ext4").c_str(), &st), 0);
  EXPECT_LT((uint64_t)st.st_blocks * 512, 8u << 20) << "installed disk is not sparse";
  // No agent or busybox was added: the disk is what was pushed.
  EXPECT_EQ(Ls(info.dir).count("root"), 0u);

  // The same image under another name: stored once.
  struct image_info again;
  ASSERT_EQ(Import("restored2", &again, &err), 0) << err.msg;
  EXPECT_STREQ(again.hash, info.hash);
}

TEST_F(DiskPackTest, ConfigCarriesLabelsAndTheSourceImagesEnv) {
  struct image_disk_packed res;
  Pack(&res);
  std::string m = Slurp(Blob(res.manifest_digest));
  size_t c = m.find("sha256:", m.find("\"config\""));
  std::string config = Slurp(Blob(m.substr(c, 71)));
  EXPECT_NE(config.find("\"" AK_DISK_LABEL_SIZE "\":\"67108864\""), std::string::npos) << config;
  EXPECT_NE(config.find("\"" AK_DISK_LABEL_SANDBOX "\":\"sb-a\""), std::string::npos) << config;
  EXPECT_NE(config.find("\"" AK_DISK_LABEL_SOURCE "\":\"py\""), std::string::npos) << config;
  EXPECT_NE(config.find("\"diff_ids\":[\"sha256:"), std::string::npos) << config;
}

TEST_F(DiskPackTest, ImageConfigAndResolvedUserTravel) {
  // Give snap1 an image config as an imported image has one (its manifest
  // as the store writes it: with a digest), then pack and install it
  // elsewhere.
  struct image_info a;
  struct ak_error err = {};
  ASSERT_EQ(image_lookup(a_, "snap1", &a, &err), 0) << err.msg;
  std::string mf = std::string(a.dir) + "/manifest.json", m = Slurp(mf);
  ASSERT_EQ(m[0], '{');
  m.insert(1, "\"env\":[\"PATH=/bin\",\"GREETING=hi\"],\"working_dir\":\"/work\",\"user\":\"app:staff\","
              "\"user_ids\":\"1234:2345\",\"digest\":\"sha256:" + std::string(64, 'c') + "\",");
  Spit(mf, m);
  struct image_disk_packed res;
  Pack(&res);
  struct image_info info;
  ASSERT_EQ(Import("withcfg", &info, &err), 0) << err.msg;
  EXPECT_STREQ(info.env, "PATH=/bin\nGREETING=hi\n");
  EXPECT_STREQ(info.working_dir, "/work");
  EXPECT_STREQ(info.user, "app:staff");
  EXPECT_STREQ(info.user_ids, "1234:2345");
}

TEST_F(DiskPackTest, TruncatedBlobIsRefusedAndNothingStored) {
  struct image_disk_packed res;
  Pack(&res);
  std::string layer = Blob(LayerDigest(res));
  std::string data = Slurp(layer);
  Spit(layer, data.substr(0, data.size() / 2));
  struct image_info info;
  struct ak_error err = {};
  EXPECT_LT(Import("bad", &info, &err), 0);
  EXPECT_NE(strstr(err.msg, "disk layer"), nullptr) << err.msg;
  printf("truncated: %s\n", err.msg);
  ExpectNothingStored("bad");
}

TEST_F(DiskPackTest, CorruptBlobIsRefusedAndNothingStored) {
  struct image_disk_packed res;
  Pack(&res);
  std::string layer = Blob(LayerDigest(res));
  std::string data = Slurp(layer);
  data[data.size() / 2] ^= 0x55;
  Spit(layer, data);
  struct image_info info;
  struct ak_error err = {};
  EXPECT_LT(Import("bad", &info, &err), 0);
  EXPECT_NE(strstr(err.msg, "disk"), nullptr) << err.msg;
  printf("corrupt: %s\n", err.msg);
  ExpectNothingStored("bad");
}

TEST_F(DiskPackTest, UnknownLayerMediaTypeIsRefused) {
  struct image_disk_packed res;
  Pack(&res);
  // Rewrite the manifest with another layer type, store it under its new
  // digest and point index.json at it.
  std::string m = Slurp(Blob(res.manifest_digest));
  std::string bad = m;
  bad.replace(bad.find(AK_DISK_MEDIA_TYPE), strlen(AK_DISK_MEDIA_TYPE), "application/vnd.example.disk.v9");
  int status;
  std::string py = "import hashlib,sys,os,json; d=sys.argv[1]; b=open(sys.argv[2],'rb').read(); "
                   "h=hashlib.sha256(b).hexdigest(); open(d+'/blobs/sha256/'+h,'wb').write(b); "
                   "i=json.load(open(d+'/index.json')); i['manifests'][0]['digest']='sha256:'+h; "
                   "i['manifests'][0]['size']=len(b); json.dump(i,open(d+'/index.json','w'))";
  Spit(dir_ + "/bad.json", bad);
  std::string cmd = "python3 -c \"" + py + "\" " + layout_ + " " + dir_ + "/bad.json";
  status = system(cmd.c_str());
  ASSERT_EQ(status, 0);
  struct image_info info;
  struct ak_error err = {};
  EXPECT_EQ(Import("bad", &info, &err), -ENOTSUP) << err.msg;
  EXPECT_NE(strstr(err.msg, "application/vnd.example.disk.v9"), nullptr) << err.msg;
  printf("unknown: %s\n", err.msg);
  ExpectNothingStored("bad");
}

TEST_F(DiskPackTest, BaseHasNoDiskToPush) {
  struct image_disk_packed res;
  struct ak_error err = {};
  EXPECT_EQ(image_disk_pack(a_, "nosuch", layout_.c_str(), kRef, nullptr, &res, &err), -ENOENT) << err.msg;
}

}  // namespace
