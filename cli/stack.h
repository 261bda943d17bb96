/* The local stack: ak-scheduler, ak-executor, ak-signer and ak-auditor as
 * background processes of this machine, listening on Unix sockets
 *   $AK_HOME/run/{scheduler,executor,signer,auditor}.sock
 * with logs in $AK_HOME/logs/<service>.log and their pids recorded in
 * $AK_HOME/run/stack.json. Each service also serves Prometheus metrics on a
 * loopback port of its own (--metrics-listen 127.0.0.1:PORT), recorded in
 * stack.json under "metrics". The signer holds the one-machine receipt key
 * ($AK_HOME/receipts/ed25519_signing_key.pkcs8), the auditor appends to
 * $AK_HOME/audit.jsonl (spool $AK_HOME/auditor/spool), the executor keeps
 * VMs in $AK_HOME/executor and images in $AK_HOME/images. Every `ak up`
 * writes a fresh random bearer token to $AK_HOME/run/token (0600): the
 * scheduler's --token-file and the executor's --scheduler-token-file, and
 * what clients of the local stack send.
 *
 * Clients reach the scheduler at $AK_SCHEDULER when set (a fleet; no local
 * stack is started), else at the local stack's socket. $AK_TOKEN, when set,
 * is sent as the bearer token, else the local stack's run/token. With
 * $AK_SCHEDULER, $AK_TLS_CA turns TLS on (the CA that signed the scheduler's
 * certificate), $AK_TLS_CERT and $AK_TLS_KEY present a client certificate,
 * $AK_TLS_NAME overrides the name its certificate must carry.
 *
 * Errors: 0 or -errno with err filled. Progress goes to stderr only where
 * the caller asks for it (stack_up's `progress`). */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "lib/base/error.h"
#include "lib/rpc/rpc.h"

/* STACK_N: the four gRPC services (Unix sockets, gRPC health). The gateway
 * (ak-gateway, agentkernel's HTTP API on TCP) is the fifth, optional one:
 * its addr is "HOST:PORT", "" when the stack runs without it. */
enum stack_service { STACK_SCHEDULER, STACK_EXECUTOR, STACK_SIGNER, STACK_AUDITOR, STACK_N,
                     STACK_GATEWAY = STACK_N, STACK_ALL };

#define STACK_ADDR_MAX 128
#define STACK_TOKEN_MAX 128     /* run/token: 64 hex digits */

struct stack {
        char home[PATH_MAX - 64];
        char addr[STACK_ALL][STACK_ADDR_MAX];   /* "unix:/...", the gateway's "HOST:PORT" */
        pid_t pid[STACK_ALL];                   /* 0: not recorded */
        char metrics[STACK_ALL][32];            /* "127.0.0.1:PORT" of /metrics, "" when none */
};

struct stack_up_options {
        unsigned min_warm;        /* warm VMs kept by the executor */
        bool progress;            /* a status line on stderr (on a TTY) */
        unsigned timeout_s;       /* 0: 120 */
        /* ak-gateway's --listen HOST:PORT (port 0: any free one); NULL: no
         * gateway. It gets run/token as its API key and scheduler credential.
         * A gateway that cannot start (its port taken) does not fail the
         * stack: gateway_error says why, and the stack runs without it. */
        const char *gateway_listen;
        char gateway_error[AK_ERROR_MAX];
};

/* "scheduler", ... */
const char *stack_service_name(enum stack_service s);

/* Fills home and the socket addresses (pids 0). -ENAMETOOLONG when a
 * socket path would not fit sun_path: use a shorter AK_HOME. */
int stack_paths(struct stack *st, struct ak_error *err);

/* stack_paths, then the pids from stack.json. -ENOENT without a record. */
int stack_load(struct stack *st, struct ak_error *err);

/* The local stack's bearer token (run/token) into buf. 0, -ENOENT without
 * one, -EBADMSG when empty or too long, or -errno. */
int stack_token(const struct stack *st, char *buf, size_t size);

/* Makes $AK_HOME/<sub> (and $AK_HOME itself; each 0700 when created) and
 * puts its path in out. 0 or -errno with err filled. */
int stack_dir(const struct stack *st, const char *sub, char *out, size_t size, struct ak_error *err);

/* True when the recorded pid is alive and runs ak-<service>. */
bool stack_pid_alive(const struct stack *st, enum stack_service s);

/* Starts the four services (setsid, logs under $AK_HOME/logs), records them,
 * then the gateway when o->gateway_listen is set (its address as it printed it),
 * waits until each is SERVING and the executor has registered. On failure
 * stops what it started and names the service and its log. -EEXIST if a
 * recorded stack is still running. */
int stack_up(struct stack *st, struct stack_up_options *o, struct ak_error *err);

/* GET /health on the gateway at addr ("HOST:PORT"), within timeout_ms: 0
 * when it answers 200, else -errno with why in err. */
int stack_gateway_health(const char *addr, int timeout_ms, struct ak_error *err);

/* SIGTERM to each recorded service (gateway, then executor...), up to 15 s each, then
 * SIGKILL; removes the record. Returns the number of services stopped. */
int stack_down(struct stack *st, struct ak_error *err);

/* Channel and call options for the scheduler clients talk to ($AK_SCHEDULER
 * or the local stack). With autostart and no service of the local stack
 * running, starts one and says so on stderr; a stack whose scheduler died
 * while others run is an error (restarting would kill their VMs). opts->bearer_token points into the environment or static storage. */
int stack_client(bool autostart, struct rpc_channel **ret, struct rpc_call_options *opts,
                 struct ak_error *err);

/* With the local stack (no $AK_SCHEDULER): builds `image` ("" or NULL:
 * base) in $AK_HOME/images if it is missing, with progress on a TTY, so the
 * executor finds it ready. A fleet builds its own images: then a no-op. */
int stack_prepare_image(const char *image, struct ak_error *err);
