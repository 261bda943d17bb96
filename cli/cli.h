/* The `ak` command table and helpers shared by its commands. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct ak_error;

struct cli_command {
        const char *name;
        const char *summary;                 /* one line for `ak --help` */
        int (*run)(int argc, char **argv);   /* argv[0] is the command's name */
        const char *help;                    /* usage, options and examples */
};

/* Prints "ak NAME: <message>" and the command's usage line to stderr;
 * returns 2 (the exit code for bad usage). */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* `ak audit` (cmd_audit.c). */
int cli_audit_run(int argc, char **argv);
extern const char cli_audit_help[];

/* `ak receipt` (cmd_receipt.c). */
int cli_receipt_run(int argc, char **argv);
extern const char cli_receipt_help[];

/* `ak vm` (cmd_vm.c). */
int cli_vm_run(int argc, char **argv);
extern const char cli_vm_help[];

/* `ak image` (cmd_image.c). */
int cli_image_run(int argc, char **argv);
extern const char cli_image_help[];
/* `ak image pull` (cmd_image_pull.c); cmd is `ak image` for usage errors. */
int cli_image_pull(const struct cli_command *cmd, int argc, char **argv);
/* $AK_HOME/images and its OCI layout cache $AK_HOME/images/oci (PATH_MAX each). */
int cli_image_store_dirs(char *ret_store, char *ret_layout, struct ak_error *err);
/* `ak image push` (cmd_image_push.c). */
int cli_image_push(const struct cli_command *cmd, int argc, char **argv);

/* `ak up`, `ak down`, `ak status` (cmd_stack.c). */
int cli_up_run(int argc, char **argv);
int cli_down_run(int argc, char **argv);
int cli_status_run(int argc, char **argv);
extern const char cli_up_help[], cli_down_help[], cli_status_help[];

/* `ak run`, `ak exec` (cmd_run.c). */
int cli_run_run(int argc, char **argv);
int cli_exec_run(int argc, char **argv);
extern const char cli_run_help[], cli_exec_help[];

/* `ak shell` (cmd_shell.c). */
int cli_shell_run(int argc, char **argv);
extern const char cli_shell_help[];

/* `ak init` (cmd_init.c). */
int cli_init_run(int argc, char **argv);
extern const char cli_init_help[];

/* `ak snapshot` (cmd_snapshot.c). */
int cli_snapshot_run(int argc, char **argv);
extern const char cli_snapshot_help[];

/* `ak sandbox` (cmd_sandbox.c). */
int cli_sandbox_run(int argc, char **argv);
/* cmd_detached.c: `ak sandbox exec-list|exec-logs|exec-kill` (argv[0] is the
 * subcommand) and `ak exec -d`, which prints the new command's id. */
int cli_sandbox_detached(int argc, char **argv);
int cli_exec_detached(const char *name, char **argv, size_t argc, char **env, size_t n_env, const char *workdir,
                      bool sudo);
extern const char cli_sandbox_help[];

/* `ak secret` (cmd_secret.c). */
int cli_secret_run(int argc, char **argv);
extern const char cli_secret_help[];

/* `ak mcp-server`, `ak mcp install` (cmd_mcp.c). */
int cli_mcp_server_run(int argc, char **argv);
int cli_mcp_run(int argc, char **argv);
extern const char cli_mcp_server_help[], cli_mcp_help[];
