/* One OpenShell session driven from this terminal: `ak shell`/`attach`,
 * and `ak run -t`/`ak exec -t`. The command runs on a PTY in the guest;
 * its output goes to our stdout as it comes, the window size is sent at
 * the start and on every SIGWINCH, and the exit code comes back.
 *
 * With input, our stdin goes to the PTY: on a terminal, which is raw while
 * the session runs and restored on every way out (return, exit, SIGTERM,
 * SIGHUP, SIGQUIT, SIGINT: the handler restores it before the signal's
 * default action); from a pipe or file, the bytes are typed in and
 * end-of-file types ^D. Without input the terminal is left as it is and
 * stdin is not read (docker's `-t` without `-i`).
 *
 * Not thread-safe: one session per process (it owns SIGWINCH and the
 * terminal while it runs). */
#pragma once

#include <stdbool.h>

#include "protos/ak/v1/scheduler.pb-c.h"

/* Runs req (sandbox, argv, env, workdir, sandbox_user, receipt set by the
 * caller; rows and cols are filled here) and returns ak's exit code: the
 * command's (0..255), or 125 with "ak VERB: why" on stderr when the
 * session could not start or ended without an exit code. With ret_exited,
 * the EXITED event (its receipt) is handed over when one came (else
 * NULL); the caller frees it with protobuf_c_message_free_unpacked. */
int pty_session_run(const char *verb, Ak__V1__OpenShellRequest *req, bool input, Ak__V1__ShellEvent **ret_exited);
