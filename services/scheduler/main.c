/* ak-scheduler: the front door. Flags, wiring, signals; the work is in the
 * library (service.h, registry.h, placement.h, forward.h). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/parse.h"
#include "lib/base/version.h"
#include "lib/rpc/rpc.h"
#include "lib/svc/auth.h"
#include "lib/svc/flags.h"
#include "lib/svc/log.h"
#include "lib/svc/metrics.h"
#include "lib/svc/run.h"
#include "lib/svc/tokens.h"
#include "services/scheduler/admission.h"
#include "services/scheduler/leader.h"
#include "services/scheduler/service.h"

#define SHUTDOWN_GRACE_MS 3000

static const char usage[] =
        "Usage: ak-scheduler --listen ADDR [--token-file F]\n"
        "                    [--tls-cert F --tls-key F [--tls-ca F]]\n"
        "                    [--heartbeat-interval-ms N] [--lost-after-ms N] [--forget-after-ms N]\n"
        "                    [--max-executors N] [--queue-max N] [--max-calls N] [--insecure]\n"
        "                    [--registration-token-file F] [--executor-cn CN]... [--admin-cn CN]...\n"
        "                    [--tenant-quota TENANT:sandboxes=N,vcpus=N,memory-mb=N]...\n"
        "                    [--executor-token-file F] [--executor-tls-ca F\n"
        "                     [--executor-tls-cert F --executor-tls-key F] [--executor-tls-name NAME]]\n"
        "                    [--leader-elect [--lease-name N] [--lease-namespace NS] [--lease-duration-s N]\n"
        "                     [--lease-identity ID] [--api-server URL] [--api-token-file F] [--api-ca-file F]]\n"
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
        "                              Clients' tokens: a line [tenant=NAME] [admin] TOKEN\n"
        "                              acts for tenant NAME (\"default\" when none); admin\n"
        "                              sees every tenant's sandboxes. Without --token-file,\n"
        "                              --tls-ca makes a client certificate's CN the tenant\n"
        "  --registration-token-file F executors' tokens (RegisterExecutor, Heartbeat; a\n"
        "                              client's token never works there): a line\n"
        "                              [executor=NAME] TOKEN; an executor_id is bound to the\n"
        "                              token (NAME) that registered it first. SIGHUP rereads\n"
        "  --executor-cn CN            a client certificate with this CN is an executor\n"
        "                              (repeatable; identity cert/CN)\n"
        "  --admin-cn CN               a client certificate with this CN is an admin\n"
        "  --tenant-quota Q            TENANT:sandboxes=N,vcpus=N,memory-mb=N (any of the\n"
        "                              three; TENANT * is every tenant without its own);\n"
        "                              past one, CreateSandbox/Run fail RESOURCE_EXHAUSTED\n"
        "  --heartbeat-interval-ms N   what executors are told (default 2000)\n"
        "  --lost-after-ms N           no heartbeat this long: lost (default 3 intervals)\n"
        "  --forget-after-ms N         lost this long: dropped (default 600000; 0 never)\n"
        "  --max-executors N           registry limit (default 65536)\n"
        "  --queue-max N               creates and runs that fit no executor yet wait, fair\n"
        "                              between tenants, until capacity frees or their deadline\n"
        "                              passes (default 256 at once; 0: refuse at once). Past\n"
        "                              N, or when no executor could ever hold one, they fail\n"
        "                              RESOURCE_EXHAUSTED\n"
        "  --executor-token-file F     bearer token (first line) sent to executors\n"
        "  --executor-tls-ca F         call executors over TLS, verified with this CA;\n"
        "  --executor-tls-cert F, --executor-tls-key F   with this client certificate;\n"
        "  --executor-tls-name NAME    expecting this name in their certificates\n"
        LEADER_USAGE
        "\n"
        "Examples:\n"
        "  ak-scheduler --listen unix:/run/ak/scheduler.sock\n"
        "  ak-scheduler --listen 127.0.0.1:7700 --insecure      (no authentication)\n"
        "  openssl rand -hex 32 > tokens && chmod 600 tokens\n"
        "  ak-scheduler --listen 0.0.0.0:7700 --token-file tokens \\\n"
        "      --tls-cert sched.pem --tls-key sched.key --tls-ca ca.pem\n";

/* ak_parse_uint with the error message for flag. */
static int flag_uint(const char *flag, const char *s, unsigned min, unsigned max, uint32_t *ret)
{
        if (ak_parse_uint(s, min, max, ret) < 0) {
                fprintf(stderr, "ak-scheduler: %s %s: want a whole number from %u to %u\n", flag, s, min, max);
                return -1;
        }
        return 0;
}

