#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/proc.h"
#include "lib/base/time.h"

extern char **environ;

#define LINE_CUT 512

struct capture {
        char *buf;      /* ring of the last cap bytes */
        size_t cap, len, head;
        char line[LINE_CUT + 1];
        size_t line_len;
};

static void capture_byte(struct capture *c, const struct proc_opts *o, char ch)
{
        if (c->len < c->cap) {
                c->buf[(c->head + c->len) % c->cap] = ch;
                c->len++;
        } else {
                c->buf[c->head] = ch;
                c->head = (c->head + 1) % c->cap;
        }
        if (ch == '\n' || ch == '\r') {
                c->line[c->line_len] = 0;
                if (o->on_line && c->line_len)
                        o->on_line(o->userdata, c->line);
                c->line_len = 0;
        } else if (c->line_len < LINE_CUT) {
                c->line[c->line_len++] = ch;
        }
}

int proc_which(const char *name, char *buf, size_t size)
{
        const char *path = getenv("PATH");
        char dirs[4096];

        if (strchr(name, '/')) {
                if (access(name, X_OK) < 0)
                        return -errno;
                if (strlen(name) >= size)
                        return -ENAMETOOLONG;
                strcpy(buf, name);
                return 0;
        }
        /* PATH first, then where Debian keeps admin tools (not in every PATH). */
        snprintf(dirs, sizeof(dirs), "%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                 path ? path : "");
        for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                if ((size_t)snprintf(buf, size, "%s/%s", d, name) >= size)
                        continue;
                if (access(buf, X_OK) == 0)
                        return 0;
        }
        return -ENOENT;
}

/* environ with the admin directories in PATH: helpers (debootstrap needs
 * chroot, mkfs.ext4 its friends) live in /usr/sbin and /sbin, which the
 * PATH of a user, a service or a test runner often lacks. */
static char **child_env(char *path_buf, size_t size)
{
        size_t n = 0;
        while (environ[n])
                n++;
        char **env = calloc(n + 2, sizeof(char *));
        if (!env)
                return NULL;
        const char *path = getenv("PATH");
        snprintf(path_buf, size, "PATH=%s%s/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin",
                 path && *path ? path : "", path && *path ? ":" : "");
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                if (strncmp(environ[i], "PATH=", 5) != 0)
                        env[k++] = environ[i];
        env[k++] = path_buf;
        env[k] = NULL;
        return env;
}

int proc_run(const struct proc_opts *o, int *ret_status, char **ret_output, struct ak_error *err)
{
        char exe[PATH_MAX], path_env[8192];

        if (proc_which(o->argv[0], exe, sizeof(exe)) < 0)
                return ak_error_set(err, -ENOENT, "%s: command not found", o->argv[0]);
        struct capture c = { .cap = o->max_output ? o->max_output : 64 * 1024 };
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        int pipefd[2] = { -1, -1 };
        pid_t pid = -1;
        int r;

        c.buf = malloc(c.cap);
        if (!c.buf)
                return ak_error_set(err, -ENOMEM, "out of memory");
        if (pipe2(pipefd, O_CLOEXEC) < 0) {
                free(c.buf);
                return ak_error_errno(err, -errno, "pipe");
        }
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
        if (o->cwd)
                posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
        char **env = child_env(path_env, sizeof(path_env));
        r = env ? posix_spawn(&pid, exe, &fa, &attr, (char *const *)o->argv, env) : ENOMEM;
        free(env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        close(pipefd[1]);
        if (r) {
                close(pipefd[0]);
                free(c.buf);
                if (r == ENOENT)
                        return ak_error_set(err, -ENOENT, "%s: command not found", o->argv[0]);
                return ak_error_errno(err, -r, "start %s", o->argv[0]);
        }

        int64_t deadline = o->timeout_ms > 0 ? ak_mono_ms() + o->timeout_ms : -1;
        bool timed_out = false;
        for (;;) {
                int wait = -1;
                if (deadline >= 0) {
                        int64_t left = deadline - ak_mono_ms();
                        if (left <= 0) {
                                timed_out = true;
                                break;
                        }
                        wait = (int)left;
                }
                struct pollfd p = { pipefd[0], POLLIN, 0 };
                int n = poll(&p, 1, wait);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        continue;
                char buf[4096];
                ssize_t got = read(pipefd[0], buf, sizeof(buf));
                if (got < 0 && errno == EINTR)
                        continue;
                if (got <= 0)
                        break; /* every writer is gone */
                for (ssize_t i = 0; i < got; i++)
                        capture_byte(&c, o, buf[i]);
        }
        close(pipefd[0]);
        if (timed_out)
                kill(-pid, SIGKILL);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (c.line_len && o->on_line) {
                c.line[c.line_len] = 0;
                o->on_line(o->userdata, c.line);
        }
        if (timed_out) {
                free(c.buf);
                return ak_error_set(err, -ETIMEDOUT, "%s: timed out after %d ms", o->argv[0], o->timeout_ms);
        }
        if (ret_output) {
                char *out = malloc(c.len + 1);
                if (!out) {
                        free(c.buf);
                        return ak_error_set(err, -ENOMEM, "out of memory");
                }
                for (size_t i = 0; i < c.len; i++)
                        out[i] = c.buf[(c.head + i) % c.cap];
                out[c.len] = 0;
                *ret_output = out;
        }
        free(c.buf);
        *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return 0;
}

const char *proc_tail_lines(const char *text, unsigned max)
{
        size_t n = strlen(text);
        unsigned lines = 0;

        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
                n--;
        for (size_t i = n; i > 0; i--) {
                if (text[i - 1] == '\n' && ++lines == max)
                        return text + i;
        }
        return text;
}
