/* The options that describe a sandbox, shared by `ak run`, `ak sandbox
 * create` and `ak shell`: flags, then AK_* environment variables, then
 * agentkernel.toml (cwd or -c FILE) underneath, as layers: a flag beats
 * the environment, which beats the file. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cli/config.h"
#include "cli/egress.h"
#include "cli/envlist.h"
#include "cli/opt.h"
#include "protos/ak/v1/sandbox.pb-c.h"

#define SANDBOX_OPTS_MAX_KV 64

enum {
        SO_IMAGE = 1000, SO_PROFILE, SO_NO_NETWORK, SO_VCPUS, SO_MEMORY, SO_LABEL, SO_NODE_SELECTOR, SO_TTL,
        SO_ENV, SO_ENV_FILE, SO_CONFIG, SO_EGRESS_ALLOW, SO_EGRESS_DENY, SO_EGRESS_PORT, SO_SECRET,
        SO_SECRET_FILE,
};

/* --image, --profile, --no-network, --vcpus, --memory, --label,
 * --node-selector, --ttl, -e, --env-file, -c/--config, --egress-*,
 * --secret, --secret-file. */
extern const struct cli_option sandbox_options[];
/* Help lines for them (without the egress ones: CLI_EGRESS_HELP). */
#define SANDBOX_OPTS_HELP                                                                              \
        "  --image I            guest image (see below)\n"                                             \
        "  --profile P          permissive, moderate (default) or restrictive\n"                       \
        "  --no-network         no network device in the VM\n"                                         \
        "  --vcpus N            virtual CPUs (1..64)\n"                                                \
        "  --memory M           memory: 512m, 1g, 2GiB (digits alone: MiB)\n"                         \
        "  --label K=V          a label on the sandbox (repeatable; `ak sandbox list --label`)\n"      \
        "  --node-selector K=V  place only on an executor with this label (repeatable)\n"              \
        "  --ttl D              remove the sandbox after D: 30s, 10m, 1h, 2d (at most 30d)\n"          \
        "  -e K=V, -e NAME      environment (NAME alone: its value here; repeatable)\n"               \
        "  --env-file FILE      KEY=VALUE lines (# comments; NAME alone: its value here)\n"           \
        "  -c, --config FILE    agentkernel.toml to read (default: ./agentkernel.toml if any)\n"      \
        "Settings come from flags, then AK_IMAGE, AK_PROFILE, AK_VCPUS, AK_MEMORY, then\n"              \
        "agentkernel.toml ([sandbox] name, base_image; [resources] vcpus, memory_mb;\n"                \
        "[security] profile, network; [security.domains] allow, block; [env]; [[files]];\n"         \
        "[secrets] NAME = \"host\" (as --secret NAME:host); [[proxy.hooks]]).\n"

struct sandbox_kv {
        char *key, *value;
};

struct sandbox_opts {
        const char *image, *profile, *config_path;
        int network;                 /* -1 not set, 0 off, 1 on */
        unsigned vcpus, memory_mb;   /* 0: not set */
        uint32_t ttl_seconds;
        bool have_ttl;
        struct sandbox_kv labels[SANDBOX_OPTS_MAX_KV], selector[SANDBOX_OPTS_MAX_KV];
        size_t n_labels, n_selector;
        struct envlist env;          /* flags' -e / --env-file */
        struct cli_egress egress;
        struct config *cfg;          /* the file's, once loaded (owned) */
        const char *cfg_path;        /* where it was read */
        struct envlist merged_env;   /* config's [env] under the flags' */
        /* the message's storage (sandbox_opts_spec) */
        Ak__V1__SandboxSpec__EnvEntry env_e[ENVLIST_MAX], *env_p[ENVLIST_MAX];
        Ak__V1__SandboxSpec__LabelsEntry lab_e[SANDBOX_OPTS_MAX_KV], *lab_p[SANDBOX_OPTS_MAX_KV];
        Ak__V1__SandboxSpec__NodeSelectorEntry sel_e[SANDBOX_OPTS_MAX_KV], *sel_p[SANDBOX_OPTS_MAX_KV];
        char *env_keys[ENVLIST_MAX];
        char *cfg_secrets[CONFIG_MAX_SECRETS]; /* the config's [secrets] as "NAME:HOST" (owned) */
        size_t n_cfg_secrets;
        Ak__V1__ProxyHook hook_e[CONFIG_MAX_HOOKS], *hook_p[CONFIG_MAX_HOOKS];
};

void sandbox_opts_init(struct sandbox_opts *o);
void sandbox_opts_free(struct sandbox_opts *o);

/* Takes option `id` of p (one of SO_*): 0; 2 after a usage error. */
int sandbox_opts_flag(struct sandbox_opts *o, const struct cli_opts *p, int id);

/* Parses "K=V" for --label / --node-selector / `list --label` into kv
 * (copied): 0, or -EINVAL for a missing '=' or empty key. */
int sandbox_kv_parse(const char *arg, struct sandbox_kv *kv);

/* After the flags: the AK_* environment, then agentkernel.toml (the -c
 * file, which must exist, or ./agentkernel.toml when present) under what
 * is set. Prints the file's warnings to stderr as "ak VERB: ...". 0, or 1
 * after printing the error. */
int sandbox_opts_layers(struct sandbox_opts *o, const char *verb);

/* The config's [sandbox] name, or NULL. */
const char *sandbox_opts_config_name(const struct sandbox_opts *o);

/* Fills spec (image, profile, network, vcpus, memory, labels, selector,
 * ttl, env, egress, secrets, proxy hooks), pointing into o; o outlives spec. 0, or 1 after
 * printing the error. */
int sandbox_opts_spec(struct sandbox_opts *o, const char *verb, Ak__V1__SandboxSpec *spec);
