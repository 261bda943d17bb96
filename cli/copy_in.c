#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>

#include "cli/copy_in.h"
#include "cli/sandbox_cp.h"
#include "lib/base/cleanup.h"

extern char **environ;

int copy_in_spawn_tar(const char *dir, pid_t *ret_pid, int *ret_fd, struct ak_error *err)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return ak_error_errno(err, -errno, "pipe");
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        const char *argv[] = { "tar", "-C", dir, "-cf", "-", ".", NULL };
        int r = posix_spawnp(ret_pid, "tar", &fa, NULL, (char **)argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        if (r != 0) {
                close(p[0]);
                return ak_error_set(err, -r, "tar: %s (install tar)", strerror(r));
        }
        *ret_fd = p[0];
        return 0;
}

int copy_in_dir(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                const char *dir, const char *guest_dir, struct ak_error *err)
{
        struct sandbox_cp_put a = {
                .src = dir,
                .guest_path = guest_dir,
                .exact = true,
                .max_bytes = COPY_IN_MAX_BYTES,
                .max_hint = "run from a smaller directory, or use --profile moderate and `ak sandbox cp`",
                .phase = "run",
        };
        int r = sandbox_cp_put(ch, opts, sandbox, &a, err);
        if (r < 0)
                ak_error_wrap(err, "copying %s into the sandbox", dir);
        return r;
}

bool copy_in_env_passes(const char *entry)
{
        static const char *const client_only[] = { "PATH", "HOME", "PWD", "OLDPWD", "SHELL", "SHLVL",
                                                   "USER", "LOGNAME", "_" };
        const char *eq = strchr(entry, '=');
        if (!eq || eq == entry)
                return false;
        size_t n = (size_t)(eq - entry);
        for (size_t i = 0; i < AK_ARRAY_SIZE(client_only); i++)
                if (strlen(client_only[i]) == n && memcmp(entry, client_only[i], n) == 0)
                        return false;
        return !(n >= 3 && memcmp(entry, "LD_", 3) == 0) && !(n >= 3 && memcmp(entry, "AK_", 3) == 0);
}
