/* OpenShell's stream (output, exit) is read on a thread of its own; our
 * stdin goes up with ShellInput, SIGWINCH becomes ShellResize. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cli/pty_session.h"
#include "cli/stack.h"

#define PTY_INPUT_CHUNK 4096

struct session {
        const char *verb;
        struct rpc_channel *ch;
        struct rpc_call_options opts;
        struct rpc_stream *st;
        const char *sandbox;
        char *id;
        int wake[2];          /* the reader thread says "done" here */
        int exit_code;
        bool exited;
        Ak__V1__ShellEvent *exited_ev; /* kept when the caller wants it */
        bool keep_exited;
        char error[1024];
};

/* The terminal as it was; written before raw is set, read by handlers. */
static struct termios saved;
static volatile sig_atomic_t raw;
static int winch_pipe[2] = { -1, -1 };
static const int fatal_signals[] = { SIGTERM, SIGHUP, SIGQUIT, SIGINT };

static void restore_tty(void)
{
        if (raw) {
                tcsetattr(0, TCSAFLUSH, &saved);
                raw = 0;
        }
}

/* A signal that ends ak: the terminal back first, then the default
 * action (tcsetattr is async-signal-safe). */
static void on_fatal(int sig)
{
        if (raw) {
                tcsetattr(0, TCSANOW, &saved);
                raw = 0;
        }
        signal(sig, SIG_DFL);
        raise(sig);
}

static void on_winch(int sig)
{
        (void)sig;
        int e = errno;
        if (winch_pipe[1] >= 0 && write(winch_pipe[1], "w", 1) < 0) {
                /* full: a resize is pending anyway */
        }
        errno = e;
}

static void window(uint32_t *rows, uint32_t *cols)
{
        struct winsize ws;
        *rows = 24;
        *cols = 80;
        if ((ioctl(1, TIOCGWINSZ, &ws) == 0 || ioctl(0, TIOCGWINSZ, &ws) == 0) && ws.ws_row && ws.ws_col) {
                *rows = ws.ws_row;
                *cols = ws.ws_col;
        }
}

static void *reader(void *arg)
{
        struct session *s = arg;
        struct ak_error err = { 0 };
        for (;;) {
                Ak__V1__ShellEvent *ev = NULL;
                int r = rpc_stream_next(s->st, (ProtobufCMessage **)&ev, &err);
                if (r == 0)
                        break;
                if (r < 0) {
                        if (!s->exited)
                                snprintf(s->error, sizeof(s->error), "%s", err.msg);
                        break;
                }
                if (ev->kind == AK__V1__SHELL_EVENT__KIND__OUTPUT) {
                        size_t off = 0;
                        while (off < ev->output.len) {
                                ssize_t n = write(1, ev->output.data + off, ev->output.len - off);
                                if (n <= 0 && errno != EINTR)
                                        break;
                                if (n > 0)
                                        off += (size_t)n;
                        }
                } else if (ev->kind == AK__V1__SHELL_EVENT__KIND__EXITED) {
                        s->exit_code = ev->exit_code;
                        s->exited = true;
                        if (s->keep_exited && !s->exited_ev) {
                                s->exited_ev = ev;
                                continue;
                        }
                }
                protobuf_c_message_free_unpacked(&ev->base, NULL);
        }
        if (write(s->wake[1], "d", 1) < 0) {
                /* the main loop also sees the pipe close at exit */
        }
        return NULL;
}

static int send_input(struct session *s, const uint8_t *data, size_t len)
{
        Ak__V1__ShellInputRequest req = AK__V1__SHELL_INPUT_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        struct ak_error err = { 0 };
        req.sandbox = (char *)s->sandbox;
        req.session_id = s->id;
        req.input.data = (uint8_t *)data;
        req.input.len = len;
        if (rpc_unary(s->ch, &ak__v1__scheduler__descriptor, "ShellInput", &req.base, &s->opts, &resp, &err)) {
                snprintf(s->error, sizeof(s->error), "%s", err.msg);
                return -1;
        }
        protobuf_c_message_free_unpacked(resp, NULL);
        return 0;
}

static void send_resize(struct session *s)
{
        Ak__V1__ShellResizeRequest req = AK__V1__SHELL_RESIZE_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        struct ak_error err = { 0 };
        req.sandbox = (char *)s->sandbox;
        req.session_id = s->id;
        window(&req.rows, &req.cols);
        if (rpc_unary(s->ch, &ak__v1__scheduler__descriptor, "ShellResize", &req.base, &s->opts, &resp,
                      &err) == 0)
                protobuf_c_message_free_unpacked(resp, NULL);
}

/* Copies stdin up (with input) and resizes until the reader says the
 * session ended. */
