/* bench/rpc: unary ping-pong through lib/rpc over loopback TCP and a Unix
 * socket, 1 and 16 concurrent clients, beside a floor measured in the same
 * run: a raw length-prefixed echo over the same kind of socket. Prints
 * p50/p99 latency and QPS for each, and the p50 ratio to the floor. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/io.h"
#include "lib/base/time.h"
#include "lib/rpc/rpc.h"
#include "lib/rpc/testdata/echo.pb-c.h"

#define PAYLOAD "ping-pong-payload-32-bytes-long!"

static double seconds = 2.0;

struct samples {
        uint64_t *v;
        size_t n, cap;
};

static void add(struct samples *s, uint64_t x)
{
        if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 4096;
                s->v = realloc(s->v, s->cap * sizeof(*s->v));
                if (!s->v)
                        abort();
        }
        s->v[s->n++] = x;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

/* ---- the floor: raw length-prefixed echo --------------------------------- */

static void *raw_echo_conn(void *arg)
{
        int fd = (int)(intptr_t)arg;
        char buf[4096];
        uint32_t len;
        while (ak_read_full(fd, &len, 4) == 4 && len <= sizeof(buf) && ak_read_full(fd, buf, len) == (ssize_t)len)
                if (ak_write_full(fd, &len, 4) < 0 || ak_write_full(fd, buf, len) < 0)
                        break;
        close(fd);
        return NULL;
}

static void *raw_echo_accept(void *arg)
{
        int lfd = (int)(intptr_t)arg;
        for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        return NULL;
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                pthread_t t;
                pthread_create(&t, NULL, raw_echo_conn, (void *)(intptr_t)fd);
                pthread_detach(t);
        }
}

struct raw_target {
        bool is_unix;
        struct sockaddr_storage addr;
        socklen_t len;
};

static int raw_listen(bool is_unix, const char *path, struct raw_target *t)
{
        memset(t, 0, sizeof(*t));
        t->is_unix = is_unix;
        int fd;
        if (is_unix) {
                struct sockaddr_un *un = (void *)&t->addr;
                un->sun_family = AF_UNIX;
                if (strlen(path) >= sizeof(un->sun_path))
                        return -1;
                memcpy(un->sun_path, path, strlen(path) + 1);
                unlink(path);
                t->len = sizeof(*un);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        } else {
                struct sockaddr_in *in = (void *)&t->addr;
                in->sin_family = AF_INET;
                in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                t->len = sizeof(*in);
                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        }
        if (fd < 0 || bind(fd, (void *)&t->addr, t->len) < 0 || listen(fd, 128) < 0)
                return -1;
        getsockname(fd, (void *)&t->addr, &t->len);
        pthread_t th;
        pthread_create(&th, NULL, raw_echo_accept, (void *)(intptr_t)fd);
        pthread_detach(th);
        return fd;
}

struct worker {
        /* raw */
        const struct raw_target *raw;
        /* rpc */
        struct rpc_channel *ch;
        uint64_t until;
        struct samples lat;
};

static void *raw_client(void *arg)
{
        struct worker *w = arg;
        int fd = socket(w->raw->is_unix ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (const void *)&w->raw->addr, w->raw->len) < 0) {
                perror("raw connect");
                exit(1);
        }
        int one = 1;
        if (!w->raw->is_unix)
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        char buf[64];
        uint32_t len = sizeof(PAYLOAD) - 1;
        while (ak_mono_ns() < w->until) {
                uint64_t t0 = ak_mono_ns();
                char out[4 + sizeof(PAYLOAD)];
                memcpy(out, &len, 4);
                memcpy(out + 4, PAYLOAD, len);
                if (ak_write_full(fd, out, 4 + len) < 0 || ak_read_full(fd, buf, 4) != 4 ||
                    ak_read_full(fd, buf, len) != (ssize_t)len)
                        break;
                add(&w->lat, ak_mono_ns() - t0);
        }
        close(fd);
        return NULL;
}

/* ---- lib/rpc ------------------------------------------------------------- */

static int echo_handler(struct rpc_call *call, const ProtobufCMessage *msg, void *data)
{
        const Ak__Test__EchoRequest *req = (const void *)msg;
        Ak__Test__EchoReply resp = AK__TEST__ECHO_REPLY__INIT;
        resp.text = req->text;
        rpc_call_reply(call, &resp.base);
        return RPC_OK;
}

static const struct rpc_method methods[] = {
        { "Echo", RPC_UNARY, echo_handler },
};

static void *rpc_client(void *arg)
{
        struct worker *w = arg;
        Ak__Test__EchoRequest req = AK__TEST__ECHO_REQUEST__INIT;
        req.text = (char *)PAYLOAD;
        while (ak_mono_ns() < w->until) {
                uint64_t t0 = ak_mono_ns();
                ProtobufCMessage *resp;
                struct ak_error err;
                if (rpc_unary(w->ch, &ak__test__echo__descriptor, "Echo", &req.base, NULL, &resp, &err)) {
                        fprintf(stderr, "rpc: %s\n", err.msg);
                        exit(1);
                }
                protobuf_c_message_free_unpacked(resp, NULL);
                add(&w->lat, ak_mono_ns() - t0);
        }
        return NULL;
}

