/* Reader cursors, kept in the spool directory: the last position a reader
 * (an auditor destination, the executor's sender) has delivered, in
 * "cursor-<hash>" files written atomically (temp file, fsync, rename, fsync
 * of the directory).
 *
 * File contents: "<position> <name>\n". The name is checked on load, so two
 * readers whose names hash alike cannot share a file. */
#pragma once

#include <stdint.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Loads the cursor of destination `name` from directory dir_fd. Returns 0
 * with the position (0 when no cursor exists yet), or -EBADMSG (err says the
 * file is damaged) or another -errno. */
int cursor_load(int dir_fd, const char *name, uint64_t *ret_position, struct ak_error *err);

/* Stores the cursor durably. Returns 0 or -errno (err filled). */
int cursor_store(int dir_fd, const char *name, uint64_t position, struct ak_error *err);

#ifdef __cplusplus
}
#endif
