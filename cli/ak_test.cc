// The built `ak` binary, run as a user would.
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

Result ak(const std::string &args)
{
        std::string cmd = (args.rfind("env ", 0) == 0 ? args : "cli/ak " + args) + " 2>&1";
        Result r{-1, ""};
        FILE *p = popen(cmd.c_str(), "r");
        if (!p)
                return r;
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                r.out.append(buf, n);
        int st = pclose(p);
        r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        return r;
}

TEST(Ak, HelpListsCommandsWithExamples)
{
        Result r = ak("--help");
        EXPECT_EQ(0, r.status);
        EXPECT_NE(std::string::npos, r.out.find("Usage: ak COMMAND"));
        EXPECT_NE(std::string::npos, r.out.find("version"));
        EXPECT_NE(std::string::npos, r.out.find("Examples:"));
}

TEST(Ak, VersionPlainAndJson)
{
        Result r = ak("version");
        EXPECT_EQ(0, r.status);
        EXPECT_EQ(0u, r.out.find("ak 0."));
        EXPECT_NE(std::string::npos, r.out.find("agentkernel 0.18.1"));
        r = ak("version --json");
        EXPECT_EQ(0, r.status);
        EXPECT_EQ(0u, r.out.find("{\"version\":\""));
}

TEST(Ak, EachCommandHasHelp)
{
        for (const char *c : {"version", "help", "receipt", "run", "exec", "shell", "sandbox", "up", "down",
                              "status"}) {
                Result r = ak(std::string(c) + " --help");
                EXPECT_EQ(0, r.status) << c;
                EXPECT_EQ(0u, r.out.find("Usage: ak ")) << c << ": " << r.out;
        }
}

TEST(Ak, EgressOptionsInHelpWithAnExample)
{
        for (const char *c : {"run", "sandbox"}) {
                Result r = ak(std::string(c) + " --help");
                EXPECT_EQ(0, r.status) << c;
                for (const char *want : {"--egress-allow X", "--egress-deny X", "--egress-port N",
                                         "--egress-allow-private", "a CIDR or a domain name", "*.example.com",
                                         "CIDRs and domain names", "--egress-port 443",
                                         "--secret NAME:HOST[:HEADER]", "placeholder, never the value",
                                         "--secret-file NAME[:PATH]", "/run/agentkernel/secrets/NAME"})
                        EXPECT_NE(std::string::npos, r.out.find(want)) << c << ": " << want << "\n" << r.out;
        }
}

TEST(Ak, BadUsageExitsTwoAndSaysWhy)
{
        Result r = ak("frobnicate");
        EXPECT_EQ(2, r.status);
        EXPECT_NE(std::string::npos, r.out.find("unknown command 'frobnicate'"));
        r = ak("version --bogus");
        EXPECT_EQ(2, r.status);
        EXPECT_NE(std::string::npos, r.out.find("unknown option --bogus"));
        r = ak("");
        EXPECT_EQ(2, r.status);
}

TEST(Ak, StackVerbsRefuseBadUsageBeforeStartingAnything)
{
        struct {
                const char *args, *says;
        } cases[] = {
                {"run", "no command: put it after --"},
                {"run -e NOEQUALS -- true", "-e NOEQUALS: NOEQUALS is not set"},
                {"run --timeout 0 -- true", "--timeout 0"},
                {"run --bogus -- true", "unknown option --bogus"},
                {"exec -- true", "which sandbox?"},
                {"exec box", "no command: put it after --"},
                {"shell", "which sandbox?"},
                {"sandbox", "which subcommand?"},
                {"sandbox frob", "unknown subcommand frob"},
                {"sandbox create", "give the sandbox a NAME"},
                {"sandbox cp a b", "exactly one of SRC and DST"},
                {"sandbox cp x:/a y:/b", "exactly one of SRC and DST"},
                {"sandbox info", "which sandbox?"},
                {"up --warm 99", "--warm 99: want 0 to 16"},
                {"down now", "unknown argument now"},
                {"run --egress-port 0 -- true", "--egress-port 0: want a port, 1 to 65535"},
                {"run --egress-port 65536 -- true", "--egress-port 65536: want a port"},
                {"run --egress-port 44x -- true", "--egress-port 44x: want a port"},
                {"run --egress-deny", "--egress-deny needs a value"},
                {"run --egress-allow '' -- true", "--egress-allow: empty"},
                {"exec box --egress-deny 1.2.3.4 -- true", "unknown option --egress-deny"},
                {"sandbox create x --egress-port -1", "--egress-port -1: want a port"},
                {"sandbox create x --egress-allow", "--egress-allow needs a value"},
                {"run --secret API_TOKEN -- true", "want NAME:HOST[:HEADER]"},
                {"run --secret API_TOKEN:api.example.com:443 -- true", "looks like a port"},
                {"run --secret 'API_TOKEN:*.example.com' -- true", "is not a host name"},
                {"run --secret API_TOKEN:api.example.com:Host -- true", "is not a header"},
                {"exec box --secret A:api.example.com -- true", "unknown option --secret"},
                {"sandbox create x --secret A:a.example.com --secret A:b.example.com", "A is bound already"},
                {"sandbox create x --secret", "--secret needs a value"},
                {"run --secret-file 'K:/a/../etc/shadow' -- true", "is not a guest path"},
                {"sandbox create x --secret-file 9K", "not an environment variable name"},
        };
        for (const auto &c : cases) {
                Result r = ak(std::string("env AK_HOME=/nonexistent/ak-test cli/ak ") + c.args);
                EXPECT_EQ(2, r.status) << c.args << ": " << r.out;
                EXPECT_NE(std::string::npos, r.out.find(c.says)) << c.args << ": " << r.out;
        }
}

