/* Detached commands and snapshots, as agentkernel's tools show them: its
 * JSON (serde_json pretty) of a DetachedCommand or SnapshotMeta, or its
 * one-line texts. agentkernel names a detached command by id alone; the
 * scheduler wants the sandbox too, so the id is looked up in every
 * sandbox's list (ids are per sandbox: one found twice is an error). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/mcp/tools_impl.h"
#include "lib/json/writer.h"
#include "protos/ak/v1/scheduler.pb-c.h"

#define LOGS_MAX_CALLS 64       /* 64 x 1 MiB: the text keeps head and tail anyway */

static void rfc3339(int64_t ms, char *buf, size_t size)
{
        time_t t = (time_t)(ms / 1000);
        struct tm tm;

        if (ms <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
                snprintf(buf, size, "%s", "");
}

static void key_str(struct json_writer *w, const char *k, const char *v)
{
        json_writer_key(w, k, strlen(k));
        json_writer_string(w, v ? v : "", v ? strlen(v) : 0);
}

/* agentkernel's DetachedCommand: id, sandbox, command, pid, status, exit_code, started_at. */
static void write_detached(struct json_writer *w, const Ak__V1__DetachedCommand *d)
{
        char when[40];

        json_writer_begin_object(w);
        key_str(w, "id", d->id);
        key_str(w, "sandbox", d->sandbox);
        json_writer_key(w, "command", 7);
        json_writer_begin_array(w);
        for (size_t i = 0; i < d->n_argv; i++)
                json_writer_string(w, d->argv[i], strlen(d->argv[i]));
        json_writer_end_array(w);
        json_writer_key(w, "pid", 3);
        json_writer_i64(w, d->pid);
        key_str(w, "status", d->status);
        json_writer_key(w, "exit_code", 9);
        if (d->has_exit_code)
                json_writer_i64(w, d->exit_code);
        else
                json_writer_null(w);
        rfc3339(d->started_at_ms, when, sizeof(when));
        key_str(w, "started_at", when);
        json_writer_end_object(w);
}

/* agentkernel's SnapshotMeta. ak keeps no vCPU or memory figure with a
 * snapshot (null); image_tag is what a restore boots (the snapshot's name);
 * size_bytes is ak's. */
static void write_snapshot(struct json_writer *w, const Ak__V1__Snapshot *s)
{
        char when[40];

        json_writer_begin_object(w);
        key_str(w, "name", s->name);
        key_str(w, "sandbox", s->sandbox);
        key_str(w, "image_tag", s->name);
        key_str(w, "backend", "qemu");
        key_str(w, "base_image", s->image);
        json_writer_key(w, "vcpus", 5);
        json_writer_null(w);
        json_writer_key(w, "memory_mb", 9);
        json_writer_null(w);
        rfc3339(s->created_at_ms, when, sizeof(when));
        key_str(w, "created_at", when);
        json_writer_key(w, "size_bytes", 10);
        json_writer_u64(w, s->size_bytes);
        json_writer_end_object(w);
}

static struct json_writer *writer_or_fail(struct mcp_tool_result *res)
{
        struct json_writer *w = NULL;

        if (json_writer_new(JSON_WRITER_PRETTY | JSON_WRITER_LOSSY, 0, &w) < 0) {
                mcp_fail(res, "out of memory");
                return NULL;
        }
        return w;
}

/* The writer's output into res (freeing the writer). */
static void writer_done(struct json_writer *w, struct mcp_tool_result *res)
{
        char *out = NULL;
        size_t len = 0;
        int r = json_writer_finish(w, &out, &len);

        json_writer_free(w);
        if (r < 0)
                return mcp_fail(res, "writing the JSON result failed: %s", strerror(-r));
        mcp_text_append(&res->text, out, len);
        free(out);
}

static void reply_detached(const Ak__V1__DetachedCommand *d, struct mcp_tool_result *res)
{
        struct json_writer *w = writer_or_fail(res);
        if (!w)
                return;
        write_detached(w, d);
        writer_done(w, res);
}

void mcp_tool_exec_detach(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        Ak__V1__ExecDetachedRequest req = AK__V1__EXEC_DETACHED_REQUEST__INIT;
        Ak__V1__DetachedCommand *d = NULL;
        const char *name, *workdir;
        char **argv = NULL, **env = NULL;
        size_t argc, n_env;
        bool sudo;

        if (mcp_arg_str(args, "name", true, &name, res) &&
            mcp_arg_strings(args, "command", true, ARGV_MAX, &argv, &argc, res) &&
            mcp_arg_strings(args, "env", false, ENV_MAX, &env, &n_env, res) &&
            mcp_arg_str(args, "workdir", false, &workdir, res) && mcp_arg_bool(args, "sudo", false, &sudo, res)) {
                req.sandbox = (char *)name;
                req.argv = argv;
                req.n_argv = argc;
                req.env = env;
                req.n_env = n_env;
                req.workdir = (char *)(workdir ? workdir : "");
                req.sudo = sudo;
                if (mcp_unary(ctx, "ExecDetached", &req.base, (ProtobufCMessage **)&d, res)) {
                        reply_detached(d, res);
                        protobuf_c_message_free_unpacked(&d->base, NULL);
                }
        }
        free(argv);
        free(env);
}

/* Every sandbox's name (malloc'd array of malloc'd strings), or false. */
static bool sandbox_names(struct mcp_tools *t, char ***ret, size_t *ret_n, struct mcp_tool_result *res)
{
        Ak__V1__ListSandboxesRequest req = AK__V1__LIST_SANDBOXES_REQUEST__INIT;
        Ak__V1__ListSandboxesResponse *l = NULL;

        if (!mcp_unary(t, "ListSandboxes", &req.base, (ProtobufCMessage **)&l, res))
                return false;
        char **names = calloc(l->n_sandboxes + 1, sizeof(*names));
        size_t n = 0;
        for (size_t i = 0; names && i < l->n_sandboxes; i++) {
                const Ak__V1__Sandbox *s = l->sandboxes[i];
                if (s->state != AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING || !s->spec || !s->spec->name)
                        continue; /* a stopped sandbox runs no command */
                if (!(names[n++] = strdup(s->spec->name)))
                        n--;
        }
        protobuf_c_message_free_unpacked(&l->base, NULL);
        if (!names) {
                mcp_fail(res, "out of memory");
                return false;
        }
        *ret = names;
        *ret_n = n;
        return true;
}

static void free_names(char **names, size_t n)
{
        for (size_t i = 0; names && i < n; i++)
                free(names[i]);
        free(names);
}

/* One sandbox's detached commands; a sandbox that went away meanwhile is empty. */
static Ak__V1__ListDetachedResponse *list_of(struct mcp_tools *t, const char *sandbox, bool quiet,
                                             struct mcp_tool_result *res)
{
        Ak__V1__ListDetachedRequest req = AK__V1__LIST_DETACHED_REQUEST__INIT;
        Ak__V1__ListDetachedResponse *l = NULL;
        struct mcp_tool_result scratch;

        req.sandbox = (char *)sandbox;
        if (!mcp_unary(t, "ListDetached", &req.base, (ProtobufCMessage **)&l, quiet ? &scratch : res))
                return NULL;
        return l;
}

/* The sandbox running the detached command id (into sandbox), or false with
 * agentkernel's "Detached command 'ID' not found". */
static bool find_detached(struct mcp_tools *t, const char *id, char *sandbox, size_t size,
                          struct mcp_tool_result *res)
{
        char **names = NULL;
        size_t n = 0, found = 0;

        if (!sandbox_names(t, &names, &n, res))
                return false;
        for (size_t i = 0; i < n; i++) {
                Ak__V1__ListDetachedResponse *l = list_of(t, names[i], true, res);
                for (size_t j = 0; l && j < l->n_commands; j++)
                        if (strcmp(l->commands[j]->id, id) == 0 && found++ == 0)
                                snprintf(sandbox, size, "%s", names[i]);
                if (l)
                        protobuf_c_message_free_unpacked(&l->base, NULL);
        }
        free_names(names, n);
        if (found == 1)
                return true;
        if (found == 0)
                mcp_fail(res, "Detached command '%.200s' not found (sandbox_exec_list shows the running "
                              "sandboxes' commands)", id);
        else
                mcp_fail(res, "Detached command '%.200s' is in %zu sandboxes; ids are per sandbox", id, found);
        return false;
}

/* status and kill: one call on the command's DetachedRef. */
static void on_ref(void *ctx, const struct json_value *args, const char *method, struct mcp_tool_result *res)
{
        Ak__V1__DetachedRef req = AK__V1__DETACHED_REF__INIT;
        Ak__V1__DetachedCommand *d = NULL;
        const char *id;
        char sandbox[256];

        if (!mcp_arg_str(args, "id", true, &id, res) || !find_detached(ctx, id, sandbox, sizeof(sandbox), res))
                return;
        req.sandbox = sandbox;
        req.id = (char *)id;
        if (!mcp_unary(ctx, method, &req.base, (ProtobufCMessage **)&d, res))
                return;
        if (strcmp(method, "KillDetached") == 0)
                mcp_text_printf(&res->text, "Command %s killed.", id);
        else
                reply_detached(d, res);
        protobuf_c_message_free_unpacked(&d->base, NULL);
}

void mcp_tool_exec_status(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        on_ref(ctx, args, "GetDetached", res);
}

void mcp_tool_exec_kill(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        on_ref(ctx, args, "KillDetached", res);
}

/* The stream's kept bytes from the start, as agentkernel's `cat` of it. */
void mcp_tool_exec_logs(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        const char *id, *stream;
        char sandbox[256];
        uint64_t off = 0;

        if (!mcp_arg_str(args, "id", true, &id, res) || !mcp_arg_str(args, "stream", false, &stream, res))
                return;
        if (stream && strcmp(stream, "stdout") != 0 && strcmp(stream, "stderr") != 0)
                return mcp_fail(res, "stream %.64s: want stdout or stderr", stream);
        if (!find_detached(ctx, id, sandbox, sizeof(sandbox), res))
                return;
        for (int i = 0; i < LOGS_MAX_CALLS; i++) {
                Ak__V1__DetachedLogsRequest req = AK__V1__DETACHED_LOGS_REQUEST__INIT;
                Ak__V1__DetachedLogsResponse *r = NULL;
                req.sandbox = sandbox;
                req.id = (char *)id;
                req.stderr = stream && strcmp(stream, "stderr") == 0;
                req.offset = off;
                if (!mcp_unary(ctx, "DetachedLogs", &req.base, (ProtobufCMessage **)&r, res))
                        return;
                mcp_text_append(&res->text, r->data.data, r->data.len);
                bool more = r->data.len > 0 && r->next_offset > off;
                off = r->next_offset;
                protobuf_c_message_free_unpacked(&r->base, NULL);
                if (!more)
                        return;
        }
}

void mcp_tool_exec_list(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        const char *name;
        char **names = NULL;
        size_t n = 0;

        if (!mcp_arg_str(args, "name", false, &name, res))
                return;
        if (name) {
                if (!(names = calloc(1, sizeof(*names))) || !(names[0] = strdup(name))) {
                        free(names);
                        return mcp_fail(res, "out of memory");
                }
                n = 1;
        } else if (!sandbox_names(ctx, &names, &n, res)) {
                return;
        }
        struct json_writer *w = writer_or_fail(res);
        if (!w)
                goto out;
        json_writer_begin_array(w);
        for (size_t i = 0; i < n; i++) {
                Ak__V1__ListDetachedResponse *l = list_of(ctx, names[i], !name, res);
                if (!l && name) {
                        json_writer_free(w);
                        goto out;
                }
                for (size_t j = 0; l && j < l->n_commands; j++)
                        write_detached(w, l->commands[j]);
                if (l)
                        protobuf_c_message_free_unpacked(&l->base, NULL);
        }
        json_writer_end_array(w);
        writer_done(w, res);
out:
        free_names(names, n);
}

/* ---- snapshots ---- */

static Ak__V1__ListSnapshotsResponse *snapshots(void *ctx, struct mcp_tool_result *res)
{
        Ak__V1__ListSnapshotsRequest req = AK__V1__LIST_SNAPSHOTS_REQUEST__INIT;
        Ak__V1__ListSnapshotsResponse *l = NULL;

        return mcp_unary(ctx, "ListSnapshots", &req.base, (ProtobufCMessage **)&l, res) ? l : NULL;
}

static const Ak__V1__Snapshot *snapshot_named(const Ak__V1__ListSnapshotsResponse *l, const char *name)
{
        for (size_t i = 0; i < l->n_snapshots; i++)
                if (l->snapshots[i]->name && strcmp(l->snapshots[i]->name, name) == 0)
                        return l->snapshots[i];
        return NULL;
}

void mcp_tool_snapshot_list(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        Ak__V1__ListSnapshotsResponse *l = snapshots(ctx, res);
        struct json_writer *w;

        (void)args;
        if (!l)
                return;
        if ((w = writer_or_fail(res))) {
                json_writer_begin_array(w);
                for (size_t i = 0; i < l->n_snapshots; i++)
                        write_snapshot(w, l->snapshots[i]);
                json_writer_end_array(w);
                writer_done(w, res);
        }
        protobuf_c_message_free_unpacked(&l->base, NULL);
}

void mcp_tool_snapshot_take(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        Ak__V1__TakeSnapshotRequest req = AK__V1__TAKE_SNAPSHOT_REQUEST__INIT;
        Ak__V1__Snapshot *s = NULL;
        const char *sandbox, *name;
        struct json_writer *w;

        if (!mcp_arg_str(args, "sandbox", true, &sandbox, res) || !mcp_arg_str(args, "name", true, &name, res))
                return;
        req.sandbox = (char *)sandbox;
        req.name = (char *)name;
        if (!mcp_unary(ctx, "TakeSnapshot", &req.base, (ProtobufCMessage **)&s, res))
                return;
        if ((w = writer_or_fail(res))) {
                write_snapshot(w, s);
                writer_done(w, res);
        }
        protobuf_c_message_free_unpacked(&s->base, NULL);
}

void mcp_tool_snapshot_get(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        Ak__V1__ListSnapshotsResponse *l;
        const Ak__V1__Snapshot *s;
        const char *name;
        struct json_writer *w;

        if (!mcp_arg_str(args, "name", true, &name, res) || !(l = snapshots(ctx, res)))
                return;
        if (!(s = snapshot_named(l, name)))
                mcp_fail(res, "Snapshot '%.200s' not found", name);
        else if ((w = writer_or_fail(res))) {
                write_snapshot(w, s);
                writer_done(w, res);
        }
        protobuf_c_message_free_unpacked(&l->base, NULL);
}

void mcp_tool_snapshot_delete(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        Ak__V1__DeleteSnapshotRequest req = AK__V1__DELETE_SNAPSHOT_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        const char *name;

        if (!mcp_arg_str(args, "name", true, &name, res))
                return;
        req.name = (char *)name;
        if (!mcp_unary(ctx, "DeleteSnapshot", &req.base, &resp, res))
                return;
        protobuf_c_message_free_unpacked(resp, NULL);
        mcp_text_printf(&res->text, "Snapshot '%s' deleted.", name);
}

/* A new persistent sandbox booting the snapshot (CreateSandbox with the
 * snapshot as its image), named as_name or "<source sandbox>-restored". */
void mcp_tool_snapshot_restore(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        Ak__V1__ListSnapshotsResponse *l;
        const Ak__V1__Snapshot *s;
        const char *name, *as_name;
        char restored[256];

        if (!mcp_arg_str(args, "name", true, &name, res) || !mcp_arg_str(args, "as_name", false, &as_name, res) ||
            !(l = snapshots(ctx, res)))
                return;
        if (!(s = snapshot_named(l, name))) {
                protobuf_c_message_free_unpacked(&l->base, NULL);
                return mcp_fail(res, "Snapshot '%.200s' not found", name);
        }
        if (as_name)
                snprintf(restored, sizeof(restored), "%s", as_name);
        else
                snprintf(restored, sizeof(restored), "%s-restored", s->sandbox ? s->sandbox : "");
        protobuf_c_message_free_unpacked(&l->base, NULL);
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        Ak__V1__CreateSandboxRequest req = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
        Ak__V1__Sandbox *sb = NULL;
        spec.name = restored;
        spec.image = (char *)name;
        spec.persistent = true;
        req.spec = &spec;
        if (!mcp_unary(ctx, "CreateSandbox", &req.base, (ProtobufCMessage **)&sb, res))
                return;
        protobuf_c_message_free_unpacked(&sb->base, NULL);
        mcp_text_printf(&res->text, "Restored snapshot '%s' as sandbox '%s'.", name, restored);
}
