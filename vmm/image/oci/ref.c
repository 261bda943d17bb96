#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/image/oci/ref.h"

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DEFAULT_DOMAIN "index.docker.io"
#define DOCKER_API_HOST "registry-1.docker.io"

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
        return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c)
{
        return is_alnum(c) || c == '_';
}

static bool is_hex_lower(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int oci_ref_digest_check(const char *s, size_t len)
{
        if (len != OCI_DIGEST_LEN || memcmp(s, "sha256:", 7) != 0)
                return -EINVAL;
        for (size_t i = 7; i < len; i++)
                if (!is_hex_lower(s[i]))
                        return -EINVAL;
        return 0;
}

/* domain-component ('.' domain-component)* | '[' [0-9A-Fa-f:]+ ']', then
 * (':' [0-9]+)?; components [A-Za-z0-9] or [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]. */
static bool domain_valid(const char *s, size_t n)
{
        size_t i = 0;
        if (n == 0)
                return false;
        if (s[0] == '[') {
                size_t start = ++i;
                while (i < n && (is_hex_lower(s[i]) || (s[i] >= 'A' && s[i] <= 'F') || s[i] == ':'))
                        i++;
                if (i == start || i >= n || s[i] != ']')
                        return false;
                i++;
        } else {
                for (;;) {
                        size_t start = i;
                        while (i < n && (is_alnum(s[i]) || s[i] == '-'))
                                i++;
                        if (i == start || s[start] == '-' || s[i - 1] == '-')
                                return false;
                        if (i < n && s[i] == '.') {
                                i++;
                                continue;
                        }
                        break;
                }
        }
        if (i == n)
                return true;
        if (s[i] != ':' || i + 1 == n)
                return false;
        for (i++; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

/* One path component at s[i..): [a-z0-9]+ joined by '.', '_', '__' or
 * '-'+. Returns the index after it, or 0 when none starts at i. */
static size_t component_end(const char *s, size_t n, size_t i)
{
        if (i >= n || !is_lower_alnum(s[i]))
                return 0;
        for (;;) {
                while (i < n && is_lower_alnum(s[i]))
                        i++;
                size_t j = i;
                if (j < n && s[j] == '.')
                        j++;
                else if (j < n && s[j] == '_')
                        j += (j + 1 < n && s[j + 1] == '_') ? 2 : 1;
                else if (j < n && s[j] == '-')
                        while (j < n && s[j] == '-')
                                j++;
                if (j == i)
                        return i;
                if (j >= n || !is_lower_alnum(s[j]))
                        return 0; /* a separator must be followed by alnum */
                i = j;
        }
}

/* Components separated by '/'. Returns the length matched (it ends at ':',
 * '@' or the end), or 0 on a malformed path. */
static size_t path_span(const char *s, size_t n)
{
        size_t i = 0;
        for (;;) {
                i = component_end(s, n, i);
                if (i == 0)
                        return 0;
                if (i == n || s[i] == ':' || s[i] == '@')
                        return i;
                if (s[i] != '/')
                        return 0;
                i++;
        }
}

static bool tag_valid(const char *s, size_t n)
{
        if (n == 0 || n > OCI_REF_TAG_MAX || !is_word(s[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
                        return false;
        return true;
}

static bool has_upper(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] >= 'A' && s[i] <= 'Z')
                        return true;
        return false;
}

static bool printable(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
                        return false;
        return true;
}

#define BAD(fmt, ...) ak_error_set(err, -EINVAL, "invalid reference \"%.*s\": " fmt, shown, s, ##__VA_ARGS__)

int oci_ref_parse(const char *s, size_t len, struct oci_ref *ret, struct ak_error *err)
{
        struct oci_ref ref = {};
        /* Show at most 300 printable bytes of the input in messages. */
        int shown = len > 300 ? 300 : (int)len;
        if (!printable(s, len))
                return ak_error_set(err, -EINVAL, "invalid reference: holds a control or non-ASCII byte");
        if (len == 0)
                return ak_error_set(err, -EINVAL, "invalid reference: empty");
        if (len == 64 && !memchr(s, ':', len)) {
                bool all_hex = true;
                for (size_t i = 0; i < len; i++)
                        all_hex = all_hex && is_hex_lower(s[i]);
                if (all_hex)
                        return BAD("a 64-digit hexadecimal string is an image id, not a name (use NAME@sha256:...)");
        }

        /* splitDockerDomain: the first component names a registry when it has
         * '.' or ':', is "localhost" or has an upper-case letter. */
        const char *slash = memchr(s, '/', len);
        const char *rest = s;
        size_t dlen = 0, rlen = len;
        if (slash) {
                size_t i = (size_t)(slash - s);
                if (memchr(s, '.', i) || memchr(s, ':', i) || (i == 9 && memcmp(s, "localhost", 9) == 0) ||
                    has_upper(s, i)) {
                        dlen = i;
                        rest = slash + 1;
                        rlen = len - i - 1;
                }
        }
        if (dlen == 0) {
                strcpy(ref.domain, DEFAULT_DOMAIN);
        } else {
                if (!domain_valid(s, dlen))
                        return BAD("registry \"%.*s\" is not a host name or [IPv6] with an optional :port", (int)dlen, s);
                if (dlen > OCI_REF_NAME_MAX)
                        return BAD("registry name longer than %d bytes", OCI_REF_NAME_MAX);
                memcpy(ref.domain, s, dlen);
                if (strcmp(ref.domain, LEGACY_DEFAULT_DOMAIN) == 0)
                        strcpy(ref.domain, DEFAULT_DOMAIN);
        }

        size_t name_end = 0;
        while (name_end < rlen && rest[name_end] != ':' && rest[name_end] != '@')
                name_end++;
        if (has_upper(rest, name_end))
                return BAD("repository name \"%.*s\" must be lowercase", (int)name_end, rest);
        size_t plen = path_span(rest, rlen);
        if (plen == 0 || plen != name_end)
                return BAD("repository name \"%.*s\" must be lowercase components of [a-z0-9] joined by '.', '_', "
                           "'__' or '-', separated by '/'",
                           (int)name_end, rest);
        bool library = strcmp(ref.domain, DEFAULT_DOMAIN) == 0 && !memchr(rest, '/', plen);
        size_t full = strlen(ref.domain) + 1 + (library ? 8 : 0) + plen;
        if (full > OCI_REF_NAME_MAX)
                return BAD("name longer than %d bytes", OCI_REF_NAME_MAX);
        snprintf(ref.path, sizeof(ref.path), "%s%.*s", library ? "library/" : "", (int)plen, rest);

        size_t i = plen;
        if (i < rlen && rest[i] == ':') {
                size_t t = ++i;
                while (i < rlen && rest[i] != '@')
                        i++;
                if (!tag_valid(rest + t, i - t))
                        return BAD("tag \"%.*s\" must be 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
                                   (int)(i - t), rest + t);
                memcpy(ref.tag, rest + t, i - t);
        }
        if (i < rlen && rest[i] == '@') {
                i++;
                if (oci_ref_digest_check(rest + i, rlen - i) < 0)
                        return BAD("digest \"%.*s\" must be sha256: and 64 lowercase hex digits", (int)(rlen - i),
                                   rest + i);
                memcpy(ref.digest, rest + i, rlen - i);
                i = rlen;
        }
        if (i != rlen)
                return BAD("unexpected \"%.*s\"", (int)(rlen - i), rest + i);
        if (!ref.tag[0] && !ref.digest[0])
                strcpy(ref.tag, "latest");
        *ret = ref;
        return 0;
}

static size_t append(char *buf, size_t at, const char *s)
{
        size_t n = strlen(s);
        if (at + n >= OCI_REF_FORMAT_MAX)
                n = OCI_REF_FORMAT_MAX - 1 - at; /* cannot happen: parse bounds every part */
        memcpy(buf + at, s, n);
        buf[at + n] = '\0';
        return at + n;
}

void oci_ref_format(const struct oci_ref *ref, char ret[OCI_REF_FORMAT_MAX])
{
        size_t at = 0;
        ret[0] = '\0';
        at = append(ret, at, ref->domain);
        at = append(ret, at, "/");
        at = append(ret, at, ref->path);
        if (ref->tag[0]) {
                at = append(ret, at, ":");
                at = append(ret, at, ref->tag);
        }
        if (ref->digest[0]) {
                at = append(ret, at, "@");
                append(ret, at, ref->digest);
        }
}

const char *oci_ref_api_host(const struct oci_ref *ref)
{
        return strcmp(ref->domain, DEFAULT_DOMAIN) == 0 ? DOCKER_API_HOST : ref->domain;
}

const char *oci_ref_reference(const struct oci_ref *ref)
{
        return ref->digest[0] ? ref->digest : ref->tag;
}

bool oci_host_is_loopback(const char *host)
{
        char name[OCI_REF_NAME_MAX + 1];
        size_t n;
        if (host[0] == '[') {
                const char *end = strchr(host, ']');
                if (!end)
                        return false;
                n = (size_t)(end - host - 1);
                if (n >= sizeof(name) || (end[1] != '\0' && end[1] != ':'))
                        return false;
                memcpy(name, host + 1, n);
        } else {
                const char *colon = strchr(host, ':');
                n = colon ? (size_t)(colon - host) : strlen(host);
                if (n >= sizeof(name))
                        return false;
                memcpy(name, host, n);
        }
        name[n] = '\0';
        if (strcmp(name, "localhost") == 0)
                return true;
        struct in_addr a4;
        struct in6_addr a6;
        if (inet_pton(AF_INET, name, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        if (inet_pton(AF_INET6, name, &a6) == 1)
                return IN6_IS_ADDR_LOOPBACK(&a6);
        return false;
}
