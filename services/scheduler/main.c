/* ak-scheduler: the front door. Flags, wiring, signals; the work is in the
 * library (service.h, registry.h, placement.h, forward.h). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/base/version.h"
#include "lib/rpc/rpc.h"
#include "lib/svc/auth.h"
#include "lib/svc/flags.h"
#include "lib/svc/tokens.h"
#include "services/scheduler/service.h"

#define SHUTDOWN_GRACE_MS 3000

static const char usage[] =
        "Usage: ak-scheduler --listen ADDR [--token-file F]\n"
        "                    [--tls-cert F --tls-key F [--tls-ca F [--tls-require-client-cert]]]\n"
        "                    [--heartbeat-interval-ms N] [--lost-after-ms N] [--forget-after-ms N]\n"
        "                    [--max-executors N] [--max-calls N]\n"
        "                    [--executor-token-file F] [--executor-tls-ca F\n"
        "                     [--executor-tls-cert F --executor-tls-key F] [--executor-tls-name NAME]]\n"
        "\n"
        "The front door of ak (gRPC ak.v1.Scheduler): executors register and\n"
        "heartbeat here; clients create sandboxes, which are placed on an executor\n"
        "(free vCPU/memory, node_selector labels, image; warm pool first, then a\n"
        "cached image, then the least loaded), and every later call about a sandbox\n"
        "is forwarded to the executor that owns it, streams message by message.\n"
        "All state is soft: after a restart it comes back from heartbeats.\n"
        "\n"
        "  --listen ADDR               host:port or unix:/path (e.g. 0.0.0.0:7700)\n"
        SVC_SERVER_USAGE
        "                              (executors register with a token too)\n"
        "  --heartbeat-interval-ms N   what executors are told (default 2000)\n"
        "  --lost-after-ms N           no heartbeat this long: lost (default 3 intervals)\n"
        "  --forget-after-ms N         lost this long: dropped (default 600000; 0 never)\n"
        "  --max-executors N           registry limit (default 65536)\n"
        "  --max-calls N               calls served at once, streams included; more\n"
        "                              wait for a free slot (default 1024)\n"
        "  --executor-token-file F     bearer token (first line) sent to executors\n"
        "  --executor-tls-ca F         call executors over TLS, verified with this CA;\n"
        "  --executor-tls-cert F, --executor-tls-key F   with this client certificate;\n"
        "  --executor-tls-name NAME    expecting this name in their certificates\n"
        "\n"
        "Examples:\n"
        "  ak-scheduler --listen 127.0.0.1:7700\n"
        "  openssl rand -hex 32 > tokens && chmod 600 tokens\n"
        "  ak-scheduler --listen 0.0.0.0:7700 --token-file tokens \\\n"
        "      --tls-cert sched.pem --tls-key sched.key --tls-ca ca.pem --tls-require-client-cert\n";

static void log_line(void *data, const char *line)
{
        (void)data;
        struct timespec ts;
        struct tm tm;
        char when[32];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(stderr, "%s.%03ldZ ak-scheduler: %s\n", when, ts.tv_nsec / 1000000, line);
}

static int parse_uint(const char *flag, const char *s, unsigned long min, unsigned long max,
                    uint32_t *ret)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || *s == '-' || v < min || v > max) {
                fprintf(stderr, "ak-scheduler: %s %s: want a whole number from %lu to %lu\n", flag, s,
                        min, max);
                return -1;
        }
        *ret = (uint32_t)v;
        return 0;
}

enum {
        OPT_LISTEN = 1000, OPT_HEARTBEAT, OPT_LOST, OPT_FORGET, OPT_MAX_EXECUTORS, OPT_MAX_CALLS, OPT_EXEC_TOKEN, OPT_EXEC_CA,
        OPT_EXEC_CERT, OPT_EXEC_KEY, OPT_EXEC_NAME, OPT_HELP, OPT_VERSION,
};

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "listen", required_argument, NULL, OPT_LISTEN },
                SVC_SERVER_OPTIONS,
                { "heartbeat-interval-ms", required_argument, NULL, OPT_HEARTBEAT },
                { "lost-after-ms", required_argument, NULL, OPT_LOST },
                { "forget-after-ms", required_argument, NULL, OPT_FORGET },
                { "max-executors", required_argument, NULL, OPT_MAX_EXECUTORS },
                { "max-calls", required_argument, NULL, OPT_MAX_CALLS },
                { "executor-token-file", required_argument, NULL, OPT_EXEC_TOKEN },
                { "executor-tls-ca", required_argument, NULL, OPT_EXEC_CA },
                { "executor-tls-cert", required_argument, NULL, OPT_EXEC_CERT },
                { "executor-tls-key", required_argument, NULL, OPT_EXEC_KEY },
                { "executor-tls-name", required_argument, NULL, OPT_EXEC_NAME },
                { "help", no_argument, NULL, OPT_HELP },
                { "version", no_argument, NULL, OPT_VERSION },
                { 0 },
        };
        const char *listen = NULL, *exec_token_file = NULL;
        struct svc_flags sf = { 0 };
        struct rpc_tls exec_tls = { 0 };
        uint32_t max_executors = 65536, forget_ms = 600000, max_calls = 1024;
        struct scheduler_config cfg = { .log = log_line };
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                int bad = 0;
                if (svc_flags_take(&sf, c, optarg))
                        continue;
                switch (c) {
                case OPT_LISTEN: listen = optarg; break;
                case OPT_HEARTBEAT:
                        bad = parse_uint("--heartbeat-interval-ms", optarg, 50, 600000,
                                       &cfg.registry.heartbeat_interval_ms);
                        break;
                case OPT_LOST:
                        bad = parse_uint("--lost-after-ms", optarg, 100, 3600000, &cfg.registry.lost_after_ms);
                        break;
                case OPT_FORGET:
                        bad = parse_uint("--forget-after-ms", optarg, 0, 86400000, &forget_ms);
                        break;
                case OPT_MAX_EXECUTORS:
                        bad = parse_uint("--max-executors", optarg, 1, 1000000, &max_executors);
                        break;
                case OPT_MAX_CALLS:
                        bad = parse_uint("--max-calls", optarg, 4, 65536, &max_calls);
                        break;
                case OPT_EXEC_TOKEN: exec_token_file = optarg; break;
                case OPT_EXEC_CA: exec_tls.ca_file = optarg; break;
                case OPT_EXEC_CERT: exec_tls.cert_file = optarg; break;
                case OPT_EXEC_KEY: exec_tls.key_file = optarg; break;
                case OPT_EXEC_NAME: exec_tls.server_name = optarg; break;
                case OPT_HELP: fputs(usage, stdout); return 0;
                case OPT_VERSION: printf("ak-scheduler %s\n", AK_VERSION); return 0;
                default: fputs(usage, stderr); return 2;
                }
                if (bad)
                        return 2;
        }
        const char *problem = NULL;
        if (optind < argc)
                problem = "unexpected argument";
        else if (!listen)
                problem = "--listen is required";
        else if ((problem = svc_flags_problem(&sf)))
                ;
        else if (!exec_tls.cert_file != !exec_tls.key_file)
                problem = "--executor-tls-cert and --executor-tls-key go together";
        else if ((exec_tls.cert_file || exec_tls.server_name) && !exec_tls.ca_file)
                problem = "--executor-tls-cert/-key/-name need --executor-tls-ca";
        if (problem) {
                fprintf(stderr, "ak-scheduler: %s\n\n%s", problem, usage);
                return 2;
        }
        uint32_t interval = cfg.registry.heartbeat_interval_ms ? cfg.registry.heartbeat_interval_ms : 2000;
        if (cfg.registry.lost_after_ms && cfg.registry.lost_after_ms <= interval) {
                fprintf(stderr, "ak-scheduler: --lost-after-ms %u must be longer than the heartbeat "
                                "interval (%u ms), or every executor is lost between two heartbeats\n",
                        cfg.registry.lost_after_ms, interval);
                return 2;
        }
        cfg.registry.forget_after_ms = forget_ms;
        cfg.registry.max_executors = max_executors;

        sigset_t sigs;
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);

        struct svc_auth *auth = NULL;
        char *exec_token = NULL;
        struct scheduler *sched = NULL;
        struct rpc_server *srv = NULL, *health = NULL;
        struct ak_error err;
        int port = 0, rc = 1;
        if (sf.token_file && svc_auth_load(sf.token_file, "scheduler", &auth, &err) < 0)
                goto fail;
        if (exec_token_file && tokens_load_first(exec_token_file, &exec_token, &err) < 0)
                goto fail;
        cfg.auth = auth;
        cfg.forward.tls = exec_tls.ca_file ? &exec_tls : NULL;
        cfg.forward.token = exec_token;
        if (scheduler_new(&cfg, &sched, &err) < 0)
                goto fail;
        /* Every forwarded stream holds a call for its whole life. */
        struct rpc_server_options sopts = { .max_workers = max_calls, .authorize = scheduler_authorize,
                                            .authorize_data = sched };
        if (rpc_server_new(&sopts, &srv, &err) < 0 ||
            rpc_server_listen(srv, listen, svc_flags_server_tls(&sf), &port, &err) < 0 ||
            scheduler_add_service(sched, srv, &err) < 0 || rpc_server_start(srv, &err) < 0 ||
            svc_health_start(&sf, &health, &err) < 0)
                goto fail;
        {
                char where[32] = "", line[768];
                if (port)
                        snprintf(where, sizeof(where), " (port %d)", port);
                snprintf(line, sizeof(line), "listening on %s%s: %s, %s, heartbeat every %u ms, lost after %u ms",
                         listen, where, svc_flags_describe(&sf),
                         auth ? "bearer tokens" : "no client authentication", interval,
                         cfg.registry.lost_after_ms ? cfg.registry.lost_after_ms : 3 * interval);
                log_line(NULL, line);
        }

        int sig;
        for (;;) {
                if (sigwait(&sigs, &sig) != 0)
                        continue;
                if (sig == SIGINT || sig == SIGTERM)
                        break;
                char line[1024] = "SIGHUP: no --token-file to reload";
                if (auth)
                        svc_auth_reload_line(auth, line, sizeof(line));
                log_line(NULL, line);
        }
        {
                char line[64];
                snprintf(line, sizeof(line), "%s: shutting down", strsignal(sig));
                log_line(NULL, line);
        }
        rc = 0;
        goto out;
fail:
        fprintf(stderr, "ak-scheduler: %s\n", err.msg);
out:
        rpc_server_shutdown(health, 0);
        rpc_server_shutdown(srv, SHUTDOWN_GRACE_MS);
        scheduler_free(sched);
        svc_auth_free(auth);
        if (exec_token)
                explicit_bzero(exec_token, strlen(exec_token));
        free(exec_token);
        return rc;
}
