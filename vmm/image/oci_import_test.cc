// `image_import` end to end without a VM: layouts written by
// testdata/mklayout.py (Python's tarfile and hashlib: a second
// implementation of the formats) and converted by skopeo, imported into a
// fresh store, the ext4 read back with debugfs (no mount). Hostile layers are
// refused with words that say what, and leave nothing in the store.
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "lib/base/fs.h"
#include "lib/base/proc.h"
#include "vmm/image/image.h"
}

namespace {

std::string RunCmd(const std::vector<std::string>& args, int* status) {
  std::vector<const char*> v;
  for (auto& a : args) v.push_back(a.c_str());
  v.push_back(nullptr);
  struct proc_opts o = {};
  o.argv = v.data();
  o.timeout_ms = 120000;
  o.max_output = 1 << 20;
  char* out = nullptr;
  struct ak_error err = {};
  if (proc_run(&o, status, &out, &err) < 0) {
    *status = -1;
    return std::string("ERROR: ") + err.msg;
  }
  std::string s(out);
  free(out);
  return s;
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

class OciImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char bb[PATH_MAX];
    if (geteuid() != 0) GTEST_SKIP() << "importing images needs root (owners, device nodes)";
    if (proc_which("busybox", bb, sizeof(bb)) < 0) GTEST_SKIP() << "busybox-static is not installed (tools/deps.sh)";
    char tmpl[] = "/tmp/akoci.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    struct ak_error err = {};
    ASSERT_EQ(image_store_open((dir_ + "/store").c_str(), &store_, &err), 0) << err.msg;
    ASSERT_EQ(image_store_set_guest_binary(store_, "guest/ak-guest", &err), 0) << err.msg;
  }
  void TearDown() override {
    image_store_free(store_);
    if (!dir_.empty()) ak_rm_rf(dir_.c_str());
  }

  // Writes a layout from a JSON spec (see mklayout.py) at dir_/name.
  std::string Layout(const std::string& name, const std::string& spec_body) {
    std::string out = dir_ + "/" + name, spec = dir_ + "/" + name + ".json";
    FILE* f = fopen(spec.c_str(), "w");
    fprintf(f, "{\"out\": \"%s\", %s}", out.c_str(), spec_body.c_str());
    fclose(f);
    int st;
    std::string o = RunCmd({"python3", "vmm/image/testdata/mklayout.py", spec}, &st);
    EXPECT_EQ(st, 0) << o;
    return out;
  }
  int Import(const std::string& src, const std::string& name, struct image_info* info, std::string* msg) {
    struct ak_error err = {};
    int r = image_import(store_, src.c_str(), name.c_str(), nullptr, info, &err);
    if (msg) *msg = err.msg;
    return r;
  }
  std::string Debugfs(const struct image_info& info, const std::string& cmd) {
    int st;
    std::string out = RunCmd({"debugfs", "-R", cmd, std::string(info.dir) + "/rootfs.ext4"}, &st);
    if (out.compare(0, 8, "debugfs ") == 0) out.erase(0, out.find('\n') + 1);  // its banner
    return out;
  }
  // "Type: regular    Mode:  04755" and "User:  1000   Group:  1000".
  std::string Stat(const struct image_info& info, const std::string& path) {
    std::string s = Debugfs(info, "stat " + path), out;
    size_t t = s.find("Type: "), u = s.find("User: ");
    if (t == std::string::npos || u == std::string::npos) return "missing";
    std::string type = s.substr(t + 6, s.find(' ', t + 6) - t - 6);
    size_t m = s.find("Mode:", t);
    unsigned mode = 0, uid = 0, gid = 0;
    sscanf(s.c_str() + m, "Mode: %o", &mode);
    sscanf(s.c_str() + u, "User: %u Group: %u", &uid, &gid);
    char buf[96];
    snprintf(buf, sizeof(buf), "%s %04o %u:%u", type.c_str(), mode, uid, gid);
    return buf;
  }
  // The store holds only the images (and its fixed dirs), tmp is empty.
  void ExpectNothingStored() {
    std::set<std::string> want = {"inuse", "kernel", "names", "stage", "tmp"};
    EXPECT_EQ(Ls(dir_ + "/store"), want);
    EXPECT_TRUE(Ls(dir_ + "/store/tmp").empty());
    EXPECT_TRUE(Ls(dir_ + "/store/inuse").empty());
    EXPECT_TRUE(Ls(dir_ + "/store/names").empty());
  }

  std::string dir_;
  struct image_store* store_ = nullptr;
};

