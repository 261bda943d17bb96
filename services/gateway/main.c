/* ak-gateway: agentkernel's HTTP API (:18888) over the scheduler's gRPC.
 * Flags, wiring, signals; the work is in http.c and api.c. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "lib/base/hostport.h"
#include "lib/base/io.h"
#include "lib/base/parse.h"
#include "lib/base/version.h"
#include "lib/rpc/rpc.h"
#include "lib/svc/auth.h"
#include "lib/svc/flags.h"
#include "lib/svc/log.h"
#include "lib/svc/metrics.h"
#include "lib/svc/run.h"
#include "lib/svc/tokens.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http.h"

static const char usage[] =
        "Usage: ak-gateway --scheduler ADDR (--api-keys F | --no-auth) [--listen HOST:PORT]\n"
        "                  [--scheduler-token-file F] [--any-host] [--tls-cert F --tls-key F]\n"
        "                  [--max-connections N] [--max-active N] [--idle-timeout-s N]\n"
        "                  [--audit-file F] [--peer-tls-ca F [--peer-tls-cert F --peer-tls-key F]]\n"
        "                  [--metrics-listen ADDR]\n"
        "                  [--log-format text|json] [--log-level L]\n"
        "\n"
        "Serves agentkernel 0.18's HTTP API (POST /run, /sandboxes, files, SSE\n"
        "streaming, ...) and calls the scheduler over gRPC for every request.\n"
        "\n"
        "  --scheduler ADDR         the scheduler: host:port or unix:/path\n"
        "  --scheduler-token-file F the gateway's credential for the scheduler (its\n"
        "                           first token). An admin token lets the gateway act\n"
        "                           for the tenants its API keys name.\n"
        "  --peer-tls-ca F          call the scheduler over TLS, verifying it with this CA\n"
        "  --peer-tls-cert F, --peer-tls-key F   presenting this client certificate\n"
        "  --api-keys F             the gateway's own API keys, one a line,\n"
        "                           \"tenant=NAME KEY\" (lib/svc token format, 0600 or\n"
        "                           0400, e.g. a mounted k8s Secret); clients send\n"
        "                           \"Authorization: Bearer KEY\" and act as tenant NAME.\n"
        "                           Keys are compared in constant time and never\n"
        "                           logged. SIGHUP reloads it. (--keys-file: the same)\n"
        "  --no-auth                no API keys: every client is tenant \"default\"\n"
        "  --listen HOST:PORT       default 127.0.0.1:18888 (port 0 picks one); HOST is a\n"
        "                           numeric IPv4 address, [IPV6] ([::1], [::] for every\n"
        "                           address, IPv4 too), localhost, or empty (0.0.0.0);\n"
        "                           host names are not resolved\n"
        "  --any-host               accept any Host/Origin header (behind a TLS ingress);\n"
        "                           by default only localhost hosts and no cross-origin\n"
        "                           browser requests (DNS rebinding)\n"
        "  --tls-cert F, --tls-key F  serve HTTPS: PEM certificate chain and its key\n"
        "  --max-connections N      open connections, idle ones too (default 16384;\n"
        "                           RLIMIT_NOFILE is raised to fit)\n"
        "  --max-active N           requests being answered + SSE streams (default\n"
        "                           1024); past it 503\n"
        "  --idle-timeout-s N       close connections idle this long (default 30)\n"
        "  --audit-file F           the auditor's file destination (agentkernel's\n"
        "                           audit.jsonl), read for GET /audit and\n"
        "                           /sandboxes/{name}/logs; without it they answer 501\n"
        SVC_METRICS_USAGE SVC_LOG_USAGE
        "\n"
        "Prints \"ak-gateway: listening on HOST:PORT\" on stdout once serving.\n"
        "Point an SDK at it: AGENTKERNEL_BASE_URL=http://127.0.0.1:18888\n"
        "AGENTKERNEL_API_KEY=<a key of --keys-file>.\n";

struct flags {
        const char *scheduler, *sched_token, *keys, *listen, *audit_file, *tls_cert, *tls_key, *metrics_listen;
        struct rpc_tls peer;   /* to the scheduler; ca_file NULL: plaintext */
        const char *log_format, *log_level;
        bool no_auth, any_host;
        unsigned max_conn, max_active, idle_s;
};

