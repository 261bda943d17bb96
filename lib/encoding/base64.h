/* Base64, standard alphabet (RFC 4648 section 4) with '=' padding.
 *
 * Decoding is strict, as Rust's base64 STANDARD engine: the length must be a
 * multiple of 4, padding is required and only at the end, no whitespace, and
 * the unused low bits of the last symbol must be zero (one encoding per byte
 * string). Pure functions, no allocation unless the name says so; thread-safe.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Characters needed to encode n bytes, without the terminating NUL.
 * REQUIRES: n <= BASE64_MAX_INPUT. */
#define BASE64_MAX_INPUT ((size_t)1 << 60)
size_t base64_encoded_len(size_t n);

/* Upper bound of the bytes decoded from n characters. */
size_t base64_decoded_max(size_t n);

/* Encodes len bytes of data into out (NUL-terminated).
 * Returns 0, -ENOBUFS if out_size < base64_encoded_len(len) + 1,
 * -E2BIG if len > BASE64_MAX_INPUT. */
int base64_encode(const void *data, size_t len, char *out, size_t out_size);

/* As base64_encode, into a malloc'd NUL-terminated string the caller frees.
 * Returns 0, -ENOMEM, -E2BIG. */
int base64_encode_alloc(const void *data, size_t len, char **ret);

/* Decodes in_len characters of in into out. On success writes the decoded
 * length to *ret_len and returns 0. Returns -EINVAL for any malformed input
 * (bad character, bad length, misplaced or missing padding, non-zero trailing
 * bits), -ENOBUFS if out_size is smaller than the decoded length. */
int base64_decode(const char *in, size_t in_len, uint8_t *out, size_t out_size, size_t *ret_len);

/* As base64_decode, into a malloc'd buffer the caller frees (*ret, written
 * only on success; not NUL-terminated). Returns 0, -EINVAL, -ENOMEM. */
int base64_decode_alloc(const char *in, size_t in_len, uint8_t **ret, size_t *ret_len);

/* Why base64_decode refuses in[0..in_len) with -EINVAL, as a static string
 * for messages: "invalid length" (not a multiple of 4), "invalid padding"
 * ('=' before the end), "invalid byte" (outside the alphabet), "invalid last
 * symbol" (non-zero unused bits). The first fault from the start is named.
 * NULL when the input is valid. */
const char *base64_decode_error(const char *in, size_t in_len);

#ifdef __cplusplus
}
#endif
