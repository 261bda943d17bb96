/* `ak run` and `ak exec`: a command in a microVM through the scheduler, its
 * output streamed as it arrives, its exit code ours, its receipt saved. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/config_files.h"
#include "cli/copy_in.h"
#include "cli/egress.h"
#include "cli/opt.h"
#include "cli/progress.h"
#include "cli/pty_session.h"
#include "cli/run_json.h"
#include "cli/sandbox_opts.h"
#include "cli/scheduler_call.h"
#include "cli/stack.h"
#include "lib/base/parse.h"
#include "cli/stdin_feed.h"
#include "lib/base/time.h"
#include "lib/base/uuid.h"
#include "lib/receipt/receipt.h"
#include "protos/ak/v1/scheduler.pb-c.h"

#define RUN_MAX_ENV 256

extern char **environ;

/* -t for run and exec: docker's -t and -it. */
#define RUN_TTY_HELP \
        "  -t, --tty            run CMD on a pseudo-terminal in the guest (docker run -t):\n" \
        "                       its stdout and stderr come together on our stdout, the\n" \
        "                       window size follows ours (SIGWINCH), ak exits with its\n" \
        "                       exit code. With -i (-it) our stdin is typed into it and\n" \
        "                       our terminal is raw while it runs (restored on any exit;\n" \
        "                       ^C goes to CMD); -it wants a terminal on stdin, else\n" \
        "                       \"the input device is not a TTY\" (exit 2), as docker;\n" \
        "                       -t alone reads no stdin and works from scripts. The\n" \
        "                       receipt's output hash covers what the terminal got\n" \
        "                       (both streams, with the PTY's \\r\\n), so `ak receipt\n" \
        "                       replay`, which runs without a PTY, reports a mismatch\n" \
        "                       where output has newlines. -t refuses --json, --timeout, -d\n"

