/* ak-executor: the sandboxes of one node. Flags, wiring, signals; the work
 * is in executor*.c. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/hostport.h"
#include "lib/base/parse.h"
#include "lib/base/version.h"
#include "lib/rpc/rpc.h"
#include "lib/svc/auth.h"
#include "lib/svc/flags.h"
#include "lib/svc/log.h"
#include "lib/svc/metrics.h"
#include "lib/svc/run.h"
#include "lib/svc/tokens.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "services/executor/executor.h"
#include "services/executor/executor_usage.h"
#include "services/executor/profile.h"
#include "vmm/backend/vmm_net.h"
#include "vmm/net/resolver.h"

/* The first token of `path` on `ch`'s calls. */
static int channel_token(struct rpc_channel *ch, const char *flag, const char *path)
{
        struct ak_error err = { 0 };
        char *token = NULL;
        if (tokens_load_first(path, &token, &err) < 0) {
                SVC_LOG(SVC_LOG_ERROR, "cannot load a token file", SVC_LOG_S("flag", flag),
                        SVC_LOG_S("error", err.msg));
                return -1;
        }
        int r = rpc_channel_set_bearer_token(ch, token);
        explicit_bzero(token, strlen(token));
        free(token);
        if (r < 0)
                SVC_LOG(SVC_LOG_ERROR, "out of memory", SVC_LOG_S("flag", flag));
        return r;
}

/* ak_parse_u64 with the error message for flag. */
static int flag_uint(const char *flag, const char *s, unsigned long long max, unsigned long long *ret)
{
        uint64_t v;

        if (ak_parse_u64(s, 0, max, &v) < 0) {
                fprintf(stderr, "ak-executor: %s %s: want a number 0..%llu\n", flag, s, max);
                return -1;
        }
        *ret = v;
        return 0;
}

/* What the flags say. The arrays back cfg's pointers, so a struct flags
 * outlives the executor built from it. */
struct flags {
        const char *listen, *sched, *signer, *auditor, *adv;
        const char *sched_token, *signer_token, *aud_token, *audit_dir;
        const char *drain;              /* --drain ADDR: a client of a running executor */
        const char *drain_tls_name;
        unsigned drain_timeout_s;
        uint64_t audit_max_bytes;
        struct svc_flags sf;
        struct executor_config cfg;
        const char *label_keys[EXECUTOR_MAX_LABELS], *label_values[EXECUTOR_MAX_LABELS];
        struct executor_pool_config pools[EXECUTOR_MAX_POOLS];
        const char *tg_names[EXECUTOR_MAX_TEST_GUESTS], *tg_uds[EXECUTOR_MAX_TEST_GUESTS];
        const char *deny[VMM_NET_MAX_DENY];
        const char *dns_upstreams[RESOLVER_MAX_UPSTREAMS];
        const char *insecure[16];
        char images[4096];
        char adv_buf[AK_HOSTPORT_MAX + 3];  /* --advertise, an IPv6 host bracketed */
};

enum { LISTEN = 256, STATE, IMAGES, SCHED, SIGNER, AUDITOR, VCPUS, MEM, LABEL, POOL, MINW, MAXW, AGE,
       ACCEL, VMM, ID, ADV, TEST_GUEST, EXEC_TIMEOUT, SCHED_TOKEN, SIGNER_TOKEN, AUD_TOKEN, AUDIT_DIR, AUDIT_MAX, DENY_CIDR, NET_POOL, DNS_UPSTREAM,
       ALLOW_PRIVATE, IMAGE_SEED, CACHE_MAX, REG_AUTH, REG_CA, REG_INSECURE, PULL_WAIT, VM_SUP, VM_CGROUP, ADOPT_WORKERS, DRAIN, DRAIN_TIMEOUT,
       DRAIN_TLS_NAME, SECRETS_DIR, SECRETS_CA, PROC_DIR, HELP, VERSION };

/* --label k=v, --test-guest NAME=UDS: splits arg at
 * its first `sep` into the next free (*ret_key, *ret_value). */
