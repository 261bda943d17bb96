/* bench/e2e: the whole local stack as real processes (ak-scheduler,
 * ak-executor with real microVMs and its warm pool, ak-signer, ak-auditor;
 * started by cli/stack.c as `ak up` does, on Unix sockets in a temporary
 * $AK_HOME), measured in one run:
 *   1. Exec `true` on one warm persistent sandbox through the scheduler,
 *      one client (interleaved with 2., the order rotating in each pair) and 16 clients at once;
 *   2. the same straight to the executor (the baseline);
 *   3. what the scheduler adds: (1) - (2) at p50 (target: at most 1 ms);
 *   4. `ak run -- true` wall time with a warm pool hit beside `ak exec
 *      NAME -- true`, interleaved (the order rotating in each pair), the
 *      pool refilled and the scheduler told of it before each of both;
 *   5. where 4.'s time goes: the mean of each phase of the Run and the
 *      Exec calls in the scheduler and the executor (their
 *      *_call_phase_seconds histograms, scraped before and after 4.).
 * The measuring runs in a child process with a process group of its own;
 * the parent supervises as a child subreaper (supervise.c): however the
 * child ends (SIGINT/SIGTERM/SIGHUP to the parent kill its group), the
 * parent then stops the recorded stack (VMs go with the executor), kills and
 * reaps whatever is left under it, and removes the directory.
 *
 *   bazel run -c opt //bench/e2e -- [--iterations N] [--clients N]
 *       [--per-client N] [--runs N] */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "bench/e2e/e2e.h"
#include "bench/e2e/phases.h"
#include "cli/stack.h"
#include "lib/base/parse.h"
#include "lib/base/time.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "protos/ak/v1/scheduler.pb-c.h"

#define SANDBOX "e2e-bench"
#define POOL_TIMEOUT_MS 180000
#define TARGET_ADDED_MS 1.0

struct opts {
        int iterations, clients, per_client, runs;
};

static struct stack g_stack;
static char g_home[64];

/* The end of each service's log and of ak's, before cleanup removes them. */
static void print_logs(void)
{
        static const char *const names[] = { "logs/scheduler", "logs/executor", "logs/signer", "logs/auditor", "cli" };
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                char path[PATH_MAX], buf[1536];
                snprintf(path, sizeof(path), "%s/%s.log", g_home, names[i]);
                FILE *fp = fopen(path, "re");
                if (!fp)
                        continue;
                if (fseek(fp, -(long)(sizeof(buf) - 1), SEEK_END) < 0)
                        rewind(fp);
                size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
                fclose(fp);
                buf[n] = 0;
                fprintf(stderr, "--- the end of %s ---\n%s\n", path, buf);
        }
}

/* ak_parse_uint (lo >= 0) with the error message for flag. */
static int parse_int(const char *flag, const char *v, int lo, int hi, int *ret)
{
        unsigned n;

        if (ak_parse_uint(v, (unsigned)lo, (unsigned)hi, &n) < 0) {
                fprintf(stderr, "e2e_bench: %s %s: want a number from %d to %d\n", flag, v, lo, hi);
                return -1;
        }
        *ret = (int)n;
        return 0;
}

/* //cli:ak: $AK_BIN, else the runfiles (bazel run's working directory). */
static int find_ak(char *buf, size_t size)
{
        const char *env = getenv("AK_BIN");
        char *real = realpath(env && *env ? env : "cli/ak", NULL);
        if (!real || strlen(real) >= size || access(real, X_OK) != 0) {
                free(real);
                fprintf(stderr, "e2e_bench: no ak binary at %s: run under `bazel run //bench/e2e` or set "
                                "AK_BIN\n", env && *env ? env : "cli/ak");
                return -1;
        }
        strcpy(buf, real);
        free(real);
        return 0;
}

static int create_sandbox(struct rpc_channel *ch, const char *token, bool *ret_from_pool, struct ak_error *err)
{
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        spec.name = (char *)SANDBOX;
        spec.persistent = true;
        Ak__V1__CreateSandboxRequest req = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
        req.spec = &spec;
        struct rpc_call_options o = { .timeout_ms = 300000, .bearer_token = token };
        Ak__V1__Sandbox *sb = NULL;
        if (rpc_unary(ch, &ak__v1__scheduler__descriptor, "CreateSandbox", &req.base, &o,
                      (ProtobufCMessage **)&sb, err) != RPC_OK)
                return -EIO;
        *ret_from_pool = sb->from_pool;
        protobuf_c_message_free_unpacked(&sb->base, NULL);
        return 0;
}

