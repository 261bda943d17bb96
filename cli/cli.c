#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_usage_error[512];

const char *cli_usage_error_text(void)
{
        return last_usage_error;
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
        va_list ap;
        fprintf(stderr, "ak %s: ", cmd->name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        va_start(ap, fmt);
        vsnprintf(last_usage_error, sizeof(last_usage_error), fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        /* The help's first line is its usage. */
        const char *nl = strchr(cmd->help, '\n');
        fprintf(stderr, "%.*s\nRun `ak %s --help` for more.\n",
                nl ? (int)(nl - cmd->help) : (int)strlen(cmd->help), cmd->help, cmd->name);
        return 2;
}
