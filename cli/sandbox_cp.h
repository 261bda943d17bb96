/* `ak sandbox cp` of any size, files and directories, over the file API
 * (WriteFile, one guest frame each) and Exec (stdout streamed back).
 *
 * Copy-in: the source (a file, or a directory packed with tar(1)) goes as
 * SANDBOX_CP_PIECE pieces into a private staging directory in the guest,
 * each piece retried on failure; one Exec then joins them next to the
 * target, checks their SHA-256 against ours, and renames (file) or unpacks
 * (directory, as root: owners and modes kept) into place.
 *
 * Copy-out: one Exec stats the source (a directory is packed with tar in a
 * staging file; symlinks stay symlinks) and prints a head line
 * "file|dir SIZE SHA256 MODE PATH"; pieces of at most SANDBOX_CP_PIECE
 * bytes are then read with `dd` Execs (retried), hashed and written to a
 * local temp file, which is renamed into place (file) or unpacked with
 * libarchive refusing entries that leave the target (directory). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "cli/sandbox_cp_local.h"
#include "lib/base/error.h"
#include "lib/rpc/rpc.h"

#define SANDBOX_CP_PIECE (4u << 20)

/* A copy into the sandbox, as sandbox_cp_in's and also for ak's own
 * copies (the permissive profile's working directory, agentkernel.toml's
 * [[files]]). */
struct sandbox_cp_put {
        const char *src;          /* host file or directory */
        const char *guest_path;   /* absolute */
        bool exact;               /* the target is guest_path itself, its parent directories made (never
                                   * guest_path/BASENAME, as `cp -T`) */
        unsigned mode;            /* a file's mode in the guest; 0: the source's */
        unsigned long long max_bytes; /* the most sent (a directory: packed); 0: SANDBOX_CP_MAX_BYTES */
        const char *max_hint;     /* what to do, said past max_bytes; NULL: nothing */
        const char *phase;        /* progress lines' label; NULL: "copy in" */
};

/* Both directions catch SIGINT and SIGTERM while they run (the caller's
 * handlers are put back before they return): a signal stops the copy
 * between pieces, the staging folder in the guest (or the temp file here)
 * is removed, and they return -EINTR, saying which signal in err. Not for
 * two threads at once. Otherwise 0, or a negative errno with err saying
 * what failed on which path. */
int sandbox_cp_put(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                   const struct sandbox_cp_put *a, struct ak_error *err);
/* sandbox_cp_put of src onto guest_path, or into guest_path/BASENAME when
 * that is a directory in the guest. */
int sandbox_cp_in(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                  const char *src, const char *guest_path, struct ak_error *err);
int sandbox_cp_out(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                   const char *guest_path, const char *dst, struct ak_error *err);