static void remove_sandbox(struct rpc_channel *ch, const char *token)
{
        Ak__V1__RemoveSandboxRequest req = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
        req.name = (char *)SANDBOX;
        struct rpc_call_options o = { .timeout_ms = 60000, .bearer_token = token };
        ProtobufCMessage *resp = NULL;
        struct ak_error err = { 0 };
        if (rpc_unary(ch, &ak__v1__scheduler__descriptor, "RemoveSandbox", &req.base, &o, &resp, &err) == RPC_OK)
                protobuf_c_message_free_unpacked(resp, NULL);
        else
                fprintf(stderr, "e2e_bench: remove %s: %s\n", SANDBOX, err.msg);
}

struct figures {
        struct samples seq_sched, seq_exec, con_sched, con_exec, run, exec_cli;
        double rate_sched, rate_exec;
        int run_hits;
        double up_s, cli_load;
        char accel[16];
        /* The services' phase histograms before and after the CLI runs. */
        struct e2e_phases sched_ph[2], exe_ph[2];
};

static int scrape_phases(int k, struct figures *f, struct ak_error *err)
{
        int r = e2e_phases_scrape(g_stack.metrics[STACK_SCHEDULER], "ak_scheduler_call_phase_seconds",
                                  &f->sched_ph[k], err);
        if (r == 0)
                r = e2e_phases_scrape(g_stack.metrics[STACK_EXECUTOR], "ak_executor_call_phase_seconds",
                                      &f->exe_ph[k], err);
        return r;
}

/* ak run -- true and ak exec NAME -- true in pairs, the order rotating;
 * before each, the pool refilled and the scheduler told (so each run is a
 * hit and each exec meets a machine as quiet as the run did). */
static int measure_cli(const struct opts *o, const char *ak, const struct e2e_target *sched,
                       const struct e2e_target *exe, struct figures *f, struct ak_error *err)
{
        char log[PATH_MAX];
        snprintf(log, sizeof(log), "%s/cli.log", g_home);
        char *run_argv[] = { (char *)ak, (char *)"run", (char *)"--", (char *)"true", NULL };
        char *exec_argv[] = { (char *)ak, (char *)"exec", (char *)SANDBOX, (char *)"--", (char *)"true", NULL };
        struct e2e_pool before, after;
        double ms, load[1] = { -1 };
        int r;
        if (getloadavg(load, 1) == 1)
                f->cli_load = load[0];
        if ((r = scrape_phases(0, f, err)) < 0)
                return r;
        for (int i = 0; i < o->runs; i++) {
                bool run_first = i % 2 == 0;
                for (int k = 0; k < 2; k++) {
                        bool is_run = (k == 0) == run_first;
                        if ((r = e2e_pool_wait_placeable(sched, exe, POOL_TIMEOUT_MS, &before, err)) < 0 ||
                            (r = e2e_run(is_run ? run_argv : exec_argv, log, &ms, err)) < 0)
                                return r;
                        samples_add(is_run ? &f->run : &f->exec_cli, ms);
                        if (is_run) {
                                if ((r = e2e_pool_status(exe, &after, err)) < 0)
                                        return r;
                                f->run_hits += after.hits > before.hits;
                        }
                }
        }
        return scrape_phases(1, f, err);
}

static int measure(const struct opts *o, const char *ak, struct figures *f, struct ak_error *err)
{
        double t0 = ((double)ak_mono_ns() / 1e6);
        int r = stack_prepare_image(NULL, err);
        if (r < 0)
                return r;
        struct stack_up_options up = { .min_warm = 1, .progress = isatty(2) };
        if ((r = stack_up(&g_stack, &up, err)) < 0)
                return r;
        f->up_s = (((double)ak_mono_ns() / 1e6) - t0) / 1e3;

        struct rpc_channel *ch = NULL;
        struct rpc_call_options copts;
        if ((r = stack_client(false, &ch, &copts, err)) < 0)
                return r;
        struct e2e_target sched = { g_stack.addr[STACK_SCHEDULER], &ak__v1__scheduler__descriptor,
                                    copts.bearer_token };
        struct e2e_target exe = { g_stack.addr[STACK_EXECUTOR], &ak__v1__executor__descriptor,
                                  copts.bearer_token };
        struct e2e_pool pool;
        bool from_pool = false;
        if ((r = e2e_pool_wait(&exe, POOL_TIMEOUT_MS, &pool, err)) < 0 ||
            (r = create_sandbox(ch, copts.bearer_token, &from_pool, err)) < 0)
                goto out;
        snprintf(f->accel, sizeof(f->accel), "%s", pool.accel);
        fprintf(stderr, "e2e_bench: stack up in %.1f s (accel %s); sandbox %s %s\n", f->up_s, pool.accel,
                SANDBOX, from_pool ? "from the warm pool" : "booted (not from the pool)");
        /* Quiet machine: the pool refill the create started is over. */
        if ((r = e2e_pool_wait(&exe, POOL_TIMEOUT_MS, &pool, err)) < 0)
                goto out;
        if ((r = e2e_exec_interleaved(&sched, &exe, SANDBOX, o->iterations, &f->seq_sched, &f->seq_exec,
                                      err)) < 0)
                goto out;
        /* Two rounds each, alternating, so drift hits both alike. */
        for (int round = 0; round < 2 && r == 0; round++) {
                double rate = 0;
                int n = (o->per_client + 1) / 2;
                r = e2e_exec_concurrent(&sched, SANDBOX, o->clients, n, &f->con_sched, &rate, err);
                f->rate_sched += rate / 2;
                if (r == 0)
                        r = e2e_exec_concurrent(&exe, SANDBOX, o->clients, n, &f->con_exec, &rate, err);
                f->rate_exec += rate / 2;
        }
        if (r == 0)
                r = measure_cli(o, ak, &sched, &exe, f, err);
out:
        remove_sandbox(ch, copts.bearer_token);
        rpc_channel_free(ch);
        return r;
}

