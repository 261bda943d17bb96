#include <gtest/gtest.h>

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>

#include "lib/base/fs.h"
#include "vmm/image/oci/layout.h"
#include "vmm/image/oci/registry.h"

namespace {

/* sha256("hello") */
const char kHello[] = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

class LayoutTest : public ::testing::Test {
      protected:
        void SetUp() override
        {
                char tmpl[] = "/tmp/oci-layout-test.XXXXXX";
                ASSERT_NE(mkdtemp(tmpl), nullptr);
                root_ = tmpl;
                dir_ = root_ + "/cache";
                struct ak_error err = {};
                ASSERT_EQ(oci_layout_open(dir_.c_str(), &l_, &err), 0) << err.msg;
        }
        void TearDown() override
        {
                oci_layout_free(l_);
                ak_rm_rf(root_.c_str());
        }
        size_t TmpEntries()
        {
                size_t n = 0;
                DIR *d = opendir((dir_ + "/tmp").c_str());
                while (struct dirent *de = readdir(d))
                        n += de->d_name[0] != '.';
                closedir(d);
                return n;
        }
        std::string Read(const std::string &p)
        {
                std::ifstream f(p);
                std::stringstream ss;
                ss << f.rdbuf();
                return ss.str();
        }
        std::string root_, dir_;
        struct oci_layout *l_ = nullptr;
};

TEST_F(LayoutTest, CreatesTheLayoutFiles)
{
        EXPECT_EQ(Read(dir_ + "/oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        EXPECT_EQ(Read(dir_ + "/index.json"), "{\"schemaVersion\":2,\"manifests\":[]}");
        /* Reopening keeps it; a foreign oci-layout is refused. */
        struct oci_layout *again = nullptr;
        ASSERT_EQ(oci_layout_open(dir_.c_str(), &again, nullptr), 0);
        oci_layout_free(again);
        std::ofstream(dir_ + "/oci-layout") << "{\"imageLayoutVersion\":\"2.0.0\"}";
        struct ak_error err = {};
        EXPECT_EQ(oci_layout_open(dir_.c_str(), &again, &err), -EINVAL);
}

TEST_F(LayoutTest, BlobStoredOnlyWhenVerified)
{
        struct ak_error err = {};
        struct oci_blob_writer *w = nullptr;
        /* Wrong bytes of the right size. */
        ASSERT_EQ(oci_blob_writer_new(l_, kHello, 5, &w, &err), 0);
        ASSERT_EQ(oci_blob_writer_write(w, "hellO", 5, &err), 0);
        EXPECT_EQ(oci_blob_writer_commit(w, &err), -EBADMSG);
        EXPECT_NE(std::string(err.msg).find("digest mismatch"), std::string::npos) << err.msg;
        oci_blob_writer_free(w);
        EXPECT_FALSE(oci_layout_has_blob(l_, kHello, UINT64_MAX));
        EXPECT_EQ(TmpEntries(), 0u);
        /* Short. */
        ASSERT_EQ(oci_blob_writer_new(l_, kHello, 5, &w, &err), 0);
        ASSERT_EQ(oci_blob_writer_write(w, "hel", 3, &err), 0);
        EXPECT_EQ(oci_blob_writer_commit(w, &err), -EPROTO);
        oci_blob_writer_free(w);
        /* More than declared. */
        ASSERT_EQ(oci_blob_writer_new(l_, kHello, 5, &w, &err), 0);
        EXPECT_EQ(oci_blob_writer_write(w, "hello!", 6, &err), -EFBIG);
        oci_blob_writer_free(w);
        EXPECT_FALSE(oci_layout_has_blob(l_, kHello, UINT64_MAX));
        EXPECT_EQ(TmpEntries(), 0u);
        /* Rewound after garbage, then right. */
        ASSERT_EQ(oci_blob_writer_new(l_, kHello, 5, &w, &err), 0);
        ASSERT_EQ(oci_blob_writer_write(w, "xx", 2, &err), 0);
        ASSERT_EQ(oci_blob_writer_rewind(w, &err), 0);
        ASSERT_EQ(oci_blob_writer_write(w, "hel", 3, &err), 0);
        ASSERT_EQ(oci_blob_writer_write(w, "lo", 2, &err), 0);
        ASSERT_EQ(oci_blob_writer_commit(w, &err), 0) << err.msg;
        oci_blob_writer_free(w);
        EXPECT_TRUE(oci_layout_has_blob(l_, kHello, 5));
        EXPECT_FALSE(oci_layout_has_blob(l_, kHello, 6));
        EXPECT_EQ(Read(dir_ + "/blobs/sha256/" + std::string(kHello + 7)), "hello");
        EXPECT_EQ(TmpEntries(), 0u);
        EXPECT_EQ(oci_layout_put_blob(l_, kHello, "hellp", 5, &err), -EBADMSG);
}

TEST_F(LayoutTest, RefsReplacedByName)
{
        struct oci_descriptor a = {}, b = {}, got;
        snprintf(a.media_type, sizeof(a.media_type), "application/vnd.oci.image.manifest.v1+json");
        snprintf(a.digest, sizeof(a.digest), "%s", kHello);
        a.size = 5;
        b = a;
        b.size = 6;
        struct ak_error err = {};
        ASSERT_EQ(oci_layout_set_ref(l_, &a, "docker.io/library/x:1", &err), 0) << err.msg;
        ASSERT_EQ(oci_layout_set_ref(l_, &a, "docker.io/library/x:2", &err), 0) << err.msg;
        ASSERT_EQ(oci_layout_set_ref(l_, &b, "docker.io/library/x:1", &err), 0) << err.msg;
        ASSERT_EQ(oci_layout_get_ref(l_, "docker.io/library/x:1", &got, &err), 0) << err.msg;
        EXPECT_EQ(got.size, 6u);
        ASSERT_EQ(oci_layout_get_ref(l_, "docker.io/library/x:2", &got, &err), 0);
        EXPECT_EQ(got.size, 5u);
        EXPECT_EQ(oci_layout_get_ref(l_, "docker.io/library/x:3", &got, &err), -ENOENT);
        std::string idx = Read(dir_ + "/index.json");
        EXPECT_EQ(idx.find("x:1"), idx.rfind("x:1")) << idx; /* once */
        std::ofstream(dir_ + "/index.json") << "{\"schemaVersion\":2";
        EXPECT_EQ(oci_layout_set_ref(l_, &a, "y", &err), -EINVAL);
        EXPECT_NE(std::string(err.msg).find("index.json"), std::string::npos) << err.msg;
}

TEST(Insecure, LoopbackAndListedOnly)
{
        const char *list[] = { "reg.lan:5000", "other.lan" };
        EXPECT_TRUE(oci_registry_insecure_allowed("127.0.0.1:5000", list, 2));
        EXPECT_TRUE(oci_registry_insecure_allowed("localhost", list, 2));
        EXPECT_TRUE(oci_registry_insecure_allowed("[::1]:80", list, 2));
        EXPECT_TRUE(oci_registry_insecure_allowed("reg.lan:5000", list, 2));
        EXPECT_FALSE(oci_registry_insecure_allowed("reg.lan:5001", list, 2));
        EXPECT_FALSE(oci_registry_insecure_allowed("reg.lan", list, 2));
        EXPECT_TRUE(oci_registry_insecure_allowed("other.lan:443", list, 2));
        EXPECT_TRUE(oci_registry_insecure_allowed("other.lan", list, 2));
        EXPECT_FALSE(oci_registry_insecure_allowed("other.lan.evil:80", list, 2));
        EXPECT_FALSE(oci_registry_insecure_allowed("10.0.0.1:5000", list, 2));
}

}  // namespace
