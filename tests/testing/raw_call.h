// Calls through the gRPC C core that lib/rpc's client never makes, for tests
// of what a hostile client can do: a call that sends its headers (with or
// without a bearer token) and then nothing, or a message of any size, and
// stays open until the server ends it.
//
// Thread-safety: a RawCalls is used by one thread at a time.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <memory>
#include <string>
#include <vector>

#include <grpc/grpc.h>

namespace aktest {

class RawCalls {
      public:
        // `connections` separate HTTP/2 connections to `target` (host:port or
        // unix:path, plaintext); calls go round-robin over them.
        explicit RawCalls(const std::string &target, int connections = 1);
        ~RawCalls();  // cancels what is still open, waits for it, frees
        RawCalls(const RawCalls &) = delete;
        RawCalls &operator=(const RawCalls &) = delete;

        // Starts a call of `method` ("/pkg.Service/Method") that sends its
        // headers ("authorization: Bearer <token>" unless token is empty)
        // and, when `message` is not null, those bytes as its one message
        // (then half-closes); without one it sends nothing more. timeout_ms
        // 0: no deadline. Returns the call's index, or -1 when the core
        // refused to start it.
        int Start(const std::string &method, const std::string &token = "",
                  const std::string *message = nullptr, int64_t timeout_ms = 0);

        // Waits up to `ms` for open calls to end (returns early when none is
        // open); returns how many ended meanwhile. status(i) is the gRPC
        // status of call i, -1 while it is open.
        int Wait(int64_t ms);
        int status(size_t i) const { return calls_[i]->status; }
        const std::string &details(size_t i) const { return calls_[i]->details; }
        size_t size() const { return calls_.size(); }
        int open() const { return open_; }
        // How many calls ended with `code`.
        int Count(int code) const;

      private:
        struct Call {
                grpc_call *call = nullptr;
                grpc_metadata auth = {};
                grpc_metadata_array initial_md, trailing_md;
                grpc_byte_buffer *send = nullptr;
                grpc_status_code code = GRPC_STATUS_OK;
                grpc_slice status_details;
                int status = -1;
                std::string details;
        };
        std::vector<grpc_channel *> channels_;
        grpc_completion_queue *cq_ = nullptr;
        std::vector<std::unique_ptr<Call>> calls_;
        int open_ = 0;
        size_t next_ = 0;
};

}  // namespace aktest
