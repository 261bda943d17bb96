/* The token file parser on arbitrary bytes: never crashes, and whatever it
 * accepts obeys the rules (visible ASCII, 16..4096 bytes, at least one) and
 * authenticates with its own tokens. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/svc/tokens.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
        }
        tokens_free(t);
        return 0;
}
