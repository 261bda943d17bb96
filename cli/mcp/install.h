/* `ak mcp install`: the entry an MCP client's config needs to start
 * `AK mcp-server`, merged into that config without touching its other entries.
 *   claude    ~/.claude.json (project: ./.mcp.json)   mcpServers.NAME = {type:stdio, command, args, env}
 *   gemini    ~/.gemini/settings.json (project: ./.gemini/settings.json)   mcpServers.NAME = {command, args, env}
 *   opencode  ~/.config/opencode/opencode.json (project: ./opencode.json)  mcp.NAME = {type:local, command:[...], enabled, environment}
 *   codex     $CODEX_HOME/config.toml or ~/.codex/config.toml   [mcp_servers.NAME] command, args, [mcp_servers.NAME.env]
 * env carries AK_HOME, AK_SCHEDULER and AK_TLS_* when set here (never
 * AK_TOKEN: a config file is no place for a secret). JSON is rewritten
 * pretty, members in their order; in TOML only NAME's tables are replaced. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum mcp_client { MCP_CLIENT_CLAUDE, MCP_CLIENT_CODEX, MCP_CLIENT_GEMINI, MCP_CLIENT_OPENCODE };

struct mcp_install {
        enum mcp_client client;
        bool project;           /* the project's file (cwd) instead of the user's (codex: none) */
        const char *name;       /* the entry's name, [A-Za-z0-9_-]{1,64} */
        const char *ak;         /* absolute path of ak */
        const char *home;       /* $HOME */
        const char *cwd;
};

/* "claude" ... into *ret; -EINVAL for another word. */
int mcp_client_parse(const char *s, enum mcp_client *ret);

/* The config file's path, and its new content (malloc'd; the file's current
 * content, if any, merged). -EINVAL with err naming the file and what is
 * wrong when the existing file cannot be merged (not JSON, or mcpServers
 * not an object); nothing is written. */
int mcp_install_plan(const struct mcp_install *o, char *path, size_t size, char **ret, size_t *ret_len,
                     struct ak_error *err);

#ifdef __cplusplus
}
#endif
