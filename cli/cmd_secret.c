/* `ak secret`: the vault on this machine (lib/vault), for secrets that are
 * injected at a sandbox's network boundary and never enter it. Values come
 * in on stdin or from a file, never from the command line (where `ps` and
 * shell history would show them), and go out only with get --reveal. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opt.h"
#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "lib/base/pathfmt.h"
#include "lib/vault/vault.h"

const char cli_secret_help[] =
        "Usage: ak secret set NAME [--from-file FILE]\n"
        "       ak secret get NAME [--reveal]\n"
        "       ak secret list\n"
        "       ak secret rm NAME            (also: delete)\n"
        "   any of them with --mounted DIR to read a mounted Kubernetes Secret,\n"
        "   and with --tenant T for tenant T's own vault\n"
        "\n"
        "The vault holds API keys and tokens that sandboxes use without seeing them:\n"
        "a sandbox started with --secret NAME:HOST gets a placeholder, and the host's\n"
        "egress proxy swaps in the real value on requests to HOST only.\n"
        "\n"
        "set reads the value from stdin (or FILE), up to 64 KiB, dropping one trailing\n"
        "newline; it is never taken from the command line, where ps and shell history\n"
        "would keep it. Setting an existing NAME replaces its value (rotation): new\n"
        "requests use the new one. NAME is an environment variable name\n"
        "([A-Za-z_][A-Za-z0-9_]*, at most 64 characters).\n"
        "\n"
        "get says whether NAME is set and how long its value is; only --reveal\n"
        "prints the value itself (to stdout, exactly as stored).\n"
        "\n"
        "Values live in $AK_HOME/secrets (AK_HOME defaults to ~/.agentkernel), one\n"
        "NAME.sealed file each, encrypted with AES-256-GCM under vault.key (0600,\n"
        "made on the first set). Anyone who can read both files as you can read\n"
        "the values: the vault protects against copies of the files and the\n"
        "sandboxes, not against your own account. On a fleet the executors read a\n"
        "Kubernetes Secret mounted as a directory (one file per NAME) instead:\n"
        "--mounted DIR lists and reads such a directory; it is read-only here.\n"
        "\n"
        "Each tenant has a vault of its own, and a sandbox binds only its tenant's\n"
        "secrets: the default tenant's is the vault's directory, tenant T's is its\n"
        "tenants/T (on a fleet, mount T's Secret at DIR/tenants/T of the executors'\n"
        "--secrets-dir DIR). --tenant T picks that vault here.\n"
        "\n"
        "Exit status: 0 done, 1 failed (no such secret, unreadable vault), 2 bad usage.\n"
        "\n"
        "Examples:\n"
        "  ak secret set OPENAI_API_KEY            # paste the key (not shown), Enter, Ctrl-D\n"
        "  ak secret set GITHUB_TOKEN --from-file ~/.config/gh-token\n"
        "  printf %s \"$TOKEN\" | ak secret set NPM_TOKEN\n"
        "  ak secret list\n"
        "  ak secret get OPENAI_API_KEY --reveal | wc -c\n"
        "  ak secret rm NPM_TOKEN\n";

static const struct cli_command cmd = {
        "secret", "store API keys that sandboxes use without seeing", cli_secret_run, cli_secret_help,
};

struct secret_args {
        const char *verb, *name, *from_file, *mounted, *tenant;
        bool reveal;
};

/* One table for every subcommand: the checks below say which one an
 * option belongs to ("--reveal is for get"). */
static const struct cli_option secret_opts[] = {
        { "from-file", 0, true, 'f' },
        { "mounted", 0, true, 'm' },
        { "reveal", 0, false, 'r' },
        { "tenant", 0, true, 't' },
        { NULL, 0, false, 0 },
};
static const struct cli_option *const secret_tables[] = { secret_opts, NULL };
const struct cli_sub cli_secret_subs[] = {
        { "set", secret_tables }, { "get", secret_tables }, { "list", secret_tables },
        { "rm", secret_tables },  { "delete", secret_tables }, { NULL, NULL },
};

/* The executor's rule for tenant names (its tenant_check). */
static bool tenant_name_ok(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 63)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
                        return false;
        }
        return true;
}

