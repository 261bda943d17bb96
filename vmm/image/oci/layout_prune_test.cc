// oci_layout_prune: what index.json reaches stays (through an index, a
// manifest, its config and layers; a layer two images share), the rest goes
// once older than the grace period, under the layout's lock; nothing goes
// when a referenced manifest cannot be read.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "lib/base/fs.h"
#include "lib/crypto/crypto.h"
#include "vmm/image/oci/layout.h"

namespace {

class PruneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/oci-prune-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/cache";
    struct ak_error err = {};
    ASSERT_EQ(oci_layout_open(dir_.c_str(), &l_, &err), 0) << err.msg;
  }
  void TearDown() override {
    oci_layout_free(l_);
    ak_rm_rf(root_.c_str());
  }
  // Stores bytes as a blob; returns its descriptor JSON ({"mediaType",...}).
  std::string Put(const std::string& bytes, const std::string& media_type, std::string* digest) {
    char hex[CRYPTO_SHA256_HEX_LEN + 1];
    EXPECT_EQ(crypto_sha256_hex(bytes.data(), bytes.size(), hex), 0);
    *digest = std::string("sha256:") + hex;
    struct ak_error err = {};
    EXPECT_EQ(oci_layout_put_blob(l_, digest->c_str(), bytes.data(), bytes.size(), &err), 0) << err.msg;
    return "{\"mediaType\":\"" + media_type + "\",\"digest\":\"" + *digest + "\",\"size\":" +
           std::to_string(bytes.size());
  }
  // An image: config and layers as given; returns the manifest's descriptor
  // (platform added when for_index) and its digest.
  std::string Image(const std::string& name, const std::string& shared_layer, std::string digests[4],
                    bool for_index = false) {
    std::string cfg = Put("{\"os\":\"linux\",\"n\":\"" + name + "\"}", "application/vnd.oci.image.config.v1+json",
                          &digests[0]) + "}";
    std::string own = Put("layer of " + name, "application/vnd.oci.image.layer.v1.tar+gzip", &digests[1]) + "}";
    std::string layers = "[" + own + (shared_layer.empty() ? "" : "," + shared_layer) + "]";
    std::string m = "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\",\"config\":" + cfg +
                    ",\"layers\":" + layers + "}";
    std::string d = Put(m, OCI_MT_MANIFEST, &digests[2]);
    return d + (for_index ? ",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}" : "}");
  }
  void SetRef(const std::string& digest, const char* media_type, const std::string& name) {
    struct oci_descriptor d = {};
    snprintf(d.media_type, sizeof(d.media_type), "%s", media_type);
    snprintf(d.digest, sizeof(d.digest), "%s", digest.c_str());
    struct stat st;
    char p[PATH_MAX];
    oci_layout_blob_path(l_, d.digest, p, sizeof(p));
    ASSERT_EQ(stat(p, &st), 0);
    d.size = (uint64_t)st.st_size;
    struct ak_error err = {};
    ASSERT_EQ(oci_layout_set_ref(l_, &d, name.c_str(), &err), 0) << err.msg;
  }
  bool Has(const std::string& digest) {
    char p[PATH_MAX];
    oci_layout_blob_path(l_, digest.c_str(), p, sizeof(p));
    return access(p, F_OK) == 0;
  }
  // Every file under blobs/sha256 and tmp/ modified two hours ago.
  void Age() {
    for (const char* sub : {"/blobs/sha256", "/tmp"}) {
      DIR* d = opendir((dir_ + sub).c_str());
      ASSERT_NE(d, nullptr);
      while (struct dirent* de = readdir(d)) {
        if (de->d_name[0] == '.') continue;
        struct timespec t[2] = {{time(nullptr) - 7200, 0}, {time(nullptr) - 7200, 0}};
        ASSERT_EQ(utimensat(AT_FDCWD, (dir_ + sub + "/" + de->d_name).c_str(), t, 0), 0);
      }
      closedir(d);
    }
  }
  std::string root_, dir_;
  struct oci_layout* l_ = nullptr;
};

