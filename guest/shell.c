/* PTY shell sessions: `shell` starts one, output is pushed on the owning
 * connection as shell_event "output" frames, then "exited". */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "guest/agent_impl.h"
#include "lib/base/time.h"
#include "lib/encoding/base64.h"

struct session {
        struct obj obj;
        struct agent *agent;
        struct conn *conn;
        char *id;               /* the `shell` request's id: output frames carry it */
        char session_id[40];
        struct child child;
        struct watch pty;       /* the master */
        struct watch timer;
        uint8_t *in;            /* input not yet written to the PTY */
        size_t in_len;
        size_t in_off;
        bool exited;
        bool eof;
        bool paused;
        int status;
        char *close_id;         /* a shell_close waiting for the exit */
        struct session *prev;
        struct session *next;
};

static void session_free(struct obj *o)
{
        struct session *s = container_of(o, struct session, obj);

        watch_close(s->agent, &s->pty);
        watch_close(s->agent, &s->timer);
        child_remove(s->agent, &s->child);
        free(s->in);
        free(s->id);
        free(s->close_id);
        free(s);
}

static void unlink_session(struct session *s)
{
        struct agent *a = s->agent;

        if (s->prev)
                s->prev->next = s->next;
        else
                a->sessions = s->next;
        if (s->next)
                s->next->prev = s->prev;
        s->prev = s->next = NULL;
        a->n_sessions--;
        obj_kill(a, &s->obj);
}

static void session_end(struct session *s)
{
        if (!s->exited)
                kill(-s->child.pid, SIGKILL);
        unlink_session(s);
}

void shell_abort_conn(struct agent *a, struct conn *c)
{
        struct session *s = a->sessions;

        while (s) {
                struct session *next = s->next;
                if (s->conn == c) {
                        if (!s->exited)
                                kill(-s->child.pid, SIGHUP);
                        session_end(s);
                }
                s = next;
        }
}

static struct session *find(struct agent *a, const char *session_id)
{
        for (struct session *s = a->sessions; s; s = s->next)
                if (strcmp(s->session_id, session_id) == 0)
                        return s;
        return NULL;
}

static void update_events(struct session *s)
{
        uint32_t ev = 0;

        if (s->pty.fd < 0)
                return;
        if (!s->eof && !s->paused)
                ev |= EPOLLIN;
        if (s->in_len > s->in_off)
                ev |= EPOLLOUT;
        watch_set(s->agent, &s->pty, ev);
}

static void finish(struct session *s)
{
        struct proto_response resp = {
                .id = s->close_id ? s->close_id : s->id,
                .has_exit_code = true,
                .exit_code = WIFEXITED(s->status) ? WEXITSTATUS(s->status) : -1,
                .signal = WIFSIGNALED(s->status) ? WTERMSIG(s->status) : 0,
                .session_id = s->session_id,
                .shell_event = "exited",
        };

        conn_send(s->conn, &resp);
        unlink_session(s);
}

static void maybe_finish(struct session *s)
{
        if (!s->obj.dead && s->exited && s->eof)
                finish(s);
}

static void read_output(struct session *s)
{
        char buf[CHUNK_SIZE];
        char b64[(CHUNK_SIZE + 2) / 3 * 4 + 1];

        for (int i = 0; i < 16 && !s->obj.dead; i++) {
                if (conn_congested(s->conn)) {
                        s->paused = true;
                        update_events(s);
                        return;
                }
                ssize_t n = read(s->pty.fd, buf, sizeof(buf));
                if (n < 0 && (errno == EINTR))
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0) {
                        /* EIO: every holder of the slave is gone. */
                        s->eof = true;
                        update_events(s);
                        maybe_finish(s);
                        return;
                }
                base64_encode(buf, (size_t)n, b64, sizeof(b64));
                struct proto_response resp = {
                        .id = s->id,
                        .session_id = s->session_id,
                        .output_base64 = b64,
                        .output_base64_len = base64_encoded_len((size_t)n),
                        .shell_event = "output",
                };
                conn_send(s->conn, &resp);
        }
}

static void write_input(struct session *s)
{
        while (s->in_off < s->in_len) {
                ssize_t n = write(s->pty.fd, s->in + s->in_off, s->in_len - s->in_off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN) /* the shell is gone: drop it */
                                s->in_off = s->in_len;
                        break;
                }
                s->in_off += (size_t)n;
        }
        if (s->in_off == s->in_len)
                s->in_off = s->in_len = 0;
        update_events(s);
}

static void on_pty(struct watch *w, uint32_t events)
{
        struct session *s = container_of(w, struct session, pty);

        if (events & EPOLLOUT)
                write_input(s);
        if (!s->obj.dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !s->eof && !s->paused)
                read_output(s);
        else if (!s->obj.dead && (events & EPOLLHUP) && !s->paused) {
                s->eof = true;
                update_events(s);
                maybe_finish(s);
        }
}

