/* One lib/rpc channel per executor address, shared by every call to it
 * (channels connect lazily and multiplex calls). Reference counted so that
 * idle channels of executors that went away can be closed. Thread-safe. */
#pragma once

#include <stdint.h>

#include "lib/base/error.h"
#include "lib/rpc/rpc.h"

struct channels;

/* tls (may be NULL: plaintext) is copied. */
int channels_new(const struct rpc_tls *tls, struct channels **ret, struct ak_error *err);

/* REQUIRES: no channel is held (every get matched by a put). NULL is a no-op. */
void channels_free(struct channels *c);

/* The channel to `address`, created on first use; hand it back with
 * channels_put. Returns 0 or a negative errno (err says why). */
int channels_get(struct channels *c, const char *address, int64_t now_ms, struct rpc_channel **ret,
                 struct ak_error *err);

void channels_put(struct channels *c, struct rpc_channel *ch, int64_t now_ms);

/* Closes channels nobody holds that were last used more than idle_ms ago.
 * Returns how many. */
int channels_prune(struct channels *c, int64_t now_ms, int64_t idle_ms);
