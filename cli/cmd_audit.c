/* `ak audit`: emit audit events and follow the audit log, through an auditor
 * (--auditor ADDR) or, on one machine, in $AK_HOME/audit.jsonl as
 * agentkernel keeps it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opt.h"
#include "lib/audit/event.h"
#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/home.h"
#include "lib/base/parse.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/auditor.pb-c.h"

#define RPC_TIMEOUT_MS 10000
#define POLL_US 200000
#define MAX_LINE AUDIT_MAX_EVENT_JSON

const char cli_audit_help[] =
        "Usage: ak audit emit --type TYPE --action ACTION --outcome permit|deny|error|info\n"
        "                     [--resource-type R [--resource-id ID]] [--actor-user U] [--auditor ADDR]\n"
        "       ak audit tail [--json] [--from-now | --from N] [--limit N] [--no-follow] [--auditor ADDR]\n"
        "\n"
        "emit records one event and prints its uid once it is stored: with --auditor,\n"
        "once the auditor has it on disk (exit 1 and the reason when it does not);\n"
        "without, appended to $AK_HOME/audit.jsonl (default ~/.agentkernel) and fsynced,\n"
        "as agentkernel writes it.\n"
        "\n"
        "tail prints stored events, oldest first, then new ones as they come, until\n"
        "interrupted. --from N starts at position N (the auditor's spool position, or\n"
        "the line number of audit.jsonl); --from-now shows only new events; --json\n"
        "prints each event as stored (agentkernel JSON, one per line); --no-follow\n"
        "stops at the end of what is stored; --limit N stops after N events.\n"
        "\n"
        "Examples:\n"
        "  ak audit emit --type sandbox_created --action create --outcome permit \\\n"
        "      --resource-type sandbox --resource-id dev\n"
        "  ak audit emit --auditor 127.0.0.1:7733 --type policy_decision --action Network \\\n"
        "      --outcome deny --actor-user alice\n"
        "  ak audit tail --no-follow\n"
        "  ak audit tail --auditor 127.0.0.1:7733 --from-now\n"
        "  ak audit tail --json --from 100 --limit 10 | jq -r .uid\n";

/* For usage errors; the command table in main.c holds the same row. */
static const struct cli_command cli_cmd_audit = {
        "audit", "emit audit events and follow the audit log", cli_audit_run, cli_audit_help,
};

struct opts {
        const char *auditor;
        const char *type;
        const char *action;
        const char *outcome;
        const char *resource_type;
        const char *resource_id;
        const char *actor_user;
        bool json;
        bool from_now;
        bool has_from;
        uint64_t from;
        uint64_t limit;   /* 0: none */
        bool no_follow;
};

enum { OPT_AUDITOR = 1, OPT_TYPE, OPT_ACTION, OPT_OUTCOME, OPT_RTYPE, OPT_RID, OPT_USER, OPT_JSON, OPT_NOW, OPT_FROM,
       OPT_LIMIT, OPT_NOFOLLOW };
static const struct cli_option emit_opts[] = {
        { "auditor", 0, true, OPT_AUDITOR },
        { "type", 0, true, OPT_TYPE },
        { "action", 0, true, OPT_ACTION },
        { "outcome", 0, true, OPT_OUTCOME },
        { "resource-type", 0, true, OPT_RTYPE },
        { "resource-id", 0, true, OPT_RID },
        { "actor-user", 0, true, OPT_USER },
        { NULL, 0, false, 0 },
};
static const struct cli_option tail_opts[] = {
        { "auditor", 0, true, OPT_AUDITOR }, { "json", 0, false, OPT_JSON },
        { "from-now", 0, false, OPT_NOW },   { "from", 0, true, OPT_FROM },
        { "limit", 0, true, OPT_LIMIT },     { "no-follow", 0, false, OPT_NOFOLLOW },
        { NULL, 0, false, 0 },
};
static const struct cli_option *const emit_tables[] = { emit_opts, NULL };
static const struct cli_option *const tail_tables[] = { tail_opts, NULL };
const struct cli_sub cli_audit_subs[] = { { "emit", emit_tables }, { "tail", tail_tables }, { NULL, NULL } };

