// Token files: what parses, what is refused and why, and the header check.
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "lib/svc/tokens.h"
}

namespace {

const std::string kA = "0123456789abcdef0123456789abcdef";
const std::string kB = "tok-B.tok-B.tok-B/+=";

int Parse(const std::string &text, struct tokens **t, std::string *msg = nullptr)
{
        struct ak_error err = {};
        int r = tokens_parse(text.data(), text.size(), "tokens.txt", t, &err);
        if (msg)
                *msg = err.msg;
        return r;
}

TEST(Tokens, CommentsBlankLinesAndTrimming)
{
        struct tokens *t;
        ASSERT_EQ(0, Parse("# clients\n\n  " + kA + "  \r\n\t# ci\n" + kB, &t));
        ASSERT_EQ(2u, tokens_count(t));
        EXPECT_EQ(kA, tokens_get(t, 0));
        EXPECT_EQ(kB, tokens_get(t, 1));
        EXPECT_TRUE(tokens_check(t, ("Bearer " + kA).c_str()));
        EXPECT_TRUE(tokens_check(t, ("bearer " + kB).c_str()));
        EXPECT_FALSE(tokens_check(t, nullptr));
        EXPECT_FALSE(tokens_check(t, kA.c_str()));
        EXPECT_FALSE(tokens_check(t, ("Basic " + kA).c_str()));
        EXPECT_FALSE(tokens_check(t, ("Bearer " + kA + "x").c_str()));
        EXPECT_FALSE(tokens_check(t, ("Bearer " + kA.substr(1)).c_str()));
        EXPECT_FALSE(tokens_check(t, ("Bearer  " + kA).c_str()));
        EXPECT_FALSE(tokens_check(t, "Bearer "));
        EXPECT_FALSE(tokens_check(t, ("Bearer " + std::string(5000, 'a')).c_str()));
        tokens_free(t);
        tokens_free(nullptr);
}

TEST(Tokens, Refusals)
{
        struct tokens *t = nullptr;
        std::string msg;
        EXPECT_EQ(-EINVAL, Parse("# only comments\n\n", &t, &msg));
        EXPECT_EQ("tokens.txt: no tokens (every call would be refused)", msg);
        EXPECT_EQ(-EINVAL, Parse("short\n", &t, &msg));
        EXPECT_NE(std::string::npos, msg.find("line 1: the token is 5 bytes; use 16 to 4096")) << msg;
        EXPECT_EQ(-EINVAL, Parse(kA + "\n" + kA + " " + kB + "\n", &t, &msg));
        EXPECT_NE(std::string::npos, msg.find("line 2: word 1 is not tenant=NAME, executor=NAME or admin"))
                << msg;
        EXPECT_EQ(std::string::npos, msg.find(kA)) << "a refusal must not echo a secret: " << msg;
        EXPECT_EQ(-EINVAL, Parse(kA + "\x01x\n", &t, &msg));
        EXPECT_NE(std::string::npos, msg.find("line 1: byte 0x01 at column 33")) << msg;
        EXPECT_EQ(-EINVAL, Parse(kA + std::string("\0x", 2), &t, &msg));
        EXPECT_NE(std::string::npos, msg.find("byte 0x00")) << msg;
        EXPECT_EQ(-EINVAL, Parse(kA + "\xc3\xa9", &t, &msg));
        EXPECT_EQ(-EINVAL, Parse(std::string(5000, 'a'), &t, &msg));
        EXPECT_EQ(-EINVAL, Parse(std::string(TOKENS_FILE_MAX + 1, '#'), &t, &msg));
        std::string many;
        for (int i = 0; i <= TOKENS_MAX; i++)
                many += kA + "\n";
        EXPECT_EQ(-EINVAL, Parse(many, &t, &msg));
        EXPECT_NE(std::string::npos, msg.find("more than 10000 tokens")) << msg;
        EXPECT_EQ(nullptr, t);
}

TEST(Tokens, TenantsAdminsAndExecutors)
{
        struct tokens *t;
        const std::string kC = "executor-token-executor-token-1";
        ASSERT_EQ(0, Parse(kA + "\n tenant=alice\t" + kB + "\ntenant=ops admin " + kA + "x\nadmin " + kA +
                                   "y\nexecutor=node-1.b " + kC + "\n",
                           &t));
        ASSERT_EQ(5u, tokens_count(t));
        struct token_who who;
        tokens_who(t, 0, &who);
        EXPECT_STREQ("default", who.tenant);
        EXPECT_EQ(nullptr, who.executor);
        EXPECT_FALSE(who.admin);
        tokens_who(t, 1, &who);
        EXPECT_STREQ("alice", who.tenant);
        EXPECT_EQ(kB, tokens_get(t, 1));
        EXPECT_FALSE(who.admin);
        tokens_who(t, 2, &who);
        EXPECT_STREQ("ops", who.tenant);
        EXPECT_TRUE(who.admin);
        tokens_who(t, 3, &who);
        EXPECT_STREQ("default", who.tenant);
        EXPECT_TRUE(who.admin);
        tokens_who(t, 4, &who);
        EXPECT_EQ(nullptr, who.tenant);
        EXPECT_STREQ("node-1.b", who.executor);
        size_t i = 99;
        ASSERT_EQ(0, tokens_find(t, ("Bearer " + kB).c_str(), &i));
        EXPECT_EQ(1u, i);
        ASSERT_EQ(0, tokens_find(t, ("Bearer " + kC).c_str(), &i));
        EXPECT_EQ(4u, i);
        ASSERT_EQ(0, tokens_find(t, ("Bearer " + kA + "x").c_str(), &i));
        EXPECT_EQ(2u, i);
        EXPECT_EQ(-EACCES, tokens_find(t, ("Bearer " + kA + "z").c_str(), &i));
        EXPECT_EQ(-EACCES, tokens_find(t, ("Bearer tenant=alice " + kB).c_str(), &i));
        EXPECT_EQ(-EACCES, tokens_find(t, nullptr, &i));
        tokens_free(t);

        // The first line holding a token decides who it is.
        ASSERT_EQ(0, Parse("tenant=a " + kA + "\ntenant=b admin " + kA + "\n", &t));
        ASSERT_EQ(0, tokens_find(t, ("Bearer " + kA).c_str(), &i));
        EXPECT_EQ(0u, i);
        tokens_free(t);
}

TEST(Tokens, TenantRefusals)
{
        struct tokens *t = nullptr;
        std::string msg;
        EXPECT_EQ(-EINVAL, Parse("tenant= " + kA, &t, &msg));
        EXPECT_NE(std::string::npos, msg.find("line 1: word 1 is not tenant=NAME")) << msg;
        EXPECT_EQ(-EINVAL, Parse("tenant=-x " + kA, &t, &msg));
        EXPECT_NE(std::string::npos, msg.find("the name after tenant= is 1 to 63 of")) << msg;
        EXPECT_EQ(-EINVAL, Parse("tenant=a/b " + kA, &t, &msg));
        EXPECT_EQ(-EINVAL, Parse("tenant=" + std::string(64, 'a') + " " + kA, &t, &msg));
        EXPECT_EQ(0, Parse("tenant=" + std::string(63, 'a') + " " + kA, &t, &msg)) << msg;
        tokens_free(t);
        t = nullptr;
        EXPECT_EQ(-EINVAL, Parse("\n\ntenant=a tenant=a " + kA, &t, &msg));
        EXPECT_NE(std::string::npos, msg.find("line 3: a line names one tenant= or executor=, once")) << msg;
        EXPECT_EQ(-EINVAL, Parse("tenant=a executor=b " + kA, &t, &msg));
        EXPECT_EQ(-EINVAL, Parse("admin admin " + kA, &t, &msg));
        EXPECT_NE(std::string::npos, msg.find("admin is given twice")) << msg;
        EXPECT_EQ(-EINVAL, Parse("executor=n admin " + kA, &t, &msg));
        EXPECT_NE(std::string::npos, msg.find("admin is for tenants")) << msg;
        EXPECT_EQ(-EINVAL, Parse("Admin " + kA, &t, &msg));
        // Found by tokens_fuzz: after words, a '#' is no comment.
        EXPECT_EQ(-EINVAL, Parse("tenant=ops admin #" + kA, &t, &msg));
        EXPECT_NE(std::string::npos, msg.find("a token does not start with '#'")) << msg;
        EXPECT_EQ(-EINVAL, Parse("tenant=alice", &t, &msg));
        EXPECT_NE(std::string::npos, msg.find("the token is 12 bytes")) << msg;
        EXPECT_EQ(-EINVAL, Parse("tenant=alice short", &t, &msg));
        EXPECT_NE(std::string::npos, msg.find("the token is 5 bytes")) << msg;
        EXPECT_EQ(nullptr, t);
}

TEST(Tokens, LoadFromFile)
{
        char path[] = "/tmp/aktokXXXXXX";
        int fd = mkstemp(path);
        ASSERT_GE(fd, 0);
        std::string text = kA + "\n";
        ASSERT_EQ((ssize_t)text.size(), write(fd, text.data(), text.size()));
        close(fd);
        struct tokens *t = nullptr;
        struct ak_error err;
        ASSERT_EQ(0, chmod(path, 0644));
        EXPECT_EQ(-EPERM, tokens_load(path, &t, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "accessible by group or others (mode 0644); run: chmod 600"))
                << err.msg;
        EXPECT_EQ(nullptr, t);
        ASSERT_EQ(0, chmod(path, 0400));
        ASSERT_EQ(0, tokens_load(path, &t, &err)) << err.msg;
        tokens_free(t);
        ASSERT_EQ(0, chmod(path, 0600));
        ASSERT_EQ(0, tokens_load(path, &t, &err)) << err.msg;
        EXPECT_EQ(1u, tokens_count(t));
        tokens_free(t);
        unlink(path);
        EXPECT_EQ(-ENOENT, tokens_load(path, &t, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "No such file")) << err.msg;
        EXPECT_EQ(-EINVAL, tokens_load("/tmp", &t, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "not a regular file")) << err.msg;
}

// A Kubernetes Secret volume with defaultMode 0440 and fsGroup: root's (or
// our) file, readable by our group, accepted only under a directory named in
// AK_SECRET_GROUP_DIRS; world-readable never.
TEST(Tokens, LoadGroupReadableOnlyFromANamedDirectory)
{
        char dir[] = "/tmp/aktokdXXXXXX";
        ASSERT_NE(nullptr, mkdtemp(dir));
        std::string path = std::string(dir) + "/token";
        int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ASSERT_GE(fd, 0);
        std::string text = kA + "\n";
        ASSERT_EQ((ssize_t)text.size(), write(fd, text.data(), text.size()));
        close(fd);
        ASSERT_EQ(0, chown(path.c_str(), (uid_t)-1, getegid()));
        ASSERT_EQ(0, chmod(path.c_str(), 0440));
        struct tokens *t = nullptr;
        struct ak_error err;
        unsetenv("AK_SECRET_GROUP_DIRS");
        EXPECT_EQ(-EPERM, tokens_load(path.c_str(), &t, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "AK_SECRET_GROUP_DIRS")) << err.msg;
        setenv("AK_SECRET_GROUP_DIRS", "/nowhere", 1);
        EXPECT_EQ(-EPERM, tokens_load(path.c_str(), &t, &err));
        setenv("AK_SECRET_GROUP_DIRS", dir, 1);
        ASSERT_EQ(0, tokens_load(path.c_str(), &t, &err)) << err.msg;
        EXPECT_EQ(1u, tokens_count(t));
        tokens_free(t);
        t = nullptr;
        ASSERT_EQ(0, chmod(path.c_str(), 0444));
        EXPECT_EQ(-EPERM, tokens_load(path.c_str(), &t, &err));
        ASSERT_EQ(0, chmod(path.c_str(), 0460));
        EXPECT_EQ(-EPERM, tokens_load(path.c_str(), &t, &err));
        EXPECT_EQ(nullptr, t);
        unsetenv("AK_SECRET_GROUP_DIRS");
        unlink(path.c_str());
        rmdir(dir);
}

}  // namespace
