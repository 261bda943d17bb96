/* A JSON writer that produces serde_json's bytes.
 *
 * Compact mode is serde_json::to_vec: no whitespace at all. Pretty mode is
 * serde_json::to_vec_pretty: two-space indent, "key": value, "[]" and "{}"
 * for empty containers, no trailing newline.
 *
 * Strings are escaped as serde_json does: '"' and '\\' with a backslash,
 * \b \f \n \r \t, every other byte below 0x20 as \u00xx with lowercase hex,
 * and nothing else (not '/', not DEL, UTF-8 kept raw). Without
 * JSON_WRITER_LOSSY the writer does not validate UTF-8: give it valid UTF-8
 * (serde's Strings always are).
 *
 * Errors are sticky: the value calls return nothing; the first failure
 * (-ENOMEM, -E2BIG past max_size, -EINVAL for a misuse such as a key outside
 * an object or unbalanced containers) is reported by json_writer_finish.
 *
 * Thread-safety: a writer belongs to one thread at a time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JSON_WRITER_PRETTY 1u
/* Strings and keys may hold any bytes: each maximal invalid UTF-8 subpart
 * (Unicode ch. 3, "U+FFFD Substitution of Maximal Subparts") is written as
 * one U+FFFD, as Rust's String::from_utf8_lossy converts it (and Python's
 * errors="replace"). The output is then always valid UTF-8. */
#define JSON_WRITER_LOSSY 2u

struct json_writer;

/* max_size bounds the output (0: JSON_MAX_INPUT from json.h).
 * Returns 0 or -ENOMEM. */
int json_writer_new(unsigned flags, size_t max_size, struct json_writer **ret);
/* NULL is a no-op. */
void json_writer_free(struct json_writer *w);

/* Reserves n zero bytes at the start of the output, before the JSON, for the
 * caller to fill in after json_writer_finish (a frame's length header, say).
 * They count in finish's length but not against max_size.
 * REQUIRES: nothing written yet (else -EINVAL). */
void json_writer_prefix(struct json_writer *w, size_t n);

void json_writer_begin_object(struct json_writer *w);
void json_writer_end_object(struct json_writer *w);
void json_writer_begin_array(struct json_writer *w);
void json_writer_end_array(struct json_writer *w);
/* An object member's key; the next value call writes its value. */
void json_writer_key(struct json_writer *w, const char *key, size_t len);
void json_writer_string(struct json_writer *w, const char *s, size_t len);
/* s NUL-terminated, or NULL for null (serde's Option<String>). */
void json_writer_string_or_null(struct json_writer *w, const char *s);
void json_writer_u64(struct json_writer *w, uint64_t v);
void json_writer_i64(struct json_writer *w, int64_t v);
void json_writer_bool(struct json_writer *w, bool v);
void json_writer_null(struct json_writer *w);

/* One complete JSON value given as text, copied verbatim (e.g. a number's
 * exact source text, or a value serialized earlier). REQUIRES: text is one
 * valid JSON value; the writer does not check it. */
void json_writer_raw(struct json_writer *w, const char *text, size_t len);

/* A tree from json_parse (json.h), written as it was parsed: every member
 * in source order, numbers as their source text. Its depth is at most
 * JSON_MAX_DEPTH, as the parser's. */
struct json_value;
void json_writer_value(struct json_writer *w, const struct json_value *v);

/* Ends writing: on success hands the output (malloc'd, NUL-terminated,
 * caller frees) to *ret_data and its length to *ret_len, and returns 0. Returns
 * the first error otherwise. The writer must still be freed. */
int json_writer_finish(struct json_writer *w, char **ret_data, size_t *ret_len);

/* One string in serde_json's escaping, with its quotes, malloc'd and
 * NUL-terminated. Returns 0 or -ENOMEM / -E2BIG. */
int json_quote(const char *s, size_t len, char **ret, size_t *ret_len);

/* Sizing without writing, for callers that must fit strings into a limit.
 * flags are a writer's (only JSON_WRITER_LOSSY matters here). Pure, thread-safe.
 *
 * json_quoted_size: the bytes json_writer_string(s, len) writes, quotes
 * included (at least len + 2).
 *
 * json_quoted_cut: the length in bytes of the longest prefix of s whose
 * json_quoted_size is at most budget, cut between UTF-8 units (characters,
 * or whole invalid subparts), so the prefix is written exactly as the start
 * of the whole string is. 0 when budget < 2 (not even ""). */
size_t json_quoted_size(const char *s, size_t len, unsigned flags);
size_t json_quoted_cut(const char *s, size_t len, unsigned flags, size_t budget);

#ifdef __cplusplus
}
#endif
