/* The QEMU backend's command line, exposed for tests. */
#pragma once

#include <stdbool.h>

#include "vmm/backend/vmm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The argv (NULL-terminated, each string and the array malloc'd) that
 * starts cfg with the QEMU binary at qemu. */
int vmm_qemu_argv(const struct vmm_config *cfg, const char *qemu, bool kvm, char ***ret);

/* The host TSC rate in kHz (measured once, ~20 ms), 0 if unknown. */
unsigned long vmm_qemu_host_tsc_khz(void);

#ifdef __cplusplus
}
#endif
