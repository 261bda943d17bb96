#include "cli/progress.h"
#include "lib/base/time.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static bool quiet;

void cli_progress_set_quiet(bool q)
{
        quiet = q;
}

bool cli_progress_quiet(void)
{
        return quiet;
}

void cli_progress_init(struct cli_progress *p)
{
        p->tty = isatty(2);
        p->shown = false;
        p->start_ms = ak_mono_ms();
        p->phase[0] = 0;
}

static double elapsed_s(const struct cli_progress *p)
{
        return (double)(ak_mono_ms() - p->start_ms) / 1000.0;
}

void cli_progress_report(void *userdata, const char *phase, const char *detail)
{
        struct cli_progress *p = userdata;
        if (quiet)
                return;
        if (!p->tty) {
                /* One line per phase; a phase's later details would flood a log. */
                if (p->shown && strncmp(p->phase, phase, sizeof(p->phase) - 1) == 0)
                        return;
                snprintf(p->phase, sizeof(p->phase), "%s", phase);
                fprintf(stderr, "ak: [%6.1fs] %s: %s\n", elapsed_s(p), phase, detail);
                fflush(stderr);
                p->shown = true;
                return;
        }
        struct winsize ws;
        int width = ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 ? ws.ws_col : 80;
        char line[512];
        long long s = (ak_mono_ms() - p->start_ms) / 1000;
        snprintf(line, sizeof(line), "[%3llds] %s: %s", s, phase, detail);
        if ((int)strlen(line) >= width)
                line[width - 1] = 0;
        fprintf(stderr, "\r\033[K%s", line);
        fflush(stderr);
        p->shown = true;
}

void cli_progress_done(struct cli_progress *p)
{
        if (p->shown && p->tty)
                fputs("\r\033[K", stderr);
        else if (p->shown)
                fprintf(stderr, "ak: [%6.1fs] %s: done\n", elapsed_s(p), p->phase);
        p->shown = false;
}

static void *ticker_main(void *arg)
{
        struct cli_progress_ticker *t = arg;
        pthread_mutex_lock(&t->mu);
        while (!t->done) {
                struct timespec ts = ak_timespec_after(CLOCK_REALTIME, 250);
                pthread_cond_timedwait(&t->cv, &t->mu, &ts);
                if (!t->done)
                        cli_progress_report(&t->pr, t->phase, t->detail);
        }
        cli_progress_done(&t->pr);
        pthread_mutex_unlock(&t->mu);
        return NULL;
}

void cli_progress_ticker_start(struct cli_progress_ticker *t, const char *phase, const char *detail)
{
        pthread_mutex_init(&t->mu, NULL);
        pthread_cond_init(&t->cv, NULL);
        t->done = false;
        t->phase = phase;
        t->detail = detail;
        cli_progress_init(&t->pr);
        t->started = !cli_progress_quiet() && pthread_create(&t->th, NULL, ticker_main, t) == 0;
}

void cli_progress_ticker_stop(struct cli_progress_ticker *t)
{
        if (!t->started)
                return;
        pthread_mutex_lock(&t->mu);
        t->done = true;
        pthread_cond_signal(&t->cv);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->th, NULL);
        t->started = false;
}
