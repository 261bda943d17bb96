/* Re-adopting VMs after an executor restart (executor_adopt.c). With
 * cfg.vm_supervisors, VMs run under ak-vmm supervisors
 * (vmbox_boot_supervised) and outlive the executor, networked ones with
 * their namespace (its resolver, proxy and denial log are started again
 * here with the recorded egress policy); every sandbox and
 * warm-pool VM leaves a record (sandbox_record.h) in its VM directory, and
 * the next executor on the same state directory takes them back:
 * sandboxes as they were (RUNNING when the supervisor, QEMU and guest
 * agent all answer, else ERROR with the reason, to be removed), pool VMs
 * into their pool. Private to services/executor. */
#pragma once

#include "lib/base/error.h"

struct executor;
struct sandbox;

/* Writes sb's record into its VM directory (atomically: rename; not
 * fsynced, it lives no longer than the VM's processes). Call without
 * ex->lock, after the sandbox got its VM or changed its expiry.
 * Failures are returned, the sandbox works on (it is not re-adoptable). */
int adopt_record_sandbox(struct executor *ex, struct sandbox *sb, struct ak_error *err);
/* A persistent sandbox that is STOPPED (no VM): its record in
 * state_dir/stopped/<name>.json (fsynced, then renamed), so the next executor lists it STOPPED and
 * can start it. Call without ex->lock after the stop; other sandboxes: 0. */
int adopt_record_stopped(struct executor *ex, struct sandbox *sb, struct ak_error *err);
/* Its stopped record goes (started or removed). */
void adopt_forget_stopped(struct executor *ex, const char *name);
/* A warm-pool VM's record in dir; net_ifname: its network's host end
 * (vmbox_net_ifname), "" or NULL: none. */
int adopt_record_pool(const char *dir, const char *image, const char *profile, const char *net_ifname,
                      struct ak_error *err);
/* executor_new, before any other thread starts: every VM directory under
 * state_dir/v is adopted or cleaned up, on cfg.adopt_workers threads (each
 * VM's adoption mostly waits for its guest's ping); ex->next_vm continues
 * after the highest number found. Fails only when the directory cannot be
 * read (or listed in memory). */
int adopt_all(struct executor *ex, struct ak_error *err);
/* executor_free with cfg.vm_supervisors: every sandbox leaves the table
 * without a removal (no audit event); supervised VMs keep running, the
 * others stop, and their records stay for the next executor. */
void adopt_release_all(struct executor *ex);