static int parse_flags(int argc, char **argv, struct flags *f)
{
        enum { SCHED = 256, STOKEN, KEYS, NOAUTH, LISTEN, ANYHOST, MAXC, IDLE, HELP, VERSION, AUDIT, TLSC, TLSK, MAXA,
               PCA, PCERT, PKEY };
        static const struct option opts[] = {
                { "scheduler", required_argument, NULL, SCHED },
                { "scheduler-token-file", required_argument, NULL, STOKEN },
                { "api-keys", required_argument, NULL, KEYS },
                { "keys-file", required_argument, NULL, KEYS },
                { "tls-cert", required_argument, NULL, TLSC },
                { "tls-key", required_argument, NULL, TLSK },
                { "max-active", required_argument, NULL, MAXA },
                { "peer-tls-ca", required_argument, NULL, PCA },
                { "peer-tls-cert", required_argument, NULL, PCERT },
                { "peer-tls-key", required_argument, NULL, PKEY },
                { "no-auth", no_argument, NULL, NOAUTH },
                { "listen", required_argument, NULL, LISTEN },
                { "any-host", no_argument, NULL, ANYHOST },
                { "max-connections", required_argument, NULL, MAXC },
                { "idle-timeout-s", required_argument, NULL, IDLE },
                { "audit-file", required_argument, NULL, AUDIT },
                { "help", no_argument, NULL, HELP },
                { "version", no_argument, NULL, VERSION },
                SVC_METRICS_OPTION,
                SVC_LOG_OPTIONS,
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
                case TLSC: f->tls_cert = optarg; break;
                case TLSK: f->tls_key = optarg; break;
                case PCA: f->peer.ca_file = optarg; break;
                case PCERT: f->peer.cert_file = optarg; break;
                case PKEY: f->peer.key_file = optarg; break;
                case SVC_OPT_METRICS_LISTEN: f->metrics_listen = optarg; break;
                case SVC_OPT_LOG_FORMAT: f->log_format = optarg; break;
                case SVC_OPT_LOG_LEVEL: f->log_level = optarg; break;
                case ANYHOST: f->any_host = true; break;
                case MAXC:
                case MAXA:
                case IDLE:
                        if (ak_parse_u64(optarg, 1, 100000, &v) < 0) {
                                fprintf(stderr, "ak-gateway: --%s: '%s' is not a number from 1 to 100000\n",
                                        c == MAXC ? "max-connections" : c == MAXA ? "max-active" : "idle-timeout-s",
                                        optarg);
                                return -1;
                        }
                        *(c == MAXC ? &f->max_conn : c == MAXA ? &f->max_active : &f->idle_s) = (unsigned)v;
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
                fprintf(stderr, "ak-gateway: give exactly one of --api-keys F and --no-auth\n");
                return -1;
        }
        if (!f->tls_cert != !f->tls_key) {
                fprintf(stderr, "ak-gateway: --tls-cert and --tls-key go together\n");
                return -1;
        }
        if (!f->peer.cert_file != !f->peer.key_file || (f->peer.cert_file && !f->peer.ca_file)) {
                fprintf(stderr, "ak-gateway: --peer-tls-cert and --peer-tls-key go together, with --peer-tls-ca\n");
                return -1;
        }
        struct ak_error err = { 0 };
        if (svc_log_setup("ak-gateway", f->log_format, f->log_level, &err) < 0) {
                fprintf(stderr, "ak-gateway: %s\n", err.msg);
                return -1;
        }
        struct sockaddr_storage sa;
        int any;
        if (ak_listen_addr_parse(f->listen, &sa, &any, &err) < 0) {
                fprintf(stderr, "ak-gateway: --listen: %s\n", err.msg);
                return -1;
        }
        return 0;
}

/* Every connection is an fd: the soft limit goes up to what max_conn needs
 * (plus threads', gRPC's and the listener's), within the hard limit. */
static int raise_nofile(unsigned max_conn)
{
        struct rlimit rl;
        rlim_t want = (rlim_t)max_conn + 1024;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        if (rl.rlim_cur >= want)
                return 0;
        rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        return rl.rlim_cur >= want ? 0 : -EMFILE;
}

/* The PEM files of --tls-cert/--tls-key (at most 1 MiB each). */
static int read_tls(const struct flags *f, char **ret_cert, char **ret_key)
{
        size_t len;
        int r = ak_read_file(f->tls_cert, 1 << 20, ret_cert, &len);
        if (r < 0) {
                SVC_LOG(SVC_LOG_ERROR, "cannot read --tls-cert", SVC_LOG_S("file", f->tls_cert),
                        SVC_LOG_S("error", r == -EFBIG ? "larger than 1 MiB, not a PEM certificate chain"
                                                       : strerror(-r)));
                return r;
        }
        r = ak_read_file(f->tls_key, 1 << 20, ret_key, &len);
        if (r < 0)
                SVC_LOG(SVC_LOG_ERROR, "cannot read --tls-key", SVC_LOG_S("file", f->tls_key),
                        SVC_LOG_S("error", r == -EFBIG ? "larger than 1 MiB, not a PEM key" : strerror(-r)));
        return r;
}