static int take_pair(const char *flag, char *arg, char sep, bool empty_key, const char *want, size_t *n,
                     size_t max, const char **ret_key, const char **ret_value)
{
        char *at = strchr(arg, sep);
        if (!at || (!empty_key && at == arg) || *n == max) {
                fprintf(stderr, "ak-executor: %s %s: want %s\n", flag, arg, want);
                return -1;
        }
        *at = 0;
        *ret_key = arg;
        *ret_value = at + 1;
        (*n)++;
        return 0;
}

/* --pool IMAGE/PROFILE: split at the LAST '/', so that IMAGE may be an OCI
 * reference (which holds '/'; a profile never does). */
static int take_pool(struct flags *f, char *arg)
{
        struct executor_config *cfg = &f->cfg;
        char *at = strrchr(arg, '/');
        if (cfg->n_pools == EXECUTOR_MAX_POOLS) {
                fprintf(stderr, "ak-executor: --pool %s: at most %d pools\n", arg, EXECUTOR_MAX_POOLS);
                return -1;
        }
        if (!at || at == arg || !profile_find(at + 1)) {
                fprintf(stderr,
                        "ak-executor: --pool %s: want IMAGE/PROFILE, PROFILE (after the last '/') one of "
                        "permissive, moderate, restrictive; e.g. base/moderate or ghcr.io/org/ci:1/moderate\n",
                        arg);
                return -1;
        }
        *at = 0;
        f->pools[cfg->n_pools].image = arg;
        f->pools[cfg->n_pools].profile = at + 1;
        cfg->n_pools++;
        return 0;
}

/* One option of the executor's own: 0, 1 when done (--help, --version),
 * -1 when bad (said on stderr). */
