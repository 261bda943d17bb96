/* $AK_HOME: the directory ak keeps its state in on one machine (the stack's
 * sockets and logs, local receipts and their signing key, the audit log,
 * microVMs started by `ak vm`).
 *
 * The one rule, everywhere:
 *   1. $AK_HOME, if set and non-empty (used as given);
 *   2. else $HOME/.agentkernel, if HOME is set and non-empty;
 *   3. else the home directory of the caller's passwd entry + "/.agentkernel";
 *   4. else an error (-ENOENT). Never a shared /tmp path, never a relative one.
 * Nothing is created. */
#pragma once

#include <limits.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the AK_HOME directory into ret. 0, -ENOENT (no AK_HOME, no HOME and
 * no passwd home), or -ENAMETOOLONG (PATH_MAX or more). Reads the environment
 * and getpwuid_r, so it is as thread-safe as getenv. */
int ak_home(char ret[PATH_MAX]);

#ifdef __cplusplus
}
#endif
