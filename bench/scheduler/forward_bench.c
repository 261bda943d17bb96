/* What the scheduler adds to a call: unary ReadFile and a streaming Exec
 * (one output chunk, then the result), sent through an in-process
 * ak-scheduler to a fake executor, beside the same calls sent straight to
 * the fake executor (the floor), both over loopback TCP, 1 and 16 clients. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/scheduler/bench.h"
#include "lib/base/time.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "protos/ak/v1/scheduler.pb-c.h"
#include "services/scheduler/service.h"

/* ---- the fake executor ----------------------------------------------------- */

static int ex_create(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        const Ak__V1__CreateSandboxRequest *req = (const Ak__V1__CreateSandboxRequest *)msg;
        Ak__V1__Sandbox sb = AK__V1__SANDBOX__INIT;
        sb.spec = req->spec;
        sb.state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING;
        sb.executor_id = (char *)"bench-exec";
        rpc_call_reply(call, &sb.base);
        return RPC_OK;
}

static int ex_read(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        static const char content[] = "ping-pong-payload-32-bytes-long!";
        Ak__V1__ReadFileResponse resp = AK__V1__READ_FILE_RESPONSE__INIT;
        resp.content.data = (uint8_t *)content;
        resp.content.len = 32;
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}

static int ex_exec(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        const Ak__V1__ExecRequest *req = (const Ak__V1__ExecRequest *)msg;
        Ak__V1__OutputChunk out = AK__V1__OUTPUT_CHUNK__INIT;
        out.kind_case = AK__V1__OUTPUT_CHUNK__KIND_STDOUT;
        out.stdout.data = (uint8_t *)"ok\n";
        out.stdout.len = 3;
        if (rpc_call_send(call, &out.base) < 0)
                return RPC_CANCELLED;
        Ak__V1__ExecResult res = AK__V1__EXEC_RESULT__INIT;
        res.sandbox = req->sandbox;
        Ak__V1__OutputChunk fin = AK__V1__OUTPUT_CHUNK__INIT;
        fin.kind_case = AK__V1__OUTPUT_CHUNK__KIND_RESULT;
        fin.result = &res;
        return rpc_call_send(call, &fin.base) < 0 ? RPC_CANCELLED : RPC_OK;
}

static const struct rpc_method ex_methods[] = {
        { "CreateSandbox", RPC_UNARY, ex_create },
        { "ReadFile", RPC_UNARY, ex_read },
        { "Exec", RPC_SERVER_STREAMING, ex_exec },
};

/* ---- clients ------------------------------------------------------------------ */

struct client {
        struct rpc_channel *ch;
        const ProtobufCServiceDescriptor *service;
        bool stream;
        uint64_t deadline;
        struct samples lat;
        int errors;
};

static int one_call(struct client *c)
{
        struct ak_error err;
        if (!c->stream) {
                Ak__V1__ReadFileRequest req = AK__V1__READ_FILE_REQUEST__INIT;
                req.sandbox = (char *)"bench";
                req.path = (char *)"/etc/hostname";
                ProtobufCMessage *resp;
                int r = rpc_unary(c->ch, c->service, "ReadFile", &req.base, NULL, &resp, &err);
                if (r == RPC_OK)
                        protobuf_c_message_free_unpacked(resp, NULL);
                return r;
        }
        static char *argv[] = { (char *)"true" };
        Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
        req.sandbox = (char *)"bench";
        req.n_argv = 1;
        req.argv = argv;
        struct rpc_stream *st;
        int r = rpc_stream_open(c->ch, c->service, "Exec", &req.base, NULL, &st, &err);
        if (r != RPC_OK)
                return r;
        ProtobufCMessage *msg;
        int n, got = 0;
        while ((n = rpc_stream_next(st, &msg, &err)) == 1) {
                protobuf_c_message_free_unpacked(msg, NULL);
                got++;
        }
        rpc_stream_free(st);
        return n == 0 && got == 2 ? RPC_OK : RPC_INTERNAL;
}

static void *client_main(void *arg)
{
        struct client *c = arg;
        while (ak_mono_ns() < c->deadline) {
                uint64_t t = ak_mono_ns();
                if (one_call(c) != RPC_OK)
                        c->errors++;
                else
                        samples_add(&c->lat, ak_mono_ns() - t);
        }
        return NULL;
}

struct result {
        double p50_us, p99_us, qps;
        int errors;
};

static struct result run(struct rpc_channel *ch, const ProtobufCServiceDescriptor *service, bool stream,
                         int clients)
{
        struct client cs[16];
        pthread_t t[16];
        /* Warm the connection up first. */
        struct client warm = { .ch = ch, .service = service, .stream = stream };
        for (int i = 0; i < 50; i++)
                one_call(&warm);
        uint64_t start = ak_mono_ns(), deadline = start + (uint64_t)(bench_seconds * 1e9);
        for (int i = 0; i < clients; i++) {
                cs[i] = (struct client){ .ch = ch, .service = service, .stream = stream, .deadline = deadline };
                pthread_create(&t[i], NULL, client_main, &cs[i]);
        }
        struct samples all = { 0 };
        struct result r = { 0 };
        for (int i = 0; i < clients; i++) {
                pthread_join(t[i], NULL);
                for (size_t j = 0; j < cs[i].lat.n; j++)
                        samples_add(&all, cs[i].lat.v[j]);
                r.errors += cs[i].errors;
                samples_free(&cs[i].lat);
        }
        double secs = (double)(ak_mono_ns() - start) / 1e9;
        r.qps = (double)all.n / secs;
        r.p50_us = samples_us(&all, 0.50);
        r.p99_us = samples_us(&all, 0.99);
        samples_free(&all);
        return r;
}

