#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "services/scheduler/pbcopy.h"

int pbcopy_pack(const ProtobufCMessage *msg, size_t max_bytes, uint8_t **ret_buf, size_t *ret_len)
{
        size_t n = protobuf_c_message_get_packed_size(msg);
        if (n > max_bytes)
                return -E2BIG;
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf)
                return -ENOMEM;
        protobuf_c_message_pack(msg, buf);
        *ret_buf = buf;
        *ret_len = n;
        return 0;
}

int pbcopy_unpack(const ProtobufCMessageDescriptor *d, uint8_t *buf, size_t len, ProtobufCMessage **ret)
{
        *ret = protobuf_c_message_unpack(d, NULL, len, buf);
        free(buf);
        return *ret ? 0 : -ENOMEM;
}

ProtobufCMessage *pbcopy(const ProtobufCMessage *msg)
{
        uint8_t *buf;
        size_t n;
        ProtobufCMessage *copy = NULL;
        if (pbcopy_pack(msg, SIZE_MAX, &buf, &n) == 0)
                pbcopy_unpack(msg->descriptor, buf, n, &copy);
        return copy;
}
