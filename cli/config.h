/* agentkernel.toml: a project's sandbox settings, in agentkernel's section
 * and key names (its src/config.rs), read by `ak run`, `ak sandbox create`
 * and `ak shell` from the working directory or `-c FILE`.
 *
 *   [sandbox]   name, runtime (a local image name), base_image (overrides runtime)
 *   [resources] vcpus (1..64), memory_mb (64..262144)
 *   [security]  profile (permissive|moderate|restrictive), network (bool);
 *               mount_cwd, mount_home, pass_env, read_only, seccomp are
 *               checked and warned about (ak honours none of them)
 *   [security.domains] allow, block (agentkernel's) or deny: arrays of names
 *               or CIDRs; allowlist_only = true denies everything else
 *   [network]   vsock_cid, ports ("8080:80", "3000/udp"): checked, then
 *               warned about (ak assigns CIDs and publishes no ports);
 *               network on/off and allow/deny are [security]'s, as in
 *               agentkernel
 *   [env]       NAME = "value" for every command
 *   [[files]]   source (host path, relative to the file), dest (absolute
 *               guest path), mode ("0644")
 *   [secrets]   NAME = "host" (or "host:Header"): the vault's secret NAME
 *               injected for that host (as --secret NAME:host[:Header]); the
 *               value itself never comes from here or this machine
 *   [[proxy.hooks]] name, event (on_request|on_response), and a
 *               [proxy.hooks.target] table: type = "file" with path, or
 *               type = "audit" ("webhook" is refused: ak posts to no URL)
 * agentkernel's [agent], [template], [build], [orchestrator] and
 * [enterprise] are accepted; ak uses none of them (the last three warn).
 * Unknown keys warn; a known key of the wrong type or range fails, naming
 * the file, the line and the key. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"

#define CONFIG_FILE_NAME "agentkernel.toml"
#define CONFIG_MAX_LIST 64     /* domains, env entries, files */
#define CONFIG_MAX_WARNINGS 32
#define CONFIG_MAX_SECRETS 32  /* CLI_SECRETS_MAX */
#define CONFIG_MAX_HOOKS 8     /* the executor's HOOKS_MAX */

struct config_file_entry {
        char *source;   /* as written; relative to the config file's directory */
        char *dest;     /* absolute guest path */
        unsigned mode;
};

struct config_secret {
        char *name, *host;  /* host as written: "host" or "host:Header" */
        unsigned line;
};

struct config_hook {
        char *name, *event, *type, *path;  /* path: NULL for type "audit" */
        unsigned line;
};

struct config {
        char *name, *image, *profile;
        unsigned vcpus, memory_mb;     /* 0: not set */
        int network;                   /* -1 not set, 0 off, 1 on */
        char *allow[CONFIG_MAX_LIST], *deny[CONFIG_MAX_LIST];
        size_t n_allow, n_deny;
        bool allowlist_only;
        char *env[CONFIG_MAX_LIST];    /* "KEY=VALUE" */
        size_t n_env;
        struct config_file_entry files[CONFIG_MAX_LIST];
        size_t n_files;
        struct config_secret secrets[CONFIG_MAX_SECRETS];
        size_t n_secrets;
        struct config_hook hooks[CONFIG_MAX_HOOKS];
        size_t n_hooks;
        char *warnings[CONFIG_MAX_WARNINGS]; /* "FILE:LINE: unknown key ..." for the caller to print */
        size_t n_warnings;
};

/* Parses text (len bytes) read from `path` (used in messages). On success
 * *ret is the caller's (config_free). On a bad document -EINVAL with err
 * "PATH:LINE: [section] key: want ..., got ..."; -E2BIG, -ENOMEM. */
int config_parse(const char *path, const char *text, size_t len, struct config **ret, struct ak_error *err);

/* Reads and parses `path`. -ENOENT (with err) when it does not exist. */
int config_load(const char *path, struct config **ret, struct ak_error *err);

void config_free(struct config *c);
