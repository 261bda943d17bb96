/* struct ak_error: an error code plus words for a person, filled once where
 * the error happens and wrapped with context on the way up, e.g.
 *   "start executor: listen 127.0.0.1:1: Address already in use".
 *
 * Library functions that can fail in ways a caller must explain take a
 * `struct ak_error *err` (may be NULL when the caller only wants the code). */
#pragma once

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AK_ERROR_MAX 1024

struct ak_error {
        int code;                   /* negative errno, or a module's own code */
        char msg[AK_ERROR_MAX];     /* NUL-terminated, never empty once set */
};

/* Sets err (when non-NULL) to code and the formatted message. Returns code,
 * so `return ak_error_set(err, -EINVAL, "bad name %s", n);` reads naturally. */
int ak_error_set(struct ak_error *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* The same, appending ": strerror(-code)" for a negative errno code. */
int ak_error_errno(struct ak_error *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Prefixes err's message with the formatted context and ": ". Returns err->code
 * (or 0 when err is NULL, so only call it on a failure path). */
int ak_error_wrap(struct ak_error *err, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Clears err to { 0, "" }. */
void ak_error_clear(struct ak_error *err);

#ifdef __cplusplus
}
#endif