const char cli_run_help[] =
        "Usage: ak run [-k] [-w DIR] [--image I] [--profile P] [--no-network] [--vcpus N]\n"
        "              [--memory M] [--label K=V]... [--node-selector K=V]... [--ttl D]\n"
        "              [-e K=V|NAME]... [--env-file F] [-c FILE] [--receipt PATH]\n"
        "              [--egress-deny X]... [--egress-allow X]... [--egress-port N]...\n"
        "              [--secret NAME:HOST[:HEADER]]... [--secret-file NAME[:PATH]]...\n"
        "              [--timeout D] [-i] [-t] -- CMD [ARGS...]\n"
        "       ak run --image I [options]     (runs the image's Entrypoint + Cmd, as docker run)\n"
        "\n"
        "Runs CMD once in a fresh microVM: creates a sandbox, runs the command, removes\n"
        "the sandbox (unless --keep). Output is printed as it arrives (stdout to\n"
        "stdout, stderr to stderr) and ak exits with the command's exit code. The\n"
        "execution receipt is written to PATH or $AK_HOME/receipts/<receipt_id>.json\n"
        "(0600) and its path printed on stderr; `ak receipt verify` checks it.\n"
        "Starts the local stack (`ak up`) when none runs; with AK_SCHEDULER=ADDR it\n"
        "talks to that scheduler instead (AK_TOKEN: its bearer token).\n"
        "Options take `--opt VALUE` or `--opt=VALUE`; short ones bundle (-kw /src).\n"
        "\n"
        "  -k, --keep           leave the sandbox running (its name is printed)\n"
        "  -w, --workdir DIR    run CMD in DIR in the guest (absolute)\n"
        "  --receipt PATH       where to write the receipt\n"
        "  --timeout D          kill the command after D (90, 90s, 10m, 1h; exit code 124)\n"
        "  -i, --interactive    send our stdin to the command (else its stdin is empty);\n"
        "                       our EOF closes its stdin; any size, 1 MiB in flight at a time\n"
        RUN_TTY_HELP
        "  -q, --quiet          no progress lines on stderr (booting, pulling an image)\n"
        "  --json               the command's output (stdout and stderr, in order) goes to\n"
        "                       our stderr; stdout gets one JSON object: exit_code,\n"
        "                       receipt_id, receipt (its path), receipt_signed, duration_ms,\n"
        "                       sandbox, timed_out, truncated, output_bytes, kept; signal\n"
        "                       when one killed it (exit_code -1), error when the command\n"
        "                       could not run or was killed. Failing before it starts:\n"
        "                       {\"error\": \"...\"} and the usual exit code\n"
        "  --output-base64      --json with the output in the object instead of on\n"
        "                       stderr: stdout_base64 and stderr_base64 (each up to\n"
        "                       64 MiB kept; past that truncated is true)\n"
        SANDBOX_OPTS_HELP
        "--image I: a local image (`ak image build`, `import`, `pull`) or an OCI\n"
        "reference (python:3.12-alpine, registry:5000/team/ci@sha256:...), which the\n"
        "executor pulls when it lacks it. A bare name is only ever a local image:\n"
        "Docker Hub's python is --image python:latest (docker would pull it).\n"
        "--profile permissive copies this directory into the guest's /workspace (a\n"
        "copy, not a mount: changes stay in the VM), runs CMD there, and passes your\n"
        "environment (not PATH, HOME, LD_*, AK_*, ...).\n"
        "Egress (CIDRs and domain names; on top of the executor's rules):\n"
        CLI_EGRESS_HELP
        "\n"
        "Examples:\n"
        "  ak run -- uname -a\n"
        "  head -c 50M /dev/urandom | ak run -i -- sha256sum\n"
        "  ak run --no-network -e GREETING=hi -- sh -c 'echo $GREETING; exit 3'; echo $?\n"
        "  ak run --json -- make 2>make.log >result.json\n"
        "  ak run -it --image python -- python3\n"
        "  ak run --image python --receipt r.json -- python3 -c 'print(2+2)' && ak receipt verify r.json\n"
        "  ak run --profile=permissive --image python -- python3 -m pytest -q\n"
        "  ak run -k --vcpus 2 --memory 1g --ttl 1h --label team=ci -e HOME -- make test\n"
        "  ak run --egress-deny 0.0.0.0/0 --egress-allow 203.0.113.0/24 --egress-port 443 -- wget -qO- https://x\n"
        "  ak run --egress-deny 0.0.0.0/0 --egress-allow pypi.org --egress-allow '*.pythonhosted.org' -- pip download x\n";

const char cli_exec_help[] =
        "Usage: ak exec NAME [-e K=V|NAME]... [--env-file F] [-w DIR] [--sudo] [--receipt PATH]\n"
        "               [--timeout D] [-i] [-t] -- CMD [ARGS...]\n"
        "       ak exec -d NAME [-e K=V]... [-w DIR] [--sudo] -- CMD [ARGS...]\n"
        "\n"
        "Runs CMD in the existing sandbox NAME (see `ak sandbox create`), streaming\n"
        "its output, exiting with its exit code, saving its receipt as `ak run` does.\n"
        "\n"
        "  -e K=V, -e NAME environment (NAME alone: its value here; repeatable)\n"
        "  --env-file F    KEY=VALUE lines (# comments; NAME alone: its value here)\n"
        "  -w, --workdir D working directory in the guest\n"
        "  --sudo          run as root\n"
        "  --receipt PATH  where to write the receipt\n"
        "  --timeout D     kill the command after D (90, 90s, 10m, 1h; exit code 124)\n"
        "  -i, --interactive  send our stdin to the command (EOF closes its stdin)\n"
        RUN_TTY_HELP
        "  -d, --detach    start CMD in the background and print its id; it runs on\n"
        "                  after ak exits (`ak sandbox exec-list|exec-logs|exec-kill`);\n"
        "                  the first 8 MiB of stdout and of stderr are kept in the guest\n"
        "  -q, --quiet     no progress lines on stderr\n"
        "  --json          output to our stderr, and on stdout one JSON object as\n"
        "                  `ak run --json` prints (without kept); with -d:\n"
        "                  {\"id\": ..., \"pid\": ..., \"sandbox\": ...}; failing before the\n"
        "                  command starts: {\"error\": \"...\"}\n"
        "  --output-base64 --json with stdout_base64 and stderr_base64 in the object\n"
        "                  instead of the output on stderr (as `ak run`)\n"
        "\n"
        "Examples:\n"
        "  ak sandbox create dev && ak exec dev -- sh -c 'echo hi > /tmp/x; cat /tmp/x'\n"
        "  ak exec dev -w /tmp --sudo -- ls -la\n"
        "  ak exec -it dev -- sh -l\n"
        "  id=$(ak exec -d dev -- sh -c 'make test') && ak sandbox exec-logs dev $id --follow\n"
        "  ak exec --json dev -- make test 2>test.log >result.json\n";

