/* `ak shell NAME`: an interactive PTY shell in a sandbox (the session
 * itself is pty_session.c's). */
#include <string.h>

#include "cli/cli.h"
#include "cli/opt.h"
#include "cli/pty_session.h"
#include "cli/sandbox_opts.h"
#include "protos/ak/v1/scheduler.pb-c.h"

#define SHELL_MAX_ENV 256

const char cli_shell_help[] =
        "Usage: ak shell [NAME] [-e K=V|NAME]... [--env-file F] [-c FILE] [-- CMD [ARGS...]]\n"
        "       ak attach ...   (agentkernel's name for the same)\n"
        "\n"
        "Opens an interactive terminal in the sandbox NAME (default /bin/sh; CMD\n"
        "instead when given). NAME defaults to agentkernel.toml's [sandbox] name\n"
        "(./agentkernel.toml or -c FILE), whose [env] the shell gets under -e. The window size follows yours. ak exits with the\n"
        "shell's exit code. With stdin not a terminal, its bytes are typed into the\n"
        "shell and end-of-file sends ^D.\n"
        "\n"
        "Examples:\n"
        "  ak sandbox create dev && ak shell dev\n"
        "  ak shell dev -e TERM=xterm -- /bin/sh -l\n"
        "  printf 'uname -a\\nexit 3\\n' | ak shell dev; echo $?\n";

static const struct cli_command cmd = { "shell", "", cli_shell_run, cli_shell_help };
static const struct cli_command cmd_attach = { "attach", "", cli_shell_run, cli_shell_help };

/* NAME (or agentkernel.toml's [sandbox] name), -e, --env-file, -c; the
 * command after "--" or NAME. Fills req's sandbox, env and argv (pointing
 * into so and argv). */
static const struct cli_option shell_opts[] = {
        { "env", 'e', true, SO_ENV },
        { "env-file", 0, true, SO_ENV_FILE },
        { "config", 'c', true, SO_CONFIG },
        { NULL, 0, false, 0 },
};
static const struct cli_option *const shell_tables[] = { shell_opts, NULL };
const struct cli_sub cli_shell_subs[] = { { "", shell_tables }, { NULL, NULL } };

static int shell_parse(int argc, char **argv, struct sandbox_opts *so, const char **ret_name,
                       Ak__V1__OpenShellRequest *req)
{
        static const struct cli_option *const *const tables = shell_tables;
        const struct cli_command *c = strcmp(argv[0], "attach") == 0 ? &cmd_attach : &cmd;
        const char *name = NULL;
        struct cli_opts p;
        int id;
        sandbox_opts_init(so);
        cli_opts_init(&p, c, tables, argc, argv);
        while ((id = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (id == CLI_OPT_ERROR)
                        return 2;
                if (id == CLI_OPT_POSITIONAL) {
                        if (name)
                                return cli_usage_error(c, "unexpected %s (the command goes after --)", p.arg);
                        name = p.arg;
                        continue;
                }
                int r = sandbox_opts_flag(so, &p, id);
                if (r)
                        return r;
        }
        int i = cli_opts_index(&p);
        if (sandbox_opts_layers(so, c->name))
                return 2;
        if (!name && !(name = sandbox_opts_config_name(so)))
                return cli_usage_error(c, "which sandbox? give its NAME (or [sandbox] name in %s)",
                                       CONFIG_FILE_NAME);
        if (so->merged_env.n > SHELL_MAX_ENV)
                return cli_usage_error(c, "at most %d environment variables", SHELL_MAX_ENV);
        *ret_name = name;
        req->env = so->merged_env.kv;
        req->n_env = so->merged_env.n;
        req->argv = argv + i;
        req->n_argv = (size_t)(argc - i);
        return 0;
}

int cli_shell_run(int argc, char **argv)
{
        Ak__V1__OpenShellRequest req = AK__V1__OPEN_SHELL_REQUEST__INIT;
        struct sandbox_opts so;
        const char *name = NULL;
        int r = shell_parse(argc, argv, &so, &name, &req);
        if (r == 0) {
                req.sandbox = (char *)name;
                r = pty_session_run(strcmp(argv[0], "attach") == 0 ? "attach" : "shell", &req, true, NULL);
        }
        sandbox_opts_free(&so);
        return r;
}