struct result {
        double p50_us, p99_us, qps;
};

static struct result run(int clients, void *(*fn)(void *), const struct raw_target *raw,
                         struct rpc_channel **chans)
{
        struct worker *w = calloc((size_t)clients, sizeof(*w));
        pthread_t *t = calloc((size_t)clients, sizeof(*t));
        /* Warm up connections (and the channel's HTTP/2 session) first. */
        uint64_t warm = ak_mono_ns() + 200000000ull;
        for (int i = 0; i < clients; i++) {
                w[i].raw = raw;
                w[i].ch = chans ? chans[i] : NULL;
                w[i].until = warm;
                pthread_create(&t[i], NULL, fn, &w[i]);
        }
        for (int i = 0; i < clients; i++) {
                pthread_join(t[i], NULL);
                w[i].lat.n = 0;
        }
        uint64_t start = ak_mono_ns();
        for (int i = 0; i < clients; i++) {
                w[i].until = start + (uint64_t)(seconds * 1e9);
                pthread_create(&t[i], NULL, fn, &w[i]);
        }
        struct samples all = { 0 };
        for (int i = 0; i < clients; i++) {
                pthread_join(t[i], NULL);
                for (size_t j = 0; j < w[i].lat.n; j++)
                        add(&all, w[i].lat.v[j]);
                free(w[i].lat.v);
        }
        double elapsed = (double)(ak_mono_ns() - start) / 1e9;
        qsort(all.v, all.n, sizeof(*all.v), cmp_u64);
        struct result r = {
                .p50_us = all.n ? (double)all.v[all.n / 2] / 1e3 : 0,
                .p99_us = all.n ? (double)all.v[all.n * 99 / 100] / 1e3 : 0,
                .qps = (double)all.n / elapsed,
        };
        free(all.v);
        free(w);
        free(t);
        return r;
}

int main(int argc, char **argv)
{
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
                        seconds = atof(argv[++i]);
        char dir[] = "/tmp/akbenchXXXXXX";
        if (!mkdtemp(dir))
                return 1;
        char raw_path[128], rpc_path[160];
        snprintf(raw_path, sizeof(raw_path), "%s/raw.sock", dir);
        snprintf(rpc_path, sizeof(rpc_path), "unix:%s/rpc.sock", dir);

        struct rpc_server *srv;
        struct ak_error err;
        int port;
        if (rpc_server_new(NULL, &srv, &err) || rpc_server_listen(srv, "127.0.0.1:0", NULL, &port, &err) ||
            rpc_server_listen(srv, rpc_path, NULL, NULL, &err) ||
            rpc_server_add_service(srv, &ak__test__echo__descriptor, methods, 1, NULL, &err) ||
            rpc_server_start(srv, &err)) {
                fprintf(stderr, "bench: %s\n", err.msg);
                return 1;
        }
        char tcp_target[64];
        snprintf(tcp_target, sizeof(tcp_target), "127.0.0.1:%d", port);

        printf("bench/rpc: unary ping-pong, 32-byte payload, %.1f s per row, %ld cores\n", seconds,
               sysconf(_SC_NPROCESSORS_ONLN));
        printf("%-6s %-8s %-22s %10s %10s %10s %12s\n", "socket", "clients", "what", "p50 us",
               "p99 us", "QPS", "p50/floor");
        const char *kinds[] = { "tcp", "unix" };
        for (int k = 0; k < 2; k++) {
                bool is_unix = k == 1;
                struct raw_target raw;
                if (raw_listen(is_unix, raw_path, &raw) < 0) {
                        perror("raw listen");
                        return 1;
                }
                int counts[] = { 1, 16 };
                for (int c = 0; c < 2; c++) {
                        int n = counts[c];
                        struct result floor = run(n, raw_client, &raw, NULL);
                        /* One channel per client, as separate processes would have. */
                        struct rpc_channel **chans = calloc((size_t)n, sizeof(*chans));
                        for (int i = 0; i < n; i++)
                                rpc_channel_new(is_unix ? rpc_path : tcp_target, NULL, &chans[i], &err);
                        struct result r = run(n, rpc_client, NULL, chans);
                        for (int i = 0; i < n; i++)
                                rpc_channel_free(chans[i]);
                        free(chans);
                        printf("%-6s %-8d %-22s %10.1f %10.1f %10.0f %12s\n", kinds[k], n,
                               "floor: raw echo", floor.p50_us, floor.p99_us, floor.qps, "1.00x");
                        char ratio[32];
                        snprintf(ratio, sizeof(ratio), "%.2fx", r.p50_us / floor.p50_us);
                        printf("%-6s %-8d %-22s %10.1f %10.1f %10.0f %12s\n", kinds[k], n,
                               "lib/rpc unary", r.p50_us, r.p99_us, r.qps, ratio);
                }
        }
        printf("target: lib/rpc p50 within 3x of the floor\n");
        rpc_server_shutdown(srv, 1000);
        unlink(raw_path);
        rmdir(dir);
        return 0;
}
