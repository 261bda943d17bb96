/* A VM with a thread of its own. vm.h/vmm.h require the thread that starts
 * a VM to outlive it (the VMM dies with that thread: PR_SET_PDEATHSIG), and
 * RPC handler threads come and go; so each VM gets an owner thread that
 * starts it, waits for its guest agent, watches the VMM process, and stops
 * and frees it when asked. Everything else talks to the guest through the
 * hybrid vsock socket (vmbox_uds), never to the struct vm.
 *
 * Thread-safety: every function may be called from any thread; vmbox_free
 * once, when no other thread uses the box. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/base/error.h"
#include "vmm/vm.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vmbox;

/* Starts the owner thread, which starts the VM from cfg (strings are copied)
 * and waits up to ready_timeout_ms for the guest agent. Returns once the
 * guest answers (0), or with the boot error (console tail included). */
int vmbox_boot(const struct vm_config *cfg, int ready_timeout_ms, struct vmbox **ret, struct ak_error *err);

const char *vmbox_uds(const struct vmbox *b);
pid_t vmbox_pid(const struct vmbox *b);
/* vm_bridge_tid: the VM's vsock bridge thread, 0 when it has none. */
pid_t vmbox_bridge_tid(const struct vmbox *b);
const char *vmbox_accel(const struct vmbox *b);
const char *vmbox_dir(const struct vmbox *b);
/* Monotonic milliseconds when the guest first answered. */
int64_t vmbox_ready_at_ms(const struct vmbox *b);
/* False once the VMM process has exited (seen within ~100 ms). */
bool vmbox_running(struct vmbox *b);

/* Asks the owner thread to stop the VM (QMP quit, then SIGKILL after
 * grace_ms), waits for it, frees. NULL is a no-op. */
void vmbox_free(struct vmbox *b, int grace_ms);

#ifdef __cplusplus
}
#endif
