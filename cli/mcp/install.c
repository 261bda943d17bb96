/* MCP clients' config files, merged. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/mcp/install.h"
#include "cli/mcp/install_toml.h"
#include "lib/base/io.h"
#include "lib/json/json.h"
#include "lib/json/writer.h"

#define CONFIG_MAX ((size_t)16 << 20)

static const char *const env_keys[] = { "AK_HOME", "AK_SCHEDULER", "AK_TLS_CA", "AK_TLS_CERT", "AK_TLS_KEY",
                                        "AK_TLS_NAME" };

int mcp_client_parse(const char *s, enum mcp_client *ret)
{
        static const char *const names[] = { "claude", "codex", "gemini", "opencode" };
        for (size_t i = 0; i < 4; i++)
                if (strcmp(s, names[i]) == 0) {
                        *ret = (enum mcp_client)i;
                        return 0;
                }
        return -EINVAL;
}

static void key(struct json_writer *w, const char *k)
{
        json_writer_key(w, k, strlen(k));
}

static void str(struct json_writer *w, const char *v)
{
        json_writer_string(w, v, strlen(v));
}

static void entry(const struct mcp_install *o, struct json_writer *w)
{
        bool oc = o->client == MCP_CLIENT_OPENCODE;

        json_writer_begin_object(w);
        if (o->client == MCP_CLIENT_CLAUDE || oc) {
                key(w, "type");
                str(w, oc ? "local" : "stdio");
        }
        key(w, "command");
        if (oc) {
                json_writer_begin_array(w);
                str(w, o->ak);
                str(w, "mcp-server");
                json_writer_end_array(w);
                key(w, "enabled");
                json_writer_bool(w, true);
        } else {
                str(w, o->ak);
                key(w, "args");
                json_writer_begin_array(w);
                str(w, "mcp-server");
                json_writer_end_array(w);
        }
        key(w, oc ? "environment" : "env");
        json_writer_begin_object(w);
        for (size_t i = 0; i < sizeof(env_keys) / sizeof(env_keys[0]); i++) {
                const char *v = getenv(env_keys[i]);
                if (v && *v) {
                        key(w, env_keys[i]);
                        str(w, v);
                }
        }
        json_writer_end_object(w);
        json_writer_end_object(w);
}

/* servers: the existing object under the client's key (or NULL). */
static void servers(const struct mcp_install *o, struct json_writer *w, const struct json_value *servers)
{
        size_t len;

        json_writer_begin_object(w);
        for (size_t i = 0; servers && i < json_object_size(servers); i++) {
                const char *k = json_object_key(servers, i, &len);
                if (strlen(o->name) == len && memcmp(k, o->name, len) == 0)
                        continue;
                json_writer_key(w, k, len);
                json_writer_value(w, json_object_value(servers, i));
        }
        key(w, o->name);
        entry(o, w);
        json_writer_end_object(w);
}

