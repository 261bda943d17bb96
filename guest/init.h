/* PID 1 duties for the initramfs: the mounts a bare kernel lacks, kernel
 * modules in a given order, an optional switch into a root disk, and power
 * off. Reaping orphans is the agent loop's (it waits for any child).
 *
 * Steps that fail are reported through log and skipped where the system can
 * still work (an already mounted /proc, a module that is built in); only
 * init_setup's root switch failing is an error. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

struct init_options {
        /* One module a line, loaded in order: an absolute path to a .ko, or a
         * name looked up as NAME.ko under /lib/modules/`uname -r`/ ('-' and '_'
         * match each other). '#' starts a comment. NULL: none. Modules must be
         * uncompressed (the initramfs builder decompresses .ko.xz). */
        const char *modules_file;
        /* Block device to mount as the new root (NULL: stay in the initramfs). */
        const char *root_device;
        const char *root_fstype; /* NULL: ext4 */
        /* Free page reporting (virtio_balloon) reports free blocks of at
         * least this order to the host; -1 leaves the kernel's choice. Linux
         * 6.1 sets it to pageblock_order (2 MiB) when the balloon registers,
         * overriding page_reporting.page_reporting_order= on the command line,
         * so init writes it once the modules are loaded (vmm/DENSITY.md). */
        int page_reporting_order;
        void (*log)(const char *msg);
};

/* The largest order init_set_page_reporting_order takes (the buddy
 * allocator's MAX_ORDER on x86-64 is 10). */
#define INIT_PAGE_REPORTING_ORDER_MAX 10
#define INIT_PAGE_REPORTING_ORDER_PATH "/sys/module/page_reporting/parameters/page_reporting_order"

int init_setup(const struct init_options *o);

/* Writes order (0..INIT_PAGE_REPORTING_ORDER_MAX) to path (the sysfs
 * parameter, or a test's file). 0 or -errno; -EINVAL for an order out of
 * range. */
int init_set_page_reporting_order(const char *path, int order);

/* Loads one module file with finit_module(2). 0 also when it is already
 * loaded (EEXIST); else -errno. */
int init_load_module(const char *path);

/* Resolves a modules-file entry to a file path (see modules_file). */
int init_find_module(const char *entry, char *buf, unsigned size);

/* Terminates every other process, syncs and powers the machine off
 * (reboot(RB_POWER_OFF); in a PID namespace that ends the namespace). Only
 * returns if that fails, with -errno: -EPERM when not PID 1 (nothing is
 * killed then), or reboot's error. */
int init_poweroff(void);

#ifdef __cplusplus
}
#endif
