/* agentkernel.toml's [[files]]: host files written into a new sandbox
 * before anything runs in it, each by sandbox_cp_put (any size up to
 * SANDBOX_CP_MAX_BYTES, 4 MiB pieces, SHA-256 checked; a directory source
 * is copied as a tree). */
#pragma once

#include "cli/config.h"
#include "lib/base/error.h"
#include "lib/rpc/rpc.h"

/* Writes each entry of cfg into `sandbox`: source is read relative to the
 * directory of config_path (unless absolute), dest's parent directories
 * are made, mode is the entry's (0: the source's). 0, or the first failure
 * with err naming the entry and what to do (-EINTR: SIGINT/SIGTERM, the
 * entry's staging removed). */
int config_files_push(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                      const struct config *cfg, const char *config_path, struct ak_error *err);
