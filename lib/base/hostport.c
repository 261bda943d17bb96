/* Bracketing IPv6 hosts in HOST:PORT (hostport.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/base/hostport.h"
#include "lib/base/parse.h"

static size_t count_colons(const char *s)
{
        size_t n = 0;
        for (; *s; s++)
                n += *s == ':';
        return n;
}

int ak_hostport_bracket(const char *addr, char *out, size_t size)
{
        char host[AK_HOSTPORT_MAX + 1];
        struct in6_addr a6;
        unsigned port;
        size_t len;

        if (!addr || !*addr)
                return -EINVAL;
        len = strnlen(addr, AK_HOSTPORT_MAX + 1);
        if (len > AK_HOSTPORT_MAX)
                return -EINVAL;
        if (strncmp(addr, "unix:", 5) == 0 || strncmp(addr, "unix-abstract:", 14) == 0 ||
            strstr(addr, "://") || addr[0] == '[' || count_colons(addr) <= 1) {
                if (len + 1 > size)
                        return -ENOSPC;
                memcpy(out, addr, len + 1);
                return 0;
        }
        const char *colon = strrchr(addr, ':');
        size_t hlen = (size_t)(colon - addr);
        if (strchr(addr, ']') || ak_parse_uint(colon + 1, 1, 65535, &port) < 0)
                return -EINVAL;
        memcpy(host, addr, hlen);
        host[hlen] = '\0';
        if (inet_pton(AF_INET6, host, &a6) != 1)
                return -EINVAL;
        if (hlen + strlen(colon) + 3 > size)
                return -ENOSPC;
        snprintf(out, size, "[%s]:%u", host, port);
        return 0;
}