static int take_flag(struct flags *f, int c, char *arg)
{
        struct executor_config *cfg = &f->cfg;
        unsigned long long v;
        char want[64];

        switch (c) {
        case LISTEN: f->listen = arg; return 0;
        case SCHED_TOKEN: f->sched_token = arg; return 0;
        case SIGNER_TOKEN: f->signer_token = arg; return 0;
        case AUD_TOKEN: f->aud_token = arg; return 0;
        case STATE: cfg->state_dir = arg; return 0;
        case IMAGES: cfg->images_dir = arg; return 0;
        case IMAGE_SEED: cfg->image_seed = arg; return 0;
        case CACHE_MAX:
                if (flag_uint("--image-cache-max-gb", arg, 1u << 20, &v) < 0)
                        return -1;
                cfg->image_cache_max_bytes = (uint64_t)v << 30;
                return 0;
        case SCHED: f->sched = arg; return 0;
        case SIGNER: f->signer = arg; return 0;
        case AUDITOR: f->auditor = arg; return 0;
        case AUDIT_DIR: f->audit_dir = arg; return 0;
        case AUDIT_MAX:
                if (flag_uint("--audit-queue-max-mb", arg, 1u << 20, &v) < 0)
                        return -1;
                f->audit_max_bytes = v << 20;
                return 0;
        case ID: cfg->executor_id = arg; return 0;
        case ADV:
                /* $(POD_IP):7440 on an IPv6 pod is "fd00::7:7440": a gRPC
                 * target needs "[fd00::7]:7440". */
                if (ak_hostport_bracket(arg, f->adv_buf, sizeof(f->adv_buf)) < 0) {
                        fprintf(stderr, "ak-executor: --advertise %s: want HOST:PORT, [IPV6]:PORT, IPV6:PORT "
                                        "(bracketed for you) or unix:PATH\n", arg);
                        return -1;
                }
                f->adv = f->adv_buf;
                return 0;
        case VCPUS:
                if (flag_uint("--capacity-vcpus", arg, 4096, &v) < 0)
                        return -1;
                cfg->capacity_vcpus = (unsigned)v;
                return 0;
        case MEM:
                if (flag_uint("--capacity-memory-mb", arg, 1ull << 32, &v) < 0)
                        return -1;
                cfg->capacity_memory_mb = v;
                return 0;
        case MINW:
                if (flag_uint("--min-warm", arg, 64, &v) < 0)
                        return -1;
                cfg->pool_min_warm = (unsigned)v;
                return 0;
        case MAXW:
                if (flag_uint("--max-warm", arg, 64, &v) < 0)
                        return -1;
                cfg->pool_max_warm = (unsigned)v;
                return 0;
        case AGE:
                if (flag_uint("--max-age", arg, 86400, &v) < 0)
                        return -1;
                cfg->pool_max_age_s = (unsigned)v;
                return 0;
        case EXEC_TIMEOUT:
                if (flag_uint("--exec-timeout-ms", arg, EXECUTOR_EXEC_TIMEOUT_MAX_MS, &v) < 0)
                        return -1;
                if (v < 1000) {
                        fprintf(stderr, "ak-executor: --exec-timeout-ms %s: at least 1000\n", arg);
                        return -1;
                }
                cfg->exec_timeout_ms = (uint32_t)v;
                return 0;
        case LABEL:
                snprintf(want, sizeof(want), "k=v (at most %d labels)", EXECUTOR_MAX_LABELS);
                return take_pair("--label", arg, '=', false, want, &cfg->n_labels, EXECUTOR_MAX_LABELS,
                                 &f->label_keys[cfg->n_labels], &f->label_values[cfg->n_labels]);
        case POOL:
                return take_pool(f, arg);
        case PROC_DIR: cfg->proc_dir = arg; return 0;
        case TEST_GUEST:
                snprintf(want, sizeof(want), "NAME=UDS (at most %d)", EXECUTOR_MAX_TEST_GUESTS);
                return take_pair("--test-guest", arg, '=', false, want, &cfg->n_test_guests,
                                 EXECUTOR_MAX_TEST_GUESTS, &f->tg_names[cfg->n_test_guests],
                                 &f->tg_uds[cfg->n_test_guests]);
        case ACCEL:
                if (vmm_accel_parse(arg, &cfg->accel) < 0) {
                        fprintf(stderr, "ak-executor: --accel %s: want auto, kvm or tcg\n", arg);
                        return -1;
                }
                return 0;
        case VMM:
                if (!(cfg->vmm = vmm_find(arg))) {
                        fprintf(stderr, "ak-executor: --vmm %s: no such VMM backend (see --help)\n", arg);
                        return -1;
                }
                return 0;
        case ALLOW_PRIVATE:
                cfg->egress_allow_private = true;
                return 0;
        case VM_SUP:
                cfg->vm_supervisors = true;
                return 0;
        case VM_CGROUP:
                cfg->vm_cgroup = arg;
                return 0;
        case ADOPT_WORKERS:
                if (flag_uint("--adopt-workers", arg, EXECUTOR_ADOPT_WORKERS_MAX, &v) < 0)
                        return -1;
                if (v < 1) {
                        fprintf(stderr, "ak-executor: --adopt-workers %s: at least 1\n", arg);
                        return -1;
                }
                cfg->adopt_workers = (unsigned)v;
                return 0;
        case DRAIN:
                f->drain = arg;
                return 0;
        case DRAIN_TLS_NAME:
                f->drain_tls_name = arg;
                return 0;
        case DRAIN_TIMEOUT:
                if (flag_uint("--drain-timeout-s", arg, EXECUTOR_DRAIN_MAX_MS / 1000, &v) < 0)
                        return -1;
                f->drain_timeout_s = (unsigned)v;
                return 0;
        case DNS_UPSTREAM: {
                struct ak_error err = { 0 };
                struct resolver_upstream u;
                if (resolver_upstream_parse(arg, &u, &err) < 0) {
                        fprintf(stderr, "ak-executor: --dns-upstream: %s\n", err.msg);
                        return -1;
                }
                if (cfg->n_dns_upstreams == RESOLVER_MAX_UPSTREAMS) {
                        fprintf(stderr, "ak-executor: --dns-upstream: at most %d\n", RESOLVER_MAX_UPSTREAMS);
                        return -1;
                }
                f->dns_upstreams[cfg->n_dns_upstreams++] = arg;
                return 0;
        }
        case DENY_CIDR:
        case NET_POOL: {
                struct ak_error err = { 0 };
                char canon[64];
                if (vmm_net_cidr_parse(arg, canon, sizeof(canon), &err) < 0) {
                        fprintf(stderr, "ak-executor: --%s %s\n", c == NET_POOL ? "net-pool" : "deny-cidr", err.msg);
                        return -1;
                }
                if (c == NET_POOL) {
                        cfg->net_pool = arg;
                        return 0;
                }
                if (cfg->n_deny_cidrs == VMM_NET_MAX_DENY) {
                        fprintf(stderr, "ak-executor: --deny-cidr: at most %d\n", VMM_NET_MAX_DENY);
                        return -1;
                }
                f->deny[cfg->n_deny_cidrs++] = arg;
                return 0;
        }
        case REG_AUTH: cfg->registry_auth_file = arg; return 0;
        case REG_CA: cfg->registry_ca_file = arg; return 0;
        case SECRETS_DIR: cfg->secrets_dir = arg; return 0;
        case SECRETS_CA:
                if (access(arg, R_OK) < 0) {
                        fprintf(stderr, "ak-executor: --secrets-upstream-ca %s: %s (give a readable PEM file of CA "
                                "certificates)\n", arg, strerror(errno));
                        return -1;
                }
                cfg->secrets_upstream_ca = arg;
                return 0;
        case REG_INSECURE:
                if (cfg->n_insecure_registries == 16 || !arg[0] || strchr(arg, '/')) {
                        fprintf(stderr, "ak-executor: --insecure-registry %s: want HOST[:PORT], at most 16\n", arg);
                        return -1;
                }
                f->insecure[cfg->n_insecure_registries++] = arg;
                return 0;
        case PULL_WAIT:
                if (flag_uint("--pull-wait-s", arg, 86400, &v) < 0)
                        return -1;
                cfg->pull_wait_ms = (unsigned)v * 1000;
                return 0;
        case HELP: fputs(executor_usage, stdout); return 1;
        case VERSION: printf("ak-executor %s\n", AK_VERSION); return 1;
        default: fputs(executor_usage, stderr); return -1;
        }
}

