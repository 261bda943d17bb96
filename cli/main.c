/* ak: the user's tool. `ak COMMAND [ARGS]`; each command is a row of the
 * table below with its own --help. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/completion.h"
#include "cli/opt.h"
#include "lib/base/trace.h"
#include "lib/base/version.h"

static int cmd_version(int argc, char **argv);
static const struct cli_option version_opts[] = { { "json", 0, false, 'j' }, { NULL, 0, false, 0 } };
static const struct cli_option *const version_tables[] = { version_opts, NULL };
static const struct cli_sub version_subs[] = { { "", version_tables }, { NULL, NULL } };
static int cmd_help(int argc, char **argv);
static int cmd_completion(int argc, char **argv);
static const struct cli_sub completion_subs[] = { { "bash", NULL }, { "zsh", NULL }, { "fish", NULL }, { NULL, NULL } };

static const struct cli_command commands[] = {
        { "version", "print ak's version", cmd_version,
          "Usage: ak version [--json]\n"
          "\n"
          "Prints ak's version and the agentkernel release it is compatible with.\n"
          "\n"
          "Examples:\n"
          "  ak version\n"
          "  ak version --json | jq -r .version\n",
          version_subs },
        { "run", "run a command once in a fresh microVM", cli_run_run, cli_run_help, cli_run_subs },
        { "exec", "run a command in an existing sandbox", cli_exec_run, cli_exec_help, cli_exec_subs },
        { "shell", "an interactive terminal in a sandbox", cli_shell_run, cli_shell_help, cli_shell_subs },
        { "attach", "the same as shell (agentkernel's name)", cli_shell_run, cli_shell_help, cli_shell_subs },
        { "init", "write an agentkernel.toml for this project", cli_init_run, cli_init_help, cli_init_subs },
        { "sandbox", "create, list, copy files to and remove sandboxes", cli_sandbox_run, cli_sandbox_help, cli_sandbox_subs },
        { "snapshot", "save a sandbox's disk as an image; list, restore, remove", cli_snapshot_run,
          cli_snapshot_help, cli_snapshot_subs },
        { "up", "start the local stack (scheduler, executor, signer, auditor)", cli_up_run, cli_up_help, cli_up_subs },
        { "down", "stop the local stack", cli_down_run, cli_down_help },
        { "status", "show the local stack's health", cli_status_run, cli_status_help, cli_status_subs },
        { "secret", "store API keys that sandboxes use without seeing", cli_secret_run, cli_secret_help, cli_secret_subs },
        { "audit", "emit audit events and follow the audit log", cli_audit_run, cli_audit_help, cli_audit_subs },
        { "receipt", "verify, show and replay execution receipts", cli_receipt_run, cli_receipt_help, cli_receipt_subs },
        { "vm", "boot, list and stop microVMs", cli_vm_run, cli_vm_help, cli_vm_subs },
        { "image", "build, list and remove guest images", cli_image_run, cli_image_help, cli_image_subs },
        { "mcp-server", "serve agentkernel's MCP tools on stdio", cli_mcp_server_run, cli_mcp_server_help },
        { "mcp", "add ak's MCP server to Claude Code, Codex, Gemini or OpenCode", cli_mcp_run, cli_mcp_help, cli_mcp_subs },
        { "completion", "print a shell completion script (bash, zsh or fish)", cmd_completion,
          cli_completion_help, completion_subs },
        { "help", "show help for a command", cmd_help,
          "Usage: ak help [COMMAND]\n"
          "\n"
          "Examples:\n"
          "  ak help\n"
          "  ak help version\n" },
};

static const size_t n_commands = sizeof(commands) / sizeof(commands[0]);

static void usage(FILE *out)
{
        fprintf(out,
                "ak " AK_VERSION ": run AI coding agents and untrusted commands in isolated microVMs.\n"
                "\n"
                "Usage: ak COMMAND [ARGS...]\n"
                "\n"
                "Commands:\n");
        for (size_t i = 0; i < n_commands; i++)
                fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
        fprintf(out,
                "\n"
                "Run `ak COMMAND --help` for a command's options and examples.\n"
                "\n"
                "Examples:\n"
                "  ak run -- uname -a\n"
                "  ak sandbox create dev && ak exec dev -- ls /\n"
                "  ak help run\n");
}

static const struct cli_command *find(const char *name)
{
        for (size_t i = 0; i < n_commands; i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

static int cmd_version(int argc, char **argv)
{
        bool json = false;
        struct cli_opts p;
        int id;
        cli_opts_init(&p, find("version"), version_tables, argc, argv);
        while ((id = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (id == CLI_OPT_ERROR)
                        return 2;
                if (id == CLI_OPT_POSITIONAL)
                        return cli_usage_error(find("version"), "unexpected %s", p.arg);
                json = true;
        }
        if (json)
                printf("{\"version\":\"%s\",\"agentkernel_compat\":\"%s\"}\n", AK_VERSION,
                       AK_AGENTKERNEL_COMPAT);
        else
                printf("ak %s (compatible with agentkernel %s)\n", AK_VERSION, AK_AGENTKERNEL_COMPAT);
        return 0;
}

static int cmd_completion(int argc, char **argv)
{
        const struct cli_command *self = find("completion");
        if (argc != 2)
                return cli_usage_error(self, "want one shell: bash, zsh or fish");
        int r = cli_completion_write(stdout, argv[1], commands, n_commands);
        if (r == -EINVAL)
                return cli_usage_error(self, "unknown shell '%s': bash, zsh or fish", argv[1]);
        if (r < 0 || fflush(stdout) != 0) {
                fprintf(stderr, "ak completion: writing the script to stdout failed: %s\n", strerror(errno));
                return 1;
        }
        return 0;
}

static int cmd_help(int argc, char **argv)
{
        if (argc < 2) {
                usage(stdout);
                return 0;
        }
        const struct cli_command *c = find(argv[1]);
        if (!c) {
                fprintf(stderr, "ak: unknown command '%s'. Run `ak --help` for the list.\n", argv[1]);
                return 2;
        }
        fputs(c->help, stdout);
        return 0;
}

/* One request id for every call this ak makes (lib/base/trace.h):
 * $AK_REQUEST_ID when set (checked), else a fresh one; $TRACEPARENT (the
 * W3C environment carrier) goes with it when valid. */
