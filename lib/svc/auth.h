/* A service's incoming bearer tokens (--token-file), reloadable: the set
 * in use is swapped whole under a lock, so a call is checked against the
 * old set or the new one, never a mix, and a file that does not load
 * leaves the old set in place.
 *
 * Thread-safety: svc_auth_authorize and svc_auth_count from any thread,
 * concurrently with svc_auth_reload. */
#pragma once

#include <stddef.h>

#include "lib/base/error.h"
#include "lib/rpc/rpc.h"
#include "lib/svc/tokens.h"

struct svc_auth;

/* Loads `path` (tokens_load's rules: 0600, at least one token). `service`
 * ("scheduler") names the server in refusals. Both are copied;
 * svc_auth_reload reads the path again. */
int svc_auth_load(const char *path, const char *service, struct svc_auth **ret, struct ak_error *err);

void svc_auth_free(struct svc_auth *a);

/* Reads the file again and, when it loads, swaps the new set in and writes
 * its size to *ret_count. On error the old set stays (err says why). */
int svc_auth_reload(struct svc_auth *a, size_t *ret_count, struct ak_error *err);

/* Reloads and formats one line for main's log: "reloaded F: N tokens" or
 * "F: WHY; still using the N tokens loaded before". Never the tokens. */
void svc_auth_reload_line(struct svc_auth *a, char *buf, size_t size);

size_t svc_auth_count(struct svc_auth *a);

const char *svc_auth_path(const struct svc_auth *a);

/* Who a bearer token's line says the caller is (tokens.h), copied. */
struct svc_who {
        char tenant[TOKEN_NAME_MAX + 1];    /* "" on an executor= line */
        char executor[TOKEN_NAME_MAX + 1];  /* "" unless executor=NAME */
        bool admin;
};

/* Finds `authorization` ("Bearer <token>", may be NULL) in the current set
 * and fills *ret. Returns 0, or -EACCES when it is none of the tokens. */
int svc_auth_who(struct svc_auth *a, const char *authorization, struct svc_who *ret);

/* An rpc_authorize_fn with data = the svc_auth (NULL: every call passes):
 * RPC_OK when the call's `authorization` is "Bearer <one of the tokens>",
 * else UNAUTHENTICATED saying what was missing. The health service is
 * never authorized (lib/rpc). */
int svc_auth_authorize(struct rpc_call *call, void *data);
