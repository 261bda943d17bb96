/* Reaching a guest agent from the host through a hybrid-vsock Unix socket
 * (Firecracker's convention, which our bridge also serves): connect, write
 * "CONNECT <port>\n", read "OK <hostport>\n", then agentkernel's guest
 * protocol (lib/guest/frame.h, lib/guest/protocol.h).
 *
 * Everything the guest sends is bounded: the OK line (32 bytes), frames
 * (FRAME_MAX), and every call's time (timeout_ms, an absolute deadline per
 * call, not per frame or per byte). Thread-safe: no shared state. */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* guest/ headers have no C++ guards of their own. */
#include "lib/guest/protocol.h"

#define GUEST_AGENT_PORT 52000u

/* Connects to uds_path and asks for guest port. Returns 0 with a blocking,
 * close-on-exec stream fd in *ret_fd, or -ECONNREFUSED (nothing listens on
 * the port, or the device is not up: the socket was closed), -ENOENT (no
 * socket at uds_path), -ETIMEDOUT, -EPROTO (an answer that is not "OK n"),
 * or another -errno. */
int guest_client_connect(const char *uds_path, uint32_t port, int timeout_ms, int *ret_fd);

/* Sends one request and reads frames until the response with the same id
 * that is not a streamed chunk (those are skipped). timeout_ms bounds the
 * whole call, sending included: an absolute deadline, however the guest
 * spaces its bytes. Returns 0 with *ret (proto_reply_free; its error
 * string, guest text, has had its control characters removed with
 * utf8_sanitize), -ETIMEDOUT when the deadline passes, -ECONNRESET when the
 * connection ends, -EPROTO for an unparsable or oversized frame. */
int guest_client_call(int fd, const struct proto_request_args *req, int timeout_ms, struct proto_reply **ret);

/* As guest_client_call for a request with "stream": true: each streamed
 * chunk ({"output_base64","stream"} without exit_code/error) is handed to
 * on_chunk (the reply is freed after the call), then the final response
 * is returned. timeout_ms bounds the whole call, as above. on_chunk returns
 * 0 to go on, or a negative errno that ends the call at once with that
 * value (the caller then closes fd: the rest of the stream is unread). */
int guest_client_call_stream(int fd, const struct proto_request_args *req, int timeout_ms,
                             int (*on_chunk)(void *userdata, const struct proto_reply *chunk), void *userdata,
                             struct proto_reply **ret);

/* Connects and pings once within timeout_ms. 0 when the agent answered
 * exit_code 0. */
int guest_client_ping(const char *uds_path, int timeout_ms);

#ifdef __cplusplus
}
#endif
