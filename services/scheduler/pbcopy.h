/* Deep copies of protobuf-c messages (protobuf-c has no copy function):
 * serialize, then parse into fresh memory. */
#ifndef AK_SCHEDULER_PBCOPY_H
#define AK_SCHEDULER_PBCOPY_H

#include <protobuf-c/protobuf-c.h>

/* A copy the caller frees with protobuf_c_message_free_unpacked(copy, NULL);
 * NULL when out of memory. */
ProtobufCMessage *pbcopy(const ProtobufCMessage *msg);

#endif
