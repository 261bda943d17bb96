// The image store without the network: the cpio writer (read back by
// busybox's cpio, a second implementation), names, manifests, the store's
// index and removal, input checks; and the helper-process runner.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "vmm/testing/vm_fixture.h"

extern "C" {
#include "lib/base/proc.h"
#include "vmm/image/cpio.h"
#include "vmm/image/image.h"
#include "vmm/image/image_impl.h"
#include "vmm/image/oci_user.h"
}

namespace {

std::string RunProc(const std::vector<const char*>& argv, int* status, int timeout_ms = 10000) {
  std::vector<const char*> v = argv;
  v.push_back(nullptr);
  struct proc_opts o = {};
  o.argv = v.data();
  o.timeout_ms = timeout_ms;
  char* out = nullptr;
  struct ak_error err = {};
  if (proc_run(&o, status, &out, &err) < 0) return std::string("ERROR: ") + err.msg;
  std::string s(out);
  free(out);
  return s;
}

class ImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = akvm::MakeTempDir("akimg");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override { akvm::RemoveDir(dir_); }
  std::string dir_;
};

TEST_F(ImageTest, CpioReadsBackWithBusybox) {
  std::string path = dir_ + "/a.cpio";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  struct cpio* w = nullptr;
  ASSERT_EQ(cpio_new(fd, &w), 0);
  cpio_add_dir(w, "etc", 0755);
  cpio_add_data(w, "etc/hello", 0640, "hello\n", 6);
  cpio_add_data(w, "etc/odd", 0644, "abc", 3);  // needs padding
  cpio_add_symlink(w, "etc/link", "/etc/hello");
  cpio_add_dir(w, "dev", 0755);
  cpio_add_chardev(w, "dev/null", 0666, 1, 3);
  std::string src = dir_ + "/src";
  FILE* f = fopen(src.c_str(), "w");
  for (int i = 0; i < 100000; i++) fputc(i & 0xff, f);
  fclose(f);
  cpio_add_file(w, "big", 0600, src.c_str());
  ASSERT_EQ(cpio_finish(w), 0);
  EXPECT_EQ(cpio_size(w) % 4, 0u);
  cpio_free(w);
  close(fd);

  char bb[PATH_MAX];
  if (proc_which("busybox", bb, sizeof(bb)) < 0) GTEST_SKIP() << "busybox not installed (tools/deps.sh)";
  int status;
  std::string list = RunProc({"sh", "-c", ("busybox cpio -tv < " + path).c_str()}, &status);
  ASSERT_EQ(status, 0) << list;
  EXPECT_NE(list.find("drwxr-xr-x"), std::string::npos) << list;
  EXPECT_NE(list.find("-rw-r-----"), std::string::npos) << list;
  EXPECT_NE(list.find("etc/link -> /etc/hello"), std::string::npos) << list;
  EXPECT_NE(list.find("crw-rw-rw-"), std::string::npos) << list;
  EXPECT_NE(list.find("100000"), std::string::npos) << list;
  std::string out = dir_ + "/x";
  mkdir(out.c_str(), 0755);
  std::string got = RunProc({"sh", "-c", ("cd " + out + " && busybox cpio -id big etc/hello < " + path + " && cmp big " + src +
                                      " && cat etc/hello").c_str()},
                        &status);
  EXPECT_EQ(status, 0) << got;
  EXPECT_EQ(got, "198 blocks\nhello\n");  // busybox reports the blocks it read
}

TEST_F(ImageTest, CpioRefusesBadPaths) {
  int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  for (const char* bad : {"/abs", "a/../b", "", "a//b", "./a", "a/."}) {
    struct cpio* w = nullptr;
    ASSERT_EQ(cpio_new(fd, &w), 0);
    cpio_add_data(w, bad, 0644, "x", 1);
    EXPECT_EQ(cpio_finish(w), -EINVAL) << bad;
    cpio_free(w);
  }
  close(fd);
}

