/* `-i`: our stdin into an interactive Exec's or Run's command, through
 * WriteStdin calls, on a thread of its own (cli/stdin_feed.c). */
#pragma once

#include <stdbool.h>

#include "lib/rpc/rpc.h"

/* The most bytes one WriteStdin carries (the executor's limit). */
#define STDIN_FEED_CHUNK (1 << 20)

struct stdin_feed;

/* Starts copying fd to stream_id in sandbox over ch (which must outlive the
 * feed; opts are copied) until EOF, then sends eof. One call at a time: at
 * most STDIN_FEED_CHUNK bytes are held, here or anywhere on the way.
 * verb names us in messages. 0 or -errno. */
int stdin_feed_start(struct rpc_channel *ch, const struct rpc_call_options *opts, int fd, const char *verb,
                     const char *sandbox, const char *stream_id, struct stdin_feed **ret);

/* Stops reading (the command's stream ended), waits for a call in flight
 * (the guest answers it when the command has gone) and frees f. An
 * UNAVAILABLE answer (the guest or executor went away) is reported here
 * unless command_done (the stream brought the command's result: a one-shot
 * sandbox is removed then). NULL: no-op. */
void stdin_feed_stop(struct stdin_feed *f, bool command_done);
