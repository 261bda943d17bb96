/* See install_toml.h. Strings are written as TOML basic strings, whose
 * escapes are JSON's (\" \\ \b \f \n \r \t \uXXXX). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/mcp/install_toml.h"
#include "lib/json/writer.h"

/* True for a table header naming ours: [mcp_servers.NAME] or [mcp_servers.NAME.x]. */
static bool ours(const char *line, size_t len, const char *name, bool *ret_header)
{
        while (len && (*line == ' ' || *line == '\t'))
                line++, len--;
        *ret_header = len && line[0] == '[';
        if (!*ret_header)
                return false;
        char bare[160], quoted[160];
        snprintf(bare, sizeof(bare), "[mcp_servers.%s", name);
        snprintf(quoted, sizeof(quoted), "[mcp_servers.\"%s\"", name);
        for (int i = 0; i < 2; i++) {
                const char *p = i ? quoted : bare;
                size_t n = strlen(p);
                if (len > n && memcmp(line, p, n) == 0 && (line[n] == ']' || line[n] == '.'))
                        return true;
        }
        return false;
}

static int put(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
        if (*len + n + 1 > *cap) {
                size_t nc = (*len + n + 1) * 2;
                char *nb = realloc(*buf, nc);
                if (!nb)
                        return -ENOMEM;
                *buf = nb;
                *cap = nc;
        }
        memcpy(*buf + *len, s, n);
        *len += n;
        (*buf)[*len] = 0;
        return 0;
}

static int put_quoted(char **buf, size_t *len, size_t *cap, const char *s)
{
        char *q = NULL;
        size_t ql;
        int r = json_quote(s, strlen(s), &q, &ql);
        if (r == 0)
                r = put(buf, len, cap, q, ql);
        free(q);
        return r;
}

int mcp_install_toml(const char *name, const char *ak, const char *const *env_keys, size_t n_env,
                     const char *old, size_t old_len, char **ret, size_t *ret_len)
{
        char *buf = NULL, line[256];
        size_t len = 0, cap = 0;
        bool skipping = false;
        int r = put(&buf, &len, &cap, "", 0);

        for (size_t at = 0; r == 0 && old && at < old_len;) {
                const char *nl = memchr(old + at, '\n', old_len - at);
                size_t n = nl ? (size_t)(nl - (old + at)) + 1 : old_len - at;
                bool header;
                bool mine = ours(old + at, n, name, &header);
                if (header)
                        skipping = mine;
                if (!skipping)
                        r = put(&buf, &len, &cap, old + at, n);
                at += n;
        }
        if (r == 0 && len && buf[len - 1] != '\n')
                r = put(&buf, &len, &cap, "\n", 1);
        if (r == 0 && len && !(len >= 2 && buf[len - 2] == '\n'))
                r = put(&buf, &len, &cap, "\n", 1);
        snprintf(line, sizeof(line), "[mcp_servers.%s]\ncommand = ", name);
        if (r == 0)
                r = put(&buf, &len, &cap, line, strlen(line));
        if (r == 0)
                r = put_quoted(&buf, &len, &cap, ak);
        if (r == 0) {
                const char *args = "\nargs = [\"mcp-server\"]\n";
                r = put(&buf, &len, &cap, args, strlen(args));
        }
        bool env_header = false;
        for (size_t i = 0; r == 0 && i < n_env; i++) {
                const char *v = getenv(env_keys[i]);
                if (!v || !*v)
                        continue;
                if (!env_header) {
                        snprintf(line, sizeof(line), "\n[mcp_servers.%s.env]\n", name);
                        r = put(&buf, &len, &cap, line, strlen(line));
                        env_header = true;
                }
                snprintf(line, sizeof(line), "%s = ", env_keys[i]);
                if (r == 0)
                        r = put(&buf, &len, &cap, line, strlen(line));
                if (r == 0)
                        r = put_quoted(&buf, &len, &cap, v);
                if (r == 0)
                        r = put(&buf, &len, &cap, "\n", 1);
        }
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}
