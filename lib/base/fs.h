/* Small filesystem helpers shared by the services, the CLI and the guest
 * agent. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

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

#ifdef __cplusplus
}
#endif
