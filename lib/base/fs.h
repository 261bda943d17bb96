/* Small filesystem helpers shared by the services, the CLI and the guest
 * agent. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* mkdir -p: creates each missing directory along path with mode (ones that
 * exist are left as they are); with parents_only, not path itself. 0 or
 * -errno (-ENAMETOOLONG past PATH_MAX). */
int ak_mkdir_p(const char *path, mode_t mode, bool parents_only);

/* rm -rf: removes path and, if it is a directory, everything under it.
 * Symbolic links are removed, never followed; other file systems mounted
 * below path are not entered (removing their mount point then fails with
 * -EBUSY). Keeps going past entries it cannot remove and returns the first
 * error (-errno), or 0 when everything went, including when path did not
 * exist. Not safe against another thread or process changing the tree
 * meanwhile; thread-safe otherwise. */
int ak_rm_rf(const char *path);

/* Makes path a private directory, or checks that the existing one is:
 * created with mode 0700 whatever the umask (missing parents too; parents
 * that exist are not checked: they may be /home); an existing path must be
 * a directory, not a symbolic link (never followed), owned by the
 * effective uid and not writable by group or others, and is then set to
 * 0700. This is how every directory of ak's own state (AK_HOME, its run/,
 * receipts/, VM directories) is made: another local user must not be able
 * to plant keys or sockets in it. 0, or -errno with err naming the path,
 * what is wrong and what to do (-EPERM: another owner; -EACCES: group or
 * others may write; -ENOTDIR: not a directory, or a link). */
int ak_private_dir(const char *path, struct ak_error *err);

/* Makes the file or socket at path private: mode 0600 (a symbolic link is
 * refused, never followed), for sockets created by bind(2), whose mode
 * follows the umask. 0, or -errno with err set. */
int ak_private_file(const char *path, struct ak_error *err);

/* Writes text to an existing file with a single write(2) (a kernel
 * interface such as cgroupfs, /proc or /sys, where one write is one
 * command: "0" into cgroup.procs, "+cpu" into cgroup.subtree_control).
 * The file is never created or truncated. 0 or -errno (the kernel's answer
 * to the write, e.g. -EBUSY, -EINVAL; -EIO for a short write). */
int ak_write_kernel_file(const char *path, const char *text);

#ifdef __cplusplus
}
#endif