static int parse_opts(int argc, char **argv, bool emit, struct opts *o)
{
        struct cli_opts p;
        int c;

        cli_opts_init(&p, &cli_cmd_audit, emit ? emit_tables : tail_tables, argc, argv);
        while ((c = cli_opts_next(&p)) != CLI_OPT_DONE) {
                const char *arg = p.arg;
                switch (c) {
                case CLI_OPT_ERROR: return 2;
                case CLI_OPT_POSITIONAL:
                        return cli_usage_error(&cli_cmd_audit, "%s: unexpected argument '%s'", argv[0], arg);
                case OPT_AUDITOR: o->auditor = arg; break;
                case OPT_TYPE: o->type = arg; break;
                case OPT_ACTION: o->action = arg; break;
                case OPT_OUTCOME: o->outcome = arg; break;
                case OPT_RTYPE: o->resource_type = arg; break;
                case OPT_RID: o->resource_id = arg; break;
                case OPT_USER: o->actor_user = arg; break;
                case OPT_JSON: o->json = true; break;
                case OPT_NOW: o->from_now = true; break;
                case OPT_NOFOLLOW: o->no_follow = true; break;
                case OPT_FROM:
                        if (ak_parse_u64(arg, 0, UINT64_MAX, &o->from) < 0)
                                return cli_opts_bad_value(&p, "want a position (a number)");
                        o->has_from = true;
                        break;
                case OPT_LIMIT:
                        if (ak_parse_u64(arg, 0, UINT64_MAX, &o->limit) < 0 || o->limit == 0)
                                return cli_opts_bad_value(&p, "want a positive number");
                        break;
                }
        }
        if (p.dashdash && cli_opts_index(&p) < argc)
                return cli_usage_error(&cli_cmd_audit, "%s: unexpected argument '%s'", argv[0],
                                       argv[cli_opts_index(&p)]);
        if (o->from_now && o->has_from)
                return cli_usage_error(&cli_cmd_audit, "give --from-now or --from N, not both");
        return 0;
}

/* ---- emit --------------------------------------------------------------- */

static int check_flag(const char *name, const char *v)
{
        if (v && (strlen(v) > AUDIT_MAX_STRING || !audit_utf8_valid(v, strlen(v))))
                return cli_usage_error(&cli_cmd_audit, "%s: at most %d bytes of UTF-8", name, AUDIT_MAX_STRING);
        return 0;
}

/* The seed's new_audit_event() with the flags' resource and actor. */
static int build_event(const struct opts *o, struct audit_event **ret)
{
        enum audit_outcome outcome;
        struct audit_event *e;
        int r;

        if (!o->type || !*o->type || !o->action || !*o->action || !o->outcome)
                return cli_usage_error(&cli_cmd_audit, "emit needs --type, --action and --outcome");
        if (audit_outcome_from_name(o->outcome, &outcome) < 0)
                return cli_usage_error(&cli_cmd_audit, "--outcome is permit, deny, error or info, not '%s'",
                                       o->outcome);
        if (o->resource_id && !o->resource_type)
                return cli_usage_error(&cli_cmd_audit, "--resource-id needs --resource-type");
        if ((r = check_flag("--type", o->type)) || (r = check_flag("--action", o->action)) ||
            (r = check_flag("--resource-type", o->resource_type)) ||
            (r = check_flag("--resource-id", o->resource_id)) || (r = check_flag("--actor-user", o->actor_user)))
                return r;
        if (audit_event_new(o->type, o->action, outcome, &e) < 0)
                goto nomem;
        if (o->resource_type) {
                e->resource = calloc(1, sizeof(*e->resource));
                if (!e->resource || !(e->resource->resource_type = strdup(o->resource_type)) ||
                    !(e->resource->attributes = strdup("{}")) ||
                    (o->resource_id && !(e->resource->resource_id = strdup(o->resource_id))))
                        goto nomem;
        }
        if (o->actor_user) {
                e->actor = calloc(1, sizeof(*e->actor));
                if (!e->actor || !(e->actor->user_id = strdup(o->actor_user)))
                        goto nomem;
        }
        *ret = e;
        return 0;
nomem:
        audit_event_free(e);
        fprintf(stderr, "ak audit emit: out of memory\n");
        return 1;
}

static char *audit_log_path(void)
{
        char home[PATH_MAX];

        if (ak_home(home) < 0)
                return NULL;
        struct ak_error err = { 0 };
        if (ak_private_dir(home, &err) < 0) {
                fprintf(stderr, "ak audit: %s\n", err.msg);
                return NULL;
        }
        char *p = strdup(home);
        if (!p)
                return NULL;
        char *file = NULL;
        if (asprintf(&file, "%s/audit.jsonl", p) < 0)
                file = NULL;
        free(p);
        return file;
}

