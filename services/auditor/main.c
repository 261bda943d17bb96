/* ak-auditor: the auditor service. Flags, wiring, signals; the work is in
 * the library (auditor.h, server.h). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/version.h"
#include "lib/rpc/rpc.h"
#include "lib/svc/auth.h"
#include "lib/svc/flags.h"
#include "services/auditor/auditor.h"
#include "services/auditor/config.h"
#include "services/auditor/server.h"

#define SHUTDOWN_GRACE_MS 5000
#define STATUS_LOG_SECS 5

static const char usage[] =
        "Usage: ak-auditor --listen ADDR --config FILE --spool DIR [--token-file F]\n"
        "                  [--tls-cert F --tls-key F [--tls-ca F [--tls-require-client-cert]]]\n"
        "\n"
        "Accepts audit events over gRPC (ak.v1.Auditor), stores them durably in\n"
        "the spool before acknowledging, and delivers them to the destinations of\n"
        "FILE (agentkernel's AuditStreamConfig JSON).\n"
        "\n"
        "  --listen ADDR   host:port or unix:/path (e.g. 127.0.0.1:7733)\n"
        "  --config FILE   destinations, batching, retries, spool limits\n"
        "  --spool DIR     where events wait for delivery (created if missing)\n"
        SVC_SERVER_USAGE
        "\n"
        "SIGINT/SIGTERM: finish calls in flight (5 s at most), then exit. SIGHUP:\n"
        "read --token-file again.\n"
        "\n"
        "Example:\n"
        "  echo '{\"destination\":{\"type\":\"file\",\"path\":\"/var/log/ak/audit.jsonl\"}}' > audit.json\n"
        "  ak-auditor --listen 127.0.0.1:7733 --config audit.json --spool /var/lib/ak/auditor\n"
        "  ak-auditor --listen 0.0.0.0:7441 --config audit.json --spool /var/lib/ak/auditor \\\n"
        "      --token-file tokens --tls-cert a.pem --tls-key a.key --tls-ca ca.pem --tls-require-client-cert\n";

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "listen", required_argument, NULL, 'l' }, { "config", required_argument, NULL, 'c' },
                { "spool", required_argument, NULL, 's' },  { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },      SVC_SERVER_OPTIONS,
                { 0 },
        };
        const char *listen = NULL, *config_path = NULL, *spool_dir = NULL;
        struct svc_flags sf = { 0 };
        struct svc_auth *auth = NULL;
        struct audit_config *config = NULL;
        struct auditor *a = NULL;
        struct rpc_server *srv = NULL, *health = NULL;
        struct auditor_status st;
        struct ak_error err;
        sigset_t sigs;
        int c, sig, port = 0;
        size_t n_dests = 0;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (svc_flags_take(&sf, c, optarg))
                        continue;
                switch (c) {
                case 'l':
                        listen = optarg;
                        break;
                case 'c':
                        config_path = optarg;
                        break;
                case 's':
                        spool_dir = optarg;
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                case 'V':
                        printf("ak-auditor %s\n", AK_VERSION);
                        return 0;
                default:
                        fputs(usage, stderr);
                        return 2;
                }
        }
        const char *problem = svc_flags_problem(&sf);
        if (optind < argc)
                problem = "unexpected argument";
        else if (!listen || !config_path || !spool_dir)
                problem = "--listen, --config and --spool are required";
        if (problem) {
                fprintf(stderr, "ak-auditor: %s\n\n%s", problem, usage);
                return 2;
        }

        /* Signals are taken by sigwait below; every thread inherits the mask. */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);

        if (sf.token_file && svc_auth_load(sf.token_file, "auditor", &auth, &err) < 0) {
                fprintf(stderr, "ak-auditor: %s\n", err.msg);
                return 1;
        }
        struct rpc_server_options so = { .authorize = svc_auth_authorize, .authorize_data = auth };
        if (audit_config_load(config_path, &config, &err) < 0 || auditor_new(config, spool_dir, &a, &err) < 0 ||
            rpc_server_new(&so, &srv, &err) < 0 ||
            rpc_server_listen(srv, listen, svc_flags_server_tls(&sf), &port, &err) < 0 ||
            auditor_server_add(srv, a, &err) < 0 || rpc_server_start(srv, &err) < 0 ||
            auditor_start(a, &err) < 0 || svc_health_start(&sf, &health, &err) < 0) {
                fprintf(stderr, "ak-auditor: %s\n", err.msg);
                rpc_server_shutdown(srv, 0);
                auditor_free(a);
                svc_auth_free(auth);
                return 1;
        }
        if (auditor_status(a, &st) == 0) {
                fprintf(stderr,
                        "ak-auditor: listening on %s (port %d, %s, %s), spool %s (events %" PRIu64 "..%" PRIu64
                        ", %" PRIu64 " bytes, %" PRIu64 " bytes of torn tail cut, %" PRIu64
                        " damaged bytes skipped), %zu destinations\n",
                        listen, port, svc_flags_describe(&sf), auth ? "bearer tokens" : "no client authentication",
                        spool_dir, st.spool.oldest_position,
                        st.spool.next_position - 1, st.spool.bytes, st.spool.truncated_bytes,
                        st.spool.corrupt_bytes, st.n_dests);
                n_dests = st.n_dests;
                auditor_status_free(&st);
        }

        /* Until a signal: every few seconds, say when a destination starts
         * or stops failing (the library keeps it in GetStatus, main logs). */
        char **last = calloc(n_dests + 1, sizeof(*last));
        for (;;) {
                struct timespec every = { STATUS_LOG_SECS, 0 };
                sig = sigtimedwait(&sigs, NULL, &every);
                if (sig == SIGINT || sig == SIGTERM)
                        break;
                if (sig == SIGHUP) {
                        char line[1024] = "SIGHUP: no --token-file to reload";
                        if (auth)
                                svc_auth_reload_line(auth, line, sizeof(line));
                        fprintf(stderr, "ak-auditor: %s\n", line);
                }
                if (!last || auditor_status(a, &st) < 0)
                        continue;
                for (size_t i = 0; i < st.n_dests && i < n_dests; i++) {
                        const char *now = st.dests[i].last_error;
                        const char *before = last[i] ? last[i] : "";
                        if (strcmp(now, before) == 0)
                                continue;
                        if (*now)
                                fprintf(stderr, "ak-auditor: %s: %s (%" PRIu64 " events waiting)\n", st.dests[i].name,
                                        now, st.spool.next_position - 1 - st.dests[i].delivered_position);
                        else
                                fprintf(stderr, "ak-auditor: %s: delivering again\n", st.dests[i].name);
                        free(last[i]);
                        last[i] = strdup(now);
                }
                auditor_status_free(&st);
        }
        for (size_t i = 0; last && i < n_dests; i++)
                free(last[i]);
        free(last);
        fprintf(stderr, "ak-auditor: %s: shutting down\n", strsignal(sig));
        rpc_server_shutdown(health, 0);
        rpc_server_shutdown(srv, SHUTDOWN_GRACE_MS);
        auditor_free(a);
        svc_auth_free(auth);
        return 0;
}
