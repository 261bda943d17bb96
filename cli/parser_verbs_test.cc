// audit, snapshot, vm, image import/seed/push/pull and secret on the shared option parser (cli/opt.h), through the
// built ak: `--opt=value` and `--opt value` do the same, `--` ends the
// options, and errors name the option, the value and the verb's usage.
// audit works offline ($AK_HOME/audit.jsonl); snapshot's spellings are
// shown to reach the scheduler (a socket that is not there).
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "lib/base/fs.h"

namespace {

struct Result {
  int status;
  std::string out;
};

std::string g_home;

Result Ak(const std::string& args) {
  std::string cmd = "env AK_HOME=" + g_home + " AK_SCHEDULER=unix:" + g_home + "/none.sock cli/ak " + args + " 2>&1";
  Result r{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while (p && (n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int st = p ? pclose(p) : -1;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

bool Has(const Result& r, const std::string& s) { return r.out.find(s) != std::string::npos; }

class ParserVerbs : public ::testing::Test {
 protected:
  void SetUp() override {
    char d[] = "/tmp/akpv.XXXXXX";
    ASSERT_NE(mkdtemp(d), nullptr);
    g_home = d;
  }
  void TearDown() override { ak_rm_rf(g_home.c_str()); }
};

TEST_F(ParserVerbs, AuditBothSpellingsEmitAndTail) {
  Result a = Ak("audit emit --type=t1 --action=a --outcome=info --resource-type=sandbox --resource-id=r1");
  ASSERT_EQ(a.status, 0) << a.out;
  Result b = Ak("audit emit --type t2 --action a --outcome deny --resource-type sandbox --resource-id r2");
  ASSERT_EQ(b.status, 0) << b.out;
  Result t = Ak("audit tail --json --no-follow --limit=2");
  ASSERT_EQ(t.status, 0) << t.out;
  EXPECT_TRUE(Has(t, "\"type_name\":\"t1\"") && Has(t, "\"type_name\":\"t2\"")) << t.out;
  Result one = Ak("audit tail --json --no-follow --limit 1");
  ASSERT_EQ(one.status, 0) << one.out;
  EXPECT_TRUE(Has(one, "\"type_name\":\"t1\"")) << one.out;
  EXPECT_FALSE(Has(one, "\"type_name\":\"t2\"")) << one.out;
}

TEST_F(ParserVerbs, AuditErrorsNameTheOption) {
  for (const char* a : {"audit tail --limit=0", "audit tail --limit 0"}) {
    Result r = Ak(a);
    EXPECT_EQ(r.status, 2) << a;
    EXPECT_TRUE(Has(r, "ak audit: --limit 0: want a positive number")) << r.out;
    EXPECT_TRUE(Has(r, "Usage: ak audit")) << r.out;
  }
  Result r = Ak("audit tail --from=x");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "--from x: want a position (a number)")) << r.out;
  r = Ak("audit tail --json=yes");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "option --json takes no value")) << r.out;
  r = Ak("audit tail --bogus");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "unknown option --bogus")) << r.out;
  r = Ak("audit emit --type");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "option --type needs a value")) << r.out;
  r = Ak("audit tail extra");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "tail: unexpected argument 'extra'")) << r.out;
  r = Ak("audit tail -- extra");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "tail: unexpected argument 'extra'")) << r.out;
  // tail's options are not emit's.
  r = Ak("audit emit --json --type t --action a --outcome info");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "unknown option --json")) << r.out;
}

TEST_F(ParserVerbs, SnapshotSpellingsReachTheScheduler) {
  for (const char* a : {"snapshot restore --name=x snap", "snapshot restore --name x snap", "snapshot restore -n x snap",
                        "snapshot restore snap --name x --json", "snapshot list --json", "snapshot rm -- snap"}) {
    Result r = Ak(a);
    EXPECT_EQ(r.status, 1) << a << ": " << r.out;
    EXPECT_TRUE(Has(r, "none.sock")) << a << ": " << r.out;
  }
}

TEST_F(ParserVerbs, SnapshotErrorsNameTheOption) {
  Result r = Ak("snapshot take --name=x box");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "unknown option --name")) << r.out;  // --name is restore's
  r = Ak("snapshot take a b c");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "take: unexpected c")) << r.out;
  r = Ak("snapshot list --json=1");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "option --json takes no value")) << r.out;
  r = Ak("snapshot restore snap --name");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "option --name needs a value")) << r.out;
  r = Ak("snapshot rm a -- b");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "rm: unexpected b")) << r.out;
  EXPECT_TRUE(Has(r, "Usage: ak snapshot")) << r.out;
}

