#include "vmm/testing/tiny_stage.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

extern "C" {
#include "lib/base/fs.h"
#include "lib/base/proc.h"
#include "vmm/image/image.h"
}

namespace akvm {

namespace {

bool Run(const std::vector<const char*>& argv, std::string* out, std::string* error) {
  std::vector<const char*> v = argv;
  v.push_back(nullptr);
  struct proc_opts o = {};
  o.argv = v.data();
  o.timeout_ms = 60000;
  o.max_output = 1 << 20;
  char* text = nullptr;
  int status = 0;
  struct ak_error err = {};
  if (proc_run(&o, &status, &text, &err) < 0) {
    *error = std::string(argv[0]) + ": " + err.msg;
    return false;
  }
  std::string s = text ? text : "";
  free(text);
  if (status != 0) {
    *error = std::string(argv[0]) + " exited " + std::to_string(status) + ": " + s;
    return false;
  }
  if (out) *out = s;
  return true;
}

bool WriteFile(const std::string& path, const std::string& text, std::string* error) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  f.close();
  if (!f) *error = "write " + path;
  return static_cast<bool>(f);
}

bool MakeTree(const std::string& root, const std::string& marker, std::string* error) {
  for (const char* d : {"bin", "etc", "usr/local/bin", "root", "tmp", "proc", "sys", "dev", "home"}) {
    int r = ak_mkdir_p((root + "/" + d).c_str(), 0755, false);
    if (r < 0) {
      *error = std::string("mkdir ") + d + ": " + strerror(-r);
      return false;
    }
  }
  chmod((root + "/tmp").c_str(), 01777);
  char busybox[PATH_MAX];
  if (proc_which("busybox", busybox, sizeof(busybox)) < 0) {
    *error = "busybox not found: install busybox-static (tools/deps.sh)";
    return false;
  }
  std::string list;
  if (!Run({"cp", busybox, (root + "/bin/busybox").c_str()}, nullptr, error) ||
      !Run({busybox, "--list"}, &list, error))
    return false;
  std::istringstream in(list);
  for (std::string applet; std::getline(in, applet);) {
    if (applet.empty() || applet == "busybox" || applet.find('/') != std::string::npos) continue;
    if (symlink("busybox", (root + "/bin/" + applet).c_str()) < 0 && errno != EEXIST) {
      *error = "symlink " + applet + ": " + strerror(errno);
      return false;
    }
  }
  return WriteFile(root + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", error) &&
         WriteFile(root + "/etc/group", "root:x:0:\n", error) &&
         WriteFile(root + "/etc/ak-image", marker + "\n", error);
}

}  // namespace

std::string UseLoopbackMirror(const std::string& tag) {
  std::string url = "http://127.0.0.1:9/" + tag;
  setenv("AK_DEBIAN_MIRROR", url.c_str(), 1);
  return url;
}

bool SeedTinyStage(const std::string& store_dir, const std::string& marker, std::string* error) {
  struct ak_error err = {};
  struct image_store* s = nullptr;
  char file[PATH_MAX];
  if (image_store_open(store_dir.c_str(), &s, &err) < 0) {
    *error = err.msg;
    return false;
  }
  int r = image_stage_file(s, nullptr, 0, file, &err);
  image_store_free(s);
  if (r < 0) {
    *error = err.msg;
    return false;
  }
  std::string path = file, dir = path.substr(0, path.rfind('/'));
  std::string tree = dir + ".tree", tmp = path + ".tmp";
  ak_rm_rf(tree.c_str());
  bool ok = ak_mkdir_p(dir.c_str(), 0755, false) == 0 && MakeTree(tree, marker, error) &&
            Run({"mkfs.ext4", "-q", "-F", "-d", tree.c_str(), "-E", "root_owner=0:0", tmp.c_str(), "64M"}, nullptr,
                error);
  ak_rm_rf(tree.c_str());
  if (ok && rename(tmp.c_str(), path.c_str()) < 0) {
    *error = "rename " + tmp + ": " + strerror(errno);
    ok = false;
  }
  if (!ok) unlink(tmp.c_str());
  return ok;
}

}  // namespace akvm
