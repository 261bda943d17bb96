#include "services/scheduler/testing/scheduler_process.h"

#include <gtest/gtest.h>

extern "C" {
#include "protos/ak/v1/scheduler.pb-c.h"
}

namespace akt {

Client::Client(const std::string &target, const std::string &token, const struct rpc_tls *tls)
    : token_(token)
{
        struct ak_error err;
        if (rpc_channel_new(target.c_str(), tls, &ch_, &err) < 0)
                ADD_FAILURE() << err.msg;
}

Client::~Client()
{
        rpc_channel_free(ch_);
}

int Client::Call(const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp,
                 std::string *err_out, int64_t timeout_ms)
{
        struct rpc_call_options o = {};
        o.timeout_ms = timeout_ms;
        o.bearer_token = token_.empty() ? nullptr : token_.c_str();
        o.metadata_key = tenant_.empty() ? nullptr : "x-ak-tenant";
        o.metadata_value = tenant_.c_str();
        ProtobufCMessage *r = nullptr;
        struct ak_error err = {};
        int code = rpc_unary(ch_, &ak__v1__scheduler__descriptor, method, req, &o, &r, &err);
        if (err_out)
                *err_out = code == RPC_OK ? "" : err.msg;
        if (resp)
                *resp = r;
        else if (r)
                protobuf_c_message_free_unpacked(r, nullptr);
        return code;
}

int Client::Open(const char *method, const ProtobufCMessage *req, struct rpc_stream **st, int64_t timeout_ms)
{
        struct rpc_call_options o = {};
        o.timeout_ms = timeout_ms;
        o.bearer_token = token_.empty() ? nullptr : token_.c_str();
        o.metadata_key = tenant_.empty() ? nullptr : "x-ak-tenant";
        o.metadata_value = tenant_.c_str();
        struct ak_error err;
        return rpc_stream_open(ch_, &ak__v1__scheduler__descriptor, method, req, &o, st, &err);
}

}  // namespace akt
