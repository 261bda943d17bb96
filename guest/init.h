/* PID 1 duties for the initramfs: the mounts a bare kernel lacks, kernel
 * modules in a given order, an optional switch into a root disk, and power
 * off. Reaping orphans is the agent loop's (it waits for any child).
 *
 * Steps that fail are reported through log and skipped where the system can
 * still work (an already mounted /proc, a module that is built in); only
 * init_setup's root switch failing is an error. */
#pragma once

struct init_options {
        /* One module a line, loaded in order: an absolute path to a .ko, or a
         * name looked up as NAME.ko under /lib/modules/`uname -r`/ ('-' and '_'
         * match each other). '#' starts a comment. NULL: none. Modules must be
         * uncompressed (the initramfs builder decompresses .ko.xz). */
        const char *modules_file;
        /* Block device to mount as the new root (NULL: stay in the initramfs). */
        const char *root_device;
        const char *root_fstype; /* NULL: ext4 */
        void (*log)(const char *msg);
};

int init_setup(const struct init_options *o);

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
