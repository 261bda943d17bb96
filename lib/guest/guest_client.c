#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/time.h"
#include "lib/base/utf8.h"
#include "lib/guest/frame.h"
#include "lib/guest/guest_client.h"

static int left_ms(int64_t deadline)
{
        int64_t l = deadline - ak_mono_ms();
        return l < 0 ? 0 : (int)l;
}

int guest_client_connect(const char *uds_path, uint32_t port, int timeout_ms, int *ret_fd)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int64_t deadline = ak_mono_ms() + timeout_ms;
        char line[32];
        size_t len = 0;

        if (strlen(uds_path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, uds_path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return errno == ECONNREFUSED ? -ENOENT : -errno;
        int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
        if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
                return -ECONNREFUSED;
        /* Byte by byte: nothing after the newline belongs to us. */
        for (;;) {
                struct pollfd p = { fd, POLLIN, 0 };
                int r = poll(&p, 1, left_ms(deadline));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                ssize_t got = recv(fd, line + len, 1, 0);
                if (got < 0 && errno == EINTR)
                        continue;
                if (got < 0)
                        return errno == ECONNRESET ? -ECONNREFUSED : -errno;
                if (got == 0)
                        return -ECONNREFUSED;
                if (line[len++] == '\n')
                        break;
                if (len == sizeof(line) - 1)
                        return -EPROTO;
        }
        line[len] = 0;
        unsigned hp;
        char nl;
        if (sscanf(line, "OK %u%c", &hp, &nl) != 2 || nl != '\n')
                return -EPROTO;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int call(int fd, const struct proto_request_args *req, int timeout_ms,
                int (*on_chunk)(void *userdata, const struct proto_reply *chunk), void *userdata,
                struct proto_reply **ret)
{
        int64_t deadline = ak_mono_ms() + timeout_ms;
        char *json = NULL;
        size_t json_len = 0;

        int r = proto_request_json(req, &json, &json_len);
        if (r < 0)
                return r;
        r = frame_write(fd, json, json_len, timeout_ms);
        free(json);
        if (r < 0)
                return r == -EPIPE ? -ECONNRESET : r;
        for (;;) {
                uint8_t *body = NULL;
                size_t len = 0;
                /* Every frame gets what is left of the call's time. */
                r = frame_read(fd, FRAME_MAX, left_ms(deadline), &body, &len);
                if (r < 0)
                        return r == -EMSGSIZE ? -EPROTO : r;
                struct proto_reply *rep = NULL;
                r = proto_reply_parse(body, len, &rep);
                free(body);
                if (r < 0)
                        return -EPROTO;
                /* Guest words end up in statuses, logs and terminals. */
                utf8_sanitize_str(rep->error);
                bool ours = rep->id && req->id && strcmp(rep->id, req->id) == 0;
                bool chunk = rep->stream && !rep->has_exit_code && !rep->error;
                if (ours && !chunk) {
                        *ret = rep;
                        return 0;
                }
                r = ours && on_chunk ? on_chunk(userdata, rep) : 0;
                proto_reply_free(rep);
                if (r < 0)
                        return r;
                if (left_ms(deadline) == 0)
                        return -ETIMEDOUT;
        }
}

int guest_client_call(int fd, const struct proto_request_args *req, int timeout_ms, struct proto_reply **ret)
{
        return call(fd, req, timeout_ms, NULL, NULL, ret);
}

int guest_client_call_stream(int fd, const struct proto_request_args *req, int timeout_ms,
                             int (*on_chunk)(void *userdata, const struct proto_reply *chunk), void *userdata,
                             struct proto_reply **ret)
{
        return call(fd, req, timeout_ms, on_chunk, userdata, ret);
}

int guest_client_ping(const char *uds_path, int timeout_ms)
{
        int64_t deadline = ak_mono_ms() + timeout_ms;
        _cleanup_close_ int fd = -1;

        int r = guest_client_connect(uds_path, GUEST_AGENT_PORT, timeout_ms, &fd);
        if (r < 0)
                return r;
        struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
        a.id = "ping";
        a.type = "ping";
        struct proto_reply *rep = NULL;
        r = guest_client_call(fd, &a, left_ms(deadline), &rep);
        if (r < 0)
                return r;
        r = rep->has_exit_code && rep->exit_code == 0 ? 0 : -EPROTO;
        proto_reply_free(rep);
        return r;
}
