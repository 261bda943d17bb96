/* A set of relative paths (what one layer wrote, for its opaque
 * directories). Not thread-safe. */
#pragma once

#include <stdbool.h>

struct oci_pathset;

int oci_pathset_new(struct oci_pathset **ret);
void oci_pathset_free(struct oci_pathset *s);
/* Adds "a/b/c" and "a/b", "a": 0 or -ENOMEM. */
int oci_pathset_add_with_parents(struct oci_pathset *s, const char *path);
bool oci_pathset_has(const struct oci_pathset *s, const char *path);