TEST_F(ImageTest, Names) {
  for (const char* ok : {"base", "python", "a", "py3.11", "my-image_2", "0abc"}) EXPECT_EQ(image_name_check(ok), 0) << ok;
  for (const char* bad : {"", "Python", "-x", ".x", "a/b", "a b", "..", "é",
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
    EXPECT_LT(image_name_check(bad), 0) << bad;
}

TEST_F(ImageTest, ManifestsNamesListAndRemove) {
  struct image_store* s = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(image_store_open((dir_ + "/store").c_str(), &s, &err), 0) << err.msg;
  std::string hash(64, 'a');
  char tmp[PATH_MAX];
  ASSERT_EQ(image_tmpdir(s, tmp, &err), 0);
  struct image_info info = {};
  snprintf(info.name, sizeof(info.name), "one");
  snprintf(info.hash, sizeof(info.hash), "%s", hash.c_str());
  snprintf(info.kind, sizeof(info.kind), "rootfs");
  snprintf(info.packages, sizeof(info.packages), "git,python3");
  info.size_bytes = 12345;
  info.created_at = 1700000000;
  ASSERT_EQ(image_manifest_write(tmp, &info, &err), 0) << err.msg;
  ASSERT_EQ(image_publish(s, tmp, hash.c_str(), &err), 0) << err.msg;
  ASSERT_EQ(image_name_set(s, "one", hash.c_str(), &err), 0);
  ASSERT_EQ(image_name_set(s, "two", hash.c_str(), &err), 0);

  struct image_info got;
  ASSERT_EQ(image_lookup(s, "two", &got, &err), 0) << err.msg;
  EXPECT_STREQ(got.name, "two");
  EXPECT_STREQ(got.packages, "git,python3");
  EXPECT_EQ(got.size_bytes, 12345u);
  EXPECT_EQ(got.created_at, 1700000000);
  EXPECT_EQ(image_lookup(s, "three", &got, &err), -ENOENT);
  EXPECT_NE(strstr(err.msg, "ak image list"), nullptr);

  struct image_info* v = nullptr;
  size_t n = 0;
  ASSERT_EQ(image_list(s, &v, &n, &err), 0);
  ASSERT_EQ(n, 2u);
  EXPECT_STREQ(v[0].name, "one");
  EXPECT_STREQ(v[1].name, "two");
  free(v);

  // A second publish of the same hash (a builder that lost the race) is fine.
  ASSERT_EQ(image_tmpdir(s, tmp, &err), 0);
  ASSERT_EQ(image_publish(s, tmp, hash.c_str(), &err), 0) << err.msg;
  struct stat st;
  EXPECT_NE(stat(tmp, &st), 0);

  // The image stays while a name points at it.
  ASSERT_EQ(image_remove(s, "one", &err), 0) << err.msg;
  EXPECT_EQ(stat((dir_ + "/store/" + hash).c_str(), &st), 0);
  ASSERT_EQ(image_remove(s, "two", &err), 0) << err.msg;
  EXPECT_NE(stat((dir_ + "/store/" + hash).c_str(), &st), 0);
  EXPECT_EQ(image_remove(s, "two", &err), -ENOENT);
  image_store_free(s);
}

// Images recorded by OCI reference (what the executor's pull on a miss and
// `ak image import/pull --name REF` write): found by any spelling of the
// reference, listed under the normalized one, never mistaken for a local
// name (a local "busy" and the reference busy:1 are two entries), kept by
// gc while the reference points at them, removed by reference.
TEST_F(ImageTest, ReferencesMapToImages) {
  struct image_store* s = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(image_store_open((dir_ + "/store").c_str(), &s, &err), 0) << err.msg;
  std::string a(64, 'a'), b(64, 'b');
  for (const std::string& h : {a, b}) {
    char tmp[PATH_MAX];
    ASSERT_EQ(image_tmpdir(s, tmp, &err), 0);
    struct image_info info = {};
    snprintf(info.hash, sizeof(info.hash), "%s", h.c_str());
    snprintf(info.kind, sizeof(info.kind), "rootfs");
    info.created_at = 1;  // old: gc may take it unless something names it
    ASSERT_EQ(image_manifest_write(tmp, &info, &err), 0) << err.msg;
    ASSERT_EQ(image_publish(s, tmp, h.c_str(), &err), 0) << err.msg;
  }
  EXPECT_TRUE(image_key_is_ref("busy:1"));
  EXPECT_TRUE(image_key_is_ref(("localhost:5000/x@sha256:" + std::string(64, '0')).c_str()));
  EXPECT_EQ(image_key_check(("localhost:5000/x@sha256:" + std::string(64, '0')).c_str()), 0);
  EXPECT_FALSE(image_key_is_ref("busy"));
  EXPECT_EQ(image_key_check("Busy:1"), -EINVAL);  // upper case repository
  EXPECT_EQ(image_key_check("busy:"), -EINVAL);
  EXPECT_EQ(image_key_check("127.0.0.1:5000/test/busy:1"), 0);

  ASSERT_EQ(image_key_set(s, "busy:1", a.c_str(), &err), 0) << err.msg;
  ASSERT_EQ(image_key_set(s, "127.0.0.1:5000/test/busy:1", b.c_str(), &err), 0) << err.msg;
  struct image_info got;
  ASSERT_EQ(image_lookup(s, "docker.io/library/busy:1", &got, &err), 0) << err.msg;
  EXPECT_EQ(got.hash, a);
  EXPECT_STREQ(got.name, "docker.io/library/busy:1");
  ASSERT_EQ(image_lookup(s, "127.0.0.1:5000/test/busy:1", &got, &err), 0) << err.msg;
  EXPECT_EQ(got.hash, b);
  // A bare name is local only: there is no local "busy".
  EXPECT_EQ(image_lookup(s, "busy", &got, &err), -ENOENT);
  EXPECT_EQ(image_lookup(s, "busy:2", &got, &err), -ENOENT);
  EXPECT_NE(strstr(err.msg, "ak image pull busy:2"), nullptr) << err.msg;
  ASSERT_EQ(image_name_set(s, "busy", b.c_str(), &err), 0);

  struct image_info* v = nullptr;
  size_t n = 0;
  ASSERT_EQ(image_list(s, &v, &n, &err), 0);
  ASSERT_EQ(n, 3u);
  EXPECT_STREQ(v[0].name, "127.0.0.1:5000/test/busy:1");
  EXPECT_STREQ(v[1].name, "busy");
  EXPECT_STREQ(v[2].name, "docker.io/library/busy:1");
  free(v);

  image_gc(s, 0);
  struct stat st;
  EXPECT_EQ(stat((dir_ + "/store/" + a).c_str(), &st), 0) << "gc took an image a reference names";
  // b stays while the reference names it after "busy" goes, and goes with it.
  ASSERT_EQ(image_remove(s, "busy", &err), 0) << err.msg;
  EXPECT_EQ(stat((dir_ + "/store/" + b).c_str(), &st), 0);
  ASSERT_EQ(image_remove(s, "127.0.0.1:5000/test/busy:1", &err), 0) << err.msg;
  EXPECT_NE(stat((dir_ + "/store/" + b).c_str(), &st), 0);
  EXPECT_EQ(image_lookup(s, "127.0.0.1:5000/test/busy:1", &got, &err), -ENOENT);

  // An entry whose content names another reference than its file is not used.
  ASSERT_EQ(image_key_set(s, "other:1", a.c_str(), &err), 0);
  char path[PATH_MAX], busy[PATH_MAX];
  ASSERT_EQ(image_key_path(s, "other:1", path), 0);
  ASSERT_EQ(image_key_path(s, "busy:1", busy), 0);
  ASSERT_EQ(rename(path, busy), 0);
  EXPECT_EQ(image_lookup(s, "busy:1", &got, &err), -EINVAL);
  ASSERT_EQ(image_list(s, &v, &n, &err), 0);
  EXPECT_EQ(n, 0u);
  free(v);
  image_store_free(s);
}

// An image's User by its own passwd and group, as docker resolves it; the
// files are read without following a symlink out of the tree.
// oci_parse_id (also the executor's reading of an image's "UID:GID"): the
// whole field, 0..OCI_ID_MAX, digits only.
// image_name_from: the default names of imports and pulls.
TEST_F(ImageTest, NamesMadeFromSources) {
  char n[IMAGE_NAME_MAX + 1];
  ASSERT_EQ(image_name_from("Busy_Box-stable", n), 0);
  EXPECT_STREQ(n, "busy_box-stable");
  ASSERT_EQ(image_name_from("..-My App:1.0", n), 0);  // leading non-alnum dropped
  EXPECT_STREQ(n, "my-app-1.0");
  ASSERT_EQ(image_name_from(std::string(100, 'a').c_str(), n), 0);
  EXPECT_EQ(strlen(n), (size_t)IMAGE_NAME_MAX);
  EXPECT_EQ(image_name_from("base", n), -EINVAL);
  EXPECT_EQ(image_name_from("_-.", n), -EINVAL);
  EXPECT_EQ(image_name_from("", n), -EINVAL);
}

TEST_F(ImageTest, IdsAreWholeDecimalFields) {
  int64_t v = -1;
  ASSERT_EQ(oci_parse_id("0", 1, &v), 0);
  EXPECT_EQ(v, 0);
  ASSERT_EQ(oci_parse_id("65534:9", 5, &v), 0);  // only the first n bytes
  EXPECT_EQ(v, 65534);
  EXPECT_EQ(oci_parse_id("65535", 5, &v), -EINVAL);
  EXPECT_EQ(oci_parse_id("012345", 6, &v), -EINVAL);  // longer than 5 digits
  EXPECT_EQ(oci_parse_id("", 0, &v), -EINVAL);
  EXPECT_EQ(oci_parse_id("-1", 2, &v), -EINVAL);
  EXPECT_EQ(oci_parse_id("1a", 2, &v), -EINVAL);
  EXPECT_EQ(v, 65534);  // untouched on error
}

TEST_F(ImageTest, UserResolvedByTheImagesPasswd) {
  const char* pw = "root:x:0:0:root:/root:/bin/sh\nbad line\napp:x:1001:1002::/home/app:/bin/sh\nbig:x:70000:1:::\n";
  int64_t uid, gid;
  ASSERT_EQ(oci_passwd_lookup(pw, strlen(pw), "app", 0, &uid, &gid), 0);
  EXPECT_EQ(uid, 1001);
  EXPECT_EQ(gid, 1002);
  ASSERT_EQ(oci_passwd_lookup(pw, strlen(pw), "1001", 1, &uid, &gid), 0);
  EXPECT_EQ(gid, 1002);
  EXPECT_EQ(oci_passwd_lookup(pw, strlen(pw), "big", 0, &uid, &gid), -ENOENT);  // past the protocol's ids
  EXPECT_EQ(oci_passwd_lookup(pw, strlen(pw), "ap", 0, &uid, &gid), -ENOENT);
  const char* gr = "root:x:0:\nstaff:x:2345:app";  // no final newline
  ASSERT_EQ(oci_group_lookup(gr, strlen(gr), "staff", &gid), 0);
  EXPECT_EQ(gid, 2345);

  std::string root = dir_ + "/tree";
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((root + "/etc").c_str(), 0755), 0);
  FILE* f = fopen((root + "/etc/passwd").c_str(), "w");
  fputs(pw, f);
  fclose(f);
  f = fopen((root + "/etc/group").c_str(), "w");
  fputs(gr, f);
  fclose(f);
  int rootfd = open(root.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(rootfd, 0);
  char ids[32];
  struct ak_error err = {};
  ASSERT_EQ(oci_user_resolve(rootfd, "app", ids, &err), 0) << err.msg;
  EXPECT_STREQ(ids, "1001:1002");
  ASSERT_EQ(oci_user_resolve(rootfd, "app:staff", ids, &err), 0) << err.msg;
  EXPECT_STREQ(ids, "1001:2345");
  ASSERT_EQ(oci_user_resolve(rootfd, "4242", ids, &err), 0) << err.msg;
  EXPECT_STREQ(ids, "4242:0");  // no entry: group 0, as docker
  ASSERT_EQ(oci_user_resolve(rootfd, "1001:7", ids, &err), 0) << err.msg;
  EXPECT_STREQ(ids, "1001:7");
  EXPECT_EQ(oci_user_resolve(rootfd, "nobody", ids, &err), -ENOENT);
  EXPECT_NE(strstr(err.msg, "no such user"), nullptr) << err.msg;
  EXPECT_EQ(oci_user_resolve(rootfd, "app:nogroup", ids, &err), -ENOENT);
  EXPECT_EQ(oci_user_resolve(rootfd, "app:", ids, &err), -EINVAL);
  // etc a symlink (to the host's /etc): not followed, so "root" is not found.
  ASSERT_EQ(unlink((root + "/etc/passwd").c_str()), 0);
  ASSERT_EQ(unlink((root + "/etc/group").c_str()), 0);
  ASSERT_EQ(rmdir((root + "/etc").c_str()), 0);
  ASSERT_EQ(symlink("/etc", (root + "/etc").c_str()), 0);
  EXPECT_EQ(oci_user_resolve(rootfd, "root", ids, &err), -ENOENT);
  close(rootfd);
}

// What the executor relies on to report its store without a restart: every
// name added, repointed or removed shows, a second change in the same
// timestamp tick too, and a store left alone costs one stat and no listing.
TEST_F(ImageTest, WatchSeesEveryNameChange) {
  struct image_store* s = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(image_store_open((dir_ + "/store").c_str(), &s, &err), 0) << err.msg;
  std::string a(64, 'a'), b(64, 'b');
  struct image_watch w = {};
  auto settle = [] { usleep((useconds_t)(IMAGE_WATCH_RACY_NS / 1000) + 100000); };

  settle();
  EXPECT_EQ(image_watch_changed(s, &w), 1);  // the first look
  EXPECT_EQ(image_watch_changed(s, &w), 0);  // nothing happened
  ASSERT_EQ(image_name_set(s, "one", a.c_str(), &err), 0) << err.msg;
  EXPECT_EQ(image_watch_changed(s, &w), 1);
  // Repointed at once (the same tick, most likely): still seen.
  ASSERT_EQ(image_name_set(s, "one", b.c_str(), &err), 0) << err.msg;
  EXPECT_EQ(image_watch_changed(s, &w), 1);
  // Looked at right after a change: looked at again once it is safely past.
  settle();
  EXPECT_EQ(image_watch_changed(s, &w), 1);
  EXPECT_EQ(image_watch_changed(s, &w), 0);
  EXPECT_EQ(image_watch_changed(s, &w), 0);
  ASSERT_EQ(unlink((dir_ + "/store/names/one").c_str()), 0);  // as image_remove does
  EXPECT_EQ(image_watch_changed(s, &w), 1);

  // A store whose names directory went away says so.
  ASSERT_EQ(rmdir((dir_ + "/store/names").c_str()), 0);
  EXPECT_EQ(image_watch_changed(s, &w), -ENOENT);
  image_store_free(s);
}

TEST_F(ImageTest, GcRemovesOnlyOldUnnamedImages) {
  struct image_store* s = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(image_store_open((dir_ + "/store").c_str(), &s, &err), 0);
  auto make = [&](char c, int64_t created, const char* name) {
    std::string hash(64, c);
    char tmp[PATH_MAX];
    ASSERT_EQ(image_tmpdir(s, tmp, &err), 0);
    struct image_info info = {};
    snprintf(info.name, sizeof(info.name), "x");
    snprintf(info.hash, sizeof(info.hash), "%s", hash.c_str());
    snprintf(info.kind, sizeof(info.kind), "base");
    info.created_at = created;
    ASSERT_EQ(image_manifest_write(tmp, &info, &err), 0);
    ASSERT_EQ(image_publish(s, tmp, hash.c_str(), &err), 0);
    if (name) {
      ASSERT_EQ(image_name_set(s, name, hash.c_str(), &err), 0);
    }
  };
  int64_t now = time(nullptr);
  make('1', now - 7200, nullptr);  // old, unnamed: goes
  make('2', now - 7200, "kept");  // old, named: stays
  make('3', now, nullptr);        // new, unnamed: stays (a build may be using it)
  image_gc(s, 3600);
  struct stat st;
  EXPECT_NE(stat((dir_ + "/store/" + std::string(64, '1')).c_str(), &st), 0);
  EXPECT_EQ(stat((dir_ + "/store/" + std::string(64, '2')).c_str(), &st), 0);
  EXPECT_EQ(stat((dir_ + "/store/" + std::string(64, '3')).c_str(), &st), 0);
  image_store_free(s);
}

TEST_F(ImageTest, CorruptManifestIsAClearError) {
  struct image_store* s = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(image_store_open((dir_ + "/store").c_str(), &s, &err), 0);
  std::string hash(64, 'b');
  std::string d = dir_ + "/store/" + hash;
  mkdir(d.c_str(), 0755);
  FILE* f = fopen((d + "/manifest.json").c_str(), "w");
  fputs("{\"name\": 1}", f);
  fclose(f);
  ASSERT_EQ(image_name_set(s, "broken", hash.c_str(), &err), 0);
  struct image_info got;
  EXPECT_EQ(image_lookup(s, "broken", &got, &err), -EINVAL);
  EXPECT_NE(strstr(err.msg, "not a valid image manifest"), nullptr) << err.msg;
  image_store_free(s);
}

// image_copy_file: bytes (more than one read's worth) and mode copied; a
// failing side named in the error.
TEST_F(ImageTest, CopyFileKeepsBytesAndMode) {
  std::string src = dir_ + "/src", dst = dir_ + "/dst";
  std::string data(300000, '\0');
  for (size_t i = 0; i < data.size(); i++) data[i] = (char)(i * 31);
  FILE* f = fopen(src.c_str(), "w");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(fwrite(data.data(), 1, data.size(), f), data.size());
  fclose(f);
  ASSERT_EQ(chmod(src.c_str(), 0751), 0);
  struct ak_error err = {};
  ASSERT_EQ(image_copy_file(src.c_str(), dst.c_str(), &err), 0) << err.msg;
  struct stat st;
  ASSERT_EQ(stat(dst.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0751u);
  std::string got(data.size() + 1, '\0');
  f = fopen(dst.c_str(), "r");
  ASSERT_NE(f, nullptr);
  got.resize(fread(&got[0], 1, got.size(), f));
  fclose(f);
  EXPECT_EQ(got, data);
  // A directory opens for reading but read(2) fails: EISDIR, "read <src>".
  EXPECT_EQ(image_copy_file(dir_.c_str(), (dir_ + "/dst2").c_str(), &err), -EISDIR);
  EXPECT_NE(strstr(err.msg, ("read " + dir_).c_str()), nullptr) << err.msg;
}

TEST_F(ImageTest, RootfsInputsAreCheckedFirst) {
  struct image_store* s = nullptr;
  struct ak_error err = {};
  ASSERT_EQ(image_store_open((dir_ + "/store").c_str(), &s, &err), 0);
  ASSERT_EQ(image_store_set_guest_binary(s, "/bin/true", &err), 0) << err.msg;
  struct image_info info;
  const char* bad[] = {"python3", "rm -rf /"};
  EXPECT_EQ(image_build_rootfs(s, "py", bad, 2, nullptr, &info, &err), -EINVAL);
  EXPECT_NE(strstr(err.msg, "not a Debian package name"), nullptr) << err.msg;
  EXPECT_EQ(image_build_rootfs(s, "base", nullptr, 0, nullptr, &info, &err), -EINVAL);
  EXPECT_EQ(image_build_rootfs(s, "Bad Name", nullptr, 0, nullptr, &info, &err), -EINVAL);
  std::vector<const char*> many(IMAGE_MAX_PACKAGES + 1, "python3");
  EXPECT_EQ(image_build_rootfs(s, "many", many.data(), many.size(), nullptr, &info, &err), -E2BIG);
  image_store_free(s);
}

TEST_F(ImageTest, ProcRunsHelpers) {
  int status;
  EXPECT_EQ(RunProc({"sh", "-c", "echo out; echo err >&2; exit 3"}, &status), "out\nerr\n");
  EXPECT_EQ(status, 3);
  EXPECT_NE(RunProc({"no-such-program-ak"}, &status).find("command not found"), std::string::npos);
  std::string t = RunProc({"sh", "-c", "sleep 30 & sleep 30"}, &status, 300);
  EXPECT_NE(t.find("timed out"), std::string::npos) << t;
  EXPECT_STREQ(proc_tail_lines("a\nb\nc\n", 2), "b\nc\n");
  EXPECT_STREQ(proc_tail_lines("abc", 2), "abc");
}

TEST_F(ImageTest, ProcKeepsTheEndOfLongOutput) {
  const char* argv[] = {"sh", "-c", "seq 1 100000", nullptr};
  struct proc_opts o = {};
  o.argv = argv;
  o.max_output = 20;
  int status;
  char* out = nullptr;
  ASSERT_EQ(proc_run(&o, &status, &out, nullptr), 0);
  EXPECT_EQ(strlen(out), 20u);
  EXPECT_STREQ(out + 13, "100000\n");
  free(out);
}

}  // namespace