static const struct cli_command cmd_run = { "run", "", cli_run_run, cli_run_help };
static const struct cli_command cmd_exec = { "exec", "", cli_exec_run, cli_exec_help };

static bool write_all(FILE *f, const uint8_t *p, size_t n)
{
        bool ok = fwrite(p, 1, n, f) == n;
        return fflush(f) == 0 && ok;
}

/* Writes rc (the result's receipt, or NULL) to receipt_path or
 * $AK_HOME/receipts/<id>.json and says where on stderr, or why there is
 * none (receipt_error); fills oc's receipt fields. */
static void save_receipt(const char *verb, const Ak__V1__Receipt *rc, const char *receipt_error,
                         const char *receipt_path, struct run_outcome *oc)
{
        char path[PATH_MAX];
        if (!(rc && rc->json && *rc->json)) {
                fprintf(stderr, "ak: no receipt%s%s\n", receipt_error && *receipt_error ? ": " : "",
                        receipt_error ? receipt_error : "");
                return;
        }
        if (receipt_path) {
                snprintf(path, sizeof(path), "%s", receipt_path);
        } else {
                struct stack st;
                struct ak_error e = { 0 };
                stack_paths(&st, &e);
                snprintf(path, sizeof(path), "%s/receipts/%s.json", st.home,
                         rc->receipt_id && *rc->receipt_id ? rc->receipt_id : "receipt");
        }
        int r = receipt_write_private_file(path, rc->json, strlen(rc->json));
        if (r < 0) {
                fprintf(stderr, "ak %s: could not write the receipt to %s: %s\n", verb, path, strerror(-r));
                return;
        }
        snprintf(oc->receipt_path, sizeof(oc->receipt_path), "%s", path);
        snprintf(oc->receipt_id, sizeof(oc->receipt_id), "%s", rc->receipt_id ? rc->receipt_id : "");
        oc->receipt_signed = rc->signature != NULL;
        if (rc->signature)
                fprintf(stderr, "ak: receipt: %s\n", path);
        else
                fprintf(stderr, "ak: receipt: %s (unsigned: %s)\n", path,
                        receipt_error && *receipt_error ? receipt_error : "no signer");
}

/* Saves the receipt and reports it; returns the exit code to use. */
static int finish(const char *verb, const Ak__V1__ExecResult *res, const char *receipt_path, struct run_outcome *oc)
{
        oc->have_result = true;
        oc->exit_code = res->exit_code;
        oc->timed_out = res->timed_out;
        oc->signal = res->signal;
        oc->truncated = oc->truncated || res->truncated; /* or --output-base64's cut */
        oc->duration_ms = res->duration_ms;
        oc->output_bytes = res->output_bytes;
        snprintf(oc->sandbox, sizeof(oc->sandbox), "%s", res->sandbox ? res->sandbox : "");
        snprintf(oc->error, sizeof(oc->error), "%s", res->error ? res->error : "");

        save_receipt(verb, res->receipt, res->receipt_error, receipt_path, oc);
        if (res->truncated)
                fprintf(stderr, "ak %s: output was truncated at the limit\n", verb);
        if (res->timed_out) {
                fprintf(stderr, "ak %s: the command timed out and was killed\n", verb);
                return 124;
        }
        if (res->error && *res->error) {
                fprintf(stderr, "ak %s: %s\n", verb, res->error);
                return res->exit_code > 0 ? res->exit_code : 125;
        }
        if (res->exit_code < 0)
                return 125;
        return res->exit_code > 255 ? 255 : res->exit_code;
}

