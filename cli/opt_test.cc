// The shared option parser (opt.h): both long spellings, bundles, "--",
// positionals, and the errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
#include "cli/opt.h"
}

namespace {

const char kHelp[] = "Usage: ak t [-k] [-w DIR]\n";
const cli_command kCmd = {"t", "", nullptr, kHelp};
const cli_option kOpts[] = {
    {"keep", 'k', false, 1}, {"workdir", 'w', true, 2}, {"ttl", 0, true, 3}, {nullptr, 0, false, 0}};
const cli_option* const kTables[] = {kOpts, nullptr};

struct Seen {
  std::vector<std::string> events;  // "id=value", "pos:x", "done@i", "error"
};

Seen Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "t");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  cli_opts p;
  cli_opts_init(&p, &kCmd, kTables, static_cast<int>(argv.size()), argv.data());
  Seen s;
  for (;;) {
    int id = cli_opts_next(&p);
    if (id == CLI_OPT_DONE) {
      s.events.push_back("done@" + std::to_string(cli_opts_index(&p)));
      break;
    }
    if (id == CLI_OPT_ERROR) {
      s.events.push_back("error");
      break;
    }
    if (id == CLI_OPT_POSITIONAL) {
      s.events.push_back("pos:" + std::string(p.arg) + "@" + std::to_string(cli_opts_index(&p)));
      continue;
    }
    s.events.push_back(std::to_string(id) + "=" + (p.arg ? p.arg : "") + " " + p.spelled);
  }
  return s;
}

using V = std::vector<std::string>;

TEST(Opt, LongBothSpellings) {
  EXPECT_EQ(Parse({"--ttl", "1h"}).events, (V{"3=1h --ttl", "done@3"}));
  EXPECT_EQ(Parse({"--ttl=1h"}).events, (V{"3=1h --ttl", "done@2"}));
  EXPECT_EQ(Parse({"--ttl="}).events, (V{"3= --ttl", "done@2"}));
  EXPECT_EQ(Parse({"--workdir=/a=b"}).events, (V{"2=/a=b --workdir", "done@2"}));
}

TEST(Opt, ShortAndBundles) {
  EXPECT_EQ(Parse({"-k"}).events, (V{"1= -k", "done@2"}));
  EXPECT_EQ(Parse({"-kw", "/x"}).events, (V{"1= -k", "2=/x -w", "done@3"}));
  EXPECT_EQ(Parse({"-kw/x"}).events, (V{"1= -k", "2=/x -w", "done@2"}));
  EXPECT_EQ(Parse({"-w", "/x", "-k"}).events, (V{"2=/x -w", "1= -k", "done@4"}));
}

TEST(Opt, DashDashEndsOptions) {
  EXPECT_EQ(Parse({"-k", "--", "-w", "x"}).events, (V{"1= -k", "done@3"}));
  EXPECT_EQ(Parse({"--"}).events, (V{"done@2"}));
}

TEST(Opt, Positionals) {
  EXPECT_EQ(Parse({"name", "-k", "cmd"}).events, (V{"pos:name@1", "1= -k", "pos:cmd@3", "done@4"}));
  EXPECT_EQ(Parse({"-"}).events, (V{"pos:-@1", "done@2"}));
}

TEST(Opt, Errors) {
  EXPECT_EQ(Parse({"--nope"}).events, (V{"error"}));
  EXPECT_EQ(Parse({"-x"}).events, (V{"error"}));
  EXPECT_EQ(Parse({"-kx"}).events, (V{"1= -k", "error"}));
  EXPECT_EQ(Parse({"--keep=yes"}).events, (V{"error"}));
  EXPECT_EQ(Parse({"--ttl"}).events, (V{"error"}));
  EXPECT_EQ(Parse({"-w"}).events, (V{"error"}));
  // A prefix is not an abbreviation: --kee is unknown.
  EXPECT_EQ(Parse({"--kee"}).events, (V{"error"}));
}

}  // namespace
