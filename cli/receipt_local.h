/* Receipts signed on this machine, without a signer service (one-machine
 * mode), with the key agentkernel keeps:
 *   $AK_HOME/receipts/ed25519_signing_key.pkcs8
 * ($AK_HOME as ak_home() in lib/base/home.h resolves it: $HOME/.agentkernel
 * by default, as agentkernel's receipts_dir()). The key is created on first use: 0600,
 * written atomically, in directories made 0700, in ring's PKCS#8 v2 layout
 * so agentkernel can use it too.
 *
 * Errors: 0 or -errno; *error (if non-NULL) gets a malloc'd message the
 * caller frees. Nothing here prints. */
#pragma once

#include "lib/receipt/receipt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The key file's path. *ret malloc'd. */
int local_receipt_key_path(char **ret);

/* Loads (or creates) the local key. *ret: crypto_ed25519_key_free. */
int local_receipt_key(struct crypto_ed25519_key **ret, char **ret_path, char **error);

/* ExecutionReceipt::new for r's invocation and outcome: a fresh id and time,
 * the payload hash, and the local key's signature. */
int local_receipt_sign(struct receipt *r, char **error);

#ifdef __cplusplus
}
#endif
