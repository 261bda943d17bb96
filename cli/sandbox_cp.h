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

int sandbox_cp_in(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                  const char *src, const char *guest_path, struct ak_error *err);
int sandbox_cp_out(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                   const char *guest_path, const char *dst, struct ak_error *err);