/* Prints "ak VERB: msg" on stderr and keeps msg for --json's error; 125. */
static int fail(struct run_outcome *oc, const char *verb, const char *msg)
{
        fprintf(stderr, "ak %s: %s\n", verb, msg);
        snprintf(oc->error, sizeof(oc->error), "%.*s", (int)sizeof(oc->error) - 1, msg);
        return 125;
}

/* Streams a Run or Exec call to our stdout/stderr (json: both to stderr);
 * fills *oc; returns the exit code. */
static int stream(const char *verb, const char *method, const ProtobufCMessage *req, const char *receipt_path,
                  bool keep_note, bool json, struct run_outcome *oc)
{
        struct stdin_feed *feed = NULL;
        struct rpc_channel *ch = NULL;
        struct rpc_call_options o;
        struct rpc_stream *s = NULL;
        struct ak_error err = { 0 };
        int code = 125;

        if (stack_client(true, &ch, &o, &err) < 0)
                return fail(oc, verb, err.msg);
        if (rpc_stream_open(ch, &ak__v1__scheduler__descriptor, method, req, &o, &s, &err) != RPC_OK) {
                rpc_channel_free(ch);
                return fail(oc, verb, err.msg);
        }
        bool got_result = false;
        struct cli_progress_ticker w = { .started = false };
        if (strcmp(method, "Run") == 0)
                cli_progress_ticker_start(&w, "run", "starting the sandbox (booting a microVM)");
        for (;;) {
                Ak__V1__OutputChunk *c = NULL;
                int r = rpc_stream_next(s, (ProtobufCMessage **)&c, &err);
                cli_progress_ticker_stop(&w);
                if (r == 0)
                        break;
                if (r < 0) {
                        code = fail(oc, verb, err.msg);
                        got_result = false;
                        break;
                }
                switch (c->kind_case) {
                case AK__V1__OUTPUT_CHUNK__KIND_STDOUT:
                        if (!oc->capture || run_outcome_capture(oc, false, c->stdout.data, c->stdout.len) < 0)
                                write_all(json ? stderr : stdout, c->stdout.data, c->stdout.len);
                        break;
                case AK__V1__OUTPUT_CHUNK__KIND_STDERR:
                        if (!oc->capture || run_outcome_capture(oc, true, c->stderr.data, c->stderr.len) < 0)
                                write_all(stderr, c->stderr.data, c->stderr.len);
                        break;
                case AK__V1__OUTPUT_CHUNK__KIND_QUEUED:
                        fprintf(stderr, "ak %s: waiting for capacity: position %u of %u in the scheduler's queue\n",
                                verb, c->queued->position, c->queued->waiting);
                        break;
                case AK__V1__OUTPUT_CHUNK__KIND_STDIN_READY:
                        if (!feed && c->stdin_ready->sandbox && c->stdin_ready->stream_id) {
                                int fr = stdin_feed_start(ch, &o, STDIN_FILENO, verb, c->stdin_ready->sandbox,
                                                          c->stdin_ready->stream_id, &feed);
                                if (fr < 0)
                                        fprintf(stderr, "ak %s: cannot send stdin: %s (the command's stdin "
                                                "stays open and empty)\n", verb, strerror(-fr));
                        }
                        break;
                case AK__V1__OUTPUT_CHUNK__KIND_RESULT:
                        if (!got_result) {
                                got_result = true;
                                if (keep_note && c->result->sandbox && *c->result->sandbox)
                                        fprintf(stderr, "ak: kept sandbox %s (`ak sandbox remove %s`)\n",
                                                c->result->sandbox, c->result->sandbox);
                                code = finish(verb, c->result, receipt_path, oc);
                        }
                        break;
                default:
                        break;
                }
                protobuf_c_message_free_unpacked(&c->base, NULL);
        }
        stdin_feed_stop(feed, got_result);
        if (!got_result && code != 125)
                code = 125;
        if (!got_result && err.msg[0] == 0)
                fail(oc, verb, "the stream ended without a result");
        rpc_stream_free(s);
        rpc_channel_free(ch);
        return code;
}