const char kLayers[] = R"("tag": "1.0",
 "config": {"Env": ["PATH=/usr/bin:/bin", "GREETING=hi there"], "WorkingDir": "/srv", "User": "1000:1000"},
 "layers": [
  {"compression": "gzip", "entries": [
    {"path": "etc", "type": "dir"},
    {"path": "etc/keep", "data": "kept\n"},
    {"path": "etc/caf\u00e9 \u65e5\u672c", "data": "utf-8 name\n"},
    {"path": "etc/l\u00e9", "type": "symlink", "link": "caf\u00e9 \u65e5\u672c"},
    {"path": "etc/gone", "data": "removed by a whiteout\n"},
    {"path": "opq", "type": "dir", "mode": 448, "uid": 7, "gid": 8},
    {"path": "opq/old", "data": "lower\n"},
    {"path": "opq/sub/older", "data": "lower\n"},
    {"path": "data/file", "data": "shared\n", "uid": 1000, "gid": 1001, "mode": 416},
    {"path": "data/link", "type": "hardlink", "link": "data/file"},
    {"path": "dir-to-file", "type": "dir"}]},
  {"compression": "zstd", "entries": [
    {"path": "etc/.wh.gone"},
    {"path": "opq/.wh..wh..opq"},
    {"path": "opq/new", "data": "upper\n"},
    {"path": "dir-to-file", "data": "now a file\n"},
    {"path": "usr/bin/su", "data": "#!/bin/sh\n", "mode": 3565},
    {"path": "tmp", "type": "dir", "mode": 1023}]},
  {"compression": "none", "entries": [
    {"path": "dev/null", "type": "char", "major": 1, "minor": 3, "mode": 438},
    {"path": "dev/loop9", "type": "block", "major": 7, "minor": 9, "mode": 432, "gid": 6},
    {"path": "run/fifo", "type": "fifo", "mode": 420},
    {"path": "bin/sh", "type": "symlink", "link": "/usr/bin/busybox"},
    {"path": "bin/ping", "data": "elf", "mode": 493, "xattrs": {"user.ak": "caps"}}]}]
)";

TEST_F(OciImportTest, LayersWhiteoutsOwnersModesDevicesLinks) {
  std::string layout = Layout("l", kLayers);
  struct image_info info;
  std::string msg;
  ASSERT_EQ(Import("oci-layout:" + layout + ":1.0", "multi", &info, &msg), 0) << msg;
  EXPECT_EQ(std::string(info.kind), "rootfs");
  EXPECT_EQ(strncmp(info.digest, "sha256:", 7), 0);
  EXPECT_STREQ(info.env, "PATH=/usr/bin:/bin\nGREETING=hi there\n");
  EXPECT_STREQ(info.working_dir, "/srv");
  EXPECT_STREQ(info.user, "1000:1000");
  std::string st;
  EXPECT_EQ(Debugfs(info, "cat /etc/keep"), "kept\n");
  EXPECT_EQ(Stat(info, "/etc/gone"), "missing");
  // Non-ASCII names (pax headers carry them as UTF-8) whatever the locale.
  EXPECT_EQ(Debugfs(info, "cat \"/etc/caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\""), "utf-8 name\n");
  st = Debugfs(info, "stat /etc/l\xc3\xa9");
  EXPECT_NE(st.find("Fast link dest: \"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\""), std::string::npos) << st;
  // Opaque: the lower layer's entries went, the directory's own metadata stayed.
  EXPECT_EQ(Stat(info, "/opq"), "directory 0700 7:8");
  EXPECT_EQ(Stat(info, "/opq/old"), "missing");
  EXPECT_EQ(Stat(info, "/opq/sub"), "missing");
  EXPECT_EQ(Debugfs(info, "cat /opq/new"), "upper\n");
  EXPECT_EQ(Stat(info, "/data/file"), "regular 0640 1000:1001");
  st = Debugfs(info, "stat /data/file");
  EXPECT_NE(st.find("Links: 2"), std::string::npos) << st;
  EXPECT_EQ(Debugfs(info, "stat /data/file").substr(0, 20), Debugfs(info, "stat /data/link").substr(0, 20));
  EXPECT_EQ(Debugfs(info, "cat /dir-to-file"), "now a file\n");
  EXPECT_EQ(Stat(info, "/usr/bin/su"), "regular 6755 0:0");
  EXPECT_EQ(Stat(info, "/tmp"), "directory 1777 0:0");
  EXPECT_EQ(Stat(info, "/dev/null"), "character 0666 0:0");
  st = Debugfs(info, "stat /dev/null");
  EXPECT_NE(st.find("Device major/minor number: 01:03"), std::string::npos) << st;
  EXPECT_EQ(Stat(info, "/dev/loop9"), "block 0660 0:6");
  EXPECT_EQ(Stat(info, "/run/fifo"), "FIFO 0644 0:0");
  st = Debugfs(info, "stat /bin/sh");
  EXPECT_NE(st.find("Fast link dest: \"/usr/bin/busybox\""), std::string::npos) << st;
  st = Debugfs(info, "ea_list /bin/ping");
  EXPECT_NE(st.find("user.ak (4) = \"caps\""), std::string::npos) << st;
  // The agent and busybox, as in debootstrapped images.
  EXPECT_EQ(Stat(info, "/usr/local/bin/ak-guest"), "regular 0755 0:0");
  EXPECT_EQ(Stat(info, "/usr/local/bin/busybox"), "regular 0755 0:0");
  // What the store says about it afterwards.
  struct image_info again;
  struct ak_error err = {};
  ASSERT_EQ(image_lookup(store_, "multi", &again, &err), 0) << err.msg;
  EXPECT_STREQ(again.digest, info.digest);
  EXPECT_STREQ(again.env, info.env);
  EXPECT_STREQ(again.user, "1000:1000");
}

