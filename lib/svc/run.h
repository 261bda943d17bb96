/* The main loop every ak service runs once it serves: SIGHUP reloads,
 * SIGINT/SIGTERM stop gracefully, and an optional tick for periodic log
 * lines in between. The mains keep their own words; this keeps the
 * mechanics (which signals, blocked where, waited for how) in one place.
 *
 * Use, in main:
 *
 *     parse flags                     (no threads yet)
 *     svc_signals_block(...)          REQUIRED before the first thread
 *     load, build, listen, start      (gRPC and the library start threads)
 *     svc_run(&loop)                  returns after loop.stop ran
 *     free what was built
 *
 * The signals are blocked, not handled: every thread inherits the mask of
 * the thread that creates it, so blocking them before any thread exists
 * means no thread of the process ever takes SIGINT, SIGTERM or SIGHUP but
 * svc_run, which sigwaits for them. No code runs in a signal handler, and
 * no other thread sees EINTR for them. Children started through lib/base
 * proc or vmm_proc reset their mask; a child forked some other way must
 * unblock the signals itself.
 *
 * Thread-safety: svc_signals_block and svc_run are for the main thread, one
 * call of svc_run per process at a time. The callbacks all run on the
 * thread that called svc_run, one at a time, so they need no lock among
 * themselves (only against the service's own threads). */
#pragma once

#include <stddef.h>

#include "lib/svc/auth.h"

/* What SIGINT and SIGTERM do between svc_signals_block and svc_run. SIGHUP
 * is always held: a reload sent while the service starts is done once
 * svc_run runs, and never ends the process. */
enum svc_starting {
        /* Held: svc_run stops gracefully at once (the auditor, scheduler and
         * signer: a stop asked for while starting still drains). */
        SVC_STARTING_HOLD_STOP,
        /* Act on them at once while it starts, as if they were not blocked:
         * by default the process ends by the signal, and one ignored since
         * exec stays ignored (ak-executor: nothing to drain yet, and a slow
         * start can be cut short). Costs a thread that takes them until
         * svc_run does. */
        SVC_STARTING_STOP_ENDS,
};

/* Blocks SIGINT, SIGTERM and SIGHUP in the calling thread, and so in every
 * thread it creates from now on.
 * REQUIRES: no other thread of the process exists yet (one that does keeps
 * its own mask and could take a signal with its default action).
 * Returns 0, or a negative errno when the mask or the SVC_STARTING_STOP_ENDS
 * thread cannot be set up. SIGPIPE is not touched: a service that wants it
 * ignored says so itself. */
int svc_signals_block(enum svc_starting starting);

struct svc_loop {
        /* Every callback gets this; svc_run never looks at it. */
        void *data;
        /* Writes one log line (no newline). NULL: an info line of the
         * structured log (lib/svc/log.h) with LINE as its message. */
        void (*log)(void *data, const char *line);
        /* The service's name ("ak-auditor"); the log line carries the name
         * given to svc_log_setup. */
        const char *name;
        /* Called once, first, when svc_run has taken over the signals: where
         * a service announces that it serves. May be NULL. */
        void (*serving)(void *data);
        /* On SIGHUP: writes the outcome as one line (no newline) into
         * line[size], which svc_run logs. NULL: svc_run_reload_auth with
         * reload_data. */
        void (*reload)(void *reload_data, char *line, size_t size);
        void *reload_data;
        /* Every tick_ms without a signal, and after each SIGHUP; may log
         * through its own means. NULL or tick_ms 0: no ticks. */
        void (*tick)(void *data);
        unsigned tick_ms;
        /* On the first SIGINT or SIGTERM (sig): the graceful stop (say so in
         * the log, drain and shut down the servers). Required. svc_run
         * returns when it returns; freeing what main built is main's. */
        void (*stop)(void *data, int sig);
};

/* Waits for SIGHUP (reload, log its line, tick), SIGINT or SIGTERM (stop,
 * then return 0), and ticks in between. `loop` and what it points to must
 * outlive the call.
 * REQUIRES: svc_signals_block ran first, on this thread.
 * Returns 0 after loop->stop, or -EINVAL at once (no callback called) when
 * loop->stop is NULL or the three signals are not blocked in this thread. */
int svc_run(const struct svc_loop *loop);

/* The reload of a service whose callers present --token-file tokens:
 * reload_data is its struct svc_auth, or NULL when it has no --token-file.
 * The line is svc_auth_reload_line's, or "SIGHUP: no --token-file to
 * reload". */
void svc_run_reload_auth(void *reload_data, char *line, size_t size);
