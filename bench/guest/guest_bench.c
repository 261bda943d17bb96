/* Guest agent round trip: `run ["true"]` over --listen unix:, p50/p99 with 1
 * and 16 concurrent connections, beside the floor measured in the same run:
 * fork + exec + wait of `true` directly.
 *
 *   bazel run -c opt //bench/guest:guest_bench [-- ITERATIONS [AGENT_BINARY]] */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/time.h"
#include "lib/guest/frame.h"
#include "lib/guest/protocol.h"

#define MAX_THREADS 16

static char sock_path[108];
static int iterations = 2000;

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
        int i = (int)(p * (n - 1) + 0.5);
        return v[i];
}

static void report(const char *what, double *v, int n, double floor_p50)
{
        qsort(v, (size_t)n, sizeof(double), cmp_double);
        double p50 = pct(v, n, 0.50), p99 = pct(v, n, 0.99);
        if (floor_p50 > 0)
                printf("%-34s n=%-6d p50 %8.1f us  p99 %8.1f us  (p50 %.2fx floor)\n", what, n, p50, p99,
                       p50 / floor_p50);
        else
                printf("%-34s n=%-6d p50 %8.1f us  p99 %8.1f us\n", what, n, p50, p99);
}

static double floor_once(void)
{
        double t0 = ((double)ak_mono_ns() / 1e3);
        pid_t pid = fork();
        if (pid == 0) {
                execlp("true", "true", (char *)NULL);
                _exit(127);
        }
        int st;
        waitpid(pid, &st, 0);
        return ((double)ak_mono_ns() / 1e3) - t0;
}

static int connect_agent(void)
{
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        memcpy(addr.sun_path, sock_path, strlen(sock_path) + 1);
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        return fd;
}

static int run_true(int fd, const char *body, size_t len)
{
        uint8_t *resp;
        size_t n;

        if (frame_write(fd, body, len, 10000) < 0 || frame_read(fd, FRAME_MAX, 10000, &resp, &n) < 0)
                return -1;
        int ok = strstr((char *)resp, "\"exit_code\":0") != NULL;
        free(resp);
        return ok ? 0 : -1;
}

struct worker {
        pthread_t t;
        int n;
        double *lat;
        int failed;
};

static void *worker_main(void *p)
{
        struct worker *w = p;
        static const char *const cmd[] = { "true" };
        struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
        char *req;
        size_t req_len;

        a.id = "b";
        a.type = "run";
        a.command = cmd;
        a.n_command = 1;
        if (proto_request_json(&a, &req, &req_len) < 0) {
                w->failed = 1;
                return NULL;
        }
        int fd = connect_agent();
        if (fd < 0) {
                w->failed = 1;
                free(req);
                return NULL;
        }
        for (int i = 0; i < w->n; i++) {
                double t0 = ((double)ak_mono_ns() / 1e3);
                if (run_true(fd, req, req_len) < 0) {
                        w->failed = 1;
                        break;
                }
                w->lat[i] = ((double)ak_mono_ns() / 1e3) - t0;
        }
        close(fd);
        free(req);
        return NULL;
}

struct floor_worker {
        pthread_t t;
        int n;
        double *lat;
};

static void *floor_main(void *p)
{
        struct floor_worker *w = p;

        for (int i = 0; i < w->n; i++)
                w->lat[i] = floor_once();
        return NULL;
}