TEST_F(OciImportTest, SameImageTwiceOrUnderTwoNamesIsStoredOnce) {
  std::string layout = Layout("l", kLayers);
  struct image_info a, b, c;
  std::string msg;
  ASSERT_EQ(Import("oci-layout:" + layout + ":1.0", "one", &a, &msg), 0) << msg;
  std::set<std::string> after_first = Ls(dir_ + "/store");
  ASSERT_EQ(Import("oci-layout:" + layout + ":1.0", "two", &b, &msg), 0) << msg;
  ASSERT_EQ(Import("oci-layout:" + layout + ":" + a.digest, "one", &c, &msg), 0) << msg;
  EXPECT_STREQ(a.hash, b.hash);
  EXPECT_STREQ(a.hash, c.hash);
  EXPECT_EQ(Ls(dir_ + "/store"), after_first);
  std::set<std::string> names = {"one", "two"};
  EXPECT_EQ(Ls(dir_ + "/store/names"), names);
}

TEST_F(OciImportTest, DockerArchiveFromSkopeo) {
  int st;
  if (RunCmd({"sh", "-c", "command -v skopeo"}, &st).empty() || st != 0)
    GTEST_SKIP() << "skopeo is not installed (tools/deps.sh)";
  // Docker archives hold no zstd layers: the same image, gzip throughout.
  std::string spec = kLayers;
  spec.replace(spec.find("\"zstd\""), 6, "\"gzip\"");
  std::string layout = Layout("l", spec), tar = dir_ + "/img.tar";
  std::string o = RunCmd({"skopeo", "--insecure-policy", "copy", "oci:" + layout + ":1.0",
                       "docker-archive:" + tar + ":example.com/app:1.0"}, &st);
  ASSERT_EQ(st, 0) << o;
  struct image_info info;
  std::string msg;
  ASSERT_EQ(Import("docker-archive:" + tar + ":example.com/app:1.0", "app", &info, &msg), 0) << msg;
  EXPECT_EQ(Debugfs(info, "cat /opq/new"), "upper\n");
  EXPECT_EQ(Stat(info, "/opq/old"), "missing");
  EXPECT_EQ(Stat(info, "/usr/bin/su"), "regular 6755 0:0");
  EXPECT_EQ(Stat(info, "/dev/null"), "character 0666 0:0");
  EXPECT_STREQ(info.user, "1000:1000");
  // And the zstd layer recompressed by skopeo into a layout of its own.
  std::string zl = dir_ + "/zl";
  layout = Layout("lz", kLayers);
  o = RunCmd({"skopeo", "--insecure-policy", "copy", "--dest-compress-format", "zstd", "--dest-compress",
           "oci:" + layout + ":1.0", "oci:" + zl + ":z"}, &st);
  ASSERT_EQ(st, 0) << o;
  ASSERT_EQ(Import("oci-layout:" + zl, "zl", &info, &msg), 0) << msg;
  EXPECT_EQ(Debugfs(info, "cat /etc/keep"), "kept\n");
  char name[IMAGE_NAME_MAX + 1];
  ASSERT_EQ(image_import_default_name(("docker-archive:" + tar + ":example.com/app:1.0").c_str(), name), 0);
  EXPECT_STREQ(name, "app-1.0");
  ASSERT_EQ(image_import_default_name("oci-layout:/x/Busy_Box:stable", name), 0);
  EXPECT_STREQ(name, "busy_box-stable");
}

