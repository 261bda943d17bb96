/* ak-executor: the sandboxes of one node. Flags, wiring, signals; the work
 * is in executor*.c. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/version.h"
#include "lib/rpc/rpc.h"
#include "lib/svc/auth.h"
#include "lib/svc/flags.h"
#include "lib/svc/tokens.h"
#include "services/executor/executor.h"

static const char usage[] =
        "Usage: ak-executor --listen ADDR --state-dir DIR [--scheduler ADDR] [--signer ADDR]\n"
        "                   [--auditor ADDR] [--capacity-vcpus N] [--capacity-memory-mb M]\n"
        "                   [--label k=v ...] [--images DIR] [--pool IMAGE/PROFILE ...]\n"
        "                   [--min-warm N] [--max-warm N] [--max-age S] [--accel auto|kvm|tcg]\n"
        "                   [--vmm qemu|firecracker|apple] [--token-file F] [--tls-cert F --tls-key F\n"
        "                   [--tls-ca F [--tls-require-client-cert]]] [--peer-tls-ca F\n"
        "                   [--peer-tls-cert F --peer-tls-key F]] [--scheduler-token-file F]\n"
        "                   [--signer-token-file F] [--auditor-token-file F]\n"
        "\n"
        "Serves ak.v1.Executor: sandboxes in microVMs on this node.\n"
        "\n"
        "  --listen ADDR           host:port (port 0 picks one) or unix:/path\n"
        "  --state-dir DIR         VM directories (at most 60 bytes: socket paths)\n"
        "  --images DIR            the image store (default DIR/images)\n"
        "  --scheduler ADDR        register there and heartbeat\n"
        "  --signer ADDR           sign receipts there (else they stay unsigned)\n"
        "  --auditor ADDR          send audit events there (bounded queue while it is down)\n"
        "  --capacity-vcpus N, --capacity-memory-mb M   what this node offers\n"
        "  --label k=v             a node label (repeatable)\n"
        "  --pool IMAGE/PROFILE    a warm pool (repeatable; default base/moderate)\n"
        "  --min-warm N, --max-warm N, --max-age S   pool sizes (3, 5, 300; --min-warm 0: no pools)\n"
        "  --accel auto|kvm|tcg    KVM when the CPU and /dev/kvm allow it (auto), else TCG\n"
        "  --vmm NAME              the VMM backend: qemu (default; QEMU's microvm machine),\n"
        "                          firecracker ($AK_FIRECRACKER, KVM only, no network yet) or\n"
        "                          apple (the `container` CLI, macOS; $AK_APPLE_IMAGE)\n"
        "  --executor-id ID, --advertise ADDR        name and address in the status\n"
        "\n"
        "Serving (the scheduler forwards calls with its --executor-token-file and\n"
        "--executor-tls-*):\n"
        SVC_SERVER_USAGE
        "Calling the scheduler, signer and auditor:\n"
        SVC_PEER_USAGE
        "  --scheduler-token-file F    bearer token (first line) for RegisterExecutor and\n"
        "                              Heartbeat: one of the scheduler's --token-file\n"
        "  --signer-token-file F       bearer token for the signer (its --token-file)\n"
        "  --auditor-token-file F      bearer token for the auditor (its --token-file)\n"
        "\n"
        "  --test-guest NAME=UDS   tests only: a running sandbox with no VM whose guest agent is\n"
        "                          whatever serves the hybrid-vsock socket UDS (repeatable)\n"
        "\n"
        "Prints \"ak-executor: listening on ADDR\" once serving. SIGINT/SIGTERM: stop every VM, exit.\n"
        "SIGHUP: read --token-file again.\n"
        "\n"
        "Example:\n"
        "  ak-executor --listen 0.0.0.0:7440 --state-dir /var/lib/ak-executor --signer signer:7443 \\\n"
        "      --auditor auditor:7441 --scheduler scheduler:7450 --label zone=a\n";

static volatile sig_atomic_t stop, reload;
static void on_signal(int sig)
{
        if (sig == SIGHUP)
                reload = 1;
        else
                stop = 1;
}

/* The first token of `path` on `ch`'s calls. */
static int channel_token(struct rpc_channel *ch, const char *flag, const char *path)
{
        struct ak_error err = { 0 };
        char *token = NULL;
        if (tokens_load_first(path, &token, &err) < 0) {
                fprintf(stderr, "ak-executor: %s: %s\n", flag, err.msg);
                return -1;
        }
        int r = rpc_channel_set_bearer_token(ch, token);
        explicit_bzero(token, strlen(token));
        free(token);
        if (r < 0)
                fprintf(stderr, "ak-executor: %s: out of memory\n", flag);
        return r;
}