TEST(Ak, StatusAndDownWithoutAStack)
{
        // Short: socket paths under AK_HOME must fit sun_path.
        char dir[] = "/tmp/aknostack.XXXXXX";
        ASSERT_NE(nullptr, mkdtemp(dir));
        std::string home = dir;
        Result r = ak("env AK_HOME=" + home + " cli/ak down");
        EXPECT_EQ(0, r.status) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("no stack recorded")) << r.out;
        r = ak("env AK_HOME=" + home + " cli/ak status --json");
        EXPECT_EQ(1, r.status) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("\"healthy\":false")) << r.out;
        // A fleet address: no local stack is started, the error names the call.
        r = ak("env AK_HOME=" + home + " AK_SCHEDULER=unix:" + home + "/none.sock cli/ak sandbox list");
        EXPECT_EQ(1, r.status) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("UNAVAILABLE")) << r.out;
        EXPECT_EQ(std::string::npos, r.out.find("starting one")) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("ak sandbox list: ")) << r.out;
        r = ak("env AK_HOME=" + home + " AK_SCHEDULER=unix:" + home + "/none.sock cli/ak snapshot list");
        EXPECT_EQ(1, r.status) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("ak snapshot list: ")) << r.out;
        EXPECT_EQ(0, rmdir(dir)) << "ak left files in " << dir;
}

TEST(Ak, TooLongAkHomeIsRefusedWithAHint)
{
        std::string home = "/tmp/" + std::string(110, 'h');
        Result r = ak("env AK_HOME=" + home + " cli/ak status");
        EXPECT_EQ(1, r.status) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("set a shorter AK_HOME")) << r.out;
}

}  // namespace

