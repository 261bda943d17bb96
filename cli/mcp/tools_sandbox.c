/* The sandbox and file tools: one scheduler call each (start and stop look
 * first, as agentkernel says "already running"). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/mcp/tools_impl.h"
#include "lib/base/utf8.h"
#include "lib/encoding/base64.h"
#include "protos/ak/v1/scheduler.pb-c.h"

void mcp_tool_create(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        const char *name, *image, *url, *ref;
        char **ports = NULL;
        size_t n_ports;

        if (!mcp_arg_str(args, "name", true, &name, res) || !mcp_arg_str(args, "image", false, &image, res) ||
            !mcp_arg_str(args, "source_url", false, &url, res) || !mcp_arg_str(args, "source_ref", false, &ref, res) ||
            !mcp_arg_strings(args, "ports", false, 64, &ports, &n_ports, res))
                return;
        free(ports);
        if (n_ports)
                return mcp_fail(res, "ports: port mappings are not supported by ak's microVMs");
        if (url)
                return mcp_fail(res, "source_url: cloning into /workspace is not supported yet; create the "
                                     "sandbox, then sandbox_exec git clone in an image that has git");
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        Ak__V1__CreateSandboxRequest req = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
        Ak__V1__Sandbox *sb = NULL;
        if (!mcp_arg_secrets(args, &spec, res))
                return;
        spec.name = (char *)name;
        spec.image = (char *)(image ? image : "");
        spec.persistent = true;
        req.spec = &spec;
        bool ok = mcp_unary(ctx, "CreateSandbox", &req.base, (ProtobufCMessage **)&sb, res);
        mcp_spec_secrets_free(&spec);
        if (!ok)
                return;
        mcp_text_printf(&res->text, "Sandbox '%s' created and started with image '%s'", name,
                        sb->spec && sb->spec->image && *sb->spec->image ? sb->spec->image : "base");
        protobuf_c_message_free_unpacked(&sb->base, NULL);
}

static const char *state_word(Ak__V1__SandboxState s)
{
        switch (s) {
        case AK__V1__SANDBOX_STATE__SANDBOX_STATE_CREATING: return "creating";
        case AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING: return "running";
        case AK__V1__SANDBOX_STATE__SANDBOX_STATE_STOPPED: return "stopped";
        case AK__V1__SANDBOX_STATE__SANDBOX_STATE_ERROR: return "error";
        default: return "unknown";
        }
}

void mcp_tool_list(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        Ak__V1__ListSandboxesRequest req = AK__V1__LIST_SANDBOXES_REQUEST__INIT;
        Ak__V1__ListSandboxesResponse *l = NULL;

        if (!mcp_unary(ctx, "ListSandboxes", &req.base, (ProtobufCMessage **)&l, res))
                return;
        if (l->n_sandboxes == 0)
                mcp_text_puts(&res->text, "No sandboxes found.");
        else
                mcp_text_puts(&res->text, "NAME\tSTATUS\tBACKEND\tIP\tPORTS\n");
        for (size_t i = 0; i < l->n_sandboxes; i++) {
                const Ak__V1__Sandbox *s = l->sandboxes[i];
                mcp_text_printf(&res->text, "%s\t%s\t%s\t-\t\n", s->spec && s->spec->name ? s->spec->name : "",
                                state_word(s->state), s->backend && *s->backend ? s->backend : "unknown");
        }
        /* After agentkernel's table, for creates that wait on an image pull. */
        for (size_t i = 0, n = 0; i < l->n_sandboxes; i++) {
                const Ak__V1__Sandbox *s = l->sandboxes[i];
                const Ak__V1__ImagePull *p = s->image_pull;
                if (!p)
                        continue;
                if (n++ == 0)
                        mcp_text_puts(&res->text, "\nIMAGE PULLS\nSANDBOX\tIMAGE\tSTATE\tBYTES\n");
                mcp_text_printf(&res->text, "%s\t%s\t%s\t%llu/%llu%s%s\n", s->spec && s->spec->name ? s->spec->name : "",
                                p->image ? p->image : "", p->state ? p->state : "",
                                (unsigned long long)p->bytes_done, (unsigned long long)p->bytes_total,
                                p->error && *p->error ? "\t" : "", p->error ? p->error : "");
        }
        protobuf_c_message_free_unpacked(&l->base, NULL);
}

