/* `--egress-allow CIDR`, `--egress-deny CIDR`, `--egress-port N` of `ak run`
 * and `ak sandbox create` into a SandboxSpec.egress. The CIDRs are checked
 * by the executor (which knows whether private ranges may be re-opened);
 * here only counts and port numbers. */
#pragma once

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "protos/ak/v1/sandbox.pb-c.h"
#include "cli/cli.h"

#define CLI_EGRESS_MAX 64
#define CLI_SECRETS_MAX 32 /* INJECT_SECRETS_MAX */

struct cli_egress {
        char *allow[CLI_EGRESS_MAX], *deny[CLI_EGRESS_MAX];
        uint32_t ports[CLI_EGRESS_MAX];
        size_t n_allow, n_deny, n_ports;
        char *secrets[CLI_SECRETS_MAX];      /* --secret NAME:HOST[:HEADER], checked */
        size_t n_secrets;
        char *secret_files[CLI_SECRETS_MAX]; /* --secret-file NAME[:PATH], checked */
        size_t n_secret_files;
        Ak__V1__Egress msg;
};

/* Help text lines for the three options. */
#define CLI_EGRESS_HELP                                                                          \
        "  --egress-deny X      the sandbox cannot reach X, a CIDR or a domain name\n"         \
        "                       (example.com, or *.example.com: names under it, not\n"         \
        "                       the apex; a denied name does not resolve, and the\n"           \
        "                       addresses it resolves to are denied too) (repeatable)\n"       \
        "  --egress-allow X     reachable even if in --egress-deny: a CIDR or a domain name\n" \
        "                       (the addresses it resolves to); private ranges only if\n"      \
        "                       ak-executor runs with --egress-allow-private; loopback,\n"     \
        "                       the host and link-local never. With --egress-deny\n"           \
        "                       0.0.0.0/0, names not allowed do not resolve (repeatable)\n"    \
        "  --egress-port N      only TCP/UDP to these destination ports (repeatable)\n"      \
        "  --secret NAME:HOST[:HEADER]  the vault's secret NAME (`ak secret set NAME` on\n"    \
        "                       the executor's node) for HOST: commands see NAME holding a\n" \
        "                       placeholder, never the value, and the sandbox trusts its\n"   \
        "                       own CA for HOST (see README, Secrets) (repeatable, 32)\n"     \
        "  --secret-file NAME[:PATH]  weaker: the value itself in the guest, in a 0400 file\n" \
        "                       of the sandbox's user at PATH (default\n"                     \
        "                       /run/agentkernel/secrets/NAME, a tmpfs) (repeatable, 32)\n"

/* Adds v (kept, not copied) as option opt ("--egress-allow", "--egress-deny"
 * or "--egress-port"): 0, or the exit code of cli_usage_error (2). */
int cli_egress_add(const struct cli_command *cmd, const char *opt, char *v, struct cli_egress *e);

/* The SandboxSpec.egress for what was given (pointing into e), or NULL
 * when no option was. */
Ak__V1__Egress *cli_egress_msg(struct cli_egress *e);

/* --secret (opt "--secret") or --secret-file: v (kept, not copied) checked
 * with secret_binding_parse / secret_file_parse and added: 0, or the exit
 * code of cli_usage_error (2). */
int cli_egress_secret_add(const struct cli_command *cmd, const char *opt, char *v, struct cli_egress *e);

/* The --secret and --secret-file bindings into spec (pointing into e). */
void cli_egress_secrets(struct cli_egress *e, Ak__V1__SandboxSpec *spec);
