/* The scripts share one shape: three lookup functions written from the
 * tables (a command's subcommands; a (command, subcommand)'s options; the
 * options that take a value) and a fixed driver per shell that calls them. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/completion.h"
#include "cli/opt.h"
#include "lib/base/version.h"

const char cli_completion_help[] =
        "Usage: ak completion bash|zsh|fish\n"
        "\n"
        "Prints a completion script for the shell, made from ak's own command and\n"
        "option tables: commands, subcommands, options (`--opt=` for the ones that\n"
        "take a value) and file names for values and after `--`.\n"
        "\n"
        "Examples:\n"
        "  source <(ak completion bash)                      # this bash session\n"
        "  ak completion bash > ~/.local/share/bash-completion/completions/ak\n"
        "  ak completion zsh > \"${fpath[1]}/_ak\"             # after compinit\n"
        "  ak completion fish > ~/.config/fish/completions/ak.fish\n";

/* The argument as one single-quoted shell word. */
static void put_quoted(FILE *out, const char *s)
{
        fputc('\'', out);
        for (; *s; s++)
                if (*s == '\'')
                        fputs("'\\''", out);
                else
                        fputc(*s, out);
        fputc('\'', out);
}

/* Space-separated: every option of s (valued long ones as --opt= when eq),
 * or with only_valued the valued ones as typed (--opt and -o). */
static void put_options(FILE *out, const struct cli_sub *s, bool eq, bool only_valued)
{
        const char *sep = "";
        for (const struct cli_option *const *t = s->tables; t && *t; t++)
                for (const struct cli_option *o = *t; o->name || o->short_name; o++) {
                        if (only_valued && !o->has_arg)
                                continue;
                        if (o->name) {
                                fprintf(out, "%s--%s%s", sep, o->name, eq && o->has_arg ? "=" : "");
                                sep = " ";
                        }
                        if (o->short_name) {
                                fprintf(out, "%s-%c", sep, o->short_name);
                                sep = " ";
                        }
                }
}

static bool has_named_subs(const struct cli_command *c)
{
        return c->subs && c->subs[0].name && c->subs[0].name[0];
}

/* `case` arms for bash and zsh (both accept `(pattern)`): what = 0 for the
 * subcommands of $1, 1 for the options of "$1/$2", 2 for the valued ones. */
static void put_case(FILE *out, const char *fn, int what, const struct cli_command *cmds, size_t n)
{
        fprintf(out, "%s() {\n        case %s in\n", fn, what == 0 ? "$1" : "\"$1/$2\"");
        for (size_t i = 0; i < n; i++) {
                const struct cli_command *c = &cmds[i];
                if (!c->subs)
                        continue;
                if (what == 0) {
                        if (!has_named_subs(c))
                                continue;
                        fprintf(out, "        (%s) echo '", c->name);
                        for (const struct cli_sub *s = c->subs; s->name; s++)
                                fprintf(out, "%s%s", s == c->subs ? "" : " ", s->name);
                        fputs("' ;;\n", out);
                        continue;
                }
                for (const struct cli_sub *s = c->subs; s->name; s++) {
                        if (!s->tables)
                                continue;
                        fprintf(out, "        (%s/%s) echo '", c->name, s->name);
                        put_options(out, s, what == 1, what == 2);
                        fputs("' ;;\n", out);
                }
        }
        fputs("        esac\n}\n", out);
}

static void put_lookups(FILE *out, const struct cli_command *cmds, size_t n)
{
        put_case(out, "_ak_subs", 0, cmds, n);
        put_case(out, "_ak_opts", 1, cmds, n);
        put_case(out, "_ak_valued", 2, cmds, n);
}

