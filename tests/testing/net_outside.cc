// The akt-* outside hosts (net_outside.h).
#include "tests/testing/net_outside.h"

#include <fstream>

namespace aktest {

void RemoveTestInternet()
{
        Sh("ip netns del akt-inet");
        Sh("ip netns del akt-clus");
        Sh("ip link del akt-i0");
        Sh("ip link del akt-c0");
        Sh("ip link del aktdum0");  // and its peer aktdum1
}

static std::string ReadLine(const char *path)
{
        std::ifstream f(path);
        std::string s;
        std::getline(f, s);
        return s;
}

bool MakeTestInternet(std::string *ret_forward, std::string *error)
{
        RemoveTestInternet();
        *ret_forward = ReadLine("/proc/sys/net/ipv4/ip_forward");
        if (!MakeOutsideNetns("akt-inet", "akt-i0", "198.18.0.1", "198.18.0.2") ||
            !MakeOutsideNetns("akt-clus", "akt-c0", "10.213.0.1", "10.213.0.2") ||
            Sh("ip link add aktdum0 type veth peer name aktdum1") != 0 ||
            Sh("ip addr add 198.51.100.7/32 dev aktdum0") != 0 || Sh("ip addr add 169.254.213.7/32 dev aktdum0") != 0 ||
            Sh("ip link set aktdum0 up") != 0 || Sh("ip link set aktdum1 up") != 0 ||
            Sh("sysctl -qw net.ipv4.ip_forward=1") != 0) {
                *error = "could not make the test's namespaces and addresses";
                return false;
        }
        // 198.18.0.128/25 is public but the operator's (--deny-cidr).
        if (Sh("ip -n akt-inet addr add 198.18.0.129/24 dev eth0") != 0) {
                *error = "could not add 198.18.0.129 in akt-inet";
                return false;
        }
        // The DNS server the VMs' resolvers ask, and other.test's address.
        if (Sh("ip -n akt-inet addr add 198.18.0.53/24 dev eth0") != 0 ||
            Sh("ip -n akt-inet addr add 198.18.0.4/24 dev eth0") != 0) {
                *error = "could not add 198.18.0.53 and 198.18.0.4 in akt-inet";
                return false;
        }
        // Another "internet" address, for a sandbox's own port rules.
        if (Sh("ip -n akt-inet addr add 198.18.0.3/24 dev eth0") != 0) {
                *error = "could not add 198.18.0.3 in akt-inet";
                return false;
        }
        return true;
}

void RestoreForwarding(const std::string &forward)
{
        if (!forward.empty())
                Sh("sysctl -qw net.ipv4.ip_forward=" + forward);
}

}  // namespace aktest
