/* ak-auditor: the auditor service. Flags, wiring, signals; the work is in
 * the library (auditor.h, server.h). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/version.h"
#include "lib/rpc/rpc.h"
#include "lib/svc/auth.h"
#include "lib/svc/flags.h"
#include "lib/svc/log.h"
#include "lib/svc/metrics.h"
#include "lib/svc/run.h"
#include "lib/svc/tokens.h"
#include "services/auditor/auditor.h"
#include "services/auditor/config.h"
#include "services/auditor/server.h"

#define SHUTDOWN_GRACE_MS 5000
#define STATUS_LOG_SECS 5

static const char usage[] =
        "Usage: ak-auditor --listen ADDR --config FILE --spool DIR [--token-file F]\n"
        "                  [--tls-cert F --tls-key F [--tls-ca F]] [--insecure]\n"
        "\n"
        "Accepts audit events over gRPC (ak.v1.Auditor), stores them durably in\n"
        "the spool before acknowledging, and delivers them to the destinations of\n"
        "FILE (agentkernel's AuditStreamConfig JSON).\n"
        "\n"
        "  --listen ADDR   host:port or unix:/path (e.g. 127.0.0.1:7733)\n"
        "  --config FILE   destinations, batching, retries, spool limits\n"
        "  --spool DIR     where events wait for delivery (created if missing)\n"
        "  --webhook-token-file F   the bearer token every http_webhook destination\n"
        "                  sends (Authorization: Bearer, the file's first token), kept\n"
        "                  out of the config (on Kubernetes: a Secret, the config a\n"
        "                  ConfigMap); a destination with its own authorization is an\n"
        "                  error. Read at start\n"
        SVC_SERVER_USAGE
        "\n"
        "SIGINT/SIGTERM: finish calls in flight (5 s at most), then exit. SIGHUP:\n"
        "read --token-file again.\n"
        "\n"
        "Example:\n"
        "  echo '{\"destination\":{\"type\":\"file\",\"path\":\"/var/log/ak/audit.jsonl\"}}' > audit.json\n"
        "  ak-auditor --listen unix:/run/ak/auditor.sock --config audit.json --spool /var/lib/ak/auditor\n"
        "  ak-auditor --listen 0.0.0.0:7441 --config audit.json --spool /var/lib/ak/auditor \\\n"
        "      --token-file tokens --tls-cert a.pem --tls-key a.key --tls-ca ca.pem\n";

struct flags {
        const char *listen;
        const char *config_path;
        const char *spool_dir;
        const char *webhook_token_file;
        struct svc_flags sf;
};

/* 0: serve; 1: done (--help, --version); -1: bad usage, said on stderr. */
static int parse_flags(int argc, char **argv, struct flags *f)
{
        static const struct option opts[] = {
                { "listen", required_argument, NULL, 'l' }, { "config", required_argument, NULL, 'c' },
                { "spool", required_argument, NULL, 's' },  { "help", no_argument, NULL, 'h' },
                { "webhook-token-file", required_argument, NULL, 'w' },
                { "version", no_argument, NULL, 'V' },      SVC_SERVER_OPTIONS,
                { 0 },
        };
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (svc_flags_take(&f->sf, c, optarg))
                        continue;
                switch (c) {
                case 'l':
                        f->listen = optarg;
                        break;
                case 'c':
                        f->config_path = optarg;
                        break;
                case 's':
                        f->spool_dir = optarg;
                        break;
                case 'w':
                        f->webhook_token_file = optarg;
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 1;
                case 'V':
                        printf("ak-auditor %s\n", AK_VERSION);
                        return 1;
                default:
                        fputs(usage, stderr);
                        return -1;
                }
        }
        const char *problem = svc_flags_problem(&f->sf);
        if (optind < argc)
                problem = "unexpected argument";
        else if (!f->listen || !f->config_path || !f->spool_dir)
                problem = "--listen, --config and --spool are required";
        if (problem) {
                fprintf(stderr, "ak-auditor: %s\n\n%s", problem, usage);
                return -1;
        }
        char why[512];
        if (svc_flags_check_listen(&f->sf, "ak-auditor", f->listen, why, sizeof(why)) < 0) {
                fprintf(stderr, "ak-auditor: %s\n", why);
                return -1;
        }
        return 0;
}

