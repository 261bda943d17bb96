/* Who may own and read a secret file (bearer tokens, keys) that a service
 * is told to load.
 *
 * Always refused: anything but a regular file; a file owned by someone
 * other than root or the effective uid (they could change it); a file that
 * group or others may write; a file that others may access at all.
 *
 * Group read (mode 0440 or 0640, nothing else for the group) is accepted
 * only when both hold:
 *   - the file's group is the process's effective or a supplementary group;
 *   - the path as given lies under a directory named in the environment
 *     variable AK_SECRET_GROUP_DIRS (absolute directories separated by ':';
 *     at most AK_SECRET_GROUP_DIRS_MAX of them).
 * That is a Kubernetes Secret volume mounted with `defaultMode: 0440` in a
 * pod with `fsGroup`: the kubelet makes the files root:<fsGroup> 0440, and
 * the group is the pod's own. On a shared machine a group-readable secret is
 * still refused unless the operator names its directory. */
#pragma once

#include <sys/stat.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AK_SECRET_GROUP_DIRS_ENV "AK_SECRET_GROUP_DIRS"
#define AK_SECRET_GROUP_DIRS_MAX 16

/* Checks st (from fstat on the opened file, so the answer is about what is
 * read) of the secret at `path`; `what` names it in errors ("token file").
 * 0, or -EPERM (-EINVAL for a non-regular file) with err naming the path,
 * what is wrong and the chmod/chown to run. Reads the environment: not to
 * be called while another thread changes it. */
int ak_secret_file_check(const char *what, const char *path, const struct stat *st, struct ak_error *err);

#ifdef __cplusplus
}
#endif
