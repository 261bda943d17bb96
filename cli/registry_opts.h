/* The registry options `ak image pull` and `ak image push` share:
 * --authfile FILE, --ca-file FILE, --insecure-registry HOST[:PORT]... */
#pragma once

#include "cli/cli.h"
#include "cli/opt.h"
#include "vmm/image/oci/pull.h"

#define CLI_REGISTRY_MAX_INSECURE 16

/* Their rows for a verb's option tables (ids 'a', 'c', 'i'). */
extern const struct cli_option cli_registry_options[];

/* What they set; insecure backs o.insecure (set by cli_registry_init). */
struct cli_registry {
        struct oci_pull_options o;
        const char *insecure[CLI_REGISTRY_MAX_INSECURE];
};

void cli_registry_init(struct cli_registry *r);

/* Takes option id (with its value in p->arg) when it is one of
 * cli_registry_options. Returns 0 when taken, -1 when id is not one of
 * them, or the usage exit code (the error printed, naming verb). */
int cli_registry_flag(struct cli_registry *r, const struct cli_opts *p, const char *verb, int id);
