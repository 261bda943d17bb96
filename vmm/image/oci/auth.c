#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/base/cleanup.h"
#include "lib/encoding/base64.h"
#include "lib/json/json.h"
#include "vmm/image/oci/auth.h"

static bool is_tchar(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void skip_ows(const char *s, size_t n, size_t *i)
{
        while (*i < n && (s[*i] == ' ' || s[*i] == '\t'))
                (*i)++;
}

static size_t token_end(const char *s, size_t n, size_t i)
{
        while (i < n && is_tchar(s[i]))
                i++;
        return i;
}

struct challenge_parser {
        const char *s;
        size_t n, i;
        struct ak_error *err;
        bool have_bearer, have_basic;
        struct oci_challenge bearer, basic;
};

#define FAIL(p, fmt, ...) \
        ak_error_set((p)->err, -EINVAL, "WWW-Authenticate: " fmt " at byte %zu", ##__VA_ARGS__, (p)->i)

/* token | quoted-string into out (decoded). */
static int parse_value(struct challenge_parser *p, char out[OCI_AUTH_VALUE_MAX + 1])
{
        size_t len = 0;
        if (p->i < p->n && p->s[p->i] == '"') {
                p->i++;
                for (;;) {
                        if (p->i >= p->n)
                                return FAIL(p, "unterminated quoted string");
                        unsigned char c = (unsigned char)p->s[p->i];
                        if (c == '"')
                                break;
                        if (c == '\\') {
                                if (++p->i >= p->n)
                                        return FAIL(p, "unterminated quoted string");
                                c = (unsigned char)p->s[p->i];
                        }
                        if ((c < 0x20 && c != '\t') || c >= 0x7f)
                                return FAIL(p, "control or non-ASCII byte 0x%02x in a quoted string", c);
                        if (len >= OCI_AUTH_VALUE_MAX)
                                return ak_error_set(p->err, -E2BIG, "WWW-Authenticate: value longer than %d bytes",
                                                    OCI_AUTH_VALUE_MAX);
                        out[len++] = (char)c;
                        p->i++;
                }
                p->i++;
        } else {
                size_t e = token_end(p->s, p->n, p->i);
                if (e == p->i)
                        return FAIL(p, "expected a token or a quoted string");
                if (e - p->i > OCI_AUTH_VALUE_MAX)
                        return ak_error_set(p->err, -E2BIG, "WWW-Authenticate: value longer than %d bytes",
                                            OCI_AUTH_VALUE_MAX);
                memcpy(out, p->s + p->i, e - p->i);
                len = e - p->i;
                p->i = e;
        }
        out[len] = '\0';
        return 0;
}

/* Parameters of one challenge into c (NULL: a scheme we skip). Stops before
 * the comma that starts the next challenge, or at the end. */
static int parse_params(struct challenge_parser *p, struct oci_challenge *c)
{
        bool seen_realm = false, seen_service = false, seen_scope = false;
        for (;;) {
                skip_ows(p->s, p->n, &p->i);
                size_t name = p->i, e = token_end(p->s, p->n, p->i);
                if (e == name)
                        return FAIL(p, "expected a parameter name");
                size_t after = e;
                skip_ows(p->s, p->n, &after);
                if (after >= p->n || p->s[after] != '=')
                        return FAIL(p, "expected '=' after parameter name");
                p->i = after + 1;
                skip_ows(p->s, p->n, &p->i);
                char value[OCI_AUTH_VALUE_MAX + 1];
                int r = parse_value(p, value);
                if (r < 0)
                        return r;
                size_t nlen = e - name;
                bool *seen = NULL;
                char *dst = NULL;
                if (nlen == 5 && strncasecmp(p->s + name, "realm", 5) == 0)
                        seen = &seen_realm, dst = c ? c->realm : NULL;
                else if (nlen == 7 && strncasecmp(p->s + name, "service", 7) == 0)
                        seen = &seen_service, dst = c ? c->service : NULL;
                else if (nlen == 5 && strncasecmp(p->s + name, "scope", 5) == 0)
                        seen = &seen_scope, dst = c ? c->scope : NULL;
                if (seen) {
                        if (*seen)
                                return FAIL(p, "parameter \"%.*s\" given twice", (int)nlen, p->s + name);
                        *seen = true;
                        if (dst)
                                strcpy(dst, value);
                }
                skip_ows(p->s, p->n, &p->i);
                if (p->i >= p->n)
                        return 0;
                if (p->s[p->i] != ',')
                        return FAIL(p, "expected ',' between parameters");
                /* A comma: another parameter (token OWS '='), an empty list
                 * element, or the next challenge (token SP token / end). */
                size_t look = p->i + 1;
                while (look < p->n && (p->s[look] == ' ' || p->s[look] == '\t' || p->s[look] == ','))
                        look++;
                size_t te = token_end(p->s, p->n, look);
                size_t eq = te;
                skip_ows(p->s, p->n, &eq);
                if (te == look || eq >= p->n || p->s[eq] != '=')
                        return 0;
                p->i = look;
        }
}

static int parse_challenges(struct challenge_parser *p)
{
        for (;;) {
                while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == ','))
                        p->i++;
                if (p->i >= p->n)
                        return 0;
                size_t start = p->i, e = token_end(p->s, p->n, p->i);
                if (e == start)
                        return FAIL(p, "expected an auth scheme");
                size_t slen = e - start;
                struct oci_challenge *c = NULL;
                if (slen == 6 && strncasecmp(p->s + start, "bearer", 6) == 0 && !p->have_bearer) {
                        c = &p->bearer;
                        c->scheme = OCI_AUTH_BEARER;
                        p->have_bearer = true;
                } else if (slen == 5 && strncasecmp(p->s + start, "basic", 5) == 0 && !p->have_basic) {
                        c = &p->basic;
                        c->scheme = OCI_AUTH_BASIC;
                        p->have_basic = true;
                }
                p->i = e;
                if (p->i >= p->n || p->s[p->i] == ',')
                        continue;
                if (p->s[p->i] != ' ')
                        return FAIL(p, "expected a space after the auth scheme");
                skip_ows(p->s, p->n, &p->i);
                if (p->i >= p->n)
                        return 0;
                if (p->s[p->i] == ',')
                        continue;
                int r = parse_params(p, c);
                if (r < 0)
                        return r;
        }
}

