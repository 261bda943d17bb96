/* `run`: a command in its own process group, stdin /dev/null (or a pipe
 * the host feeds, see feed.c), stdout and stderr through pipes; answered when it exits (or streamed as it goes). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/agent_impl.h"
#include "guest/output.h"
#include "lib/encoding/base64.h"
#include "lib/guest/frame.h"

struct capture {
        struct watch w;
        struct run *run;
        const char *name; /* "stdout" / "stderr" */
        char *buf;
        size_t len;
        size_t cap;
        size_t limit;
};

struct run {
        struct obj obj;
        struct agent *agent;
        struct conn *conn;
        char *id;
        struct child child;
        struct capture io[2];
        struct feed *feed; /* stdin from the host, or NULL (/dev/null) */
        struct watch timer;
        bool stream;
        bool paused;
        bool exited;
        bool timed_out;
        bool truncated;
        int status;
        int64_t timeout_ms;
        struct run *prev;
        struct run *next;
};

static void run_maybe_finish(struct run *r);

struct run *run_next(struct run *r)
{
        return r->next;
}

static void run_free(struct obj *o)
{
        struct run *r = container_of(o, struct run, obj);

        for (int i = 0; i < 2; i++) {
                watch_close(r->agent, &r->io[i].w);
                free(r->io[i].buf);
        }
        watch_close(r->agent, &r->timer);
        feed_free(r->feed);
        child_remove(r->agent, &r->child);
        free(r->id);
        free(r);
}

static void unlink_run(struct run *r)
{
        struct run **head = conn_runs_head(r->conn);

        if (r->prev)
                r->prev->next = r->next;
        else
                *head = r->next;
        if (r->next)
                r->next->prev = r->prev;
        r->prev = r->next = NULL;
}

void run_abort(struct run *r)
{
        struct conn *c = r->conn;

        /* Only while the leader is unreaped is its pid surely still ours. */
        if (!r->exited)
                kill(-r->child.pid, SIGKILL);
        unlink_run(r);
        obj_kill(r->agent, &r->obj);
        conn_run_done(c, r);
}

static void send_chunk(struct run *r, const char *name, const char *data, size_t n)
{
        char *b64;

        if (base64_encode_alloc(data, n, &b64) < 0) {
                r->truncated = true;
                return;
        }
        struct proto_response resp = {
                .id = r->id,
                .output_base64 = b64,
                .output_base64_len = base64_encoded_len(n),
                .stream = name,
        };
        conn_send(r->conn, &resp);
        free(b64);
}

/* Keeps up to the stream's limit (at most a frame's worth each, so a
 * chatty stdout cannot crowd out stderr), drops the rest (the child must never block on a
 * full pipe because we stopped reading). */
static void keep(struct run *r, struct capture *cp, const char *data, size_t n)
{
        size_t room = cp->limit - cp->len;

        if (n > room) {
                r->truncated = true;
                n = room;
        }
        if (!n)
                return;
        if (r->stream) {
                cp->len += n;
                send_chunk(r, cp->name, data, n);
                return;
        }
        if (cp->len + n > cp->cap) {
                size_t cap = cp->cap ? cp->cap : 4096;
                while (cap < cp->len + n)
                        cap *= 2;
                if (cap > cp->limit)
                        cap = cp->limit;
                char *p = realloc(cp->buf, cap);
                if (!p) {
                        r->truncated = true;
                        return;
                }
                cp->buf = p;
                cp->cap = cap;
        }
        memcpy(cp->buf + cp->len, data, n);
        cp->len += n;
}

static void on_pipe(struct watch *w, uint32_t events)
{
        struct capture *cp = container_of(w, struct capture, w);
        struct run *r = cp->run;
        char buf[CHUNK_SIZE];

        for (int i = 0; i < 16; i++) {
                if (r->stream && conn_congested(r->conn)) {
                        r->paused = true;
                        watch_set(r->agent, w, 0);
                        return;
                }
                ssize_t n = read(w->fd, buf, sizeof(buf));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return;
                        n = 0; /* treat errors as the end of the stream */
                }
                if (n == 0) {
                        watch_close(r->agent, w);
                        run_maybe_finish(r);
                        return;
                }
                keep(r, cp, buf, (size_t)n);
                if (r->obj.dead)
                        return;
        }
}

void run_resume(struct run *r)
{
        if (!r->paused)
                return;
        r->paused = false;
        for (int i = 0; i < 2; i++)
                if (r->io[i].w.fd >= 0)
                        watch_set(r->agent, &r->io[i].w, EPOLLIN);
}

