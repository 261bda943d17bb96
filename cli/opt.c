#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/opt.h"

void cli_opts_init(struct cli_opts *p, const struct cli_command *cmd, const struct cli_option *const *tables,
                   int argc, char **argv)
{
        memset(p, 0, sizeof(*p));
        p->cmd = cmd;
        p->tables = tables;
        p->argc = argc;
        p->argv = argv;
        p->i = 1;
}

static const struct cli_option *find_long(const struct cli_opts *p, const char *name, size_t len)
{
        for (const struct cli_option *const *t = p->tables; *t; t++)
                for (const struct cli_option *o = *t; o->name || o->short_name; o++)
                        if (o->name && strlen(o->name) == len && strncmp(o->name, name, len) == 0)
                                return o;
        return NULL;
}

static const struct cli_option *find_short(const struct cli_opts *p, char c)
{
        for (const struct cli_option *const *t = p->tables; *t; t++)
                for (const struct cli_option *o = *t; o->name || o->short_name; o++)
                        if (o->short_name == c)
                                return o;
        return NULL;
}

static int next_long(struct cli_opts *p, const char *a)
{
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        snprintf(p->spelled, sizeof(p->spelled), "--%.*s", (int)(len > 60 ? 60 : len), name);
        const struct cli_option *o = find_long(p, name, len);
        if (!o) {
                cli_usage_error(p->cmd, "unknown option %s", p->spelled);
                return CLI_OPT_ERROR;
        }
        if (!o->has_arg) {
                if (eq) {
                        cli_usage_error(p->cmd, "option %s takes no value (given %s)", p->spelled, a);
                        return CLI_OPT_ERROR;
                }
                return o->id;
        }
        if (eq) {
                p->arg = eq + 1;
        } else if (p->i < p->argc) {
                p->arg = p->argv[p->i++];
        } else {
                cli_usage_error(p->cmd, "option %s needs a value (%s VALUE or %s=VALUE)", p->spelled, p->spelled,
                                p->spelled);
                return CLI_OPT_ERROR;
        }
        return o->id;
}

static int next_short(struct cli_opts *p)
{
        char c = *p->bundle++;
        snprintf(p->spelled, sizeof(p->spelled), "-%c", c);
        const struct cli_option *o = find_short(p, c);
        if (!o) {
                cli_usage_error(p->cmd, "unknown option %s", p->spelled);
                return CLI_OPT_ERROR;
        }
        if (o->has_arg) {
                if (*p->bundle) {
                        p->arg = p->bundle;         /* -wDIR, -kwDIR */
                } else if (p->i < p->argc) {
                        p->arg = p->argv[p->i++];
                } else {
                        cli_usage_error(p->cmd, "option %s needs a value", p->spelled);
                        return CLI_OPT_ERROR;
                }
                p->bundle = NULL;
        } else if (!*p->bundle) {
                p->bundle = NULL;
        }
        return o->id;
}

int cli_opts_next(struct cli_opts *p)
{
        p->arg = NULL;
        if (p->bundle)
                return next_short(p);
        if (p->dashdash || p->i >= p->argc)
                return CLI_OPT_DONE;
        const char *a = p->argv[p->i++];
        if (strcmp(a, "--") == 0) {
                p->dashdash = true;
                return CLI_OPT_DONE;
        }
        if (a[0] == '-' && a[1] == '-')
                return next_long(p, a);
        if (a[0] == '-' && a[1]) {
                p->bundle = a + 1;
                return next_short(p);
        }
        p->arg = a;
        return CLI_OPT_POSITIONAL;
}

int cli_opts_index(const struct cli_opts *p)
{
        if (p->dashdash || !p->arg || p->i == 0 || p->argv[p->i - 1] != p->arg)
                return p->i;
        return p->i - 1;
}

int cli_opts_bad_value(const struct cli_opts *p, const char *fmt, ...)
{
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return cli_usage_error(p->cmd, "%s %s: %s", p->spelled, p->arg ? p->arg : "", msg);
}
