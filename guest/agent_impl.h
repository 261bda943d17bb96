/* Internals shared by the agent's files (loop.c, conn.c, dispatch.c, run.c,
 * shell.c). Not a public interface.
 *
 * Lifetime rule: objects are never freed while an epoll batch may still hold
 * pointers to them. Killing an object marks it dead (obj_kill) and queues it;
 * the loop frees the queue after each batch, and every callback first checks
 * that its owner is alive. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "guest/agent.h"
#include "lib/guest/protocol.h"

/* Limits on what a host can make the agent hold. */
#define CONN_INBUF_SIZE (64u * 1024)
#define CONN_OUT_HIGH (16u * 1024 * 1024)  /* stop reading/producing above */
#define CONN_OUT_LOW (4u * 1024 * 1024)    /* resume below */
#define CONN_MAX_RUNS 16                   /* in-flight `run`s per connection */
#define AGENT_MAX_CONNS 256
#define AGENT_MAX_SESSIONS 256
#define SESSION_INPUT_MAX (1u * 1024 * 1024)
#define CHUNK_SIZE (64u * 1024)            /* one read from a pipe or PTY */
#define EXIT_GRACE_MS 1000                 /* wait for pipes after the leader exits */
#define CLOSE_KILL_MS 500                  /* SIGHUP, then SIGKILL, on shell_close */

struct obj {
        bool dead;
        void (*free)(struct obj *o);
        struct obj *next_dead;
};

struct watch {
        int fd;
        struct obj *owner;
        void (*cb)(struct watch *w, uint32_t events);
        uint32_t events; /* as registered, 0 when not in epoll */
        bool added;
};

struct child {
        pid_t pid;
        struct obj *owner;
        void (*exited)(struct child *c, int status);
        struct child *next;
};

struct conn;
struct run;
struct session;
struct feed;

struct agent {
        int epfd;
        struct watch sig;
        struct agent_options opts;
        struct listener *listeners;
        bool listeners_paused;
        struct conn *conns;
        unsigned n_conns;
        struct session *sessions;
        unsigned n_sessions;
        struct feed *feeds;    /* runs with a host-fed stdin */
        struct child *children;
        struct obj *dead;
        int devnull; /* stdin for `run`, -1 if unavailable */
        bool quit;
        int result;
        struct conn *shutdown_conn;
        bool shutdown_requested;
        uint64_t shutdown_deadline_ms;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* loop.c */
void obj_kill(struct agent *a, struct obj *o);
void watch_init(struct watch *w, int fd, struct obj *owner, void (*cb)(struct watch *, uint32_t));
/* Registers or updates w in epoll with events (0 removes it). */
int watch_set(struct agent *a, struct watch *w, uint32_t events);
/* Removes w from epoll and closes its fd. */
void watch_close(struct agent *a, struct watch *w);
void child_add(struct agent *a, struct child *c);
void child_remove(struct agent *a, struct child *c);
void agent_log(struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Arms (ms > 0) or disarms (0) a timerfd watch, creating it on first use. */
int timer_arm(struct agent *a, struct watch *w, struct obj *owner, void (*cb)(struct watch *, uint32_t),
              uint64_t ms);
void agent_conn_closed(struct agent *a);

/* conn.c */
int conn_new(struct agent *a, int fd);
/* Queues a complete frame (header included); takes ownership of buf. */
void conn_send_frame(struct conn *c, uint8_t *buf, size_t len);
/* Serializes and queues r; when it cannot be framed, sends an error instead. */
void conn_send(struct conn *c, const struct proto_response *r);
void conn_send_error(struct conn *c, const char *id, const char *msg);
bool conn_congested(const struct conn *c);
size_t conn_queued(const struct conn *c);
void conn_kill(struct conn *c);
/* A run owned by c finished or died: c may read again. */
void conn_run_done(struct conn *c, struct run *r);
void conn_run_added(struct conn *c, struct run *r);
struct agent *conn_agent(const struct conn *c);
/* Head of c's list of runs (linked by run.c). */
struct run **conn_runs_head(struct conn *c);

/* dispatch.c */
void dispatch_request(struct conn *c, struct proto_request *req);

/* run.c */
/* Starts req (type run) for c; on success the response comes later. On
 * failure sends the error response itself. */
void run_start(struct conn *c, const struct proto_request *req);
/* Kills the command's process group and frees it (its connection went away). */
void run_abort(struct run *r);
/* Re-enables a streamed run's pipes after its connection drained. */
void run_resume(struct run *r);
struct run *run_next(struct run *r);

/* feed.c: a run's stdin written from `shell_input` frames (see feed.c). */
/* Takes fd (the pipe's non-blocking write end); owner is the run. */
int feed_new(struct agent *a, struct obj *owner, const char *id, int fd, struct feed **ret);
/* Closes the pipe, answers a waiting input with an error. NULL: no-op. */
void feed_free(struct feed *f);
/* The live feed of the run with this id, or NULL. */
struct feed *feed_find(struct agent *a, const char *id);
/* Takes data (may be NULL when len is 0); answers on c under req_id once
 * the bytes are in the pipe, then closes it when eof. */
void feed_input(struct feed *f, struct conn *c, const char *req_id, uint8_t *data, size_t len, bool eof);
/* c is going away: nobody waits there any more. */
void feed_forget_conn(struct agent *a, struct conn *c);

/* shell.c */
void shell_start(struct conn *c, const struct proto_request *req);
void shell_input(struct conn *c, const struct proto_request *req);
void shell_resize(struct conn *c, const struct proto_request *req);
void shell_close(struct conn *c, const struct proto_request *req);
/* Ends every session owned by c (c is going away). */
void shell_abort_conn(struct agent *a, struct conn *c);
/* Re-enables c's sessions' PTY output after c drained. */
void shell_resume_conn(struct agent *a, struct conn *c);

/* spawn.c */
struct spawn_args {
        const char *const *argv;      /* argv[0] is looked up in the child's PATH */
        size_t argc;
        const char *cwd;              /* NULL: the agent's */
        const char *const *env_keys;  /* added to / replacing the agent's environ */
        const char *const *env_values;
        size_t n_env;
        const char *default_term;     /* TERM if neither environ nor env sets it */
        int stdin_fd;                 /* for a plain child */
        int stdout_fd;
        int stderr_fd;
        const char *tty;              /* PTY slave: new session, tty on 0/1/2 */
        bool as_user;                 /* run as uid/gid, no supplementary groups */
        uid_t uid;
        gid_t gid;
};

/* Starts a child in its own process group (or session, with tty) with an
 * empty signal mask and default signal dispositions. Returns 0 and the pid,
 * or -errno: -ENOENT/-EACCES for the program, -EINVAL for a NUL-free but
 * malformed env key, -E2BIG for too many arguments. *ret_msg names the
 * failing step when not NULL ("nul byte found in provided data", ...).
 * With as_user, the child drops to uid/gid before it changes to cwd and
 * executes (fork + exec: posix_spawn cannot change users); an error of
 * those steps comes back as -errno (-EPERM, -EACCES, -ENOENT ...). */
int spawn_child(const struct spawn_args *s, pid_t *ret_pid, const char **ret_msg);
