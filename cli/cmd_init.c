/* `ak init [--template NAME]`: an agentkernel.toml for this directory, from
 * one of a few templates in agentkernel's format whose images ak can build
 * offline from Debian packages (`ak image build`). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "cli/opt.h"
#include "lib/base/io.h"

struct template {
        const char *name, *summary, *image_hint, *body; /* body: after [sandbox] name */
};

static const struct template templates[] = {
        { "base", "busybox only, moderate profile", NULL,
          "runtime = \"base\"\n"
          "\n[resources]\nvcpus = 1\nmemory_mb = 512\n"
          "\n[security]\nprofile = \"moderate\"\n" },
        { "python", "Python 3 with pip's index reachable",
          "ak image build python --packages python3,python3-pip",
          "base_image = \"python\"\n"
          "\n[resources]\nvcpus = 1\nmemory_mb = 512\n"
          "\n[security]\nprofile = \"moderate\"\n"
          "\n[security.domains]\nallow = [\"pypi.org\", \"files.pythonhosted.org\"]\n"
          "\n[env]\nPYTHONUNBUFFERED = \"1\"\n" },
        { "node", "Node.js and npm with the npm registry reachable",
          "ak image build node --packages nodejs,npm",
          "base_image = \"node\"\n"
          "\n[resources]\nvcpus = 1\nmemory_mb = 1024\n"
          "\n[security]\nprofile = \"moderate\"\n"
          "\n[security.domains]\nallow = [\"registry.npmjs.org\"]\n"
          "\n[env]\nNODE_ENV = \"development\"\n" },
        { "go", "Go toolchain with the module proxy reachable",
          "ak image build go --packages golang-go,ca-certificates,git",
          "base_image = \"go\"\n"
          "\n[resources]\nvcpus = 2\nmemory_mb = 2048\n"
          "\n[security]\nprofile = \"moderate\"\n"
          "\n[security.domains]\nallow = [\"proxy.golang.org\", \"sum.golang.org\"]\n"
          "\n[env]\nGOFLAGS = \"-mod=mod\"\nCGO_ENABLED = \"0\"\n" },
        { "rust", "rustc and cargo with crates.io reachable",
          "ak image build rust --packages rustc,cargo,ca-certificates",
          "base_image = \"rust\"\n"
          "\n[resources]\nvcpus = 2\nmemory_mb = 2048\n"
          "\n[security]\nprofile = \"moderate\"\n"
          "\n[security.domains]\nallow = [\"crates.io\", \"index.crates.io\", \"static.crates.io\"]\n"
          "\n[env]\nCARGO_TERM_COLOR = \"never\"\n" },
        { "secure", "no network, restrictive profile, small VM", NULL,
          "runtime = \"base\"\n"
          "\n[resources]\nvcpus = 1\nmemory_mb = 256\n"
          "\n[security]\nprofile = \"restrictive\"\nnetwork = false\n" },
};
#define N_TEMPLATES (sizeof(templates) / sizeof(templates[0]))

const char cli_init_help[] =
        "Usage: ak init [--template NAME] [--name N] [--force] [--list] [-c FILE]\n"
        "\n"
        "Writes ./agentkernel.toml (or FILE) in agentkernel's format, which `ak run`,\n"
        "`ak sandbox create` and `ak shell` read from the working directory. Refuses\n"
        "to replace an existing file without --force.\n"
        "\n"
        "  -t, --template NAME  base (default), python, node, go, rust or secure\n"
        "  --name N             [sandbox] name (default: this directory's name)\n"
        "  --force              replace an existing file\n"
        "  --list               list the templates and how to build their images\n"
        "  -c, --config FILE    write FILE instead\n"
        "\n"
        "The python, node, go and rust templates name local images built from\n"
        "Debian packages (`ak init --list` prints the `ak image build` line for each).\n"
        "\n"
        "Examples:\n"
        "  ak init --template python && ak image build python --packages python3,python3-pip\n"
        "  ak init -t secure --name scratch && ak run -- uname -a\n";

static const struct cli_command cmd = { "init", "", cli_init_run, cli_init_help };

