/* The process behind a VMM backend (a VMM binary, or a backend's own
 * helper): spawned in its own process group, killed with its parent
 * thread, looked at without reaping until it is done, and always reaped.
 * vmm_firecracker.c and vmm_apple.c share it.
 *
 * Thread-safety: a struct vmm_proc belongs to one thread. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vmm_proc {
        pid_t pid;     /* -1: none */
        bool exited;   /* reaped */
        int status;    /* exit code, or 128 + signal */
};

/* Forks a child in a new process group with PR_SET_PDEATHSIG(SIGKILL)
 * (it dies with the calling thread), default signal dispositions, an
 * empty mask, stdin from /dev/null, stdout on out_fd and stderr on err_fd
 * (the caller keeps and closes both). The child runs fn(arg), which may
 * only make async-signal-safe calls (the parent may have threads), and
 * holds every fd of the parent until it execs or closes them; when fn
 * returns the child exits 127. */
int vmm_proc_fork(struct vmm_proc *p, void (*fn)(void *), void *arg, int out_fd, int err_fd, struct ak_error *err);

/* vmm_proc_fork running execve(argv[0], argv, environ). */
int vmm_proc_exec(struct vmm_proc *p, char *const argv[], int out_fd, int err_fd, struct ak_error *err);

/* Non-blocking: 1 and *ret_status once the process has exited (then the
 * rest of its group is killed and it is reaped), 0 while it runs. */
int vmm_proc_poll(struct vmm_proc *p, int *ret_status);

/* Polls every 10 ms for up to ms: 1 once exited, else 0. */
int vmm_proc_wait(struct vmm_proc *p, int ms, int *ret_status);

/* Kills the process group, reaps; returns 1 and the status as poll does.
 * Nothing to do (-1 pid, or reaped) is fine. */
int vmm_proc_kill(struct vmm_proc *p, int *ret_status);

/* The last `lines` lines of a log file (a VM's console, a VMM's log) into
 * buf, NUL-terminated, with every control character but \n and \t removed
 * (utf8_sanitize: the guest writes the console); "" when it cannot be read. */
void vmm_log_tail(const char *path, unsigned lines, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