static void finish(struct run *r)
{
        struct conn *c = r->conn;
        char err[96];
        struct proto_response resp = {
                .id = r->id,
                .has_exit_code = true,
                .exit_code = WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1,
                .signal = WIFSIGNALED(r->status) ? WTERMSIG(r->status) : 0,
                .has_stdout = true,
                .stdout_buf = "",
                .has_stderr = true,
                .stderr_buf = "",
                .timed_out = r->timed_out,
                .truncated = true, /* for sizing; set for real below */
        };

        if (r->timed_out) {
                snprintf(err, sizeof(err), "Command timed out after %lld ms", (long long)r->timeout_ms);
                resp.error = err;
        }
        if (!r->stream) {
                /* Size everything but the two strings, then fit them in. */
                size_t overhead = FRAME_MAX; /* out of memory: no room for output */
                char *json;
                size_t json_len;
                if (proto_response_json(&resp, &json, &json_len) == 0) {
                        overhead = json_len - 4; /* less "stdout":"" and "stderr":"" */
                        free(json);
                }
                size_t out_len = 0, err_len = 0;
                bool cut = false;
                if (overhead + 4 <= FRAME_MAX)
                        cut = output_fit(r->io[0].buf, r->io[0].len, r->io[1].buf, r->io[1].len,
                                         FRAME_MAX - overhead, &out_len, &err_len);
                resp.stdout_buf = r->io[0].buf ? r->io[0].buf : "";
                resp.stdout_len = out_len;
                resp.stderr_buf = r->io[1].buf ? r->io[1].buf : "";
                resp.stderr_len = err_len;
                r->truncated |= cut;
        }
        resp.truncated = r->truncated;

        unlink_run(r);
        obj_kill(r->agent, &r->obj);
        conn_send(c, &resp);
        conn_run_done(c, r);
}

static void run_maybe_finish(struct run *r)
{
        if (r->obj.dead || !r->exited)
                return;
        if (r->io[0].w.fd < 0 && r->io[1].w.fd < 0) {
                finish(r);
                return;
        }
}

