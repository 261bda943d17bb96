/* Receipts (executor_sign.c). Private to services/executor. */
#pragma once

#include "lib/receipt/receipt.h"
#include "protos/ak/v1/receipt.pb-c.h"

struct executor;

/* Signs r (invocation and outcome set) with ex->cfg.signer, or seals it
 * unsigned and says why in *ret_error (malloc'd; the caller frees it).
 * NULL when not even an unsigned receipt could be made. r->tenant, if set,
 * is named in the result (Receipt.tenant and the JSON's "tenant" key) as
 * unsigned metadata: the signer never sees it. Should naming it fail on a
 * signed receipt, the receipt is returned without it and *ret_error says
 * why. Blocks up to 5 s on the signer; call without ex->lock. */
Ak__V1__Receipt *sign_receipt(struct executor *ex, struct receipt *r, char **ret_error);