TEST_F(ParserVerbs, VmBootAndListSpellingsAndErrors) {
  // Both spellings reach the same value check (nothing boots: every case fails first).
  for (const char* a : {"vm boot x --vcpus=100", "vm boot x --vcpus 100", "vm boot --vcpus 100 -- x"}) {
    Result r = Ak(a);
    EXPECT_EQ(r.status, 2) << a;
    EXPECT_TRUE(Has(r, "ak vm: --vcpus 100: expected 1..64")) << a << ": " << r.out;
  }
  Result r = Ak("vm boot x --accel=foo");
  EXPECT_TRUE(Has(r, "--accel foo: expected auto, kvm or tcg")) << r.out;
  r = Ak("vm boot --memory-mb 1 x");
  EXPECT_TRUE(Has(r, "--memory-mb 1: expected 64..")) << r.out;
  r = Ak("vm boot a b");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "boot takes exactly one NAME (also given b)")) << r.out;
  r = Ak("vm boot --bogus x");
  EXPECT_TRUE(Has(r, "unknown option --bogus")) << r.out;
  EXPECT_TRUE(Has(r, "Usage: ak vm")) << r.out;
  r = Ak("vm list --json=1");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "option --json takes no value")) << r.out;
  r = Ak("vm list extra");
  EXPECT_TRUE(Has(r, "list: unexpected extra")) << r.out;
  r = Ak("vm list --json");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "[]\n");
}

TEST_F(ParserVerbs, ImageImportAndSeedSpellingsAndErrors) {
  for (const char* a : {"image import --name=Bad/N oci-layout:/x", "image import --name Bad/N oci-layout:/x",
                        "image import -n Bad/N -- oci-layout:/x"}) {
    Result r = Ak(a);
    EXPECT_EQ(r.status, 2) << a;
    EXPECT_TRUE(Has(r, "invalid image name 'Bad/N'")) << a << ": " << r.out;
  }
  Result r = Ak("image import a b");
  EXPECT_TRUE(Has(r, "import takes exactly one SOURCE (also given b)")) << r.out;
  r = Ak("image import --nme x");
  EXPECT_TRUE(Has(r, "unknown option --nme")) << r.out;
  // seed --from DIR and --from=DIR both reach the seed (here: not one).
  for (const char* a : {"image seed --from /nonexistent/seed", "image seed --from=/nonexistent/seed"}) {
    r = Ak(a);
    EXPECT_EQ(r.status, 1) << a << ": " << r.out;
    EXPECT_TRUE(Has(r, "/nonexistent/seed")) << a << ": " << r.out;
  }
  r = Ak("image seed --from");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "option --from needs a value")) << r.out;
  r = Ak("image seed x");
  EXPECT_TRUE(Has(r, "seed takes --from DIR")) << r.out;
  r = Ak("image export-seed --from x");
  EXPECT_TRUE(Has(r, "unknown option --from")) << r.out;
  r = Ak("image export-seed a b");
  EXPECT_TRUE(Has(r, "export-seed takes exactly one DIR")) << r.out;
}

// pull and push share their registry options (cli/registry_opts.h).
TEST_F(ParserVerbs, ImagePushAndPullRegistryOptions) {
  for (const char* verb : {"pull", "push"}) {
    std::string v = verb;
    std::string refs = v == "pull" ? " x" : " x y";
    for (const std::string& a : {"image " + v + " --insecure-registry=a/b" + refs,
                                 "image " + v + " --insecure-registry a/b" + refs}) {
      Result r = Ak(a);
      EXPECT_EQ(r.status, 2) << a;
      EXPECT_TRUE(Has(r, v + ": --insecure-registry takes HOST[:PORT], not 'a/b'")) << a << ": " << r.out;
    }
    std::string many = "image " + v;
    for (int i = 0; i < 17; i++) many += " --insecure-registry h" + std::to_string(i);
    Result r = Ak(many + refs);
    EXPECT_TRUE(Has(r, v + ": at most 16 --insecure-registry")) << r.out;
    r = Ak("image " + v + " --authfile" );
    EXPECT_TRUE(Has(r, "option --authfile needs a value")) << r.out;
  }
  // push: two references, options on either side of them and after --.
  Result r = Ak("image push a");
  EXPECT_TRUE(Has(r, "push takes SRC (a pulled reference) and DEST")) << r.out;
  r = Ak("image push a b c");
  EXPECT_TRUE(Has(r, "push takes SRC and DEST (also given c)")) << r.out;
  r = Ak("image push --ca-file=/nonexistent/ca.pem a -- b");
  EXPECT_EQ(r.status, 1) << r.out;  // parsed: fails on the empty cache, not on usage
  EXPECT_FALSE(Has(r, "Usage:")) << r.out;
}

