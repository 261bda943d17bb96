/* Standard base64 (RFC 4648 alphabet, '=' padding), as the Rust base64
 * crate's STANDARD engine that agentkernel uses: encoding always pads;
 * decoding requires canonical padding and zero trailing bits, and rejects
 * whitespace and any other byte. */
#pragma once

#include <stddef.h>

/* Encoded size of n input bytes (without a terminating NUL). */
size_t base64_encoded_size(size_t n);

/* Writes base64_encoded_size(n) bytes to out (no NUL). */
void base64_encode(const void *in, size_t n, char *out);

/* Decodes in[0..n) into a new malloc'd buffer (*ret_out, *ret_len; the buffer
 * is NUL-terminated for convenience). Returns 0, -ENOMEM, or -EINVAL with a
 * short reason in *ret_reason (a static string) for malformed input. */
int base64_decode(const char *in, size_t n, void **ret_out, size_t *ret_len, const char **ret_reason);
