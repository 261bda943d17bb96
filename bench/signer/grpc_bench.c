/* bench/signer: receipts signed per second through a real ak-signer process
 * over loopback gRPC — 1 and 16 concurrent clients, unary and batched — beside
 * raw Ed25519 signatures per second from the same library in the same run.
 *
 * The signer's CPU time is read from /proc/PID/stat, so the figures hold on a
 * machine shared with the clients (and with other work): "per server core"
 * divides receipts by the CPU seconds ak-signer itself used.
 *
 *   bazel run -c opt //bench/signer:signer_grpc -- [--seconds N] [--signer PATH] */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/time.h"
#include "lib/crypto/crypto.h"
#include "lib/receipt/receipt.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/signer.pb-c.h"

#define MAX_CLIENTS 16
#define SHA "dc51b8c96c2d745df3bd5590d990230a482fd247123599548e0632fdbf97fc22"

extern char **environ;

static double seconds = 3.0;

__attribute__((noreturn)) static void die(const char *what)
{
        fprintf(stderr, "signer_grpc: %s\n", what);
        exit(1);
}

/* ---- the baseline: the same library, in this process, one core ---------- */

static struct receipt *sample(void)
{
        static const char *command[] = { "python3", "-c", "print('ok')" };
        struct receipt *r;

        if (receipt_new(&r) < 0)
                die("out of memory");
        r->invocation.mode = RECEIPT_MODE_RUN;
        r->invocation.run.n_command = 3;
        r->invocation.run.command = calloc(4, sizeof(char *));
        for (int i = 0; i < 3; i++)
                r->invocation.run.command[i] = strdup(command[i]);
        r->invocation.run.image = strdup("python:3.12-alpine");
        r->invocation.run.profile = strdup("moderate");
        if (receipt_outcome_from_output(0, "ok\n", 3, NULL, &r->outcome) < 0 || receipt_stamp(r) < 0)
                die("sample receipt");
        return r;
}

static double raw_signs_per_second(void)
{
        struct crypto_ed25519_key *key;
        uint8_t sig[CRYPTO_ED25519_SIGNATURE_LEN];
        struct receipt *r = sample();
        char *payload;
        size_t len;
        double t0, t;
        long n;

        if (crypto_ed25519_key_generate(&key) < 0 || receipt_payload(r, &payload, &len) < 0)
                die("key or payload");
        for (n = 0, t0 = ((double)ak_mono_ns() / 1e9); (t = ((double)ak_mono_ns() / 1e9)) - t0 < seconds; n++)
                crypto_ed25519_sign(key, payload, len, sig);
        printf("payload %zu bytes\n", len);
        printf("raw ed25519 sign (1 core, in process):   %8.0f /s\n", n / (t - t0));
        double raw = n / (t - t0);

        /* What the signer does per receipt, without gRPC: stamp, payload,
         * hash, sign, pretty JSON. */
        for (n = 0, t0 = ((double)ak_mono_ns() / 1e9); (t = ((double)ak_mono_ns() / 1e9)) - t0 < seconds; n++) {
                char *json = NULL;
                if (receipt_finalize(r, key) < 0 || receipt_to_json(r, true, &json, &len) < 0)
                        die("finalize");
                free(json);
        }
        printf("receipt finalize + JSON (1 core):         %8.0f /s\n", n / (t - t0));
        free(payload);
        receipt_free(r);
        crypto_ed25519_key_free(key);
        return raw;
}

/* ---- ak-signer -------------------------------------------------------------- */

struct server {
        pid_t pid;
        char addr[128];
        char dir[64];
};

static void default_signer_path(char *buf, size_t size)
{
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

        if (n < 0)
                die("readlink /proc/self/exe");
        exe[n] = '\0';
        /* .../bin/bench/signer/signer_grpc -> .../bin/services/signer/ak-signer */
        snprintf(buf, size, "%s/../../services/signer/ak-signer", dirname(exe));
}

