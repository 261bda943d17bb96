/* A walk over a message's wire bytes that checks what protobuf-c does not:
 * proto3 `string` fields must be UTF-8, and ours must hold no NUL (protobuf-c
 * hands them to C as NUL-terminated strings, so "a\0b" would arrive as "a"
 * and a service would act on something other than what was sent). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/base/utf8.h"
#include "lib/rpc/internal.h"

#define WIRE_MAX_DEPTH 64

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
        uint64_t v = 0;
        for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
                uint8_t b = *(*p)++;
                v |= (uint64_t)(b & 0x7f) << shift;
                if (!(b & 0x80)) {
                        *ret = v;
                        return 0;
                }
        }
        return -EINVAL;
}

static int check(const ProtobufCMessageDescriptor *desc, const uint8_t *p, const uint8_t *end,
                 int depth, char *why, size_t why_size)
{
        if (depth > WIRE_MAX_DEPTH) {
                snprintf(why, why_size, "nested deeper than %d", WIRE_MAX_DEPTH);
                return -EINVAL;
        }
        while (p < end) {
                uint64_t key, n;
                if (read_varint(&p, end, &key) < 0)
                        goto malformed;
                const ProtobufCFieldDescriptor *f =
                        key >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(desc, (unsigned)(key >> 3))
                                               : NULL;
                switch (key & 7) {
                case 0:
                        if (read_varint(&p, end, &n) < 0)
                                goto malformed;
                        break;
                case 1:
                        if (end - p < 8)
                                goto malformed;
                        p += 8;
                        break;
                case 5:
                        if (end - p < 4)
                                goto malformed;
                        p += 4;
                        break;
                case 2:
                        if (read_varint(&p, end, &n) < 0 || n > (uint64_t)(end - p))
                                goto malformed;
                        if (f && f->type == PROTOBUF_C_TYPE_STRING) {
                                if (memchr(p, 0, n)) {
                                        snprintf(why, why_size, "%s.%s contains a NUL byte", desc->name, f->name);
                                        return -EINVAL;
                                }
                                if (!utf8_valid(p, n)) {
                                        snprintf(why, why_size, "%s.%s is not valid UTF-8", desc->name, f->name);
                                        return -EINVAL;
                                }
                        } else if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                                int r = check(f->descriptor, p, p + n, depth + 1, why, why_size);
                                if (r < 0)
                                        return r;
                        }
                        p += n;
                        break;
                default:
                        goto malformed;
                }
        }
        return 0;
malformed:
        snprintf(why, why_size, "malformed %s", desc->name);
        return -EINVAL;
}

int rpc_wire_check_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                           char *why, size_t why_size)
{
        return check(desc, data, data + len, 0, why, why_size);
}
