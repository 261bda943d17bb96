// The OCI document readers on documents shaped as the spec's examples and
// as skopeo writes them, and on each way they can be wrong.
#include <string.h>

#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "vmm/image/oci_spec.h"
}

namespace {

const std::string kD1 = "sha256:" + std::string(64, 'a');
const std::string kD2 = "sha256:" + std::string(64, 'b');

std::string Desc(const std::string& mt, const std::string& d, const std::string& extra = "") {
  return "{\"mediaType\":\"" + mt + "\",\"digest\":\"" + d + "\",\"size\":10" + extra + "}";
}

int Find(const std::string& index, const char* ref, struct oci_descriptor* d, std::string* msg) {
  struct ak_error err = {};
  int r = oci_index_find(index.data(), index.size(), ref, d, &err);
  *msg = err.msg;
  return r;
}

TEST(OciSpec, IndexByTagDigestOrTheOnlyOne) {
  std::string idx = "{\"schemaVersion\":2,\"manifests\":[" +
                    Desc(OCI_MT_MANIFEST, kD1, ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"1.0\"}") + "," +
                    Desc(OCI_MT_MANIFEST, kD2, ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"2.0\"}") + "]}";
  struct oci_descriptor d;
  std::string msg;
  ASSERT_EQ(Find(idx, "2.0", &d, &msg), 0) << msg;
  EXPECT_EQ(d.digest, kD2);
  ASSERT_EQ(Find(idx, kD1.c_str(), &d, &msg), 0) << msg;
  EXPECT_EQ(d.digest, kD1);
  EXPECT_EQ(Find(idx, nullptr, &d, &msg), -EINVAL);
  EXPECT_NE(msg.find("1.0, 2.0"), std::string::npos) << msg;
  EXPECT_EQ(Find(idx, "3.0", &d, &msg), -ENOENT);
  EXPECT_NE(msg.find("tags here: 1.0, 2.0"), std::string::npos) << msg;
}

TEST(OciSpec, IndexPicksLinuxAmd64) {
  std::string idx = "{\"schemaVersion\":2,\"manifests\":[" +
                    Desc(OCI_MT_MANIFEST, kD1, ",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}") + "," +
                    Desc(OCI_MT_MANIFEST, kD2, ",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}") + "]}";
  struct oci_descriptor d;
  std::string msg;
  ASSERT_EQ(Find(idx, nullptr, &d, &msg), 0) << msg;
  EXPECT_EQ(d.digest, kD2);
}

TEST(OciSpec, IndexRefusesBadDigestsAndSchemas) {
  struct oci_descriptor d;
  std::string msg;
  EXPECT_EQ(Find("{\"schemaVersion\":2,\"manifests\":[" + Desc(OCI_MT_MANIFEST, "sha512:abc") + "]}", nullptr, &d, &msg),
            -EINVAL);
  EXPECT_NE(msg.find("sha256"), std::string::npos) << msg;
  EXPECT_EQ(Find("{\"schemaVersion\":2,\"manifests\":[" + Desc(OCI_MT_MANIFEST, "sha256:" + std::string(64, 'A')) + "]}",
                 nullptr, &d, &msg),
            -EINVAL);
  EXPECT_EQ(Find("{\"schemaVersion\":1,\"manifests\":[]}", nullptr, &d, &msg), -EINVAL);
  EXPECT_EQ(Find("{\"schemaVersion\":2,\"manifests\":{}}", nullptr, &d, &msg), -EINVAL);
  EXPECT_EQ(Find("[1,", nullptr, &d, &msg), -EINVAL);
  EXPECT_NE(msg.find("not JSON"), std::string::npos) << msg;
}

TEST(OciSpec, ManifestLayersAndTheirTypes) {
  std::string m = "{\"schemaVersion\":2,\"config\":" + Desc(OCI_MT_CONFIG, kD1) + ",\"layers\":[" +
                  Desc("application/vnd.oci.image.layer.v1.tar+zstd", kD2) + "," +
                  Desc("application/vnd.docker.image.rootfs.diff.tar.gzip", kD1) + "]}";
  struct oci_manifest man;
  struct ak_error err = {};
  ASSERT_EQ(oci_manifest_parse(m.data(), m.size(), &man, &err), 0) << err.msg;
  ASSERT_EQ(man.n_layers, 2u);
  enum oci_compression c;
  ASSERT_EQ(oci_layer_compression(man.layers[0].media_type, &c), 0);
  EXPECT_EQ(c, OCI_TAR_ZSTD);
  std::string foreign = "{\"schemaVersion\":2,\"config\":" + Desc(OCI_MT_CONFIG, kD1) + ",\"layers\":[" +
                        Desc("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", kD2) + "]}";
  EXPECT_EQ(oci_manifest_parse(foreign.data(), foreign.size(), &man, &err), -ENOTSUP);
  EXPECT_NE(std::string(err.msg).find("layer 0 has media type"), std::string::npos) << err.msg;
  std::string many = "{\"schemaVersion\":2,\"config\":" + Desc(OCI_MT_CONFIG, kD1) + ",\"layers\":[";
  for (int i = 0; i <= OCI_MAX_LAYERS; i++) many += (i ? "," : "") + Desc("application/vnd.oci.image.layer.v1.tar", kD2);
  many += "]}";
  EXPECT_EQ(oci_manifest_parse(many.data(), many.size(), &man, &err), -E2BIG);
}

TEST(OciSpec, ConfigKeepsEnvWorkdirUserAndDiffIds) {
  std::string c = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/usr/bin\",\"A=b=c\"],"
                  "\"WorkingDir\":\"/srv\",\"User\":\"1000:1000\",\"Cmd\":[\"sh\"]},"
                  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + kD1 + "\"]}}";
  struct oci_config cfg;
  struct ak_error err = {};
  ASSERT_EQ(oci_config_parse(c.data(), c.size(), &cfg, &err), 0) << err.msg;
  EXPECT_STREQ(cfg.env, "PATH=/usr/bin\nA=b=c\n");
  EXPECT_STREQ(cfg.working_dir, "/srv");
  EXPECT_STREQ(cfg.user, "1000:1000");
  ASSERT_EQ(cfg.n_diff_ids, 1u);
  EXPECT_EQ(cfg.diff_ids[0], kD1);
  std::string nl = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"A=1\\nB=2\"]},"
                   "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
  EXPECT_EQ(oci_config_parse(nl.data(), nl.size(), &cfg, &err), -EINVAL);
  std::string norootfs = "{\"architecture\":\"amd64\",\"os\":\"linux\"}";
  EXPECT_EQ(oci_config_parse(norootfs.data(), norootfs.size(), &cfg, &err), -EINVAL);
}

// What `ak run --image I` with no command runs: Entrypoint then Cmd, as
// docker does; either may be absent or null; arguments keep newlines.
TEST(OciSpec, ConfigKeepsEntrypointThenCmd) {
  auto parse = [](const std::string& config, struct oci_config* cfg, struct ak_error* err) {
    std::string c = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":" + config +
                    ",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
    return oci_config_parse(c.data(), c.size(), cfg, err);
  };
  struct oci_config cfg;
  struct ak_error err = {};
  ASSERT_EQ(parse("{\"Entrypoint\":[\"/bin/sh\",\"-c\"],\"Cmd\":[\"echo a\\necho b\"]}", &cfg, &err), 0) << err.msg;
  ASSERT_EQ(cfg.n_command, 3u);
  EXPECT_EQ(std::string(cfg.command, cfg.command_len), std::string("/bin/sh\0-c\0echo a\necho b\0", 25));
  ASSERT_EQ(parse("{\"Entrypoint\":null,\"Cmd\":[\"python3\"]}", &cfg, &err), 0) << err.msg;
  EXPECT_EQ(cfg.n_command, 1u);
  EXPECT_STREQ(cfg.command, "python3");
  ASSERT_EQ(parse("{}", &cfg, &err), 0) << err.msg;
  EXPECT_EQ(cfg.n_command, 0u);
  EXPECT_EQ(cfg.command_len, 0u);
  EXPECT_EQ(parse("{\"Cmd\":\"sh\"}", &cfg, &err), -EINVAL);
  EXPECT_NE(strstr(err.msg, "config.Cmd"), nullptr) << err.msg;
  EXPECT_EQ(parse("{\"Entrypoint\":[1]}", &cfg, &err), -EINVAL);
  std::string big = "{\"Cmd\":[\"" + std::string(OCI_COMMAND_MAX, 'x') + "\"]}";
  EXPECT_EQ(parse(big, &cfg, &err), -E2BIG);
  EXPECT_EQ(cfg.n_command, 0u);  // nothing kept from a refused config
}

TEST(OciSpec, DiskLayerOnlyAlone) {
  std::string one = "{\"schemaVersion\":2,\"config\":" + Desc(OCI_MT_CONFIG, kD1) + ",\"layers\":[" +
                    Desc(OCI_MT_AK_DISK, kD2) + "]}";
  struct oci_manifest man;
  struct ak_error err = {};
  ASSERT_EQ(oci_manifest_parse(one.data(), one.size(), &man, &err), 0) << err.msg;
  EXPECT_STREQ(man.layers[0].media_type, OCI_MT_AK_DISK);
  std::string two = "{\"schemaVersion\":2,\"config\":" + Desc(OCI_MT_CONFIG, kD1) + ",\"layers\":[" +
                    Desc(OCI_MT_AK_DISK, kD2) + "," + Desc("application/vnd.oci.image.layer.v1.tar", kD1) + "]}";
  EXPECT_EQ(oci_manifest_parse(two.data(), two.size(), &man, &err), -EINVAL);
  EXPECT_NE(std::string(err.msg).find("must be the only layer"), std::string::npos) << err.msg;
}

TEST(OciSpec, ConfigDiskLabels) {
  auto parse = [](const std::string& labels, struct oci_config* cfg, struct ak_error* err) {
    std::string c = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":" + labels +
                    "},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
    return oci_config_parse(c.data(), c.size(), cfg, err);
  };
  struct oci_config cfg;
  struct ak_error err = {};
  ASSERT_EQ(parse("{\"" OCI_LABEL_DISK_SIZE "\":\"1048576\",\"" OCI_LABEL_DISK_SOURCE "\":\"py\",\"" OCI_LABEL_DISK_SANDBOX
                  "\":\"sb\",\"other\":\"x\"}", &cfg, &err), 0) << err.msg;
  EXPECT_EQ(cfg.disk_size, 1048576u);
  EXPECT_STREQ(cfg.disk_source, "py");
  EXPECT_STREQ(cfg.disk_sandbox, "sb");
  ASSERT_EQ(parse("null", &cfg, &err), 0) << err.msg;
  EXPECT_EQ(cfg.disk_size, 0u);
  EXPECT_EQ(parse("{\"" OCI_LABEL_DISK_SIZE "\":\"0\"}", &cfg, &err), -EINVAL);
  EXPECT_NE(std::string(err.msg).find(OCI_LABEL_DISK_SIZE), std::string::npos) << err.msg;
  EXPECT_EQ(parse("{\"" OCI_LABEL_DISK_SIZE "\":\"99999999999999999\"}", &cfg, &err), -EINVAL);
  EXPECT_EQ(parse("{\"" OCI_LABEL_DISK_SIZE "\":12}", &cfg, &err), -EINVAL);
  EXPECT_EQ(parse("[]", &cfg, &err), -EINVAL);
  ASSERT_EQ(parse("{\"" OCI_LABEL_DISK_USER_IDS "\":\"1234:2345\"}", &cfg, &err), 0) << err.msg;
  EXPECT_STREQ(cfg.disk_user_ids, "1234:2345");
  for (const char* bad : {"1234", "a:1", "1:", ":1", "4294967296:0", "1:2:3", "1:2 "}) {
    EXPECT_EQ(parse(std::string("{\"" OCI_LABEL_DISK_USER_IDS "\":\"") + bad + "\"}", &cfg, &err), -EINVAL) << bad;
  }
}

TEST(OciSpec, DockerManifestPathsStayInside) {
  std::string ok = "[{\"Config\":\"abc.json\",\"RepoTags\":[\"busybox:latest\"],\"Layers\":[\"l1/layer.tar\"]}]";
  struct oci_docker_entry e;
  struct ak_error err = {};
  ASSERT_EQ(oci_docker_manifest_parse(ok.data(), ok.size(), "busybox:latest", &e, &err), 0) << err.msg;
  EXPECT_STREQ(e.layers[0], "l1/layer.tar");
  EXPECT_EQ(oci_docker_manifest_parse(ok.data(), ok.size(), "other:1", &e, &err), -ENOENT);
  std::string up = "[{\"Config\":\"abc.json\",\"Layers\":[\"../../etc/shadow\"]}]";
  EXPECT_EQ(oci_docker_manifest_parse(up.data(), up.size(), nullptr, &e, &err), -EINVAL);
  std::string abs = "[{\"Config\":\"/etc/passwd\",\"Layers\":[]}]";
  EXPECT_EQ(oci_docker_manifest_parse(abs.data(), abs.size(), nullptr, &e, &err), -EINVAL);
}

}  // namespace
