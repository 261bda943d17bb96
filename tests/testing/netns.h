// Test-only helpers for "outside" hosts made of network namespaces (the
// network tests in tests/security): run a command, make a namespace with a
// veth to the host, and make a socket inside one. Root only; every name and
// address is the caller's, and a caller removes what it made.
#pragma once

#include <string>

namespace aktest {

// system(cmd) with its output thrown away: the exit status (0: success).
int Sh(const std::string &cmd);
// The standard output of sh -c cmd (stderr as it is: redirect it in cmd).
std::string ShOut(const std::string &cmd);
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

// A name of this run's own: prefix + this process's pid ("aks" ->
// "aks4194303"), so two checkouts running one test at once do not share a
// namespace or link. Interface names hold at most 15 characters (IFNAMSIZ
// - 1): with a pid of up to 7 digits, a prefix of up to 8 fits.
std::string RunName(const std::string &prefix);
// Removes the namespaces RunName(prefix) made in runs that have ended
// without removing them (crashed, killed at a timeout): for each namespace
// prefix + digits whose pid is no longer alive, kills the processes in it
// and deletes it (its veth and the host's peer go with it).
void RemoveStaleNetns(const std::string &prefix);
// A /24 of a.b.X.0 with X in [lo, hi] that no address or route on the host
// uses, tried from a pid-derived X on: "a.b.X" (append ".1"), or "" when
// every one is taken. `ab` is "a.b" (e.g. "198.19", a benchmarking range).
std::string FreeSubnet24(const std::string &ab, int lo, int hi);

}  // namespace aktest
