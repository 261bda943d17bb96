/* The one option parser of every `ak` verb (table-driven, getopt_long's
 * spellings): `--opt=value` and `--opt value`, `-k` and bundles (`-kw DIR`,
 * `-wDIR`), `--` ends the options, and errors that name the bad option and
 * the verb's --help (through cli_usage_error, exit code 2).
 *
 * Options and positional arguments may mix; a verb that takes a command
 * (ak run CMD...) stops at its first positional argument and takes the rest
 * as is (cli_opts_index). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "cli/cli.h"

struct cli_option {
        const char *name;   /* long name without "--", or NULL */
        char short_name;    /* 0 for none */
        bool has_arg;
        int id;             /* > 0: what cli_opts_next returns for it */
};
/* Tables end with an entry whose name is NULL and short_name 0. */

#define CLI_OPT_DONE 0         /* no more options: the end, or after "--" */
#define CLI_OPT_POSITIONAL (-1) /* a non-option argument, in p->arg */
#define CLI_OPT_ERROR (-2)      /* reported on stderr; the verb returns 2 */

struct cli_opts {
        const struct cli_command *cmd;
        const struct cli_option *const *tables; /* NULL-terminated */
        int argc;
        char **argv;
        int i;              /* the next argv index to look at */
        const char *bundle; /* what is left of a group of short options */
        bool dashdash;      /* CLI_OPT_DONE came from "--" */
        const char *arg;    /* the option's value, or the positional argument */
        char spelled[64];   /* the option as typed, for messages: "--ttl", "-k" */
};

void cli_opts_init(struct cli_opts *p, const struct cli_command *cmd, const struct cli_option *const *tables,
                   int argc, char **argv);

/* The next option's id, CLI_OPT_POSITIONAL, CLI_OPT_DONE or CLI_OPT_ERROR
 * (unknown option, missing value, value given to a flag). */
int cli_opts_next(struct cli_opts *p);

/* The index in argv of what comes next: after CLI_OPT_DONE the first
 * argument after "--" (or argc); after CLI_OPT_POSITIONAL that argument. */
int cli_opts_index(const struct cli_opts *p);

/* cli_usage_error prefixed with the option as typed and its value:
 * "--ttl 5x: want ...". Returns 2. */
int cli_opts_bad_value(const struct cli_opts *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
