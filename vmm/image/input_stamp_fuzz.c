/* libFuzzer target for the input stamp (input_stamp.h): whatever the parser
 * accepts holds its invariants (words, hex digests, absolute paths without
 * NUL or newline, counts within limits) and writes back to the same bytes;
 * whatever it refuses says why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/image/input_stamp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_hex(const char *s)
{
        if (strlen(s) != 64 || strspn(s, "0123456789abcdef") != 64)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct input_stamp st;
        static char out[INPUT_STAMP_MAX_BYTES + 1];
        struct ak_error err = { 0 };

        if (input_stamp_parse((const char *)data, size, &st, &err) != 0) {
                if (!err.msg[0])
                        abort();
                return 0;
        }
        if (!st.format[0] || !st.kernel[0] || st.n_files == 0 || st.n_files > INPUT_STAMP_MAX_FILES)
                abort();
        check_hex(st.env);
        check_hex(st.hash);
        for (size_t i = 0; i < st.n_files; i++) {
                const struct input_stamp_file *f = &st.files[i];
                size_t n = strlen(f->path);
                if (!f->role[0] || strspn(f->role, "abcdefghijklmnopqrstuvwxyz") != strlen(f->role) ||
                    f->path[0] != '/' || n >= INPUT_STAMP_PATH_MAX || strchr(f->path, '\n'))
                        abort();
        }
        /* Strict: exactly one spelling per stamp, so it writes back as read. */
        int len = input_stamp_format(&st, out, sizeof(out));
        if (len < 0 || (size_t)len != size || memcmp(out, data, size) != 0)
                abort();
        return 0;
}
