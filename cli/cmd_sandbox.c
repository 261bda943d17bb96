/* `ak sandbox create|start|stop|remove|list|info|cp|extend`: persistent sandboxes
 * through the scheduler. */
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
#include "cli/config_files.h"
#include "cli/opt.h"
#include "cli/sandbox_cp.h"
#include "cli/sandbox_opts.h"
#include "cli/scheduler_call.h"
#include "cli/egress.h"
#include "cli/progress.h"
#include "cli/pull_print.h"
#include "cli/stack.h"
#include "lib/base/cleanup.h"
#include "lib/base/parse.h"
#include "lib/json/writer.h"
#include "protos/ak/v1/scheduler.pb-c.h"
#include "vmm/net/domain.h"


const char cli_sandbox_help[] =
        "Usage: ak sandbox create [NAME] [--image I] [--profile P] [--no-network] [-e K=V|NAME]...\n"
        "                         [--env-file F] [--vcpus N] [--memory M] [--label K=V]...\n"
        "                         [--node-selector K=V]... [-c FILE]\n"
        "                         [--egress-deny X]... [--egress-allow X]... [--egress-port N]...\n"
        "                         [--secret NAME:HOST[:HEADER]]... [--secret-file NAME[:PATH]]...\n"
        "                         [--ttl D] [--json] [-q]\n"
        "       ak sandbox start|stop|remove NAME\n"
        "       ak sandbox extend NAME --ttl D [--json]   (expire D later (30s, 10m, 1h, 2d); from\n"
        "                                                 now when it has no TTL; at most 30 days)\n"
        "       ak sandbox list [--label K=V]... [--json]  (only sandboxes with all these labels)\n"
        "       ak sandbox info NAME [--json]\n"
        "       ak sandbox cp [-q] SRC NAME:/guest/path  (into the sandbox; SRC a file or a directory)\n"
        "       ak sandbox cp [-q] NAME:/guest/path DST  (out of it; into DST/NAME when DST is a directory)\n"
        "       ak sandbox exec-list NAME             (detached commands: `ak exec -d`)\n"
        "       ak sandbox exec-logs NAME ID [--stderr] [--follow]\n"
        "       ak sandbox exec-kill NAME ID\n"
        "\n"
        "A sandbox is a microVM that stays up between commands (`ak exec NAME -- CMD`)\n"
        "until it is removed or its --ttl expires. cp copies files of any size (in 4 MiB\n"
        "pieces, each retried, SHA-256 checked at the end) and directories (as tar:\n"
        "modes kept, owners too in the sandbox and when ak runs as root; symlinks stay\n"
        "symlinks, and a copy-out refuses entries that would land outside DST);\n"
        "progress lines on stderr unless -q (--quiet); `--` before a SRC that starts with -.\n"
        "Starts the local stack (`ak up`) when none runs.\n"
        "\n"
        "Create's options (NAME defaults to agentkernel.toml's [sandbox] name):\n"
        "  -q, --quiet          no progress lines on stderr (booting, pulling an image)\n"
        SANDBOX_OPTS_HELP
        "\n"
        "--image I: a local image (`ak image list`) or an OCI reference\n"
        "(python:3.12-alpine, registry:5000/team/ci@sha256:...) that the executor pulls\n"
        "when it lacks it; a bare name is only a local image (Docker Hub's: python:latest).\n"
        "\n"
        "Egress (create; CIDRs and domain names; `info` shows the policy):\n"
        CLI_EGRESS_HELP
        "\n"
        "Examples:\n"
        "  ak sandbox create dev --no-network\n"
        "  ak sandbox create web --egress-deny 0.0.0.0/0 --egress-allow 203.0.113.0/24 --egress-port 443\n"
        "  ak sandbox create pkgs --egress-deny 0.0.0.0/0 --egress-allow pypi.org --egress-allow '*.pythonhosted.org'\n"
        "  ak sandbox cp ./script.sh dev:/tmp/script.sh && ak exec dev -- sh /tmp/script.sh\n"
        "  ak sandbox cp dev:/etc/os-release .\n"
        "  ak sandbox cp ./src dev:/work && ak sandbox cp dev:/work/src ./back\n"
        "  ak sandbox list --json | jq -r '.[].name'\n"
        "  ak sandbox stop dev && ak sandbox start dev && ak sandbox remove dev\n"
        "  ak sandbox extend dev --ttl 1h\n"
        "  ak sandbox create ci --vcpus=2 --memory=1g --label team=ci --ttl 2d && ak sandbox list --label team=ci\n";

