/* The Apple containers backend (vmm_apple_ops in vmm.h): each VM is a
 * container run by Apple's `container` CLI (macOS 26+, github.com/apple/
 * container), found through $AK_CONTAINER_CLI, else PATH. The command lines
 * are agentkernel's apple_backend.rs:
 *
 *   container system status            "is running" on stdout (asked at every
 *                                      start; agentkernel caches it), else:
 *   sh -c "echo Y | container system start"   (accepts the kernel download;
 *                                      an error mentioning "already" is fine)
 *   container delete -f NAME           (a leftover of the same name)
 *   container run -d --name NAME --cpus N --memory <M>M [--network none] IMAGE sleep infinity
 *   container exec -d NAME /usr/local/bin/ak-guest --listen unix:/run/ak-guest.sock
 *   container inspect NAME             poll_exit: gone once not "running"
 *   container stop -t S NAME           stop (S = grace in seconds, at least 1)
 *   container delete -f NAME           stop and free
 *
 * NAME is "ak-" and 16 hex digits of a hash of the VM's vsock socket path
 * (unique per VM directory). IMAGE is cfg->image, else $AK_APPLE_IMAGE: an
 * OCI image with the guest agent at /usr/local/bin/ak-guest. Network off is
 * `--network none` (container 1.0+: loopback only); network on attaches the
 * default network, configured by the runtime (no vm_guest_network_setup).
 * Root disk images are refused: containers boot OCI images.
 *
 * The guest agent is reached as with Firecracker (native_vsock): a helper
 * process of ours listens on cfg->vsock_uds; each connection writes
 * "CONNECT 52000\n", gets "OK <n>\n" and becomes the stdin/stdout of
 * `container exec -i NAME /usr/local/bin/ak-guest --relay
 * unix:/run/ak-guest.sock`, which carries it to the container's one agent
 * (started with `exec -d` above), so that sessions outlive a connection as
 * in a VM (`--stdio`, an agent per connection, would lose a shell between
 * OpenShell and ShellInput). Other ports are closed. pid() is that helper
 * (killed with its process group on stop). */
#pragma once

#include <stddef.h>

#include "vmm/backend/vmm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* `container inspect` output is cut off above this. */
#define APPLE_INSPECT_MAX (256 * 1024)

/* The state of the first container in `container inspect` JSON: 0 and
 * its status into buf (NUL-terminated, cut to size): "running", "stopped",
 * ... (container 0.x: [{"status": "running", ...}]; 1.x: [{"status":
 * {"state": "running", ...}, ...}]). -ENOENT for [] (0.x's answer for an
 * unknown container), -EINVAL for anything else. Outside bytes: fuzzed. */
int apple_inspect_state(const char *json, size_t len, char *buf, size_t size);

/* The container name for a VM whose vsock socket is at vsock_uds. */
void apple_container_name(const char *vsock_uds, char buf[20]);

#ifdef __cplusplus
}
#endif