static int trace_setup(void)
{
        char id[AK_REQUEST_ID_MAX + 1];
        const char *want = getenv("AK_REQUEST_ID"), *tp = getenv("TRACEPARENT");
        if (want && *want) {
                if (!ak_request_id_valid(want, strlen(want))) {
                        fprintf(stderr, "ak: AK_REQUEST_ID '%.64s' is not a request id: use 1 to %d of "
                                        "A-Z a-z 0-9 . _ : -\n", want, AK_REQUEST_ID_MAX);
                        return -EINVAL;
                }
                snprintf(id, sizeof(id), "%s", want);
        } else if (ak_request_id_new(id) < 0) {
                return 0;   /* no id: the scheduler makes one */
        }
        if (tp && *tp && !ak_traceparent_valid(tp, strlen(tp))) {
                fprintf(stderr, "ak: TRACEPARENT '%.64s' is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>, "
                                "lowercase, ids not all zero); not sent\n", tp);
                tp = NULL;
        }
        return ak_trace_set_default(id, tp);
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        const char *name = argv[1];
        if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
                usage(stdout);
                return 0;
        }
        if (strcmp(name, "--version") == 0)
                name = "version";
        const struct cli_command *c = find(name);
        if (!c) {
                fprintf(stderr, "ak: unknown command '%s'. Run `ak --help` for the list.\n", name);
                return 2;
        }
        for (int i = 2; i < argc; i++) {
                if (strcmp(argv[i], "--") == 0)
                        break;
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                        fputs(c->help, stdout);
                        return 0;
                }
        }
        if (trace_setup() < 0)
                return 2;
        return c->run(argc - 1, argv + 1);
}
