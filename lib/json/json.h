/* A strict JSON reader that keeps what serde_json would see, exactly.
 *
 * Why not jansson: jansson turns integers beyond int64 into reals (u64
 * output_bytes would lose its exact text), and receipts must re-serialize byte
 * for byte. This reader builds a small read-only tree in which
 *   - strings are the exact decoded bytes (all escapes decoded, surrogate
 *     pairs joined into UTF-8; may contain NUL, so lengths are given),
 *   - numbers keep their exact source text,
 *   - objects keep every member in source order, duplicates included (the
 *     caller decides, as serde's derived structs do, that a duplicate is an error).
 *
 * Accepted input is RFC 8259 JSON as serde_json's from_str accepts it: UTF-8
 * only (invalid UTF-8, raw control characters in strings and lone surrogate
 * escapes are errors), whitespace is space/tab/CR/LF, one value then only
 * whitespace, nesting at most JSON_MAX_DEPTH (serde_json's recursion limit).
 *
 * Thread-safety: a parsed tree is immutable; any number of threads may read it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JSON_MAX_DEPTH 128
/* Inputs above this are refused with -E2BIG before parsing. */
#define JSON_MAX_INPUT ((size_t)256 << 20)

enum json_type {
        JSON_NULL,
        JSON_BOOL,
        JSON_NUMBER,
        JSON_STRING,
        JSON_ARRAY,
        JSON_OBJECT,
};

struct json_value;

/* Where and why a parse failed. line and column start at 1 (column counts
 * bytes), like serde_json's "... at line L column C". */
struct json_error {
        unsigned line;
        unsigned column;
        char message[160]; /* "<what> at line L column C" */
};

/* Parses len bytes of text (need not be NUL-terminated).
 * Returns 0 and a tree in *ret (free with json_value_free), -EINVAL on a
 * syntax error (details in *error if error is non-NULL), -E2BIG if
 * len > JSON_MAX_INPUT, -ENOMEM. */
int json_parse(const char *text, size_t len, struct json_value **ret, struct json_error *error);

/* Frees a tree returned by json_parse. NULL is a no-op. */
void json_value_free(struct json_value *v);

enum json_type json_value_type(const struct json_value *v);
/* "null", "boolean", "number", "string", "array", "object". */
const char *json_type_name(enum json_type t);

/* REQUIRES: the value has the type named by the accessor; otherwise these
 * return false / NULL / 0. */
bool json_bool(const struct json_value *v);
/* The decoded bytes, NUL-terminated; *ret_len (if non-NULL) gets the length,
 * which can be shorter than strlen() would say only if the string holds NUL. */
const char *json_string(const struct json_value *v, size_t *ret_len);
/* The exact source text of a number ("-12", "1.5e3"). */
const char *json_number_text(const struct json_value *v);

/* Integers as serde_json parses them: a number without fraction or exponent
 * that fits u64 (if non-negative) or i64 (if negative; "-0" is a float).
 * Return 0, -EDOM if the number is not such an integer (or v is not a
 * number), -ERANGE if it is an integer outside the requested type. */
int json_number_u64(const struct json_value *v, uint64_t *ret);
int json_number_i64(const struct json_value *v, int64_t *ret);

size_t json_array_size(const struct json_value *v);
const struct json_value *json_array_get(const struct json_value *v, size_t i);

size_t json_object_size(const struct json_value *v);
const char *json_object_key(const struct json_value *v, size_t i, size_t *ret_len);
const struct json_value *json_object_value(const struct json_value *v, size_t i);
/* The first member whose key is exactly key (NUL-terminated), or NULL. */
const struct json_value *json_object_get(const struct json_value *v, const char *key);
/* Copies member key, a string without NUL bytes shorter than size, into dst
 * (NUL-terminated). -EINVAL when it is missing, not a string, holds a NUL
 * or does not fit. */
int json_object_copy_string(const struct json_value *v, const char *key, char *dst, size_t size);

#ifdef __cplusplus
}
#endif
