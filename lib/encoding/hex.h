/* Lowercase hexadecimal. Pure functions, thread-safe. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Encodes len bytes as 2*len lowercase hex digits plus a NUL into out.
 * Returns 0, or -ENOBUFS if out_size < 2*len + 1. */
int hex_encode(const void *data, size_t len, char *out, size_t out_size);

/* Decodes in_len hex digits (either case) into out. Returns 0 and the byte
 * count in *ret_len, -EINVAL for an odd length or a non-hex character,
 * -ENOBUFS if out_size < in_len / 2. */
int hex_decode(const char *in, size_t in_len, uint8_t *out, size_t out_size, size_t *ret_len);

#ifdef __cplusplus
}
#endif