struct Hostile {
  const char* name;
  const char* spec;
  const char* want; // in the error
};

// A root entry ("/", "./", ".") sets the root's owner and mode; a layer
// whose tar stream ends right after its last file's data (no padding, no
// end-of-archive blocks: what umoci insert writes) is whole. On main the
// first was refused as an absolute path and the second failed with
// "Truncated input file (needed 482 bytes, only 0 available)".
TEST_F(OciImportTest, RootEntriesAndUnpaddedLayers) {
  const struct {
    const char* name;
    const char* spec;
    const char* root;
  } cases[] = {
      {"slash", R"("layers": [{"end": "unpadded", "entries": [
          {"path": "/", "type": "dir", "mode": 489, "uid": 5, "gid": 6},
          {"path": "etc/passwd", "data": "root:x:0:0:root:/root:/bin/sh\n"}]}])", "directory 0751 5:6"},
      {"dotslash", R"("layers": [{"entries": [{"path": "etc/passwd", "data": "x\n"}]},
          {"compression": "zstd", "end": "unpadded", "entries": [
          {"path": "./", "type": "dir", "mode": 461, "uid": 3, "gid": 4},
          {"path": "etc/passwd", "data": "root:x:0:0:root:/root:/bin/sh\n"}]}])", "directory 0715 3:4"},
      {"dot", R"("layers": [{"compression": "none", "end": "unpadded", "entries": [
          {"path": ".", "type": "dir", "raw_name": true, "mode": 493},
          {"path": "etc/passwd", "data": "root:x:0:0:root:/root:/bin/sh\n"}]}])", "directory 0755 0:0"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string layout = Layout(c.name, c.spec);
    struct image_info info;
    std::string msg;
    ASSERT_EQ(Import("oci-layout:" + layout, c.name, &info, &msg), 0) << msg;
    EXPECT_EQ(Debugfs(info, "cat /etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    EXPECT_EQ(Stat(info, "/"), c.root);
    EXPECT_EQ(Stat(info, "/usr/local/bin/busybox"), "regular 0755 0:0");
  }
}