/* 0: serve; 1: done (--help, --version); -1: bad usage, said on stderr. */
static int parse_flags(int argc, char **argv, struct flags *f)
{
        static const struct option opts[] = {
                { "listen", required_argument, NULL, LISTEN }, { "state-dir", required_argument, NULL, STATE },
                { "images", required_argument, NULL, IMAGES }, { "scheduler", required_argument, NULL, SCHED },
                { "image-seed", required_argument, NULL, IMAGE_SEED },
                { "image-cache-max-gb", required_argument, NULL, CACHE_MAX },
                { "signer", required_argument, NULL, SIGNER }, { "auditor", required_argument, NULL, AUDITOR },
                { "capacity-vcpus", required_argument, NULL, VCPUS },
                { "capacity-memory-mb", required_argument, NULL, MEM },
                { "label", required_argument, NULL, LABEL }, { "pool", required_argument, NULL, POOL },
                { "min-warm", required_argument, NULL, MINW }, { "max-warm", required_argument, NULL, MAXW },
                { "max-age", required_argument, NULL, AGE }, { "accel", required_argument, NULL, ACCEL },
                { "vmm", required_argument, NULL, VMM },
                { "deny-cidr", required_argument, NULL, DENY_CIDR },
                { "egress-allow-private", no_argument, NULL, ALLOW_PRIVATE },
                { "net-pool", required_argument, NULL, NET_POOL },
                { "dns-upstream", required_argument, NULL, DNS_UPSTREAM },
                { "executor-id", required_argument, NULL, ID }, { "advertise", required_argument, NULL, ADV },
                { "test-guest", required_argument, NULL, TEST_GUEST },
                { "proc-dir", required_argument, NULL, PROC_DIR },
                { "exec-timeout-ms", required_argument, NULL, EXEC_TIMEOUT },
                SVC_SERVER_OPTIONS, SVC_PEER_OPTIONS,
                { "scheduler-token-file", required_argument, NULL, SCHED_TOKEN },
                { "signer-token-file", required_argument, NULL, SIGNER_TOKEN },
                { "auditor-token-file", required_argument, NULL, AUD_TOKEN },
                { "audit-queue-dir", required_argument, NULL, AUDIT_DIR },
                { "audit-queue-max-mb", required_argument, NULL, AUDIT_MAX },
                { "registry-auth-file", required_argument, NULL, REG_AUTH },
                { "registry-ca-file", required_argument, NULL, REG_CA },
                { "secrets-dir", required_argument, NULL, SECRETS_DIR },
                { "secrets-upstream-ca", required_argument, NULL, SECRETS_CA },
                { "insecure-registry", required_argument, NULL, REG_INSECURE },
                { "pull-wait-s", required_argument, NULL, PULL_WAIT },
                { "vm-supervisors", no_argument, NULL, VM_SUP },
                { "vm-cgroup", required_argument, NULL, VM_CGROUP },
                { "adopt-workers", required_argument, NULL, ADOPT_WORKERS },
                { "drain", required_argument, NULL, DRAIN },
                { "drain-timeout-s", required_argument, NULL, DRAIN_TIMEOUT },
                { "drain-tls-name", required_argument, NULL, DRAIN_TLS_NAME },
                { "help", no_argument, NULL, HELP }, { "version", no_argument, NULL, VERSION }, {},
        };
        struct executor_config *cfg = &f->cfg;
        int c, r;

        cfg->pool_min_warm = 3;
        cfg->pool_max_warm = 5;
        cfg->pool_max_age_s = 300;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
                if (!svc_flags_take(&f->sf, c, optarg) && (r = take_flag(f, c, optarg)) != 0)
                        return r;
        if (f->drain && optind == argc)
                return 0;
        if (!f->listen || !cfg->state_dir || optind < argc) {
                fprintf(stderr, "ak-executor: --listen ADDR and --state-dir DIR are required\n%s", executor_usage);
                return -1;
        }
        const char *problem = svc_flags_problem(&f->sf);
        if (!problem && f->sched_token && !f->sched)
                problem = "--scheduler-token-file needs --scheduler";
        if (!problem && f->signer_token && !f->signer)
                problem = "--signer-token-file needs --signer";
        if (!problem && f->aud_token && !f->auditor)
                problem = "--auditor-token-file needs --auditor";
        if (!problem && f->audit_dir && !f->auditor)
                problem = "--audit-queue-dir needs --auditor";
        if (!problem && f->audit_max_bytes && !f->audit_dir)
                problem = "--audit-queue-max-mb needs --audit-queue-dir";
        if (!problem && cfg->vm_cgroup && !cfg->vm_supervisors)
                problem = "--vm-cgroup needs --vm-supervisors (without supervisors the VMs run inside ak-executor "
                          "and end with it wherever their cgroup is)";
        if (problem) {
                fprintf(stderr, "ak-executor: %s\n\n%s", problem, executor_usage);
                return -1;
        }
        char why[512];
        if (svc_flags_check_listen(&f->sf, "ak-executor", f->listen, why, sizeof(why)) < 0) {
                fprintf(stderr, "ak-executor: %s\n", why);
                return -1;
        }
        if (!cfg->n_pools) {
                f->pools[0].image = "base";
                f->pools[0].profile = "moderate";
                cfg->n_pools = 1;
        }
        cfg->pools = f->pools;
        cfg->deny_cidrs = f->deny;
        cfg->dns_upstreams = f->dns_upstreams;
        cfg->insecure_registries = f->insecure;
        cfg->audit_queue_dir = f->audit_dir;
        cfg->audit_queue_max_bytes = f->audit_max_bytes;
        cfg->test_guest_names = f->tg_names;
        cfg->test_guest_uds = f->tg_uds;
        cfg->label_keys = f->label_keys;
        cfg->label_values = f->label_values;
        if (!cfg->images_dir) {
                snprintf(f->images, sizeof(f->images), "%s/images", cfg->state_dir);
                cfg->images_dir = f->images;
        }
        return 0;
}