/* One line, appended and fsynced: on disk when this returns 0. */
static int append_line(const char *path, const char *json, size_t len)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        _cleanup_free_ char *line = malloc(len + 1);
        size_t off = 0;

        if (fd < 0)
                return -errno;
        if (!line)
                return -ENOMEM;
        memcpy(line, json, len);
        line[len] = '\n';
        while (off < len + 1) {
                ssize_t n = write(fd, line + off, len + 1 - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                off += (size_t)n;
        }
        return fsync(fd) < 0 ? -errno : 0;
}

static int emit_local(struct audit_event *e)
{
        _cleanup_free_ char *path = audit_log_path();
        _cleanup_free_ char *json = NULL;
        size_t len;
        int r;

        if (!path || audit_event_to_json(e, &json, &len) < 0) {
                fprintf(stderr, "ak audit emit: out of memory\n");
                return 1;
        }
        r = append_line(path, json, len);
        if (r < 0) {
                fprintf(stderr, "ak audit emit: not recorded: %s: %s\n", path, strerror(-r));
                return 1;
        }
        printf("%s\n", e->uid);
        return 0;
}

static int emit_remote(const char *addr, struct audit_event *e)
{
        Ak__V1__EmitRequest req = AK__V1__EMIT_REQUEST__INIT;
        struct rpc_call_options opts = { .timeout_ms = RPC_TIMEOUT_MS };
        struct audit_event_pb pb;
        Ak__V1__AuditEvent *evs[1];
        ProtobufCMessage *resp = NULL;
        struct rpc_channel *ch;
        struct ak_error err;
        int code;

        /* The auditor assigns the uid (UUIDv7) and prints it back. */
        audit_event_to_pb(e, &pb);
        pb.event.uid = (char *)"";
        evs[0] = &pb.event;
        req.n_events = 1;
        req.events = evs;
        if (rpc_channel_new(addr, NULL, &ch, &err) < 0) {
                fprintf(stderr, "ak audit emit: --auditor %s: %s\n", addr, err.msg);
                return 2;
        }
        code = rpc_unary(ch, &ak__v1__auditor__descriptor, "Emit", &req.base, &opts, &resp, &err);
        rpc_channel_free(ch);
        if (code != RPC_OK) {
                fprintf(stderr, "ak audit emit: not acknowledged by the auditor at %s: %s\n", addr, err.msg);
                return 1;
        }
        Ak__V1__EmitResponse *r = (Ak__V1__EmitResponse *)resp;
        if (r->n_uids != 1) {
                fprintf(stderr, "ak audit emit: the auditor at %s answered with %zu uids for one event\n", addr,
                        r->n_uids);
                protobuf_c_message_free_unpacked(resp, NULL);
                return 1;
        }
        printf("%s\n", r->uids[0]);
        protobuf_c_message_free_unpacked(resp, NULL);
        return 0;
}

static int cmd_emit(int argc, char **argv)
{
        struct opts o = { 0 };
        struct audit_event *e = NULL;
        int r;

        r = parse_opts(argc, argv, true, &o);
        if (r)
                return r;
        r = build_event(&o, &e);
        if (r)
                return r;
        r = o.auditor ? emit_remote(o.auditor, e) : emit_local(e);
        audit_event_free(e);
        return r;
}

/* ---- tail --------------------------------------------------------------- */

static void print_event(uint64_t pos, const struct audit_event *e, const char *json, size_t len, bool as_json)
{
        if (as_json) {
                fwrite(json, 1, len, stdout);
                fputc('\n', stdout);
        } else {
                printf("%-6" PRIu64 " %s  %-6s %s %s", pos, e->time, audit_outcome_name(e->outcome), e->type_name,
                       e->action);
                if (e->resource)
                        printf("  %s%s%s", e->resource->resource_type, e->resource->resource_id ? "/" : "",
                               e->resource->resource_id ? e->resource->resource_id : "");
                if (e->actor && e->actor->user_id)
                        printf("  user=%s", e->actor->user_id);
                if (e->policy)
                        printf("  policy=%s", e->policy->policy_id);
                printf("  %s\n", e->uid);
        }
        fflush(stdout);
}

/* Prints one stored line/record; false if it is not an event. */
static bool show(uint64_t pos, const char *json, size_t len, bool as_json)
{
        struct audit_event *e = NULL;
        struct ak_error err;

        if (audit_event_from_json(json, len, &e, &err) < 0) {
                fprintf(stderr, "ak audit tail: position %" PRIu64 " is not an audit event: %s\n", pos, err.msg);
                return false;
        }
        print_event(pos, e, json, len, as_json);
        audit_event_free(e);
        return true;
}

