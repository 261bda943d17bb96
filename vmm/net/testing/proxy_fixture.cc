/* The proxy's test fixture (proxy_fixture.h): helpers and statics. */
#include "vmm/net/testing/proxy_fixture.h"

#include <dirent.h>

#include <chrono>

namespace proxy_testing {

int CountFds()
{
        int n = 0;
        DIR *d = opendir("/proc/self/fd");
        while (d && readdir(d))
                n++;
        if (d)
                closedir(d);
        return n;
}

bool WaitFor(const std::function<bool()> &cond, int ms)
{
        for (int i = 0; i < ms / 10; i++) {
                if (cond())
                        return true;
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return cond();
}

std::string ProxyTest::g_, ProxyTest::s_, ProxyTest::dir_;
int ProxyTest::gfd_ = -1, ProxyTest::sfd_ = -1, ProxyTest::http_fd_ = -1;
pid_t ProxyTest::tls_pid_ = -1;
std::atomic<int> ProxyTest::http_accepted_{ 0 };
std::thread ProxyTest::http_;
bool ProxyTest::ok_ = false;
std::string ProxyTest::why_;

}  // namespace proxy_testing