/* What main builds; the loop's callbacks run on main's thread. */
struct executor_main {
        const struct flags *f;
        struct svc_auth *auth;
        struct rpc_channel *signer, *auditor, *sched;
        struct rpc_server *srv, *health;
        struct metrics_http *metrics;
        struct executor *ex;
        char addr[300];
};

/* The channels to the signer, auditor and scheduler that the flags name,
 * with their tokens. */
static int open_peers(const struct flags *f, struct executor_main *m)
{
        struct ak_error err = { 0 };
        struct rpc_channel **chs[3] = { &m->signer, &m->auditor, &m->sched };
        const char *targets[3] = { f->signer, f->auditor, f->sched };

        for (int i = 0; i < 3; i++)
                if (targets[i] && rpc_channel_new(targets[i], svc_flags_peer_tls(&f->sf), chs[i], &err) < 0) {
                        svc_log(SVC_LOG_ERROR, err.msg, NULL, 0);
                        return -1;
                }
        /* Several scheduler replicas behind one Service: a follower's refusal
         * or a dead leader's connection reconnects (lib/rpc failover). */
        if (m->sched && rpc_channel_set_failover(m->sched, &(struct rpc_failover){ 0 }) < 0)
                return -1;
        if ((f->sched_token && channel_token(m->sched, "--scheduler-token-file", f->sched_token) < 0) ||
            (f->signer_token && channel_token(m->signer, "--signer-token-file", f->signer_token) < 0) ||
            (f->aud_token && channel_token(m->auditor, "--auditor-token-file", f->aud_token) < 0))
                return -1;
        return 0;
}

