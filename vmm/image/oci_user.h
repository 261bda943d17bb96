/* An image config's User ("name", "uid", "name:group", "uid:gid", ...)
 * resolved to numbers against the image's own /etc/passwd and /etc/group,
 * as docker does when it starts a container: a name is looked up, a
 * numeric user without a group gets its passwd entry's group (else 0).
 * Resolved once, at import, from the unpacked tree (the guest protocol takes
 * numbers). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OCI_ID_MAX 65534 /* the guest protocol's limit */

/* A uid or gid, "0".."65534", as the whole of s[0..n): 0 with *ret, or
 * -EINVAL. Pure; thread-safe. */
int oci_parse_id(const char *s, size_t n, int64_t *ret);

/* Looks up key in passwd-format text (len bytes, "name:pw:uid:gid:..."
 * lines): by name, or by uid when by_uid (key is then the number). 0 with
 * *ret_uid, *ret_gid; -ENOENT when no line matches; malformed lines are
 * skipped. Pure; thread-safe. */
int oci_passwd_lookup(const char *text, size_t len, const char *key, int by_uid, int64_t *ret_uid,
                      int64_t *ret_gid);
/* A group's gid by name in group-format text ("name:pw:gid:members"). */
int oci_group_lookup(const char *text, size_t len, const char *name, int64_t *ret_gid);

/* Resolves user against the tree at rootfd (etc/passwd and etc/group read
 * without following symlinks). 0 and "UID:GID" in ret; -ENOENT with err
 * naming what is missing; -EINVAL for a User that is no user. */
int oci_user_resolve(int rootfd, const char *user, char ret[32], struct ak_error *err);

#ifdef __cplusplus
}
#endif
