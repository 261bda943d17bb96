/* `ak shell NAME`: an interactive PTY shell in a sandbox. OpenShell's stream
 * (output, exit) is read on a thread of its own; our stdin goes up with
 * ShellInput, SIGWINCH becomes ShellResize. The terminal is raw while the
 * shell runs and restored on every way out. */
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

#include "cli/cli.h"
#include "cli/opt.h"
#include "cli/sandbox_opts.h"
#include "cli/stack.h"
#include "protos/ak/v1/scheduler.pb-c.h"

#define SHELL_MAX_ENV 256
#define SHELL_INPUT_CHUNK 4096

const char cli_shell_help[] =
        "Usage: ak shell [NAME] [-e K=V|NAME]... [--env-file F] [-c FILE] [-- CMD [ARGS...]]\n"
        "       ak attach ...   (agentkernel's name for the same)\n"
        "\n"
        "Opens an interactive terminal in the sandbox NAME (default /bin/sh; CMD\n"
        "instead when given). NAME defaults to agentkernel.toml's [sandbox] name\n"
        "(./agentkernel.toml or -c FILE), whose [env] the shell gets under -e. The window size follows yours. ak exits with the\n"
        "shell's exit code. With stdin not a terminal, its bytes are typed into the\n"
        "shell and end-of-file sends ^D.\n"
        "\n"
        "Examples:\n"
        "  ak sandbox create dev && ak shell dev\n"
        "  ak shell dev -e TERM=xterm -- /bin/sh -l\n"
        "  printf 'uname -a\\nexit 3\\n' | ak shell dev; echo $?\n";

static const struct cli_command cmd = { "shell", "", cli_shell_run, cli_shell_help };
static const struct cli_command cmd_attach = { "attach", "", cli_shell_run, cli_shell_help };

struct shell {
        struct rpc_channel *ch;
        struct rpc_call_options opts;
        struct rpc_stream *st;
        const char *sandbox;
        char *session;
        int wake[2];          /* the reader thread says "done" here */
        int exit_code;
        bool exited;
        char error[1024];
};

static struct termios saved;
static bool raw;
static int winch_pipe[2] = { -1, -1 };

static void restore_tty(void)
{
        if (raw) {
                tcsetattr(0, TCSAFLUSH, &saved);
                raw = false;
        }
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

static void window(unsigned *rows, unsigned *cols)
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
        struct shell *sh = arg;
        struct ak_error err = { 0 };
        for (;;) {
                Ak__V1__ShellEvent *ev = NULL;
                int r = rpc_stream_next(sh->st, (ProtobufCMessage **)&ev, &err);
                if (r == 0)
                        break;
                if (r < 0) {
                        if (!sh->exited)
                                snprintf(sh->error, sizeof(sh->error), "%s", err.msg);
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
                        sh->exit_code = ev->exit_code;
                        sh->exited = true;
                }
                protobuf_c_message_free_unpacked(&ev->base, NULL);
        }
        if (write(sh->wake[1], "d", 1) < 0) {
                /* the main loop also sees the pipe close at exit */
        }
        return NULL;
}

static int send_input(struct shell *sh, const uint8_t *data, size_t len)
{
        Ak__V1__ShellInputRequest req = AK__V1__SHELL_INPUT_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        struct ak_error err = { 0 };
        req.sandbox = (char *)sh->sandbox;
        req.session_id = sh->session;
        req.input.data = (uint8_t *)data;
        req.input.len = len;
        if (rpc_unary(sh->ch, &ak__v1__scheduler__descriptor, "ShellInput", &req.base, &sh->opts, &resp, &err)) {
                snprintf(sh->error, sizeof(sh->error), "%s", err.msg);
                return -1;
        }
        protobuf_c_message_free_unpacked(resp, NULL);
        return 0;
}

static void send_resize(struct shell *sh)
{
        Ak__V1__ShellResizeRequest req = AK__V1__SHELL_RESIZE_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        struct ak_error err = { 0 };
        req.sandbox = (char *)sh->sandbox;
        req.session_id = sh->session;
        window(&req.rows, &req.cols);
        if (rpc_unary(sh->ch, &ak__v1__scheduler__descriptor, "ShellResize", &req.base, &sh->opts, &resp,
                      &err) == 0)
                protobuf_c_message_free_unpacked(resp, NULL);
}

/* Copies stdin up and resizes until the reader says the session ended. */
static void pump(struct shell *sh)
{
        uint8_t buf[SHELL_INPUT_CHUNK];
        bool in_open = true;
        for (;;) {
                struct pollfd p[3] = { { sh->wake[0], POLLIN, 0 }, { winch_pipe[0], POLLIN, 0 },
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
                                send_resize(sh);
                }
                if (p[2].revents) {
                        ssize_t n = read(0, buf, sizeof(buf));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0) {
                                in_open = false;
                                if (!isatty(0))
                                        send_input(sh, (const uint8_t *)"\x04", 1);
                                continue;
                        }
                        if (send_input(sh, buf, (size_t)n) < 0)
                                return;
                }
        }
}

enum { SH_ENV = 1, SH_ENV_FILE, SH_CONFIG };

/* NAME (or agentkernel.toml's [sandbox] name), -e, --env-file, -c; the
 * command after "--" or NAME. Fills req's sandbox, env and argv (pointing
 * into so and argv). */