namespace {

TEST(AkImage, ImportUsageAndHelp)
{
        Result r = ak("image import registry:foo");
        EXPECT_EQ(2, r.status);
        EXPECT_NE(std::string::npos, r.out.find("is not oci-layout:DIR[:TAG] or docker-archive:FILE[:TAG]")) << r.out;
        r = ak("image import");
        EXPECT_EQ(2, r.status);
        EXPECT_NE(std::string::npos, r.out.find("import takes exactly one SOURCE")) << r.out;
        r = ak("image import oci-layout:/x --name Bad/Name");
        EXPECT_EQ(2, r.status);
        EXPECT_NE(std::string::npos, r.out.find("invalid image name 'Bad/Name'")) << r.out;
        r = ak("image --help");
        EXPECT_EQ(0, r.status);
        EXPECT_NE(std::string::npos, r.out.find("ak image import oci-layout:/tmp/bb:1.36 --name busybox")) << r.out;
}

// A layout written by vmm/image/testdata/mklayout.py, imported twice (the
// default name from the layout and tag, then another name): one image, two
// names, shown with its digest, source and config.
TEST(AkImage, ImportAndList)
{
        if (geteuid() != 0)
                GTEST_SKIP() << "importing images needs root";
        if (system("command -v busybox >/dev/null") != 0)
                GTEST_SKIP() << "busybox-static is not installed (tools/deps.sh)";
        char tmpl[] = "/tmp/akcli.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        std::string dir = tmpl;
        FILE *f = fopen((dir + "/spec.json").c_str(), "w");
        fprintf(f, "{\"out\": \"%s/app\", \"tag\": \"2.1\", \"config\": {\"WorkingDir\": \"/srv\", \"User\": \"nobody\"},"
                   " \"layers\": [{\"entries\": [{\"path\": \"srv/hello\", \"data\": \"hi\\n\"}]}]}", dir.c_str());
        fclose(f);
        ASSERT_EQ(0, system(("python3 vmm/image/testdata/mklayout.py " + dir + "/spec.json >/dev/null").c_str()));
        std::string env = "env AK_HOME=" + dir + "/home AK_GUEST_BIN=guest/ak-guest cli/ak ";
        Result r = ak(env + "image import oci-layout:" + dir + "/app:2.1");
        ASSERT_EQ(0, r.status) << r.out;
        // stderr (here with stdout) has a line per phase: not a terminal.
        size_t at = r.out.find("app-2.1 sha256:");
        ASSERT_NE(std::string::npos, at) << r.out;
        EXPECT_TRUE(at == 0 || r.out[at - 1] == '\n') << r.out;
        EXPECT_NE(std::string::npos, r.out.find("] layer: applying layer 1/1")) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("] mkfs: done\n")) << r.out;
        std::string digest = r.out.substr(at + 8, 71);
        r = ak(env + "image import oci-layout:" + dir + "/app --name again");
        ASSERT_EQ(0, r.status) << r.out;
        r = ak(env + "image list");
        ASSERT_EQ(0, r.status) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("DIGEST")) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("again ")) << r.out;
        EXPECT_NE(std::string::npos, r.out.find(digest.substr(0, 19))) << r.out;
        r = ak(env + "image list --json");
        ASSERT_EQ(0, r.status) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("\"digest\":\"" + digest + "\"")) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("\"working_dir\":\"/srv\",\"user\":\"nobody\"")) << r.out;
        // Two names, one image.
        EXPECT_EQ(0, system(("test $(ls -d " + dir + "/home/images/*/rootfs.ext4 | wc -l) = 1").c_str()));
        ak_rm_rf(dir.c_str());
}

// prune also cleans the pull cache ($AK_HOME/images/oci): a blob no
// index.json entry reaches goes once it is an hour old; the image's blobs, a
// young orphan (a pull may be storing it) and tmp/ stay.
TEST(AkImage, PruneCleansTheOciCache)
{
        char tmpl[] = "/tmp/akcli.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        std::string dir = tmpl, oci = dir + "/home/images/oci";
        FILE *f = fopen((dir + "/spec.json").c_str(), "w");
        fprintf(f, "{\"out\": \"%s\", \"layers\": [{\"entries\": [{\"path\": \"a\", \"data\": \"a\"}]}]}",
                oci.c_str());
        fclose(f);
        ASSERT_EQ(0, system(("python3 vmm/image/testdata/mklayout.py " + dir + "/spec.json >/dev/null").c_str()));
        std::string old = oci + "/blobs/sha256/" + std::string(64, 'a'), young = oci + "/blobs/sha256/" + std::string(64, 'b');
        ASSERT_EQ(0, system(("mkdir -p " + oci + "/tmp && echo x > " + old + " && echo y > " + oci + "/tmp/part && "
                             "touch -d '2 hours ago' " + oci + "/blobs/sha256/* " + oci + "/tmp/part && echo z > " + young)
                                    .c_str()));
        Result r = ak("env AK_HOME=" + dir + "/home cli/ak image prune");
        ASSERT_EQ(0, r.status) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("removed 1 unused blob (0K) from " + oci + "; kept 1 changed within "
                                                "the last hour")) << r.out;
        EXPECT_NE(0, access(old.c_str(), F_OK));
        EXPECT_EQ(0, access(young.c_str(), F_OK));
        EXPECT_EQ(0, access((oci + "/tmp/part").c_str(), F_OK));
        // The image is whole: three blobs (manifest, config, layer) and the young one.
        EXPECT_EQ(0, system(("test $(ls " + oci + "/blobs/sha256 | wc -l) = 4").c_str()));
        ak_rm_rf(dir.c_str());
}

}  // namespace
