/* One unary call to the Scheduler for the CLI's verbs. */
#pragma once

#include <protobuf-c/protobuf-c.h>

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
