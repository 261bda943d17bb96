#include <stdlib.h>

#include "services/scheduler/pbcopy.h"

ProtobufCMessage *pbcopy(const ProtobufCMessage *msg)
{
        size_t n = protobuf_c_message_get_packed_size(msg);
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf)
                return NULL;
        protobuf_c_message_pack(msg, buf);
        ProtobufCMessage *copy = protobuf_c_message_unpack(msg->descriptor, NULL, n, buf);
        free(buf);
        return copy;
}
