/* ak_hostport_bracket on arbitrary bytes (a NUL-terminated copy): never
 * crashes or writes past out; what it accepts is either the input unchanged
 * or "[V6]:PORT" where V6 parses as IPv6 and PORT is 1-65535; a refusal
 * leaves out untouched. ak_listen_addr_parse on the same bytes: an accepted
 * address is IPv4 or IPv6 with the port the text ends with; IPv6 exactly for
 * "[...]" or an unbracketed text of two colons or more (bracketed as
 * ak_hostport_bracket does), IPv4 for one colon; a refusal leaves the
 * outputs untouched and says why. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/hostport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_listen(const char *in)
{
        struct sockaddr_storage ss;
        struct ak_error err = { 0 };
        int any = 7;
        memset(&ss, 0xa5, sizeof(ss));
        if (ak_listen_addr_parse(in, &ss, &any, &err) < 0) {
                if (any != 7 || ((unsigned char *)&ss)[0] != 0xa5 || !err.msg[0])
                        abort();
                return;
        }
        const char *colon = strrchr(in, ':');
        long port = colon ? strtol(colon + 1, NULL, 10) : -1;
        if (!colon || port < 0 || port > 65535 || (any != 0 && any != 1))
                abort();
        size_t colons = 0;
        for (const char *c = in; *c; c++)
                colons += *c == ':';
        if (ss.ss_family == AF_INET6) {
                if ((in[0] != '[' && colons < 2) || ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) != port)
                        abort();
        } else if (ss.ss_family != AF_INET || in[0] == '[' || colons != 1 ||
                   ntohs(((struct sockaddr_in *)&ss)->sin_port) != port) {
                abort();
        }
}

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
        check_listen(in);
        free(in);
        return 0;
}
