#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/time.h"
#include "vmm/backend/qmp.h"

/* One line, without its newline, byte by byte (the stream is small). */
static int read_line(int fd, long long deadline, char **ret)
{
        size_t cap = 256, len = 0;
        char *buf = malloc(cap);

        if (!buf)
                return -ENOMEM;
        for (;;) {
                long long left = deadline - ak_mono_ms();
                struct pollfd p = { fd, POLLIN, 0 };
                int r = left <= 0 ? 0 : poll(&p, 1, (int)left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0) {
                        free(buf);
                        return r < 0 ? -errno : -ETIMEDOUT;
                }
                char c;
                ssize_t n = read(fd, &c, 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        free(buf);
                        return n < 0 ? -errno : -ECONNRESET;
                }
                if (c == '\n')
                        break;
                if (len + 2 > cap) {
                        if (cap >= QMP_LINE_MAX) {
                                free(buf);
                                return -EPROTO;
                        }
                        cap *= 2;
                        char *nb = realloc(buf, cap);
                        if (!nb) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = nb;
                }
                buf[len++] = c;
        }
        while (len && buf[len - 1] == '\r')
                len--;
        buf[len] = 0;
        *ret = buf;
        return 0;
}

static int send_all(int fd, const char *s)
{
        size_t len = strlen(s), done = 0;
        while (done < len) {
                ssize_t n = send(fd, s + done, len - done, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EPIPE ? -ECONNRESET : -errno;
                done += (size_t)n;
        }
        return 0;
}

static int command(int fd, const char *json, long long deadline, char **ret)
{
        int r = send_all(fd, json);
        if (r < 0)
                return r;
        r = send_all(fd, "\n");
        if (r < 0)
                return r;
        for (;;) {
                char *line = NULL;
                r = read_line(fd, deadline, &line);
                if (r < 0)
                        return r;
                /* {"event": ...} lines come whenever QEMU likes. */
                if (strncmp(line, "{\"return\"", 9) == 0 || strncmp(line, "{\"error\"", 8) == 0) {
                        *ret = line;
                        return 0;
                }
                free(line);
        }
}

int qmp_connect(const char *path, int timeout_ms, int *ret_fd)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        long long deadline = ak_mono_ms() + timeout_ms;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = -1;
        for (;;) {
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return -errno;
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                        break;
                int e = errno;
                close(fd);
                fd = -1;
                if ((e != ENOENT && e != ECONNREFUSED) || ak_mono_ms() >= deadline)
                        return e == ENOENT || e == ECONNREFUSED ? -ETIMEDOUT : -e;
                struct timespec ts = { 0, 20 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        char *greeting = NULL;
        int r = read_line(fd, deadline, &greeting);
        if (r < 0)
                return r;
        bool ok = strncmp(greeting, "{\"QMP\"", 6) == 0;
        free(greeting);
        if (!ok)
                return -EPROTO;
        char *reply = NULL;
        r = command(fd, "{\"execute\":\"qmp_capabilities\"}", deadline, &reply);
        if (r < 0)
                return r;
        ok = strncmp(reply, "{\"return\"", 9) == 0;
        free(reply);
        if (!ok)
                return -EPROTO;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int qmp_command(int fd, const char *json, int timeout_ms, char **ret_reply)
{
        return command(fd, json, ak_mono_ms() + timeout_ms, ret_reply);
}