void mcp_tool_remove(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        Ak__V1__RemoveSandboxRequest req = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        const char *name;

        if (!mcp_arg_str(args, "name", true, &name, res))
                return;
        req.name = (char *)name;
        if (!mcp_unary(ctx, "RemoveSandbox", &req.base, &resp, res))
                return;
        protobuf_c_message_free_unpacked(resp, NULL);
        mcp_text_printf(&res->text, "Sandbox '%s' removed.", name);
}

static bool write_one(void *ctx, const char *name, const char *path, const char *content, size_t len,
                      struct mcp_tool_result *res)
{
        Ak__V1__WriteFileRequest req = AK__V1__WRITE_FILE_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;

        req.sandbox = (char *)name;
        req.path = (char *)path;
        req.content.data = (uint8_t *)content;
        req.content.len = len;
        if (!mcp_unary(ctx, "WriteFile", &req.base, &resp, res))
                return false;
        protobuf_c_message_free_unpacked(resp, NULL);
        return true;
}

void mcp_tool_file_write(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        const struct json_value *c = json_object_get(args, "content");
        const char *name, *path;
        size_t len;

        if (!mcp_arg_str(args, "name", true, &name, res) || !mcp_arg_str(args, "path", true, &path, res))
                return;
        if (!c || json_value_type(c) != JSON_STRING)
                return mcp_fail(res, "content is required (a string)");
        const char *content = json_string(c, &len);
        if (write_one(ctx, name, path, content, len, res))
                mcp_text_printf(&res->text, "Wrote %zu bytes to '%s' in sandbox '%s'", len, path, name);
}

void mcp_tool_file_read(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        Ak__V1__ReadFileRequest req = AK__V1__READ_FILE_REQUEST__INIT;
        Ak__V1__ReadFileResponse *r = NULL;
        const char *name, *path;

        if (!mcp_arg_str(args, "name", true, &name, res) || !mcp_arg_str(args, "path", true, &path, res))
                return;
        req.sandbox = (char *)name;
        req.path = (char *)path;
        if (!mcp_unary(ctx, "ReadFile", &req.base, (ProtobufCMessage **)&r, res))
                return;
        if (utf8_valid(r->content.data, r->content.len)) {
                mcp_text_append(&res->text, r->content.data, r->content.len);
        } else {
                char *b64 = NULL;
                if (base64_encode_alloc(r->content.data, r->content.len, &b64) < 0) {
                        mcp_fail(res, "out of memory encoding %zu bytes", r->content.len);
                } else {
                        mcp_text_printf(&res->text, "[binary file, %zu bytes, base64 encoded]\n", r->content.len);
                        mcp_text_puts(&res->text, b64);
                }
                free(b64);
        }
        protobuf_c_message_free_unpacked(&r->base, NULL);
}

void mcp_tool_write_files(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        const struct json_value *files = json_object_get(args, "files");
        const char *name;

        if (!mcp_arg_str(args, "name", true, &name, res))
                return;
        if (!files || json_value_type(files) != JSON_OBJECT)
                return mcp_fail(res, "files is required (object mapping path to content)");
        size_t n = json_object_size(files), len, klen;
        if (n == 0)
                return mcp_fail(res, "files map is empty");
        /* Check every entry before writing any. */
        for (size_t i = 0; i < n; i++) {
                const char *path = json_object_key(files, i, &klen);
                if (json_value_type(json_object_value(files, i)) != JSON_STRING || strlen(path) != klen)
                        return mcp_fail(res, "files[\"%.200s\"] must be a string (the file's content)", path);
        }
        for (size_t i = 0; i < n; i++) {
                const char *path = json_object_key(files, i, &klen);
                const char *content = json_string(json_object_value(files, i), &len);
                if (!write_one(ctx, name, path, content, len, res)) {
                        /* res holds "Error: <why>" (short: in the head). */
                        char why[768];
                        size_t wl = (size_t)res->text.total > 7 ? (size_t)res->text.total - 7 : 0;
                        wl = wl < sizeof(why) - 1 ? wl : sizeof(why) - 1;
                        memcpy(why, res->text.head + 7, wl);
                        why[wl] = 0;
                        return mcp_fail(res, "%.200s (wrote %zu of %zu files): %s", path, i, n, why);
                }
        }
        mcp_text_printf(&res->text, "Wrote %zu file(s) to sandbox '%s'", n, name);
}