static int plan_json(const struct mcp_install *o, const char *path, const char *old, size_t old_len, char **ret,
                     size_t *ret_len, struct ak_error *err)
{
        const char *top = o->client == MCP_CLIENT_OPENCODE ? "mcp" : "mcpServers";
        struct json_value *root = NULL;
        struct json_error je;
        struct json_writer *w = NULL;
        size_t len;
        int r;

        if (old && old_len) {
                if ((r = json_parse(old, old_len, &root, &je)) < 0)
                        return ak_error_set(err, r, "%s is not JSON (%s); fix or move it, then install again", path,
                                            je.message);
                if (json_value_type(root) != JSON_OBJECT) {
                        json_value_free(root);
                        return ak_error_set(err, -EINVAL, "%s holds a JSON %s, not an object", path,
                                            json_type_name(json_value_type(root)));
                }
                const struct json_value *s = json_object_get(root, top);
                if (s && json_value_type(s) != JSON_OBJECT) {
                        json_value_free(root);
                        return ak_error_set(err, -EINVAL, "%s: \"%s\" is not an object; fix it, then install again",
                                            path, top);
                }
        }
        if ((r = json_writer_new(JSON_WRITER_PRETTY, 0, &w)) < 0) {
                json_value_free(root);
                return ak_error_set(err, r, "out of memory");
        }
        bool done = false;
        json_writer_begin_object(w);
        if (!root && o->client == MCP_CLIENT_OPENCODE) {
                key(w, "$schema");
                str(w, "https://opencode.ai/config.json");
        }
        for (size_t i = 0; root && i < json_object_size(root); i++) {
                const char *k = json_object_key(root, i, &len);
                if (strlen(top) == len && memcmp(k, top, len) == 0) {
                        if (done)
                                continue; /* a duplicate key: one merged entry */
                        key(w, top);
                        servers(o, w, json_object_value(root, i));
                        done = true;
                        continue;
                }
                json_writer_key(w, k, len);
                json_writer_value(w, json_object_value(root, i));
        }
        if (!done) {
                key(w, top);
                servers(o, w, NULL);
        }
        json_writer_end_object(w);
        r = json_writer_finish(w, ret, ret_len);
        json_writer_free(w);
        json_value_free(root);
        if (r < 0)
                return ak_error_set(err, r, "%s: could not encode the new content", path);
        /* A trailing newline, as editors leave one. */
        char *nl = realloc(*ret, *ret_len + 2);
        if (!nl) {
                free(*ret);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        nl[(*ret_len)++] = '\n';
        nl[*ret_len] = 0;
        *ret = nl;
        return 0;
}

/* The whole file (at most CONFIG_MAX bytes), NUL-terminated. 0 or -errno. */
static int read_config(const char *path, char **ret, size_t *ret_len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > CONFIG_MAX) {
                int e = errno && !S_ISREG(st.st_mode) ? -EINVAL : -EFBIG;
                close(fd);
                return e;
        }
        char *buf = malloc((size_t)st.st_size + 1);
        ssize_t n = buf ? ak_read_full(fd, buf, (size_t)st.st_size) : -ENOMEM;
        close(fd);
        if (n < 0) {
                free(buf);
                return (int)n;
        }
        buf[n] = 0;
        *ret = buf;
        *ret_len = (size_t)n;
        return 0;
}

int mcp_install_plan(const struct mcp_install *o, char *path, size_t size, char **ret, size_t *ret_len,
                     struct ak_error *err)
{
        const char *codex_home = getenv("CODEX_HOME");
        size_t n = strspn(o->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");
        int w = 0, r;

        if (n == 0 || n > 64 || o->name[n])
                return ak_error_set(err, -EINVAL, "name %s: want 1 to 64 of A-Z a-z 0-9 _ -", o->name);
        switch (o->client) {
        case MCP_CLIENT_CLAUDE:
                w = o->project ? snprintf(path, size, "%s/.mcp.json", o->cwd)
                               : snprintf(path, size, "%s/.claude.json", o->home);
                break;
        case MCP_CLIENT_GEMINI:
                w = snprintf(path, size, "%s/.gemini/settings.json", o->project ? o->cwd : o->home);
                break;
        case MCP_CLIENT_OPENCODE:
                w = o->project ? snprintf(path, size, "%s/opencode.json", o->cwd)
                               : snprintf(path, size, "%s/.config/opencode/opencode.json", o->home);
                break;
        case MCP_CLIENT_CODEX:
                if (o->project)
                        return ak_error_set(err, -EINVAL, "codex has no project config; install without --project");
                w = codex_home && *codex_home ? snprintf(path, size, "%s/config.toml", codex_home)
                                              : snprintf(path, size, "%s/.codex/config.toml", o->home);
                break;
        }
        if (w < 0 || (size_t)w >= size)
                return ak_error_set(err, -ENAMETOOLONG, "the config path is too long");
        char *old = NULL;
        size_t old_len = 0;
        r = read_config(path, &old, &old_len);
        if (r < 0 && r != -ENOENT)
                return ak_error_errno(err, r, "read %s", path);
        if (o->client == MCP_CLIENT_CODEX)
                r = mcp_install_toml(o->name, o->ak, env_keys, sizeof(env_keys) / sizeof(env_keys[0]), old,
                                     old_len, ret, ret_len);
        else
                r = plan_json(o, path, old, old_len, ret, ret_len, err);
        free(old);
        if (r < 0 && o->client == MCP_CLIENT_CODEX)
                return ak_error_set(err, r, "%s: could not build the new content", path);
        return r;
}
