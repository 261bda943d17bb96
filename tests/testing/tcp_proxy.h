// A round-robin TCP proxy on loopback standing for a Kubernetes Service in
// front of several replicas: every accepted connection goes to the next
// backend in turn (kube-proxy picks one per connection too, and never moves
// a connection). When the chosen backend refuses, the client's connection is
// closed at once (as a Service whose endpoint died before the endpoints
// controller noticed); when either side closes, so does the other.
//
// Loopback only: backends are "127.0.0.1:PORT". Not thread-safe except
// where said; the destructor stops it and closes every connection.
#pragma once

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace aktest {

class TcpProxy {
      public:
        TcpProxy() = default;
        ~TcpProxy();
        TcpProxy(const TcpProxy &) = delete;
        TcpProxy &operator=(const TcpProxy &) = delete;

        // Listens on 127.0.0.1 (a free port, kept in addr) and forwards to
        // `backends` ("127.0.0.1:PORT" each). False when it cannot listen or a
        // backend is not a loopback "127.0.0.1:PORT".
        bool Start(const std::vector<std::string> &backends);
        void Stop();
        // Breaks every open connection (both ends see it closed) and keeps
        // accepting new ones: a replica that died mid-call. Thread-safe.
        void DropConnections();

        std::string addr;                     // "127.0.0.1:PORT"
        std::atomic<int> accepted{0};         // connections taken (any thread may read)
        std::atomic<int> refused{0};          // of them, closed because the backend refused

      private:
        void AcceptLoop();
        void Splice(int client, int backend);

        std::vector<int> ports_;
        size_t next_ = 0;
        int listen_fd_ = -1;
        int wake_[2] = {-1, -1};  // a pipe: written by Stop to end every loop
        std::thread acceptor_;
        std::mutex mu_;
        std::vector<std::thread> splicers_;
        std::set<int> open_;  // client fds being spliced, under mu_
};

}  // namespace aktest
