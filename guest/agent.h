/* The guest agent: one single-threaded epoll loop serving every listener,
 * connection, command and PTY session.
 *
 * No request can stall another: sockets, pipes and PTYs are non-blocking,
 * each connection has its own bounded output queue, and a connection whose
 * host stops reading stops being read (and its streamed sources pause) until
 * the queue drains. Limits are in agent_impl.h.
 *
 * Not thread-safe: one thread owns an agent. The agent blocks SIGCHLD,
 * SIGTERM, SIGINT and SIGHUP in that thread (it reads them from a signalfd)
 * and ignores SIGPIPE; children get default dispositions and an empty mask. */
#pragma once

#include <stdbool.h>

struct agent;

struct agent_options {
        /* PID 1: SIGTERM/SIGINT/SIGHUP do not stop the loop (only `shutdown`). */
        bool init_mode;
        /* agent_run returns 0 once the last connection has closed (--stdio:
         * one adopted connection, no listener). */
        bool exit_when_idle;
        /* Optional sink for diagnostics (the library itself never prints). */
        void (*log)(const char *msg);
};

int agent_new(const struct agent_options *opts, struct agent **ret);

/* Adds a listener: "vsock:PORT" (any CID) or "unix:PATH" (an existing socket
 * file at PATH is replaced). -EINVAL for a malformed spec, -EAFNOSUPPORT
 * when vsock is unavailable, or the socket call's -errno. */
int agent_listen(struct agent *a, const char *spec);

/* Serves fd, an already connected stream socket, as one host connection
 * (the agent takes it, and makes it non-blocking). 0 or -errno. */
int agent_adopt(struct agent *a, int fd);

/* Serves until a `shutdown` request has been answered (returns 1) or a
 * termination signal arrives outside init mode (returns 0); -errno when the
 * loop itself fails. */
int agent_run(struct agent *a);

/* Kills every command and session still running (their process groups) and
 * frees everything. NULL is a no-op. */
void agent_free(struct agent *a);
