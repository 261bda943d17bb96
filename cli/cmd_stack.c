/* `ak up`, `ak down`, `ak status`: the local stack (cli/stack.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opt.h"
#include "cli/progress.h"
#include "cli/pull_print.h"
#include "cli/stack.h"
#include "lib/base/parse.h"
#include "lib/json/writer.h"
#include "protos/ak/v1/scheduler.pb-c.h"

const char cli_up_help[] =
        "Usage: ak up [--warm N] [--gateway-listen HOST:PORT | --no-gateway] [-q]\n"
        "\n"
        "Starts ak's four services on this machine in the background: ak-scheduler,\n"
        "ak-executor, ak-signer and ak-auditor, on Unix sockets in $AK_HOME/run/\n"
        "(AK_HOME defaults to ~/.agentkernel), logs in $AK_HOME/logs/. Waits until\n"
        "all are healthy and the executor has registered, then prints where they are.\n"
        "Receipts are signed with $AK_HOME/receipts/ed25519_signing_key.pkcs8 (the\n"
        "one-machine key); audit events go to $AK_HOME/audit.jsonl.\n"
        "Then starts ak-gateway, agentkernel's HTTP API, on 127.0.0.1:18888 with the\n"
        "stack's token ($AK_HOME/run/token) as its API key; if it cannot start (the port\n"
        "is taken), ak up says why and the stack runs without it.\n"
        "`ak run`, `ak exec` and `ak sandbox` start the stack themselves when none runs\n"
        "(without the gateway).\n"
        "The executor's VMs run under supervisors of their own: when a service of a\n"
        "running stack has died, ak up again starts only the ones that are down (same\n"
        "token and state), and a restarted executor takes its sandboxes back.\n"
        "\n"
        "  --warm N                   VMs the executor keeps booted for fast starts\n"
        "                             (default 1; 0: none)\n"
        "  --gateway-listen HOST:PORT where the gateway listens (default $AK_GATEWAY_LISTEN,\n"
        "                             else 127.0.0.1:18888; port 0: any free port)\n"
        "  --no-gateway               no HTTP gateway\n"
        "  -q, --quiet                no progress lines on stderr (image build, start)\n"
        "\n"
        "Examples:\n"
        "  ak up\n"
        "  ak up --warm 0 && ak status\n"
        "  ak up && export AGENTKERNEL_BASE_URL=http://127.0.0.1:18888 \\\n"
        "      AGENTKERNEL_API_KEY=$(cat ~/.agentkernel/run/token)\n"
        "  tail -f ~/.agentkernel/logs/executor.log\n";

const char cli_down_help[] =
        "Usage: ak down\n"
        "\n"
        "Stops the local stack `ak up` started (SIGTERM, then SIGKILL after 15 s per\n"
        "service; the executor stops its VMs first) and removes its record.\n"
        "\n"
        "Examples:\n"
        "  ak down\n"
        "  AK_HOME=/tmp/akh ak down\n";

const char cli_status_help[] =
        "Usage: ak status [--json]\n"
        "\n"
        "Shows each service of the local stack: its address, pid and health, and the\n"
        "executors registered with the scheduler (lost: missed heartbeats) and the\n"
        "images each reports (`--image NAME` is placed on one that has NAME).\n"
        "The gateway (agentkernel's HTTP API) shows its URL and GET /health; `gateway:\n"
        "off` when ak up ran without it. Exits 0 when all four and the gateway (when\n"
        "started) are healthy, 1 otherwise.\n"
        "\n"
        "Examples:\n"
        "  ak status\n"
        "  ak status --json | jq -r '.services[] | select(.healthy | not) | .name'\n";

static const struct cli_command cmd_up = { "up", "", cli_up_run, cli_up_help };
static const struct cli_command cmd_down = { "down", "", cli_down_run, cli_down_help };
static const struct cli_command cmd_status = { "status", "", cli_status_run, cli_status_help };

static const struct cli_option up_opts[] = {
        { "warm", 0, true, 'w' },
        { "gateway-listen", 0, true, 'g' },
        { "no-gateway", 0, false, 'n' },
        { "quiet", 'q', false, 'q' },
        { NULL, 0, false, 0 },
};
static const struct cli_option *const up_tables[] = { up_opts, NULL };
const struct cli_sub cli_up_subs[] = { { "", up_tables }, { NULL, NULL } };
static const struct cli_option status_opts[] = { { "json", 0, false, 'j' }, { NULL, 0, false, 0 } };
static const struct cli_option *const status_tables[] = { status_opts, NULL };
const struct cli_sub cli_status_subs[] = { { "", status_tables }, { NULL, NULL } };

int cli_up_run(int argc, char **argv)
{
        struct stack_up_options o = { .min_warm = 1, .progress = true };
        const char *env_listen = getenv("AK_GATEWAY_LISTEN");
        o.gateway_listen = env_listen && *env_listen ? env_listen : "127.0.0.1:18888";
        struct cli_opts p;
        int id;
        cli_opts_init(&p, &cmd_up, up_tables, argc, argv);
        while ((id = cli_opts_next(&p)) != CLI_OPT_DONE) {
                unsigned v;
                if (id == CLI_OPT_ERROR)
                        return 2;
                if (id == CLI_OPT_POSITIONAL)
                        return cli_usage_error(&cmd_up, "unknown argument %s", p.arg);
                if (id == 'w') {
                        if (ak_parse_uint(p.arg, 0, 16, &v) < 0)
                                return cli_usage_error(&cmd_up, "--warm %s: want 0 to 16", p.arg);
                        o.min_warm = v;
                } else if (id == 'g') {
                        o.gateway_listen = p.arg;
                        if (!strchr(o.gateway_listen, ':'))
                                return cli_usage_error(&cmd_up, "--gateway-listen %s: want HOST:PORT",
                                                       o.gateway_listen);
                } else if (id == 'q') {
                        cli_progress_set_quiet(true);
                } else {
                        o.gateway_listen = NULL;
                }
        }
        struct stack st;
        struct ak_error err = { 0 };
        /* The warm pool boots base at once: have it built (with progress
         * here) rather than by the executor between heartbeats. */
        if (o.min_warm && stack_prepare_image(NULL, &err) < 0) {
                fprintf(stderr, "ak up: %s\n", err.msg);
                return 1;
        }
        if (stack_up(&st, &o, &err) < 0) {
                fprintf(stderr, "ak up: %s\n", err.msg);
                return 1;
        }
        printf("ak: the stack is up in %s\n", st.home);
        for (int i = 0; i < STACK_N; i++)
                printf("  %-10s %s (pid %d, log %s/logs/%s.log)\n", stack_service_name((enum stack_service)i),
                       st.addr[i], (int)st.pid[i], st.home, stack_service_name((enum stack_service)i));
        if (st.pid[STACK_GATEWAY] > 0) {
                printf("  %-10s http://%s (pid %d, log %s/logs/gateway.log)\n", "gateway", st.addr[STACK_GATEWAY],
                       (int)st.pid[STACK_GATEWAY], st.home);
                printf("Point agentkernel's SDKs at it:\n"
                       "  export AGENTKERNEL_BASE_URL=http://%s AGENTKERNEL_API_KEY=$(cat %s/run/token)\n",
                       st.addr[STACK_GATEWAY], st.home);
        } else if (o.gateway_listen) {
                fprintf(stderr, "ak up: no HTTP gateway: %s\n"
                        "  (--gateway-listen HOST:PORT picks another address; --no-gateway skips it)\n",
                        o.gateway_error);
        }
        printf("Try: ak run -- uname -a\n");
        return 0;
}

