/* Where a blob upload goes next: the distribution API's POST
 * /v2/<name>/blobs/uploads/ answers 202 with a Location that may be absolute
 * ("https://host/upload/x?state=..."), or a path on the registry
 * ("/v2/<name>/blobs/uploads/<uuid>?_state=..."), and may already carry a
 * query. The monolithic PUT goes to that URL with digest=<digest> appended.
 * Pure string work on registry bytes: no I/O. */
#pragma once

#include <stddef.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* base: the registry's origin, "http(s)://host[:port]" (no path).
 * location: len bytes of the Location header as the registry sent it (need
 * not be NUL-terminated). digest: "sha256:<64 hex>". Writes the PUT URL
 * (NUL-terminated) into ret. Returns 0, or -EINVAL with err saying what is
 * wrong with the Location (empty, not printable ASCII, a fragment, a relative
 * path that is not absolute, a scheme other than http/https), -E2BIG when the
 * URL would not fit in size bytes. Whether an absolute URL's host may be
 * reached (and with credentials) is the caller's decision. */
int oci_upload_url(const char *base, const char *location, size_t len, const char *digest, char *ret, size_t size,
                   struct ak_error *err);

#ifdef __cplusplus
}
#endif