static void start_server(const char *bin, struct server *s)
{
        char key[128], line[256];
        int pipefd[2];
        posix_spawn_file_actions_t fa;
        FILE *out;

        snprintf(s->dir, sizeof(s->dir), "/tmp/ak_signer_bench_XXXXXX");
        if (!mkdtemp(s->dir))
                die("mkdtemp");
        snprintf(key, sizeof(key), "%s/key.pkcs8", s->dir);
        char *argv[] = { (char *)bin, "--key", key, "--listen", "127.0.0.1:0", "--insecure", NULL };
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                die("pipe");
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        if (posix_spawn(&s->pid, bin, &fa, NULL, argv, environ) != 0) {
                fprintf(stderr, "signer_grpc: cannot run %s (give --signer PATH)\n", bin);
                exit(1);
        }
        posix_spawn_file_actions_destroy(&fa);
        close(pipefd[1]);
        out = fdopen(pipefd[0], "r");
        if (!out || !fgets(line, sizeof(line), out) || sscanf(line, "ak-signer: listening on %127s", s->addr) != 1)
                die("ak-signer did not start");
        fclose(out);
}

static void stop_server(struct server *s)
{
        char cmd[128];

        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
        if (system(cmd) != 0)
                fprintf(stderr, "signer_grpc: could not remove %s\n", s->dir);
}

