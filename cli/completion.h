/* `ak completion bash|zsh|fish`: a completion script generated from the
 * command table (names, summaries, cli_command.subs) and each subcommand's
 * option tables, so it offers exactly what the parsers accept.
 *
 * What the scripts complete: commands; subcommands; a command's options
 * (long ones that take a value as `--opt=`, with no space after it); the
 * value after `--opt=` or `--opt ` as a file name; and after `--` (or a
 * positional argument) file names. */
#pragma once

#include <stddef.h>
#include <stdio.h>

#include "cli/cli.h"

extern const char cli_completion_help[];

/* Writes the script for `shell` ("bash", "zsh" or "fish") to out.
 * Returns 0, -EINVAL for another shell, or -EIO when writing failed. */
int cli_completion_write(FILE *out, const char *shell, const struct cli_command *cmds, size_t n_cmds);
