// Progress off a terminal: one line per phase with the time since the start
// and a last "done" line (cli/progress.c), and --quiet silencing them; then
// through the built ak: `ak up` with stderr to a file (a real local stack,
// --warm 0: no VM), and `ak up -q`. Also image build/pull on the shared
// option parser: both spellings and the errors.
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "lib/base/fs.h"
#include "cli/progress.h"
}

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string MakeTemp(const char* prefix) {
  std::string t = std::string("/tmp/") + prefix + ".XXXXXX";
  char buf[64];
  snprintf(buf, sizeof(buf), "%s", t.c_str());
  return mkdtemp(buf) ? buf : "";
}

// Runs f with stderr (fd 2) sent to a file; returns what it wrote.
template <typename F>
std::string Stderr(F f) {
  std::string dir = MakeTemp("akprog");
  std::string path = dir + "/err";
  fflush(stderr);
  int saved = dup(2);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  dup2(fd, 2);
  close(fd);
  f();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::string out = Slurp(path);
  ak_rm_rf(dir.c_str());
  return out;
}

// "ak: [ *N.Ns] phase: detail" (std::regex trips GCC 12's
// -Wmaybe-uninitialized under the ASan build, so by hand).
bool IsPhaseLine(const std::string& l) {
  size_t i = 0;
  if (l.compare(0, 5, "ak: [") != 0) return false;
  for (i = 5; i < l.size() && l[i] == ' '; i++) {
  }
  size_t digits = i;
  while (i < l.size() && isdigit((unsigned char)l[i])) i++;
  if (i == digits || l.compare(i, 1, ".") != 0 || i + 1 >= l.size() || !isdigit((unsigned char)l[i + 1])) return false;
  i += 2;
  if (l.compare(i, 3, "s] ") != 0) return false;
  i += 3;
  size_t word = i;
  while (i < l.size() && l[i] >= 'a' && l[i] <= 'z') i++;
  return i > word && l.compare(i, 2, ": ") == 0;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> v;
  std::stringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

TEST(Progress, OffATerminalOneLinePerPhaseThenDone) {
  cli_progress_set_quiet(false);
  std::string err = Stderr([] {
    struct cli_progress p;
    cli_progress_init(&p);
    cli_progress_report(&p, "download", "apt-get download linux-image");
    cli_progress_report(&p, "download", "apt-get download more");  // same phase: no line
    usleep(120 * 1000);
    cli_progress_report(&p, "kernel", "unpacking");
    cli_progress_done(&p);
  });
  std::vector<std::string> l = Lines(err);
  ASSERT_EQ(l.size(), 3u) << err;
  for (const std::string& s : l) EXPECT_TRUE(IsPhaseLine(s)) << s;
  EXPECT_NE(l[0].find("] download: apt-get download linux-image"), std::string::npos) << l[0];
  EXPECT_NE(l[1].find("] kernel: unpacking"), std::string::npos) << l[1];
  EXPECT_NE(l[2].find("] kernel: done"), std::string::npos) << l[2];
  // The elapsed time is the time since init: the kernel phase began >= 0.1 s in.
  double t0 = atof(l[0].c_str() + l[0].find('[') + 1), t1 = atof(l[1].c_str() + l[1].find('[') + 1);
  EXPECT_LT(t0, 0.1) << l[0];
  EXPECT_GE(t1, 0.1) << l[1];
}

TEST(Progress, NothingShownNothingAtDone) {
  cli_progress_set_quiet(false);
  std::string err = Stderr([] {
    struct cli_progress p;
    cli_progress_init(&p);
    cli_progress_done(&p);
  });
  EXPECT_EQ(err, "");
}

TEST(Progress, QuietSilencesEverything) {
  cli_progress_set_quiet(true);
  std::string err = Stderr([] {
    struct cli_progress p;
    cli_progress_init(&p);
    cli_progress_report(&p, "download", "x");
    cli_progress_done(&p);
  });
  cli_progress_set_quiet(false);
  EXPECT_EQ(err, "");
}

struct Result {
  int status;
  std::string out;
};

// The built ak with AK_HOME=home; stderr to err_path when given (a file:
// not a terminal), else into out with stdout.
Result Ak(const std::string& home, const std::string& args, const std::string& err_path = "") {
  std::string cmd = "env AK_HOME=" + home + " cli/ak " + args + (err_path.empty() ? " 2>&1" : " 2>" + err_path);
  Result r{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while (p && (n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int st = p ? pclose(p) : -1;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TEST(ProgressCli, UpPrintsItsPhaseLinesToAFileAndQuietNone) {
  // Short: the stack's Unix sockets live under AK_HOME.
  std::string home = MakeTemp("akpq");
  ASSERT_FALSE(home.empty());
  std::string err = home + "/up.err";
  Result r = Ak(home, "up --warm 0 --no-gateway", err);
  std::string e = Slurp(err);
  ASSERT_EQ(r.status, 0) << r.out << e;
  std::vector<std::string> l = Lines(e);
  ASSERT_EQ(l.size(), 2u) << e;
  EXPECT_TRUE(IsPhaseLine(l[0])) << l[0];
  EXPECT_NE(l[0].find("] stack: 0 of 4 services healthy"), std::string::npos) << l[0];
  EXPECT_TRUE(IsPhaseLine(l[1])) << l[1];
  EXPECT_NE(l[1].find("] stack: done"), std::string::npos) << l[1];
  EXPECT_EQ(e.find('\r'), std::string::npos) << "terminal control in a file: " << e;
  EXPECT_EQ(e.find('\033'), std::string::npos) << "terminal control in a file: " << e;
  EXPECT_EQ(Ak(home, "down").status, 0);

  for (const char* q : {"up -q --warm 0 --no-gateway", "up --quiet --warm=0 --no-gateway"}) {
    r = Ak(home, q, err);
    EXPECT_EQ(r.status, 0) << q << ": " << r.out << Slurp(err);
    EXPECT_EQ(Slurp(err), "") << q;
    EXPECT_NE(r.out.find("the stack is up"), std::string::npos) << q << ": " << r.out;
    EXPECT_EQ(Ak(home, "down").status, 0);
  }
  ak_rm_rf(home.c_str());
}

TEST(ProgressCli, QuietIsAnOptionOfEachLongWaitingVerb) {
  // Parsed (not "unknown option") by run, exec, sandbox create, image build and
  // pull: each fails later, on what comes after the options.
  std::string home = "/nonexistent/akpq";
  Result r = Ak(home, "image build -q");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("build takes exactly one NAME"), std::string::npos) << r.out;
  r = Ak(home, "image pull --quiet");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("pull takes exactly one REF"), std::string::npos) << r.out;
  r = Ak(home, "run -q");
  EXPECT_EQ(r.out.find("unknown option"), std::string::npos) << r.out;
  r = Ak(home, "exec --quiet");
  EXPECT_EQ(r.out.find("unknown option"), std::string::npos) << r.out;
  r = Ak(home, "sandbox create -q --ttl=bad x");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--ttl bad"), std::string::npos) << r.out;
}

TEST(ProgressCli, ImageBuildAndPullTakeBothSpellingsAndNameBadOptions) {
  std::string home = "/nonexistent/akpq";
  // --packages VALUE, --packages=VALUE and -p VALUE reach the name check.
  for (const char* a : {"image build Bad/Name --packages curl", "image build --packages=curl Bad/Name",
                        "image build -p curl Bad/Name", "image build -qpcurl -- Bad/Name"}) {
    Result r = Ak(home, a);
    EXPECT_EQ(r.status, 2) << a << ": " << r.out;
    EXPECT_NE(r.out.find("invalid image name 'Bad/Name'"), std::string::npos) << a << ": " << r.out;
  }
  Result r = Ak(home, "image build a b");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("build takes exactly one NAME (also given b)"), std::string::npos) << r.out;
  r = Ak(home, "image build --pakages=x a");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("unknown option --pakages"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Usage: ak image build"), std::string::npos) << r.out;
  r = Ak(home, "image build x --packages");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("option --packages needs a value"), std::string::npos) << r.out;
  // pull: --opt=value and --opt value, -n; errors name the option.
  for (const char* a : {"image pull --platform=linux ref", "image pull --platform linux ref"}) {
    r = Ak(home, a);
    EXPECT_EQ(r.status, 2) << a << ": " << r.out;
    EXPECT_NE(r.out.find("--platform takes OS/ARCH (linux/amd64), not 'linux'"), std::string::npos) << r.out;
  }
  for (const char* a : {"image pull -n Bad/Name ref", "image pull --name=Bad/Name ref"}) {
    r = Ak(home, a);
    EXPECT_EQ(r.status, 2) << a << ": " << r.out;
    EXPECT_NE(r.out.find("invalid image name 'Bad/Name'"), std::string::npos) << r.out;
  }
  r = Ak(home, "image pull --insecure-registry=a/b ref");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--insecure-registry takes HOST[:PORT], not 'a/b'"), std::string::npos) << r.out;
  r = Ak(home, "image pull a b");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("pull takes exactly one REF (also given b)"), std::string::npos) << r.out;
  r = Ak(home, "image pull --pull-only=yes ref");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("option --pull-only takes no value"), std::string::npos) << r.out;
}

}  // namespace