int cli_down_run(int argc, char **argv)
{
        if (argc > 1)
                return cli_usage_error(&cmd_down, "unknown argument %s", argv[1]);
        struct stack st;
        struct ak_error err = { 0 };
        int r = stack_load(&st, &err);
        if (r == -ENOENT) {
                printf("ak: no stack recorded in %s\n", st.home);
                return 0;
        }
        if (r < 0 || (r = stack_down(&st, &err)) < 0) {
                fprintf(stderr, "ak down: %s\n", err.msg);
                return 1;
        }
        printf("ak: stopped %d service%s in %s\n", r, r == 1 ? "" : "s", st.home);
        return 0;
}

/* An executor's warm pools in `ak status --json`: "pools":[{"image",
 * "profile","ready","booting","hits","misses"}]. */
static void write_pools(struct json_writer *w, const Ak__V1__ExecutorStatus *st)
{
        json_writer_key(w, "pools", 5);
        json_writer_begin_array(w);
        for (size_t k = 0; st && k < st->n_pools; k++) {
                const Ak__V1__PoolStatus *p = st->pools[k];
                json_writer_begin_object(w);
                json_writer_key(w, "image", 5);
                json_writer_string(w, p->image, strlen(p->image));
                json_writer_key(w, "profile", 7);
                json_writer_string(w, p->profile, strlen(p->profile));
                json_writer_key(w, "ready", 5);
                json_writer_u64(w, p->ready);
                json_writer_key(w, "booting", 7);
                json_writer_u64(w, p->booting);
                json_writer_key(w, "hits", 4);
                json_writer_u64(w, p->hits);
                json_writer_key(w, "misses", 6);
                json_writer_u64(w, p->misses);
                json_writer_end_object(w);
        }
        json_writer_end_array(w);
}