/* Start or stop, saying "already ..." when the sandbox is in that state. */
static void start_stop(void *ctx, const struct json_value *args, struct mcp_tool_result *res, bool start)
{
        Ak__V1__GetSandboxRequest get = AK__V1__GET_SANDBOX_REQUEST__INIT;
        Ak__V1__Sandbox *sb = NULL;
        const char *name;

        if (!mcp_arg_str(args, "name", true, &name, res))
                return;
        get.name = (char *)name;
        if (!mcp_unary(ctx, "GetSandbox", &get.base, (ProtobufCMessage **)&sb, res))
                return;
        bool running = sb->state == AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING;
        protobuf_c_message_free_unpacked(&sb->base, NULL);
        if (running == start) {
                mcp_text_printf(&res->text, "Sandbox '%s' is already %s.", name, start ? "running" : "stopped");
                return;
        }
        Ak__V1__StartSandboxRequest sr = AK__V1__START_SANDBOX_REQUEST__INIT;
        Ak__V1__StopSandboxRequest pr = AK__V1__STOP_SANDBOX_REQUEST__INIT;
        sr.name = pr.name = (char *)name;
        if (!mcp_unary(ctx, start ? "StartSandbox" : "StopSandbox", start ? &sr.base : &pr.base,
                       (ProtobufCMessage **)&sb, res))
                return;
        protobuf_c_message_free_unpacked(&sb->base, NULL);
        mcp_text_printf(&res->text, "Sandbox '%s' %s.", name, start ? "started" : "stopped");
}

void mcp_tool_start(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        start_stop(ctx, args, res, true);
}

void mcp_tool_stop(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        start_stop(ctx, args, res, false);
}

/* agentkernel's durations: digits and a unit, s, m, h or d ("30m", "2d");
 * bare digits are seconds. 0 and -EINVAL (empty, no digits, other units, or
 * outside 1 s .. 30 days, the scheduler's bounds). */
static int parse_by(const char *s, uint32_t *ret)
{
        uint64_t n = 0, mult = 1;
        const char *p = s;

        for (; *p >= '0' && *p <= '9'; p++) {
                n = n * 10 + (uint64_t)(*p - '0');
                if (n > 30ull * 86400)
                        return -EINVAL;
        }
        if (p == s)
                return -EINVAL;
        switch (*p) {
        case 0: case 's': break;
        case 'm': mult = 60; break;
        case 'h': mult = 3600; break;
        case 'd': mult = 86400; break;
        default: return -EINVAL;
        }
        if (*p && p[1])
                return -EINVAL;
        n *= mult;
        if (n == 0 || n > 30ull * 86400)
                return -EINVAL;
        *ret = (uint32_t)n;
        return 0;
}

void mcp_tool_extend_ttl(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        Ak__V1__ExtendSandboxRequest req = AK__V1__EXTEND_SANDBOX_REQUEST__INIT;
        Ak__V1__Sandbox *sb = NULL;
        const char *name, *by;
        uint32_t secs;

        if (!mcp_arg_str(args, "name", true, &name, res) || !mcp_arg_str(args, "by", false, &by, res))
                return;
        if (parse_by(by ? by : "1h", &secs) < 0)
                return mcp_fail(res, "by %.64s: want a duration such as 30m, 1h or 2d (1 second to 30 days)", by);
        req.name = (char *)name;
        req.by_seconds = secs;
        if (!mcp_unary(ctx, "ExtendSandbox", &req.base, (ProtobufCMessage **)&sb, res))
                return;
        char when[40] = "";
        time_t t = (time_t)(sb->expires_at_ms / 1000);
        struct tm tm;
        if (sb->expires_at_ms > 0 && gmtime_r(&t, &tm))
                strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (*when)
                mcp_text_printf(&res->text, "Extended TTL for sandbox '%s'. New expiry: %s", name, when);
        else
                mcp_text_printf(&res->text, "Sandbox '%s' now has no expiry (TTL disabled).", name);
        protobuf_c_message_free_unpacked(&sb->base, NULL);
}
