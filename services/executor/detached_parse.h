/* What the guest's detached-command scripts print (executor_detached.c
 * writes them), parsed on the host. The bytes come from a hostile guest:
 * every number, length and name is checked, nothing is trusted to be
 * consistent beyond what the format states. Pure, no I/O; reentrant.
 *
 * A record is either "ak0 ID\n" (no such command) or
 *   "ak1 ID PID STARTED_MS EXIT KILLED OUT_BYTES ERR_BYTES MAX_LOG CMD_LEN\n"
 *   CMD_LEN bytes: the argv, each argument followed by a NUL
 * and, when the call asked for a stream's bytes, then
 *   "DATA_LEN\n" DATA_LEN bytes
 * EXIT is "-" while the command runs, else 0..255; KILLED is 0 or 1. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DETACHED_ID_MAX 64
#define DETACHED_MAX_ARGV 4096

struct detached_record {
        char id[DETACHED_ID_MAX + 1];
        bool found;
        int32_t pid;
        int64_t started_ms;
        bool has_exit;
        int exit_code;
        bool killed;
        uint64_t out_bytes, err_bytes, max_log;
        char **argv;          /* n_argv strings, malloc'd; NULL when !found */
        size_t n_argv;
        bool has_data;
        const uint8_t *data;  /* points into the parsed buffer */
        size_t data_len;
};

/* True for a name the host may put in a guest path: 1..64 of [0-9a-f-]. */
bool detached_id_valid(const char *id, size_t len);

/* Parses the record at buf[*pos..len), advancing *pos past it. with_data:
 * the record carries a data part. Returns 0 and fills *ret (release with
 * detached_record_done), -EINVAL for anything malformed, -ENOMEM. */
int detached_record_parse(const uint8_t *buf, size_t len, size_t *pos, bool with_data,
                          struct detached_record *ret);
void detached_record_done(struct detached_record *r);