TEST_F(ParserVerbs, SecretSpellingsAndErrors) {
  // --from-file=F and --from-file F set the same secret; get --reveal shows it.
  std::string f = g_home + "/v";
  FILE* fp = fopen(f.c_str(), "w");
  ASSERT_NE(fp, nullptr);
  fputs("s3cret\n", fp);
  fclose(fp);
  Result r = Ak("secret set A_KEY --from-file=" + f);
  ASSERT_EQ(r.status, 0) << r.out;
  r = Ak("secret set --from-file " + f + " -- B_KEY");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* k : {"A_KEY", "B_KEY"}) {
    r = Ak(std::string("secret get ") + k + " --reveal");
    EXPECT_EQ(r.status, 0) << k << ": " << r.out;
    EXPECT_TRUE(Has(r, "s3cret")) << k << ": " << r.out;
  }
  r = Ak("secret list --mounted=/nonexistent/m");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(Has(r, "/nonexistent/m")) << r.out;
  r = Ak("secret set A_KEY --from-file");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "option --from-file needs a value")) << r.out;
  r = Ak("secret get A_KEY --reveal=yes");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "option --reveal takes no value")) << r.out;
  r = Ak("secret get A_KEY --bogus");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "unknown option --bogus")) << r.out;
  r = Ak("secret set A -- B");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(Has(r, "one NAME at a time")) << r.out;
}

}  // namespace