static int one_name(struct secret_args *a, const char *arg)
{
        if (a->name)
                return cli_usage_error(&cmd, "one NAME at a time (the value is read from stdin or "
                                       "--from-file, never from the command line)");
        a->name = arg;
        return 0;
}

static int parse_args(int argc, char **argv, struct secret_args *a)
{
        if (argc < 2)
                return cli_usage_error(&cmd, "which one: set, get, list or rm?");
        a->verb = argv[1];
        struct cli_opts p;
        int c, r;
        cli_opts_init(&p, &cmd, secret_tables, argc - 1, argv + 1);
        while ((c = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (c == CLI_OPT_ERROR)
                        return 2;
                if (c == CLI_OPT_POSITIONAL && (r = one_name(a, p.arg)) != 0)
                        return r;
                if (c == 'f')
                        a->from_file = p.arg;
                else if (c == 'm')
                        a->mounted = p.arg;
                else if (c == 'r')
                        a->reveal = true;
                else if (c == 't')
                        a->tenant = p.arg;
        }
        for (int i = p.dashdash ? cli_opts_index(&p) + 1 : argc; i < argc; i++)
                if ((r = one_name(a, argv[i])) != 0)
                        return r;
        bool named = strcmp(a->verb, "list") != 0;
        if (named && !a->name)
                return cli_usage_error(&cmd, "%s needs a NAME", a->verb);
        if (!named && a->name)
                return cli_usage_error(&cmd, "list takes no NAME");
        if (a->from_file && strcmp(a->verb, "set") != 0)
                return cli_usage_error(&cmd, "--from-file is for set");
        if (a->reveal && strcmp(a->verb, "get") != 0)
                return cli_usage_error(&cmd, "--reveal is for get");
        if (a->tenant && !tenant_name_ok(a->tenant))
                return cli_usage_error(&cmd, "--tenant %.80s: a tenant name is 1-63 letters, digits, '.', '_' or "
                                       "'-', starting with a letter or digit", a->tenant);
        return 0;
}

/* The value from path or stdin (path NULL), at most VAULT_VALUE_MAX bytes
 * after dropping one trailing newline. Prints its own error. */
static int read_value(const char *path, uint8_t **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = -1;
        const char *what = path ? path : "stdin";
        struct termios tio;
        bool echo_off = false;
        uint8_t *buf;
        ssize_t n;

        if (path) {
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        fprintf(stderr, "ak secret set: open %s: %s\n", path, strerror(errno));
                        return -errno;
                }
        } else if (tcgetattr(STDIN_FILENO, &tio) == 0) {
                /* a terminal: do not show what is typed or pasted */
                struct termios quiet = tio;
                quiet.c_lflag &= ~(tcflag_t)ECHO;
                echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
                fprintf(stderr, "Value (not shown; then Enter and Ctrl-D): ");
        }
        buf = malloc(VAULT_VALUE_MAX + 3);
        n = buf ? ak_read_full(path ? fd : STDIN_FILENO, buf, VAULT_VALUE_MAX + 3) : -ENOMEM;
        if (echo_off) {
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio);
                fputc('\n', stderr);
        }
        if (!buf)
                return -ENOMEM;
        if (n >= 1 && buf[n - 1] == '\n') {
                n--;
                if (n >= 1 && buf[n - 1] == '\r')
                        n--;
        }
        if (n < 0 || n == 0 || n > VAULT_VALUE_MAX) {
                if (n < 0)
                        fprintf(stderr, "ak secret set: read %s: %s\n", what, strerror((int)-n));
                else
                        fprintf(stderr, "ak secret set: the value from %s is %s: it must be 1 to %d bytes\n",
                                what, n == 0 ? "empty" : "too long", VAULT_VALUE_MAX);
                vault_value_free(buf, VAULT_VALUE_MAX + 2);
                return n < 0 ? (int)n : -EINVAL;
        }
        *ret = buf;
        *ret_len = (size_t)n;
        return 0;
}