struct opts {
        const char *receipt, *workdir, *name;
        bool keep, sudo, detach, interactive, json, tty;
        struct run_outcome oc;        /* --json's result */
        unsigned timeout_s;
        struct envlist exec_env;      /* exec's -e / --env-file */
        struct sandbox_opts sb;       /* run's sandbox */
        char **argv;
        int argc;
};

enum { O_KEEP = 1, O_RECEIPT, O_TIMEOUT, O_WORKDIR, O_SUDO, O_DETACH, O_ENV, O_ENV_FILE, O_INTERACTIVE, O_QUIET, O_JSON,
       O_TTY, O_OUTPUT_B64 };

/* What run and exec both take. */
static const struct cli_option common_options[] = {
        { "receipt", 0, true, O_RECEIPT },
        { "timeout", 0, true, O_TIMEOUT },
        { "workdir", 'w', true, O_WORKDIR },
        { "interactive", 'i', false, O_INTERACTIVE },
        { "tty", 't', false, O_TTY },
        { "quiet", 'q', false, O_QUIET },
        { "json", 0, false, O_JSON },
        { "output-base64", 0, false, O_OUTPUT_B64 },
        { NULL, 0, false, 0 },
};

static const struct cli_option run_options[] = {
        { "keep", 'k', false, O_KEEP },
        { NULL, 0, false, 0 },
};

static const struct cli_option exec_options[] = {
        { "sudo", 0, false, O_SUDO },
        { "detach", 'd', false, O_DETACH },
        { "env", 'e', true, O_ENV },
        { "env-file", 0, true, O_ENV_FILE },
        { NULL, 0, false, 0 },
};

static const struct cli_option *const run_tables[] = { run_options, common_options, sandbox_options, NULL };
static const struct cli_option *const exec_tables[] = { exec_options, common_options, NULL };
const struct cli_sub cli_run_subs[] = { { "", run_tables }, { NULL, NULL } };
const struct cli_sub cli_exec_subs[] = { { "", exec_tables }, { NULL, NULL } };

static int verb_flag(struct opts *o, const struct cli_opts *p, int id)
{
        struct ak_error err = { 0 };
        uint64_t v;
        switch (id) {
        case O_KEEP: o->keep = true; return 0;
        case O_RECEIPT: o->receipt = p->arg; return 0;
        case O_WORKDIR:
                if (p->arg[0] != '/')
                        return cli_opts_bad_value(p, "want an absolute guest path");
                o->workdir = p->arg;
                return 0;
        case O_SUDO: o->sudo = true; return 0;
        case O_DETACH: o->detach = true; return 0;
        case O_INTERACTIVE: o->interactive = true; return 0;
        case O_TTY: o->tty = true; return 0;
        case O_QUIET: cli_progress_set_quiet(true); return 0;
        case O_JSON: o->json = true; return 0;
        case O_OUTPUT_B64: o->json = o->oc.capture = true; return 0;
        case O_TIMEOUT:
                if (ak_parse_duration(p->arg, 1, 86400, &v) < 0)
                        return cli_opts_bad_value(p, "want 1s to 1d: 90, 90s, 10m, 1h");
                o->timeout_s = (unsigned)v;
                return 0;
        case O_ENV:
                if (envlist_arg(&o->exec_env, p->arg, &err) < 0)
                        return cli_usage_error(p->cmd, "%s", err.msg);
                return 0;
        case O_ENV_FILE:
                if (envlist_file(&o->exec_env, p->arg, &err) < 0)
                        return cli_usage_error(p->cmd, "%s", err.msg);
                return 0;
        }
        return sandbox_opts_flag(&o->sb, p, id);
}

