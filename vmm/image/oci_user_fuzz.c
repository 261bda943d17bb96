/* libFuzzer target for the image's /etc/passwd and /etc/group as User
 * resolution reads them: the first byte picks the lookup (passwd by name,
 * by uid, group by name), the bytes up to the first '\n' are the key, the
 * rest the file. What a lookup finds is within the guest protocol's ids. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/image/oci_user.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 2)
                return 0;
        const char *rest = (const char *)data + 1;
        const char *nl = memchr(rest, '\n', size - 1);
        if (!nl || (size_t)(nl - rest) > 64)
                return 0;
        char key[65];
        memcpy(key, rest, (size_t)(nl - rest));
        key[nl - rest] = 0;
        const char *text = nl + 1;
        size_t len = size - 1 - (size_t)(nl - rest) - 1;
        int64_t a = -1, b = -1;
        int r;
        switch (data[0] % 3) {
        case 0:
        case 1:
                r = oci_passwd_lookup(text, len, key, data[0] % 3, &a, &b);
                if (r == 0 && (a < 0 || a > OCI_ID_MAX || b < 0 || b > OCI_ID_MAX))
                        abort();
                break;
        default:
                r = oci_group_lookup(text, len, key, &a);
                if (r == 0 && (a < 0 || a > OCI_ID_MAX))
                        abort();
                break;
        }
        if (r != 0 && r != -2 /* -ENOENT */)
                abort();
        return 0;
}
