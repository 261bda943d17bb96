/* Creates waiting in the queue, as GetSandbox and ListSandboxes show them:
 * CREATING, no executor yet, with their place in the queue (the way a
 * create waiting on its image pull shows its pull). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protos/ak/v1/scheduler.pb-c.h"
#include "services/scheduler/admission.h"
#include "services/scheduler/registry.h"
#include "services/scheduler/service_internal.h"

/* One waiting create as a Sandbox; its strings point into e. */
struct queued_view {
        Ak__V1__Sandbox sb;
        Ak__V1__SandboxSpec spec;
        Ak__V1__QueuePosition pos;
};

static void view_of(struct admission_entry *e, struct queued_view *v)
{
        v->spec = (Ak__V1__SandboxSpec)AK__V1__SANDBOX_SPEC__INIT;
        v->spec.name = e->name;
        v->spec.tenant = e->tenant;
        v->pos = (Ak__V1__QueuePosition)AK__V1__QUEUE_POSITION__INIT;
        v->pos.position = e->position;
        v->pos.waiting = e->waiting;
        v->sb = (Ak__V1__Sandbox)AK__V1__SANDBOX__INIT;
        v->sb.spec = &v->spec;
        v->sb.state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_CREATING;
        v->sb.executor_id = "";
        v->sb.queued = &v->pos;
}

int sched_queued_get(struct scheduler *s, struct rpc_call *call, const struct registry_scope *scope,
                     const char *name)
{
        struct admission_entry e;
        if (!s->adm || admission_lookup(s->adm, name, &e) < 0 || !registry_scope_has(scope, e.tenant))
                return RPC_NOT_FOUND;
        struct queued_view v;
        view_of(&e, &v);
        rpc_call_reply(call, &v.sb.base);
        return RPC_OK;
}

static int by_name(const void *a, const void *b)
{
        const Ak__V1__Sandbox *x = *(Ak__V1__Sandbox *const *)a, *y = *(Ak__V1__Sandbox *const *)b;
        return strcmp(x->spec && x->spec->name ? x->spec->name : "", y->spec && y->spec->name ? y->spec->name : "");
}

int sched_queued_reply_list(struct scheduler *s, struct rpc_call *call, const struct registry_scope *scope,
                            const Ak__V1__ListSandboxesRequest *req, Ak__V1__ListSandboxesResponse *resp)
{
        struct admission_entry *e = NULL;
        size_t n = 0;
        /* Waiting creates have no labels yet: a selector matches none. */
        if (s->adm && req->n_label_selector == 0 && admission_list(s->adm, &e, &n) < 0)
                return -ENOMEM;
        struct queued_view *v = calloc(n ? n : 1, sizeof(*v));
        Ak__V1__Sandbox **all = calloc(resp->n_sandboxes + n + 1, sizeof(*all));
        if (!v || !all) {
                free(e);
                free(v);
                free(all);
                return -ENOMEM;
        }
        size_t m = 0;
        for (size_t i = 0; i < resp->n_sandboxes; i++)
                all[m++] = resp->sandboxes[i];
        for (size_t i = 0; i < n; i++) {
                if (!registry_scope_has(scope, e[i].tenant))
                        continue;
                view_of(&e[i], &v[i]);
                all[m++] = &v[i].sb;
        }
        qsort(all, m, sizeof(*all), by_name);
        Ak__V1__ListSandboxesResponse out = *resp;
        out.sandboxes = all;
        out.n_sandboxes = m;
        int r = rpc_call_reply(call, &out.base);
        free(all);
        free(v);
        free(e);
        return r == -E2BIG ? r : 0;
}
