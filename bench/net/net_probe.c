/* net_probe: the guest's side of bench/net, a static binary pushed into the
 * VM (busybox nc cannot time a connect, and a process per connection would
 * time the guest's fork under TCG rather than the network).
 *
 *   net_probe connect ADDR PORT N   N connect()+close() in a row; prints
 *                                   "connect_us P50 P99 OK N MEAN" (microseconds;
 *                                   MEAN from the loop's total, which stays
 *                                   right when the guest clock is jiffies)
 *   net_probe send ADDR PORT MIB    MIB MiB of zeros on one connection, then
 *                                   waits for the server's reply to the EOF;
 *                                   prints "send_mibps X SECONDS"
 * Exit 0 when every attempt worked, 1 otherwise (the figures still print). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dial(const struct sockaddr_in *sa)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
                return -1;
        if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static int do_connect(const struct sockaddr_in *sa, int n)
{
        double *us = calloc(n, sizeof(*us));
        int ok = 0;
        if (!us)
                return 1;
        double start = now_s();
        for (int i = 0; i < n; i++) {
                double t0 = now_s();
                int fd = dial(sa);
                if (fd < 0)
                        continue;
                us[ok++] = (now_s() - t0) * 1e6;
                close(fd);
        }
        double mean = n ? (now_s() - start) * 1e6 / n : 0;
        qsort(us, ok, sizeof(*us), cmp);
        printf("connect_us %.1f %.1f %d %d %.1f\n", ok ? us[(ok - 1) / 2] : 0,
               ok ? us[(int)(0.99 * (ok - 1) + 0.5)] : 0, ok, n, mean);
        free(us);
        return ok == n ? 0 : 1;
}

static int do_send(const struct sockaddr_in *sa, long mib)
{
        static char buf[1 << 16];
        char reply[16];
        double t0 = now_s();
        int fd = dial(sa);
        if (fd < 0) {
                perror("connect");
                return 1;
        }
        for (long left = mib << 20; left > 0;) {
                ssize_t w = write(fd, buf, left < (long)sizeof(buf) ? left : (long)sizeof(buf));
                if (w <= 0) {
                        perror("write");
                        close(fd);
                        return 1;
                }
                left -= w;
        }
        shutdown(fd, SHUT_WR);
        ssize_t r = read(fd, reply, sizeof(reply));
        double s = now_s() - t0;
        close(fd);
        printf("send_mibps %.2f %.3f\n", mib / s, s);
        return r > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
        struct sockaddr_in sa = { .sin_family = AF_INET };
        if (argc != 5 || inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1) {
                fprintf(stderr, "usage: net_probe connect|send ADDR PORT N|MIB\n");
                return 2;
        }
        sa.sin_port = htons(atoi(argv[3]));
        if (strcmp(argv[1], "connect") == 0)
                return do_connect(&sa, atoi(argv[4]));
        if (strcmp(argv[1], "send") == 0)
                return do_send(&sa, atol(argv[4]));
        fprintf(stderr, "net_probe: unknown mode %s\n", argv[1]);
        return 2;
}
