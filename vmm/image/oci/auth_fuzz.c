/* libFuzzer target for the bytes a registry or a user controls in
 * authentication: the WWW-Authenticate parser (the first byte picks it, the
 * token-answer parser or the config.json lookup). Accepted challenges must
 * carry a known scheme and an http(s) realm for Bearer; values fit their
 * bounds; errors carry a negative code and words. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/image/oci/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(int r, const struct ak_error *err)
{
        if (r < 0 && (err->code != r || !err->msg[0]))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ak_error err = {};
        if (size == 0)
                return 0;
        const char *s = (const char *)data + 1;
        size_t n = size - 1;
        switch (data[0] % 3) {
        case 0: {
                struct oci_challenge c;
                int r = oci_challenge_parse(s, n, &c, &err);
                check_error(r, &err);
                if (r == 0) {
                        if (c.scheme != OCI_AUTH_BASIC && c.scheme != OCI_AUTH_BEARER)
                                abort();
                        if (strlen(c.realm) > OCI_AUTH_VALUE_MAX || strlen(c.service) > OCI_AUTH_VALUE_MAX ||
                            strlen(c.scope) > OCI_AUTH_VALUE_MAX)
                                abort();
                        if (c.scheme == OCI_AUTH_BEARER && strncmp(c.realm, "https://", 8) != 0 &&
                            strncmp(c.realm, "http://", 7) != 0)
                                abort();
                }
                break;
        }
        case 1: {
                static char tok[OCI_TOKEN_MAX + 1];
                int r = oci_token_parse(s, n, tok, &err);
                check_error(r, &err);
                if (r == 0 && (strlen(tok) == 0 || strlen(tok) > OCI_TOKEN_MAX))
                        abort();
                break;
        }
        default: {
                static struct oci_cred c;
                int r = oci_authfile_lookup(s, n, "registry.example:5000", &c, &err);
                if (r != -ENOENT)
                        check_error(r, &err);
                if (r == 0 && !c.identity_token[0] && (!c.username[0] || !c.password[0]))
                        abort();
                break;
        }
        }
        return 0;
}