static int tail_local(const struct opts *o)
{
        _cleanup_free_ char *path = audit_log_path();
        _cleanup_free_ char *buf = malloc(MAX_LINE + 1);
        uint64_t line = 0, shown = 0, start;
        size_t len = 0;
        FILE *f = NULL;

        if (!path || !buf) {
                fprintf(stderr, "ak audit tail: out of memory\n");
                return 1;
        }
        while (!(f = fopen(path, "re"))) {
                if (errno != ENOENT || o->no_follow) {
                        if (errno == ENOENT)
                                return 0; /* no events yet */
                        fprintf(stderr, "ak audit tail: %s: %s\n", path, strerror(errno));
                        return 1;
                }
                usleep(POLL_US);
        }
        if (o->from_now) {
                /* Count the lines there are: new ones get the next numbers. */
                int c;
                while ((c = getc(f)) != EOF)
                        line += c == '\n';
                start = line + 1;
        } else {
                start = o->has_from && o->from ? o->from : 1;
        }
        for (;;) {
                int c = getc(f);
                if (c == EOF) {
                        clearerr(f);
                        if (o->no_follow)
                                break;
                        usleep(POLL_US);
                        continue;
                }
                if (c != '\n') {
                        if (len < MAX_LINE)
                                buf[len++] = (char)c;
                        continue;
                }
                line++;
                if (line >= start && len > 0 && show(line, buf, len, o->json) && o->limit && ++shown >= o->limit)
                        break;
                len = 0;
        }
        fclose(f);
        return 0;
}

static int tail_remote(const struct opts *o)
{
        Ak__V1__TailRequest req = AK__V1__TAIL_REQUEST__INIT;
        Ak__V1__GetAuditorStatusRequest sreq = AK__V1__GET_AUDITOR_STATUS_REQUEST__INIT;
        struct rpc_call_options opts = { .timeout_ms = RPC_TIMEOUT_MS };
        ProtobufCMessage *msg = NULL;
        struct rpc_stream *st = NULL;
        struct rpc_channel *ch;
        struct ak_error err;
        uint64_t end = UINT64_MAX, shown = 0;
        int r, rc = 0;

        if (rpc_channel_new(o->auditor, NULL, &ch, &err) < 0) {
                fprintf(stderr, "ak audit tail: --auditor %s: %s\n", o->auditor, err.msg);
                return 2;
        }
        if (o->no_follow) {
                /* Stop at what is stored now. */
                r = rpc_unary(ch, &ak__v1__auditor__descriptor, "GetStatus", &sreq.base, &opts, &msg, &err);
                if (r != RPC_OK) {
                        fprintf(stderr, "ak audit tail: %s\n", err.msg);
                        rpc_channel_free(ch);
                        return 1;
                }
                end = ((Ak__V1__AuditorStatus *)msg)->next_position - 1;
                protobuf_c_message_free_unpacked(msg, NULL);
                if (o->from_now || (o->has_from && o->from > end) || end == 0) {
                        rpc_channel_free(ch);
                        return 0;
                }
        }
        req.from_now = o->from_now;
        req.from_position = o->has_from ? o->from : 0;
        r = rpc_stream_open(ch, &ak__v1__auditor__descriptor, "Tail", &req.base, NULL, &st, &err);
        while (r == RPC_OK && (r = rpc_stream_next(st, &msg, &err)) == 1) {
                Ak__V1__TailEvent *te = (Ak__V1__TailEvent *)msg;
                bool stop = te->position >= end;
                bool ok = show(te->position, te->json, strlen(te->json), o->json);
                protobuf_c_message_free_unpacked(msg, NULL);
                if (stop || (ok && o->limit && ++shown >= o->limit))
                        break;
                r = RPC_OK;
        }
        if (r < 0 || (r > 1)) {
                fprintf(stderr, "ak audit tail: %s\n", err.msg);
                rc = 1;
        }
        rpc_stream_free(st);
        rpc_channel_free(ch);
        return rc;
}

static int cmd_tail(int argc, char **argv)
{
        struct opts o = { 0 };
        int r = parse_opts(argc, argv, false, &o);

        if (r)
                return r;
        return o.auditor ? tail_remote(&o) : tail_local(&o);
}

int cli_audit_run(int argc, char **argv)
{
        if (argc < 2)
                return cli_usage_error(&cli_cmd_audit, "which one: emit or tail?");
        if (strcmp(argv[1], "emit") == 0)
                return cmd_emit(argc - 1, argv + 1);
        if (strcmp(argv[1], "tail") == 0)
                return cmd_tail(argc - 1, argv + 1);
        return cli_usage_error(&cli_cmd_audit, "unknown subcommand '%s' (emit or tail)", argv[1]);
}