static void row(const char *what, struct samples *s, const char *note)
{
        printf("  %-46s %9.3f %9.3f  %s\n", what, samples_pct(s, 0.5), samples_pct(s, 0.99), note);
}

/* The mean of each phase, Run beside Exec, per service (-: none). */
static void report_service_phases(const char *service, const struct e2e_phases ph[2], const char *const *phases)
{
        for (size_t i = 0; phases[i]; i++) {
                double run = e2e_phases_mean_ms(&ph[0], &ph[1], "run", phases[i]);
                double exec = e2e_phases_mean_ms(&ph[0], &ph[1], "exec", phases[i]);
                char what[64], a[16] = "-", b[16] = "-";
                snprintf(what, sizeof(what), "%s %s", service, phases[i]);
                if (run >= 0)
                        snprintf(a, sizeof(a), "%.3f", run);
                if (exec >= 0)
                        snprintf(b, sizeof(b), "%.3f", exec);
                printf("  %-46s %9s %9s\n", what, a, b);
        }
}

static void report_phases(const struct figures *f)
{
        static const char *const sched[] = { "place", "route", "first", "output", "close", "release", "total",
                                             NULL };
        static const char *const exe[] = { "check", "audit_created", "vm", "record", "audit_started", "prepare",
                                           "connect", "command", "sign", "audit_exec", "send_result", "remove",
                                           "total", NULL };
        printf("  %-46s %9s %9s\n", "where the time goes, mean ms per call", "Run", "Exec");
        report_service_phases("ak-scheduler", f->sched_ph, sched);
        report_service_phases("ak-executor", f->exe_ph, exe);
}

static void report(const struct opts *o, struct figures *f)
{
        char what[96], note[64];
        printf("bench/e2e: ak-scheduler, ak-executor (accel %s, warm pool of 1), ak-signer, ak-auditor as "
               "processes on Unix sockets; stack up in %.1f s\n\n", f->accel, f->up_s);
        printf("  %-46s %9s %9s\n", "exec `true`, one warm persistent sandbox", "p50 ms", "p99 ms");
        snprintf(what, sizeof(what), "via ak-scheduler, 1 client (%d calls)", o->iterations);
        row(what, &f->seq_sched, "");
        row("straight to ak-executor, 1 client", &f->seq_exec, "baseline, interleaved");
        snprintf(what, sizeof(what), "via ak-scheduler, %d clients at once", o->clients);
        snprintf(note, sizeof(note), "%.0f calls/s", f->rate_sched);
        row(what, &f->con_sched, note);
        snprintf(what, sizeof(what), "straight to ak-executor, %d clients", o->clients);
        snprintf(note, sizeof(note), "%.0f calls/s, baseline", f->rate_exec);
        row(what, &f->con_exec, note);
        double add1 = samples_pct(&f->seq_sched, 0.5) - samples_pct(&f->seq_exec, 0.5);
        double addn = samples_pct(&f->con_sched, 0.5) - samples_pct(&f->con_exec, 0.5);
        printf("  %-46s %9.3f %9s  target <= %.0f ms: %s\n", "scheduler adds, p50, 1 client", add1, "",
               TARGET_ADDED_MS, add1 <= TARGET_ADDED_MS ? "met" : "MISSED");
        snprintf(what, sizeof(what), "scheduler adds, p50, %d clients", o->clients);
        printf("  %-46s %9.3f %9s  target <= %.0f ms: %s\n\n", what, addn, "", TARGET_ADDED_MS,
               addn <= TARGET_ADDED_MS ? "met" : "MISSED");
        printf("  %-46s %9s %9s\n", "ak CLI wall time, spawn to exit", "p50 ms", "p99 ms");
        snprintf(what, sizeof(what), "ak run -- true (%d runs, %d pool hits)", o->runs, f->run_hits);
        row(what, &f->run, "pool refilled before each");
        snprintf(what, sizeof(what), "ak exec %s -- true (%d runs)", SANDBOX, o->runs);
        row(what, &f->exec_cli, "reference");
        double run50 = samples_pct(&f->run, 0.5), exec50 = samples_pct(&f->exec_cli, 0.5);
        printf("  %-46s %9.3f\n", "run minus exec, p50", run50 - exec50);
        printf("  %-46s %9.3f %9s  target <= 1.2: %s\n", "run / exec, p50", exec50 > 0 ? run50 / exec50 : 0, "",
               exec50 > 0 && run50 <= 1.2 * exec50 ? "met" : "MISSED");
        printf("  %-46s %9.3f %9.3f  run, exec\n", "p90 ms", samples_pct(&f->run, 0.9),
               samples_pct(&f->exec_cli, 0.9));
        printf("  %-46s %9.2f\n\n", "load average (1 min) before the CLI runs", f->cli_load);
        report_phases(f);
}