static const struct cli_command cmd = { "sandbox", "", cli_sandbox_run, cli_sandbox_help };

static const char *state_name(Ak__V1__SandboxState s)
{
        switch (s) {
        case AK__V1__SANDBOX_STATE__SANDBOX_STATE_CREATING: return "creating";
        case AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING: return "running";
        case AK__V1__SANDBOX_STATE__SANDBOX_STATE_STOPPED: return "stopped";
        case AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR: return "error";
        default: return "unknown";
        }
}

static int call(const char *verb, const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
        return cli_scheduler_call("sandbox", verb, method, req, resp) < 0 ? 1 : 0;
}

static void str(struct json_writer *w, const char *k, const char *v)
{
        json_writer_key(w, k, strlen(k));
        json_writer_string(w, v ? v : "", v ? strlen(v) : 0);
}

static void sandbox_json(struct json_writer *w, const Ak__V1__Sandbox *s)
{
        const Ak__V1__SandboxSpec *sp = s->spec;
        json_writer_begin_object(w);
        str(w, "name", sp ? sp->name : "");
        str(w, "state", state_name(s->state));
        str(w, "image", sp ? sp->image : "");
        str(w, "profile", sp ? sp->profile : "");
        json_writer_key(w, "vcpus", 5);
        json_writer_u64(w, sp ? sp->vcpus : 0);
        json_writer_key(w, "memory_mb", 9);
        json_writer_u64(w, sp ? sp->memory_mb : 0);
        json_writer_key(w, "network", 7);
        json_writer_bool(w, !sp || sp->network != AK__V1__NETWORK__NETWORK_OFF);
        const Ak__V1__Egress *e = sp ? sp->egress : NULL;
        json_writer_key(w, "egress", 6);
        json_writer_begin_object(w);
        json_writer_key(w, "allow", 5);
        json_writer_begin_array(w);
        for (size_t i = 0; e && i < e->n_allow; i++)
                json_writer_string(w, e->allow[i], strlen(e->allow[i]));
        json_writer_end_array(w);
        json_writer_key(w, "deny", 4);
        json_writer_begin_array(w);
        for (size_t i = 0; e && i < e->n_deny; i++)
                json_writer_string(w, e->deny[i], strlen(e->deny[i]));
        json_writer_end_array(w);
        json_writer_key(w, "ports", 5);
        json_writer_begin_array(w);
        for (size_t i = 0; e && i < e->n_ports; i++)
                json_writer_u64(w, e->ports[i]);
        json_writer_end_array(w);
        json_writer_end_object(w);
        json_writer_key(w, "labels", 6);
        json_writer_begin_object(w);
        for (size_t i = 0; sp && i < sp->n_labels; i++) {
                json_writer_key(w, sp->labels[i]->key, strlen(sp->labels[i]->key));
                json_writer_string(w, sp->labels[i]->value, strlen(sp->labels[i]->value));
        }
        json_writer_end_object(w);
        str(w, "executor", s->executor_id);
        str(w, "backend", s->backend);
        json_writer_key(w, "created_at_ms", 13);
        json_writer_i64(w, s->created_at_ms);
        json_writer_key(w, "expires_at_ms", 13);
        json_writer_i64(w, s->expires_at_ms);
        json_writer_key(w, "from_pool", 9);
        json_writer_bool(w, s->from_pool);
        json_writer_key(w, "net_denied", 10);
        json_writer_u64(w, s->net_denied);
        json_writer_key(w, "net_log_overruns", 16);
        json_writer_u64(w, s->net_log_overruns);
        json_writer_key(w, "net_deny_cidrs", 14);
        json_writer_begin_array(w);
        for (size_t i = 0; i < s->n_net_deny_cidrs; i++)
                json_writer_string(w, s->net_deny_cidrs[i], strlen(s->net_deny_cidrs[i]));
        json_writer_end_array(w);
        json_writer_key(w, "error", 5);
        json_writer_string_or_null(w, s->error && *s->error ? s->error : NULL);
        json_writer_key(w, "image_pull", 10);
        if (s->image_pull)
                cli_pull_json(w, s->image_pull);
        else
                json_writer_null(w);
        /* A create waiting in the scheduler's queue: its place. */
        json_writer_key(w, "queued", 6);
        if (s->queued) {
                json_writer_begin_object(w);
                json_writer_key(w, "position", 8);
                json_writer_u64(w, s->queued->position);
                json_writer_key(w, "waiting", 7);
                json_writer_u64(w, s->queued->waiting);
                json_writer_end_object(w);
        } else {
                json_writer_null(w);
        }
        json_writer_end_object(w);
}

