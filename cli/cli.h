/* The `ak` command table and helpers shared by its commands. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct ak_error;
struct cli_option;

/* What a command parses, for `ak completion` (completion.c) to generate
 * from: each subcommand and the option tables it hands to cli_opts_init,
 * so completions cannot drift from the parsers. */
struct cli_sub {
        const char *name;                       /* "" for the command itself */
        const struct cli_option *const *tables; /* NULL-terminated; NULL: none */
};

struct cli_command {
        const char *name;
        const char *summary;                 /* one line for `ak --help` */
        int (*run)(int argc, char **argv);   /* argv[0] is the command's name */
        const char *help;                    /* usage, options and examples */
        const struct cli_sub *subs;          /* ends with a NULL name; NULL: no options */
};

/* Prints "ak NAME: <message>" and the command's usage line to stderr;
 * returns 2 (the exit code for bad usage). */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* The last cli_usage_error's message in this thread ("" if none), for
 * callers that report it again (as --json's error object). */
const char *cli_usage_error_text(void);

/* `ak audit` (cmd_audit.c). */
int cli_audit_run(int argc, char **argv);
extern const char cli_audit_help[];
extern const struct cli_sub cli_audit_subs[];

/* `ak receipt` (cmd_receipt.c). */
int cli_receipt_run(int argc, char **argv);
extern const char cli_receipt_help[];
extern const struct cli_sub cli_receipt_subs[];

/* `ak vm` (cmd_vm.c). */
int cli_vm_run(int argc, char **argv);
extern const char cli_vm_help[];
extern const struct cli_sub cli_vm_subs[];

/* `ak image` (cmd_image.c). */
int cli_image_run(int argc, char **argv);
extern const char cli_image_help[];
extern const struct cli_sub cli_image_subs[];
/* `ak image pull` (cmd_image_pull.c); cmd is `ak image` for usage errors. */
int cli_image_pull(const struct cli_command *cmd, int argc, char **argv);
/* $AK_HOME/images and its OCI layout cache $AK_HOME/images/oci (PATH_MAX each). */
int cli_image_store_dirs(char *ret_store, char *ret_layout, struct ak_error *err);
/* `ak image push` (cmd_image_push.c). */
int cli_image_push(const struct cli_command *cmd, int argc, char **argv);
extern const struct cli_option *const cli_image_push_tables[];
extern const struct cli_option *const cli_image_pull_tables[];
/* `ak image kernel` (cmd_image_kernel.c): the store's guest kernel. */
int cli_image_kernel(const struct cli_command *cmd, int argc, char **argv);
extern const struct cli_option *const cli_image_kernel_tables[];

/* `ak up`, `ak down`, `ak status` (cmd_stack.c). */
int cli_up_run(int argc, char **argv);
int cli_down_run(int argc, char **argv);
int cli_status_run(int argc, char **argv);
extern const char cli_up_help[], cli_down_help[], cli_status_help[];
extern const struct cli_sub cli_up_subs[], cli_status_subs[];

/* `ak run`, `ak exec` (cmd_run.c). */
int cli_run_run(int argc, char **argv);
int cli_exec_run(int argc, char **argv);
extern const char cli_run_help[], cli_exec_help[];
extern const struct cli_sub cli_run_subs[], cli_exec_subs[];

/* `ak shell` (cmd_shell.c). */
int cli_shell_run(int argc, char **argv);
extern const char cli_shell_help[];
extern const struct cli_sub cli_shell_subs[];

/* `ak init` (cmd_init.c). */
int cli_init_run(int argc, char **argv);
extern const char cli_init_help[];
extern const struct cli_sub cli_init_subs[];

/* `ak snapshot` (cmd_snapshot.c). */
int cli_snapshot_run(int argc, char **argv);
extern const char cli_snapshot_help[];
extern const struct cli_sub cli_snapshot_subs[];

/* `ak sandbox` (cmd_sandbox.c). */
int cli_sandbox_run(int argc, char **argv);
/* cmd_detached.c: `ak sandbox exec-list|exec-logs|exec-kill` (argv[0] is the
 * subcommand) and `ak exec -d`, which prints the new command's id. */
int cli_sandbox_detached(int argc, char **argv);
int cli_exec_detached(const char *name, char **argv, size_t argc, char **env, size_t n_env, const char *workdir,
                      bool sudo, bool json);
extern const char cli_sandbox_help[];
extern const struct cli_sub cli_sandbox_subs[];
/* cmd_detached.c: the options of exec-logs, for cli_sandbox_subs. */
extern const struct cli_option *const cli_exec_logs_tables[];

/* `ak secret` (cmd_secret.c). */
int cli_secret_run(int argc, char **argv);
extern const char cli_secret_help[];
extern const struct cli_sub cli_secret_subs[];

/* `ak mcp-server`, `ak mcp install` (cmd_mcp.c). */
int cli_mcp_server_run(int argc, char **argv);
int cli_mcp_run(int argc, char **argv);
extern const char cli_mcp_server_help[], cli_mcp_help[];
extern const struct cli_sub cli_mcp_subs[];
