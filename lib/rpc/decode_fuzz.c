/* libFuzzer: the server's request decode path. The first byte picks a method
 * of any ak service; the rest is the request body as it would arrive in a
 * gRPC message. A decoded request must re-encode to a buffer that decodes to
 * the same encoding (protobuf-c must not hand handlers half-valid messages). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/rpc/internal.h"
#include "protos/ak/v1/auditor.pb-c.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "protos/ak/v1/scheduler.pb-c.h"
#include "protos/ak/v1/signer.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCServiceDescriptor *const services[] = {
        &ak__v1__scheduler__descriptor,
        &ak__v1__executor__descriptor,
        &ak__v1__signer__descriptor,
        &ak__v1__auditor__descriptor,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        unsigned total = 0;
        for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
                total += services[i]->n_methods;
        unsigned pick = data[0] % total;
        const ProtobufCMethodDescriptor *md = NULL;
        for (size_t i = 0; i < sizeof(services) / sizeof(services[0]) && !md; i++) {
                if (pick < services[i]->n_methods)
                        md = &services[i]->methods[pick];
                else
                        pick -= services[i]->n_methods;
        }
        data++;
        size--;

        /* Split the body over two slices, as the transport may. */
        size_t half = size / 2;
        grpc_slice parts[2] = {
                grpc_slice_from_copied_buffer((const char *)data, half),
                grpc_slice_from_copied_buffer((const char *)data + half, size - half),
        };
        grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(parts, 2);
        grpc_slice_unref(parts[0]);
        grpc_slice_unref(parts[1]);
        char why[256];
        ProtobufCMessage *msg = rpc_unpack(bb, md->input, why, sizeof(why));
        grpc_byte_buffer_destroy(bb);
        if (!msg)
                return 0;

        grpc_byte_buffer *again;
        if (rpc_pack(msg, SIZE_MAX, &again) == 0) {
                ProtobufCMessage *msg2 = rpc_unpack(again, md->input, why, sizeof(why));
                if (!msg2)
                        abort();
                size_t n1 = protobuf_c_message_get_packed_size(msg);
                size_t n2 = protobuf_c_message_get_packed_size(msg2);
                if (n1 != n2)
                        abort();
                uint8_t *b1 = malloc(n1 ? n1 : 1), *b2 = malloc(n2 ? n2 : 1);
                protobuf_c_message_pack(msg, b1);
                protobuf_c_message_pack(msg2, b2);
                if (memcmp(b1, b2, n1) != 0)
                        abort();
                free(b1);
                free(b2);
                protobuf_c_message_free_unpacked(msg2, NULL);
                grpc_byte_buffer_destroy(again);
        }
        protobuf_c_message_free_unpacked(msg, NULL);
        return 0;
}
