/* Deep copies of protobuf-c messages (protobuf-c has no copy function):
 * serialize, then parse into fresh memory. */
#pragma once

#include <protobuf-c/protobuf-c.h>

/* A copy the caller frees with protobuf_c_message_free_unpacked(copy, NULL);
 * NULL when out of memory. */
ProtobufCMessage *pbcopy(const ProtobufCMessage *msg);

/* A copy in two halves, for a message that points into state a lock
 * guards: pbcopy_pack under the lock (its bytes in a malloc'd buffer; -E2BIG
 * past max_bytes, -ENOMEM), pbcopy_unpack after it (parses, frees buf;
 * -ENOMEM). */
int pbcopy_pack(const ProtobufCMessage *msg, size_t max_bytes, uint8_t **ret_buf, size_t *ret_len);
int pbcopy_unpack(const ProtobufCMessageDescriptor *d, uint8_t *buf, size_t len, ProtobufCMessage **ret);