/* The measuring child: everything, then the table; the parent stops the
 * stack. Its exit code. */
static int run(const struct opts *o, const char *ak)
{
        struct figures f = { 0 };
        struct ak_error err = { 0 };
        int r = measure(o, ak, &f, &err);
        if (r < 0) {
                fprintf(stderr, "e2e_bench: %s\n", err.msg);
                print_logs();
        } else {
                report(o, &f);
        }
        samples_free(&f.seq_sched);
        samples_free(&f.seq_exec);
        samples_free(&f.con_sched);
        samples_free(&f.con_exec);
        samples_free(&f.run);
        samples_free(&f.exec_cli);
        fflush(NULL);
        return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
        struct opts o = { .iterations = 200, .clients = 16, .per_client = 24, .runs = 10 };
        for (int i = 1; i < argc; i += 2) {
                int bad = i + 1 >= argc;
                if (!bad && strcmp(argv[i], "--iterations") == 0)
                        bad = parse_int(argv[i], argv[i + 1], 1, 100000, &o.iterations);
                else if (!bad && strcmp(argv[i], "--clients") == 0)
                        bad = parse_int(argv[i], argv[i + 1], 1, 256, &o.clients);
                else if (!bad && strcmp(argv[i], "--per-client") == 0)
                        bad = parse_int(argv[i], argv[i + 1], 2, 10000, &o.per_client);
                else if (!bad && strcmp(argv[i], "--runs") == 0)
                        bad = parse_int(argv[i], argv[i + 1], 1, 1000, &o.runs);
                else
                        bad = 1;
                if (bad) {
                        fprintf(stderr, "usage: e2e [--iterations N (200)] [--clients N (16)] "
                                        "[--per-client N (24)] [--runs N (10)]\n");
                        return 2;
                }
        }
        char ak[PATH_MAX];
        if (find_ak(ak, sizeof(ak)) < 0)
                return 1;
        char tmpl[] = "/tmp/ake2e.XXXXXX";
        if (!mkdtemp(tmpl)) {
                perror("e2e_bench: mkdtemp");
                return 1;
        }
        snprintf(g_home, sizeof(g_home), "%s", tmpl);
        setenv("AK_HOME", g_home, 1);
        unsetenv("AK_SCHEDULER");
        unsetenv("AK_TOKEN");

        /* Orphans of the child (the stack's services, their VMs) come to us. */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                perror("e2e_bench: PR_SET_CHILD_SUBREAPER (left-over processes may escape)");
        sigset_t set, old;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        sigaddset(&set, SIGCHLD);
        sigprocmask(SIG_BLOCK, &set, &old);
        fflush(NULL);
        pid_t child = fork();
        if (child < 0) {
                perror("e2e_bench: fork");
                e2e_cleanup(g_home);
                return 1;
        }
        if (child == 0) {
                setpgid(0, 0);
                sigprocmask(SIG_SETMASK, &old, NULL);
                signal(SIGPIPE, SIG_IGN);
                _exit(run(&o, ak));
        }
        setpgid(child, child);  /* whichever of the two runs first */
        int code = e2e_supervise(child, &set, g_home);
        e2e_cleanup(g_home);
        return code;
}

