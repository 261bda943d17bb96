/* Disk snapshots (executor_snapshot.c): TakeSnapshot, ListSnapshots,
 * DeleteSnapshot. A snapshot is an image of this node's store (so GetStatus
 * reports it and CreateSandbox boots it) with the source sandbox, its image
 * and tenant in its manifest.
 *
 * Take, for a running sandbox on a root disk image under QEMU:
 *   1. the guest's root file system is synced and frozen (busybox fsfreeze
 *      through the guest agent, with a guest-side watchdog that thaws after
 *      30 s should the executor never come back); where that fails (an image
 *      without /usr/local/bin/busybox, a kernel that refuses), synced and the
 *      VM paused with QMP stop instead;
 *   2. QMP blockdev-backup (sync=full) of the root drive, into a file made
 *      beforehand (qemu_disk.h), starts: from then on
 *      QEMU copies before it lets the guest overwrite a block, so the copy
 *      is of this moment;
 *   3. thawed / continued at once (the pause is the time to start the job);
 *   4. the copy completes while the guest runs, into QEMU's TMPDIR, and is
 *      moved into the store (image_snapshot_add).
 * Takes on one node run one at a time. Restoring is CreateSandbox with the
 * snapshot as its image, by the tenant that took it only
 * (snapshot_check_restore). Private to services/executor. */
#pragma once

#include "lib/base/error.h"
#include "lib/rpc/rpc.h"

struct executor;

/* For CreateSandbox of image by tenant ("" means "default"): 0 when image
 * is not a snapshot or is tenant's, -ENOENT (with words) when it is another
 * tenant's snapshot, which that tenant does not see. */
int snapshot_check_restore(struct executor *ex, const char *image, const char *tenant, struct ak_error *err);

int snapshot_handle_take(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int snapshot_handle_list(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
int snapshot_handle_delete(struct rpc_call *call, const ProtobufCMessage *msg, void *data);
