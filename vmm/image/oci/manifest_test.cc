#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vmm/image/oci/manifest.h"

namespace {

const std::string kD1 = "sha256:" + std::string(64, 'a');
const std::string kD2 = "sha256:" + std::string(64, 'b');
const std::string kD3 = "sha256:" + std::string(64, 'c');

std::string Desc(const std::string &mt, const std::string &d, const std::string &size, const std::string &extra = "")
{
        return "{\"mediaType\":\"" + mt + "\",\"digest\":\"" + d + "\",\"size\":" + size + extra + "}";
}

std::string Manifest(const std::string &layers, const std::string &mt = OCI_MT_MANIFEST)
{
        return "{\"schemaVersion\":2,\"mediaType\":\"" + mt + "\",\"config\":" +
               Desc("application/vnd.oci.image.config.v1+json", kD1, "10") + ",\"layers\":[" + layers + "]}";
}

int Parse(const std::string &s, const char *ct, struct oci_manifest **m, struct ak_error *err = nullptr)
{
        return oci_manifest_decode(s.data(), s.size(), ct, m, err);
}

TEST(Manifest, OciAndDocker)
{
        struct oci_manifest *m = nullptr;
        ASSERT_EQ(Parse(Manifest(Desc("application/vnd.oci.image.layer.v1.tar+gzip", kD2, "123")), nullptr, &m), 0);
        EXPECT_EQ(m->kind, OCI_KIND_MANIFEST);
        EXPECT_EQ(m->config.digest, kD1);
        ASSERT_EQ(m->n_items, 1u);
        EXPECT_EQ(m->items[0].size, 123u);
        oci_manifest_free(m);
        ASSERT_EQ(Parse(Manifest("", OCI_MT_DOCKER_MANIFEST), OCI_MT_DOCKER_MANIFEST, &m), 0);
        EXPECT_STREQ(m->media_type, OCI_MT_DOCKER_MANIFEST);
        oci_manifest_free(m);
        /* No mediaType in the JSON: the Content-Type decides. */
        std::string bare = "{\"schemaVersion\":2,\"config\":" + Desc("x", kD1, "1") + ",\"layers\":[]}";
        ASSERT_EQ(Parse(bare, OCI_MT_MANIFEST "; charset=utf-8", &m), 0);
        oci_manifest_free(m);
        EXPECT_EQ(Parse(bare, "application/json", &m), -ENOTSUP);
}

TEST(Manifest, RefusesBadDescriptors)
{
        struct oci_manifest *m = nullptr;
        for (const std::string &bad : std::vector<std::string>{
                     Manifest(Desc("t", "sha256:abc", "1")), Manifest(Desc("t", "sha512:" + std::string(128, 'a'), "1")),
                     Manifest(Desc("t", kD2, "-1")), Manifest(Desc("t", kD2, "1.5")), Manifest(Desc("t", kD2, "\"1\"")),
                     Manifest(Desc("t", kD2, "68719476737")), Manifest("{\"digest\":\"" + kD2 + "\",\"size\":1}"),
                     "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\",\"layers\":[]}",
                     "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\",\"config\":" + Desc("x", kD1, "1") + "}",
                     "[]", "{", "",
             }) {
                struct ak_error err = {};
                EXPECT_EQ(Parse(bad, nullptr, &m, &err), -EINVAL) << bad;
                EXPECT_NE(err.msg[0], '\0');
        }
        EXPECT_EQ(Parse("{\"schemaVersion\":1,\"name\":\"x\"}", nullptr, &m), -ENOTSUP);
        EXPECT_EQ(Parse(Manifest("", "application/vnd.foo"), nullptr, &m), -ENOTSUP);
        /* The JSON says index, the header says manifest. */
        EXPECT_EQ(Parse("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":[]}", OCI_MT_MANIFEST,
                        &m),
                  -EINVAL);
        std::string big(OCI_MANIFEST_MAX + 1, ' ');
        EXPECT_EQ(Parse(big, nullptr, &m), -E2BIG);
}

TEST(Manifest, IndexSelectsLinuxAmd64)
{
        std::string idx = "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":[" +
                          Desc(OCI_MT_MANIFEST, kD1, "5", ",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\","
                                                          "\"variant\":\"v8\"}") +
                          "," +
                          Desc(OCI_MT_MANIFEST, kD2, "6", ",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\","
                                                          "\"variant\":\"v3\"}") +
                          "," +
                          Desc(OCI_MT_MANIFEST, kD3, "7", ",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}") +
                          "]}";
        struct oci_manifest *m = nullptr;
        ASSERT_EQ(Parse(idx, OCI_MT_INDEX, &m), 0);
        EXPECT_EQ(m->kind, OCI_KIND_INDEX);
        EXPECT_EQ(oci_index_select(m, "linux", "amd64", NULL), 2);
        EXPECT_EQ(oci_index_select(m, "linux", "arm64", NULL), 0);
        struct ak_error err = {};
        EXPECT_EQ(oci_index_select(m, "windows", "amd64", &err), -ENOENT);
        EXPECT_NE(std::string(err.msg).find("linux/arm64/v8"), std::string::npos) << err.msg;
        oci_manifest_free(m);
}

}  // namespace