// The same, made by umoci: `umoci insert FILE /etc/passwd` and
// `umoci insert DIR /` (an entry "/" and an unpadded stream).
TEST_F(OciImportTest, UmociInsertLayers) {
  int st;
  RunCmd({"umoci", "--version"}, &st);
  if (st != 0) GTEST_SKIP() << "umoci is not installed (tools/deps.sh)";
  std::string layout = dir_ + "/umoci", src = dir_ + "/src";
  ASSERT_EQ(mkdir(src.c_str(), 0751), 0);
  ASSERT_EQ(chmod(src.c_str(), 0751), 0);
  ASSERT_EQ(mkdir((src + "/bin").c_str(), 0755), 0);
  FILE* f = fopen((dir_ + "/passwd").c_str(), "w");
  fputs("root:x:0:0:root:/root:/bin/sh\n", f);
  fclose(f);
  f = fopen((src + "/bin/tool").c_str(), "w");
  fputs("tool\n", f);
  fclose(f);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"umoci", "init", "--layout", layout},
           {"umoci", "new", "--image", layout + ":t"},
           {"umoci", "insert", "--image", layout + ":t", dir_ + "/passwd", "/etc/passwd"},
           {"umoci", "insert", "--image", layout + ":t", src, "/"}}) {
    std::string o = RunCmd(args, &st);
    ASSERT_EQ(st, 0) << args[1] << ": " << o;
  }
  struct image_info info;
  std::string msg;
  ASSERT_EQ(Import("oci-layout:" + layout + ":t", "umoci", &info, &msg), 0) << msg;
  EXPECT_EQ(Debugfs(info, "cat /etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  EXPECT_EQ(Debugfs(info, "cat /bin/tool"), "tool\n");
  EXPECT_EQ(Stat(info, "/"), "directory 0751 0:0");
}

TEST_F(OciImportTest, HostileLayersAreRefusedAndNothingIsStored) {
  std::string outside = dir_ + "/outside";
  ASSERT_EQ(mkdir(outside.c_str(), 0755), 0);
  std::string esc = "\"layers\": [{\"entries\": [{\"path\": \"esc\", \"type\": \"symlink\", \"link\": \"" + outside +
                    "\"}, {\"path\": \"esc/pwned\", \"data\": \"x\"}]}]";
  std::string esc_rel = "\"layers\": [{\"entries\": [{\"path\": \"up\", \"type\": \"symlink\", \"link\": "
                        "\"../../../../../../../../" + outside.substr(1) + "\"}, {\"path\": \"up/pwned\", \"data\": \"x\"}]}]";
  std::string esc_layer2 = "\"layers\": [{\"entries\": [{\"path\": \"d\", \"type\": \"symlink\", \"link\": \"" + outside +
                           "\"}]}, {\"compression\": \"zstd\", \"entries\": [{\"path\": \"d/pwned\", \"data\": \"x\"}]}]";
  std::string hard = "\"layers\": [{\"entries\": [{\"path\": \"h\", \"type\": \"hardlink\", \"link\": \"../../etc/passwd\"}]}]";
  const Hostile cases[] = {
      {"abs", R"("layers": [{"entries": [{"path": "/etc/pwned", "data": "x"}]}])", "absolute path or '..'"},
      {"dotdot", R"("layers": [{"entries": [{"path": "a/../../pwned", "data": "x"}]}])", "absolute path or '..'"},
      {"abs2", R"("layers": [{"entries": [{"path": "//./etc/pwned", "data": "x", "raw_name": true}]}])",
       "absolute path or '..'"},
      {"rootfile", R"("layers": [{"entries": [{"path": ".", "data": "x", "raw_name": true}]}])",
       "the root, but not a directory"},
      {"rootlink", R"("layers": [{"entries": [{"path": "./", "type": "symlink", "link": "/tmp", "raw_name": true}]}])",
       "the root, but not a directory"},
      {"indata", R"("layers": [{"end": "in-data", "entries": [{"path": "a", "data": "x"}, {"path": "b", "data": "yy"}]}])",
       "ends inside the data of 'b' (1 of its bytes missing)"},
      {"esc", esc.c_str(), "symlink that leads outside"},
      {"escrel", esc_rel.c_str(), "symlink that leads outside"},
      {"esc2", esc_layer2.c_str(), "symlink that leads outside"},
      {"hard", hard.c_str(), "target outside the root"},
      {"giant", R"("layers": [{"entries": [{"path": "big", "declared_size": 1099511627776}]}])",
       "declares 1099511627776 bytes"},
      {"diffid", R"("layers": [{"entries": [{"path": "a", "data": "x"}]}], "corrupt": {"diff_id": 0})",
       "the image config's diff_id is"},
      {"blob", R"("layers": [{"entries": [{"path": "a", "data": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}]}],
                  "corrupt": {"blob": 0})", "layer 1/1"},
      {"trunc", R"("layers": [{"entries": [{"path": "a", "data": "x"}]}, {"entries": [{"path": "b", "data": "y"}]}],
                   "corrupt": {"truncate": 1})", "truncated or corrupt"},
  };
  for (const Hostile& h : cases) {
    SCOPED_TRACE(h.name);
    std::string layout = Layout(h.name, h.spec);
    struct image_info info;
    std::string msg;
    EXPECT_LT(Import("oci-layout:" + layout, h.name, &info, &msg), 0);
    EXPECT_NE(msg.find(h.want), std::string::npos) << msg;
    EXPECT_NE(msg.find("import oci-layout:" + layout), std::string::npos) << msg;
    ExpectNothingStored();
    EXPECT_TRUE(Ls(outside).empty());
  }
}

TEST_F(OciImportTest, BrokenLayoutsSayWhat) {
  struct image_info info;
  std::string msg;
  EXPECT_EQ(Import("oci-layout:" + dir_ + "/nonexistent", "x", &info, &msg), -ENOENT);
  EXPECT_NE(msg.find("open the OCI layout"), std::string::npos) << msg;
  std::string layout = Layout("l", kLayers);
  EXPECT_EQ(Import("oci-layout:" + layout + ":2.0", "x", &info, &msg), -ENOENT);
  EXPECT_NE(msg.find("tags here: 1.0"), std::string::npos) << msg;
  EXPECT_EQ(Import("docker-archive:" + layout + "/index.json", "x", &info, &msg), -EINVAL);
  EXPECT_EQ(Import("registry:foo", "x", &info, &msg), -EINVAL);
  EXPECT_NE(msg.find("oci-layout:DIR"), std::string::npos) << msg;
  ExpectNothingStored();
}

}  // namespace