static const char bash_driver[] =
        "_ak() {\n"
        "        local line=${COMP_LINE:0:COMP_POINT} cur verb sub= subs i n start=2\n"
        "        local -a w\n"
        "        read -ra w <<<\"$line\"\n"
        "        [[ -z $line || $line == *[[:space:]] ]] && w+=(\"\")\n"
        "        n=${#w[@]}\n"
        "        cur=${w[n-1]}\n"
        "        COMPREPLY=()\n"
        "        if ((n <= 2)); then\n"
        "                COMPREPLY=($(compgen -W \"$_ak_commands\" -- \"$cur\"))\n"
        "                return 0\n"
        "        fi\n"
        "        verb=${w[1]}\n"
        "        subs=$(_ak_subs \"$verb\")\n"
        "        if [[ -n $subs ]]; then\n"
        "                if ((n == 3)); then\n"
        "                        COMPREPLY=($(compgen -W \"$subs\" -- \"$cur\"))\n"
        "                        return 0\n"
        "                fi\n"
        "                sub=${w[2]}\n"
        "                start=3\n"
        "        fi\n"
        "        for ((i = start; i < n - 1; i++)); do\n"
        "                if [[ ${w[i]} == -- ]]; then\n"
        "                        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
        "                        return 0\n"
        "                fi\n"
        "        done\n"
        "        if ((n - 1 > start)) && [[ \" $(_ak_valued \"$verb\" \"$sub\") \" == *\" ${w[n-2]} \"* ]]; then\n"
        "                COMPREPLY=($(compgen -f -- \"$cur\"))\n"
        "                return 0\n"
        "        fi\n"
        "        case $cur in\n"
        "        --*=*)\n"
        "                # bash splits words at '=' (COMP_WORDBREAKS): reply with the value only\n"
        "                if [[ $COMP_WORDBREAKS == *=* ]]; then\n"
        "                        COMPREPLY=($(compgen -f -- \"${cur#*=}\"))\n"
        "                else\n"
        "                        COMPREPLY=($(compgen -f -P \"${cur%%=*}=\" -- \"${cur#*=}\"))\n"
        "                fi\n"
        "                ;;\n"
        "        -*)\n"
        "                COMPREPLY=($(compgen -W \"$(_ak_opts \"$verb\" \"$sub\")\" -- \"$cur\"))\n"
        "                if ((${#COMPREPLY[@]} == 1)) && [[ ${COMPREPLY[0]} == *= ]]; then\n"
        "                        compopt -o nospace 2>/dev/null\n"
        "                fi\n"
        "                ;;\n"
        "        *) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
        "        esac\n"
        "        return 0\n"
        "}\n"
        "complete -F _ak ak\n";

static void write_bash(FILE *out, const struct cli_command *cmds, size_t n)
{
        fputs("# bash completion for ak " AK_VERSION ", generated by `ak completion bash`.\n"
              "# Load it with: source <(ak completion bash)\n",
              out);
        fputs("_ak_commands='", out);
        for (size_t i = 0; i < n; i++)
                fprintf(out, "%s%s", i ? " " : "", cmds[i].name);
        fputs("'\n", out);
        put_lookups(out, cmds, n);
        fputs(bash_driver, out);
}

static const char zsh_driver[] =
        "_ak() {\n"
        "        local verb=${words[2]} sub= cur=${words[CURRENT]} i start=3\n"
        "        local -a subs opts eq plain\n"
        "        if (( CURRENT == 2 )); then\n"
        "                _describe -t commands 'ak command' _ak_commands\n"
        "                return\n"
        "        fi\n"
        "        subs=(${=$(_ak_subs $verb)})\n"
        "        if (( ${#subs} )); then\n"
        "                if (( CURRENT == 3 )); then\n"
        "                        compadd -a subs\n"
        "                        return\n"
        "                fi\n"
        "                sub=${words[3]}\n"
        "                start=4\n"
        "        fi\n"
        "        for (( i = start; i < CURRENT; i++ )); do\n"
        "                if [[ ${words[i]} == -- ]]; then\n"
        "                        _files\n"
        "                        return\n"
        "                fi\n"
        "        done\n"
        "        if (( CURRENT > start )) && [[ \" $(_ak_valued $verb $sub) \" == *\" ${words[CURRENT-1]} \"* ]]; then\n"
        "                _files\n"
        "                return\n"
        "        fi\n"
        "        case $cur in\n"
        "        (--*=*) compset -P '*='; _files ;;\n"
        "        (-*)\n"
        "                opts=(${=$(_ak_opts $verb $sub)})\n"
        "                eq=(${(M)opts:#*=})\n"
        "                plain=(${opts:#*=})\n"
        "                compadd -S '' -a eq\n"
        "                compadd -a plain\n"
        "                ;;\n"
        "        (*) _files ;;\n"
        "        esac\n"
        "}\n"
        "if (( $+functions[compdef] )); then\n"
        "        compdef _ak ak\n"
        "fi\n";