/* The floor with the same concurrency: threads each fork+exec+wait. */
static double floor_round(int threads)
{
        struct floor_worker w[MAX_THREADS];
        int per = iterations / threads < 100 ? 100 : iterations / threads;
        double *all = calloc((size_t)(per * threads), sizeof(double));
        char what[64];

        for (int i = 0; i < threads; i++) {
                w[i] = (struct floor_worker){ .n = per, .lat = all + i * per };
                pthread_create(&w[i].t, NULL, floor_main, &w[i]);
        }
        double t0 = ((double)ak_mono_ns() / 1e3);
        for (int i = 0; i < threads; i++)
                pthread_join(w[i].t, NULL);
        double secs = (((double)ak_mono_ns() / 1e3) - t0) / 1e6;
        snprintf(what, sizeof(what), "floor: fork+exec+wait, %d thread%s", threads, threads > 1 ? "s" : "");
        report(what, all, per * threads, 0);
        printf("%-34s %.0f runs/s\n", "", per * threads / secs);
        double p50 = all[per * threads / 2];
        free(all);
        return p50;
}

static int agent_round(int threads, double floor_p50)
{
        struct worker w[MAX_THREADS];
        int per = iterations / threads < 100 ? 100 : iterations / threads;
        double *all = calloc((size_t)(per * threads), sizeof(double));
        char what[64];

        for (int i = 0; i < threads; i++) {
                w[i] = (struct worker){ .n = per, .lat = all + i * per };
                pthread_create(&w[i].t, NULL, worker_main, &w[i]);
        }
        double t0 = ((double)ak_mono_ns() / 1e3);
        int failed = 0;
        for (int i = 0; i < threads; i++) {
                pthread_join(w[i].t, NULL);
                failed |= w[i].failed;
        }
        double secs = (((double)ak_mono_ns() / 1e3) - t0) / 1e6;
        if (failed) {
                fprintf(stderr, "guest_bench: a request failed\n");
                free(all);
                return -1;
        }
        snprintf(what, sizeof(what), "agent run [\"true\"], %d conn%s", threads, threads > 1 ? "s" : "");
        report(what, all, per * threads, floor_p50);
        printf("%-34s %.0f runs/s\n", "", per * threads / secs);
        free(all);
        return 0;
}

static const char *find_agent(const char *arg)
{
        static char buf[4096];
        const char *rd = getenv("RUNFILES_DIR");

        if (arg)
                return arg;
        if (rd) {
                snprintf(buf, sizeof(buf), "%s/ak/guest/ak-guest", rd);
                if (access(buf, X_OK) == 0)
                        return buf;
        }
        if (access("guest/ak-guest", X_OK) == 0)
                return "guest/ak-guest";
        return "bazel-bin/guest/ak-guest";
}

int main(int argc, char **argv)
{
        char dir[] = "/tmp/akb.XXXXXX";
        int rc = 1;

        if (argc > 1)
                iterations = atoi(argv[1]) > 0 ? atoi(argv[1]) : iterations;
        const char *agent = find_agent(argc > 2 ? argv[2] : NULL);
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }
        snprintf(sock_path, sizeof(sock_path), "%s/s", dir);
        char listen_arg[128];
        snprintf(listen_arg, sizeof(listen_arg), "unix:%s", sock_path);
        pid_t agent_pid = fork();
        if (agent_pid == 0) {
                execl(agent, agent, "--listen", listen_arg, (char *)NULL);
                fprintf(stderr, "exec %s: %s\n", agent, strerror(errno));
                _exit(127);
        }
        int fd = -1;
        for (int i = 0; i < 500 && fd < 0; i++) {
                fd = connect_agent();
                if (fd < 0)
                        usleep(10000);
        }
        if (fd < 0) {
                fprintf(stderr, "guest_bench: agent %s did not come up\n", agent);
                goto out;
        }
        close(fd);

        /* Warm up, then each concurrency: the floor, then the agent. */
        for (int i = 0; i < 50; i++)
                floor_once();
        double floor1 = floor_round(1);
        if (agent_round(1, floor1) < 0)
                goto out;
        double floor16 = floor_round(16);
        if (agent_round(16, floor16) < 0)
                goto out;
        rc = 0;
out:
        kill(agent_pid, SIGTERM);
        waitpid(agent_pid, NULL, 0);
        unlink(sock_path);
        rmdir(dir);
        return rc;
}
