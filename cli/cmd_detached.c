/* Detached commands from the CLI: `ak exec -d NAME -- CMD` and
 * `ak sandbox exec-list|exec-logs|exec-kill`, through the scheduler. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opt.h"
#include "cli/run_json.h"
#include "cli/scheduler_call.h"
#include "cli/stack.h"
#include "protos/ak/v1/scheduler.pb-c.h"

/* Polling interval of --follow. */
#define FOLLOW_MS 500

static const struct cli_command cmd = { "sandbox", "", cli_sandbox_run, cli_sandbox_help };

/* One unary scheduler call; prints the error as `ak VERB: ...`. */
static int call(const char *verb, const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
        return cli_scheduler_call(NULL, verb, method, req, resp) < 0 ? -1 : 0;
}

int cli_exec_detached(const char *name, char **argv, size_t argc, char **env, size_t n_env, const char *workdir,
                      bool sudo, bool json)
{
        Ak__V1__ExecDetachedRequest req = AK__V1__EXEC_DETACHED_REQUEST__INIT;
        req.sandbox = (char *)name;
        req.argv = argv;
        req.n_argv = argc;
        req.env = env;
        req.n_env = n_env;
        if (workdir)
                req.workdir = (char *)workdir;
        req.sudo = sudo;
        Ak__V1__DetachedCommand *d = NULL;
        if (call("exec", "ExecDetached", &req.base, (ProtobufCMessage **)&d) < 0) {
                if (json)
                        run_json_error("starting the detached command failed (the reason is on stderr)");
                return 125;
        }
        if (json)
                run_json_detached(d->id, d->pid, name);
        else
                printf("%s\n", d->id);
        fprintf(stderr, "ak: started pid %d in %s (`ak sandbox exec-logs %s %s`)\n", d->pid, name, name, d->id);
        protobuf_c_message_free_unpacked(&d->base, NULL);
        return 0;
}

static void print_row(const Ak__V1__DetachedCommand *d)
{
        char when[32] = "-", exit_s[16] = "-";
        time_t t = (time_t)(d->started_at_ms / 1000);
        struct tm tm;
        if (gmtime_r(&t, &tm))
                strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (d->has_exit_code)
                snprintf(exit_s, sizeof(exit_s), "%d", d->exit_code);
        printf("%-36s  %-9s  %4s  %7d  %s ", d->id, d->status, exit_s, d->pid, when);
        for (size_t i = 0; i < d->n_argv; i++)
                printf(" %s", d->argv[i]);
        printf("\n");
}

static int do_list(int argc, char **argv)
{
        if (argc != 2)
                return cli_usage_error(&cmd, "exec-list takes NAME");
        Ak__V1__ListDetachedRequest req = AK__V1__LIST_DETACHED_REQUEST__INIT;
        req.sandbox = argv[1];
        Ak__V1__ListDetachedResponse *l = NULL;
        if (call("sandbox exec-list", "ListDetached", &req.base, (ProtobufCMessage **)&l) < 0)
                return 1;
        printf("%-36s  %-9s  %4s  %7s  %-20s  %s\n", "ID", "STATUS", "EXIT", "PID", "STARTED", "COMMAND");
        for (size_t i = 0; i < l->n_commands; i++)
                print_row(l->commands[i]);
        protobuf_c_message_free_unpacked(&l->base, NULL);
        return 0;
}

static int do_kill(int argc, char **argv)
{
        if (argc != 3)
                return cli_usage_error(&cmd, "exec-kill takes NAME and ID");
        Ak__V1__DetachedRef req = AK__V1__DETACHED_REF__INIT;
        req.sandbox = argv[1];
        req.id = argv[2];
        Ak__V1__DetachedCommand *d = NULL;
        if (call("sandbox exec-kill", "KillDetached", &req.base, (ProtobufCMessage **)&d) < 0)
                return 1;
        print_row(d);
        protobuf_c_message_free_unpacked(&d->base, NULL);
        return 0;
}

static const struct cli_option logs_opts[] = {
        { "stderr", 0, false, 's' },
        { "follow", 'f', false, 'f' },
        { NULL, 0, false, 0 },
};
const struct cli_option *const cli_exec_logs_tables[] = { logs_opts, NULL };

/* Prints the stream from offset 0; with follow, polls until the command
 * ended and everything it kept was printed. Exit: 0, or 1 on an error. */
static int do_logs(int argc, char **argv)
{
        const char *name = NULL, *id = NULL;
        bool err_stream = false, follow = false;
        const struct cli_option *const *tables = cli_exec_logs_tables;
        struct cli_opts p;
        int o;
        cli_opts_init(&p, &cmd, tables, argc, argv);
        while ((o = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (o == CLI_OPT_ERROR)
                        return 2;
                if (o == 's')
                        err_stream = true;
                else if (o == 'f')
                        follow = true;
                else if (!name)
                        name = p.arg;
                else if (!id)
                        id = p.arg;
                else
                        return cli_usage_error(&cmd, "exec-logs takes NAME and ID");
        }
        if (!name || !id)
                return cli_usage_error(&cmd, "exec-logs takes NAME and ID");
        uint64_t off = 0;
        for (;;) {
                Ak__V1__DetachedLogsRequest req = AK__V1__DETACHED_LOGS_REQUEST__INIT;
                req.sandbox = (char *)name;
                req.id = (char *)id;
                req.stderr = err_stream;
                req.offset = off;
                Ak__V1__DetachedLogsResponse *r = NULL;
                if (call("sandbox exec-logs", "DetachedLogs", &req.base, (ProtobufCMessage **)&r) < 0)
                        return 1;
                if (r->data.len && fwrite(r->data.data, 1, r->data.len, stdout) != r->data.len) {
                        protobuf_c_message_free_unpacked(&r->base, NULL);
                        return 1;
                }
                fflush(stdout);
                off = r->next_offset;
                bool more = r->data.len > 0;
                bool running = r->command && strcmp(r->command->status, "running") == 0;
                protobuf_c_message_free_unpacked(&r->base, NULL);
                if (more)
                        continue;
                if (!follow || !running)
                        return 0;
                usleep(FOLLOW_MS * 1000);
        }
}

int cli_sandbox_detached(int argc, char **argv)
{
        if (strcmp(argv[0], "exec-list") == 0)
                return do_list(argc, argv);
        if (strcmp(argv[0], "exec-kill") == 0)
                return do_kill(argc, argv);
        return do_logs(argc, argv);
}