/* Loads --token-file, listens, builds the executor and starts serving. */
static int start(struct flags *f, struct executor_main *m)
{
        struct executor_config *cfg = &f->cfg;
        struct ak_error err = { 0 };
        int port = 0;

        if (f->sf.token_file && svc_auth_load(f->sf.token_file, "executor", &m->auth, &err) < 0) {
                svc_log(SVC_LOG_ERROR, err.msg, NULL, 0);
                return -1;
        }
        cfg->signer = m->signer;
        cfg->auditor = m->auditor;
        cfg->scheduler = m->sched;

        struct rpc_server_options so;
        svc_flags_server_options(&f->sf, &so);
        so.authorize = svc_auth_authorize;
        so.authorize_data = m->auth;
        if (rpc_server_new(&so, &m->srv, &err) < 0 ||
            rpc_server_listen(m->srv, f->listen, svc_flags_server_tls(&f->sf), &port, &err) < 0) {
                SVC_LOG(SVC_LOG_ERROR, "cannot listen", SVC_LOG_S("listen", f->listen), SVC_LOG_S("error", err.msg));
                return -1;
        }
        const char *colon = strrchr(f->listen, ':');
        if (port && colon)
                snprintf(m->addr, sizeof(m->addr), "%.*s:%d", (int)(colon - f->listen), f->listen, port);
        else
                snprintf(m->addr, sizeof(m->addr), "%s", f->listen);
        cfg->address = f->adv ? f->adv : m->addr;
        if (executor_new(cfg, &m->ex, &err) < 0 || executor_add_to_server(m->ex, m->srv, &err) < 0 ||
            rpc_server_start(m->srv, &err) < 0 || svc_health_start(&f->sf, true, &m->health, &err) < 0 ||
            svc_metrics_start(f->sf.metrics_listen, "ak-executor", &m->metrics, &err) < 0) {
                svc_log(SVC_LOG_ERROR, err.msg, NULL, 0);
                return -1;
        }
        return 0;
}

static void on_serving(void *data)
{
        struct executor_main *m = data;
        const struct svc_flags *sf = &m->f->sf;

        char sec[256];
        snprintf(sec, sizeof(sec), "%s, %s", svc_flags_describe(sf), m->auth ? "bearer tokens" : "no client authentication");
        SVC_LOG(SVC_LOG_INFO, "serving", SVC_LOG_S("listen", m->addr), SVC_LOG_S("security", sec),
                SVC_LOG_S("peers", svc_flags_peer_tls(sf) ? (sf->peer_tls.cert_file ? "mTLS" : "TLS") : "plaintext"));
        printf("ak-executor: listening on %s\n", m->addr);
        fflush(stdout);
}

/* The auditor queue, cpu quota and registration, when they change. */
static void on_tick(void *data)
{
        struct executor_main *m = data;
        char line[1024];

        executor_log_line(m->ex, line, sizeof(line));
        if (line[0])
                svc_log(SVC_LOG_INFO, line, NULL, 0);
}