/* -t's limits (see RUN_TTY_HELP); 0 or 2 reported. */
static int tty_check(const struct cli_command *cmd, const struct opts *o)
{
        if (!o->tty)
                return 0;
        const char *with = o->json ? "--json" : o->timeout_s ? "--timeout" : o->detach ? "-d" : NULL;
        if (with)
                return cli_usage_error(cmd, "-t and %s: a PTY session has no result object or timeout (drop -t "
                                       "for them)", with);
        if (o->interactive && !isatty(STDIN_FILENO))
                return cli_usage_error(cmd, "the input device is not a TTY (-it types a terminal's keys into "
                                       "CMD; to pipe stdin, use -i without -t)");
        return 0;
}

/* Options up to "--" or the command; exec takes NAME first. */
static int parse(const struct cli_command *cmd, int argc, char **argv, bool exec, struct opts *o)
{
        struct cli_opts p;
        int id;
        cli_opts_init(&p, cmd, exec ? exec_tables : run_tables, argc, argv);
        while ((id = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (id == CLI_OPT_ERROR)
                        return 2;
                if (id == CLI_OPT_POSITIONAL) {
                        if (exec && !o->name) {
                                o->name = p.arg;
                                continue;
                        }
                        break;
                }
                int r = verb_flag(o, &p, id);
                if (r)
                        return r;
        }
        int i = cli_opts_index(&p);
        if (exec && !o->name)
                return cli_usage_error(cmd, "which sandbox? give its NAME");
        if (!exec && sandbox_opts_layers(&o->sb, "run"))
                return 2;
        bool permissive = o->sb.profile && strcmp(o->sb.profile, "permissive") == 0;
        if (i >= argc && !exec && o->sb.image && !permissive && !o->tty) {
                o->argv = NULL; /* the image's Entrypoint + Cmd */
                o->argc = 0;
                return 0;
        }
        if (i >= argc)
                return cli_usage_error(cmd, exec ? "no command: put it after --"
                                                 : "no command: put it after -- (with --image IMAGE and no "
                                                   "--profile permissive, none runs the image's Entrypoint/Cmd)");
        o->argv = argv + i;
        o->argc = argc - i;
        return tty_check(cmd, o);
}

static bool env_given(const struct opts *o, const char *entry)
{
        size_t n = (size_t)(strchr(entry, '=') - entry);
        const struct envlist *e = &o->sb.merged_env;
        for (size_t k = 0; k < e->n; k++)
                if (strncmp(e->kv[k], entry, n) == 0 && e->kv[k][n] == '=')
                        return true;
        return false;
}

/* -t: CMD on a PTY in sandbox through OpenShell; ak's exit code. */
static int tty_command(const char *verb, const char *sandbox, struct opts *o, char **env, size_t n_env,
                       const char *workdir, bool sandbox_user)
{
        Ak__V1__OpenShellRequest sr = AK__V1__OPEN_SHELL_REQUEST__INIT;
        sr.sandbox = (char *)sandbox;
        sr.n_argv = (size_t)o->argc;
        sr.argv = o->argv;
        sr.n_env = n_env;
        sr.env = env;
        sr.workdir = (char *)(workdir ? workdir : "");
        sr.sandbox_user = sandbox_user;
        sr.receipt = true;
        Ak__V1__ShellEvent *exited = NULL;
        int code = pty_session_run(verb, &sr, o->interactive, &exited);
        if (exited) {
                struct run_outcome oc = { 0 };
                save_receipt(verb, exited->receipt, exited->receipt_error, o->receipt, &oc);
                protobuf_c_message_free_unpacked(&exited->base, NULL);
        }
        return code;
}

/* The command of run_staged in the sandbox NAME, on a PTY with -t. */
static int staged_command(struct opts *o, char *name, bool permissive)
{
        char *env[RUN_MAX_ENV + ENVLIST_MAX];
        size_t n = 0;
        for (char **e = environ; permissive && *e && n < RUN_MAX_ENV; e++)
                if (copy_in_env_passes(*e) && !env_given(o, *e))
                        env[n++] = *e;
        for (size_t k = 0; k < o->sb.merged_env.n; k++)
                env[n++] = o->sb.merged_env.kv[k];
        char *workdir = (char *)(o->workdir ? o->workdir : permissive ? COPY_IN_GUEST_DIR : "");
        if (o->tty) /* root's, as the Run RPC's one-shot commands */
                return tty_command("run", name, o, env, n, workdir, false);
        Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
        req.sandbox = name;
        req.n_argv = (size_t)o->argc;
        req.argv = o->argv;
        req.n_env = n;
        req.env = env;
        req.workdir = workdir;
        req.sudo = true; /* as the Run RPC: one-shot commands are root's */
        req.timeout_ms = o->timeout_s * 1000;
        req.interactive = o->interactive;
        return stream("run", "Exec", &req.base, o->receipt, false, o->json, &o->oc);
}

/* Create, exec, remove (unless --keep): for the permissive profile, which
 * copies the working directory in and runs there with the client's
 * environment, for -w DIR (RunRequest has no working directory) and for
 * agentkernel.toml's [[files]], written in before the command. */
static int run_staged(struct opts *o, Ak__V1__SandboxSpec *spec, bool permissive)
{
        struct rpc_channel *ch = NULL;
        struct rpc_call_options co;
        struct ak_error err = { 0 };
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd))) {
                snprintf(err.msg, sizeof(err.msg), "the working directory: %s", strerror(errno));
                return fail(&o->oc, "run", err.msg);
        }
        if (stack_client(true, &ch, &co, &err) < 0)
                return fail(&o->oc, "run", err.msg);
        /* A client that dies leaves a sandbox behind: it goes after a day. */
        spec->persistent = true;
        if (!o->keep && !spec->ttl_seconds)
                spec->ttl_seconds = o->timeout_s + 24 * 3600;
        /* Named here, so that while the create waits in the scheduler's
         * queue its place can be asked for (and said) by that name. */
        char gen[5 + AK_UUID_LEN + 1];
        if (!spec->name || !*spec->name) {
                char id[AK_UUID_LEN + 1];
                if (ak_uuid7(id) < 0) {
                        rpc_channel_free(ch);
                        return fail(&o->oc, "run", "cannot make a sandbox name: no randomness");
                }
                snprintf(gen, sizeof(gen), "run-%s", id);
                spec->name = gen;
        }
        Ak__V1__CreateSandboxRequest cr = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
        cr.spec = spec;
        struct cli_progress pr;
        cli_progress_init(&pr);
        cli_progress_report(&pr, "run", "starting the sandbox (booting a microVM)");
        Ak__V1__Sandbox *sb = NULL;
        struct cli_queue_watch *w = cli_queue_watch_start(ch, &co, NULL, "run", spec->name);
        int r = rpc_unary(ch, &ak__v1__scheduler__descriptor, "CreateSandbox", &cr.base, &co,
                          (ProtobufCMessage **)&sb, &err);
        cli_queue_watch_stop(w);
        cli_progress_done(&pr);
        if (r != RPC_OK) {
                rpc_channel_free(ch);
                return fail(&o->oc, "run", err.msg);
        }
        char name[128];
        snprintf(name, sizeof(name), "%s", sb->spec && sb->spec->name ? sb->spec->name : "");
        protobuf_c_message_free_unpacked(&sb->base, NULL);

        int code = 125;
        if ((o->sb.cfg && o->sb.cfg->n_files &&
             config_files_push(ch, &co, name, o->sb.cfg, o->sb.cfg_path, &err) < 0) ||
            (permissive && copy_in_dir(ch, &co, name, cwd, COPY_IN_GUEST_DIR, &err) < 0)) {
                fail(&o->oc, "run", err.msg);
                snprintf(o->oc.sandbox, sizeof(o->oc.sandbox), "%s", name);
        } else {
                code = staged_command(o, name, permissive);
        }
        if (o->keep) {
                fprintf(stderr, "ak: kept sandbox %s (`ak sandbox remove %s`)\n", name, name);
        } else {
                Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
                ProtobufCMessage *resp = NULL;
                rm.name = name;
                if (rpc_unary(ch, &ak__v1__scheduler__descriptor, "RemoveSandbox", &rm.base, &co, &resp, &err) !=
                    RPC_OK)
                        fprintf(stderr, "ak run: removing sandbox %s: %s (its TTL removes it within a day)\n",
                                name, err.msg);
                else
                        protobuf_c_message_free_unpacked(resp, NULL);
        }
        rpc_channel_free(ch);
        return code;
}

