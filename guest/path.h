/* Path policy for the file requests (write_file, read_file, remove_file,
 * mkdir), agentkernel's validate_path done by component:
 *   - the path must be absolute;
 *   - no component may be "..";
 *   - /proc, /sys, /dev, /etc/passwd and /etc/shadow are refused, matching
 *     whole components ("/devices" and "/procfs" are fine, "//proc/x" and
 *     "/./dev" are not);
 *   - at most PATH_MAX bytes.
 *
 * This is a guard against mistakes, not a sandbox: `run` can read anything. */
#pragma once

/* 0, or -EINVAL with a message (a static or thread-local string) saying why,
 * worded as agentkernel's ("Path must be absolute", ...). */
int path_validate(const char *path, const char **ret_msg);

/* Like path_validate(), then the same policy on the path with its existing
 * part resolved through symlinks (realpath), so "/tmp/link -> /proc" is
 * refused as well. Racy against a concurrent rename, which the policy accepts. */
int path_validate_resolved(const char *path, const char **ret_msg);

/* mkdir -p: creates path and missing parents (mode 0777 & ~umask). 0 when it
 * already exists as a directory, else -errno. */
int path_mkdir_p(const char *path);
