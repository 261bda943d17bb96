#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vmm/image/oci/ref.h"
#include "vmm/image/oci/upload.h"

static bool has_prefix_ci(const char *s, size_t len, const char *p)
{
        size_t n = strlen(p);
        return len >= n && strncasecmp(s, p, n) == 0;
}

int oci_upload_url(const char *base, const char *location, size_t len, const char *digest, char *ret, size_t size,
                   struct ak_error *err)
{
        if (oci_ref_digest_check(digest, strlen(digest)) < 0)
                return ak_error_set(err, -EINVAL, "upload of \"%.80s\": not a sha256 digest", digest);
        if (len == 0)
                return ak_error_set(err, -EINVAL, "the registry's upload answer has an empty Location");
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)location[i] <= 0x20 || (unsigned char)location[i] >= 0x7f)
                        return ak_error_set(err, -EINVAL, "upload Location has a byte 0x%02x at %zu (not printable "
                                            "ASCII)", (unsigned char)location[i], i);
        if (memchr(location, '#', len))
                return ak_error_set(err, -EINVAL, "upload Location \"%.*s\" has a fragment", (int)(len > 200 ? 200 : len),
                                    location);
        const char *prefix = "";
        if (has_prefix_ci(location, len, "http://") || has_prefix_ci(location, len, "https://")) {
                const char *host = memchr(location, ':', len) + 3;
                if (host >= location + len || *host == '/' || *host == '?')
                        return ak_error_set(err, -EINVAL, "upload Location \"%.*s\" has no host",
                                            (int)(len > 200 ? 200 : len), location);
        } else if (location[0] == '/' && (len == 1 || location[1] != '/')) {
                prefix = base; /* a path on the registry itself */
        } else {
                return ak_error_set(err, -EINVAL, "upload Location \"%.*s\" is neither an http(s) URL nor an absolute "
                                    "path", (int)(len > 200 ? 200 : len), location);
        }
        bool has_query = memchr(location, '?', len) != NULL;
        bool ends_open = len > 0 && (location[len - 1] == '?' || location[len - 1] == '&');
        const char *sep = !has_query ? "?" : ends_open ? "" : "&";
        int n = snprintf(ret, size, "%s%.*s%sdigest=sha256%%3A%s", prefix, (int)len, location, sep, digest + 7);
        if (n < 0 || (size_t)n >= size)
                return ak_error_set(err, -E2BIG, "upload Location of %zu bytes: the URL would pass %zu bytes", len,
                                    size - 1);
        return 0;
}