/* `ak sandbox info`: the network and the sandbox's egress policy, on top
 * of the executor's (loopback, host, link-local and private ranges denied). */
static void print_egress(const Ak__V1__Sandbox *s)
{
        const Ak__V1__SandboxSpec *sp = s->spec;
        if (sp && sp->network == AK__V1__NETWORK__NETWORK_OFF) {
                printf("network: off\n");
                return;
        }
        const Ak__V1__Egress *e = sp ? sp->egress : NULL;
        /* What the executor's rules drop (vmm/backend/vmm_net.c), in order. */
        printf("network: on\n"
               "always denied: the host's addresses and loopback (127.0.0.0/8, ::1), link-local "
               "(169.254.0.0/16, fe80::/10), multicast and reserved (0.0.0.0/8, 224.0.0.0/4, 240.0.0.0/4, "
               "ff00::/8, ::ffff:0:0/96), the VM network pool\n"
               "denied unless egress allow re-opens them (ak-executor --egress-allow-private): private and "
               "shared ranges (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7)\n"
               "operator denied (ak-executor --deny-cidr, same terms):");
        for (size_t i = 0; i < s->n_net_deny_cidrs; i++)
                printf(" %s", s->net_deny_cidrs[i]);
        printf("%s\n", s->n_net_deny_cidrs ? "" : " -");
        if (!e || (!e->n_allow && !e->n_deny && !e->n_ports)) {
                printf("egress: no policy of its own (public internet, any port)\n");
                return;
        }
        printf("egress deny:");
        for (size_t i = 0; i < e->n_deny; i++)
                printf(" %s", e->deny[i]);
        printf("%s\negress allow:", e->n_deny ? "" : " -");
        for (size_t i = 0; i < e->n_allow; i++)
                printf(" %s", e->allow[i]);
        printf("%s\negress ports:", e->n_allow ? "" : " -");
        for (size_t i = 0; i < e->n_ports; i++)
                printf(" %u", e->ports[i]);
        printf("%s\n", e->n_ports ? "" : " any");
        bool names = false;
        for (size_t i = 0; i < e->n_allow + e->n_deny; i++)
                names |= domain_rule_like(i < e->n_allow ? e->allow[i] : e->deny[i - e->n_allow]);
        if (names)
                printf("egress names: resolved by the sandbox's own resolver; allowed names' addresses "
                       "reachable, denied names answer NXDOMAIN; DNS to other resolvers dropped\n");
}

