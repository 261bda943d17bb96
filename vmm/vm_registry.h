/* Records of VMs started by `ak vm boot`: one directory per VM under
 * $AK_HOME/vms/<name>/ holding the sockets and logs (see vm.h) and vm.json,
 * written by the `ak-vmm` supervisor once the VMM runs.
 *
 * Processes are named by pid and start time (field 22 of /proc/PID/stat),
 * so a recycled pid is never mistaken for the VM's. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VM_NAME_MAX 63

struct vm_record {
        char name[VM_NAME_MAX + 1];
        pid_t pid;                  /* the ak-vmm supervisor */
        uint64_t pid_start;
        pid_t vmm_pid;              /* QEMU */
        uint64_t vmm_start;
        char dir[PATH_MAX];
        char vsock_uds[PATH_MAX];
        char console_log[PATH_MAX];
        char image[64];
        char image_hash[65];
        unsigned vcpus, memory_mb;
        bool network;
        char accel[8];
        int64_t created_at;         /* Unix seconds */
};

/* 0 if name is a valid VM name ([a-z0-9][a-z0-9._-]*, at most VM_NAME_MAX). */
int vm_name_check(const char *name);

/* $AK_HOME/vms/<name> (AK_HOME defaults to ~/.agentkernel). */
int vm_registry_dir(const char *name, char ret[PATH_MAX], struct ak_error *err);
/* $AK_HOME/vms */
int vm_registry_root(char ret[PATH_MAX], struct ak_error *err);
/* $AK_HOME itself. */
int vm_registry_ak_home(char ret[PATH_MAX], struct ak_error *err);

int vm_record_write(const char *dir, const struct vm_record *r, struct ak_error *err);
/* -ENOENT when there is no record (yet). */
int vm_record_read(const char *dir, struct vm_record *ret, struct ak_error *err);

/* Start time of a process (clock ticks since boot), -ESRCH if none. */
int vm_proc_start_time(pid_t pid, uint64_t *ret);
/* Whether pid still runs and is the process that started at start. */
bool vm_proc_alive(pid_t pid, uint64_t start);

#ifdef __cplusplus
}
#endif
