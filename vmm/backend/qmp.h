/* A minimal QMP (QEMU Machine Protocol) client: connect, leave capability
 * negotiation mode, run a command and read its reply. Lines from QEMU are
 * bounded (QMP_LINE_MAX) and every wait has a timeout; asynchronous events
 * are skipped. Thread-safe: no shared state. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

#define QMP_LINE_MAX (64 * 1024)

/* Connects to the QMP socket at path (waiting up to timeout_ms for it to
 * appear), reads the greeting and sends qmp_capabilities. Returns 0 with a
 * close-on-exec fd, -ETIMEDOUT, -EPROTO, or -errno. */
int qmp_connect(const char *path, int timeout_ms, int *ret_fd);

/* Sends one command object (e.g. {"execute":"query-status"}) and returns
 * the reply line (malloc'd): {"return":...} or {"error":...}. -ECONNRESET
 * when QEMU closed the socket (as it does after "quit"). */
int qmp_command(int fd, const char *json, int timeout_ms, char **ret_reply);

#ifdef __cplusplus
}
#endif
