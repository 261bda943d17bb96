// Test-only helpers for "outside" hosts made of network namespaces (the
// network tests in tests/security): run a command, make a namespace with a
// veth to the host, and make a socket inside one. Root only; every name and
// address is the caller's, and a caller removes what it made.
#pragma once

#include <string>

namespace aktest {

// system(cmd) with its output thrown away: the exit status (0: success).
int Sh(const std::string &cmd);
// Adds /usr/sbin and /sbin to PATH (Bazel's PATH has no sbin, where ip and
// nft live).
void PathWithSbin();
// Makes network namespace `name` whose eth0 has inside/24, joined by a veth
// pair to the host, whose end `dev` has host/24; both up, and lo in the
// namespace. False when a step fails (what was made stays: remove it).
bool MakeOutsideNetns(const std::string &name, const std::string &dev, const std::string &inside,
                      const std::string &host);
// A socket of `type` (SOCK_STREAM listening, or SOCK_DGRAM) bound to
// addr:port (IPv4) inside namespace `netns` ("" : the caller's), made by a
// short-lived thread so the caller's namespace does not change (a socket
// keeps the namespace it was made in): the fd (close-on-exec), or -errno.
int SocketInNetns(const std::string &netns, const std::string &addr, int port, int type);

}  // namespace aktest