/* --json among the options (before "--"), for errors the parser reports
 * before it has seen every flag. */
static bool json_asked(int argc, char **argv)
{
        for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
                if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "--output-base64") == 0)
                        return true;
        return false;
}

/* A usage error (exit 2) as --json's error object. */
static int usage_failed(int r, bool json)
{
        if (json)
                run_json_error(cli_usage_error_text()[0] ? cli_usage_error_text()
                                                         : "invalid arguments (the reason is on stderr)");
        return r;
}

int cli_run_run(int argc, char **argv)
{
        struct opts o = { 0 };
        sandbox_opts_init(&o.sb);
        int r = parse(&cmd_run, argc, argv, false, &o);
        if (r) {
                sandbox_opts_free(&o.sb);
                return usage_failed(r, json_asked(argc, argv));
        }
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        if (sandbox_opts_spec(&o.sb, "run", &spec)) {
                sandbox_opts_free(&o.sb);
                if (o.json)
                        run_json_error("the sandbox options were refused (the reason is on stderr)");
                return 125;
        }
        spec.persistent = o.keep;
        struct ak_error err = { 0 };
        bool permissive = o.sb.profile && strcmp(o.sb.profile, "permissive") == 0;
        if (stack_prepare_image(o.sb.image, &err) < 0) {
                r = fail(&o.oc, "run", err.msg);
        } else if (permissive || o.workdir || o.tty || (o.sb.cfg && o.sb.cfg->n_files)) {
                r = run_staged(&o, &spec, permissive);
        } else {
                Ak__V1__RunRequest req = AK__V1__RUN_REQUEST__INIT;
                req.spec = &spec;
                req.n_argv = (size_t)o.argc;
                req.argv = o.argv;
                req.keep = o.keep;
                req.interactive = o.interactive;
                req.timeout_ms = o.timeout_s * 1000;
                r = stream("run", "Run", &req.base, o.receipt, o.keep, o.json, &o.oc);
        }
        if (o.json)
                run_json_result(&o.oc, o.keep);
        run_outcome_free(&o.oc);
        sandbox_opts_free(&o.sb);
        return r;
}

