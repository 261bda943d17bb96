/* Bearer tokens: the services' client authentication. A token file holds
 * one token per line; blank lines and lines starting with '#' are ignored,
 * spaces around a token are trimmed. A token is 16 to 4096 visible ASCII
 * characters (openssl rand -hex 32 makes a good one). A call is
 * authenticated when its `authorization` metadata is "Bearer <token>" for
 * one of them (compared in constant time).
 *
 * A line may name who its token is before it, in words separated by spaces
 * or tabs; the token is always the line's last word:
 *
 *     TOKEN                          tenant "default" (the old format)
 *     tenant=NAME TOKEN              a client acting for tenant NAME
 *     tenant=NAME admin TOKEN        ... who also sees every tenant's sandboxes
 *     executor=NAME TOKEN            an executor identity (the scheduler's
 *                                    --registration-token-file)
 *
 * NAME is 1 to TOKEN_NAME_MAX bytes of [A-Za-z0-9._-], starting with a
 * letter or digit. A line has at most one of tenant= and executor=, each
 * word once. Old files (one token a line) mean what they meant. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"

#define TOKENS_FILE_MAX (1u << 20)
#define TOKENS_MAX 10000
#define TOKEN_MIN_BYTES 16
#define TOKEN_MAX_BYTES 4096
#define TOKEN_NAME_MAX 63
#define TOKEN_DEFAULT_TENANT "default"

struct tokens;

/* Parses a token file's bytes (`source` names it in errors). At least one
 * token is required. Returns 0 or -EINVAL (err names the line), -ENOMEM. */
int tokens_parse(const char *buf, size_t len, const char *source, struct tokens **ret,
                 struct ak_error *err);

/* Reads and parses `path` (at most TOKENS_FILE_MAX bytes): a regular file
 * owned by root or us that others cannot access and nobody else can write
 * (0600 or 0400; 0440 only as lib/base/secret_file.h allows: our group,
 * under a directory named in AK_SECRET_GROUP_DIRS), else -EPERM with the
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

/* Who a token's line says it is. Strings point into t. */
struct token_who {
        const char *tenant;    /* TOKEN_DEFAULT_TENANT when the line names none,
                                  NULL on an executor= line */
        const char *executor;  /* NULL unless the line has executor=NAME */
        bool admin;
};

/* The i-th token's line, i < tokens_count. */
void tokens_who(const struct tokens *t, size_t i, struct token_who *ret);

/* Which token `authorization` carries: 0 with its index in *ret_index, or
 * -EACCES when it is none of them (tokens_check's rules; every token is
 * compared, in time that does not depend on which one matched). */
int tokens_find(const struct tokens *t, const char *authorization, size_t *ret_index);
