// `ak completion`: the bash script loaded into a real bash and asked for
// completions the way bash's programmable completion asks (COMP_LINE,
// COMP_POINT, then the function `complete -p ak` names); the zsh and fish
// scripts parsed and queried by those shells when they are installed.
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "lib/base/fs.h"

namespace {

struct Result {
  int status;
  std::string out;
};

std::string g_dir;

std::string AkPath() {
  std::string bin = std::string(getenv("TEST_SRCDIR") ? getenv("TEST_SRCDIR") : ".") + "/" +
                    (getenv("TEST_WORKSPACE") ? getenv("TEST_WORKSPACE") : "ak") + "/cli/ak";
  if (access(bin.c_str(), X_OK) != 0) bin = std::string(getcwd(nullptr, 0)) + "/cli/ak";
  return bin;
}

// Runs a shell command line in g_dir; stdout and stderr together.
Result Sh(const std::string& cmd) {
  std::string full = "cd '" + g_dir + "' && " + cmd + " 2>&1";
  Result r{-1, ""};
  FILE* p = popen(full.c_str(), "r");
  char buf[4096];
  size_t n;
  while (p && (n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int st = p ? pclose(p) : -1;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

bool Has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

bool Installed(const char* path) { return access(path, X_OK) == 0; }

class Completion : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char d[] = "/tmp/akcomp.XXXXXX";
    ASSERT_NE(mkdtemp(d), nullptr);
    g_dir = d;
    // Files for the file-name completions of option values.
    std::ofstream(g_dir + "/policy.toml") << "x\n";
    std::ofstream(g_dir + "/prog.py") << "x\n";
    for (const char* sh : {"bash", "zsh", "fish"}) {
      Result r = Sh("'" + AkPath() + "' completion " + sh + " > ak." + sh);
      ASSERT_EQ(r.status, 0) << sh << ": " << r.out;
    }
  }
  static void TearDownTestSuite() { ak_rm_rf(g_dir.c_str()); }

  // What the bash script completes for `line` (the cursor at its end), one
  // reply per line, through the function `complete -p ak` registered.
  static std::string Bash(const std::string& line) {
    std::string script =
        "source ./ak.bash || exit 9; "
        "fn=$(complete -p ak | sed -n 's/.*-F \\([^ ]*\\) ak$/\\1/p'); [ -n \"$fn\" ] || exit 8; "
        "COMP_LINE='" + line + "'; COMP_POINT=${#COMP_LINE}; "
        "read -ra COMP_WORDS <<<\"$COMP_LINE\"; COMP_CWORD=$((${#COMP_WORDS[@]}-1)); "
        "[[ $COMP_LINE == *' ' ]] && COMP_CWORD=${#COMP_WORDS[@]}; "
        "$fn ak; printf '%s\\n' \"${COMPREPLY[@]}\"";
    Result r = Sh("bash --norc --noprofile -c \"$(cat <<'EOF'\n" + script + "\nEOF\n)\"");
    EXPECT_EQ(r.status, 0) << line << ": " << r.out;
    return "\n" + r.out;  // every reply as "\nWORD\n"
  }
};

TEST_F(Completion, BashRegistersForAk) {
  Result r = Sh("bash --norc --noprofile -c 'source ./ak.bash && complete -p ak'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "complete -F _ak ak\n");
}

TEST_F(Completion, BashCompletesCommandsAndSubcommands) {
  EXPECT_EQ(Bash("ak ru"), "\nrun\n");
  std::string s = Bash("ak s");
  EXPECT_TRUE(Has(s, "\nsandbox\n") && Has(s, "\nshell\n") && Has(s, "\nsnapshot\n") && Has(s, "\nstatus\n") &&
              Has(s, "\nsecret\n"))
      << s;
  EXPECT_FALSE(Has(s, "\nrun\n")) << s;
  EXPECT_EQ(Bash("ak sandbox cr"), "\ncreate\n");
  std::string r = Bash("ak receipt ");
  EXPECT_TRUE(Has(r, "\nverify\n") && Has(r, "\nshow\n") && Has(r, "\nreplay\n") && Has(r, "\nkey\n")) << r;
  EXPECT_EQ(Bash("ak completion f"), "\nfish\n");
}

TEST_F(Completion, BashCompletesEachCommandsOwnOptions) {
  // run takes --keep and the sandbox options; exec takes neither --keep nor --image.
  std::string run = Bash("ak run --");
  EXPECT_TRUE(Has(run, "\n--keep\n") && Has(run, "\n--image=\n") && Has(run, "\n--no-network\n") &&
              Has(run, "\n--ttl=\n"))
      << run;
  std::string exec = Bash("ak exec --");
  EXPECT_TRUE(Has(exec, "\n--sudo\n") && Has(exec, "\n--detach\n")) << exec;
  EXPECT_FALSE(Has(exec, "\n--keep\n") || Has(exec, "\n--image=\n")) << exec;
  // Short options too.
  std::string shorts = Bash("ak run -");
  EXPECT_TRUE(Has(shorts, "\n-k\n") && Has(shorts, "\n-w\n") && Has(shorts, "\n-e\n")) << shorts;
  // Per subcommand: receipt verify has --key-id, not --json; sandbox list has --label.
  std::string verify = Bash("ak receipt verify --");
  EXPECT_TRUE(Has(verify, "\n--allow-unsigned\n") && Has(verify, "\n--key-id=\n")) << verify;
  EXPECT_FALSE(Has(verify, "\n--json\n")) << verify;
  EXPECT_EQ(Bash("ak sandbox list --la"), "\n--label=\n");
  // image build and pull (on the shared parser) have their options.
  std::string build = Bash("ak image build -");
  EXPECT_TRUE(Has(build, "\n--packages=\n") && Has(build, "\n--quiet\n") && Has(build, "\n-q\n")) << build;
  EXPECT_EQ(Bash("ak image pull --pl"), "\n--platform=\n");
  EXPECT_EQ(Bash("ak audit tail --li"), "\n--limit=\n");
  EXPECT_EQ(Bash("ak snapshot restore --na"), "\n--name=\n");
  EXPECT_EQ(Bash("ak run --pro"), "\n--profile=\n");
  // -t and --output-base64 on run and exec; the last verbs moved onto the parser.
  EXPECT_EQ(Bash("ak run --tty"), "\n--tty\n");
  EXPECT_EQ(Bash("ak exec --output-b"), "\n--output-base64\n");
  EXPECT_EQ(Bash("ak sandbox cp --qu"), "\n--quiet\n");
  EXPECT_EQ(Bash("ak vm stop --ti"), "\n--time=\n");
  EXPECT_EQ(Bash("ak image prune --js"), "\n--json\n");
  EXPECT_EQ(Bash("ak image export-seed --qu"), "\n--quiet\n");
}

TEST_F(Completion, BashCompletesValuesAfterEqualsAndAfterAnOption) {
  // `--opt=`: bash splits the word at '=' (COMP_WORDBREAKS), so the reply is the value.
  EXPECT_EQ(Bash("ak run --config=pol"), "\npolicy.toml\n");
  EXPECT_EQ(Bash("ak sandbox create --env-file=po"), "\npolicy.toml\n");
  // `--opt VALUE` and `-w VALUE`: a file name, not an option.
  EXPECT_EQ(Bash("ak run --config po"), "\npolicy.toml\n");
  EXPECT_EQ(Bash("ak init -c po"), "\npolicy.toml\n");
  // After a flag (no value), options again.
  EXPECT_EQ(Bash("ak run --keep --no-n"), "\n--no-network\n");
}

TEST_F(Completion, BashStopsOfferingOptionsAfterDoubleDash) {
  // After `--` the words are the command's: file names, never ak's options.
  EXPECT_EQ(Bash("ak run -- python3 pr"), "\nprog.py\n");
  EXPECT_EQ(Bash("ak run -- --ke"), "\n\n");  // printf of no replies: one empty line
}

TEST_F(Completion, UnknownShellOrNoneIsAUsageError) {
  Result none = Sh("'" + AkPath() + "' completion");
  EXPECT_EQ(none.status, 2) << none.out;
  EXPECT_TRUE(Has(none.out, "want one shell: bash, zsh or fish")) << none.out;
  Result tcsh = Sh("'" + AkPath() + "' completion tcsh");
  EXPECT_EQ(tcsh.status, 2) << tcsh.out;
  EXPECT_TRUE(Has(tcsh.out, "unknown shell 'tcsh'")) << tcsh.out;
  EXPECT_TRUE(Has(tcsh.out, "Usage: ak completion bash|zsh|fish")) << tcsh.out;
}

TEST_F(Completion, ZshScriptParsesAndRegisters) {
  if (!Installed("/usr/bin/zsh")) GTEST_SKIP() << "zsh is not installed (/usr/bin/zsh)";
  Result n = Sh("zsh -n ak.zsh");
  ASSERT_EQ(n.status, 0) << n.out;
  Result r = Sh("zsh -f -c 'autoload -U compinit && compinit -u -D && source ./ak.zsh && "
                "print -r -- ${_comps[ak]} && _ak_subs image && _ak_opts sandbox create && _ak_valued run \"\"'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(Has(r.out, "_ak\n")) << r.out;
  EXPECT_TRUE(Has(r.out, "build import pull push list rm prune")) << r.out;
  EXPECT_TRUE(Has(r.out, "--image= ")) << r.out;
  EXPECT_TRUE(Has(r.out, "--workdir -w")) << r.out;
}

TEST_F(Completion, FishScriptParsesAndCompletes) {
  if (!Installed("/usr/bin/fish")) GTEST_SKIP() << "fish is not installed (/usr/bin/fish)";
  Result n = Sh("fish --no-config -n ak.fish");
  ASSERT_EQ(n.status, 0) << n.out;
  Result r = Sh("HOME='" + g_dir + "' fish --no-config -c 'source ak.fish; "
                "complete -C\"ak ru\"; echo ==; complete -C\"ak sandbox cr\"; echo ==; "
                "complete -C\"ak sandbox create --pro\"; echo ==; complete -C\"ak exec --ke\"'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(Has(r.out, "run\trun a command once in a fresh microVM\n==\n")) << r.out;
  EXPECT_TRUE(Has(r.out, "==\ncreate\n==\n")) << r.out;
  EXPECT_TRUE(Has(r.out, "==\n--profile\n==\n")) << r.out;
  EXPECT_TRUE(r.out.size() >= 3 && r.out.compare(r.out.size() - 3, 3, "==\n") == 0) << r.out;  // exec has no --keep
}

}  // namespace