static int print_sandboxes(Ak__V1__Sandbox *const *list, size_t n, bool json, bool array)
{
        if (json) {
                struct json_writer *w = NULL;
                char *data = NULL;
                size_t len;
                if (json_writer_new(0, 64u << 20, &w) < 0)
                        return 1;
                if (array)
                        json_writer_begin_array(w);
                for (size_t i = 0; i < n; i++)
                        sandbox_json(w, list[i]);
                if (array)
                        json_writer_end_array(w);
                int r = json_writer_finish(w, &data, &len);
                json_writer_free(w);
                if (r < 0)
                        return 1;
                printf("%.*s\n", (int)len, data);
                free(data);
                return 0;
        }
        if (array)
                printf("%-24s %-9s %-12s %-12s %s\n", "NAME", "STATE", "IMAGE", "PROFILE", "EXECUTOR");
        for (size_t i = 0; i < n; i++) {
                const Ak__V1__Sandbox *s = list[i];
                const Ak__V1__SandboxSpec *sp = s->spec;
                char where[64] = "";
                if (s->queued)   /* waiting in the scheduler's queue: no executor yet */
                        snprintf(where, sizeof(where), "-  queued: position %u of %u", s->queued->position,
                                 s->queued->waiting);
                printf("%-24s %-9s %-12s %-12s %s%s%s\n", sp ? sp->name : "", s->queued ? "queued" : state_name(s->state),
                       sp ? sp->image : "", sp ? sp->profile : "", s->queued ? where : s->executor_id,
                       s->error && *s->error ? "  " : "", s->error ? s->error : "");
                if (!array && s->image_pull) {
                        /* A create waiting for its image: nothing else to say yet. */
                        printf("waiting for the image pull ");
                        cli_pull_print(stdout, s->image_pull);
                        printf("\n");
                } else if (!array) {
                        print_egress(s);
                        printf("denied so far: %llu%s\n", (unsigned long long)s->net_denied,
                               s->net_log_overruns ? " (at least: the denial log overflowed)" : "");
                }
        }
        return 0;
}

enum { SB_JSON = 1, SB_LABEL, SB_TTL, SB_QUIET };

static const struct cli_option json_option[] = {
        { "json", 0, false, SB_JSON },
        { NULL, 0, false, 0 },
};

/* [[files]] into the new sandbox; on failure it is removed again (no
 * half-made sandbox) and 1 returned. */
static int push_files(const char *name, const struct sandbox_opts *so)
{
        struct rpc_channel *ch = NULL;
        struct rpc_call_options co;
        struct ak_error err = { 0 };
        int r = stack_client(false, &ch, &co, &err);
        if (r == 0)
                r = config_files_push(ch, &co, name, so->cfg, so->cfg_path, &err);
        rpc_channel_free(ch);
        if (r == 0)
                return 0;
        fprintf(stderr, "ak sandbox create: %s; removing sandbox %s\n", err.msg, name);
        Ak__V1__RemoveSandboxRequest rm = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        rm.name = (char *)name;
        if (call("create", "RemoveSandbox", &rm.base, &resp) == 0)
                protobuf_c_message_free_unpacked(resp, NULL);
        return 1;
}

static const struct cli_option quiet_option[] = {
        { "quiet", 'q', false, SB_QUIET },
        { NULL, 0, false, 0 },
};
static const struct cli_option *const cp_tables[] = { quiet_option, NULL };
static const struct cli_option *const create_tables[] = { json_option, quiet_option, sandbox_options, NULL };
static const struct cli_option list_opts[] = {
        { "json", 0, false, SB_JSON },
        { "label", 'l', true, SB_LABEL },
        { NULL, 0, false, 0 },
};
static const struct cli_option *const list_tables[] = { list_opts, NULL };
static const struct cli_option *const json_tables[] = { json_option, NULL };
static const struct cli_option extend_opts[] = {
        { "json", 0, false, SB_JSON },
        { "ttl", 0, true, SB_TTL },
        { NULL, 0, false, 0 },
};
static const struct cli_option *const extend_tables[] = { extend_opts, NULL };
const struct cli_sub cli_sandbox_subs[] = {
        { "create", create_tables }, { "start", json_tables },    { "stop", json_tables },
        { "remove", json_tables },   { "rm", json_tables },       { "list", list_tables },
        { "ls", list_tables },       { "info", json_tables },     { "cp", cp_tables },
        { "extend", extend_tables }, { "exec-list", NULL },       { "exec-logs", cli_exec_logs_tables },
        { "exec-kill", NULL },       { NULL, NULL },
};