static int open_vault(const struct secret_args *a, struct vault **ret, struct ak_error *err)
{
        char dir[PATH_MAX];
        int r;

        if (a->mounted)
                r = pathfmt(dir, sizeof(dir), "%s", a->mounted);
        else if ((r = vault_default_dir(dir)) < 0)
                return ak_error_errno(err, r, "find the vault ($AK_HOME/secrets): set AK_HOME or HOME");
        if (r < 0)
                return ak_error_set(err, r, "--mounted: the path is too long");
        if (a->tenant) {
                if (!a->mounted) {
                        /* The default vault's directory first (made private, as
                         * a first set makes it), then its tenants/. */
                        if ((r = vault_open_sealed(dir, ret, err)) < 0)
                                return r;
                        vault_free(*ret);
                        *ret = NULL;
                }
                size_t n = strlen(dir);
                if (pathfmt(dir + n, sizeof(dir) - n, "/tenants") < 0)
                        return ak_error_set(err, -ENAMETOOLONG, "the vault's path is too long");
                if (!a->mounted && mkdir(dir, 0700) < 0 && errno != EEXIST)
                        return ak_error_errno(err, -errno, "mkdir %s", dir);
                n = strlen(dir);
                if (pathfmt(dir + n, sizeof(dir) - n, "/%s", a->tenant) < 0)
                        return ak_error_set(err, -ENAMETOOLONG, "the vault's path is too long");
        }
        return a->mounted ? vault_open_mounted(dir, ret, err) : vault_open_sealed(dir, ret, err);
}

static int do_set(struct vault *v, const struct secret_args *a, struct ak_error *err)
{
        uint8_t *value = NULL;
        size_t len = 0;
        int r;

        r = vault_name_check(a->name, err);
        if (r < 0)
                return r;
        r = read_value(a->from_file, &value, &len);
        if (r < 0)
                return ak_error_set(err, r, "nothing stored");
        r = vault_set(v, a->name, value, len, err);
        vault_value_free(value, VAULT_VALUE_MAX + 2);
        if (r == 0)
                fprintf(stderr, "secret %s set (%zu bytes)\n", a->name, len);
        return r;
}

static int do_get(struct vault *v, const struct secret_args *a, struct ak_error *err)
{
        uint8_t *value = NULL;
        size_t len = 0;
        int r = vault_get(v, a->name, &value, &len, err);

        if (r < 0)
                return r;
        if (a->reveal) {
                r = ak_write_full(STDOUT_FILENO, value, len);
                if (r < 0)
                        ak_error_errno(err, r, "write secret %s to stdout", a->name);
        } else {
                printf("%s: set, %zu bytes (ak secret get %s --reveal prints the value)\n", a->name, len,
                       a->name);
        }
        vault_value_free(value, len);
        return r;
}

static int do_list(struct vault *v, struct ak_error *err)
{
        char **names = NULL;
        size_t n = 0;
        int r = vault_list(v, &names, &n, err);

        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                printf("%s\n", names[i]);
        if (n == 0)
                fprintf(stderr, "no secrets (ak secret set NAME adds one)\n");
        vault_names_free(names);
        return 0;
}

int cli_secret_run(int argc, char **argv)
{
        struct secret_args a = { 0 };
        struct ak_error err = { 0 };
        struct vault *v = NULL;
        int r;

        /* no core dumps of this process, and no ptrace by other processes of
         * this user while it holds a value */
        (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        r = parse_args(argc, argv, &a);
        if (r)
                return r;
        if (strcmp(a.verb, "delete") == 0)
                a.verb = "rm";
        if (strcmp(a.verb, "set") && strcmp(a.verb, "get") && strcmp(a.verb, "list") && strcmp(a.verb, "rm"))
                return cli_usage_error(&cmd, "unknown subcommand '%s'", a.verb);
        r = open_vault(&a, &v, &err);
        if (r == 0) {
                if (strcmp(a.verb, "set") == 0)
                        r = do_set(v, &a, &err);
                else if (strcmp(a.verb, "get") == 0)
                        r = do_get(v, &a, &err);
                else if (strcmp(a.verb, "list") == 0)
                        r = do_list(v, &err);
                else
                        r = vault_remove(v, a.name, &err);
        }
        vault_free(v);
        if (r < 0) {
                fprintf(stderr, "ak secret %s: %s\n", a.verb, err.msg);
                return r == -EINVAL && strcmp(a.verb, "set") != 0 ? 2 : 1;
        }
        if (strcmp(a.verb, "rm") == 0)
                fprintf(stderr, "secret %s removed\n", a.name);
        return 0;
}
