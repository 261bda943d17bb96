/* The local stack's fifth service: ak-gateway, agentkernel's HTTP API over
 * the scheduler, started by `ak up` after the four gRPC services. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/stack.h"
#include "cli/stack_internal.h"
#include "lib/base/cleanup.h"
#include "lib/base/time.h"

#define GATEWAY_START_MS 10000
static const char listening[] = "ak-gateway: listening on ";

/* The address in the "listening on" line the gateway wrote to its log past
 * offset `from`: 1 when found, 0 not yet. */
static int read_address(const char *log, off_t from, char *out, size_t size)
{
        char buf[4096];
        _cleanup_close_ int fd = open(log, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
        if (n <= 0)
                return 0;
        buf[n] = 0;
        const char *p = strstr(buf, listening);
        if (!p)
                return 0;
        p += sizeof(listening) - 1;
        size_t len = strcspn(p, "\r\n");
        if (!p[len] || len == 0 || len >= size)
                return 0;   /* the line is not complete yet */
        memcpy(out, p, len);
        out[len] = 0;
        return 1;
}

/* The last line the gateway wrote past `from` (its reason for exiting). */
static void last_line(const char *log, off_t from, char *out, size_t size)
{
        char buf[2048];
        _cleanup_close_ int fd = open(log, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : pread(fd, buf, sizeof(buf) - 1, from);
        if (n <= 0) {
                snprintf(out, size, "it wrote nothing to its log");
                return;
        }
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                n--;
        buf[n] = 0;
        const char *nl = strrchr(buf, '\n'), *line = nl ? nl + 1 : buf;
        size_t len = strnlen(line, size - 1);
        memcpy(out, line, len);
        out[len] = 0;
}

void stack_start_gateway(struct stack *st, struct stack_up_options *o)
{
        char bin[PATH_MAX], log[PATH_MAX], token[PATH_MAX], audit[PATH_MAX], why[160];
        struct ak_error err = { 0 };
        struct stat sb;

        o->gateway_error[0] = 0;
        st->metrics[STACK_GATEWAY][0] = 0;
        if (stack_pick_metrics_addr(st->metrics[STACK_GATEWAY], sizeof(st->metrics[STACK_GATEWAY]), &err) < 0) {
                snprintf(o->gateway_error, sizeof(o->gateway_error), "%.1000s", err.msg);
                return;
        }
        if (stack_find_bin(STACK_GATEWAY, bin, sizeof(bin), &err) < 0) {
                snprintf(o->gateway_error, sizeof(o->gateway_error), "%.1000s", err.msg);
                goto fail;
        }
        snprintf(log, sizeof(log), "%s/logs/gateway.log", st->home);
        stack_token_path(st, token, sizeof(token));
        snprintf(audit, sizeof(audit), "%s/audit.jsonl", st->home);   /* the auditor's file destination */
        off_t from = stat(log, &sb) == 0 ? sb.st_size : 0;
        char *argv[] = { bin, "--scheduler", st->addr[STACK_SCHEDULER], "--scheduler-token-file", token,
                         "--keys-file", token, "--listen", (char *)o->gateway_listen, "--audit-file", audit,
                         "--metrics-listen", st->metrics[STACK_GATEWAY],
                         NULL };
        pid_t pid = stack_spawn(log, argv, &err);
        if (pid < 0) {
                snprintf(o->gateway_error, sizeof(o->gateway_error), "%.1000s", err.msg);
                goto fail;
        }
        long long deadline = ak_mono_ms() + GATEWAY_START_MS;
        char addr[STACK_ADDR_MAX];
        for (;;) {
                if (read_address(log, from, addr, sizeof(addr)) == 1)
                        break;
                if (waitpid(pid, NULL, WNOHANG) == pid) {
                        last_line(log, from, why, sizeof(why));
                        snprintf(o->gateway_error, sizeof(o->gateway_error),
                                 "ak-gateway on %.100s exited while starting: %s (log %.600s)", o->gateway_listen,
                                 why, log);
                        goto fail;
                }
                if (ak_mono_ms() > deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        snprintf(o->gateway_error, sizeof(o->gateway_error),
                                 "ak-gateway on %.100s was not listening after %d s; its log: %.600s",
                                 o->gateway_listen, GATEWAY_START_MS / 1000, log);
                        goto fail;
                }
                usleep(20 * 1000);
        }
        st->pid[STACK_GATEWAY] = pid;
        snprintf(st->addr[STACK_GATEWAY], sizeof(st->addr[STACK_GATEWAY]), "%s", addr);
        if (stack_write_record(st, &err) < 0) {
                kill(pid, SIGTERM);
                waitpid(pid, NULL, 0);
                st->pid[STACK_GATEWAY] = 0;
                st->addr[STACK_GATEWAY][0] = 0;
                snprintf(o->gateway_error, sizeof(o->gateway_error), "%.1000s", err.msg);
                goto fail;
        }
        return;
fail:
        st->metrics[STACK_GATEWAY][0] = 0;
}

/* "HOST:PORT" or "[V6]:PORT" into host and port. */
static int split_addr(const char *addr, char *host, size_t hsize, char *port, size_t psize)
{
        const char *colon = strrchr(addr, ':');
        if (!colon || colon == addr || strlen(colon + 1) == 0 || strlen(colon + 1) >= psize)
                return -EINVAL;
        const char *h = addr;
        size_t hl = (size_t)(colon - addr);
        if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
                h++;
                hl -= 2;
        }
        if (hl >= hsize)
                return -EINVAL;
        memcpy(host, h, hl);
        host[hl] = 0;
        snprintf(port, psize, "%s", colon + 1);
        return 0;
}

int stack_gateway_health(const char *addr, int timeout_ms, struct ak_error *err)
{
        char host[128], port[8], buf[256];
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai = NULL;
        long long deadline = ak_mono_ms() + timeout_ms;

        if (split_addr(addr, host, sizeof(host), port, sizeof(port)) < 0)
                return ak_error_set(err, -EINVAL, "gateway address '%s' is not HOST:PORT", addr);
        int r = getaddrinfo(host, port, &hints, &ai);
        if (r != 0)
                return ak_error_set(err, -EHOSTUNREACH, "gateway %s: %s", addr, gai_strerror(r));
        _cleanup_close_ int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                freeaddrinfo(ai);
                return ak_error_errno(err, -errno, "socket");
        }
        r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        freeaddrinfo(ai);
        if (r < 0 && errno != EINPROGRESS)
                return ak_error_errno(err, -errno, "connect to the gateway at %s", addr);
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr)
                return ak_error_errno(err, soerr ? -soerr : -ETIMEDOUT, "connect to the gateway at %s", addr);
        static const char req[] = "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
                return ak_error_errno(err, -EIO, "send to the gateway at %s", addr);
        size_t got = 0;
        while (got < 12) {
                long long left = deadline - ak_mono_ms();
                p.events = POLLIN;
                if (left <= 0 || poll(&p, 1, (int)left) != 1)
                        return ak_error_set(err, -ETIMEDOUT, "the gateway at %s did not answer GET /health "
                                            "within %d ms", addr, timeout_ms);
                ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
                if (n <= 0)
                        return ak_error_set(err, -EIO, "the gateway at %s closed the connection", addr);
                got += (size_t)n;
        }
        buf[got] = 0;
        if (strncmp(buf, "HTTP/1.1 200", 12) != 0)
                return ak_error_set(err, -EIO, "the gateway at %s answered GET /health with \"%.*s\"", addr,
                                    (int)strcspn(buf, "\r\n"), buf);
        return 0;
}