static void on_timer(struct watch *w, uint32_t events)
{
        struct run *r = container_of(w, struct run, timer);
        uint64_t ticks;

        if (read(w->fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
                return;
        if (!r->exited) {
                /* The deadline: the whole group goes. */
                r->timed_out = true;
                kill(-r->child.pid, SIGKILL);
                return;
        }
        if (r->paused) {
                /* Output is waiting on a slow host, not on a straggler. */
                timer_arm(r->agent, &r->timer, &r->obj, on_timer, EXIT_GRACE_MS);
                return;
        }
        /* Grace after the leader's exit is over: something that left the
         * group (or runs in the background) still holds the pipes. */
        for (int i = 0; i < 2; i++) {
                if (r->io[i].w.fd < 0)
                        continue;
                /* Whatever is already in the pipe still belongs to the answer. */
                watch_set(r->agent, &r->io[i].w, EPOLLIN);
                on_pipe(&r->io[i].w, EPOLLIN);
                if (r->obj.dead)
                        return;
                watch_close(r->agent, &r->io[i].w);
        }
        run_maybe_finish(r);
}

static void on_exit_status(struct child *ch, int status)
{
        struct run *r = container_of(ch, struct run, child);

        r->exited = true;
        r->status = status;
        if (r->io[0].w.fd >= 0 || r->io[1].w.fd >= 0) {
                if (timer_arm(r->agent, &r->timer, &r->obj, on_timer, EXIT_GRACE_MS) < 0) {
                        watch_close(r->agent, &r->io[0].w);
                        watch_close(r->agent, &r->io[1].w);
                }
        }
        run_maybe_finish(r);
}

static void fail_os(struct conn *c, const char *id, const char *what, int err)
{
        char msg[512];

        snprintf(msg, sizeof(msg), "Failed to run command: %s%s (os error %d)", what, strerror(err), err);
        conn_send_error(c, id, msg);
}

/* The request's command and cwd: 0, or -1 with the error sent on c. */
static int run_check(struct conn *c, const struct proto_request *req)
{
        struct stat st;

        if (!req->command) {
                conn_send_error(c, req->id, "No command specified");
                return -1;
        }
        if (req->n_command == 0) {
                conn_send_error(c, req->id, "Empty command");
                return -1;
        }
        if (req->cwd) {
                if (stat(req->cwd, &st) < 0) {
                        fail_os(c, req->id, "cwd: ", errno);
                        return -1;
                }
                if (!S_ISDIR(st.st_mode)) {
                        fail_os(c, req->id, "cwd: ", ENOTDIR);
                        return -1;
                }
        }
        return 0;
}

static struct run *run_new(struct agent *a, struct conn *c, const struct proto_request *req)
{
        struct run *r = calloc(1, sizeof(*r));
        if (!r || !(r->id = strdup(req->id))) {
                free(r);
                return NULL;
        }
        r->obj.free = run_free;
        r->agent = a;
        r->conn = c;
        r->stream = req->stream;
        r->timeout_ms = req->timeout_ms;
        watch_init(&r->timer, -1, &r->obj, on_timer);
        for (int i = 0; i < 2; i++) {
                watch_init(&r->io[i].w, -1, &r->obj, on_pipe);
                r->io[i].run = r;
                r->io[i].name = i ? "stderr" : "stdout";
                r->io[i].limit = FRAME_MAX;
                if (req->max_output_bytes >= 0 && (uint64_t)req->max_output_bytes < FRAME_MAX)
                        r->io[i].limit = (size_t)req->max_output_bytes;
        }
        return r;
}

/* The child is running: watch its exit, its output pipes and its deadline,
 * and put the run on c's list. */
static void run_watch(struct run *r, struct conn *c, const struct proto_request *req, pid_t pid, int out_fd,
                      int err_fd)
{
        struct agent *a = r->agent;

        r->child.pid = pid;
        r->child.owner = &r->obj;
        r->child.exited = on_exit_status;
        child_add(a, &r->child);
        r->io[0].w.fd = out_fd;
        r->io[1].w.fd = err_fd;
        watch_set(a, &r->io[0].w, EPOLLIN);
        watch_set(a, &r->io[1].w, EPOLLIN);
        if (req->timeout_ms > 0)
                timer_arm(a, &r->timer, &r->obj, on_timer, (uint64_t)req->timeout_ms);

        struct run **head = conn_runs_head(c);
        r->next = *head;
        if (*head)
                (*head)->prev = r;
        *head = r;
        conn_run_added(c, r);
}

void run_start(struct conn *c, const struct proto_request *req)
{
        struct agent *a = conn_agent(c);
        int out[2] = { -1, -1 }, err[2] = { -1, -1 }, in[2] = { -1, -1 };
        const char *msg;
        pid_t pid;
        int e;

        if (run_check(c, req) < 0)
                return;
        struct run *r = run_new(a, c, req);
        if (!r) {
                conn_send_error(c, req->id, "Out of memory");
                return;
        }

        int stdin_fd = a->devnull;
        if (req->stdin_pipe) {
                if (pipe2(in, O_CLOEXEC) < 0) {
                        e = errno;
                        goto fail_errno;
                }
                fcntl(in[1], F_SETFL, O_NONBLOCK);
                if (feed_new(a, &r->obj, req->id, in[1], &r->feed) < 0) {
                        e = ENOMEM;
                        goto fail_errno;
                }
                in[1] = -1; /* the feed's now */
                stdin_fd = in[0];
        } else if (stdin_fd < 0) {
                /* No /dev/null (a bare initramfs): an empty pipe reads as EOF. */
                if (pipe2(in, O_CLOEXEC) < 0) {
                        e = errno;
                        goto fail_errno;
                }
                close(in[1]);
                in[1] = -1;
                stdin_fd = in[0];
        }
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
                e = errno;
                goto fail_errno;
        }
        fcntl(out[0], F_SETFL, O_NONBLOCK);
        fcntl(err[0], F_SETFL, O_NONBLOCK);

        struct spawn_args sa = {
                .argv = req->command,
                .argc = req->n_command,
                .cwd = req->cwd,
                .env_keys = req->env_keys,
                .env_values = req->env_values,
                .n_env = req->n_env,
                .stdin_fd = stdin_fd,
                .stdout_fd = out[1],
                .stderr_fd = err[1],
                .as_user = req->uid >= 0,
                .uid = (uid_t)req->uid,
                .gid = (gid_t)(req->gid >= 0 ? req->gid : req->uid),
        };
        e = spawn_child(&sa, &pid, &msg);
        close(out[1]);
        close(err[1]);
        out[1] = err[1] = -1;
        if (in[0] >= 0)
                close(in[0]);
        in[0] = -1;
        if (e < 0) {
                close(out[0]);
                close(err[0]);
                if (msg) {
                        char m[256];
                        snprintf(m, sizeof(m), "Failed to run command: %s", msg);
                        conn_send_error(c, req->id, m);
                        feed_free(r->feed);
                        free(r->id);
                        free(r);
                        return;
                }
                e = -e;
                out[0] = err[0] = -1;
                goto fail_errno;
        }
        run_watch(r, c, req, pid, out[0], err[0]);
        if (r->feed) {
                /* The host may feed stdin now (before any output). */
                struct proto_response ready = { .id = r->id, .stream = "stdin" };
                conn_send(c, &ready);
        }
        return;

fail_errno:
        for (int i = 0; i < 2; i++) {
                if (out[i] >= 0)
                        close(out[i]);
                if (err[i] >= 0)
                        close(err[i]);
                if (in[i] >= 0)
                        close(in[i]);
        }
        fail_os(c, req->id, "", e);
        feed_free(r->feed);
        free(r->id);
        free(r);
}
