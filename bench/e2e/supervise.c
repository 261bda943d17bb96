/* The parent's side: wait for the measuring child, and afterwards leave
 * nothing behind — the recorded stack stopped gracefully, every other
 * process that ended up under us (we are a child subreaper) killed and
 * reaped, the temporary $AK_HOME removed. */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/e2e/e2e.h"
#include "cli/stack.h"
#include "lib/base/fs.h"

#define MAX_KIDS 256

/* Our children right now: the measuring child and reparented orphans. */
static size_t list_children(pid_t *out, size_t max)
{
        char path[64];
        size_t n = 0;
        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
        FILE *fp = fopen(path, "re");
        if (!fp)
                return 0;
        int pid;
        while (n < max && fscanf(fp, "%d", &pid) == 1)
                out[n++] = pid;
        fclose(fp);
        return n;
}

int e2e_supervise(pid_t child, const sigset_t *set, const char *home)
{
        int code = 1, sig_seen = 0;
        for (;;) {
                siginfo_t si;
                if (sigwaitinfo(set, &si) < 0)
                        continue;
                if (si.si_signo != SIGCHLD) {
                        if (!sig_seen)
                                fprintf(stderr, "\ne2e_bench: %s: stopping the stack and removing %s\n",
                                        strsignal(si.si_signo), home);
                        sig_seen = si.si_signo;
                        kill(-child, SIGKILL);
                        continue;
                }
                int status;
                pid_t w;
                bool done = false;
                while ((w = waitpid(-1, &status, WNOHANG)) > 0)
                        if (w == child) {
                                done = true;
                                code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
                        }
                if (done)
                        break;
        }
        /* Whatever is left of its process group (an `ak`, an image build). */
        kill(-child, SIGKILL);
        return sig_seen ? 128 + sig_seen : code;
}

void e2e_cleanup(const char *home)
{
        struct stack st;
        struct ak_error e = { 0 };
        if (stack_load(&st, &e) == 0)
                stack_down(&st, &e);
        for (int round = 0; round < 50; round++) {
                pid_t kids[MAX_KIDS];
                size_t n = list_children(kids, MAX_KIDS);
                while (waitpid(-1, NULL, WNOHANG) > 0)
                        ;
                if (n == 0)
                        break;
                for (size_t i = 0; i < n; i++)
                        kill(kids[i], SIGKILL);
                usleep(100 * 1000);
        }
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
        ak_rm_rf(home);
}
