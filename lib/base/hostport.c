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

/* Splits "[V6]:PORT" or "HOST:PORT" (HOST without ':') into host and port. */
static int split_listen(const char *addr, char host[64], const char **ret_port, struct ak_error *err)
{
        if (addr[0] == '[') {
                const char *end = strchr(addr, ']');
                if (!end || end[1] != ':')
                        return ak_error_set(err, -EINVAL, "listen address '%.200s': want [IPV6]:PORT", addr);
                if ((size_t)(end - addr - 1) >= 64)
                        return ak_error_set(err, -EINVAL, "listen address '%.200s': host too long", addr);
                snprintf(host, 64, "%.*s", (int)(end - addr - 1), addr + 1);
                *ret_port = end + 2;
                return 0;
        }
        const char *colon = strrchr(addr, ':');
        if (!colon || strchr(addr, ':') != colon)
                return ak_error_set(err, -EINVAL,
                                    "listen address '%.200s': want HOST:PORT, [IPV6]:PORT or :PORT (an IPv6 "
                                    "address goes in brackets)",
                                    addr);
        if ((size_t)(colon - addr) >= 64)
                return ak_error_set(err, -EINVAL, "listen address '%.200s': host too long", addr);
        snprintf(host, 64, "%.*s", (int)(colon - addr), addr);
        *ret_port = colon + 1;
        return 0;
}

int ak_listen_addr_parse(const char *addr, struct sockaddr_storage *ret, int *ret_any, struct ak_error *err)
{
        struct sockaddr_storage ss;
        struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
        const char *port = NULL;
        char host[64], bracketed[AK_HOSTPORT_MAX + 3];
        unsigned p;
        int any = 0, r;

        if (!addr || !*addr)
                return ak_error_set(err, -EINVAL, "listen address is empty (want HOST:PORT)");
        if (strnlen(addr, AK_HOSTPORT_MAX + 1) > AK_HOSTPORT_MAX)
                return ak_error_set(err, -EINVAL, "listen address is longer than %d bytes", AK_HOSTPORT_MAX);
        /* "fd00::7:9100": bracketed the way --advertise is; anything else as written. */
        if (ak_hostport_bracket(addr, bracketed, sizeof(bracketed)) == 0)
                addr = bracketed;
        if ((r = split_listen(addr, host, &port, err)) < 0)
                return r;
        if (ak_parse_uint(port, 0, 65535, &p) < 0)
                return ak_error_set(err, -EINVAL, "listen address '%s': port is not 0-65535", addr);
        memset(&ss, 0, sizeof(ss));
        if (addr[0] != '[' && (!*host || !strcmp(host, "0.0.0.0"))) {
                v4->sin_family = AF_INET;
                v4->sin_addr.s_addr = htonl(INADDR_ANY);
                v4->sin_port = htons((uint16_t)p);
                any = 1;
        } else if (addr[0] != '[' && (!strcmp(host, "localhost") || inet_pton(AF_INET, host, &v4->sin_addr) == 1)) {
                if (!strcmp(host, "localhost"))
                        v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                v4->sin_family = AF_INET;
                v4->sin_port = htons((uint16_t)p);
        } else if (addr[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
                v6->sin6_family = AF_INET6;
                v6->sin6_port = htons((uint16_t)p);
                any = IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr);
        } else {
                return ak_error_set(err, -EINVAL,
                                    "listen address '%s': '%s' is not a numeric IPv4 address, [IPv6] address or "
                                    "localhost (host names are not resolved)",
                                    addr, host);
        }
        *ret = ss;
        *ret_any = any;
        return 0;
}
