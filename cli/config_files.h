/* agentkernel.toml's [[files]]: host files written into a new sandbox
 * before anything runs in it (through the scheduler's file API). */
#pragma once

#include "cli/config.h"
#include "lib/base/error.h"
#include "lib/rpc/rpc.h"

/* The most one entry may hold: one guest frame (WriteFileRequest). */
#define CONFIG_FILES_MAX_BYTES (7u << 20)

/* Writes each entry of cfg into `sandbox`: source is read relative to the
 * directory of config_path (unless absolute), dest's parent directories
 * are made, mode is the entry's. 0, or the first failure with err naming
 * the entry and what to do. */
int config_files_push(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                      const struct config *cfg, const char *config_path, struct ak_error *err);