int cli_status_run(int argc, char **argv)
{
        bool json = false;
        struct cli_opts po;
        int o;
        cli_opts_init(&po, &cmd_status, status_tables, argc, argv);
        while ((o = cli_opts_next(&po)) != CLI_OPT_DONE) {
                if (o == CLI_OPT_ERROR)
                        return 2;
                if (o == CLI_OPT_POSITIONAL)
                        return cli_usage_error(&cmd_status, "unknown argument %s", po.arg);
                json = true;
        }
        struct stack st;
        struct ak_error err = { 0 };
        int r = stack_load(&st, &err);
        if (r < 0 && r != -ENOENT) {
                fprintf(stderr, "ak status: %s\n", err.msg);
                return 1;
        }
        bool healthy[STACK_N] = { 0 }, all = true;
        char why[STACK_N][160];
        for (int i = 0; i < STACK_N; i++) {
                struct rpc_channel *ch = NULL;
                struct ak_error e = { 0 };
                snprintf(why[i], sizeof(why[i]), "not running");
                if (r == 0 && stack_pid_alive(&st, (enum stack_service)i) &&
                    rpc_channel_new(st.addr[i], NULL, &ch, &e) == 0) {
                        if (rpc_health_check(ch, "", 2000, &e) == RPC_OK)
                                healthy[i] = true;
                        else
                                snprintf(why[i], sizeof(why[i]), "%.150s", e.msg);
                }
                rpc_channel_free(ch);
                all &= healthy[i];
        }
        bool gw_on = r == 0 && st.pid[STACK_GATEWAY] > 0, gw_ok = false;
        char gw_why[160] = "not running";
        if (gw_on && stack_pid_alive(&st, STACK_GATEWAY)) {
                struct ak_error e = { 0 };
                gw_ok = stack_gateway_health(st.addr[STACK_GATEWAY], 2000, &e) == 0;
                if (!gw_ok)
                        snprintf(gw_why, sizeof(gw_why), "%.150s", e.msg);
        }
        if (gw_on)
                all &= gw_ok;
        Ak__V1__ListExecutorsResponse *ex = NULL;
        if (healthy[STACK_SCHEDULER]) {
                struct rpc_channel *ch = NULL;
                struct ak_error e = { 0 };
                Ak__V1__ListExecutorsRequest lreq = AK__V1__LIST_EXECUTORS_REQUEST__INIT;
                struct rpc_call_options co = { .timeout_ms = 5000 };
                char token[STACK_TOKEN_MAX];
                if (stack_token(&st, token, sizeof(token)) == 0)
                        co.bearer_token = token;
                if (rpc_channel_new(st.addr[STACK_SCHEDULER], NULL, &ch, &e) == 0 &&
                    rpc_unary(ch, &ak__v1__scheduler__descriptor, "ListExecutors", &lreq.base, &co,
                              (ProtobufCMessage **)&ex, &e) != RPC_OK)
                        ex = NULL;
                rpc_channel_free(ch);
        }
        size_t n_ex = ex ? ex->n_executors : 0;
        if (json) {
                struct json_writer *w = NULL;
                char *data = NULL;
                size_t len;
                if (json_writer_new(0, 1 << 16, &w) < 0)
                        return 1;
                json_writer_begin_object(w);
                json_writer_key(w, "home", 4);
                json_writer_string(w, st.home, strlen(st.home));
                json_writer_key(w, "healthy", 7);
                json_writer_bool(w, all);
                json_writer_key(w, "services", 8);
                json_writer_begin_array(w);
                for (int i = 0; i < STACK_N; i++) {
                        const char *n = stack_service_name((enum stack_service)i);
                        json_writer_begin_object(w);
                        json_writer_key(w, "name", 4);
                        json_writer_string(w, n, strlen(n));
                        json_writer_key(w, "address", 7);
                        json_writer_string(w, st.addr[i], strlen(st.addr[i]));
                        json_writer_key(w, "pid", 3);
                        json_writer_i64(w, st.pid[i]);
                        json_writer_key(w, "healthy", 7);
                        json_writer_bool(w, healthy[i]);
                        json_writer_key(w, "error", 5);
                        json_writer_string_or_null(w, healthy[i] ? NULL : why[i]);
                        json_writer_end_object(w);
                }
                json_writer_end_array(w);
                json_writer_key(w, "gateway", 7);
                if (gw_on) {
                        char url[STACK_ADDR_MAX + 8];
                        snprintf(url, sizeof(url), "http://%s", st.addr[STACK_GATEWAY]);
                        json_writer_begin_object(w);
                        json_writer_key(w, "address", 7);
                        json_writer_string(w, st.addr[STACK_GATEWAY], strlen(st.addr[STACK_GATEWAY]));
                        json_writer_key(w, "url", 3);
                        json_writer_string(w, url, strlen(url));
                        json_writer_key(w, "pid", 3);
                        json_writer_i64(w, st.pid[STACK_GATEWAY]);
                        json_writer_key(w, "healthy", 7);
                        json_writer_bool(w, gw_ok);
                        json_writer_key(w, "error", 5);
                        json_writer_string_or_null(w, gw_ok ? NULL : gw_why);
                        json_writer_end_object(w);
                } else {
                        json_writer_null(w);
                }
                json_writer_key(w, "executors", 9);
                json_writer_begin_array(w);
                for (size_t i = 0; i < n_ex; i++) {
                        const Ak__V1__ExecutorRecord *x = ex->executors[i];
                        const char *id = x->status ? x->status->executor_id : "";
                        const char *ad = x->status ? x->status->address : "";
                        json_writer_begin_object(w);
                        json_writer_key(w, "id", 2);
                        json_writer_string(w, id, strlen(id));
                        json_writer_key(w, "address", 7);
                        json_writer_string(w, ad, strlen(ad));
                        json_writer_key(w, "lost", 4);
                        json_writer_bool(w, x->lost);
                        json_writer_key(w, "last_heartbeat_ms", 17);
                        json_writer_i64(w, x->last_heartbeat_ms);
                        json_writer_key(w, "net_denied", 10);
                        json_writer_u64(w, x->status ? x->status->net_denied : 0);
                        json_writer_key(w, "images", 6);
                        json_writer_begin_array(w);
                        for (size_t k = 0; x->status && k < x->status->n_images; k++)
                                json_writer_string(w, x->status->images[k], strlen(x->status->images[k]));
                        json_writer_end_array(w);
                        json_writer_key(w, "pulls", 5);
                        json_writer_begin_array(w);
                        for (size_t k = 0; x->status && k < x->status->n_pulls; k++)
                                cli_pull_json(w, x->status->pulls[k]);
                        json_writer_end_array(w);
                        write_pools(w, x->status);
                        json_writer_end_object(w);
                }
                json_writer_end_array(w);
                json_writer_end_object(w);
                int fr = json_writer_finish(w, &data, &len);
                json_writer_free(w);
                if (fr < 0)
                        return 1;
                printf("%.*s\n", (int)len, data);
                free(data);
        } else {
                if (r == -ENOENT)
                        printf("no stack recorded in %s; `ak up` starts one\n", st.home);
                for (int i = 0; i < STACK_N; i++)
                        printf("%-10s %-8s pid %-7d %s%s%s\n", stack_service_name((enum stack_service)i),
                               healthy[i] ? "healthy" : "DOWN", (int)st.pid[i], st.addr[i],
                               healthy[i] ? "" : ": ", healthy[i] ? "" : why[i]);
                if (gw_on)
                        printf("%-10s %-8s pid %-7d http://%s%s%s\n", "gateway", gw_ok ? "healthy" : "DOWN",
                               (int)st.pid[STACK_GATEWAY], st.addr[STACK_GATEWAY], gw_ok ? "" : ": ",
                               gw_ok ? "" : gw_why);
                else if (r == 0)
                        printf("%-10s off (ak up --no-gateway, or it could not start: %s/logs/gateway.log)\n",
                               "gateway", st.home);
                for (size_t i = 0; i < n_ex; i++) {
                        const Ak__V1__ExecutorRecord *x = ex->executors[i];
                        printf("executor %s at %s: %s, %llu network denials",
                               x->status ? x->status->executor_id : "?", x->status ? x->status->address : "?",
                               x->lost ? "LOST (missed heartbeats)" : "registered",
                               (unsigned long long)(x->status ? x->status->net_denied : 0));
                        for (size_t k = 0; x->status && k < x->status->n_images; k++)
                                printf("%s%s", k ? ", " : "; images ", x->status->images[k]);
                        printf("\n");
                        for (size_t k = 0; x->status && k < x->status->n_pulls; k++) {
                                printf("  pull ");
                                cli_pull_print(stdout, x->status->pulls[k]);
                                printf("\n");
                        }
                }
        }
        if (ex)
                protobuf_c_message_free_unpacked(&ex->base, NULL);
        return all ? 0 : 1;
}
