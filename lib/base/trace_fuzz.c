/* libFuzzer: the request id and traceparent checks on client bytes (gRPC
 * metadata, HTTP headers). Whatever they accept must be what trace.h
 * promises: a request id of the allowed characters and length, a
 * traceparent of the exact version-00 shape; and the thread context must
 * hold exactly what was accepted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hex_digit(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void check_request_id(const char *s, size_t n)
{
        if (!ak_request_id_valid(s, n))
                return;
        if (n == 0 || n > AK_REQUEST_ID_MAX)
                abort();
        for (size_t i = 0; i < n; i++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-", s[i]) || !s[i])
                        abort();
}

static void check_traceparent(const char *s, size_t n)
{
        if (!ak_traceparent_valid(s, n))
                return;
        if (n != AK_TRACEPARENT_LEN || memcmp(s, "00-", 3) || s[35] != '-' || s[52] != '-')
                abort();
        int nonzero_trace = 0, nonzero_parent = 0;
        for (size_t i = 3; i < n; i++) {
                if (i == 35 || i == 52)
                        continue;
                if (!hex_digit(s[i]))
                        abort();
                if (i < 35)
                        nonzero_trace |= s[i] != '0';
                else if (i < 52)
                        nonzero_parent |= s[i] != '0';
        }
        if (!nonzero_trace || !nonzero_parent)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* The input split at its first NUL-free newline: id, then traceparent. */
        char *buf = malloc(size + 1);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = '\0';
        check_request_id(buf, size);
        check_traceparent(buf, size);
        char *nl = memchr(buf, '\n', size);
        const char *tp = NULL;
        if (nl) {
                *nl = '\0';
                tp = nl + 1;
        }
        size_t id_len = strlen(buf);
        int r = ak_trace_set(buf, tp);
        if (id_len == 0) {
                if (r != 0 || ak_trace_request_id())
                        abort();
        } else if (ak_request_id_valid(buf, id_len)) {
                const char *got = ak_trace_request_id();
                if (r != 0 || !got || strcmp(got, buf))
                        abort();
                const char *gtp = ak_trace_traceparent();
                int want = tp && ak_traceparent_valid(tp, strlen(tp));
                if (want != (gtp != NULL) || (gtp && strcmp(gtp, tp)))
                        abort();
        } else if (r != -22 /* EINVAL */) {
                abort();
        }
        ak_trace_clear();
        free(buf);
        return 0;
}
