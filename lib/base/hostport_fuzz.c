/* ak_hostport_bracket on arbitrary bytes (a NUL-terminated copy): never
 * crashes or writes past out; what it accepts is either the input unchanged
 * or "[V6]:PORT" where V6 parses as IPv6 and PORT is 1-65535; a refusal
 * leaves out untouched. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/hostport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *in = malloc(size + 1), out[64], host[64];
        struct in6_addr a6;

        if (!in)
                return 0;
        memcpy(in, data, size);
        in[size] = '\0';
        memset(out, 'x', sizeof(out));
        size_t cap = size % sizeof(out) + 1;  /* vary the room too */
        int r = ak_hostport_bracket(in, out, cap);
        if (r < 0) {
                for (size_t i = 0; i < sizeof(out); i++)
                        if (out[i] != 'x')
                                abort();
        } else {
                size_t n = strnlen(out, cap);
                if (n == cap)
                        abort();
                if (strcmp(out, in) != 0) {
                        const char *close = strrchr(out, ']');
                        if (out[0] != '[' || !close || close[1] != ':' || (size_t)(close - out - 1) >= sizeof(host))
                                abort();
                        memcpy(host, out + 1, (size_t)(close - out - 1));
                        host[close - out - 1] = '\0';
                        long port = strtol(close + 2, NULL, 10);
                        if (inet_pton(AF_INET6, host, &a6) != 1 || port < 1 || port > 65535)
                                abort();
                }
        }
        free(in);
        return 0;
}
