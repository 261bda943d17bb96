/* `ak receipt replay`: a receipt's invocation re-run through the scheduler
 * (cli/replay.c), its output hashed as the executor hashes it. */
#pragma once

#include <stdint.h>

#include "lib/base/error.h"
#include "lib/receipt/receipt.h"

struct replay_outcome {
        int32_t exit_code;
        char output_sha256[65]; /* hex, of stdout and stderr bytes as they came */
        uint64_t output_bytes;
        char error[256];        /* the command could not run or was killed; "" */
        char receipt_path[4096]; /* the new receipt, "" when none was written */
};

/* Runs r's invocation again: mode run as a fresh one-shot sandbox (image,
 * profile, network as recorded; never kept), mode exec in the sandbox it
 * names (which must exist). The new receipt is written under
 * $AK_HOME/receipts. Returns 0 with *ret filled, or -errno with err saying
 * what failed (no stack, sandbox gone, stream ended without a result). */
int cli_replay_run(const struct receipt *r, struct replay_outcome *ret, struct ak_error *err);
