/* One unary call to the Scheduler for the CLI's verbs. */
#pragma once

#include <protobuf-c/protobuf-c.h>

/* Calls method with req over stack_client's channel (starting the local
 * stack if none runs); *resp is the answer. 0, or -1 after printing
 * "ak [GROUP ]VERB: why" on stderr (group may be NULL). */
int cli_scheduler_call(const char *group, const char *verb, const char *method, const ProtobufCMessage *req,
                       ProtobufCMessage **resp);
