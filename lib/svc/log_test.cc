#include "lib/svc/log.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "lib/base/trace.h"
#include "lib/rpc/rpc.h"

namespace {

/* 2026-12-07T13:05:38.123Z */
const int64_t kWhen = 1796648738123;

std::string Line(enum svc_log_level level, const char *msg, const std::initializer_list<svc_log_field> &f)
{
        char *p = nullptr;
        EXPECT_EQ(0, svc_log_format(level, msg, f.begin(), f.size(), kWhen, &p));
        std::string s = p ? p : "";
        free(p);
        return s;
}

TEST(SvcLog, TextQuotesWhatNeedsIt)
{
        ak_error err = {};
        ASSERT_EQ(0, svc_log_setup("ak-executor", "text", "info", &err)) << err.msg;
        EXPECT_EQ(Line(SVC_LOG_INFO, "exec", { SVC_LOG_S("sandbox", "s1"), SVC_LOG_I("exit_code", -1) }),
                  "2026-12-07T13:05:38.123Z info ak-executor: exec sandbox=s1 exit_code=-1");
        EXPECT_EQ(Line(SVC_LOG_WARN, "boot failed", { SVC_LOG_S("error", "a \"b\"\nc=d"), SVC_LOG_S("e", "") }),
                  "2026-12-07T13:05:38.123Z warn ak-executor: boot failed error=\"a \\\"b\\\"\\nc=d\" e=\"\"");
        /* A message is quoted only when it would break the line. */
        EXPECT_EQ(Line(SVC_LOG_INFO, "two\nlines", {}), "2026-12-07T13:05:38.123Z info ak-executor: \"two\\nlines\"");
        /* Invalid UTF-8 never breaks a line. */
        EXPECT_EQ(Line(SVC_LOG_ERROR, "x", { SVC_LOG_S("v", "\xff") }),
                  "2026-12-07T13:05:38.123Z error ak-executor: x v=?");
}

TEST(SvcLog, JsonLines)
{
        ak_error err = {};
        ASSERT_EQ(0, svc_log_setup("ak-executor", "json", "debug", &err)) << err.msg;
        EXPECT_EQ(Line(SVC_LOG_DEBUG, "exec", { SVC_LOG_S("sandbox", "s\"1"), SVC_LOG_I("duration_ms", 44) }),
                  "{\"time\":\"2026-12-07T13:05:38.123Z\",\"level\":\"debug\",\"service\":\"ak-executor\","
                  "\"msg\":\"exec\",\"sandbox\":\"s\\\"1\",\"duration_ms\":44}");
        EXPECT_TRUE(svc_log_enabled(SVC_LOG_DEBUG));
}

TEST(SvcLog, TheThreadsRequestIsOnItsLines)
{
        ak_error err = {};
        ASSERT_EQ(0, svc_log_setup("ak-executor", "json", "info", &err)) << err.msg;
        ASSERT_EQ(0, ak_trace_set("req-9", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        EXPECT_EQ(Line(SVC_LOG_INFO, "exec", { SVC_LOG_S("sandbox", "s1") }),
                  "{\"time\":\"2026-12-07T13:05:38.123Z\",\"level\":\"info\",\"service\":\"ak-executor\","
                  "\"msg\":\"exec\",\"sandbox\":\"s1\",\"request_id\":\"req-9\","
                  "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}");
        /* A caller's own request_id wins; no traceparent, no trace_id. */
        ASSERT_EQ(0, ak_trace_set("req-10", nullptr));
        ASSERT_EQ(0, svc_log_setup("ak-executor", "text", "info", &err)) << err.msg;
        EXPECT_EQ(Line(SVC_LOG_INFO, "x", { SVC_LOG_S("request_id", "mine") }),
                  "2026-12-07T13:05:38.123Z info ak-executor: x request_id=mine");
        ak_trace_clear();
        EXPECT_EQ(Line(SVC_LOG_INFO, "x", {}), "2026-12-07T13:05:38.123Z info ak-executor: x");
}

TEST(SvcLog, LevelsFilterAndBadValuesAreRefused)
{
        ak_error err = {};
        ASSERT_EQ(0, svc_log_setup("ak-x", nullptr, "warn", &err));
        EXPECT_FALSE(svc_log_enabled(SVC_LOG_INFO));
        EXPECT_TRUE(svc_log_enabled(SVC_LOG_WARN));
        EXPECT_TRUE(svc_log_enabled(SVC_LOG_ERROR));
        EXPECT_EQ(-EINVAL, svc_log_setup("ak-x", "xml", nullptr, &err));
        EXPECT_STREQ(err.msg, "--log-format xml: want text or json");
        EXPECT_EQ(-EINVAL, svc_log_setup("ak-x", "text", "loud", &err));
        EXPECT_STREQ(err.msg, "--log-level loud: want debug, info, warn or error");
        /* A refused setup changes nothing. */
        EXPECT_FALSE(svc_log_enabled(SVC_LOG_INFO));
}

TEST(SvcLog, LongValuesAreCut)
{
        ak_error err = {};
        ASSERT_EQ(0, svc_log_setup("ak-x", "text", nullptr, &err));
        std::string big(5000, 'a');
        std::string s = Line(SVC_LOG_INFO, "m", { SVC_LOG_S("v", big.c_str()) });
        EXPECT_EQ(s.size(), std::string("2026-12-07T13:05:38.123Z info ak-x: m v=").size() + SVC_LOG_VALUE_MAX);
}

} // namespace

namespace {

/* fd 2 into a file for the life of the object; the file's text on demand. */
class StderrToFile {
      public:
        StderrToFile()
        {
                char path[] = "/tmp/aklogXXXXXX";
                fd_ = mkstemp(path);
                path_ = path;
                saved_ = dup(2);
                dup2(fd_, 2);
        }
        ~StderrToFile()
        {
                dup2(saved_, 2);
                close(saved_);
                close(fd_);
                unlink(path_.c_str());
        }
        std::string Text() const
        {
                std::string s;
                char buf[4096];
                ssize_t n;
                for (off_t at = 0; (n = pread(fd_, buf, sizeof(buf), at)) > 0; at += n)
                        s.append(buf, (size_t)n);
                return s;
        }

      private:
        int fd_ = -1, saved_ = -1;
        std::string path_;
};

/* gRPC's own error lines (a listener it cannot bind) come out as log lines
 * (JSON here), not as gRPC's free text. */
TEST(SvcLog, GrpcsOwnLinesAreLogLines)
{
        int busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        ASSERT_EQ(0, bind(busy, (struct sockaddr *)&a, sizeof(a)));
        ASSERT_EQ(0, listen(busy, 1));
        ASSERT_EQ(0, getsockname(busy, (struct sockaddr *)&a, &len));
        std::string addr = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));

        std::string text;
        {
                StderrToFile cap;
                ak_error err = {};
                ASSERT_EQ(0, svc_log_setup("ak-x", "json", "info", &err)) << err.msg;
                struct rpc_server_options o = {};
                struct rpc_server *srv = nullptr;
                ASSERT_EQ(0, rpc_server_new(&o, &srv, &err)) << err.msg;
                EXPECT_LT(rpc_server_listen(srv, addr.c_str(), nullptr, nullptr, &err), 0);
                rpc_server_shutdown(srv, 0);
                text = cap.Text();
        }
        close(busy);
        ASSERT_NE(text, "") << "gRPC said nothing about the port in use";
        size_t at = 0;
        while (at < text.size()) {
                size_t nl = text.find('\n', at);
                ASSERT_NE(nl, std::string::npos) << text;
                std::string line = text.substr(at, nl - at);
                EXPECT_EQ(line.rfind("{\"time\":\"", 0), 0u) << line;
                EXPECT_NE(line.find("\"service\":\"ak-x\""), std::string::npos) << line;
                EXPECT_NE(line.find("\"source\":\"grpc\""), std::string::npos) << line;
                at = nl + 1;
        }
}

} // namespace
