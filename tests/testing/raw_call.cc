#include "tests/testing/raw_call.h"

#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

namespace aktest {

RawCalls::RawCalls(const std::string &target, int connections)
{
        grpc_init();
        cq_ = grpc_completion_queue_create_for_next(nullptr);
        for (int i = 0; i < connections; i++) {
                // A private subchannel pool and a distinct argument: one TCP
                // connection per channel (the core shares them otherwise).
                grpc_arg args[2];
                args[0].type = GRPC_ARG_INTEGER;
                args[0].key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
                args[0].value.integer = 1;
                args[1].type = GRPC_ARG_INTEGER;
                args[1].key = (char *)"ak.test.connection";
                args[1].value.integer = i;
                grpc_channel_args cargs = { 2, args };
                grpc_channel_credentials *creds = grpc_insecure_credentials_create();
                channels_.push_back(grpc_channel_create(target.c_str(), creds, &cargs));
                grpc_channel_credentials_release(creds);
        }
}

RawCalls::~RawCalls()
{
        for (auto &c : calls_)
                if (c->status < 0)
                        grpc_call_cancel(c->call, nullptr);
        while (open_ > 0 && Wait(30000) > 0)
                ;
        for (auto &c : calls_) {
                grpc_metadata_array_destroy(&c->initial_md);
                grpc_metadata_array_destroy(&c->trailing_md);
                if (c->send)
                        grpc_byte_buffer_destroy(c->send);
                grpc_slice_unref(c->status_details);
                grpc_slice_unref(c->auth.value);
                grpc_call_unref(c->call);
        }
        for (auto *ch : channels_)
                grpc_channel_destroy(ch);
        grpc_completion_queue_shutdown(cq_);
        while (grpc_completion_queue_next(cq_, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr).type !=
               GRPC_QUEUE_SHUTDOWN)
                ;
        grpc_completion_queue_destroy(cq_);
        grpc_shutdown();
}

int RawCalls::Start(const std::string &method, const std::string &token, const std::string *message,
                    int64_t timeout_ms)
{
        auto c = std::make_unique<Call>();
        grpc_metadata_array_init(&c->initial_md);
        grpc_metadata_array_init(&c->trailing_md);
        c->status_details = grpc_empty_slice();
        c->auth.value = grpc_empty_slice();
        gpr_timespec deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
        if (timeout_ms > 0)
                deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                        gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
        grpc_slice path = grpc_slice_from_copied_string(method.c_str());
        grpc_channel *ch = channels_[next_++ % channels_.size()];
        c->call = grpc_channel_create_call(ch, nullptr, GRPC_PROPAGATE_DEFAULTS, cq_, path, nullptr,
                                           deadline, nullptr);
        grpc_slice_unref(path);

        grpc_op ops[5];
        memset(ops, 0, sizeof(ops));
        size_t n = 0;
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        if (!token.empty()) {
                c->auth.key = grpc_slice_from_static_string("authorization");
                c->auth.value = grpc_slice_from_copied_string(("Bearer " + token).c_str());
                ops[n].data.send_initial_metadata.count = 1;
                ops[n].data.send_initial_metadata.metadata = &c->auth;
        }
        n++;
        if (message) {
                grpc_slice s = grpc_slice_from_copied_buffer(message->data(), message->size());
                c->send = grpc_raw_byte_buffer_create(&s, 1);
                grpc_slice_unref(s);
                ops[n].op = GRPC_OP_SEND_MESSAGE;
                ops[n++].data.send_message.send_message = c->send;
                ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        }
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n++].data.recv_initial_metadata.recv_initial_metadata = &c->initial_md;
        ops[n].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[n].data.recv_status_on_client.trailing_metadata = &c->trailing_md;
        ops[n].data.recv_status_on_client.status = &c->code;
        ops[n++].data.recv_status_on_client.status_details = &c->status_details;
        int index = (int)calls_.size();
        if (grpc_call_start_batch(c->call, ops, n, (void *)(uintptr_t)(index + 1), nullptr) != GRPC_CALL_OK) {
                grpc_call_unref(c->call);
                grpc_metadata_array_destroy(&c->initial_md);
                grpc_metadata_array_destroy(&c->trailing_md);
                if (c->send)
                        grpc_byte_buffer_destroy(c->send);
                grpc_slice_unref(c->auth.value);
                return -1;
        }
        calls_.push_back(std::move(c));
        open_++;
        return index;
}

int RawCalls::Wait(int64_t ms)
{
        gpr_timespec until = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
        int ended = 0;
        while (open_ > 0) {
                grpc_event ev = grpc_completion_queue_next(cq_, until, nullptr);
                if (ev.type != GRPC_OP_COMPLETE)
                        break;
                Call &c = *calls_[(uintptr_t)ev.tag - 1];
                c.status = ev.success ? (int)c.code : GRPC_STATUS_UNKNOWN;
                char *d = grpc_slice_to_c_string(c.status_details);
                c.details = d;
                gpr_free(d);
                open_--;
                ended++;
        }
        return ended;
}

int RawCalls::Count(int code) const
{
        int n = 0;
        for (auto &c : calls_)
                n += c->status == code;
        return n;
}

}  // namespace aktest
