/* `ak mcp-server`: agentkernel's MCP tools over stdio; `ak mcp install`:
 * the MCP clients' config entries that start it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opt.h"
#include "cli/mcp/install.h"
#include "cli/mcp/server.h"
#include "cli/mcp/tools.h"
#include "lib/base/fs.h"
#include "lib/base/io.h"
#include "lib/base/version.h"

const char cli_mcp_server_help[] =
        "Usage: ak mcp-server\n"
        "\n"
        "Serves agentkernel's MCP tools (sandbox_run, sandbox_create, sandbox_exec,\n"
        "sandbox_list, sandbox_remove, sandbox_file_write, sandbox_file_read,\n"
        "sandbox_write_files, sandbox_start, sandbox_stop) over stdio: JSON-RPC 2.0,\n"
        "one message per line, MCP protocol versions 2024-11-05 to 2025-11-25.\n"
        "stdout carries only protocol messages; anything else goes to stderr.\n"
        "Tools reach the scheduler as every ak verb does: AK_SCHEDULER and AK_TOKEN,\n"
        "or the local stack (started by the first tool call when none runs).\n"
        "MCP clients start it themselves; `ak mcp install CLIENT` configures one.\n"
        "\n"
        "Examples:\n"
        "  ak mcp install claude\n"
        "  echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}' | ak mcp-server\n";

int cli_mcp_server_run(int argc, char **argv)
{
        static const struct cli_command self = { "mcp-server", "", cli_mcp_server_run, cli_mcp_server_help };
        struct mcp_tools *tools = NULL;
        struct mcp_server *srv = NULL;
        struct ak_error err = { 0 };
        int r;

        if (argc > 1)
                return cli_usage_error(&self, "unexpected argument %s", argv[1]);
        /* The protocol gets a private copy of stdout; fd 1 becomes stderr,
         * so nothing else printed (by us or a library) reaches the client. */
        int out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        if (out < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
                perror("ak mcp-server: stdout");
                return 1;
        }
        signal(SIGPIPE, SIG_IGN);
        if (mcp_tools_new(&tools) < 0) {
                fputs("ak mcp-server: out of memory\n", stderr);
                return 1;
        }
        struct mcp_server_config c = { .tools = mcp_tools_table, .n_tools = mcp_tools_count, .ctx = tools,
                                       .name = "ak", .version = AK_VERSION };
        if (mcp_server_new(&c, &srv) < 0) {
                mcp_tools_free(tools);
                fputs("ak mcp-server: out of memory\n", stderr);
                return 1;
        }
        fprintf(stderr, "ak mcp-server %s: serving on stdio\n", AK_VERSION);
        r = mcp_server_serve(srv, STDIN_FILENO, out, &err);
        if (r < 0)
                fprintf(stderr, "ak mcp-server: %s\n", err.msg);
        mcp_server_free(srv);
        mcp_tools_free(tools);
        close(out);
        return r < 0 ? 1 : 0;
}

const char cli_mcp_help[] =
        "Usage: ak mcp install claude|codex|gemini|opencode [--project] [--name NAME] [--print]\n"
        "\n"
        "Adds an entry that starts `ak mcp-server` to the MCP client's config, keeping\n"
        "every other entry: Claude Code ~/.claude.json (--project: ./.mcp.json),\n"
        "Codex ~/.codex/config.toml ($CODEX_HOME), Gemini ~/.gemini/settings.json\n"
        "(--project: ./.gemini/settings.json), OpenCode ~/.config/opencode/opencode.json\n"
        "(--project: ./opencode.json). AK_HOME, AK_SCHEDULER and AK_TLS_* set here go\n"
        "into the entry's environment; AK_TOKEN never does.\n"
        "\n"
        "  --project    the project's config in this directory, not the user's\n"
        "  --name NAME  the entry's name (default agentkernel, as agentkernel's own)\n"
        "  --print      print the file's new content instead of writing it\n"
        "\n"
        "Examples:\n"
        "  ak mcp install claude\n"
        "  ak mcp install codex --print\n";

static int write_config(const char *path, const char *data, size_t len)
{
        char tmp[PATH_MAX + 16], dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                int r = ak_mkdir_p(dir, 0755, false);
                if (r < 0)
                        return r;
        }
        snprintf(tmp, sizeof(tmp), "%s.ak-tmp", path);
        struct stat st;
        mode_t mode = stat(path, &st) == 0 ? st.st_mode & 07777 : 0600;
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        int r = ak_write_full(fd, data, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        close(fd);
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

static const struct cli_option install_opts[] = {
        { "project", 0, false, 'p' },
        { "print", 0, false, 'P' },
        { "name", 0, true, 'n' },
        { NULL, 0, false, 0 },
};
static const struct cli_option *const install_tables[] = { install_opts, NULL };
const struct cli_sub cli_mcp_subs[] = { { "install", install_tables }, { NULL, NULL } };

int cli_mcp_run(int argc, char **argv)
{
        static const struct cli_command self = { "mcp", "", cli_mcp_run, cli_mcp_help };
        struct mcp_install o = { .name = "agentkernel" };
        bool print = false, have_client = false;
        char ak[PATH_MAX], cwd[PATH_MAX], path[PATH_MAX];

        if (argc < 2 || strcmp(argv[1], "install") != 0)
                return cli_usage_error(&self, "want `ak mcp install CLIENT`");
        const struct cli_option *const *tables = install_tables;
        struct cli_opts p;
        int id;
        cli_opts_init(&p, &self, tables, argc - 1, argv + 1);
        while ((id = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (id == CLI_OPT_ERROR)
                        return 2;
                if (id == 'p')
                        o.project = true;
                else if (id == 'P')
                        print = true;
                else if (id == 'n')
                        o.name = p.arg;
                else if (!have_client && mcp_client_parse(p.arg, &o.client) == 0)
                        have_client = true;
                else
                        return cli_usage_error(&self, "unexpected %s (clients: claude, codex, gemini, opencode)",
                                               p.arg);
        }
        if (!have_client)
                return cli_usage_error(&self, "which client? claude, codex, gemini or opencode");
        ssize_t n = readlink("/proc/self/exe", ak, sizeof(ak) - 1);
        if (n <= 0 || !getcwd(cwd, sizeof(cwd))) {
                fprintf(stderr, "ak mcp install: cannot find ak's own path or the working directory: %s\n",
                        strerror(errno));
                return 1;
        }
        ak[n] = 0;
        o.ak = ak;
        o.cwd = cwd;
        o.home = getenv("HOME");
        if (!o.home || !*o.home) {
                fprintf(stderr, "ak mcp install: HOME is not set\n");
                return 1;
        }
        struct ak_error err = { 0 };
        char *content = NULL;
        size_t len = 0;
        if (mcp_install_plan(&o, path, sizeof(path), &content, &len, &err) < 0) {
                fprintf(stderr, "ak mcp install: %s\n", err.msg);
                return 1;
        }
        if (print) {
                fprintf(stderr, "ak mcp install: would write %s:\n", path);
                fwrite(content, 1, len, stdout);
                free(content);
                return 0;
        }
        int r = write_config(path, content, len);
        free(content);
        if (r < 0) {
                fprintf(stderr, "ak mcp install: write %s: %s\n", path, strerror(-r));
                return 1;
        }
        printf("ak: %s now starts `%s mcp-server` as MCP server \"%s\"\n", path, ak, o.name);
        return 0;
}
