// The ak.test.Echo service and its client for lib/rpc's tests: a real
// server on loopback (TCP and Unix sockets) with Echo (unary), Count
// (server-streaming) and Sleep (unary, watches for cancellation), and the
// real client. Test-only (testonly cc_library //lib/rpc:echo_fixture).
#pragma once

#include <atomic>
#include <string>

#include "lib/rpc/rpc.h"
#include "lib/rpc/testdata/echo.pb-c.h"

// What the handlers saw.
struct EchoState {
        std::atomic<int> cancelled_seen{0};
        std::atomic<int> sleeps_finished{0};
};

// A fresh directory under /tmp (short: Unix socket paths hold 108 bytes).
std::string test_dir();

// A server with the Echo service; ListenTcp/ListenUnix, then Start. Stops
// (with its socket directory removed) when destroyed. GoogleTest assertions
// report what fails.
class Server {
      public:
        explicit Server(const struct rpc_server_options *opts = nullptr) { Init(opts); }
        ~Server() { Stop(); }

        void Init(const struct rpc_server_options *opts);
        std::string ListenTcp(const struct rpc_tls *tls = nullptr);
        std::string ListenUnix();
        void Start();
        void Stop(unsigned grace_ms = 1000);
        struct rpc_server *get() { return srv_; }
        EchoState state;

      private:
        struct rpc_server *srv_ = nullptr;
        std::string dir_;
};

// A client channel to target, freed when destroyed.
struct Channel {
        explicit Channel(const std::string &target, const struct rpc_tls *tls = nullptr);
        ~Channel();
        struct rpc_channel *ch = nullptr;
};

// One Echo call: the status (RPC_OK or an error code, err filled); *out
// gets the reply's text. fail asks the server to fail with that code.
int call_echo(struct rpc_channel *ch, const std::string &text, std::string *out, struct ak_error *err,
              const struct rpc_call_options *opts = nullptr, int fail = 0);