/* What serve builds. The loop's callbacks run on main's thread. */
struct auditor_main {
        struct svc_auth *auth;
        struct auditor *a;
        struct rpc_server *srv, *health;
        struct metrics_http *metrics;
        /* Each destination's last error as last logged ("" or NULL: none). */
        char **last;
        size_t n_dests;
        bool broken;   /* the spool refuses appends: NOT_SERVING */
};

/* "listening on ADDR" with the port it got: what tests wait for. */
static void log_listening(const struct flags *f, struct auditor_main *m, int port)
{
        struct auditor_status st;
        char msg[320], sec[256];
        const char *security = sec;

        if (auditor_status(m->a, &st) < 0)
                return;
        svc_flags_listening(&f->sf, f->listen, port, m->auth, msg, sizeof(msg), sec, sizeof(sec));
        SVC_LOG(SVC_LOG_INFO, msg, SVC_LOG_S("listen", f->listen), SVC_LOG_I("port", port),
                SVC_LOG_S("security", security), SVC_LOG_S("spool", f->spool_dir),
                SVC_LOG_I("first_event", st.spool.oldest_position), SVC_LOG_I("last_event", st.spool.next_position - 1),
                SVC_LOG_I("spool_bytes", st.spool.bytes), SVC_LOG_I("torn_bytes_cut", st.spool.truncated_bytes),
                SVC_LOG_I("damaged_bytes_quarantined", st.spool.corrupt_bytes),
                SVC_LOG_I("positions_lost", st.spool.lost_records), SVC_LOG_I("destinations", st.n_dests));
        if (st.spool.quarantine_files)
                SVC_LOG(SVC_LOG_WARN,
                        "spool recovery kept damaged or torn byte ranges aside in *.quarantine files there (records "
                        "after them were kept); inspect, then delete them",
                        SVC_LOG_S("spool", f->spool_dir),
                        SVC_LOG_I("bytes", st.spool.truncated_bytes + st.spool.corrupt_bytes),
                        SVC_LOG_I("files", st.spool.quarantine_files));
        m->n_dests = st.n_dests;
        auditor_status_free(&st);
}

/* Every few seconds: say when a destination starts or stops failing (the
 * library keeps it in GetStatus, main logs). */
static void on_tick(void *data)
{
        struct auditor_main *m = data;
        struct auditor_status st;

        if (!m->last || auditor_status(m->a, &st) < 0)
                return;
        if (st.spool.broken && !m->broken) {
                /* Fail closed: Emit refuses (UNAVAILABLE, the spool's words);
                 * health says NOT_SERVING so that probes restart us. */
                m->broken = true;
                svc_log(SVC_LOG_ERROR,
                        "the spool refuses every event since a failed fsync or write; health is NOT_SERVING: "
                        "restart ak-auditor",
                        NULL, 0);
                if (m->srv)
                        rpc_server_set_serving(m->srv, false);
                if (m->health)
                        rpc_server_set_serving(m->health, false);
        }
        for (size_t i = 0; i < st.n_dests && i < m->n_dests; i++) {
                const char *now = st.dests[i].last_error;
                const char *before = m->last[i] ? m->last[i] : "";
                if (strcmp(now, before) == 0)
                        continue;
                if (*now)
                        SVC_LOG(SVC_LOG_WARN, "destination failing", SVC_LOG_S("destination", st.dests[i].name),
                                SVC_LOG_S("error", now),
                                SVC_LOG_I("events_waiting",
                                          st.spool.next_position - 1 - st.dests[i].delivered_position));
                else
                        SVC_LOG(SVC_LOG_INFO, "destination delivering again",
                                SVC_LOG_S("destination", st.dests[i].name));
                free(m->last[i]);
                m->last[i] = strdup(now);
        }
        auditor_status_free(&st);
}

