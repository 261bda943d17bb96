/* The executor's warm pool as GetStatus reports it, and timed runs of the
 * real `ak` binary. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/e2e/e2e.h"
#include "lib/base/time.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "protos/ak/v1/scheduler.pb-c.h"

#define POLL_MS 100

extern char **environ;

int e2e_pool_status(const struct e2e_target *exe, struct e2e_pool *ret, struct ak_error *err)
{
        struct rpc_channel *ch = NULL;
        int r = rpc_channel_new(exe->address, NULL, &ch, err);
        if (r < 0)
                return r;
        Ak__V1__GetExecutorStatusRequest req = AK__V1__GET_EXECUTOR_STATUS_REQUEST__INIT;
        struct rpc_call_options o = { .timeout_ms = 5000, .bearer_token = exe->token };
        Ak__V1__ExecutorStatus *st = NULL;
        if (rpc_unary(ch, exe->service, "GetStatus", &req.base, &o, (ProtobufCMessage **)&st, err) != RPC_OK) {
                rpc_channel_free(ch);
                ak_error_wrap(err, "executor %s", exe->address);
                return -EIO;
        }
        struct e2e_pool p = { 0 };
        if (st->n_pools > 0) {
                p.ready = st->pools[0]->ready;
                p.booting = st->pools[0]->booting;
                p.hits = st->pools[0]->hits;
                p.misses = st->pools[0]->misses;
        }
        snprintf(p.accel, sizeof(p.accel), "%s", st->accel ? st->accel : "?");
        bool pooled = st->n_pools > 0;
        protobuf_c_message_free_unpacked(&st->base, NULL);
        rpc_channel_free(ch);
        if (!pooled)
                return ak_error_set(err, -ENOENT, "executor %s has no warm pool", exe->address);
        *ret = p;
        return 0;
}

int e2e_pool_wait(const struct e2e_target *exe, int64_t timeout_ms, struct e2e_pool *ret,
                  struct ak_error *err)
{
        double end = ((double)ak_mono_ns() / 1e6) + (double)timeout_ms;
        struct e2e_pool p = { 0 };
        for (;;) {
                int r = e2e_pool_status(exe, &p, err);
                if (r < 0)
                        return r;
                if (p.ready >= 1 && p.booting == 0) {
                        *ret = p;
                        return 0;
                }
                if (((double)ak_mono_ns() / 1e6) > end)
                        return ak_error_set(err, -ETIMEDOUT,
                                            "the warm pool was not refilled after %lld ms (ready %u, booting %u)",
                                            (long long)timeout_ms, p.ready, p.booting);
                usleep(POLL_MS * 1000);
        }
}

/* The scheduler's record of the first executor: its pool's ready count and
 * when its last heartbeat came (wall clock). */
static int sched_view(const struct e2e_target *sched, uint32_t *ret_ready, int64_t *ret_heartbeat,
                      struct ak_error *err)
{
        struct rpc_channel *ch = NULL;
        int r = rpc_channel_new(sched->address, NULL, &ch, err);
        if (r < 0)
                return r;
        Ak__V1__ListExecutorsRequest req = AK__V1__LIST_EXECUTORS_REQUEST__INIT;
        struct rpc_call_options o = { .timeout_ms = 5000, .bearer_token = sched->token };
        Ak__V1__ListExecutorsResponse *resp = NULL;
        if (rpc_unary(ch, sched->service, "ListExecutors", &req.base, &o, (ProtobufCMessage **)&resp, err) !=
            RPC_OK) {
                rpc_channel_free(ch);
                ak_error_wrap(err, "scheduler %s", sched->address);
                return -EIO;
        }
        r = resp->n_executors ? 0 : ak_error_set(err, -ENOENT, "no executor registered");
        if (r == 0) {
                const Ak__V1__ExecutorRecord *e = resp->executors[0];
                *ret_ready = e->status->n_pools ? e->status->pools[0]->ready : 0;
                *ret_heartbeat = e->last_heartbeat_ms;
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        rpc_channel_free(ch);
        return r;
}

int e2e_pool_wait_placeable(const struct e2e_target *sched, const struct e2e_target *exe, int64_t timeout_ms,
                            struct e2e_pool *ret, struct ak_error *err)
{
        double end = ((double)ak_mono_ns() / 1e6) + (double)timeout_ms;
        int r = e2e_pool_wait(exe, timeout_ms, ret, err);
        if (r < 0)
                return r;
        int64_t refilled = ak_real_ms();
        for (;;) {
                uint32_t ready = 0;
                int64_t heartbeat = 0;
                if ((r = sched_view(sched, &ready, &heartbeat, err)) < 0)
                        return r;
                if (ready >= 1 && heartbeat > refilled)
                        return 0;
                if (((double)ak_mono_ns() / 1e6) > end)
                        return ak_error_set(err, -ETIMEDOUT,
                                            "the scheduler did not hear of the refilled pool within %lld ms",
                                            (long long)timeout_ms);
                usleep(POLL_MS * 1000);
        }
}

int e2e_run(char *const argv[], const char *log, double *ret_ms, struct ak_error *err)
{
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        pid_t pid;
        double t0 = ((double)ak_mono_ns() / 1e6);
        int e = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (e != 0)
                return ak_error_errno(err, -e, "spawn %s", argv[0]);
        int status;
        pid_t w;
        while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
                ;
        double ms = ((double)ak_mono_ns() / 1e6) - t0;
        if (w != pid)
                return ak_error_errno(err, -ECHILD, "wait for %s", argv[0]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return ak_error_set(err, -EIO, "%s %s: %s %d; its output: %s", argv[0], argv[1],
                                    WIFEXITED(status) ? "exit" : "signal",
                                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), log);
        *ret_ms = ms;
        return 0;
}
