/* ak-gateway: agentkernel's HTTP API (:18888) over the scheduler's gRPC.
 * Flags, wiring, signals; the work is in http.c and api.c. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/parse.h"
#include "lib/base/version.h"
#include "lib/rpc/rpc.h"
#include "lib/svc/auth.h"
#include "lib/svc/run.h"
#include "lib/svc/tokens.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http.h"

static const char usage[] =
        "Usage: ak-gateway --scheduler ADDR (--keys-file F | --no-auth) [--listen HOST:PORT]\n"
        "                  [--scheduler-token-file F] [--any-host] [--max-connections N]\n"
        "                  [--idle-timeout-s N] [--audit-file F]\n"
        "\n"
        "Serves agentkernel 0.18's HTTP API (POST /run, /sandboxes, files, SSE\n"
        "streaming, ...) and calls the scheduler over gRPC for every request.\n"
        "\n"
        "  --scheduler ADDR         the scheduler: host:port or unix:/path\n"
        "  --scheduler-token-file F the gateway's credential for the scheduler (its\n"
        "                           first token). An admin token lets the gateway act\n"
        "                           for the tenants its API keys name.\n"
        "  --keys-file F            API keys, one a line, \"tenant=NAME KEY\" (lib/svc\n"
        "                           token format, 0600); clients send\n"
        "                           \"Authorization: Bearer KEY\". SIGHUP reloads it.\n"
        "  --no-auth                no API keys: every client is tenant \"default\"\n"
        "  --listen HOST:PORT       default 127.0.0.1:18888 (port 0 picks one)\n"
        "  --any-host               accept any Host/Origin header (behind a TLS ingress);\n"
        "                           by default only localhost hosts and no cross-origin\n"
        "                           browser requests (DNS rebinding)\n"
        "  --max-connections N      default 1024\n"
        "  --idle-timeout-s N       close connections idle this long (default 30)\n"
        "  --audit-file F           the auditor's file destination (agentkernel's\n"
        "                           audit.jsonl), read for GET /audit and\n"
        "                           /sandboxes/{name}/logs; without it they answer 501\n"
        "\n"
        "Prints \"ak-gateway: listening on HOST:PORT\" on stdout once serving.\n"
        "Point an SDK at it: AGENTKERNEL_BASE_URL=http://127.0.0.1:18888\n"
        "AGENTKERNEL_API_KEY=<a key of --keys-file>.\n";

struct flags {
        const char *scheduler, *sched_token, *keys, *listen, *audit_file;
        bool no_auth, any_host;
        unsigned max_conn, idle_s;
        char host[64];
        uint16_t port;
};

static int parse_listen(struct flags *f)
{
        const char *colon = strrchr(f->listen, ':');
        uint64_t port;

        if (!colon || colon == f->listen || (size_t)(colon - f->listen) >= sizeof(f->host) ||
            ak_parse_u64(colon + 1, 0, 65535, &port) < 0)
                return -1;
        snprintf(f->host, sizeof(f->host), "%.*s", (int)(colon - f->listen), f->listen);
        f->port = (uint16_t)port;
        return 0;
}

static int parse_flags(int argc, char **argv, struct flags *f)
{
        enum { SCHED = 256, STOKEN, KEYS, NOAUTH, LISTEN, ANYHOST, MAXC, IDLE, HELP, VERSION, AUDIT };
        static const struct option opts[] = {
                { "scheduler", required_argument, NULL, SCHED },
                { "scheduler-token-file", required_argument, NULL, STOKEN },
                { "keys-file", required_argument, NULL, KEYS },
                { "no-auth", no_argument, NULL, NOAUTH },
                { "listen", required_argument, NULL, LISTEN },
                { "any-host", no_argument, NULL, ANYHOST },
                { "max-connections", required_argument, NULL, MAXC },
                { "idle-timeout-s", required_argument, NULL, IDLE },
                { "audit-file", required_argument, NULL, AUDIT },
                { "help", no_argument, NULL, HELP },
                { "version", no_argument, NULL, VERSION },
                {},
        };
        uint64_t v;
        int c;

        f->listen = "127.0.0.1:18888";
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case SCHED: f->scheduler = optarg; break;
                case STOKEN: f->sched_token = optarg; break;
                case KEYS: f->keys = optarg; break;
                case NOAUTH: f->no_auth = true; break;
                case LISTEN: f->listen = optarg; break;
                case AUDIT: f->audit_file = optarg; break;
                case ANYHOST: f->any_host = true; break;
                case MAXC:
                case IDLE:
                        if (ak_parse_u64(optarg, 1, 100000, &v) < 0) {
                                fprintf(stderr, "ak-gateway: --%s: '%s' is not a number from 1 to 100000\n",
                                        c == MAXC ? "max-connections" : "idle-timeout-s", optarg);
                                return -1;
                        }
                        *(c == MAXC ? &f->max_conn : &f->idle_s) = (unsigned)v;
                        break;
                case HELP: fputs(usage, stdout); exit(0);
                case VERSION: printf("ak-gateway %s\n", AK_VERSION); exit(0);
                default: return -1;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "ak-gateway: unexpected argument '%s'\n", argv[optind]);
                return -1;
        }
        if (!f->scheduler) {
                fprintf(stderr, "ak-gateway: --scheduler ADDR is required\n");
                return -1;
        }
        if (!f->keys == !f->no_auth) {
                fprintf(stderr, "ak-gateway: give exactly one of --keys-file F and --no-auth\n");
                return -1;
        }
        if (parse_listen(f) < 0) {
                fprintf(stderr, "ak-gateway: --listen '%s' is not HOST:PORT\n", f->listen);
                return -1;
        }
        return 0;
}

struct app {
        struct gw_http *http;
};

static void on_stop(void *data, int sig)
{
        struct app *a = data;
        fprintf(stderr, "ak-gateway: %s: stopping\n", strsignal(sig));
        gw_http_stop(a->http);
        a->http = NULL;
}

int main(int argc, char **argv)
{
        struct flags f = { 0 };
        struct ak_error err = { 0 };
        struct rpc_channel *ch = NULL;
        struct svc_auth *keys = NULL;
        struct gateway *g = NULL;
        struct app app = { 0 };
        char *token = NULL;
        int rc = 1;

        if (parse_flags(argc, argv, &f) < 0) {
                fputs("Try 'ak-gateway --help'.\n", stderr);
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        if (svc_signals_block(SVC_STARTING_HOLD_STOP) < 0) {
                fprintf(stderr, "ak-gateway: cannot block signals\n");
                return 1;
        }
        if (f.keys && svc_auth_load(f.keys, "gateway", &keys, &err) < 0) {
                fprintf(stderr, "ak-gateway: --keys-file: %s\n", err.msg);
                goto out;
        }
        if (f.sched_token && tokens_load_first(f.sched_token, &token, &err) < 0) {
                fprintf(stderr, "ak-gateway: --scheduler-token-file: %s\n", err.msg);
                goto out;
        }
        if (rpc_channel_new(f.scheduler, NULL, &ch, &err) < 0 || (token && rpc_channel_set_bearer_token(ch, token) < 0)) {
                fprintf(stderr, "ak-gateway: scheduler %s: %s\n", f.scheduler, err.msg);
                goto out;
        }
        struct gateway_config gc = { .scheduler = ch, .audit_file = f.audit_file };
        if (gateway_new(&gc, &g) < 0) {
                fprintf(stderr, "ak-gateway: out of memory\n");
                goto out;
        }
        struct gw_http_config hc = { .gateway = g, .keys = keys, .listen_host = f.host, .port = f.port,
                                     .any_host = f.any_host, .max_connections = f.max_conn,
                                     .idle_timeout_s = f.idle_s };
        if (gw_http_start(&hc, &app.http, &err) < 0) {
                fprintf(stderr, "ak-gateway: %s\n", err.msg);
                goto out;
        }
        printf("ak-gateway: listening on %s:%u\n", f.host, gw_http_port(app.http));
        fflush(stdout);
        struct svc_loop loop = { .data = &app, .name = "ak-gateway", .stop = on_stop, .reload_data = keys };
        svc_run(&loop);
        rc = 0;
out:
        gw_http_stop(app.http);
        gateway_free(g);
        rpc_channel_free(ch);
        svc_auth_free(keys);
        if (token) {
                explicit_bzero(token, strlen(token));
                free(token);
        }
        return rc;
}
