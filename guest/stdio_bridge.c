#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guest/stdio_bridge.h"
#include "lib/base/io.h"

struct stdio_bridge {
        bool used;
        int in, out, sock;
        pthread_t to_agent, from_agent;
};

/* Copies until EOF or an error; also stops when `to` reports an error or
 * hang-up (a pipe whose reader has gone), so a host that went away is
 * noticed before the next answer. */
static void copy(int from, int to)
{
        char buf[64 * 1024];
        for (;;) {
                struct pollfd p[2] = { { .fd = from, .events = POLLIN }, { .fd = to } };
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                if (p[1].revents & (POLLERR | POLLHUP))
                        return;
                if (!p[0].revents)
                        continue;
                ssize_t n = read(from, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0 || ak_write_full(to, buf, (size_t)n) < 0)
                        return;
        }
}

static void *to_agent(void *arg)
{
        struct stdio_bridge *b = arg;
        copy(b->in, b->sock);
        /* The host's EOF: the agent answers what it has, then closes. */
        shutdown(b->sock, SHUT_WR);
        return NULL;
}

static void *from_agent(void *arg)
{
        struct stdio_bridge *b = arg;
        copy(b->sock, b->out);
        /* Nobody reads the answers any more (or the agent is done): the
         * agent sees its connection hang up and aborts what it still runs. */
        shutdown(b->sock, SHUT_RDWR);
        close(b->out);
        return NULL;
}

/* One per process; static, as the input thread may outlive finish. */
static struct stdio_bridge bridge;

/* Takes sock; on failure it is closed. */
static int start(int in, int out, int sock, struct stdio_bridge **ret)
{
        struct stdio_bridge *b = &bridge;
        int r;

        if (b->used) {
                close(sock);
                return -EBUSY;
        }
        b->used = true;
        b->in = in;
        b->out = out;
        b->sock = sock;
        if ((r = pthread_create(&b->from_agent, NULL, from_agent, b)) != 0) {
                close(sock);
                return -r;
        }
        if ((r = pthread_create(&b->to_agent, NULL, to_agent, b)) != 0) {
                /* Without input the agent sees EOF, closes, and the output
                 * thread ends. */
                shutdown(sock, SHUT_WR);
                pthread_join(b->from_agent, NULL);
                close(sock);
                return -r;
        }
        pthread_detach(b->to_agent);
        *ret = b;
        return 0;
}

int stdio_bridge_start(int in, int out, int *ret_fd, struct stdio_bridge **ret)
{
        int sp[2], r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                return -errno;
        if ((r = start(in, out, sp[1], ret)) < 0) {
                close(sp[0]);
                return r;
        }
        *ret_fd = sp[0];
        return 0;
}

int stdio_bridge_relay(int in, int out, int sock, struct stdio_bridge **ret)
{
        return start(in, out, sock, ret);
}

void stdio_bridge_finish(struct stdio_bridge *b)
{
        if (!b)
                return;
        pthread_join(b->from_agent, NULL);
}
