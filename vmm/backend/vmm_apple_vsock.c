/* The apple backend's hybrid vsock: a helper process (forked, not exec'd,
 * from a threaded parent, so only async-signal-safe calls) that turns each
 * "CONNECT 52000\n" on the VM's socket into `container exec -i ... ak-guest
 * --stdio` with the connection as its stdin and stdout. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/guest/guest_client.h"
#include "vmm/backend/vmm_apple_impl.h"

extern char **environ;

#define LINE_TIMEOUT_MS 10000

/* "CONNECT <port>": the port, or -1. */
static long parse_connect(const char *line, size_t n)
{
        static const char word[] = "CONNECT ";
        long port = 0;
        size_t i;

        for (i = 0; i < sizeof(word) - 1; i++)
                if (i >= n || line[i] != word[i])
                        return -1;
        if (i == n || n - i > 10)
                return -1;
        for (; i < n; i++) {
                if (line[i] < '0' || line[i] > '9')
                        return -1;
                port = port * 10 + (line[i] - '0');
        }
        return port;
}

static void write_ok(int fd, unsigned port)
{
        char buf[24];
        size_t n = sizeof(buf);
        buf[--n] = '\n';
        do {
                buf[--n] = (char)('0' + port % 10);
                port /= 10;
        } while (port);
        buf[--n] = ' ';
        buf[--n] = 'K';
        buf[--n] = 'O';
        (void)!write(fd, buf + n, sizeof(buf) - n);
}

/* In a child of the helper: the connection's first line, then exec. */
static void serve_connection(struct apple_vsock *v, int c, unsigned host_port)
{
        char line[32];
        size_t n = 0;

        for (;;) {
                struct pollfd p = { .fd = c, .events = POLLIN };
                char ch;
                if (poll(&p, 1, LINE_TIMEOUT_MS) <= 0 || read(c, &ch, 1) != 1)
                        _exit(1);
                if (ch == '\n')
                        break;
                if (n == sizeof(line))
                        _exit(1);
                line[n++] = ch;
        }
        /* Only the guest agent listens in the guest; others are closed, as
         * Firecracker closes connections to ports nobody listens on. */
        if (parse_connect(line, n) != GUEST_AGENT_PORT)
                _exit(0);
        write_ok(c, host_port);
        if (dup2(c, 0) < 0 || dup2(c, 1) < 0)
                _exit(1);
        execve(v->exec_argv[0], v->exec_argv, environ);
        _exit(127);
}

void apple_vsock_serve(void *arg)
{
        struct apple_vsock *v = arg;

        /* Forked without exec: drop every fd of the parent (other VMs'
         * sockets, RPC connections) but the listener, so their peers see
         * them close when the parent closes them. */
        if (v->listen_fd != 3) {
                if (dup2(v->listen_fd, 3) < 0)
                        _exit(1);
                v->listen_fd = 3;
        }
        if (close_range(4, ~0u, 0) < 0)
                for (int fd = 4; fd < 65536; fd++)
                        close(fd);
        for (;;) {
                struct pollfd p = { .fd = v->listen_fd, .events = POLLIN };
                int n = poll(&p, 1, 500);
                while (waitpid(-1, NULL, WNOHANG) > 0)
                        ;
                if (n <= 0)
                        continue;
                int c = accept4(v->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                        continue;
                unsigned port = v->next_port++;
                pid_t pid = fork();
                if (pid == 0) {
                        close(v->listen_fd);
                        serve_connection(v, c, port);
                }
                close(c);
        }
}