void shell_resume_conn(struct agent *a, struct conn *c)
{
        for (struct session *s = a->sessions; s; s = s->next) {
                if (s->conn == c && s->paused) {
                        s->paused = false;
                        update_events(s);
                }
        }
}

static void on_timer(struct watch *w, uint32_t events)
{
        struct session *s = container_of(w, struct session, timer);
        uint64_t ticks;

        if (read(w->fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
                return;
        if (!s->exited) {
                /* shell_close: SIGHUP was not enough. */
                kill(-s->child.pid, SIGKILL);
                return;
        }
        if (s->paused) {
                timer_arm(s->agent, &s->timer, &s->obj, on_timer, EXIT_GRACE_MS);
                return;
        }
        /* A background process still holds the terminal: the session is
         * over anyway. Send what is already there first. */
        read_output(s);
        if (!s->obj.dead) {
                s->eof = true;
                maybe_finish(s);
        }
}

static void on_exit_status(struct child *ch, int status)
{
        struct session *s = container_of(ch, struct session, child);

        s->exited = true;
        s->status = status;
        if (!s->eof)
                timer_arm(s->agent, &s->timer, &s->obj, on_timer, s->close_id ? 100 : EXIT_GRACE_MS);
        maybe_finish(s);
}

static void make_session_id(char buf[40])
{
        uint8_t u[16] = { 0 };

        /* A UUID v4, as agentkernel's session ids. */
        if (getrandom(u, sizeof(u), GRND_NONBLOCK) != sizeof(u)) {
                static uint64_t counter;
                uint64_t t = ak_mono_ms() ^ ((uint64_t)getpid() << 32) ^ ++counter;
                memcpy(u, &t, sizeof(t));
                memcpy(u + 8, &counter, sizeof(counter));
        }
        u[6] = (uint8_t)((u[6] & 0x0F) | 0x40);
        u[8] = (uint8_t)((u[8] & 0x3F) | 0x80);
        snprintf(buf, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
                 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

static void fail(struct conn *c, const char *id, const char *what, int err)
{
        char msg[512];

        if (err)
                snprintf(msg, sizeof(msg), "Failed to start shell: %s%s (os error %d)", what, strerror(err),
                         err);
        else
                snprintf(msg, sizeof(msg), "Failed to start shell: %s", what);
        conn_send_error(c, id, msg);
}

void shell_start(struct conn *c, const struct proto_request *req)
{
        static const char *const default_argv[] = { "/bin/sh" };
        struct agent *a = conn_agent(c);
        char tty[64];
        const char *msg;
        pid_t pid;
        int e;

        if (a->n_sessions >= AGENT_MAX_SESSIONS) {
                fail(c, req->id, "too many sessions", 0);
                return;
        }
        if (req->cwd) {
                struct stat st;
                if (stat(req->cwd, &st) < 0 || !S_ISDIR(st.st_mode)) {
                        fail(c, req->id, "cwd: ", errno ? errno : ENOTDIR);
                        return;
                }
        }
        int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (m < 0) {
                fail(c, req->id, "", errno);
                return;
        }
        struct winsize ws = {
                .ws_row = (unsigned short)(req->rows >= 0 ? req->rows : 24),
                .ws_col = (unsigned short)(req->cols >= 0 ? req->cols : 80),
        };
        if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, tty, sizeof(tty)) != 0 ||
            ioctl(m, TIOCSWINSZ, &ws) < 0) {
                e = errno;
                close(m);
                fail(c, req->id, "", e);
                return;
        }
        fcntl(m, F_SETFL, O_NONBLOCK);

        bool has_cmd = req->command && req->n_command > 0;
        struct spawn_args sa = {
                .argv = has_cmd ? req->command : default_argv,
                .argc = has_cmd ? req->n_command : 1,
                .cwd = req->cwd,
                .env_keys = req->env_keys,
                .env_values = req->env_values,
                .n_env = req->n_env,
                .default_term = "TERM=xterm-256color",
                .tty = tty,
                .as_user = req->uid >= 0,
                .uid = (uid_t)req->uid,
                .gid = (gid_t)(req->gid >= 0 ? req->gid : req->uid),
        };
        e = spawn_child(&sa, &pid, &msg);
        if (e < 0) {
                close(m);
                fail(c, req->id, msg ? msg : "", msg ? 0 : -e);
                return;
        }

        struct session *s = calloc(1, sizeof(*s));
        if (!s || !(s->id = strdup(req->id))) {
                free(s);
                kill(-pid, SIGKILL);
                close(m);
                conn_send_error(c, req->id, "Out of memory");
                return;
        }
        s->obj.free = session_free;
        s->agent = a;
        s->conn = c;
        make_session_id(s->session_id);
        watch_init(&s->pty, m, &s->obj, on_pty);
        watch_init(&s->timer, -1, &s->obj, on_timer);
        s->child.pid = pid;
        s->child.owner = &s->obj;
        s->child.exited = on_exit_status;
        child_add(a, &s->child);
        s->next = a->sessions;
        if (a->sessions)
                a->sessions->prev = s;
        a->sessions = s;
        a->n_sessions++;

        struct proto_response resp = {
                .id = req->id,
                .session_id = s->session_id,
                .shell_event = "started",
        };
        conn_send(c, &resp);
        if (!s->obj.dead)
                update_events(s);
}

static struct session *lookup(struct conn *c, const struct proto_request *req)
{
        if (!req->session_id) {
                conn_send_error(c, req->id, "No session_id specified");
                return NULL;
        }
        struct session *s = find(conn_agent(c), req->session_id);
        return s;
}

void shell_input(struct conn *c, const struct proto_request *req)
{
        char msg[128];
        uint8_t *data = NULL;
        size_t len = 0;
        int r;

        if (!req->session_id) {
                conn_send_error(c, req->id, "No session_id specified");
                return;
        }
        struct feed *f = find(conn_agent(c), req->session_id) ? NULL : feed_find(conn_agent(c), req->session_id);
        if (!req->input_base64 && !(f && req->eof)) {
                conn_send_error(c, req->id, "No input specified");
                return;
        }
        if (req->input_base64) {
                r = base64_decode_alloc(req->input_base64, req->input_base64_len, &data, &len);
                if (r == -ENOMEM) {
                        conn_send_error(c, req->id, "Out of memory");
                        return;
                }
                if (r < 0) {
                        snprintf(msg, sizeof(msg), "Invalid base64: %s",
                                 base64_decode_error(req->input_base64, req->input_base64_len));
                        conn_send_error(c, req->id, msg);
                        return;
                }
        }
        if (f) {
                /* A run's stdin: answered once written (feed.c). */
                feed_input(f, c, req->id, data, len, req->eof);
                return;
        }
        struct session *s = find(conn_agent(c), req->session_id);
        if (!s || s->exited) {
                free(data);
                conn_send_error(c, req->id, "Failed to write to session: Session not found");
                return;
        }
        size_t pending = s->in_len - s->in_off;
        if (pending + len > SESSION_INPUT_MAX) {
                free(data);
                conn_send_error(c, req->id, "Failed to write to session: input buffer full");
                return;
        }
        if (s->in_off) {
                memmove(s->in, s->in + s->in_off, pending);
                s->in_len = pending;
                s->in_off = 0;
        }
        uint8_t *p = realloc(s->in, s->in_len + len + 1);
        if (!p) {
                free(data);
                conn_send_error(c, req->id, "Out of memory");
                return;
        }
        s->in = p;
        memcpy(s->in + s->in_len, data, len);
        s->in_len += len;
        free(data);
        write_input(s);
        struct proto_response ok = { .id = req->id, .has_exit_code = true, .exit_code = 0 };
        conn_send(c, &ok);
}

void shell_resize(struct conn *c, const struct proto_request *req)
{
        char msg[128];
        struct session *s = lookup(c, req);

        if (!req->session_id)
                return;
        if (!s) {
                conn_send_error(c, req->id, "Failed to resize session: Session not found");
                return;
        }
        struct winsize ws = {
                .ws_row = (unsigned short)(req->rows >= 0 ? req->rows : 24),
                .ws_col = (unsigned short)(req->cols >= 0 ? req->cols : 80),
        };
        if (ioctl(s->pty.fd, TIOCSWINSZ, &ws) < 0) {
                snprintf(msg, sizeof(msg), "Failed to resize session: %s (os error %d)", strerror(errno), errno);
                conn_send_error(c, req->id, msg);
                return;
        }
        struct proto_response ok = { .id = req->id, .has_exit_code = true, .exit_code = 0 };
        conn_send(c, &ok);
}

void shell_close(struct conn *c, const struct proto_request *req)
{
        struct session *s = lookup(c, req);

        if (!req->session_id)
                return;
        if (!s) {
                conn_send_error(c, req->id, "Failed to close session: Session not found");
                return;
        }
        if (s->close_id) {
                conn_send_error(c, req->id, "Failed to close session: already closing");
                return;
        }
        s->close_id = strdup(req->id);
        if (!s->close_id) {
                conn_send_error(c, req->id, "Out of memory");
                return;
        }
        /* The answer goes where the close came from. */
        s->conn = c;
        if (s->exited) {
                s->eof = true;
                maybe_finish(s);
                return;
        }
        kill(-s->child.pid, SIGHUP);
        timer_arm(s->agent, &s->timer, &s->obj, on_timer, CLOSE_KILL_MS);
}