static void on_stop(void *data, int sig)
{
        struct executor_main *m = data;

        on_tick(m);
        SVC_LOG(SVC_LOG_INFO, "stopping", SVC_LOG_S("signal", strsignal(sig)));
        rpc_server_shutdown(m->health, 0);
        rpc_server_shutdown(m->srv, 3000);
        m->health = m->srv = NULL;
}

/* --drain ADDR: one Drain call; its answer on stdout. */
static int drain(const struct flags *f)
{
        struct ak_error err = { 0 };
        struct rpc_channel *ch = NULL;
        const struct rpc_tls *peer = svc_flags_peer_tls(&f->sf);
        struct rpc_tls tls;
        if (peer) {
                tls = *peer;
                if (f->drain_tls_name)
                        tls.server_name = f->drain_tls_name;
        }
        if (rpc_channel_new(f->drain, peer ? &tls : NULL, &ch, &err) < 0) {
                fprintf(stderr, "ak-executor --drain %s: %s\n", f->drain, err.msg);
                return 1;
        }
        if (f->sf.token_file && channel_token(ch, "--token-file", f->sf.token_file) < 0) {
                rpc_channel_free(ch);
                return 1;
        }
        Ak__V1__DrainRequest req = AK__V1__DRAIN_REQUEST__INIT;
        req.timeout_ms = (f->drain_timeout_s ? f->drain_timeout_s * 1000u : EXECUTOR_DRAIN_DEFAULT_MS);
        struct rpc_call_options o = { .timeout_ms = (int)req.timeout_ms + 10000 };
        ProtobufCMessage *m = NULL;
        int code = rpc_unary(ch, &ak__v1__executor__descriptor, "Drain", &req.base, &o, &m, &err);
        rpc_channel_free(ch);
        if (code != RPC_OK) {
                fprintf(stderr, "ak-executor --drain %s: %s\n", f->drain, err.msg);
                return 1;
        }
        const Ak__V1__DrainResponse *r = (const void *)m;
        printf("drained: %s; one-shot runs left: %u; sandboxes left: %zu (%u survive a restart)\n",
               r->drained ? "yes" : "no", r->runs_left, r->n_sandboxes_left, r->survive_restart);
        for (size_t i = 0; i < r->n_sandboxes_left; i++)
                printf("  %s\n", r->sandboxes_left[i]);
        int rc = r->drained ? 0 : 1;
        protobuf_c_message_free_unpacked(m, NULL);
        return rc;
}

int main(int argc, char **argv)
{
        static struct flags f;
        struct executor_main m = { .f = &f };
        int r = parse_flags(argc, argv, &f);

        if (r != 0)
                return r < 0 ? 2 : 0;
        /* Checked by svc_flags_problem: cannot fail here. */
        svc_log_setup("ak-executor", f.sf.log_format, f.sf.log_level, NULL);
        if (f.drain)
                return drain(&f);
        /* Before any thread (every thread inherits the mask): from here on
         * SIGHUP re-reads --token-file once serving instead of ending the
         * process; SIGINT/SIGTERM still end it at once until it serves. */
        if (svc_signals_block(SVC_STARTING_STOP_ENDS) < 0) {
                svc_log(SVC_LOG_ERROR, "cannot block SIGINT, SIGTERM and SIGHUP", NULL, 0);
                return 1;
        }
        if (open_peers(&f, &m) < 0)
                return 1;
        if (start(&f, &m) < 0) {
                rpc_server_shutdown(m.health, 0);
                rpc_server_shutdown(m.srv, 0);
                executor_free(m.ex);
                return 1;
        }
        struct svc_loop loop = { .data = &m, .name = "ak-executor", .serving = on_serving,
                                 .reload_data = m.auth, .tick = on_tick, .tick_ms = 200, .stop = on_stop };
        r = svc_run(&loop) < 0 ? 1 : 0;
        rpc_server_shutdown(m.health, 0);
        rpc_server_shutdown(m.srv, 3000);
        metrics_http_stop(m.metrics);
        executor_free(m.ex);
        rpc_channel_free(m.signer);
        rpc_channel_free(m.auditor);
        rpc_channel_free(m.sched);
        svc_auth_free(m.auth);
        return r;
}