enum {
        OPT_LISTEN = 1000, OPT_HEARTBEAT, OPT_LOST, OPT_FORGET, OPT_MAX_EXECUTORS, OPT_EXEC_TOKEN, OPT_EXEC_CA,
        OPT_EXEC_CERT, OPT_EXEC_KEY, OPT_EXEC_NAME, OPT_HELP, OPT_VERSION, OPT_REG_TOKEN, OPT_EXEC_CN, OPT_ADMIN_CN,
        OPT_QUOTA, OPT_QUEUE_MAX,
};

#define MAX_CNS 64

struct flags {
        const char *listen;
        const char *exec_token_file;
        const char *reg_token_file;
        const char *exec_cns[MAX_CNS], *admin_cns[MAX_CNS];
        size_t n_exec_cns, n_admin_cns;
        struct svc_flags sf;
        struct rpc_tls exec_tls;
        struct scheduler_config cfg;
        struct leader_flags leader;
};

static uint32_t heartbeat_interval(const struct registry_config *rc)
{
        return rc->heartbeat_interval_ms ? rc->heartbeat_interval_ms : 2000;
}

/* 0: serve; 1: done (--help, --version); -1: bad usage, said on stderr. */
static int parse_flags(int argc, char **argv, struct flags *f)
{
        static const struct option opts[] = {
                { "listen", required_argument, NULL, OPT_LISTEN },
                SVC_SERVER_OPTIONS,
                { "heartbeat-interval-ms", required_argument, NULL, OPT_HEARTBEAT },
                { "lost-after-ms", required_argument, NULL, OPT_LOST },
                { "forget-after-ms", required_argument, NULL, OPT_FORGET },
                { "max-executors", required_argument, NULL, OPT_MAX_EXECUTORS },
                { "queue-max", required_argument, NULL, OPT_QUEUE_MAX },
                { "executor-token-file", required_argument, NULL, OPT_EXEC_TOKEN },
                { "executor-tls-ca", required_argument, NULL, OPT_EXEC_CA },
                { "executor-tls-cert", required_argument, NULL, OPT_EXEC_CERT },
                { "executor-tls-key", required_argument, NULL, OPT_EXEC_KEY },
                { "executor-tls-name", required_argument, NULL, OPT_EXEC_NAME },
                { "registration-token-file", required_argument, NULL, OPT_REG_TOKEN },
                { "executor-cn", required_argument, NULL, OPT_EXEC_CN },
                { "admin-cn", required_argument, NULL, OPT_ADMIN_CN },
                { "tenant-quota", required_argument, NULL, OPT_QUOTA },
                LEADER_OPTIONS,
                { "help", no_argument, NULL, OPT_HELP },
                { "version", no_argument, NULL, OPT_VERSION },
                { 0 },
        };
        struct registry_config *rc = &f->cfg.registry;
        struct rpc_tls *exec_tls = &f->exec_tls;
        uint32_t max_executors = 65536, forget_ms = 600000, queue_max = 256;
        int c;

        /* Every forwarded stream holds a call for its whole life. */
        f->sf.limits.max_calls = 1024;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                int bad = 0;
                if (svc_flags_take(&f->sf, c, optarg))
                        continue;
                struct ak_error lerr;
                int taken = leader_flags_take(&f->leader, c, optarg, &lerr);
                if (taken < 0) {
                        fprintf(stderr, "ak-scheduler: %s\n", lerr.msg);
                        return -1;
                }
                if (taken)
                        continue;
                switch (c) {
                case OPT_LISTEN: f->listen = optarg; break;
                case OPT_HEARTBEAT:
                        bad = flag_uint("--heartbeat-interval-ms", optarg, 50, 600000,
                                       &rc->heartbeat_interval_ms);
                        break;
                case OPT_LOST:
                        bad = flag_uint("--lost-after-ms", optarg, 100, 3600000, &rc->lost_after_ms);
                        break;
                case OPT_FORGET:
                        bad = flag_uint("--forget-after-ms", optarg, 0, 86400000, &forget_ms);
                        break;
                case OPT_MAX_EXECUTORS:
                        bad = flag_uint("--max-executors", optarg, 1, 1000000, &max_executors);
                        break;
                case OPT_QUEUE_MAX:
                        bad = flag_uint("--queue-max", optarg, 0, ADMISSION_MAX_WAITING, &queue_max);
                        break;
                case OPT_EXEC_TOKEN: f->exec_token_file = optarg; break;
                case OPT_EXEC_CA: exec_tls->ca_file = optarg; break;
                case OPT_EXEC_CERT: exec_tls->cert_file = optarg; break;
                case OPT_EXEC_KEY: exec_tls->key_file = optarg; break;
                case OPT_EXEC_NAME: exec_tls->server_name = optarg; break;
                case OPT_REG_TOKEN: f->reg_token_file = optarg; break;
                case OPT_EXEC_CN:
                case OPT_ADMIN_CN: {
                        bool ex = c == OPT_EXEC_CN;
                        size_t *n = ex ? &f->n_exec_cns : &f->n_admin_cns;
                        if (*n == MAX_CNS || !*optarg) {
                                fprintf(stderr, "ak-scheduler: --%s: want a non-empty CN, at most %d of them\n",
                                        ex ? "executor-cn" : "admin-cn", MAX_CNS);
                                return -1;
                        }
                        (ex ? f->exec_cns : f->admin_cns)[(*n)++] = optarg;
                        break;
                }
                case OPT_QUOTA: {
                        struct ak_error qerr;
                        if (quota_add(&f->cfg.quotas, optarg, &qerr) < 0) {
                                fprintf(stderr, "ak-scheduler: --tenant-quota %s\n", qerr.msg);
                                return -1;
                        }
                        break;
                }
                case OPT_HELP: fputs(usage, stdout); return 1;
                case OPT_VERSION: printf("ak-scheduler %s\n", AK_VERSION); return 1;
                default: fputs(usage, stderr); return -1;
                }
                if (bad)
                        return -1;
        }
        const char *problem = NULL;
        if (optind < argc)
                problem = "unexpected argument";
        else if (!f->listen)
                problem = "--listen is required";
        else if ((problem = svc_flags_problem(&f->sf)))
                ;
        else if ((problem = leader_flags_problem(&f->leader)))
                ;
        else if (!exec_tls->cert_file != !exec_tls->key_file)
                problem = "--executor-tls-cert and --executor-tls-key go together";
        else if ((exec_tls->cert_file || exec_tls->server_name) && !exec_tls->ca_file)
                problem = "--executor-tls-cert/-key/-name need --executor-tls-ca";
        if (problem) {
                fprintf(stderr, "ak-scheduler: %s\n\n%s", problem, usage);
                return -1;
        }
        char why[512];
        if (svc_flags_check_listen(&f->sf, "ak-scheduler", f->listen, why, sizeof(why)) < 0) {
                fprintf(stderr, "ak-scheduler: %s\n", why);
                return -1;
        }
        uint32_t interval = heartbeat_interval(rc);
        if (rc->lost_after_ms && rc->lost_after_ms <= interval) {
                fprintf(stderr, "ak-scheduler: --lost-after-ms %u must be longer than the heartbeat "
                                "interval (%u ms), or every executor is lost between two heartbeats\n",
                        rc->lost_after_ms, interval);
                return -1;
        }
        rc->forget_after_ms = forget_ms;
        rc->max_executors = max_executors;
        f->cfg.queue_max = queue_max;
        return 0;
}

