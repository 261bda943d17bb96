/* bench/e2e: the pieces of the whole-stack benchmark main.c puts together.
 * Library-style: functions return 0 or -errno with err filled and print
 * nothing; main.c prints. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>

#include "lib/base/error.h"
#include "lib/rpc/rpc.h"

/* ---- samples (milliseconds) --------------------------------------------- */

struct samples {
        double *v;
        size_t n, cap;
};

/* Aborts when out of memory (a benchmark has nothing better to do). */
void samples_add(struct samples *s, double ms);
/* Sorts, then the q-quantile (0..1); 0 when empty. */
double samples_pct(struct samples *s, double q);
void samples_free(struct samples *s);

/* ---- Exec round trips (exec.c) ------------------------------------------ */

/* Where an Exec goes: the scheduler's or the executor's service (both take
 * ExecRequest and stream OutputChunk). Strings are borrowed. */
struct e2e_target {
        const char *address;                       /* "unix:/..." */
        const ProtobufCServiceDescriptor *service;
        const char *token;                         /* bearer token; NULL: none */
};

/* `true` in `sandbox` through t on ch (a channel to t->address). 0 when it
 * exited 0; -EIO with err saying why otherwise. */
int e2e_exec_true(struct rpc_channel *ch, const struct e2e_target *t, const char *sandbox,
                  struct ak_error *err);

/* n pairs of round trips on one client each, a then b, then b then a (the
 * order rotates: the second of a pair follows a guest tidying up after the
 * first), so that both see the same machine; latencies into ra and rb. */
int e2e_exec_interleaved(const struct e2e_target *a, const struct e2e_target *b, const char *sandbox,
                         int n, struct samples *ra, struct samples *rb, struct ak_error *err);

/* `clients` threads (a channel each) doing per_client round trips at once;
 * every latency into ret, calls per second into *ret_rate. */
int e2e_exec_concurrent(const struct e2e_target *t, const char *sandbox, int clients, int per_client,
                        struct samples *ret, double *ret_rate, struct ak_error *err);

/* ---- the executor's warm pool and the ak binary (cli.c) ------------------ */

struct e2e_pool {
        uint32_t ready, booting;
        uint64_t hits, misses;
        char accel[16];
};

/* Executor.GetStatus on exe: the first pool's numbers. */
int e2e_pool_status(const struct e2e_target *exe, struct e2e_pool *ret, struct ak_error *err);

/* Waits until the pool holds a ready VM and boots none (the machine is
 * quiet again), up to timeout_ms. -ETIMEDOUT with the last numbers in err. */
int e2e_pool_wait(const struct e2e_target *exe, int64_t timeout_ms, struct e2e_pool *ret,
                  struct ak_error *err);

/* e2e_pool_wait, then until the scheduler has heard of the refill (a
 * heartbeat since): placement sees the warm VM again. */
int e2e_pool_wait_placeable(const struct e2e_target *sched, const struct e2e_target *exe, int64_t timeout_ms,
                            struct e2e_pool *ret, struct ak_error *err);

/* Runs argv with stdin from /dev/null and stdout+stderr appended to `log`;
 * waits. 0 when it exited 0 (*ret_ms: wall time from spawn to exit), else
 * -EIO naming the status and the log. */
int e2e_run(char *const argv[], const char *log, double *ret_ms, struct ak_error *err);

/* ---- the supervising parent (supervise.c) ------------------------------- */

/* Waits for `child` (the leader of its own process group) with `set`
 * (SIGCHLD, SIGINT, SIGTERM, SIGHUP) blocked, reaping orphans that come our
 * way; SIGINT, SIGTERM or SIGHUP kill the child's group. Returns the code to
 * exit with: the child's, or 128 + the signal. */
int e2e_supervise(pid_t child, const sigset_t *set, const char *home);

/* Stops the stack recorded in $AK_HOME (SIGTERM, the executor first), kills
 * and reaps every process left under us, removes `home`. */
void e2e_cleanup(const char *home);