struct app {
        struct gw_http *http;
        struct metrics_http *metrics;
};

static void on_stop(void *data, int sig)
{
        struct app *a = data;
        SVC_LOG(SVC_LOG_INFO, "stopping", SVC_LOG_S("signal", strsignal(sig)));
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
        char *token = NULL, *cert = NULL, *key = NULL;
        int rc = 1;

        if (parse_flags(argc, argv, &f) < 0) {
                fputs("Try 'ak-gateway --help'.\n", stderr);
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        if (svc_signals_block(SVC_STARTING_HOLD_STOP) < 0) {
                svc_log(SVC_LOG_ERROR, "cannot block SIGINT, SIGTERM and SIGHUP", NULL, 0);
                return 1;
        }
        unsigned max_conn = f.max_conn ? f.max_conn : 16384;
        if (raise_nofile(max_conn) < 0)
                SVC_LOG(SVC_LOG_WARN,
                        "cannot raise the open-file limit for --max-connections; past the limit connections are "
                        "refused (raise ulimit -Hn)",
                        SVC_LOG_I("want_nofile", max_conn + 1024), SVC_LOG_I("max_connections", max_conn));
        if (f.tls_cert && read_tls(&f, &cert, &key) < 0)
                goto out;
        if (f.keys && svc_auth_load(f.keys, "gateway", &keys, &err) < 0) {
                SVC_LOG(SVC_LOG_ERROR, "cannot load --api-keys", SVC_LOG_S("error", err.msg));
                goto out;
        }
        if (f.sched_token && tokens_load_first(f.sched_token, &token, &err) < 0) {
                SVC_LOG(SVC_LOG_ERROR, "cannot load --scheduler-token-file", SVC_LOG_S("error", err.msg));
                goto out;
        }
        if (rpc_channel_new(f.scheduler, f.peer.ca_file ? &f.peer : NULL, &ch, &err) < 0 ||
            (token && rpc_channel_set_bearer_token(ch, token) < 0) ||
            rpc_channel_set_failover(ch, &(struct rpc_failover){ 0 }) < 0) {
                SVC_LOG(SVC_LOG_ERROR, "cannot reach the scheduler", SVC_LOG_S("scheduler", f.scheduler),
                        SVC_LOG_S("error", err.msg));
                goto out;
        }
        struct gateway_config gc = { .scheduler = ch, .audit_file = f.audit_file };
        if (gateway_new(&gc, &g) < 0) {
                svc_log(SVC_LOG_ERROR, "out of memory", NULL, 0);
                goto out;
        }
        struct gw_http_config hc = { .gateway = g, .keys = keys, .listen = f.listen,
                                     .any_host = f.any_host, .max_connections = max_conn,
                                     .max_active = f.max_active, .idle_timeout_s = f.idle_s,
                                     .tls_cert_pem = cert, .tls_key_pem = key };
        if (gw_http_start(&hc, &app.http, &err) < 0 ||
            svc_metrics_start(f.metrics_listen, "ak-gateway", &app.metrics, &err) < 0) {
                svc_log(SVC_LOG_ERROR, err.msg, NULL, 0);
                goto out;
        }
        if (key) {
                explicit_bzero(key, strlen(key));
                free(key);
                key = NULL;
        }
        /* --listen with the port it got: "[::1]:0" -> "[::1]:40123", ":0" -> "0.0.0.0:40123". */
        int host_len = (int)(strrchr(f.listen, ':') - f.listen);
        printf("ak-gateway: listening on %.*s:%u%s\n", host_len ? host_len : 7, host_len ? f.listen : "0.0.0.0",
               gw_http_port(app.http), cert ? " (TLS)" : "");
        fflush(stdout);
        struct svc_loop loop = { .data = &app, .name = "ak-gateway", .stop = on_stop, .reload_data = keys };
        svc_run(&loop);
        rc = 0;
out:
        gw_http_stop(app.http);
        metrics_http_stop(app.metrics);
        gateway_free(g);
        rpc_channel_free(ch);
        svc_auth_free(keys);
        free(cert);
        if (key) {
                explicit_bzero(key, strlen(key));
                free(key);
        }
        if (token) {
                explicit_bzero(token, strlen(token));
                free(token);
        }
        return rc;
}
