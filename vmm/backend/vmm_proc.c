#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/utf8.h"
#include "vmm/backend/vmm_proc.h"

extern char **environ;

int vmm_proc_fork(struct vmm_proc *p, void (*fn)(void *), void *arg, int out_fd, int err_fd, struct ak_error *err)
{
        p->pid = -1;
        p->exited = false;
        p->status = 0;
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0)
                return ak_error_errno(err, -errno, "fork");
        if (pid == 0) {
                sigset_t none;
                struct sigaction dfl = { .sa_handler = SIG_DFL };
                setpgid(0, 0);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                for (int s = 1; s < NSIG; s++)
                        sigaction(s, &dfl, NULL);
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                int nul = open("/dev/null", O_RDONLY);
                if (nul < 0 || dup2(nul, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
                        _exit(127);
                fn(arg);
                _exit(127);
        }
        setpgid(pid, pid); /* no race with the child's own call */
        p->pid = pid;
        return 0;
}

static void run_exec(void *arg)
{
        char *const *argv = arg;
        execve(argv[0], argv, environ);
}

int vmm_proc_exec(struct vmm_proc *p, char *const argv[], int out_fd, int err_fd, struct ak_error *err)
{
        return vmm_proc_fork(p, run_exec, (void *)argv, out_fd, err_fd, err);
}

static int decode(int status)
{
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int done(struct vmm_proc *p, int *ret_status)
{
        if (ret_status)
                *ret_status = p->status;
        return 1;
}

static void reap(struct vmm_proc *p)
{
        int status = 0;
        pid_t r;
        while ((r = waitpid(p->pid, &status, 0)) < 0 && errno == EINTR)
                ;
        p->exited = true;
        p->status = r < 0 ? 255 : decode(status);
}

int vmm_proc_poll(struct vmm_proc *p, int *ret_status)
{
        if (p->exited || p->pid < 0)
                return done(p, ret_status);
        siginfo_t si = { 0 };
        /* Look without reaping, so the group id is still ours when we kill
         * what the process may have left in it. */
        if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
                if (errno != ECHILD)
                        return -errno;
                p->exited = true; /* reaped by someone else */
                p->status = 255;
                return done(p, ret_status);
        }
        if (si.si_pid == 0)
                return 0;
        kill(-p->pid, SIGKILL);
        reap(p);
        return done(p, ret_status);
}

int vmm_proc_wait(struct vmm_proc *p, int ms, int *ret_status)
{
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        for (int waited = 0;; waited += 10) {
                int r = vmm_proc_poll(p, ret_status);
                if (r != 0 || waited >= ms)
                        return r;
                nanosleep(&ts, NULL);
        }
}

int vmm_proc_kill(struct vmm_proc *p, int *ret_status)
{
        if (p->exited || p->pid < 0)
                return done(p, ret_status);
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        reap(p);
        return done(p, ret_status);
}

void vmm_log_tail(const char *path, unsigned lines, char *buf, size_t size)
{
        buf[0] = 0;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || size < 2)
                return;
        off_t want = (off_t)size - 1;
        off_t from = st.st_size > want ? st.st_size - want : 0;
        ssize_t n = pread(fd, buf, (size_t)(st.st_size - from), from);
        if (n <= 0)
                return;
        /* The guest writes the console: no escape sequences for the
         * terminals and logs this ends up in. Then keep the last `lines`. */
        size_t len = utf8_sanitize(buf, (size_t)n);
        while (len && buf[len - 1] == '\n')
                buf[--len] = 0;
        unsigned seen = 0;
        for (size_t i = len; i > 0; i--)
                if (buf[i - 1] == '\n' && ++seen == lines) {
                        memmove(buf, buf + i, len - i + 1);
                        return;
                }
}