/* What serve builds: on_stop drains the servers, serve frees the rest. */
struct scheduler_main {
        struct svc_auth *auth, *reg_auth;
        char *exec_token;
        struct scheduler *sched;
        struct rpc_server *srv, *health;
        struct metrics_http *metrics;
        struct leader *leader; /* --leader-elect */
};

static void on_stop(void *data, int sig)
{
        struct scheduler_main *m = data;

        SVC_LOG(SVC_LOG_INFO, "shutting down", SVC_LOG_S("signal", strsignal(sig)));
        leader_stop(m->leader);
        rpc_server_shutdown(m->health, 0);
        rpc_server_shutdown(m->srv, SHUTDOWN_GRACE_MS);
        m->health = m->srv = NULL;
}

/* SIGHUP: both token files, one line (the clients' last). */
static void reload(void *data, char *line, size_t size)
{
        struct scheduler_main *m = data;
        char a[512], b[512];
        svc_run_reload_auth(m->auth, a, sizeof(a));
        if (!m->reg_auth) {
                snprintf(line, size, "%s", a);
                return;
        }
        svc_auth_reload_line(m->reg_auth, b, sizeof(b));
        snprintf(line, size, "%s; %s", b, a);
}

/* "listening on ADDR" with the port it got: what tests and ak up wait for. */
static void log_listening(const struct flags *f, int port, bool auth)
{
        uint32_t interval = heartbeat_interval(&f->cfg.registry);
        char msg[320], sec[256];
        const char *security = sec;

        svc_flags_listening(&f->sf, f->listen, port, auth, msg, sizeof(msg), sec, sizeof(sec));
        SVC_LOG(SVC_LOG_INFO, msg, SVC_LOG_S("listen", f->listen), SVC_LOG_I("port", port),
                SVC_LOG_S("security", security), SVC_LOG_I("heartbeat_ms", interval),
                SVC_LOG_I("lost_after_ms", f->cfg.registry.lost_after_ms ? f->cfg.registry.lost_after_ms
                                                                         : 3 * interval));
}