static const struct cli_option shell_opts[] = {
        { "env", 'e', true, SO_ENV },
        { "env-file", 0, true, SO_ENV_FILE },
        { "config", 'c', true, SO_CONFIG },
        { NULL, 0, false, 0 },
};
static const struct cli_option *const shell_tables[] = { shell_opts, NULL };
const struct cli_sub cli_shell_subs[] = { { "", shell_tables }, { NULL, NULL } };

static int shell_parse(int argc, char **argv, struct sandbox_opts *so, const char **ret_name,
                       Ak__V1__OpenShellRequest *req)
{
        static const struct cli_option *const *const tables = shell_tables;
        const struct cli_command *c = strcmp(argv[0], "attach") == 0 ? &cmd_attach : &cmd;
        const char *name = NULL;
        struct cli_opts p;
        int id;
        sandbox_opts_init(so);
        cli_opts_init(&p, c, tables, argc, argv);
        while ((id = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (id == CLI_OPT_ERROR)
                        return 2;
                if (id == CLI_OPT_POSITIONAL) {
                        if (name)
                                return cli_usage_error(c, "unexpected %s (the command goes after --)", p.arg);
                        name = p.arg;
                        continue;
                }
                int r = sandbox_opts_flag(so, &p, id);
                if (r)
                        return r;
        }
        int i = cli_opts_index(&p);
        if (sandbox_opts_layers(so, c->name))
                return 2;
        if (!name && !(name = sandbox_opts_config_name(so)))
                return cli_usage_error(c, "which sandbox? give its NAME (or [sandbox] name in %s)",
                                       CONFIG_FILE_NAME);
        if (so->merged_env.n > SHELL_MAX_ENV)
                return cli_usage_error(c, "at most %d environment variables", SHELL_MAX_ENV);
        *ret_name = name;
        req->env = so->merged_env.kv;
        req->n_env = so->merged_env.n;
        req->argv = argv + i;
        req->n_argv = (size_t)(argc - i);
        return 0;
}

static int shell_session(struct shell *shp, Ak__V1__OpenShellRequest *reqp);

int cli_shell_run(int argc, char **argv)
{
        Ak__V1__OpenShellRequest req = AK__V1__OPEN_SHELL_REQUEST__INIT;
        struct shell sh = { .wake = { -1, -1 }, .exit_code = 0 };
        struct sandbox_opts so;
        int r = shell_parse(argc, argv, &so, &sh.sandbox, &req);
        if (r) {
                sandbox_opts_free(&so);
                return r;
        }
        r = shell_session(&sh, &req);
        sandbox_opts_free(&so);
        return r;
}

static int shell_session(struct shell *shp, Ak__V1__OpenShellRequest *reqp)
{
        struct shell sh = *shp;
        Ak__V1__OpenShellRequest req = *reqp;
        req.sandbox = (char *)sh.sandbox;
        window(&req.rows, &req.cols);

        struct ak_error err = { 0 };
        if (stack_client(true, &sh.ch, &sh.opts, &err) < 0 ||
            rpc_stream_open(sh.ch, &ak__v1__scheduler__descriptor, "OpenShell", &req.base, &sh.opts, &sh.st,
                            &err) != RPC_OK) {
                fprintf(stderr, "ak shell: %s\n", err.msg);
                rpc_channel_free(sh.ch);
                return 125;
        }
        Ak__V1__ShellEvent *first = NULL;
        int r = rpc_stream_next(sh.st, (ProtobufCMessage **)&first, &err);
        if (r <= 0 || first->kind != AK__V1__SHELL_EVENT__KIND__STARTED) {
                fprintf(stderr, "ak shell: %s\n", r < 0 ? err.msg : "the shell did not start");
                if (r > 0)
                        protobuf_c_message_free_unpacked(&first->base, NULL);
                rpc_stream_free(sh.st);
                rpc_channel_free(sh.ch);
                return 125;
        }
        sh.session = strdup(first->session_id);
        protobuf_c_message_free_unpacked(&first->base, NULL);

        if (!sh.session || pipe2(sh.wake, O_CLOEXEC) < 0 || pipe2(winch_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
                fprintf(stderr, "ak shell: %s\n", strerror(errno));
                return 125;
        }
        struct sigaction sa = { .sa_handler = on_winch, .sa_flags = SA_RESTART };
        sigaction(SIGWINCH, &sa, NULL);
        if (isatty(0) && tcgetattr(0, &saved) == 0) {
                struct termios t = saved;
                cfmakeraw(&t);
                if (tcsetattr(0, TCSAFLUSH, &t) == 0) {
                        raw = true;
                        atexit(restore_tty);
                }
        }
        pthread_t th;
        if (pthread_create(&th, NULL, reader, &sh) != 0) {
                restore_tty();
                fprintf(stderr, "ak shell: cannot start a thread\n");
                return 125;
        }
        pump(&sh);
        if (!sh.exited && sh.error[0])
                rpc_stream_cancel(sh.st);
        pthread_join(th, NULL);
        restore_tty();
        signal(SIGWINCH, SIG_DFL);
        rpc_stream_free(sh.st);
        rpc_channel_free(sh.ch);
        free(sh.session);
        close(sh.wake[0]);
        close(sh.wake[1]);
        if (!sh.exited) {
                fprintf(stderr, "ak shell: the session ended without an exit code%s%s\n",
                        sh.error[0] ? ": " : "", sh.error);
                return 125;
        }
        return sh.exit_code < 0 ? 125 : sh.exit_code > 255 ? 255 : sh.exit_code;
}