static int do_create(int argc, char **argv)
{
        const struct cli_option *const *tables = create_tables;
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        bool json = false;
        const char *name = NULL;
        struct sandbox_opts so;
        struct cli_opts p;
        int id, r = 0;

        sandbox_opts_init(&so);
        cli_opts_init(&p, &cmd, tables, argc, argv);
        while (r == 0 && (id = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (id == CLI_OPT_ERROR)
                        r = 2;
                else if (id == CLI_OPT_POSITIONAL && name)
                        r = cli_usage_error(&cmd, "create: unexpected %s", p.arg);
                else if (id == CLI_OPT_POSITIONAL)
                        name = p.arg;
                else if (id == SB_JSON)
                        json = true;
                else if (id == SB_QUIET)
                        cli_progress_set_quiet(true);
                else
                        r = sandbox_opts_flag(&so, &p, id);
        }
        if (r == 0 && p.dashdash && cli_opts_index(&p) < argc)
                r = cli_usage_error(&cmd, "create: unexpected %s", argv[cli_opts_index(&p)]);
        if (r == 0 && sandbox_opts_layers(&so, "sandbox create"))
                r = 1;
        if (r == 0 && !name && !(name = sandbox_opts_config_name(&so)))
                r = cli_usage_error(&cmd, "create: give the sandbox a NAME (or [sandbox] name in %s)",
                                    CONFIG_FILE_NAME);
        if (r == 0 && sandbox_opts_spec(&so, "sandbox create", &spec))
                r = 1;
        if (r) {
                sandbox_opts_free(&so);
                return r;
        }
        spec.name = (char *)name;
        spec.persistent = true;
        Ak__V1__CreateSandboxRequest req = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
        req.spec = &spec;
        struct ak_error err = { 0 };
        Ak__V1__Sandbox *sb = NULL;
        struct cli_progress pr;
        cli_progress_init(&pr);
        if (stack_prepare_image(spec.image, &err) < 0) {
                fprintf(stderr, "ak sandbox create: %s\n", err.msg);
                r = 1;
        } else {
                cli_progress_report(&pr, "create", "starting the sandbox (booting a microVM)");
                r = cli_scheduler_create("sandbox", "create", "CreateSandbox", &req.base, name,
                                         (ProtobufCMessage **)&sb) < 0 ? 1 : 0;
                cli_progress_done(&pr);
        }
        if (r == 0 && so.cfg && so.cfg->n_files && push_files(name, &so)) {
                protobuf_c_message_free_unpacked(&sb->base, NULL);
                r = 1;
        } else if (r == 0) {
                r = json ? print_sandboxes(&sb, 1, true, false) : 0;
                if (!json)
                        printf("created sandbox %s on %s%s\n", name, sb->executor_id, sb->from_pool ? " (warm)" : "");
                protobuf_c_message_free_unpacked(&sb->base, NULL);
        }
        sandbox_opts_free(&so);
        return r;
}

static int simple_call(const char *verb, const char *name, bool json,
                       Ak__V1__ListSandboxesRequest__LabelSelectorEntry **sel, size_t n_sel);

static int do_simple(const char *verb, int argc, char **argv)
{
        const struct cli_option *const *other_tables = json_tables;
        bool json = false;
        const char *name = NULL;
        struct sandbox_kv sel[SANDBOX_OPTS_MAX_KV];
        Ak__V1__ListSandboxesRequest__LabelSelectorEntry sel_e[SANDBOX_OPTS_MAX_KV], *sel_p[SANDBOX_OPTS_MAX_KV];
        size_t n_sel = 0;
        struct cli_opts p;
        int id, bad = 0;
        cli_opts_init(&p, &cmd, strcmp(verb, "list") == 0 ? list_tables : other_tables, argc, argv);
        while (!bad && (id = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (id == CLI_OPT_ERROR) {
                        bad = 2;
                } else if (id == SB_JSON) {
                        json = true;
                } else if (id == SB_LABEL) {
                        if (n_sel == SANDBOX_OPTS_MAX_KV || sandbox_kv_parse(p.arg, &sel[n_sel]) < 0) {
                                bad = cli_opts_bad_value(&p, "want KEY=VALUE (at most %d)", SANDBOX_OPTS_MAX_KV);
                                break;
                        }
                        Ak__V1__ListSandboxesRequest__LabelSelectorEntry e =
                                AK__V1__LIST_SANDBOXES_REQUEST__LABEL_SELECTOR_ENTRY__INIT;
                        e.key = sel[n_sel].key;
                        e.value = sel[n_sel].value;
                        sel_e[n_sel] = e;
                        sel_p[n_sel] = &sel_e[n_sel];
                        n_sel++;
                } else if (name) {
                        bad = cli_usage_error(&cmd, "%s: unexpected %s", verb, p.arg);
                } else {
                        name = p.arg;
                }
        }
        if (!bad)
                bad = simple_call(verb, name, json, sel_p, n_sel);
        for (size_t i = 0; i < n_sel; i++)
                free(sel[i].key);
        return bad;
}

static int simple_call(const char *verb, const char *name, bool json,
                       Ak__V1__ListSandboxesRequest__LabelSelectorEntry **sel, size_t n_sel)
{
        bool list = strcmp(verb, "list") == 0;
        if (!list && !name)
                return cli_usage_error(&cmd, "%s: which sandbox? give its NAME", verb);
        if (list && name)
                return cli_usage_error(&cmd, "list takes no NAME");
        ProtobufCMessage *resp = NULL;
        int r;
        if (list) {
                Ak__V1__ListSandboxesRequest req = AK__V1__LIST_SANDBOXES_REQUEST__INIT;
                req.label_selector = sel;
                req.n_label_selector = n_sel;
                if (call(verb, "ListSandboxes", &req.base, &resp))
                        return 1;
                Ak__V1__ListSandboxesResponse *l = (Ak__V1__ListSandboxesResponse *)resp;
                r = print_sandboxes(l->sandboxes, l->n_sandboxes, json, true);
        } else if (strcmp(verb, "remove") == 0) {
                Ak__V1__RemoveSandboxRequest req = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
                req.name = (char *)name;
                if (call(verb, "RemoveSandbox", &req.base, &resp))
                        return 1;
                if (!json)
                        printf("removed sandbox %s\n", name);
                else
                        printf("{}\n");
                r = 0;
        } else {
                /* start, stop, info: requests of the same shape ({ string name = 1; }). */
                Ak__V1__GetSandboxRequest get = AK__V1__GET_SANDBOX_REQUEST__INIT;
                Ak__V1__StartSandboxRequest start = AK__V1__START_SANDBOX_REQUEST__INIT;
                Ak__V1__StopSandboxRequest stop = AK__V1__STOP_SANDBOX_REQUEST__INIT;
                const ProtobufCMessage *req;
                const char *method;
                get.name = start.name = stop.name = (char *)name;
                if (strcmp(verb, "start") == 0)
                        req = &start.base, method = "StartSandbox";
                else if (strcmp(verb, "stop") == 0)
                        req = &stop.base, method = "StopSandbox";
                else
                        req = &get.base, method = "GetSandbox";
                if (call(verb, method, req, &resp))
                        return 1;
                Ak__V1__Sandbox *sb = (Ak__V1__Sandbox *)resp;
                if (json || strcmp(verb, "info") == 0)
                        r = print_sandboxes(&sb, 1, json, false);
                else
                        r = printf("sandbox %s is %s\n", name, state_name(sb->state)) < 0;
        }
        protobuf_c_message_free_unpacked(resp, NULL);
        return r;
}

/* "NAME:/path" → name and path (in buf); 0 when arg is a local path. */
static int split_remote(const char *arg, char *name, size_t size, const char **path)
{
        const char *colon = strchr(arg, ':');
        if (!colon || colon == arg || colon[1] != '/' || strchr(arg, '/') < colon)
                return 0;
        if ((size_t)(colon - arg) >= size)
                return -1;
        memcpy(name, arg, (size_t)(colon - arg));
        name[colon - arg] = 0;
        *path = colon + 1;
        return 1;
}

static int do_cp(int argc, char **argv)
{
        char sname[128], dname[128];
        const char *spath = NULL, *dpath = NULL, *args[2];
        int n = 0, id;
        struct cli_opts p;
        cli_opts_init(&p, &cmd, cp_tables, argc, argv);
        while ((id = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (id == CLI_OPT_ERROR)
                        return 2;
                if (id == SB_QUIET)
                        cli_progress_set_quiet(true);
                else if (n++ < 2)
                        args[n - 1] = p.arg;
        }
        for (int i = cli_opts_index(&p); p.dashdash && i < argc; i++)
                if (n++ < 2)
                        args[n - 1] = argv[i];
        if (n != 2)
                return cli_usage_error(&cmd, "cp takes SRC and DST, one of them NAME:/path");
        int s = split_remote(args[0], sname, sizeof(sname), &spath);
        int d = split_remote(args[1], dname, sizeof(dname), &dpath);
        if (s < 0 || d < 0 || s == d)
                return cli_usage_error(&cmd, "cp: exactly one of SRC and DST is NAME:/absolute/path");
        struct rpc_channel *ch = NULL;
        struct rpc_call_options o;
        struct ak_error err = { 0 };
        int r = stack_client(true, &ch, &o, &err);
        if (r >= 0)
                r = d ? sandbox_cp_in(ch, &o, dname, args[0], dpath, &err)
                      : sandbox_cp_out(ch, &o, sname, spath, args[1], &err);
        rpc_channel_free(ch);
        if (r < 0) {
                fprintf(stderr, "ak sandbox cp: %s\n", err.msg);
                return r == -EINTR ? 130 : 1; /* as a shell reports SIGINT */
        }
        return 0;
}

static int do_extend(int argc, char **argv)
{
        const struct cli_option *const *tables = extend_tables;
        const char *name = NULL;
        uint64_t ttl = 0;
        bool json = false, have_ttl = false;
        struct cli_opts p;
        int id;
        cli_opts_init(&p, &cmd, tables, argc, argv);
        while ((id = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (id == CLI_OPT_ERROR)
                        return 2;
                if (id == SB_TTL) {
                        if (ak_parse_duration(p.arg, 1, 30ull * 86400, &ttl) < 0)
                                return cli_opts_bad_value(&p, "want 30s, 10m, 1h or 2d (digits alone: seconds), "
                                                          "at most 30d");
                        have_ttl = true;
                } else if (id == SB_JSON) {
                        json = true;
                } else if (name) {
                        return cli_usage_error(&cmd, "extend: unexpected %s", p.arg);
                } else {
                        name = p.arg;
                }
        }
        if (!name || !have_ttl)
                return cli_usage_error(&cmd, "extend: want NAME and --ttl DURATION");
        Ak__V1__ExtendSandboxRequest req = AK__V1__EXTEND_SANDBOX_REQUEST__INIT;
        req.name = (char *)name;
        req.by_seconds = (uint32_t)ttl;
        ProtobufCMessage *resp = NULL;
        if (call("extend", "ExtendSandbox", &req.base, &resp))
                return 1;
        Ak__V1__Sandbox *sb = (Ak__V1__Sandbox *)resp;
        int r;
        if (json) {
                r = print_sandboxes(&sb, 1, true, false);
        } else {
                char when[40];
                time_t t = (time_t)(sb->expires_at_ms / 1000);
                struct tm tm;
                gmtime_r(&t, &tm);
                strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
                r = printf("sandbox %s expires at %s\n", name, when) < 0;
        }
        protobuf_c_message_free_unpacked(resp, NULL);
        return r;
}

int cli_sandbox_run(int argc, char **argv)
{
        if (argc < 2)
                return cli_usage_error(&cmd, "which subcommand? create, start, stop, remove, list, info, cp, "
                                       "exec-list, exec-logs or exec-kill");
        const char *sub = argv[1];
        if (strcmp(sub, "create") == 0)
                return do_create(argc - 1, argv + 1);
        if (strcmp(sub, "cp") == 0)
                return do_cp(argc - 1, argv + 1);
        if (strcmp(sub, "extend") == 0)
                return do_extend(argc - 1, argv + 1);
        if (strcmp(sub, "exec-list") == 0 || strcmp(sub, "exec-logs") == 0 || strcmp(sub, "exec-kill") == 0)
                return cli_sandbox_detached(argc - 1, argv + 1);
        if (strcmp(sub, "start") == 0 || strcmp(sub, "stop") == 0 || strcmp(sub, "remove") == 0 ||
            strcmp(sub, "rm") == 0 || strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0 ||
            strcmp(sub, "info") == 0) {
                const char *verb = strcmp(sub, "rm") == 0 ? "remove" : strcmp(sub, "ls") == 0 ? "list" : sub;
                return do_simple(verb, argc - 1, argv + 1);
        }
        return cli_usage_error(&cmd, "unknown subcommand %s", sub);
}
