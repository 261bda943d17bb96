/* `ak snapshot take|list|rm|restore`: disk snapshots of sandboxes through
 * the scheduler (agentkernel's `snapshot take|list|delete|restore`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/opt.h"
#include "cli/scheduler_call.h"
#include "cli/stack.h"
#include "lib/json/writer.h"
#include "protos/ak/v1/scheduler.pb-c.h"

const char cli_snapshot_help[] =
        "Usage: ak snapshot take SANDBOX [NAME] [--push REF] [--json]\n"
        "       ak snapshot list [--json]\n"
        "       ak snapshot rm NAME            (also: delete)\n"
        "       ak snapshot restore NAME [--name SANDBOX] [--json]\n"
        "\n"
        "A snapshot is the root disk of a running sandbox saved as a new local image\n"
        "on the node that runs it. `take` makes it consistent first: the guest's root\n"
        "file system is synced and frozen (busybox fsfreeze) while the copy starts,\n"
        "or, where the image cannot freeze, synced and the VM paused; the guest runs\n"
        "on while the copy completes. Only sandboxes of a root disk image have a disk\n"
        "to save (`ak image build`, `ak image import`, `ak image pull`); a sandbox of\n"
        "the base image keeps its files in memory.\n"
        "\n"
        "NAME is an image name (a-z 0-9 . _ -, starting with a letter or digit);\n"
        "without one, take names the snapshot SANDBOX-YYYYMMDD-HHMMSS (UTC).\n"
        "`restore` creates a sandbox from it (named NAME unless --name says otherwise),\n"
        "as `ak sandbox create SANDBOX --image NAME` and `ak run --image NAME` do.\n"
        "Only the tenant that took a snapshot sees, restores and removes it.\n"
        "\n"
        "--push REF: after the take, the executor pushes the snapshot to the registry\n"
        "REF names (its --registry-* settings; loopback registries over plain http) as\n"
        "an ak disk image (one zstd layer holding the ext4 disk,\n"
        "application/vnd.ak.disk.ext4.v1+zstd); `ak sandbox create X --image REF` then\n"
        "starts from it on any executor, which pulls it once. A failed push fails the\n"
        "command with the registry's reason; the snapshot stays on its node.\n"
        "\n"
        "Examples:\n"
        "  ak sandbox create dev --image py && ak exec dev -- pip install requests\n"
        "  ak snapshot take dev py-with-requests\n"
        "  ak snapshot restore py-with-requests --name dev2\n"
        "  ak run --image py-with-requests -- python3 -c 'import requests'\n"
        "  ak snapshot list --json | jq -r '.[].name'\n"
        "  ak snapshot rm py-with-requests\n";

static const struct cli_command cmd = { "snapshot", "", cli_snapshot_run, cli_snapshot_help };

static int call(const char *verb, const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
        return cli_scheduler_call("snapshot", verb, method, req, resp) < 0 ? 1 : 0;
}

static const struct cli_option json_opts[] = { { "json", 0, false, 'j' }, { NULL, 0, false, 0 } };
static const struct cli_option name_opts[] = { { "name", 'n', true, 'n' }, { NULL, 0, false, 0 } };
static const struct cli_option *const restore_tables[] = { json_opts, name_opts, NULL };
static const struct cli_option push_opts[] = { { "push", 0, true, 'p' }, { NULL, 0, false, 0 } };
static const struct cli_option *const json_tables[] = { json_opts, NULL };
static const struct cli_option *const take_tables[] = { json_opts, push_opts, NULL };
const struct cli_sub cli_snapshot_subs[] = {
        { "take", take_tables }, { "list", json_tables },    { "ls", json_tables },
        { "rm", json_tables },   { "delete", json_tables }, { "restore", restore_tables },
        { NULL, NULL },
};

/* Parses [--json], the value option of tables (restore: --name X, take:
 * --push REF) into *value and up to max_args operands into args; 2 (after a
 * usage error) on anything else, else 0. */
