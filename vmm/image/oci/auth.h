/* Registry authentication: the WWW-Authenticate challenge a registry answers
 * 401 with, the token endpoint's answer, and credentials from a docker-style
 * config.json.
 *
 * Pure functions on outside bytes (the header, the token JSON and the config
 * file are all untrusted); thread-safe. Credentials are never put into an
 * error message. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OCI_AUTH_HEADER_MAX 4096
#define OCI_AUTH_VALUE_MAX 1024
#define OCI_TOKEN_MAX 16384
#define OCI_CRED_MAX 4096

enum oci_auth_scheme {
        OCI_AUTH_BASIC = 1,
        OCI_AUTH_BEARER = 2,
};

/* One challenge (RFC 7235): the scheme and the parameters the token flow
 * needs; other parameters (error=..., charset=...) are checked for syntax
 * and ignored. */
struct oci_challenge {
        enum oci_auth_scheme scheme;
        char realm[OCI_AUTH_VALUE_MAX + 1];   /* Bearer: an http(s):// URL */
        char service[OCI_AUTH_VALUE_MAX + 1]; /* may be "" */
        char scope[OCI_AUTH_VALUE_MAX + 1];   /* may be "" */
};

/* Parses a WWW-Authenticate value: one or more challenges separated by
 * commas, each `scheme` [1*SP param *(, param)], param = token "=" (token |
 * quoted-string), case-insensitive scheme and parameter names, a parameter at
 * most once per challenge. Picks the Bearer challenge if there is one, else
 * Basic. Returns 0, -EINVAL (malformed; err says where), -ENOTSUP (no Basic
 * or Bearer challenge), or -E2BIG (longer than OCI_AUTH_HEADER_MAX or a value
 * longer than OCI_AUTH_VALUE_MAX). A Bearer challenge without an http(s)
 * realm is -EINVAL. */
int oci_challenge_parse(const char *s, size_t len, struct oci_challenge *ret, struct ak_error *err);

/* The token endpoint's JSON answer: "token" or else "access_token", a
 * non-empty string of visible ASCII at most OCI_TOKEN_MAX bytes. */
int oci_token_parse(const char *json, size_t len, char ret[OCI_TOKEN_MAX + 1], struct ak_error *err);

/* Credentials for one registry. */
struct oci_cred {
        char username[OCI_CRED_MAX + 1];
        char password[OCI_CRED_MAX + 1];
        char identity_token[OCI_CRED_MAX + 1]; /* OAuth2 refresh token, or "" */
};

/* Looks host (a registry domain as in struct oci_ref, e.g. "docker.io",
 * "localhost:5000") up in a docker config.json's "auths": keys are matched
 * by host[:port] after dropping an http(s):// prefix and any path (docker
 * writes "https://index.docker.io/v1/" for docker.io). An entry has "auth"
 * (base64 of user:password) and/or "identitytoken"; "username"/"password"
 * members are used when "auth" is absent. Returns 0 and *ret, -ENOENT when
 * the file has no entry for host (not an error: pull anonymously), -EINVAL
 * for a malformed file or entry (err names the key, never the secret). */
int oci_authfile_lookup(const char *json, size_t len, const char *host, struct oci_cred *ret,
                        struct ak_error *err);

#ifdef __cplusplus
}
#endif
