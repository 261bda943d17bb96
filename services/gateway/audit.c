/* GET /audit and GET /sandboxes/{name}/logs: agentkernel's audit events as
 * the auditor's file destination keeps them (--audit-file; `ak up` passes
 * $AK_HOME/audit.jsonl, the file `ak audit tail` reads), the caller's
 * tenant's only (actor.org_id; none: "default"), newest GW_AUDIT_MAX. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/audit/event.h"
#include "lib/json/writer.h"
#include "lib/svc/tokens.h"
#include "services/gateway/api_internal.h"

#define GW_AUDIT_MAX 1000

struct ring {
        char *line[GW_AUDIT_MAX];
        size_t len[GW_AUDIT_MAX];
        size_t n, next;   /* kept; where the next goes */
};

static void ring_push(struct ring *r, char *line, size_t len)
{
        free(r->line[r->next]);
        r->line[r->next] = line;
        r->len[r->next] = len;
        r->next = (r->next + 1) % GW_AUDIT_MAX;
        if (r->n < GW_AUDIT_MAX)
                r->n++;
}

static void ring_free(struct ring *r)
{
        for (size_t i = 0; i < GW_AUDIT_MAX; i++)
                free(r->line[i]);
}

static bool wanted(const struct audit_event *e, const char *tenant, const char *sandbox)
{
        const char *t = e->actor && e->actor->org_id && *e->actor->org_id ? e->actor->org_id : TOKEN_DEFAULT_TENANT;
        if (strcmp(t, tenant))
                return false;
        return !sandbox || (e->resource && e->resource->resource_id && !strcmp(e->resource->resource_id, sandbox));
}

/* The matching lines of the file into r. Lines that are not events (a torn
 * last line, a foreign one) are skipped, as `ak audit tail` does. */
static int scan(FILE *f, const char *tenant, const char *sandbox, struct ring *r)
{
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;

        while ((n = getline(&line, &cap, f)) > 0) {
                while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                        n--;
                if (n == 0 || (size_t)n > AUDIT_MAX_EVENT_JSON)
                        continue;
                struct audit_event *e = NULL;
                if (audit_event_from_json(line, (size_t)n, &e, NULL) < 0)
                        continue;
                if (!wanted(e, tenant, sandbox)) {
                        audit_event_free(e);
                        continue;
                }
                /* Re-serialized: what is answered is one valid event. */
                char *copy = NULL;
                size_t len = 0;
                int er = audit_event_to_json(e, &copy, &len);
                audit_event_free(e);
                if (er == -ENOMEM) {
                        free(line);
                        return er;
                }
                if (er == 0)
                        ring_push(r, copy, len);
        }
        free(line);
        return ferror(f) ? -EIO : 0;
}

static int audit_answer(struct gateway *g, const char *tenant, const char *sandbox, struct gw_resp *ret)
{
        char msg[640];

        if (!g->cfg.audit_file)
                return gw_resp_error(ret, 501,
                                     "this ak-gateway reads no audit log (start it with --audit-file, as "
                                     "`ak up` does); on a fleet, audit events go to the auditor's "
                                     "destinations: read them there or with `ak audit tail --auditor ADDR`");
        struct ring *r = calloc(1, sizeof(*r));
        if (!r)
                return gw_resp_error(ret, 500, "out of memory");
        FILE *f = fopen(g->cfg.audit_file, "re");
        int e = 0;
        if (f) {
                e = scan(f, tenant, sandbox, r);
                fclose(f);
        } else if (errno != ENOENT) {   /* no file yet: no events yet */
                e = -errno;
        }
        if (e < 0) {
                ring_free(r);
                free(r);
                snprintf(msg, sizeof(msg), "read the audit log %.400s: %s", g->cfg.audit_file, strerror(-e));
                return gw_resp_error(ret, 500, msg);
        }
        struct json_writer *w = gw_begin_ok();
        if (w) {
                json_writer_begin_array(w);
                size_t first = r->n < GW_AUDIT_MAX ? 0 : r->next;
                for (size_t i = 0; i < r->n; i++) {
                        size_t k = (first + i) % GW_AUDIT_MAX;
                        json_writer_raw(w, r->line[k], r->len[k]);
                }
                json_writer_end_array(w);
        }
        ring_free(r);
        free(r);
        return gw_finish(w, 200, ret);
}

int gw_audit(struct gateway *g, const char *tenant, struct gw_resp *ret)
{
        return audit_answer(g, tenant, NULL, ret);
}

int gw_sandbox_logs(struct gateway *g, const char *name, const char *tenant, struct gw_resp *ret)
{
        /* agentkernel answers 404 for a sandbox that does not exist. */
        if (gw_own(g, name, tenant, NULL, ret) < 0)
                return 0;
        return audit_answer(g, tenant, name, ret);
}
