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

#ifdef __cplusplus
}
#endif
