/* Bearer tokens: the services' client authentication. A token file holds
 * one token per line; blank lines and lines starting with '#' are ignored,
 * spaces around a token are trimmed. A token is 16 to 4096 visible ASCII
 * characters (openssl rand -hex 32 makes a good one). A call is
 * authenticated when its `authorization` metadata is "Bearer <token>" for
 * one of them (compared in constant time). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"

#define TOKENS_FILE_MAX (1u << 20)
#define TOKENS_MAX 10000
#define TOKEN_MIN_BYTES 16
#define TOKEN_MAX_BYTES 4096

struct tokens;

/* Parses a token file's bytes (`source` names it in errors). At least one
 * token is required. Returns 0 or -EINVAL (err names the line), -ENOMEM. */
int tokens_parse(const char *buf, size_t len, const char *source, struct tokens **ret,
                 struct ak_error *err);

/* Reads and parses `path` (at most TOKENS_FILE_MAX bytes): a regular file
 * that group and others cannot access (0600 or 0400), else -EPERM with the
 * chmod to run. */
int tokens_load(const char *path, struct tokens **ret, struct ak_error *err);

/* For a client: tokens_load, then a copy of the file's first token in
 * *ret (free it; it is a secret: explicit_bzero before free is polite). */
int tokens_load_first(const char *path, char **ret, struct ak_error *err);

void tokens_free(struct tokens *t);

size_t tokens_count(const struct tokens *t);

/* The i-th token, i < tokens_count. */
const char *tokens_get(const struct tokens *t, size_t i);

/* True when `authorization` (may be NULL) is "Bearer <one of the tokens>";
 * the scheme is case-insensitive. */
bool tokens_check(const struct tokens *t, const char *authorization);
