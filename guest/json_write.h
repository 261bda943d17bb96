/* A growable byte buffer and a JSON writer whose output matches serde_json's
 * compact serializer byte for byte: no spaces, '/' not escaped, non-ASCII kept
 * raw, '"' '\\' \b \f \n \r \t escaped by name and other control characters as
 * \u00xx (lowercase hex).
 *
 * Strings are written "lossily": bytes that are not valid UTF-8 become U+FFFD
 * exactly as Rust's String::from_utf8_lossy does (see utf8.h), so any bytes
 * can be passed and the output is always valid JSON in valid UTF-8.
 *
 * Errors are sticky: after an allocation failure or when the buffer would
 * exceed its limit, every later call is a no-op and jbuf_error() returns
 * -ENOMEM or -EMSGSIZE. Not thread-safe; one writer per buffer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jbuf {
        char *data;
        size_t len;
        size_t cap;
        size_t limit; /* 0: no limit */
        int err;
        /* object/array nesting: bit set when the next member needs a comma */
        unsigned depth;
        uint64_t need_comma;
};

/* Starts an empty buffer that refuses to grow past limit bytes (0: none). */
void jbuf_init(struct jbuf *b, size_t limit);
/* Frees the data; the jbuf can be initialised again. */
void jbuf_done(struct jbuf *b);
/* Hands the data to the caller (who frees it) and resets the buffer. */
char *jbuf_steal(struct jbuf *b, size_t *ret_len);
int jbuf_error(const struct jbuf *b);

void jbuf_put(struct jbuf *b, const void *p, size_t n);

/* Structure. Keys must be plain ASCII names (written without escaping). */
void jw_object_begin(struct jbuf *b);
void jw_object_end(struct jbuf *b);
void jw_array_begin(struct jbuf *b);
void jw_array_end(struct jbuf *b);
void jw_key(struct jbuf *b, const char *key);

/* Values: inside an array these add the comma; after json_key they follow it. */
void jw_string(struct jbuf *b, const void *s, size_t len);
void jw_cstring(struct jbuf *b, const char *s);
void jw_int(struct jbuf *b, int64_t v);
void jw_bool(struct jbuf *b, bool v);

/* Size in bytes of jw_string(s, len)'s output, quotes included. */
size_t jw_string_size(const void *s, size_t len);

/* The longest prefix of s[0..len), cut on a UTF-8 unit boundary, whose
 * jw_string_size() is at most budget (quotes included). Returns its length
 * in input bytes (0 when even "" does not fit). */
size_t jw_string_cut(const void *s, size_t len, size_t budget);
