/* Point-in-time copies of a running QEMU VM's root disk (the `-drive id=root`
 * vmm_qemu.c gives it, with or without snapshot=on: the copy is what the
 * guest sees, overlay included) over QMP, for disk snapshots:
 *   qemu_disk_target     where QEMU is to write (its TMPDIR when confined)
 *   qemu_disk_backup_prepare  the target file made (sized to the disk, owned
 *                        by QEMU's user) and opened in QEMU as a block node
 *   qemu_vm_pause        QMP stop / cont
 *   qemu_disk_backup_start   blockdev-backup sync=full: the copy's contents
 *                        are fixed when this returns (copy-before-write), so
 *                        the guest may run (or thaw) at once
 *   qemu_disk_backup_wait    until the job concluded; its error if any
 *   qemu_disk_backup_release the block node closed (after prepare, always)
 * Not drive-backup: it opens its target with the source node's flags, and
 * under snapshot=on the source is QEMU's temporary overlay, whose flags make
 * QEMU unlink a file as soon as it is open: the copy went into a deleted
 * file. A node we add ourselves has flags of its own.
 * The fd is a qmp_connect()ed socket; one caller at a time per VM (the job
 * id and node name are fixed). Errors say what failed with QEMU's own words. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QEMU_DISK_JOB_ID "ak-snapshot"
#define QEMU_DISK_NODE "ak-snapshot-target"

/* For a VM in dir whose QEMU is pid: the path QEMU is to write file_name
 * at (ret_vmm) and the same file as we see it (ret_host). QEMU in its own
 * mount namespace (confined, vmm_jail.h) writes into its TMPDIR
 * (VMM_JAIL_TMP, which is <dir>/tmp here); otherwise both are
 * <dir>/tmp/<file_name> (made if missing). */
int qemu_disk_target(pid_t pid, const char *dir, const char *file_name, char ret_vmm[PATH_MAX],
                     char ret_host[PATH_MAX], struct ak_error *err);

/* QMP "stop" (pause true) or "cont". */
int qemu_vm_pause(int qmp_fd, bool pause, struct ak_error *err);

/* Makes host_path (a new file, owned like its directory, as large as drive
 * "root" is) and opens it in QEMU as raw node QEMU_DISK_NODE by vmm_path
 * (the same file as QEMU sees it, qemu_disk_target). On failure nothing is
 * left behind. The disk's size in *ret_size. */
int qemu_disk_backup_prepare(int qmp_fd, const char *vmm_path, const char *host_path, uint64_t *ret_size,
                             struct ak_error *err);

/* Starts blockdev-backup of drive "root" to QEMU_DISK_NODE. */
int qemu_disk_backup_start(int qmp_fd, struct ak_error *err);

/* Closes QEMU_DISK_NODE (after prepare succeeded, whatever happened since;
 * errors ignored: a node left open holds only an unlinked file). */
void qemu_disk_backup_release(int qmp_fd);

/* Polls the job until it concluded (up to timeout_ms), then dismisses it:
 * 0, -EIO with QEMU's error, -ETIMEDOUT (the job is cancelled). */
int qemu_disk_backup_wait(int qmp_fd, int timeout_ms, struct ak_error *err);

#ifdef __cplusplus
}
#endif