static int parse(const char *verb, int argc, char **argv, const struct cli_option *const *tables, int max_args,
                 const char **args, int *ret_n, bool *json, const char **value)
{
        struct cli_opts p;
        int c, n = 0;
        cli_opts_init(&p, &cmd, tables, argc, argv);
        while ((c = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (c == CLI_OPT_ERROR)
                        return 2;
                if (c == CLI_OPT_POSITIONAL) {
                        if (n == max_args)
                                return cli_usage_error(&cmd, "%s: unexpected %s", verb, p.arg);
                        args[n++] = p.arg;
                } else if (c == 'j') {
                        *json = true;
                } else {
                        *value = p.arg;
                }
        }
        for (int i = p.dashdash ? cli_opts_index(&p) : argc; i < argc; i++) {
                if (n == max_args)
                        return cli_usage_error(&cmd, "%s: unexpected %s", verb, argv[i]);
                args[n++] = argv[i];
        }
        *ret_n = n;
        return 0;
}

static void str(struct json_writer *w, const char *k, const char *v)
{
        json_writer_key(w, k, strlen(k));
        json_writer_string(w, v ? v : "", v ? strlen(v) : 0);
}

static void snapshot_json(struct json_writer *w, const Ak__V1__Snapshot *s, bool take)
{
        json_writer_begin_object(w);
        str(w, "name", s->name);
        str(w, "sandbox", s->sandbox);
        str(w, "image", s->image);
        str(w, "tenant", s->tenant);
        str(w, "executor", s->executor_id);
        json_writer_key(w, "created_at_ms", 13);
        json_writer_i64(w, s->created_at_ms);
        json_writer_key(w, "size_bytes", 10);
        json_writer_u64(w, s->size_bytes);
        if (take) {
                str(w, "consistency", s->consistency);
                json_writer_key(w, "pause_ms", 8);
                json_writer_i64(w, s->pause_ms);
                json_writer_key(w, "copy_ms", 7);
                json_writer_i64(w, s->copy_ms);
                if (s->pushed && *s->pushed) {
                        str(w, "pushed", s->pushed);
                        str(w, "pushed_digest", s->pushed_digest);
                }
        }
        json_writer_end_object(w);
}

static int print_json(Ak__V1__Snapshot *const *v, size_t n, bool array, bool take)
{
        struct json_writer *w = NULL;
        char *data = NULL;
        size_t len;
        if (json_writer_new(0, 64u << 20, &w) < 0)
                return 1;
        if (array)
                json_writer_begin_array(w);
        for (size_t i = 0; i < n; i++)
                snapshot_json(w, v[i], take);
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

static void human_size(uint64_t b, char *buf, size_t size)
{
        if (b >= (1ull << 30))
                snprintf(buf, size, "%.1f GiB", (double)b / (1ull << 30));
        else
                snprintf(buf, size, "%.1f MiB", (double)b / (1ull << 20));
}

static int do_take(int argc, char **argv)
{
        const char *args[2] = { NULL, NULL }, *push = NULL;
        bool json = false;
        int n, r = parse("take", argc, argv, take_tables, 2, args, &n, &json, &push);
        if (r)
                return r < 0 ? 0 : r;
        if (n < 1)
                return cli_usage_error(&cmd, "take: which sandbox? give its NAME (`ak sandbox list`)");
        Ak__V1__TakeSnapshotRequest req = AK__V1__TAKE_SNAPSHOT_REQUEST__INIT;
        req.sandbox = (char *)args[0];
        req.name = (char *)(args[1] ? args[1] : "");
        req.push = (char *)(push ? push : "");
        Ak__V1__Snapshot *s = NULL;
        if (call("take", "TakeSnapshot", &req.base, (ProtobufCMessage **)&s))
                return 1;
        char size[32];
        human_size(s->size_bytes, size, sizeof(size));
        if (json)
                r = print_json(&s, 1, false, true);
        else
                printf("snapshot %s of sandbox %s on %s: %s (%s; guest held %lld ms, copy %lld ms)\n", s->name,
                       s->sandbox, s->executor_id, size, s->consistency, (long long)s->pause_ms,
                       (long long)s->copy_ms);
        if (!json && s->pushed && *s->pushed)
                printf("pushed to %s as %s (`ak sandbox create NAME --image %s` on any executor)\n", s->pushed,
                       s->pushed_digest, s->pushed);
        protobuf_c_message_free_unpacked(&s->base, NULL);
        return r;
}

static int do_list(int argc, char **argv)
{
        const char *unused = NULL;
        bool json = false;
        int n, r = parse("list", argc, argv, json_tables, 0, NULL, &n, &json, &unused);
        if (r)
                return r < 0 ? 0 : r;
        Ak__V1__ListSnapshotsRequest req = AK__V1__LIST_SNAPSHOTS_REQUEST__INIT;
        Ak__V1__ListSnapshotsResponse *l = NULL;
        if (call("list", "ListSnapshots", &req.base, (ProtobufCMessage **)&l))
                return 1;
        if (json) {
                r = print_json(l->snapshots, l->n_snapshots, true, false);
        } else {
                printf("%-32s %-20s %-16s %-10s %-20s %s\n", "NAME", "SANDBOX", "IMAGE", "SIZE", "CREATED (UTC)",
                       "EXECUTOR");
                for (size_t i = 0; i < l->n_snapshots; i++) {
                        const Ak__V1__Snapshot *s = l->snapshots[i];
                        char size[32], when[32] = "-";
                        struct tm tm;
                        time_t t = (time_t)(s->created_at_ms / 1000);
                        human_size(s->size_bytes, size, sizeof(size));
                        if (s->created_at_ms > 0 && gmtime_r(&t, &tm))
                                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
                        printf("%-32s %-20s %-16s %-10s %-20s %s\n", s->name, s->sandbox, s->image, size, when,
                               s->executor_id);
                }
        }
        protobuf_c_message_free_unpacked(&l->base, NULL);
        return r;
}

static int do_rm(int argc, char **argv)
{
        const char *args[1] = { NULL }, *unused = NULL;
        bool json = false;
        int n, r = parse("rm", argc, argv, json_tables, 1, args, &n, &json, &unused);
        if (r)
                return r < 0 ? 0 : r;
        if (n < 1)
                return cli_usage_error(&cmd, "rm: which snapshot? give its NAME (`ak snapshot list`)");
        Ak__V1__DeleteSnapshotRequest req = AK__V1__DELETE_SNAPSHOT_REQUEST__INIT;
        req.name = (char *)args[0];
        ProtobufCMessage *resp = NULL;
        if (call("rm", "DeleteSnapshot", &req.base, &resp))
                return 1;
        protobuf_c_message_free_unpacked(resp, NULL);
        printf(json ? "{}\n" : "removed snapshot %s\n", args[0]);
        return 0;
}

static int do_restore(int argc, char **argv)
{
        const char *args[1] = { NULL }, *name = NULL;
        bool json = false;
        int n, r = parse("restore", argc, argv, restore_tables, 1, args, &n, &json, &name);
        if (r)
                return r < 0 ? 0 : r;
        if (n < 1)
                return cli_usage_error(&cmd, "restore: which snapshot? give its NAME (`ak snapshot list`)");
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        spec.name = (char *)(name ? name : args[0]);
        spec.image = (char *)args[0];
        spec.persistent = true;
        Ak__V1__CreateSandboxRequest req = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
        req.spec = &spec;
        Ak__V1__Sandbox *sb = NULL;
        if (call("restore", "CreateSandbox", &req.base, (ProtobufCMessage **)&sb))
                return 1;
        if (json) {
                struct json_writer *w = NULL;
                char *data = NULL;
                size_t len;
                r = json_writer_new(0, 1u << 20, &w);
                if (r == 0) {
                        json_writer_begin_object(w);
                        str(w, "name", spec.name);
                        str(w, "image", spec.image);
                        str(w, "executor", sb->executor_id);
                        json_writer_end_object(w);
                        r = json_writer_finish(w, &data, &len);
                        json_writer_free(w);
                }
                if (r == 0)
                        printf("%.*s\n", (int)len, data);
                free(data);
        } else
                printf("created sandbox %s from snapshot %s on %s (`ak exec %s -- CMD`)\n", spec.name, spec.image,
                       sb->executor_id, spec.name);
        protobuf_c_message_free_unpacked(&sb->base, NULL);
        return r < 0 ? 1 : 0;
}

int cli_snapshot_run(int argc, char **argv)
{
        if (argc < 2)
                return cli_usage_error(&cmd, "which subcommand? take, list, rm or restore");
        const char *sub = argv[1];
        if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
                fputs(cli_snapshot_help, stdout);
                return 0;
        }
        if (strcmp(sub, "take") == 0)
                return do_take(argc - 1, argv + 1);
        if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0)
                return do_list(argc - 1, argv + 1);
        if (strcmp(sub, "rm") == 0 || strcmp(sub, "delete") == 0)
                return do_rm(argc - 1, argv + 1);
        if (strcmp(sub, "restore") == 0)
                return do_restore(argc - 1, argv + 1);
        return cli_usage_error(&cmd, "unknown subcommand %s: take, list, rm or restore", sub);
}
