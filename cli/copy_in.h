/* The permissive profile's "mount cwd", done as a copy-in: the client's
 * working directory is packed with tar(1) and copied into the sandbox by
 * sandbox_cp_put (4 MiB pieces, SHA-256 checked, unpacked as root). A
 * copy, not a mount: what the command changes stays in the sandbox
 * (`ak sandbox cp` brings files back). Works the same against a fleet,
 * whose executors never see the client's disk.
 *
 * Also the profile's "pass env": the client's environment, less what only
 * makes sense on the client (copy_in_env_passes). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/base/error.h"
#include "lib/rpc/rpc.h"

/* Where the directory lands in the guest; commands start there. */
#define COPY_IN_GUEST_DIR "/workspace"
/* The most a copy-in sends (the packed size). */
#define COPY_IN_MAX_BYTES (256ull << 20)

/* Packs dir and unpacks it at guest_dir (made if missing) in sandbox,
 * through the scheduler behind ch (opts: its call options); progress lines
 * on stderr. On failure (-EINTR on SIGINT/SIGTERM, as sandbox_cp_put) err
 * says which step and what to do; nothing is left in the guest's /tmp. */
int copy_in_dir(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                const char *dir, const char *guest_dir, struct ak_error *err);

/* Whether the client's variable "NAME=value" goes into the sandbox:
 * everything except PATH, HOME, PWD, OLDPWD, SHELL, SHLVL, USER, LOGNAME,
 * "_", the loader's LD_* and ak's own AK_* (the guest has its own). */
bool copy_in_env_passes(const char *entry);

/* tar(1) packing dir to a pipe (owners, modes, symlinks as symlinks);
 * *ret_fd is its read end, *ret_pid the tar to reap. Used by copy_in_dir
 * and `ak sandbox cp`. */
int copy_in_spawn_tar(const char *dir, pid_t *ret_pid, int *ret_fd, struct ak_error *err);