static void write_zsh(FILE *out, const struct cli_command *cmds, size_t n)
{
        fputs("#compdef ak\n"
              "# zsh completion for ak " AK_VERSION ", generated by `ak completion zsh`.\n"
              "# Load it after compinit with: source <(ak completion zsh)\n"
              "_ak_commands=(\n",
              out);
        for (size_t i = 0; i < n; i++) {
                char entry[256];
                snprintf(entry, sizeof(entry), "%s:%s", cmds[i].name, cmds[i].summary);
                fputs("        ", out);
                put_quoted(out, entry);
                fputc('\n', out);
        }
        fputs(")\n", out);
        put_lookups(out, cmds, n);
        fputs(zsh_driver, out);
}

static const char fish_helpers[] =
        "function __ak_at --description 'is the command line at ak VERB [SUB]'\n"
        "        set -l t (commandline -opc)\n"
        "        test (count $t) -ge 2; and test \"$t[2]\" = \"$argv[1]\"; or return 1\n"
        "        if set -q argv[2]\n"
        "                test (count $t) -ge 3; and test \"$t[3]\" = \"$argv[2]\"\n"
        "        end\n"
        "end\n"
        "function __ak_need_sub --description 'is the next word VERB\\'s subcommand'\n"
        "        set -l t (commandline -opc)\n"
        "        test (count $t) -eq 2; and test \"$t[2]\" = \"$argv[1]\"\n"
        "end\n";

static void write_fish_options(FILE *out, const struct cli_command *c, const struct cli_sub *s)
{
        for (const struct cli_option *const *t = s->tables; t && *t; t++)
                for (const struct cli_option *o = *t; o->name || o->short_name; o++) {
                        fprintf(out, "complete -c ak -n '__ak_at %s%s%s'", c->name, s->name[0] ? " " : "",
                                s->name);
                        if (o->name)
                                fprintf(out, " -l %s", o->name);
                        if (o->short_name)
                                fprintf(out, " -s %c", o->short_name);
                        fputs(o->has_arg ? " -r -F\n" : "\n", out);
                }
}

static void write_fish(FILE *out, const struct cli_command *cmds, size_t n)
{
        fputs("# fish completion for ak " AK_VERSION ", generated by `ak completion fish`.\n"
              "# Load it with: ak completion fish | source\n",
              out);
        fputs(fish_helpers, out);
        for (size_t i = 0; i < n; i++) {
                const struct cli_command *c = &cmds[i];
                fprintf(out, "complete -c ak -f -n 'test (count (commandline -opc)) -eq 1' -a %s -d ", c->name);
                put_quoted(out, c->summary);
                fputc('\n', out);
                if (!c->subs)
                        continue;
                for (const struct cli_sub *s = c->subs; s->name; s++) {
                        if (s->name[0])
                                fprintf(out, "complete -c ak -f -n '__ak_need_sub %s' -a %s\n", c->name, s->name);
                        write_fish_options(out, c, s);
                }
        }
}

int cli_completion_write(FILE *out, const char *shell, const struct cli_command *cmds, size_t n_cmds)
{
        if (strcmp(shell, "bash") == 0)
                write_bash(out, cmds, n_cmds);
        else if (strcmp(shell, "zsh") == 0)
                write_zsh(out, cmds, n_cmds);
        else if (strcmp(shell, "fish") == 0)
                write_fish(out, cmds, n_cmds);
        else
                return -EINVAL;
        return ferror(out) ? -EIO : 0;
}