static void on_stop(void *data, int sig)
{
        struct auditor_main *m = data;

        SVC_LOG(SVC_LOG_INFO, "shutting down", SVC_LOG_S("signal", strsignal(sig)));
        rpc_server_shutdown(m->health, 0);
        rpc_server_shutdown(m->srv, SHUTDOWN_GRACE_MS);
        m->health = m->srv = NULL;
}

/* --webhook-token-file: the file's first token (a secret file: tokens.h)
 * into every webhook destination. */
static int load_webhook_token(const char *path, struct audit_config **config, struct ak_error *err)
{
        char *token = NULL;
        int r = tokens_load_first(path, &token, err);
        if (r == 0) {
                r = audit_config_set_webhook_token(*config, token, err);
                explicit_bzero(token, strlen(token));
                free(token);
                if (r < 0)
                        ak_error_wrap(err, "--webhook-token-file %s", path);
        }
        if (r < 0) {
                /* auditor_new, which would own it, is not reached. */
                audit_config_free(*config);
                *config = NULL;
        }
        return r;
}

static int serve(const struct flags *f)
{
        struct auditor_main m = { 0 };
        struct audit_config *config = NULL;
        struct ak_error err;
        int port = 0;

        if (f->sf.token_file && svc_auth_load(f->sf.token_file, "auditor", &m.auth, &err) < 0) {
                svc_log(SVC_LOG_ERROR, err.msg, NULL, 0);
                return 1;
        }
        struct rpc_server_options so;
        svc_flags_server_options(&f->sf, &so);
        so.authorize = svc_auth_authorize;
        so.authorize_data = m.auth;
        if (audit_config_load(f->config_path, &config, &err) < 0 ||
            (f->webhook_token_file && load_webhook_token(f->webhook_token_file, &config, &err) < 0) ||
            auditor_new(config, f->spool_dir, &m.a, &err) < 0 || rpc_server_new(&so, &m.srv, &err) < 0 ||
            rpc_server_listen(m.srv, f->listen, svc_flags_server_tls(&f->sf), &port, &err) < 0 ||
            auditor_server_add(m.srv, m.a, &err) < 0 || rpc_server_start(m.srv, &err) < 0 ||
            auditor_start(m.a, &err) < 0 || svc_health_start(&f->sf, true, &m.health, &err) < 0 ||
            svc_metrics_start(f->sf.metrics_listen, "ak-auditor", &m.metrics, &err) < 0) {
                svc_log(SVC_LOG_ERROR, err.msg, NULL, 0);
                rpc_server_shutdown(m.health, 0);
                rpc_server_shutdown(m.srv, 0);
                auditor_free(m.a);
                svc_auth_free(m.auth);
                return 1;
        }
        log_listening(f, &m, port);
        m.last = calloc(m.n_dests + 1, sizeof(*m.last));

        struct svc_loop loop = { .data = &m, .name = "ak-auditor", .reload_data = m.auth, .tick = on_tick,
                                 .tick_ms = STATUS_LOG_SECS * 1000, .stop = on_stop };
        int rc = svc_run(&loop) < 0 ? 1 : 0;
        for (size_t i = 0; m.last && i < m.n_dests; i++)
                free(m.last[i]);
        free(m.last);
        rpc_server_shutdown(m.health, 0);
        rpc_server_shutdown(m.srv, SHUTDOWN_GRACE_MS);
        metrics_http_stop(m.metrics);
        auditor_free(m.a);
        svc_auth_free(m.auth);
        return rc;
}

int main(int argc, char **argv)
{
        struct flags f = { 0 };
        int r = parse_flags(argc, argv, &f);

        if (r != 0)
                return r < 0 ? 2 : 0;
        /* Checked by svc_flags_problem: cannot fail here. */
        svc_log_setup("ak-auditor", f.sf.log_format, f.sf.log_level, NULL);
        /* Before any thread: every thread inherits the mask (lib/svc/run.h). */
        if (svc_signals_block(SVC_STARTING_HOLD_STOP) < 0) {
                svc_log(SVC_LOG_ERROR, "cannot block SIGINT, SIGTERM and SIGHUP", NULL, 0);
                return 1;
        }
        signal(SIGPIPE, SIG_IGN);
        return serve(&f);
}
