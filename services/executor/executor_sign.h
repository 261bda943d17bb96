/* Receipts (executor_sign.c). Private to services/executor. */
#pragma once

#include "lib/receipt/receipt.h"
#include "protos/ak/v1/receipt.pb-c.h"

struct executor;

/* Signs r (invocation and outcome set) with ex->cfg.signer, or seals it
 * unsigned and says why in *ret_error (malloc'd; the caller frees it).
 * NULL when not even an unsigned receipt could be made. Blocks up to 5 s
 * on the signer; call without ex->lock. */
Ak__V1__Receipt *sign_receipt(struct executor *ex, struct receipt *r, char **ret_error);