int oci_challenge_parse(const char *s, size_t len, struct oci_challenge *ret, struct ak_error *err)
{
        if (len > OCI_AUTH_HEADER_MAX)
                return ak_error_set(err, -E2BIG, "WWW-Authenticate: longer than %d bytes", OCI_AUTH_HEADER_MAX);
        struct challenge_parser *p = calloc(1, sizeof(*p));
        if (!p)
                return ak_error_set(err, -ENOMEM, "out of memory");
        p->s = s;
        p->n = len;
        p->err = err;
        int r = parse_challenges(p);
        if (r == 0 && p->have_bearer) {
                const char *realm = p->bearer.realm;
                if (strncmp(realm, "https://", 8) != 0 && strncmp(realm, "http://", 7) != 0)
                        r = ak_error_set(err, -EINVAL, "WWW-Authenticate: Bearer realm \"%s\" is not an http(s) URL",
                                         realm);
                else
                        *ret = p->bearer;
        } else if (r == 0 && p->have_basic) {
                *ret = p->basic;
        } else if (r == 0) {
                r = ak_error_set(err, -ENOTSUP, "WWW-Authenticate: neither a Bearer nor a Basic challenge");
        }
        free(p);
        return r;
}

static bool visible_ascii(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
                        return false;
        return true;
}

int oci_token_parse(const char *json, size_t len, char ret[OCI_TOKEN_MAX + 1], struct ak_error *err)
{
        struct json_value *v = NULL;
        struct json_error jerr;
        if (len > 1024 * 1024)
                return ak_error_set(err, -E2BIG, "token response: longer than 1 MiB");
        int r = json_parse(json, len, &v, &jerr);
        if (r < 0)
                return ak_error_set(err, -EINVAL, "token response: not JSON: %s", jerr.message);
        const struct json_value *t = NULL;
        if (json_value_type(v) == JSON_OBJECT) {
                t = json_object_get(v, "token");
                if (!t || json_value_type(t) != JSON_STRING || !json_string(t, NULL)[0])
                        t = json_object_get(v, "access_token");
        }
        size_t tlen = 0;
        const char *tok = t && json_value_type(t) == JSON_STRING ? json_string(t, &tlen) : NULL;
        if (!tok || tlen == 0)
                r = ak_error_set(err, -EINVAL, "token response: no \"token\" or \"access_token\" string");
        else if (tlen > OCI_TOKEN_MAX)
                r = ak_error_set(err, -E2BIG, "token response: token longer than %d bytes", OCI_TOKEN_MAX);
        else if (!visible_ascii(tok, tlen))
                r = ak_error_set(err, -EINVAL, "token response: token holds bytes not allowed in a header");
        else {
                memcpy(ret, tok, tlen);
                ret[tlen] = '\0';
                r = 0;
        }
        json_value_free(v);
        return r;
}

/* "https://index.docker.io/v1/" -> "index.docker.io"; "localhost:5000" as is. */
static void key_host(const char *key, size_t klen, char *out, size_t size)
{
        if (klen >= 8 && strncmp(key, "https://", 8) == 0)
                key += 8, klen -= 8;
        else if (klen >= 7 && strncmp(key, "http://", 7) == 0)
                key += 7, klen -= 7;
        size_t n = 0;
        while (n < klen && key[n] != '/')
                n++;
        if (n >= size)
                n = size - 1;
        memcpy(out, key, n);
        out[n] = '\0';
}