int cli_exec_run(int argc, char **argv)
{
        struct opts o = { 0 };
        sandbox_opts_init(&o.sb);
        int r = parse(&cmd_exec, argc, argv, true, &o);
        if (r == 0 && o.detach && o.interactive)
                r = cli_usage_error(&cmd_exec, "-i and -d: a detached command takes no stdin");
        if (r)
                usage_failed(r, o.json || json_asked(argc, argv));
        if (r == 0) {
                char **env = o.exec_env.kv;
                size_t n_env = o.exec_env.n;
                if (o.detach) {
                        r = cli_exec_detached(o.name, o.argv, (size_t)o.argc, env, n_env, o.workdir, o.sudo,
                                              o.json);
                } else if (o.tty) {
                        r = tty_command("exec", o.name, &o, env, n_env, o.workdir, !o.sudo);
                } else {
                        Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
                        req.sandbox = (char *)o.name;
                        req.n_argv = (size_t)o.argc;
                        req.argv = o.argv;
                        req.n_env = n_env;
                        req.env = env;
                        if (o.workdir)
                                req.workdir = (char *)o.workdir;
                        req.sudo = o.sudo;
                        req.interactive = o.interactive;
                        req.timeout_ms = o.timeout_s * 1000;
                        r = stream("exec", "Exec", &req.base, o.receipt, false, o.json, &o.oc);
                        if (o.json)
                                run_json_result(&o.oc, -1);
                }
        }
        envlist_free(&o.exec_env);
        run_outcome_free(&o.oc);
        sandbox_opts_free(&o.sb);
        return r;
}