int bench_forward(void)
{
        struct ak_error err;
        struct rpc_server *exsrv = NULL, *schedsrv = NULL;
        struct scheduler *sched = NULL;
        struct rpc_channel *to_exec = NULL, *to_sched = NULL;
        int ex_port = 0, sport = 0, rc = 1;
        char exaddr[64], saddr[64];

        if (rpc_server_new(NULL, &exsrv, &err) < 0 ||
            rpc_server_add_service(exsrv, &ak__v1__executor__descriptor, ex_methods, 3, NULL, &err) < 0 ||
            rpc_server_listen(exsrv, "127.0.0.1:0", NULL, &ex_port, &err) < 0 ||
            rpc_server_start(exsrv, &err) < 0)
                goto out;
        snprintf(exaddr, sizeof(exaddr), "127.0.0.1:%d", ex_port);

        /* Heartbeats every minute: nothing expires during the bench. */
        struct scheduler_config cfg = { .registry = { .heartbeat_interval_ms = 60000 } };
        if (scheduler_new(&cfg, &sched, &err) < 0)
                goto out;
        struct rpc_server_options so = { .authorize = scheduler_authorize, .authorize_data = sched };
        if (rpc_server_new(&so, &schedsrv, &err) < 0 || scheduler_add_service(sched, schedsrv, &err) < 0 ||
            rpc_server_listen(schedsrv, "127.0.0.1:0", NULL, &sport, &err) < 0 ||
            rpc_server_start(schedsrv, &err) < 0)
                goto out;
        snprintf(saddr, sizeof(saddr), "127.0.0.1:%d", sport);
        if (rpc_channel_new(exaddr, NULL, &to_exec, &err) < 0 || rpc_channel_new(saddr, NULL, &to_sched, &err) < 0)
                goto out;

        /* Register the fake executor and create the sandbox through the scheduler. */
        Ak__V1__Capacity cap = AK__V1__CAPACITY__INIT;
        cap.vcpus = 64;
        cap.memory_mb = 65536;
        Ak__V1__ExecutorStatus st = AK__V1__EXECUTOR_STATUS__INIT;
        st.executor_id = (char *)"bench-exec";
        st.address = exaddr;
        st.capacity = &cap;
        Ak__V1__RegisterExecutorRequest reg = AK__V1__REGISTER_EXECUTOR_REQUEST__INIT;
        reg.status = &st;
        ProtobufCMessage *resp;
        if (rpc_unary(to_sched, &ak__v1__scheduler__descriptor, "RegisterExecutor", &reg.base, NULL, &resp,
                      &err) != RPC_OK)
                goto out;
        protobuf_c_message_free_unpacked(resp, NULL);
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        spec.name = (char *)"bench";
        Ak__V1__CreateSandboxRequest create = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
        create.spec = &spec;
        if (rpc_unary(to_sched, &ak__v1__scheduler__descriptor, "CreateSandbox", &create.base, NULL, &resp,
                      &err) != RPC_OK)
                goto out;
        protobuf_c_message_free_unpacked(resp, NULL);

        printf("\nbench/scheduler: forwarding overhead over loopback TCP, %.1f s per row, %ld cores\n",
               bench_seconds, sysconf(_SC_NPROCESSORS_ONLN));
        printf("  %-8s %-8s %-26s %10s %10s %10s %14s\n", "call", "clients", "path", "p50 us", "p99 us", "calls/s",
               "added p50 us");
        static const int conc[] = { 1, 16 };
        for (int kind = 0; kind < 2; kind++) {
                for (size_t k = 0; k < 2; k++) {
                        bool stream = kind == 1;
                        const char *call = stream ? "Exec" : "ReadFile";
                        struct result floor = run(to_exec, &ak__v1__executor__descriptor, stream, conc[k]);
                        struct result via = run(to_sched, &ak__v1__scheduler__descriptor, stream, conc[k]);
                        printf("  %-8s %-8d %-26s %10.1f %10.1f %10.0f %14s\n", call, conc[k],
                               "straight to the executor", floor.p50_us, floor.p99_us, floor.qps, "(floor)");
                        char added[32];
                        snprintf(added, sizeof(added), "%+.1f", via.p50_us - floor.p50_us);
                        printf("  %-8s %-8d %-26s %10.1f %10.1f %10.0f %14s\n", call, conc[k],
                               "through the scheduler", via.p50_us, via.p99_us, via.qps, added);
                        if (floor.errors || via.errors)
                                printf("  errors: %d straight, %d through\n", floor.errors, via.errors);
                }
        }
        printf("target: the scheduler adds <= 1000 us p50\n");
        rc = 0;
out:
        if (rc)
                fprintf(stderr, "bench/scheduler: %s\n", err.msg);
        rpc_channel_free(to_exec);
        rpc_channel_free(to_sched);
        rpc_server_shutdown(schedsrv, 1000);
        scheduler_free(sched);
        rpc_server_shutdown(exsrv, 1000);
        return rc;
}
