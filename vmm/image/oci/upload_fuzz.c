/* libFuzzer target for oci_upload_url: accepted Locations give one URL that
 * starts with the base (a path) or http(s):// (absolute), carries exactly one
 * digest parameter at its end, is printable ASCII and fits; refused ones
 * say why with a negative errno. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmm/image/oci/upload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char base[] = "http://127.0.0.1:5000";
        static const char digest[] = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        static const char tail[] = "digest=sha256%3A0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        char url[512];
        struct ak_error err;
        int r = oci_upload_url(base, (const char *)data, size, digest, url, sizeof(url), &err);
        if (r < 0) {
                if (err.code >= 0 || !err.msg[0])
                        abort();
                return 0;
        }
        size_t n = strlen(url), t = strlen(tail);
        if (n >= sizeof(url) || n < t || strcmp(url + n - t, tail) != 0)
                abort();
        if (url[n - t - 1] != '?' && url[n - t - 1] != '&')
                abort();
        if (strncmp(url, base, strlen(base)) != 0 && strncasecmp(url, "http://", 7) != 0 &&
            strncasecmp(url, "https://", 8) != 0)
                abort();
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f || url[i] == '#')
                        abort();
        return 0;
}
