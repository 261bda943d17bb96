/* Internals of the apple backend shared by its files. Not an interface. */
#pragma once

#include <stdbool.h>

#include "lib/base/error.h"

#define APPLE_GUEST_AGENT "/usr/local/bin/ak-guest"
/* Where the container's one guest agent listens (inside the container). */
#define APPLE_AGENT_SOCKET "unix:/run/ak-guest.sock"

/* The vsock helper's arguments, set up before the fork: it may only make
 * async-signal-safe calls. */
struct apple_vsock {
        int listen_fd;
        unsigned next_port;            /* "OK <n>": Firecracker's first is 1 << 30 */
        char *exec_argv[8];            /* container exec -i NAME ak-guest --relay ... */
};

/* The helper's body (vmm_proc_fork): accepts on listen_fd forever; each
 * connection is served by a child that reads "CONNECT <port>\n" and, for
 * the guest agent's port, answers "OK <n>\n" and execs exec_argv with the
 * connection as stdin and stdout. */
void apple_vsock_serve(void *arg);

/* Runs `cli args...` (NULL-terminated) to completion within timeout_ms:
 * 0 with the exit status and, if ret_out, stdout+stderr (malloc'd), or
 * -errno when it could not run. stdin is "Y\n" with answer_yes (through
 * sh), else /dev/null. */
int apple_cli_run(const char *cli, const char *const *args, bool answer_yes, int timeout_ms, int *ret_status,
                  char **ret_out, struct ak_error *err);
