/* `ak run --json` and `ak exec --json`: the result object on stdout.
 *
 * The command's own output goes to stderr then (both streams, in order), so
 * a script's stdout holds exactly one JSON object and a newline:
 *   {"exit_code":0,"receipt_id":"...","receipt":"/path","receipt_signed":true,
 *    "duration_ms":812,"sandbox":"ak-...","timed_out":false,"truncated":false,
 *    "output_bytes":3,"kept":false}
 * ("kept" for run only; "signal" when a signal killed it; "error" when
 * the command could not run or was killed) or, when the command never started, {"error":"..."}. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

struct run_outcome {
        bool have_result;       /* the stream's ExecResult arrived */
        int32_t exit_code;      /* -1: did not exit normally */
        int32_t signal;         /* > 0: the signal that killed it */
        bool timed_out, truncated, receipt_signed;
        int64_t duration_ms;
        uint64_t output_bytes;
        char sandbox[128];
        char receipt_id[128];
        char receipt_path[PATH_MAX]; /* "" when none was written */
        char error[512];             /* "" or why it failed */
};

/* kept: 1 or 0 for run, -1 for exec (no "kept" member). */
void run_json_result(const struct run_outcome *oc, int kept);
/* {"error": msg} on stdout. */
void run_json_error(const char *msg);
/* exec -d: {"id":..., "pid":..., "sandbox":...}. */
void run_json_detached(const char *id, int32_t pid, const char *sandbox);
