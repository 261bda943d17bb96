/* Snapshot routes: agentkernel's /snapshots… (its SDK's listSnapshots,
 * takeSnapshot, getSnapshot, deleteSnapshot, restoreSnapshot) over the
 * Scheduler's TakeSnapshot/ListSnapshots/DeleteSnapshot, every call scoped
 * to the key's tenant (a snapshot of another tenant is never seen: 404).
 * Restore is CreateSandbox with spec.image = the snapshot, named as the
 * snapshot (as `ak snapshot restore NAME`). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/json/writer.h"
#include "protos/ak/v1/scheduler.pb-c.h"
#include "services/gateway/api_internal.h"

/* agentkernel's SnapshotMeta: image_tag is what a restore boots (in ak the
 * snapshot's own name), base_image the sandbox's image; plus ak's size. */
static void snapshot_json(struct json_writer *w, const Ak__V1__Snapshot *s)
{
        char when[40];

        json_writer_begin_object(w);
        gw_str(w, "name", s->name ? s->name : "");
        gw_str(w, "sandbox", s->sandbox ? s->sandbox : "");
        gw_str(w, "image_tag", s->name ? s->name : "");
        gw_str(w, "backend", "qemu-microvm");
        if (s->image && *s->image)
                gw_str(w, "base_image", s->image);
        gw_rfc3339(s->created_at_ms, when, sizeof(when));
        gw_str(w, "created_at", when);
        gw_key(w, "size_bytes");
        json_writer_u64(w, s->size_bytes);
        json_writer_end_object(w);
}

static int list(struct gateway *g, const char *tenant, Ak__V1__ListSnapshotsResponse **resp, struct gw_resp *ret)
{
        Ak__V1__ListSnapshotsRequest req = AK__V1__LIST_SNAPSHOTS_REQUEST__INIT;
        struct ak_error err = { 0 };
        int code = gw_call(g, tenant, "ListSnapshots", &req, (void **)resp, &err);

        if (code != RPC_OK) {
                gw_rpc_error(ret, code, &err);
                return -1;
        }
        return 0;
}

int gw_snap_list(struct gateway *g, const char *tenant, struct gw_resp *ret)
{
        Ak__V1__ListSnapshotsResponse *resp = NULL;

        if (list(g, tenant, &resp, ret) < 0)
                return 0;
        struct json_writer *w = gw_begin_ok();
        if (w) {
                json_writer_begin_array(w);
                for (size_t i = 0; i < resp->n_snapshots; i++)
                        snapshot_json(w, resp->snapshots[i]);
                json_writer_end_array(w);
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return gw_finish(w, 200, ret);
}

int gw_snap_get(struct gateway *g, const char *name, const char *tenant, struct gw_resp *ret)
{
        Ak__V1__ListSnapshotsResponse *resp = NULL;
        const Ak__V1__Snapshot *found = NULL;

        if (list(g, tenant, &resp, ret) < 0)
                return 0;
        for (size_t i = 0; i < resp->n_snapshots && !found; i++)
                if (resp->snapshots[i]->name && !strcmp(resp->snapshots[i]->name, name))
                        found = resp->snapshots[i];
        if (!found) {
                protobuf_c_message_free_unpacked(&resp->base, NULL);
                char msg[128];
                snprintf(msg, sizeof(msg), "Snapshot '%s' not found", name);
                return gw_resp_error(ret, 404, msg);
        }
        struct json_writer *w = gw_begin_ok();
        if (w)
                snapshot_json(w, found);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return gw_finish(w, 200, ret);
}

int gw_snap_take(struct gateway *g, const struct gw_snapshot_req *q, const char *tenant, struct gw_resp *ret)
{
        Ak__V1__TakeSnapshotRequest req = AK__V1__TAKE_SNAPSHOT_REQUEST__INIT;
        Ak__V1__Snapshot *snap = NULL;
        struct ak_error err = { 0 };

        req.sandbox = (char *)q->sandbox;
        req.name = (char *)(q->name ? q->name : "");
        int code = gw_call(g, tenant, "TakeSnapshot", &req, (void **)&snap, &err);
        if (code != RPC_OK)
                return gw_rpc_error(ret, code, &err);
        struct json_writer *w = gw_begin_ok();
        if (w)
                snapshot_json(w, snap);
        protobuf_c_message_free_unpacked(&snap->base, NULL);
        return gw_finish(w, 201, ret);
}

int gw_snap_delete(struct gateway *g, const char *name, const char *tenant, struct gw_resp *ret)
{
        Ak__V1__DeleteSnapshotRequest req = AK__V1__DELETE_SNAPSHOT_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        struct ak_error err = { 0 };

        req.name = (char *)name;
        int code = gw_call(g, tenant, "DeleteSnapshot", &req, (void **)&resp, &err);
        if (code != RPC_OK)
                return gw_rpc_error(ret, code, &err);
        protobuf_c_message_free_unpacked(resp, NULL);
        struct json_writer *w = gw_begin_ok();
        if (w)
                json_writer_string(w, "deleted", 7);
        return gw_finish(w, 200, ret);
}

int gw_snap_restore(struct gateway *g, const char *name, const char *tenant, struct gw_resp *ret)
{
        Ak__V1__CreateSandboxRequest req = AK__V1__CREATE_SANDBOX_REQUEST__INIT;
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        Ak__V1__Sandbox *sb = NULL;
        struct ak_error err = { 0 };

        spec.name = (char *)name;
        spec.image = (char *)name;
        spec.persistent = true;
        spec.tenant = (char *)tenant;
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
