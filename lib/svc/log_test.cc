#include "lib/svc/log.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "lib/rpc/rpc.h"

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

/* The services' names write the shared log's lines (lib/log). */
TEST(SvcLog, ServicesNamesWriteTheSharedLog)
{
        std::string text;
        {
                StderrToFile cap;
                ak_error err = {};
                ASSERT_EQ(0, svc_log_setup("ak-x", "text", "warn", &err)) << err.msg;
                EXPECT_FALSE(svc_log_enabled(SVC_LOG_INFO));
                /* (SVC_LOG's compound literal is C only.) */
                const svc_log_field f[] = { SVC_LOG_S("sandbox", "s 1"), SVC_LOG_I("n", 7) };
                svc_log(SVC_LOG_INFO, "hidden", f, 2);
                svc_log(SVC_LOG_WARN, "shown", f, 2);
                text = cap.Text();
        }
        size_t sp = text.find(' ');
        ASSERT_NE(sp, std::string::npos) << text;
        EXPECT_EQ(text.substr(sp), " warn ak-x: shown sandbox=\"s 1\" n=7\n");
        EXPECT_STREQ(ak_log_format_name(), "text");
        EXPECT_EQ(-EINVAL, svc_log_check("xml", nullptr, nullptr));
}

} // namespace