/* utime + stime of pid, in seconds. */
static double cpu_seconds(pid_t pid)
{
        char path[64], buf[1024], *p;
        unsigned long ut = 0, st = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        f = fopen(path, "re");
        if (!f || !fgets(buf, sizeof(buf), f))
                die("read /proc/PID/stat");
        fclose(f);
        p = strrchr(buf, ')'); /* comm may hold spaces */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
                die("parse /proc/PID/stat");
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- clients ---------------------------------------------------------------- */

struct client {
        pthread_t thread;
        const char *addr;
        int batch; /* 0: unary SignReceipt */
        double until;
        long receipts;
        double *lat; /* unary call latencies, seconds */
        size_t n_lat, cap_lat;
        int failed;
};

static void *client_main(void *arg)
{
        struct client *c = arg;
        Ak__V1__SignReceiptRequest req = AK__V1__SIGN_RECEIPT_REQUEST__INIT;
        Ak__V1__Invocation inv = AK__V1__INVOCATION__INIT;
        Ak__V1__RunInvocation run = AK__V1__RUN_INVOCATION__INIT;
        Ak__V1__ExecutionOutcome out = AK__V1__EXECUTION_OUTCOME__INIT;
        Ak__V1__SignReceiptBatchRequest batch = AK__V1__SIGN_RECEIPT_BATCH_REQUEST__INIT;
        Ak__V1__SignReceiptRequest *items[64];
        char *command[] = { "python3", "-c", "print('ok')" };
        struct rpc_call_options opts = { .timeout_ms = 30000 };
        struct rpc_channel *ch;
        struct ak_error err;

        req.invocation = &inv;
        req.outcome = &out;
        inv.mode_case = AK__V1__INVOCATION__MODE_RUN;
        inv.run = &run;
        run.command = command;
        run.n_command = 3;
        run.image_opt_case = AK__V1__RUN_INVOCATION__IMAGE_OPT_IMAGE;
        run.image = "python:3.12-alpine";
        run.profile = "moderate";
        out.output_sha256 = SHA;
        out.output_bytes = 3;
        out.success = true;
        for (int i = 0; i < 64; i++)
                items[i] = &req;
        batch.items = items;
        batch.n_items = (size_t)c->batch;

        if (rpc_channel_new(c->addr, NULL, &ch, &err) < 0) {
                c->failed = 1;
                return NULL;
        }
        while (((double)ak_mono_ns() / 1e9) < c->until) {
                ProtobufCMessage *resp = NULL;
                double t0 = ((double)ak_mono_ns() / 1e9);
                int code = c->batch ? rpc_unary(ch, &ak__v1__signer__descriptor, "SignReceiptBatch", &batch.base,
                                                &opts, &resp, &err)
                                    : rpc_unary(ch, &ak__v1__signer__descriptor, "SignReceipt", &req.base, &opts,
                                                &resp, &err);
                double dt = ((double)ak_mono_ns() / 1e9) - t0;
                if (code != RPC_OK) {
                        fprintf(stderr, "signer_grpc: %s\n", err.msg);
                        c->failed = 1;
                        break;
                }
                protobuf_c_message_free_unpacked(resp, NULL);
                c->receipts += c->batch ? c->batch : 1;
                if (!c->batch) {
                        if (c->n_lat == c->cap_lat) {
                                c->cap_lat = c->cap_lat ? 2 * c->cap_lat : 4096;
                                c->lat = realloc(c->lat, c->cap_lat * sizeof(*c->lat));
                                if (!c->lat)
                                        die("out of memory");
                        }
                        c->lat[c->n_lat++] = dt;
                }
        }
        rpc_channel_free(ch);
        return NULL;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static void run_case(const struct server *s, int n_clients, int batch, double raw)
{
        struct client clients[MAX_CLIENTS] = { 0 };
        double t0, t1, cpu0, cpu1;
        long receipts = 0;
        size_t n_lat = 0;
        double *lat = NULL;

        cpu0 = cpu_seconds(s->pid);
        t0 = ((double)ak_mono_ns() / 1e9);
        for (int i = 0; i < n_clients; i++) {
                clients[i].addr = s->addr;
                clients[i].batch = batch;
                clients[i].until = t0 + seconds;
                if (pthread_create(&clients[i].thread, NULL, client_main, &clients[i]) != 0)
                        die("pthread_create");
        }
        for (int i = 0; i < n_clients; i++)
                pthread_join(clients[i].thread, NULL);
        t1 = ((double)ak_mono_ns() / 1e9);
        cpu1 = cpu_seconds(s->pid);
        for (int i = 0; i < n_clients; i++) {
                if (clients[i].failed)
                        die("a client failed");
                receipts += clients[i].receipts;
                n_lat += clients[i].n_lat;
        }
        double rate = receipts / (t1 - t0), cpu = cpu1 - cpu0, per_core = cpu > 0 ? receipts / cpu : 0;
        printf("%2d client%s %-12s %8.0f receipts/s  server %4.2f cores  %8.0f /server-core-s = %5.1f%% of raw",
               n_clients, n_clients == 1 ? " " : "s", batch ? "batch of 64" : "unary", rate, cpu / (t1 - t0),
               per_core, 100.0 * per_core / raw);
        if (n_lat) {
                lat = malloc(n_lat * sizeof(*lat));
                if (!lat)
                        die("out of memory");
                n_lat = 0;
                for (int i = 0; i < n_clients; i++) {
                        memcpy(lat + n_lat, clients[i].lat, clients[i].n_lat * sizeof(*lat));
                        n_lat += clients[i].n_lat;
                }
                qsort(lat, n_lat, sizeof(*lat), cmp_double);
                printf("  p50 %6.0f us  p99 %6.0f us", lat[n_lat / 2] * 1e6, lat[n_lat * 99 / 100] * 1e6);
                free(lat);
        }
        putchar('\n');
        fflush(stdout);
        for (int i = 0; i < n_clients; i++)
                free(clients[i].lat);
}

int main(int argc, char **argv)
{
        char signer[PATH_MAX];
        struct server s;
        double raw;

        default_signer_path(signer, sizeof(signer));
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
                        seconds = atof(argv[++i]);
                } else if (strcmp(argv[i], "--signer") == 0 && i + 1 < argc) {
                        snprintf(signer, sizeof(signer), "%s", argv[++i]);
                } else {
                        fprintf(stderr, "Usage: signer_grpc [--seconds N] [--signer PATH]\n");
                        return 2;
                }
        }
        if (seconds <= 0 || seconds > 600)
                die("--seconds must be in (0, 600]");
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        double load[3] = { 0 };
        if (getloadavg(load, 3) < 0)
                load[0] = -1;
        printf("%ld cores online, load average %.2f at start; %.1f s per case\n", cores, load[0], seconds);
        raw = raw_signs_per_second();

        start_server(signer, &s);
        printf("ak-signer on %s (pid %d)\n", s.addr, (int)s.pid);
        for (int clients = 1; clients <= MAX_CLIENTS; clients *= MAX_CLIENTS)
                for (int batch = 0; batch <= 64; batch += 64)
                        run_case(&s, clients, batch, raw);
        stop_server(&s);
        printf("target: batched receipts per server core >= 50%% of raw ed25519 signs per core\n");
        return 0;
}
