#include <stdio.h>

#include "cli/scheduler_call.h"
#include "cli/stack.h"
#include "protos/ak/v1/scheduler.pb-c.h"

int cli_scheduler_call(const char *group, const char *verb, const char *method, const ProtobufCMessage *req,
                       ProtobufCMessage **resp)
{
        struct rpc_channel *ch = NULL;
        struct rpc_call_options o;
        struct ak_error err = { 0 };
        int r = stack_client(true, &ch, &o, &err);
        if (r >= 0)
                r = rpc_unary(ch, &ak__v1__scheduler__descriptor, method, req, &o, resp, &err);
        rpc_channel_free(ch);
        if (r != 0) {
                fprintf(stderr, "ak %s%s%s: %s\n", group ? group : "", group ? " " : "", verb, err.msg);
                return -1;
        }
        return 0;
}
