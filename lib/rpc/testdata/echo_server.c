/* A standalone Echo server for interop tests with other gRPC stacks:
 * echo_server ADDR  → prints "PORT <n>" once serving, stops on SIGTERM/stdin EOF. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/rpc/rpc.h"
#include "lib/rpc/testdata/echo.pb-c.h"

int main(int argc, char **argv);

static int echo(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        const Ak__Test__EchoRequest *req = (const void *)msg;
        if (req->fail_code)
                return rpc_call_fail(call, req->fail_code, "asked to fail: %s", req->text);
        Ak__Test__EchoReply resp = AK__TEST__ECHO_REPLY__INIT;
        resp.text = req->text;
        resp.blob = req->blob;
        const char *auth = rpc_call_metadata(call, "authorization");
        resp.metadata = (char *)(auth ? auth : "");
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}

static int count(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        const Ak__Test__EchoRequest *req = (const void *)msg;
        for (uint32_t i = 0; i < req->count; i++) {
                Ak__Test__EchoReply resp = AK__TEST__ECHO_REPLY__INIT;
                resp.text = req->text;
                resp.index = i;
                if (rpc_call_send(call, &resp.base) < 0)
                        return RPC_CANCELLED;
        }
        return RPC_OK;
}

static const struct rpc_method methods[] = {
        { "Echo", RPC_UNARY, echo },
        { "Count", RPC_SERVER_STREAMING, count },
};

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: echo_server HOST:PORT|unix:PATH\n");
                return 2;
        }
        struct rpc_server *srv;
        struct ak_error err;
        int port = 0;
        if (rpc_server_new(NULL, &srv, &err) || rpc_server_listen(srv, argv[1], NULL, &port, &err) ||
            rpc_server_add_service(srv, &ak__test__echo__descriptor, methods, 2, NULL, &err) ||
            rpc_server_start(srv, &err)) {
                fprintf(stderr, "echo_server: %s\n", err.msg);
                return 1;
        }
        printf("PORT %d\n", port);
        fflush(stdout);
        char buf[64];
        while (read(0, buf, sizeof(buf)) > 0)
                ;
        rpc_server_shutdown(srv, 1000);
        return 0;
}
