// Token files: what parses, what is refused and why, and the header check.
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
        EXPECT_NE(std::string::npos, msg.find("line 2: byte 0x20 at column 33")) << msg;
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

}  // namespace