static void pump(struct session *s, bool input)
{
        uint8_t buf[PTY_INPUT_CHUNK];
        bool in_open = input;
        for (;;) {
                struct pollfd p[3] = { { s->wake[0], POLLIN, 0 }, { winch_pipe[0], POLLIN, 0 },
                                       { in_open ? 0 : -1, POLLIN, 0 } };
                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                if (p[0].revents)
                        return;
                if (p[1].revents) {
                        char c[16];
                        if (read(winch_pipe[0], c, sizeof(c)) > 0)
                                send_resize(s);
                }
                if (p[2].revents) {
                        ssize_t n = read(0, buf, sizeof(buf));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0) {
                                in_open = false;
                                if (!isatty(0))
                                        send_input(s, (const uint8_t *)"\x04", 1);
                                continue;
                        }
                        if (send_input(s, buf, (size_t)n) < 0)
                                return;
                }
        }
}

/* Raw mode on a terminal stdin, with the handlers that undo it. */
static void go_raw(void)
{
        static bool registered;
        if (!isatty(0) || tcgetattr(0, &saved) < 0)
                return;
        struct sigaction sa = { .sa_handler = on_fatal };
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
                sigaction(fatal_signals[i], &sa, NULL);
        if (!registered) {
                atexit(restore_tty);
                registered = true;
        }
        struct termios t = saved;
        cfmakeraw(&t);
        if (tcsetattr(0, TCSAFLUSH, &t) == 0)
                raw = 1;
}

static void leave_raw(void)
{
        restore_tty();
        for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
                signal(fatal_signals[i], SIG_DFL);
}

/* OpenShell up to its STARTED event: 0, or 125 reported. */
static int open_session(struct session *s, Ak__V1__OpenShellRequest *req)
{
        struct ak_error err = { 0 };
        if (stack_client(true, &s->ch, &s->opts, &err) < 0 ||
            rpc_stream_open(s->ch, &ak__v1__scheduler__descriptor, "OpenShell", &req->base, &s->opts, &s->st,
                            &err) != RPC_OK) {
                fprintf(stderr, "ak %s: %s\n", s->verb, err.msg);
                return 125;
        }
        Ak__V1__ShellEvent *first = NULL;
        int r = rpc_stream_next(s->st, (ProtobufCMessage **)&first, &err);
        if (r <= 0 || first->kind != AK__V1__SHELL_EVENT__KIND__STARTED) {
                fprintf(stderr, "ak %s: %s\n", s->verb, r < 0 ? err.msg : "the PTY session did not start");
                if (r > 0)
                        protobuf_c_message_free_unpacked(&first->base, NULL);
                return 125;
        }
        s->id = strdup(first->session_id);
        protobuf_c_message_free_unpacked(&first->base, NULL);
        if (!s->id || pipe2(s->wake, O_CLOEXEC) < 0 || pipe2(winch_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
                fprintf(stderr, "ak %s: starting the session: %s\n", s->verb, strerror(errno));
                return 125;
        }
        return 0;
}

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

int pty_session_run(const char *verb, Ak__V1__OpenShellRequest *req, bool input, Ak__V1__ShellEvent **ret_exited)
{
        struct session s = { .verb = verb, .sandbox = req->sandbox, .wake = { -1, -1 },
                             .keep_exited = ret_exited != NULL };
        if (ret_exited)
                *ret_exited = NULL;
        window(&req->rows, &req->cols);
        int code = open_session(&s, req);
        if (code == 0) {
                struct sigaction sa = { .sa_handler = on_winch, .sa_flags = SA_RESTART };
                sigemptyset(&sa.sa_mask);
                sigaction(SIGWINCH, &sa, NULL);
                if (input)
                        go_raw();
                pthread_t th;
                if (pthread_create(&th, NULL, reader, &s) != 0) {
                        fprintf(stderr, "ak %s: cannot start a thread\n", verb);
                        code = 125;
                } else {
                        pump(&s, input);
                        if (!s.exited && s.error[0])
                                rpc_stream_cancel(s.st);
                        pthread_join(th, NULL);
                }
                leave_raw();
                signal(SIGWINCH, SIG_DFL);
        }
        rpc_stream_free(s.st);
        rpc_channel_free(s.ch);
        free(s.id);
        close_fd(&s.wake[0]);
        close_fd(&s.wake[1]);
        close_fd(&winch_pipe[0]);
        close_fd(&winch_pipe[1]);
        if (ret_exited)
                *ret_exited = s.exited_ev;
        else if (s.exited_ev)
                protobuf_c_message_free_unpacked(&s.exited_ev->base, NULL);
        if (code)
                return code;
        if (!s.exited) {
                fprintf(stderr, "ak %s: the session ended without an exit code%s%s\n", verb, s.error[0] ? ": " : "",
                        s.error);
                return 125;
        }
        return s.exit_code < 0 ? 125 : s.exit_code > 255 ? 255 : s.exit_code;
}