static int parse_uint(const char *flag, const char *s, unsigned long long max, unsigned long long *ret)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || *end || v > max || s[0] == '-') {
                fprintf(stderr, "ak-executor: %s %s: want a number 0..%llu\n", flag, s, max);
                return -1;
        }
        *ret = v;
        return 0;
}

int main(int argc, char **argv)
{
        enum { LISTEN = 256, STATE, IMAGES, SCHED, SIGNER, AUDITOR, VCPUS, MEM, LABEL, POOL, MINW, MAXW, AGE,
               ACCEL, VMM, ID, ADV, TEST_GUEST, SCHED_TOKEN, SIGNER_TOKEN, AUD_TOKEN, HELP, VERSION };
        static const struct option opts[] = {
                { "listen", required_argument, NULL, LISTEN }, { "state-dir", required_argument, NULL, STATE },
                { "images", required_argument, NULL, IMAGES }, { "scheduler", required_argument, NULL, SCHED },
                { "signer", required_argument, NULL, SIGNER }, { "auditor", required_argument, NULL, AUDITOR },
                { "capacity-vcpus", required_argument, NULL, VCPUS },
                { "capacity-memory-mb", required_argument, NULL, MEM },
                { "label", required_argument, NULL, LABEL }, { "pool", required_argument, NULL, POOL },
                { "min-warm", required_argument, NULL, MINW }, { "max-warm", required_argument, NULL, MAXW },
                { "max-age", required_argument, NULL, AGE }, { "accel", required_argument, NULL, ACCEL },
                { "vmm", required_argument, NULL, VMM },
                { "executor-id", required_argument, NULL, ID }, { "advertise", required_argument, NULL, ADV },
                { "test-guest", required_argument, NULL, TEST_GUEST },
                SVC_SERVER_OPTIONS, SVC_PEER_OPTIONS,
                { "scheduler-token-file", required_argument, NULL, SCHED_TOKEN },
                { "signer-token-file", required_argument, NULL, SIGNER_TOKEN },
                { "auditor-token-file", required_argument, NULL, AUD_TOKEN },
                { "help", no_argument, NULL, HELP }, { "version", no_argument, NULL, VERSION }, {},
        };
        const char *listen = NULL, *sched = NULL, *signer = NULL, *auditor = NULL, *adv = NULL;
        const char *sched_token = NULL, *signer_token = NULL, *aud_token = NULL;
        struct svc_flags sf = { 0 };
        static const char *lk[EXECUTOR_MAX_LABELS], *lv[EXECUTOR_MAX_LABELS];
        static struct executor_pool_config pools[EXECUTOR_MAX_POOLS];
        static char images[4096];
        static const char *tg_names[EXECUTOR_MAX_TEST_GUESTS], *tg_uds[EXECUTOR_MAX_TEST_GUESTS];
        struct executor_config cfg = { .pool_min_warm = 3, .pool_max_warm = 5, .pool_max_age_s = 300 };
        unsigned long long v;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (svc_flags_take(&sf, c, optarg))
                        continue;
                switch (c) {
                case LISTEN: listen = optarg; break;
                case SCHED_TOKEN: sched_token = optarg; break;
                case SIGNER_TOKEN: signer_token = optarg; break;
                case AUD_TOKEN: aud_token = optarg; break;
                case STATE: cfg.state_dir = optarg; break;
                case IMAGES: cfg.images_dir = optarg; break;
                case SCHED: sched = optarg; break;
                case SIGNER: signer = optarg; break;
                case AUDITOR: auditor = optarg; break;
                case ID: cfg.executor_id = optarg; break;
                case ADV: adv = optarg; break;
                case VCPUS:
                        if (parse_uint("--capacity-vcpus", optarg, 4096, &v) < 0)
                                return 2;
                        cfg.capacity_vcpus = (unsigned)v;
                        break;
                case MEM:
                        if (parse_uint("--capacity-memory-mb", optarg, 1ull << 32, &v) < 0)
                                return 2;
                        cfg.capacity_memory_mb = v;
                        break;
                case MINW:
                        if (parse_uint("--min-warm", optarg, 64, &v) < 0)
                                return 2;
                        cfg.pool_min_warm = (unsigned)v;
                        break;
                case MAXW:
                        if (parse_uint("--max-warm", optarg, 64, &v) < 0)
                                return 2;
                        cfg.pool_max_warm = (unsigned)v;
                        break;
                case AGE:
                        if (parse_uint("--max-age", optarg, 86400, &v) < 0)
                                return 2;
                        cfg.pool_max_age_s = (unsigned)v;
                        break;
                case LABEL: {
                        char *eq = strchr(optarg, '=');
                        if (!eq || eq == optarg || cfg.n_labels == EXECUTOR_MAX_LABELS) {
                                fprintf(stderr, "ak-executor: --label %s: want k=v (at most %d labels)\n", optarg,
                                        EXECUTOR_MAX_LABELS);
                                return 2;
                        }
                        *eq = 0;
                        lk[cfg.n_labels] = optarg;
                        lv[cfg.n_labels++] = eq + 1;
                        break;
                }
                case POOL: {
                        char *sl = strchr(optarg, '/');
                        if (!sl || cfg.n_pools == EXECUTOR_MAX_POOLS) {
                                fprintf(stderr, "ak-executor: --pool %s: want IMAGE/PROFILE (at most %d)\n", optarg,
                                        EXECUTOR_MAX_POOLS);
                                return 2;
                        }
                        *sl = 0;
                        pools[cfg.n_pools].image = optarg;
                        pools[cfg.n_pools++].profile = sl + 1;
                        break;
                }
                case TEST_GUEST: {
                        char *eq = strchr(optarg, '=');
                        if (!eq || eq == optarg || cfg.n_test_guests == EXECUTOR_MAX_TEST_GUESTS) {
                                fprintf(stderr, "ak-executor: --test-guest %s: want NAME=UDS (at most %d)\n", optarg,
                                        EXECUTOR_MAX_TEST_GUESTS);
                                return 2;
                        }
                        *eq = 0;
                        tg_names[cfg.n_test_guests] = optarg;
                        tg_uds[cfg.n_test_guests++] = eq + 1;
                        break;
                }
                case ACCEL:
                        if (vmm_accel_parse(optarg, &cfg.accel) < 0) {
                                fprintf(stderr, "ak-executor: --accel %s: want auto, kvm or tcg\n", optarg);
                                return 2;
                        }
                        break;
                case VMM:
                        if (!(cfg.vmm = vmm_find(optarg))) {
                                fprintf(stderr, "ak-executor: --vmm %s: no such VMM backend (see --help)\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case HELP: fputs(usage, stdout); return 0;
                case VERSION: printf("ak-executor %s\n", AK_VERSION); return 0;
                default: fputs(usage, stderr); return 2;
                }
        }
        if (!listen || !cfg.state_dir || optind < argc) {
                fprintf(stderr, "ak-executor: --listen ADDR and --state-dir DIR are required\n%s", usage);
                return 2;
        }
        const char *problem = svc_flags_problem(&sf);
        if (!problem && sched_token && !sched)
                problem = "--scheduler-token-file needs --scheduler";
        if (!problem && signer_token && !signer)
                problem = "--signer-token-file needs --signer";
        if (!problem && aud_token && !auditor)
                problem = "--auditor-token-file needs --auditor";
        if (problem) {
                fprintf(stderr, "ak-executor: %s\n\n%s", problem, usage);
                return 2;
        }
        if (!cfg.n_pools) {
                pools[0].image = "base";
                pools[0].profile = "moderate";
                cfg.n_pools = 1;
        }
        cfg.pools = pools;
        cfg.test_guest_names = tg_names;
        cfg.test_guest_uds = tg_uds;
        cfg.label_keys = lk;
        cfg.label_values = lv;
        if (!cfg.images_dir) {
                snprintf(images, sizeof(images), "%s/images", cfg.state_dir);
                cfg.images_dir = images;
        }
        /* From here on SIGHUP re-reads --token-file (once serving) instead
         * of ending the process. */
        struct sigaction sa = { .sa_handler = on_signal };
        sigaction(SIGHUP, &sa, NULL);
        struct ak_error err = { 0 };
        struct rpc_channel *chs[3] = { 0 };
        const char *targets[3] = { signer, auditor, sched };
        for (int i = 0; i < 3; i++)
                if (targets[i] && rpc_channel_new(targets[i], svc_flags_peer_tls(&sf), &chs[i], &err) < 0) {
                        fprintf(stderr, "ak-executor: %s\n", err.msg);
                        return 1;
                }
        if ((sched_token && channel_token(chs[2], "--scheduler-token-file", sched_token) < 0) ||
            (signer_token && channel_token(chs[0], "--signer-token-file", signer_token) < 0) ||
            (aud_token && channel_token(chs[1], "--auditor-token-file", aud_token) < 0))
                return 1;
        struct svc_auth *auth = NULL;
        if (sf.token_file && svc_auth_load(sf.token_file, "executor", &auth, &err) < 0) {
                fprintf(stderr, "ak-executor: %s\n", err.msg);
                return 1;
        }
        cfg.signer = chs[0];
        cfg.auditor = chs[1];
        cfg.scheduler = chs[2];

        struct rpc_server *srv = NULL, *health = NULL;
        struct executor *ex = NULL;
        int port = 0;
        struct rpc_server_options so = { .authorize = svc_auth_authorize, .authorize_data = auth };
        if (rpc_server_new(&so, &srv, &err) < 0 ||
            rpc_server_listen(srv, listen, svc_flags_server_tls(&sf), &port, &err) < 0) {
                fprintf(stderr, "ak-executor: listen %s: %s\n", listen, err.msg);
                return 1;
        }
        char addr[300];
        if (port && strrchr(listen, ':'))
                snprintf(addr, sizeof(addr), "%.*s:%d", (int)(strrchr(listen, ':') - listen), listen, port);
        else
                snprintf(addr, sizeof(addr), "%s", listen);
        cfg.address = adv ? adv : addr;
        if (executor_new(&cfg, &ex, &err) < 0 || executor_add_to_server(ex, srv, &err) < 0 ||
            rpc_server_start(srv, &err) < 0 || svc_health_start(&sf, &health, &err) < 0) {
                fprintf(stderr, "ak-executor: %s\n", err.msg);
                executor_free(ex);
                rpc_server_shutdown(srv, 0);
                return 1;
        }
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        fprintf(stderr, "ak-executor: serving %s, %s; calling peers %s\n", svc_flags_describe(&sf),
                auth ? "bearer tokens" : "no client authentication",
                svc_flags_peer_tls(&sf) ? (sf.peer_tls.cert_file ? "over mTLS" : "over TLS") : "in plaintext");
        printf("ak-executor: listening on %s\n", addr);
        fflush(stdout);
        char line[1024];
        while (!stop) {
                usleep(200 * 1000);
                if (reload) {
                        reload = 0;
                        snprintf(line, sizeof(line), "SIGHUP: no --token-file to reload");
                        if (auth)
                                svc_auth_reload_line(auth, line, sizeof(line));
                        fprintf(stderr, "ak-executor: %s\n", line);
                }
                executor_log_line(ex, line, sizeof(line));
                if (line[0])
                        fprintf(stderr, "ak-executor: %s\n", line);
        }
        fprintf(stderr, "ak-executor: stopping\n");
        rpc_server_shutdown(health, 0);
        rpc_server_shutdown(srv, 3000);
        executor_free(ex);
        for (int i = 0; i < 3; i++)
                rpc_channel_free(chs[i]);
        svc_auth_free(auth);
        return 0;
}
