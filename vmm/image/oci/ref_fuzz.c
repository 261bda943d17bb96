/* libFuzzer target for oci_ref_parse: whatever it accepts must format to a
 * reference that parses again to the same fields (normalization is a fixed
 * point), with a sha256 digest or a valid tag, and fit the buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/image/oci/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct oci_ref a, b;
        struct ak_error err;
        char text[OCI_REF_FORMAT_MAX];
        if (oci_ref_parse((const char *)data, size, &a, &err) < 0) {
                if (err.code >= 0 || !err.msg[0])
                        abort();
                return 0;
        }
        if (!a.domain[0] || !a.path[0] || (!a.tag[0] && !a.digest[0]))
                abort();
        if (a.digest[0] && oci_ref_digest_check(a.digest, strlen(a.digest)) < 0)
                abort();
        oci_ref_format(&a, text);
        if (strlen(text) + 1 >= OCI_REF_FORMAT_MAX)
                abort();
        if (oci_ref_parse(text, strlen(text), &b, &err) < 0)
                abort();
        if (strcmp(a.domain, b.domain) || strcmp(a.path, b.path) || strcmp(a.tag, b.tag) || strcmp(a.digest, b.digest))
                abort();
        (void)oci_host_is_loopback(a.domain);
        return 0;
}
