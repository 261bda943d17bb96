#include "lib/svc/run.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "lib/svc/log.h"

#define RELOAD_LINE_MAX 1024

/* SVC_STARTING_STOP_ENDS: the thread that takes SIGINT/SIGTERM until svc_run. */
static pthread_t starting_thread;
static bool starting_thread_running;
static atomic_bool serving;

static void signal_set(sigset_t *s, bool hup)
{
        sigemptyset(s);
        sigaddset(s, SIGINT);
        sigaddset(s, SIGTERM);
        if (hup)
                sigaddset(s, SIGHUP);
}

static void *end_on_stop(void *arg)
{
        sigset_t stop, one;
        int sig;

        (void)arg;
        signal_set(&stop, false);
        for (;;) {
                struct sigaction sa;
                if (sigwait(&stop, &sig) != 0)
                        continue;
                if (atomic_load(&serving)) {
                        /* svc_run took over as it came: the signal is its.
                         * Blocked everywhere, it waits for svc_run's sigwait. */
                        kill(getpid(), sig);
                        return NULL;
                }
                /* Ignored since exec (nohup, a shell's background job):
                 * still ignored while starting. */
                if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
                        continue;
                /* Its disposition, as if it had never been blocked: by
                 * default the process ends by this signal. */
                raise(sig);
                sigemptyset(&one);
                sigaddset(&one, sig);
                pthread_sigmask(SIG_UNBLOCK, &one, NULL);
                pthread_sigmask(SIG_BLOCK, &one, NULL);
        }
}

int svc_signals_block(enum svc_starting starting)
{
        sigset_t sigs;
        int r;

        signal_set(&sigs, true);
        if ((r = pthread_sigmask(SIG_BLOCK, &sigs, NULL)) != 0)
                return -r;
        if (starting != SVC_STARTING_STOP_ENDS || starting_thread_running)
                return 0;
        atomic_store(&serving, false);
        if ((r = pthread_create(&starting_thread, NULL, end_on_stop, NULL)) != 0)
                return -r;
        starting_thread_running = true;
        return 0;
}

/* From here on svc_run takes SIGINT and SIGTERM. */
static void end_starting(void)
{
        if (!starting_thread_running)
                return;
        atomic_store(&serving, true);
        pthread_cancel(starting_thread);
        pthread_join(starting_thread, NULL);
        starting_thread_running = false;
}

void svc_run_reload_auth(void *reload_data, char *line, size_t size)
{
        struct svc_auth *auth = reload_data;

        snprintf(line, size, "SIGHUP: no --token-file to reload");
        if (auth)
                svc_auth_reload_line(auth, line, size);
}

static void log_line(const struct svc_loop *loop, const char *line)
{
        if (loop->log)
                loop->log(loop->data, line);
        else
                svc_log(SVC_LOG_INFO, line, NULL, 0);
}

/* The next signal of `sigs`, or 0 when ms (> 0) went by first or the wait
 * was interrupted. */
static int next_signal(const sigset_t *sigs, unsigned ms)
{
        if (ms) {
                struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };
                int sig = sigtimedwait(sigs, NULL, &t);
                return sig > 0 ? sig : 0;
        }
        int sig;
        while (sigwait(sigs, &sig) != 0)
                ;
        return sig;
}

int svc_run(const struct svc_loop *loop)
{
        sigset_t sigs, blocked;

        if (!loop || !loop->stop)
                return -EINVAL;
        signal_set(&sigs, true);
        if (pthread_sigmask(SIG_BLOCK, NULL, &blocked) != 0 || !sigismember(&blocked, SIGINT) ||
            !sigismember(&blocked, SIGTERM) || !sigismember(&blocked, SIGHUP))
                return -EINVAL;
        end_starting();
        if (loop->serving)
                loop->serving(loop->data);

        unsigned tick_ms = loop->tick ? loop->tick_ms : 0;
        int sig;
        for (;;) {
                sig = next_signal(&sigs, tick_ms);
                if (sig == SIGINT || sig == SIGTERM)
                        break;
                if (sig == SIGHUP) {
                        char line[RELOAD_LINE_MAX] = "";
                        if (loop->reload)
                                loop->reload(loop->reload_data, line, sizeof(line));
                        else
                                svc_run_reload_auth(loop->reload_data, line, sizeof(line));
                        log_line(loop, line);
                }
                if (tick_ms)
                        loop->tick(loop->data);
        }
        loop->stop(loop->data, sig);
        return 0;
}
