/* Sandbox routes: list, get, create, delete, start, stop; /status. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/json/writer.h"
#include "lib/rpc/rpc.h"
#include "lib/svc/tokens.h"
#include "services/gateway/api_internal.h"

static bool mine(const Ak__V1__Sandbox *sb, const char *tenant)
{
        const char *t = sb->spec && sb->spec->tenant && *sb->spec->tenant ? sb->spec->tenant : TOKEN_DEFAULT_TENANT;
        return !strcmp(t, tenant);
}

int gw_list(struct gateway *g, const char *tenant, const char *label, struct gw_resp *ret)
{
        Ak__V1__ListSandboxesRequest req = AK__V1__LIST_SANDBOXES_REQUEST__INIT;
        Ak__V1__ListSandboxesRequest__LabelSelectorEntry sel =
                AK__V1__LIST_SANDBOXES_REQUEST__LABEL_SELECTOR_ENTRY__INIT;
        Ak__V1__ListSandboxesRequest__LabelSelectorEntry *selp = &sel;
        Ak__V1__ListSandboxesResponse *resp = NULL;
        struct ak_error err = { 0 };
        char buf[512];
        const char *k, *v;

        if (label) {
                if (gw_label_parse(label, buf, sizeof(buf), &k, &v) < 0)
                        return gw_resp_error(ret, 400, "label: expected ?label=key:value");
                sel.key = (char *)k;
                sel.value = (char *)v;
                req.label_selector = &selp;
                req.n_label_selector = 1;
        }
        int code = gw_call(g, tenant, "ListSandboxes", &req, (void **)&resp, &err);
        if (code != RPC_OK)
                return gw_rpc_error(ret, code, &err);
        struct json_writer *w = gw_begin_ok();
        if (w) {
                json_writer_begin_array(w);
                for (size_t i = 0; i < resp->n_sandboxes; i++)
                        if (mine(resp->sandboxes[i], tenant))
                                gw_sandbox_json(w, resp->sandboxes[i]);
                json_writer_end_array(w);
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return gw_finish(w, 200, ret);
}

int gw_get(struct gateway *g, const char *name, const char *tenant, struct gw_resp *ret)
{
        Ak__V1__Sandbox *sb;

        if (gw_own(g, name, tenant, &sb, ret) < 0)
                return 0;
        struct json_writer *w = gw_begin_ok();
        if (w)
                gw_sandbox_json(w, sb);
        protobuf_c_message_free_unpacked(&sb->base, NULL);
        return gw_finish(w, 200, ret);
}

int gw_delete(struct gateway *g, const char *name, const char *tenant, struct gw_resp *ret)
{
        Ak__V1__RemoveSandboxRequest req = AK__V1__REMOVE_SANDBOX_REQUEST__INIT;
        Ak__V1__RemoveSandboxResponse *resp = NULL;
        struct ak_error err = { 0 };

        req.name = (char *)name;
        int code = gw_call(g, tenant, "RemoveSandbox", &req, (void **)&resp, &err);
        if (code != RPC_OK)
                return gw_rpc_error(ret, code, &err);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        struct json_writer *w = gw_begin_ok();
        if (w)
                json_writer_string(w, "removed", 7);
        return gw_finish(w, 200, ret);
}

int gw_start_stop(struct gateway *g, const char *name, const char *tenant, bool start, struct gw_resp *ret)
{
        Ak__V1__StartSandboxRequest sreq = AK__V1__START_SANDBOX_REQUEST__INIT;
        Ak__V1__StopSandboxRequest treq = AK__V1__STOP_SANDBOX_REQUEST__INIT;
        Ak__V1__Sandbox *sb = NULL;
        struct ak_error err = { 0 };
        int code;

        sreq.name = treq.name = (char *)name;
        code = start ? gw_call(g, tenant, "StartSandbox", &sreq, (void **)&sb, &err)
                     : gw_call(g, tenant, "StopSandbox", &treq, (void **)&sb, &err);
        if (code != RPC_OK)
                return gw_rpc_error(ret, code, &err);
        struct json_writer *w = gw_begin_ok();
        if (w)
                gw_sandbox_json(w, sb);
        protobuf_c_message_free_unpacked(&sb->base, NULL);
        return gw_finish(w, 200, ret);
}

int gw_create(struct gateway *g, const struct gw_create_req *q, const char *tenant, struct gw_resp *ret)
{
        Ak__V1__CreateSandboxRequest req = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        Ak__V1__SandboxSpec__LabelsEntry ents[GW_ENV_MAX], *entp[GW_ENV_MAX];
        Ak__V1__Sandbox *sb = NULL;
        struct ak_error err = { 0 };

        spec.name = (char *)q->name;
        spec.image = (char *)(q->image ? q->image : "");
        spec.profile = (char *)(q->profile ? q->profile : "");
        spec.vcpus = q->vcpus;
        spec.memory_mb = q->memory_mb;
        spec.ttl_seconds = q->ttl_seconds;
        spec.persistent = true;
        spec.tenant = (char *)tenant;
        for (size_t i = 0; i < q->n_labels; i++) {
                ak__v1__sandbox_spec__labels_entry__init(&ents[i]);
                ents[i].key = (char *)q->labels[i].key;
                ents[i].value = (char *)q->labels[i].value;
                entp[i] = &ents[i];
        }
        spec.labels = entp;
        spec.n_labels = q->n_labels;
        spec.secrets = (char **)q->secrets;
        spec.n_secrets = q->n_secrets;
        spec.secret_files = (char **)q->secret_files;
        spec.n_secret_files = q->n_secret_files;
        req.spec = &spec;
        int code = gw_call(g, tenant, "CreateSandbox", &req, (void **)&sb, &err);
        if (code != RPC_OK)
                return gw_rpc_error(ret, code, &err);
        struct json_writer *w = gw_begin_ok();
        if (w)
                gw_sandbox_json(w, sb);
        protobuf_c_message_free_unpacked(&sb->base, NULL);
        return gw_finish(w, 201, ret);
}

int gw_status(struct gateway *g, const char *tenant, struct gw_resp *ret)
{
        Ak__V1__ListExecutorsRequest req = AK__V1__LIST_EXECUTORS_REQUEST__INIT;
        Ak__V1__ListExecutorsResponse *resp = NULL;
        struct ak_error err = { 0 };
        size_t up = 0, sandboxes = 0;

        int code = gw_call(g, tenant, "ListExecutors", &req, (void **)&resp, &err);
        if (code != RPC_OK)
                return gw_rpc_error(ret, code, &err);
        for (size_t i = 0; i < resp->n_executors; i++) {
                const Ak__V1__ExecutorRecord *e = resp->executors[i];
                if (!e->lost)
                        up++;
                for (size_t j = 0; e->status && j < e->status->n_sandboxes; j++)
                        sandboxes += mine(e->status->sandboxes[j], tenant);
        }
        struct json_writer *w = gw_begin_ok();
        if (w) {
                json_writer_begin_object(w);
                gw_str(w, "status", up ? "ok" : "degraded");
                gw_str(w, "tenant", tenant);
                gw_key(w, "executors");
                json_writer_u64(w, resp->n_executors);
                gw_key(w, "executors_up");
                json_writer_u64(w, up);
                gw_key(w, "sandboxes");
                json_writer_u64(w, sandboxes);
                json_writer_end_object(w);
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return gw_finish(w, 200, ret);
}

int gw_extend(struct gateway *g, const char *name, uint64_t by_seconds, const char *tenant, struct gw_resp *ret)
{
        Ak__V1__ExtendSandboxRequest req = AK__V1__EXTEND_SANDBOX_REQUEST__INIT;
        Ak__V1__Sandbox *sb = NULL;
        struct ak_error err = { 0 };
        char when[40];

        req.name = (char *)name;
        req.by_seconds = (uint32_t)by_seconds;   /* gw_duration_parse: at most 365 days */
        int code = gw_call(g, tenant, "ExtendSandbox", &req, (void **)&sb, &err);
        if (code != RPC_OK)
                return gw_rpc_error(ret, code, &err);
        gw_rfc3339(sb->expires_at_ms, when, sizeof(when));
        protobuf_c_message_free_unpacked(&sb->base, NULL);
        struct json_writer *w = gw_begin_ok();
        if (w) {
                json_writer_begin_object(w);
                gw_str(w, "expires_at", when);
                json_writer_end_object(w);
        }
        return gw_finish(w, 200, ret);
}

int gw_by_uuid(struct gateway *g, const char *uuid, const char *tenant, struct gw_resp *ret)
{
        Ak__V1__ListSandboxesRequest req = AK__V1__LIST_SANDBOXES_REQUEST__INIT;
        Ak__V1__ListSandboxesResponse *resp = NULL;
        struct ak_error err = { 0 };

        int code = gw_call(g, tenant, "ListSandboxes", &req, (void **)&resp, &err);
        if (code != RPC_OK)
                return gw_rpc_error(ret, code, &err);
        const Ak__V1__Sandbox *found = NULL;
        for (size_t i = 0; i < resp->n_sandboxes && !found; i++) {
                const Ak__V1__Sandbox *sb = resp->sandboxes[i];
                if (sb->uuid && !strcmp(sb->uuid, uuid) && mine(sb, tenant))
                        found = sb;
        }
        if (!found) {
                protobuf_c_message_free_unpacked(&resp->base, NULL);
                return gw_resp_error(ret, 404, "Sandbox not found");
        }
        struct json_writer *w = gw_begin_ok();
        if (w)
                gw_sandbox_json(w, found);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return gw_finish(w, 200, ret);
}
