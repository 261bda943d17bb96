/* Codex's config.toml, merged line by line: the tables [mcp_servers.NAME]
 * and [mcp_servers.NAME.*] (bare or quoted NAME) are taken out and ours
 * appended; every other line stays as it was. Private to cli/mcp. */
#pragma once

#include <stddef.h>

/* env_keys: the variables written to [mcp_servers.NAME.env] when set.
 * *ret malloc'd. 0 or -ENOMEM. */
int mcp_install_toml(const char *name, const char *ak, const char *const *env_keys, size_t n_env,
                     const char *old, size_t old_len, char **ret, size_t *ret_len);