TEST_F(PruneTest, KeepsWhatTheIndexReachesRemovesTheRestWhenOld) {
  std::string shared_d, a[4], b[4], c[4], index_d, orphan_d;
  std::string shared = Put("shared layer", "application/vnd.oci.image.layer.v1.tar+gzip", &shared_d) + "}";
  Image("a", shared, a);
  Image("b", shared, b);
  std::string cm = Image("c", "", c, true);
  Put("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":[" + cm + "]}", OCI_MT_INDEX, &index_d);
  Put("never recorded", "application/octet-stream", &orphan_d);
  SetRef(a[2], OCI_MT_MANIFEST, "example.com/img:t");
  SetRef(index_d, OCI_MT_INDEX, "example.com/multi:1");
  SetRef(b[2], OCI_MT_MANIFEST, "example.com/img:t");  // replaces a
  std::ofstream(dir_ + "/blobs/sha256/README") << "not a blob";
  std::ofstream(dir_ + "/tmp/0123.partial") << "a download in progress";

  struct oci_prune_stats st = {};
  struct ak_error err = {};
  ASSERT_EQ(oci_layout_prune(l_, 3600, &st, &err), 0) << err.msg;
  EXPECT_EQ(st.removed, 0u);
  EXPECT_EQ(st.young, 4u);  // a's config, layer, manifest; the orphan
  EXPECT_TRUE(Has(a[2]) && Has(orphan_d));

  Age();
  ASSERT_EQ(oci_layout_prune(l_, 3600, &st, &err), 0) << err.msg;
  EXPECT_EQ(st.removed, 4u);
  EXPECT_EQ(st.young, 0u);
  for (const std::string& gone : {a[0], a[1], a[2], orphan_d}) EXPECT_FALSE(Has(gone)) << gone;
  for (const std::string& kept : {b[0], b[1], b[2], shared_d, index_d, c[0], c[1], c[2]})
    EXPECT_TRUE(Has(kept)) << kept;
  EXPECT_EQ(access((dir_ + "/blobs/sha256/README").c_str(), F_OK), 0);
  EXPECT_EQ(access((dir_ + "/tmp/0123.partial").c_str(), F_OK), 0);
}

// A pull that reuses a stored blob refreshes it, so the grace period covers
// it until the pull records its image.
TEST_F(PruneTest, ReusedBlobIsYoungAgain) {
  std::string d;
  Put("an old layer", "application/octet-stream", &d);
  Age();
  EXPECT_TRUE(oci_layout_has_blob(l_, d.c_str(), UINT64_MAX));
  struct oci_prune_stats st = {};
  struct ak_error err = {};
  ASSERT_EQ(oci_layout_prune(l_, 3600, &st, &err), 0) << err.msg;
  EXPECT_EQ(st.young, 1u);
  EXPECT_TRUE(Has(d));
}

TEST_F(PruneTest, WaitsForTheLayoutLock) {
  std::string d;
  Put("orphan", "application/octet-stream", &d);
  Age();
  int lock = -1;
  struct ak_error err = {};
  ASSERT_EQ(oci_layout_lock(l_, &lock, &err), 0) << err.msg;
  std::atomic<bool> done{false};
  struct oci_prune_stats st = {};
  int r = 1;
  std::thread t([&] {
    struct oci_layout* other = nullptr;
    struct ak_error e = {};
    if (oci_layout_open(dir_.c_str(), &other, &e) == 0) r = oci_layout_prune(other, 3600, &st, &e);
    oci_layout_free(other);
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_FALSE(done);
  EXPECT_TRUE(Has(d));
  close(lock);
  t.join();
  EXPECT_EQ(r, 0);
  EXPECT_EQ(st.removed, 1u);
  EXPECT_FALSE(Has(d));
}

TEST_F(PruneTest, UnreadableManifestRemovesNothing) {
  std::string a[4], orphan_d;
  Image("a", "", a);
  Put("orphan", "application/octet-stream", &orphan_d);
  SetRef(a[2], OCI_MT_MANIFEST, "example.com/img:t");
  char p[PATH_MAX];
  oci_layout_blob_path(l_, a[2].c_str(), p, sizeof(p));
  std::ofstream(p) << "not a manifest";
  Age();
  struct oci_prune_stats st = {};
  struct ak_error err = {};
  EXPECT_EQ(oci_layout_prune(l_, 0, &st, &err), -EINVAL);
  EXPECT_NE(std::string(err.msg).find("nothing removed"), std::string::npos) << err.msg;
  EXPECT_NE(std::string(err.msg).find(a[2]), std::string::npos) << err.msg;
  EXPECT_TRUE(Has(orphan_d) && Has(a[0]) && Has(a[1]));
}

}  // namespace
