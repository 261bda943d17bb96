/* Starting children: environment, PATH lookup, posix_spawn. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/agent_impl.h"

extern char **environ;

#define SPAWN_MAX_ARGS 65536
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static bool key_matches(const char *entry, const char *key, size_t klen)
{
        return strncmp(entry, key, klen) == 0 && entry[klen] == '=';
}

/* environ with the request's variables added or replacing; the strings of
 * environ are shared, the new ones are allocated in *ret_owned. */
static int build_env(const struct spawn_args *s, char ***ret_envp, char ***ret_owned)
{
        size_t n_env = 0;

        while (environ && environ[n_env])
                n_env++;
        char **envp = calloc(n_env + s->n_env + 2, sizeof(char *));
        char **owned = calloc(s->n_env + 2, sizeof(char *));
        size_t n = 0, n_owned = 0;
        if (!envp || !owned)
                goto oom;
        for (size_t i = 0; i < n_env; i++) {
                bool replaced = false;
                for (size_t k = 0; k < s->n_env && !replaced; k++)
                        replaced = key_matches(environ[i], s->env_keys[k], strlen(s->env_keys[k]));
                if (!replaced)
                        envp[n++] = environ[i];
        }
        for (size_t k = 0; k < s->n_env; k++) {
                /* A later duplicate key cannot happen (JSON objects are
                 * parsed with duplicates refused). */
                char *e;
                if (asprintf(&e, "%s=%s", s->env_keys[k], s->env_values[k]) < 0)
                        goto oom;
                envp[n++] = owned[n_owned++] = e;
        }
        if (s->default_term) {
                bool has = false;
                for (size_t i = 0; i < n && !has; i++)
                        has = key_matches(envp[i], "TERM", 4);
                if (!has) {
                        char *e = strdup(s->default_term);
                        if (!e)
                                goto oom;
                        envp[n++] = owned[n_owned++] = e;
                }
        }
        *ret_envp = envp;
        *ret_owned = owned;
        return 0;
oom:
        for (size_t i = 0; owned && i < n_owned; i++)
                free(owned[i]);
        free(owned);
        free(envp);
        return -ENOMEM;
}

static void free_owned(char **owned)
{
        for (size_t i = 0; owned && owned[i]; i++)
                free(owned[i]);
        free(owned);
}

/* The program as Rust's Command finds it: a name with '/' is used as is;
 * otherwise the first executable regular file in the child's PATH. */
static int find_program(const char *name, char *const *envp, char *buf, size_t size)
{
        const char *path = DEFAULT_PATH;
        int err = -ENOENT;

        if (!*name)
                return -ENOENT;
        if (strchr(name, '/')) {
                if ((size_t)snprintf(buf, size, "%s", name) >= size)
                        return -ENAMETOOLONG;
                return 0;
        }
        for (size_t i = 0; envp[i]; i++)
                if (key_matches(envp[i], "PATH", 4))
                        path = envp[i] + 5;
        for (const char *p = path;;) {
                const char *end = strchrnul(p, ':');
                size_t len = (size_t)(end - p);
                struct stat st;
                /* An empty entry means the current directory, as execvp. */
                if ((size_t)snprintf(buf, size, "%.*s%s%s", (int)len, p, len ? "/" : "", name) < size &&
                    stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
                        if (access(buf, X_OK) == 0)
                                return 0;
                        err = -EACCES;
                }
                if (!*end)
                        break;
                p = end + 1;
        }
        return err;
}

/* In the forked child: what posix_spawn would have set up, then the user
 * switch, the directory, exec. Returns only on failure, with errno. */
