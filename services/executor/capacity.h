/* What a sandbox costs this node, and whether the node has room for one
 * more: pure logic over /proc/meminfo and /proc/pressure/memory, apart from
 * the executor's locks and RPCs (as the scheduler's placement.h).
 *
 * Capacity is offered in guest MB (what CreateSandbox asks for and the
 * scheduler compares), but a guest does not cost its size: an idle `base`
 * sandbox holds ~75 MiB of its 256 MiB guest RAM plus ~70 MiB of QEMU under
 * TCG (~40 without the translation cache on KVM), as bench/density
 * measures. So the node offers the guest MB that fit its usable memory at
 * that measured cost, and a memory-pressure check stops new placements (and
 * pool refills) before the node swaps or OOMs when guests grow. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Measured with bench/density (1 vCPU, base image, idle): QEMU's own
 * memory and ak-vmm/bridge beside the guest, with and without TCG's
 * translation cache (VM_TCG_TB_MB), and the guest RAM an idle guest keeps
 * after free page reporting. */
#define CAPACITY_VMM_OVERHEAD_TCG_MB 70
#define CAPACITY_VMM_OVERHEAD_KVM_MB 40
#define CAPACITY_IDLE_GUEST_MB 76
/* The same on ak's small kernel (vmm/kernel, image_kernel.ak_built),
 * base image, its 16 MiB translation cache: 26 MiB of guest RAM held, and
 * 16 + 12 + 3 + 2 MiB of TCG cache, QEMU anonymous memory, QEMU's files
 * (shared by hundreds) and ak-vmm (bench/density; --fit 330 booted 330 at
 * 60.4 MiB each on 24 GiB), each rounded up. On KVM, unmeasured, the
 * Debian kernel's overhead is kept. Guests with a root disk keep a 32 MiB
 * cache and hold more: the pressure check guards what idle does not. */
#define CAPACITY_VMM_OVERHEAD_TCG_AK_KERNEL_MB 36
#define CAPACITY_IDLE_GUEST_AK_KERNEL_MB 28
/* Kept free: placements stop below this share of MemTotal available. */
#define CAPACITY_RESERVE_PERCENT 10
/* Placements stop while every running task stalled on memory this share of
 * the last 10 s (PSI "full avg10"). "some" is not used: one task waiting on
 * a page-cache refault counts there, and a busy build host with 15 GiB
 * available showed "some avg10" of 9-23% while "full" stayed under 1%. */
#define CAPACITY_PSI_FULL_AVG10_MAX 10.0
/* /proc/meminfo and /proc/pressure/memory are read up to this size. */
#define CAPACITY_PROC_MAX 16384

struct capacity_probe {
        uint64_t mem_total_kib;
        uint64_t mem_available_kib;
        bool has_psi;          /* the kernel has PSI (CONFIG_PSI, not psi=0) */
        double psi_full_avg10; /* percent */
};

/* MemTotal and MemAvailable from /proc/meminfo's text (len bytes, need not
 * be NUL-terminated). -EINVAL when either is missing or malformed. */
int capacity_parse_meminfo(const char *text, size_t len, struct capacity_probe *p);

/* "full avg10=X" from the line that starts with it in /proc/pressure/memory's
 * text. -EINVAL when absent or malformed. */
int capacity_parse_psi(const char *text, size_t len, double *ret_full_avg10);

/* Reads <proc>/meminfo and <proc>/pressure/memory (proc NULL: "/proc"); a
 * missing pressure file leaves has_psi false. */
int capacity_probe_read(const char *proc, struct capacity_probe *ret, struct ak_error *err);

/* The host MB one idle sandbox of memory_mb guest MB costs, under TCG or
 * not, on ak's small kernel (ak_kernel) or Debian's. */
uint64_t capacity_sandbox_host_mb(unsigned memory_mb, bool tcg, bool ak_kernel);

/* The guest MB a node of mem_total_kib offers: (100 - reserve)% of it, at
 * the host cost of default_memory_mb sandboxes. */
uint64_t capacity_offer_guest_mb(uint64_t mem_total_kib, unsigned default_memory_mb, bool tcg, bool ak_kernel);

/* 0 when the node may take another sandbox; -EBUSY with err saying which
 * signal (MemAvailable under the reserve, or PSI) and its figures. */
int capacity_pressure_check(const struct capacity_probe *p, struct ak_error *err);

#ifdef __cplusplus
}
#endif