static int serve(struct flags *f)
{
        struct scheduler_main m = { 0 };
        struct ak_error err;
        int port = 0, rc = 1;

        if (f->sf.token_file && svc_auth_load(f->sf.token_file, "scheduler", &m.auth, &err) < 0)
                goto fail;
        if (f->reg_token_file && svc_auth_load(f->reg_token_file, "scheduler", &m.reg_auth, &err) < 0)
                goto fail;
        if (f->exec_token_file && tokens_load_first(f->exec_token_file, &m.exec_token, &err) < 0)
                goto fail;
        struct caller_config *cc = &f->cfg.callers;
        cc->clients = m.auth;
        cc->executors = m.reg_auth;
        cc->client_certs = f->sf.tls.ca_file != NULL;
        cc->executor_cns = f->exec_cns;
        cc->n_executor_cns = f->n_exec_cns;
        cc->admin_cns = f->admin_cns;
        cc->n_admin_cns = f->n_admin_cns;
        const char *problem = caller_check(cc);
        if (problem) {
                ak_error_set(&err, -EINVAL, "%s", problem);
                goto fail;
        }
        f->cfg.forward.tls = f->exec_tls.ca_file ? &f->exec_tls : NULL;
        f->cfg.forward.token = m.exec_token;
        if (scheduler_new(&f->cfg, &m.sched, &err) < 0)
                goto fail;
        struct rpc_server_options sopts;
        svc_flags_server_options(&f->sf, &sopts);
        sopts.authorize = scheduler_authorize;
        sopts.authorize_data = m.sched;
        if (f->leader.elect) {
                /* A new leader waits this long for executors to register again. */
                f->leader.warmup_ms = heartbeat_interval(&f->cfg.registry) + RPC_FAILOVER_DEFAULT_MAX_BACKOFF_MS;
                if (leader_new(&f->leader, scheduler_authorize, m.sched, svc_log_line, &m.leader, &err) < 0)
                        goto fail;
                sopts.authorize = leader_authorize;
                sopts.authorize_data = m.leader;
        }
        if (rpc_server_new(&sopts, &m.srv, &err) < 0)
                goto fail;
        /* A replica is NOT_SERVING from its first call until its elector
         * says it leads: never briefly ready beside the leader. */
        if (m.leader)
                rpc_server_set_serving(m.srv, false);
        if (rpc_server_listen(m.srv, f->listen, svc_flags_server_tls(&f->sf), &port, &err) < 0 ||
            scheduler_add_service(m.sched, m.srv, &err) < 0 || rpc_server_start(m.srv, &err) < 0 ||
            svc_health_start(&f->sf, !m.leader, &m.health, &err) < 0 ||
            svc_metrics_start(f->sf.metrics_listen, "ak-scheduler", &m.metrics, &err) < 0 ||
            (m.leader && leader_start(m.leader, m.srv, m.health, &err) < 0))
                goto fail;
        log_listening(f, port, m.auth != NULL);

        struct svc_loop loop = { .data = &m, .name = "ak-scheduler", .reload = reload, .reload_data = &m,
                                 .stop = on_stop };
        rc = svc_run(&loop) < 0 ? 1 : 0;
        goto out;
fail:
        svc_log(SVC_LOG_ERROR, err.msg, NULL, 0);
out:
        leader_stop(m.leader);
        rpc_server_shutdown(m.health, 0);
        rpc_server_shutdown(m.srv, SHUTDOWN_GRACE_MS);
        metrics_http_stop(m.metrics);
        leader_free(m.leader);
        scheduler_free(m.sched);
        svc_auth_free(m.auth);
        svc_auth_free(m.reg_auth);
        if (m.exec_token)
                explicit_bzero(m.exec_token, strlen(m.exec_token));
        free(m.exec_token);
        return rc;
}

int main(int argc, char **argv)
{
        struct flags f = { 0 };
        int r = parse_flags(argc, argv, &f);

        if (r != 0)
                return r < 0 ? 2 : 0;
        /* Checked by svc_flags_problem: cannot fail here. */
        svc_log_setup("ak-scheduler", f.sf.log_format, f.sf.log_level, NULL);
        /* Before any thread: every thread inherits the mask (lib/svc/run.h). */
        if (svc_signals_block(SVC_STARTING_HOLD_STOP) < 0) {
                svc_log(SVC_LOG_ERROR, "cannot block SIGINT, SIGTERM and SIGHUP", NULL, 0);
                return 1;
        }
        signal(SIGPIPE, SIG_IGN);
        return serve(&f);
}