/* This directory's name as a sandbox name: [a-z0-9_.-], starting alphanumeric. */
static void default_name(const char *fallback, char *out, size_t size)
{
        char cwd[PATH_MAX];
        size_t n = 0;
        const char *base = getcwd(cwd, sizeof(cwd)) ? strrchr(cwd, '/') : NULL;
        for (const char *p = base ? base + 1 : ""; *p && n + 1 < size && n < 62; p++) {
                char c = (char)tolower((unsigned char)*p);
                if (isalnum((unsigned char)c) || (n && (c == '-' || c == '_' || c == '.')))
                        out[n++] = c;
        }
        out[n] = 0;
        if (!n)
                snprintf(out, size, "%s", fallback);
}

static bool name_ok(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 63 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
                return false;
        for (const char *p = s; *p; p++)
                if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && !strchr("_.-", *p))
                        return false;
        return true;
}

static int list(void)
{
        for (size_t i = 0; i < N_TEMPLATES; i++) {
                printf("%-8s %s\n", templates[i].name, templates[i].summary);
                if (templates[i].image_hint)
                        printf("         image: %s\n", templates[i].image_hint);
        }
        return 0;
}

static int write_file(const char *path, const char *text, bool force)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0644);
        if (fd < 0) {
                if (errno == EEXIST)
                        fprintf(stderr, "ak init: %s exists; --force replaces it\n", path);
                else
                        fprintf(stderr, "ak init: create %s: %s\n", path, strerror(errno));
                return 1;
        }
        int r = ak_write_full(fd, text, strlen(text));
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r < 0) {
                fprintf(stderr, "ak init: write %s: %s\n", path, strerror(-r));
                return 1;
        }
        return 0;
}

enum { I_TEMPLATE = 1, I_NAME, I_FORCE, I_LIST, I_CONFIG };
static const struct cli_option init_opts[] = {
        { "template", 't', true, I_TEMPLATE }, { "name", 0, true, I_NAME },
        { "force", 'f', false, I_FORCE },      { "list", 0, false, I_LIST },
        { "config", 'c', true, I_CONFIG },     { NULL, 0, false, 0 },
};
static const struct cli_option *const init_tables[] = { init_opts, NULL };
const struct cli_sub cli_init_subs[] = { { "", init_tables }, { NULL, NULL } };

int cli_init_run(int argc, char **argv)
{
        static const struct cli_option *const *const tables = init_tables;
        const char *tname = "base", *name = NULL, *path = CONFIG_FILE_NAME;
        bool force = false;
        struct cli_opts p;
        int id;
        cli_opts_init(&p, &cmd, tables, argc, argv);
        while ((id = cli_opts_next(&p)) != CLI_OPT_DONE) {
                switch (id) {
                case CLI_OPT_ERROR: return 2;
                case CLI_OPT_POSITIONAL: return cli_usage_error(&cmd, "unexpected %s", p.arg);
                case I_TEMPLATE: tname = p.arg; break;
                case I_NAME: name = p.arg; break;
                case I_FORCE: force = true; break;
                case I_LIST: return list();
                case I_CONFIG: path = p.arg; break;
                }
        }
        const struct template *t = NULL;
        for (size_t i = 0; i < N_TEMPLATES; i++)
                if (strcmp(templates[i].name, tname) == 0)
                        t = &templates[i];
        if (!t)
                return cli_usage_error(&cmd, "--template %s: want base, python, node, go, rust or secure", tname);
        char def[64];
        if (!name) {
                default_name(t->name, def, sizeof(def));
                name = def;
        }
        if (!name_ok(name))
                return cli_usage_error(&cmd, "--name %s: want [a-z0-9][a-z0-9_.-]{0,62}", name);
        char *text = NULL;
        if (asprintf(&text, "# agentkernel.toml (ak init --template %s)%s%s\n\n[sandbox]\nname = \"%s\"\n%s",
                     t->name, t->image_hint ? "\n# image: " : "", t->image_hint ? t->image_hint : "", name,
                     t->body) < 0)
                return 1;
        int r = write_file(path, text, force);
        free(text);
        if (r == 0)
                fprintf(stderr, "ak init: wrote %s (template %s)%s%s\n", path, t->name,
                        t->image_hint ? "; build its image with: " : "", t->image_hint ? t->image_hint : "");
        return r;
}
