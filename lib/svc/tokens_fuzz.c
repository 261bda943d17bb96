/* The token file parser on arbitrary bytes: never crashes, and whatever it
 * accepts obeys the rules (visible ASCII, 16..4096 bytes, at least one; a
 * tenant or an executor name of [A-Za-z0-9._-], never both, admin only for
 * tenants) and authenticates with its own tokens, finding the first line
 * that holds each. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/svc/tokens.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *name)
{
        if (!name)
                return;
        size_t len = strlen(name);
        if (len == 0 || len > TOKEN_NAME_MAX || name[0] == '.' || name[0] == '_' || name[0] == '-')
                abort();
        for (size_t i = 0; i < len; i++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", name[i]))
                        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct tokens *t = NULL;
        struct ak_error err;
        if (tokens_parse((const char *)data, size, "fuzz", &t, &err) < 0) {
                if (t || !err.msg[0])
                        abort();
                return 0;
        }
        size_t n = tokens_count(t);
        if (n == 0 || n > TOKENS_MAX)
                abort();
        static char header[TOKEN_MAX_BYTES + 8];
        for (size_t i = 0; i < n; i++) {
                const char *tok = tokens_get(t, i);
                size_t len = strlen(tok);
                if (len < TOKEN_MIN_BYTES || len > TOKEN_MAX_BYTES || tok[0] == '#')
                        abort();
                for (size_t j = 0; j < len; j++)
                        if ((unsigned char)tok[j] <= 0x20 || (unsigned char)tok[j] >= 0x7f)
                                abort();
                snprintf(header, sizeof(header), "Bearer %s", tok);
                if (!tokens_check(t, header))
                        abort();
                size_t at = n;
                if (tokens_find(t, header, &at) != 0 || at > i || strcmp(tokens_get(t, at), tok) != 0)
                        abort();
                struct token_who who;
                tokens_who(t, i, &who);
                if (!who.tenant == !who.executor || (who.executor && who.admin))
                        abort();
                check_name(who.tenant);
                check_name(who.executor);
        }
        tokens_free(t);
        return 0;
}