static bool host_matches(const char *key_h, const char *host)
{
        if (strcmp(key_h, host) == 0)
                return true;
        if (strcmp(host, "docker.io") == 0)
                return strcmp(key_h, "index.docker.io") == 0 || strcmp(key_h, "registry-1.docker.io") == 0;
        return false;
}

static int copy_member(const struct json_value *e, const char *name, char *dst, const char *key,
                       struct ak_error *err)
{
        const struct json_value *m = json_object_get(e, name);
        if (!m)
                return 0;
        size_t n;
        if (json_value_type(m) != JSON_STRING)
                return ak_error_set(err, -EINVAL, "auth file: auths[\"%s\"].%s is not a string", key, name);
        const char *v = json_string(m, &n);
        if (n > OCI_CRED_MAX || memchr(v, '\0', n))
                return ak_error_set(err, -EINVAL, "auth file: auths[\"%s\"].%s is too long or holds NUL", key, name);
        memcpy(dst, v, n + 1);
        return 0;
}

static int entry_cred(const struct json_value *e, const char *key, struct oci_cred *c, struct ak_error *err)
{
        if (json_value_type(e) != JSON_OBJECT)
                return ak_error_set(err, -EINVAL, "auth file: auths[\"%s\"] is not an object", key);
        char auth[OCI_CRED_MAX * 2 + 2] = "";
        int r = copy_member(e, "auth", auth, key, err);
        if (r >= 0)
                r = copy_member(e, "identitytoken", c->identity_token, key, err);
        if (r >= 0 && !auth[0]) {
                r = copy_member(e, "username", c->username, key, err);
                if (r >= 0)
                        r = copy_member(e, "password", c->password, key, err);
        }
        if (r < 0)
                return r;
        if (auth[0]) {
                uint8_t raw[OCI_CRED_MAX * 2];
                size_t rlen;
                if (base64_decode(auth, strlen(auth), raw, sizeof(raw) - 1, &rlen) < 0)
                        return ak_error_set(err, -EINVAL, "auth file: auths[\"%s\"].auth is not valid base64", key);
                raw[rlen] = '\0';
                char *colon = memchr(raw, ':', rlen);
                size_t ulen = colon ? (size_t)(colon - (char *)raw) : 0;
                if (!colon || memchr(raw, '\0', rlen) || ulen > OCI_CRED_MAX || rlen - ulen - 1 > OCI_CRED_MAX) {
                        memset(raw, 0, sizeof(raw));
                        return ak_error_set(err, -EINVAL,
                                            "auth file: auths[\"%s\"].auth must be base64 of username:password", key);
                }
                memcpy(c->username, raw, ulen);
                c->username[ulen] = '\0';
                memcpy(c->password, colon + 1, rlen - ulen - 1);
                c->password[rlen - ulen - 1] = '\0';
                memset(raw, 0, sizeof(raw));
        }
        if (!c->identity_token[0] && (!c->username[0] || !c->password[0]))
                return ak_error_set(err, -EINVAL, "auth file: auths[\"%s\"] has neither auth, username+password "
                                    "nor identitytoken", key);
        return 0;
}

int oci_authfile_lookup(const char *json, size_t len, const char *host, struct oci_cred *ret,
                        struct ak_error *err)
{
        struct json_value *v = NULL;
        struct json_error jerr;
        if (len > 4 * 1024 * 1024)
                return ak_error_set(err, -E2BIG, "auth file: longer than 4 MiB");
        if (json_parse(json, len, &v, &jerr) < 0)
                return ak_error_set(err, -EINVAL, "auth file: not JSON: %s", jerr.message);
        int r = -ENOENT;
        const struct json_value *auths = json_value_type(v) == JSON_OBJECT ? json_object_get(v, "auths") : NULL;
        if (json_value_type(v) != JSON_OBJECT)
                r = ak_error_set(err, -EINVAL, "auth file: not a JSON object");
        else if (auths && json_value_type(auths) != JSON_OBJECT)
                r = ak_error_set(err, -EINVAL, "auth file: \"auths\" is not an object");
        for (size_t i = 0; r == -ENOENT && auths && i < json_object_size(auths); i++) {
                size_t klen;
                const char *key = json_object_key(auths, i, &klen);
                char kh[512];
                key_host(key, klen, kh, sizeof(kh));
                if (!host_matches(kh, host))
                        continue;
                struct oci_cred *c = calloc(1, sizeof(*c));
                if (!c) {
                        r = ak_error_set(err, -ENOMEM, "out of memory");
                        break;
                }
                char shown[128];
                snprintf(shown, sizeof(shown), "%.100s", kh);
                r = entry_cred(json_object_value(auths, i), shown, c, err);
                if (r == 0)
                        *ret = *c;
                memset(c, 0, sizeof(*c));
                free(c);
        }
        json_value_free(v);
        return r;
}
