/* Progress for long operations (image builds, pulls, first boots): on a
 * terminal, one line on stderr rewritten in place ("[  3s] phase: detail");
 * elsewhere (CI logs, pipes) one line per phase as it starts,
 * "ak: [   3.2s] phase: detail", and a last "ak: [  41.0s] phase: done", so
 * a log shows where the time went. --quiet (cli_progress_set_quiet) turns
 * both off. */
#pragma once

#include <pthread.h>
#include <stdbool.h>

struct cli_progress {
        bool tty;
        bool shown;
        long long start_ms;
        char phase[32];     /* the last phase printed (line mode) */
};

/* Process-wide: the verb's --quiet. Call before cli_progress_init. */
void cli_progress_set_quiet(bool quiet);
bool cli_progress_quiet(void);

void cli_progress_init(struct cli_progress *p);
/* An image_progress.report callback: userdata is a struct cli_progress. */
void cli_progress_report(void *userdata, const char *phase, const char *detail);
/* Clears the line (terminal) or prints the "done" line (elsewhere), if
 * anything was shown. */
void cli_progress_done(struct cli_progress *p);

/* "phase: detail" reported every 250 ms from a thread of its own until
 * stopped (a status line while nothing else happens, e.g. a VM booting
 * before a command's first output); nothing under --quiet. Stop is
 * idempotent and clears what was shown before the caller prints. */
struct cli_progress_ticker {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool done, started;
        const char *phase, *detail;
        struct cli_progress pr;
        pthread_t th;
};

void cli_progress_ticker_start(struct cli_progress_ticker *t, const char *phase, const char *detail);
void cli_progress_ticker_stop(struct cli_progress_ticker *t);