static int child_exec(const struct spawn_args *s, const char *prog, char **argv, char **envp)
{
        sigset_t none;
        sigemptyset(&none);
        for (int sig = 1; sig < NSIG; sig++)
                signal(sig, SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (s->tty) {
                int fd;
                if (setsid() < 0 || (fd = open(s->tty, O_RDWR)) < 0)
                        return errno;
                if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                        return errno;
                if (fd > 2)
                        close(fd);
        } else if (setpgid(0, 0) < 0 || dup2(s->stdin_fd, 0) < 0 || dup2(s->stdout_fd, 1) < 0 ||
                   dup2(s->stderr_fd, 2) < 0) {
                return errno;
        }
        if (setgroups(0, NULL) < 0 || setgid(s->gid) < 0 || setuid(s->uid) < 0)
                return errno;
        if (s->cwd && chdir(s->cwd) < 0)
                return errno;
        execve(prog, argv, envp);
        return errno;
}

/* posix_spawn cannot change users: fork, and child_exec's errno comes
 * back through a close-on-exec pipe (nothing read: exec succeeded). The
 * agent is single-threaded, so the child may do anything before exec. */
static int spawn_forked(const struct spawn_args *s, const char *prog, char **argv, char **envp, pid_t *ret_pid)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                int e = errno;
                close(p[0]);
                close(p[1]);
                return -e;
        }
        if (pid == 0) {
                int e = child_exec(s, prog, argv, envp);
                (void)!write(p[1], &e, sizeof(e));
                _exit(127);
        }
        close(p[1]);
        int e = 0;
        ssize_t n;
        while ((n = read(p[0], &e, sizeof(e))) < 0 && errno == EINTR)
                ;
        close(p[0]);
        if (n == (ssize_t)sizeof(e)) {
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                return -(e ? e : EIO);
        }
        *ret_pid = pid;
        return 0;
}

/* The usual way: posix_spawn with the group/session, fds, signals, cwd. */
static int spawn_posix(const struct spawn_args *s, const char *prog, char **argv, char **envp, pid_t *ret_pid)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;

        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
        if (s->tty) {
                flags |= POSIX_SPAWN_SETSID;
                /* Opened after setsid, the tty becomes the controlling one. */
                posix_spawn_file_actions_addopen(&fa, 0, s->tty, O_RDWR, 0);
                posix_spawn_file_actions_adddup2(&fa, 0, 1);
                posix_spawn_file_actions_adddup2(&fa, 0, 2);
        } else {
                flags |= POSIX_SPAWN_SETPGROUP;
                posix_spawnattr_setpgroup(&attr, 0);
                posix_spawn_file_actions_adddup2(&fa, s->stdin_fd, 0);
                posix_spawn_file_actions_adddup2(&fa, s->stdout_fd, 1);
                posix_spawn_file_actions_adddup2(&fa, s->stderr_fd, 2);
        }
        if (s->cwd)
                posix_spawn_file_actions_addchdir_np(&fa, s->cwd);
        posix_spawnattr_setflags(&attr, flags);

        int r = -posix_spawn(ret_pid, prog, &fa, &attr, argv, envp);

        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        return r;
}

int spawn_child(const struct spawn_args *s, pid_t *ret_pid, const char **ret_msg)
{
        char **envp = NULL, **owned = NULL;
        char prog[PATH_MAX];
        pid_t pid;
        int r;

        *ret_msg = NULL;
        if (s->argc == 0 || s->argc > SPAWN_MAX_ARGS)
                return s->argc ? -E2BIG : -EINVAL;
        for (size_t k = 0; k < s->n_env; k++) {
                if (!*s->env_keys[k] || strchr(s->env_keys[k], '=')) {
                        *ret_msg = "invalid environment variable name";
                        return -EINVAL;
                }
        }
        r = build_env(s, &envp, &owned);
        if (r < 0)
                return r;
        r = find_program(s->argv[0], envp, prog, sizeof(prog));
        if (r < 0) {
                free(envp);
                free_owned(owned);
                return r;
        }
        char **argv = calloc(s->argc + 1, sizeof(char *));
        if (!argv) {
                free(envp);
                free_owned(owned);
                return -ENOMEM;
        }
        memcpy(argv, s->argv, s->argc * sizeof(char *));
        r = s->as_user ? spawn_forked(s, prog, argv, envp, &pid) : spawn_posix(s, prog, argv, envp, &pid);
        free(argv);
        free(envp);
        free_owned(owned);
        if (r < 0)
                return r;
        *ret_pid = pid;
        return 0;
}
