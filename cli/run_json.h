/* `ak run --json` and `ak exec --json`: the result object on stdout.
 *
 * The command's own output goes to stderr then (both streams, in order), so
 * a script's stdout holds exactly one JSON object and a newline:
 *   {"exit_code":0,"receipt_id":"...","receipt":"/path","receipt_signed":true,
 *    "duration_ms":812,"sandbox":"ak-...","timed_out":false,"truncated":false,
 *    "output_bytes":3,"kept":false}
 * ("kept" for run only; "signal" when a signal killed it; "error" when
 * the command could not run or was killed) or, when the command never started, {"error":"..."}.
 *
 * With --output-base64 the output is kept instead (run_outcome_capture)
 * and the object gains "stdout_base64" and "stderr_base64" (standard
 * alphabet, padded: agentkernel's *_base64 convention); at most
 * RUN_JSON_CAPTURE_MAX bytes of each, the rest dropped with "truncated":
 * true. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What --output-base64 keeps of each stream (the executor's default cap
 * on a command's output is 64 MiB too). */
#define RUN_JSON_CAPTURE_MAX ((size_t)64 << 20)

struct run_capture {
        uint8_t *data;
        size_t len, cap;
};

struct run_outcome {
        bool have_result;       /* the stream's ExecResult arrived */
        bool capture;           /* --output-base64: output kept, not printed */
        struct run_capture out, err;
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

/* Appends to the kept stdout (err false) or stderr; past
 * RUN_JSON_CAPTURE_MAX the rest is dropped and truncated set. Returns 0
 * or -ENOMEM. */
int run_outcome_capture(struct run_outcome *oc, bool err, const uint8_t *p, size_t n);
/* Frees what run_outcome_capture kept. */
void run_outcome_free(struct run_outcome *oc);

/* kept: 1 or 0 for run, -1 for exec (no "kept" member). */
void run_json_result(const struct run_outcome *oc, int kept);
/* {"error": msg} on stdout. */
void run_json_error(const char *msg);
/* exec -d: {"id":..., "pid":..., "sandbox":...}. */
void run_json_detached(const char *id, int32_t pid, const char *sandbox);