namespace {

// vm stop: -t/--time in both spellings, several NAMEs, `--`, and errors.
// The VMs are registry folders with no process (stop removes them).
TEST_F(ParserVerbs, VmStopOnTheParser) {
  for (const char* n : {"a1", "a2", "a3", "-dash"})
    ASSERT_EQ(system(("mkdir -p '" + g_home + "/vms/" + n + "'").c_str()), 0);
  Result r = Ak("vm stop --time=0 a1 a2");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(Has(r, "stopped a1") && Has(r, "stopped a2")) << r.out;
  r = Ak("vm stop -t 0 a3");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(Has(r, "stopped a3")) << r.out;
  r = Ak("vm stop -t0 a3");  // gone now: reported, exit 1
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_TRUE(Has(r, "no VM named a3")) << r.out;
  r = Ak("vm stop --time soon a1");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(Has(r, "--time soon: want 0, 10s, 2m")) << r.out;
  r = Ak("vm stop --bogus a1");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(Has(r, "unknown option --bogus")) << r.out;
  r = Ak("vm stop");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(Has(r, "stop: which VM?")) << r.out;
  r = Ak("vm stop --time");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(Has(r, "option --time needs a value")) << r.out;
}

void WriteAll(const std::string& path, const std::string& data) {
  ASSERT_EQ(ak_mkdir_p(path.c_str(), 0755, true), 0) << path;
  FILE* f = fopen(path.c_str(), "we");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(fwrite(data.data(), 1, data.size(), f), data.size());
  ASSERT_EQ(fclose(f), 0);
}

// image kernel: a made-up bzImage (its boot header real) installed and
// shown, Debian's found again with --debian, usage and bad files refused.
TEST_F(ParserVerbs, ImageKernelInstallsShowsAndGoesBack) {
  std::string bz(0x4000, '\0');
  bz[0x1FE] = 0x55;
  bz[0x1FF] = (char)0xAA;
  bz.replace(0x202, 4, "HdrS");
  bz[0x206] = 0x0f;
  bz[0x207] = 0x02;
  bz[0x20E] = 0x00;
  bz[0x20F] = 0x2e;  // 0x2e00 + 0x200 = 0x3000
  std::string ver = "6.1.192 (ak@ak) #1 SMP";
  bz.replace(0x3000, ver.size(), ver);
  WriteAll(g_home + "/build/bzImage", bz);
  WriteAll(g_home + "/build/modules.builtin", "kernel/drivers/virtio/virtio_mmio.ko\n");
  std::string deb = g_home + "/images/kernel/linux-image-9.9.9-test_9.9.9-1";
  WriteAll(deb + "/release", "9.9.9-test\nlinux-image-9.9.9-test_9.9.9-1\n");
  WriteAll(deb + "/vmlinuz", "K");
  WriteAll(deb + "/lib/modules/9.9.9-test/modules.dep", "");

  Result r = Ak("image kernel " + g_home + "/build/bzImage");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(Has(r, "kernel ak-guest-6.1.192_")) << r.out;
  r = Ak("image kernel");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(Has(r, "(release 6.1.192)")) << r.out;
  r = Ak("image kernel --debian");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(Has(r, "kernel linux-image-9.9.9-test_9.9.9-1 (release 9.9.9-test): Debian's")) << r.out;
  r = Ak("image kernel");
  EXPECT_TRUE(Has(r, "(release 9.9.9-test)")) << r.out;

  r = Ak("image kernel " + g_home + "/build/modules.builtin");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_TRUE(Has(r, "not a bzImage")) << r.out;
  r = Ak("image kernel --builtin " + g_home + "/none " + g_home + "/build/bzImage");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_TRUE(Has(r, g_home + "/none")) << r.out;
  for (const char* a : {"image kernel a b", "image kernel --debian a", "image kernel --builtin x",
                        "image kernel -- a b"}) {
    r = Ak(a);
    EXPECT_EQ(r.status, 2) << a << ": " << r.out;
    EXPECT_TRUE(Has(r, "Usage: ak image")) << a << ": " << r.out;
  }
}

// image prune [--json] and export-seed [-q] DIR on the parser (export-seed
// only up to its arguments: exporting fetches a kernel).
TEST_F(ParserVerbs, ImagePruneAndExportSeedOnTheParser) {
  Result r = Ak("image prune --json");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(Has(r, "{\"images_removed\":0,\"blobs_removed\":0,\"blob_bytes\":0,\"blobs_kept_recent\":0}")) << r.out;
  r = Ak("image prune");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(Has(r, "removed 0 unnamed images")) << r.out;
  r = Ak("image prune extra");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(Has(r, "prune: unexpected extra")) << r.out;
  r = Ak("image prune -- extra");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(Has(r, "prune: unexpected extra")) << r.out;
  r = Ak("image prune --json=yes");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(Has(r, "option --json takes no value")) << r.out;
  for (const char* a : {"image export-seed -q", "image export-seed --quiet", "image export-seed a b",
                        "image export-seed -q -- a b"}) {
    r = Ak(a);
    EXPECT_EQ(r.status, 2) << a << ": " << r.out;
    EXPECT_TRUE(Has(r, "export-seed takes exactly one DIR")) << a << ": " << r.out;
  }
  r = Ak("image export-seed --quiet=1 d");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(Has(r, "option --quiet takes no value")) << r.out;
  r = Ak("image seed -q --from " + g_home + "/no-seed");  // reaches the seed reader
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_TRUE(Has(r, "no-seed")) << r.out;
}

// sandbox cp [-q] on the parser: both spellings reach the scheduler (a
// socket that is not there); `--` lets SRC start with '-'.
TEST_F(ParserVerbs, SandboxCpOnTheParser) {
  ASSERT_EQ(system(("touch '" + g_home + "/-f'").c_str()), 0);
  for (const std::string& a : {"sandbox cp -q " + g_home + "/-f dev:/x", "sandbox cp --quiet dev:/x " + g_home,
                              "sandbox cp " + g_home + "/-f dev:/x -q", "sandbox cp -q -- " + g_home + "/-f dev:/x"}) {
    Result r = Ak(a);
    EXPECT_EQ(r.status, 1) << a << ": " << r.out;
    EXPECT_TRUE(Has(r, "none.sock")) << a << ": " << r.out;
  }
  Result r = Ak("sandbox cp -q a");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(Has(r, "cp takes SRC and DST")) << r.out;
  r = Ak("sandbox cp --quiet a b");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(Has(r, "exactly one of SRC and DST")) << r.out;
  r = Ak("sandbox cp --json a dev:/x");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(Has(r, "unknown option --json")) << r.out;
  r = Ak("sandbox cp -- -nope dev:/x");  // a SRC after --, not an option
  EXPECT_FALSE(Has(r, "unknown option")) << r.out;
}

}  // namespace
