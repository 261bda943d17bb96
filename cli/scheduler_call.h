/* One unary call to the Scheduler for the CLI's verbs. */
#pragma once

#include <protobuf-c/protobuf-c.h>

#include "lib/rpc/rpc.h"

/* Calls method with req over stack_client's channel (starting the local
 * stack if none runs); *resp is the answer. 0, or -1 after printing
 * "ak [GROUP ]VERB: why" on stderr (group may be NULL). */
int cli_scheduler_call(const char *group, const char *verb, const char *method, const ProtobufCMessage *req,
                       ProtobufCMessage **resp);

/* The same for a create of sandbox `name` (NULL: none): while the call
 * waits, a thread asks GetSandbox every 500 ms whether the create waits in
 * the scheduler's queue and prints "ak [GROUP ]VERB: waiting for capacity:
 * position N of M in the scheduler's queue" on stderr when its place
 * changes. */
int cli_scheduler_create(const char *group, const char *verb, const char *method, const ProtobufCMessage *req,
                         const char *name, ProtobufCMessage **resp);

/* The watch cli_scheduler_create runs, for a caller that makes the create
 * call itself on channel ch (borrowed; outlives the watch): from start to
 * stop a thread asks GetSandbox `name` every 500 ms and prints "ak
 * [GROUP ]VERB: waiting for capacity: position N of M in the scheduler's
 * queue" on stderr when its place changes. opts are the call options to
 * use (copied; their deadline is replaced by 5 s). Start returns NULL
 * (nothing watched) when name is empty or out of memory; stop(NULL) is a
 * no-op. group, verb and name must outlive the watch. */
struct cli_queue_watch;
struct cli_queue_watch *cli_queue_watch_start(struct rpc_channel *ch, const struct rpc_call_options *opts,
                                              const char *group, const char *verb, const char *name);
void cli_queue_watch_stop(struct cli_queue_watch *w);
