/* Finding ak's own helper binaries (ak-guest, ak-vmm) at run time: from an
 * environment variable, else in the Bazel output tree the running program
 * sits in (bazel-bin/<pkg>/<name>: look for <rel> in each parent of its
 * directory), else in the test runfiles ($TEST_SRCDIR/<workspace>/<rel>). */
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* rel: "guest/ak-guest". env: "AK_GUEST_BIN" (may be NULL). Returns 0 with
 * an absolute path in buf, -ENOENT when not found, -ENAMETOOLONG. */
int binpath_find(const char *rel, const char *env, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
