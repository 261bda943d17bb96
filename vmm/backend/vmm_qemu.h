/* The QEMU backend's command line, exposed for tests. */
#pragma once

#include <stdbool.h>

#include "vmm/backend/vmm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sockets and files QEMU gets as open fds (its numbers in the child) rather
 * than paths, so that it needs no access to the VM directory; -1: by path. */
struct vmm_qemu_fds {
        int qmp;     /* a listening Unix socket */
        int vhost;   /* connected to our vhost-user back-end */
        int console; /* the console log, open for writing */
};

/* The argv (NULL-terminated, each string and the array malloc'd) that
 * starts cfg with the QEMU binary at qemu; fds NULL: everything by path. */
int vmm_qemu_argv(const struct vmm_config *cfg, const char *qemu, bool kvm, const struct vmm_qemu_fds *fds,
                  char ***ret);

/* The host TSC rate in kHz (measured once, ~20 ms), 0 if unknown. */
unsigned long vmm_qemu_host_tsc_khz(void);

/* The bytes QEMU process pid's guest RAM (its memory-backend-memfd) holds
 * on the host: pages the guest has touched and not given back (the
 * balloon's free page reporting punches them out). Reads /proc/PID/fd:
 * needs the QEMU's uid or CAP_SYS_PTRACE. -ENOENT: no such memfd. */
int vmm_qemu_guest_ram_bytes(pid_t pid, uint64_t *ret);

#ifdef __cplusplus
}
#endif
