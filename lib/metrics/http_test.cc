#include "lib/metrics/http.h"

#include <gtest/gtest.h>

#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace {

size_t Append(char *p, size_t size, size_t n, void *data)
{
        static_cast<std::string *>(data)->append(p, size * n);
        return size * n;
}

/* GET (or `method`) http://HOST:port/path: the status, body in *body. */
long Fetch(uint16_t port, const char *path, std::string *body, std::string *type = nullptr,
           const char *method = nullptr, const char *host = "127.0.0.1")
{
        CURL *c = curl_easy_init();
        std::string url = std::string("http://") + host + ":" + std::to_string(port) + path;
        curl_easy_setopt(c, CURLOPT_URL, url.c_str());
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Append);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
        if (method)
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        long status = 0;
        if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        char *ct = nullptr;
        if (type && curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
                *type = ct;
        curl_easy_cleanup(c);
        return status;
}

TEST(MetricsHttp, ServesTheRegistry)
{
        metrics_registry *reg;
        ASSERT_EQ(metrics_registry_new(&reg), 0);
        metric_family *f;
        metric_def d = { "ak_test_scrapes_total", "Test.", METRIC_COUNTER };
        ASSERT_EQ(metrics_register(reg, &d, &f, nullptr), 0);
        metrics_add(metrics_series0(f), 41);

        metrics_http *h = nullptr;
        ak_error err = {};
        ASSERT_EQ(metrics_http_start(reg, "127.0.0.1:0", &h, &err), 0) << err.msg;
        uint16_t port = metrics_http_port(h);
        ASSERT_NE(port, 0);

        std::string body, type;
        EXPECT_EQ(Fetch(port, "/metrics", &body, &type), 200);
        EXPECT_EQ(type, METRICS_CONTENT_TYPE);
        EXPECT_NE(body.find("ak_test_scrapes_total 41\n"), std::string::npos) << body;
        metrics_add(metrics_series0(f), 1);
        body.clear();
        EXPECT_EQ(Fetch(port, "/metrics", &body), 200);
        EXPECT_NE(body.find("ak_test_scrapes_total 42\n"), std::string::npos) << body;

        body.clear();
        EXPECT_EQ(Fetch(port, "/", &body), 404);
        body.clear();
        EXPECT_EQ(Fetch(port, "/metrics", &body, nullptr, "POST"), 405);
        body.clear();
        EXPECT_EQ(Fetch(port, "/metrics", &body, nullptr, "DELETE"), 405);

        metrics_http_stop(h);
        metrics_registry_free(reg);
}

/* Whether this machine can bind ::1 (a container without IPv6 cannot). */
bool HaveIpv6Loopback()
{
        int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return false;
        sockaddr_in6 a = {};
        a.sin6_family = AF_INET6;
        a.sin6_addr = in6addr_loopback;
        bool ok = bind(fd, (sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        return ok;
}

TEST(MetricsHttp, ServesOnIpv6)
{
        if (!HaveIpv6Loopback())
                GTEST_SKIP() << "no IPv6 loopback here (cannot bind ::1): ip -6 addr show lo";
        metrics_registry *reg;
        ASSERT_EQ(metrics_registry_new(&reg), 0);
        metric_family *f;
        metric_def d = { "ak_test_v6_total", "Test.", METRIC_COUNTER };
        ASSERT_EQ(metrics_register(reg, &d, &f, nullptr), 0);
        metrics_add(metrics_series0(f), 6);
        ak_error err = {};
        metrics_http *h = nullptr;
        ASSERT_EQ(metrics_http_start(reg, "[::1]:0", &h, &err), 0) << err.msg;
        std::string body;
        EXPECT_EQ(Fetch(metrics_http_port(h), "/metrics", &body, nullptr, nullptr, "[::1]"), 200);
        EXPECT_NE(body.find("ak_test_v6_total 6\n"), std::string::npos) << body;
        body.clear();
        EXPECT_EQ(Fetch(metrics_http_port(h), "/metrics", &body), 0) << "[::1] only, not 127.0.0.1";
        metrics_http_stop(h);

        // [::]: every address, IPv4 too.
        ASSERT_EQ(metrics_http_start(reg, "[::]:0", &h, &err), 0) << err.msg;
        for (const char *host : { "[::1]", "127.0.0.1" }) {
                body.clear();
                EXPECT_EQ(Fetch(metrics_http_port(h), "/metrics", &body, nullptr, nullptr, host), 200) << host;
                EXPECT_NE(body.find("ak_test_v6_total 6\n"), std::string::npos) << host << body;
        }
        metrics_http_stop(h);
        metrics_registry_free(reg);
}

TEST(MetricsHttp, ListenAddresses)
{
        sockaddr_storage sa;
        ak_error err = {};
        EXPECT_EQ(metrics_parse_listen("127.0.0.1:9100", &sa, &err), 0);
        EXPECT_EQ(sa.ss_family, AF_INET);
        EXPECT_EQ(ntohs(((sockaddr_in *)&sa)->sin_port), 9100);
        EXPECT_EQ(metrics_parse_listen(":9100", &sa, &err), 0);
        EXPECT_EQ(((sockaddr_in *)&sa)->sin_addr.s_addr, htonl(INADDR_ANY));
        EXPECT_EQ(metrics_parse_listen("[::1]:0", &sa, &err), 0);
        EXPECT_EQ(sa.ss_family, AF_INET6);
        EXPECT_EQ(metrics_parse_listen("localhost:1", &sa, &err), 0);
        EXPECT_EQ(metrics_parse_listen("[::]:9100", &sa, &err), 0);
        EXPECT_EQ(sa.ss_family, AF_INET6);
        // Unbracketed, as Kubernetes' $(POD_IP):PORT is on an IPv6 pod.
        EXPECT_EQ(metrics_parse_listen("::1:9100", &sa, &err), 0);
        EXPECT_EQ(sa.ss_family, AF_INET6);
        EXPECT_EQ(ntohs(((sockaddr_in6 *)&sa)->sin6_port), 9100);
        err = {};
        EXPECT_EQ(metrics_parse_listen("example.com:9100", &sa, &err), -EINVAL);
        EXPECT_STREQ(err.msg, "metrics: listen address 'example.com:9100': 'example.com' is not a numeric IPv4 "
                              "address, [IPv6] address or localhost (host names are not resolved)");
        for (const char *bad : { "", "9100", "127.0.0.1", "127.0.0.1:65536", "127.0.0.1:x", "::1",
                                 "fd00::", "[::1]9100", "[127.0.0.1]:1", "[localhost]:1", "example.com:9100", "[::1:9100" }) {
                err = {};
                EXPECT_EQ(metrics_parse_listen(bad, &sa, &err), -EINVAL) << bad;
                EXPECT_NE(err.msg[0], '\0') << bad;
        }
}

TEST(MetricsHttp, PortInUseSaysSo)
{
        metrics_registry *reg;
        ASSERT_EQ(metrics_registry_new(&reg), 0);
        metrics_http *a = nullptr, *b = nullptr;
        ak_error err = {};
        ASSERT_EQ(metrics_http_start(reg, "127.0.0.1:0", &a, &err), 0) << err.msg;
        std::string addr = "127.0.0.1:" + std::to_string(metrics_http_port(a));
        EXPECT_EQ(metrics_http_start(reg, addr.c_str(), &b, &err), -EADDRINUSE);
        EXPECT_NE(std::string(err.msg).find(addr), std::string::npos) << err.msg;
        metrics_http_stop(a);
        metrics_registry_free(reg);
}

} // namespace
