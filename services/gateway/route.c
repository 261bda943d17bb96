/* gw_route_parse: agentkernel's routes over a raw URL path. Segments are
 * split on '/' before %-decoding, so "%2F" never makes a new segment, and
 * every decoded segment is checked (no "..", ".", NUL or '/'). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "services/gateway/request.h"

#define MAX_SEGMENTS 512

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int gw_percent_decode(const char *s, size_t len, char *out, size_t size)
{
        size_t o = 0;

        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (c == '%') {
                        if (i + 2 >= len)
                                return -EINVAL;
                        int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
                        if (hi < 0 || lo < 0)
                                return -EINVAL;
                        c = (char)(hi << 4 | lo);
                        if (c == '\0')
                                return -EINVAL;
                        i += 2;
                }
                if (o + 1 >= size)
                        return -EINVAL;
                out[o++] = c;
        }
        if (size == 0)
                return -EINVAL;
        out[o] = '\0';
        return 0;
}

bool gw_name_ok(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > GW_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '.' || c == '-'))
                        return false;
        }
        return true;
}

struct seg {
        const char *p;
        size_t len;
};

/* Splits on '/', dropping empty segments as agentkernel does. */
static int split(const char *url, struct seg *segs, size_t *ret_n)
{
        size_t n = 0;

        for (const char *p = url; *p;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                const char *e = strchr(p, '/');
                size_t len = e ? (size_t)(e - p) : strlen(p);
                if (n == MAX_SEGMENTS)
                        return -EINVAL;
                segs[n++] = (struct seg){ p, len };
                p += len;
        }
        *ret_n = n;
        return 0;
}

static bool is(const struct seg *s, const char *word)
{
        return s->len == strlen(word) && !memcmp(s->p, word, s->len);
}

static int take_name(const struct seg *s, struct gw_route *r, struct ak_error *err)
{
        if (gw_percent_decode(s->p, s->len, r->name, sizeof(r->name)) < 0 || !gw_name_ok(r->name))
                return ak_error_set(err, -EINVAL,
                                    "invalid sandbox name '%.*s': 1 to %d of [A-Za-z0-9_.-], not . or ..",
                                    (int)(s->len > 80 ? 80 : s->len), s->p, GW_NAME_MAX);
        return 0;
}

/* "/" + the decoded segments joined by '/', each one checked. */
static int take_path(const struct seg *segs, size_t n, struct gw_route *r, struct ak_error *err)
{
        char one[GW_PATH_MAX + 1];
        size_t o = 0;

        if (n == 0)
                return ak_error_set(err, -EINVAL, "a file path is required after /files/");
        for (size_t i = 0; i < n; i++) {
                if (gw_percent_decode(segs[i].p, segs[i].len, one, sizeof(one)) < 0)
                        return ak_error_set(err, -EINVAL, "invalid file path: bad %%-escape, NUL or too long");
                if (!strcmp(one, ".") || !strcmp(one, "..") || strchr(one, '/'))
                        return ak_error_set(err, -EINVAL,
                                            "invalid file path: '.', '..' and encoded '/' are not allowed");
                size_t len = strlen(one);
                if (o + 1 + len > GW_PATH_MAX)
                        return ak_error_set(err, -EINVAL, "invalid file path: longer than %d bytes", GW_PATH_MAX);
                r->path[o++] = '/';
                memcpy(r->path + o, one, len);
                o += len;
        }
        r->path[o] = '\0';
        return 0;
}

static int pick(const char *method, const char *want, enum gw_route_id id, struct gw_route *r, bool *matched)
{
        if (strcmp(method, want))
                return 0;
        r->id = id;
        *matched = true;
        return 1;
}

/* A detached command's id: what the executor makes (UUIDs), checked here
 * so that nothing else reaches the scheduler. */
static int take_id(const struct seg *s, struct gw_route *r, struct ak_error *err)
{
        if (s->len == 0 || s->len >= sizeof(r->detached_id))
                return ak_error_set(err, -EINVAL, "detached command id: 1 to 64 characters of 0-9, a-f and -");
        for (size_t i = 0; i < s->len; i++) {
                char c = s->p[i];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-'))
                        return ak_error_set(err, -EINVAL, "detached command id: 1 to 64 characters of 0-9, a-f "
                                            "and -");
        }
        memcpy(r->detached_id, s->p, s->len);
        r->detached_id[s->len] = '\0';
        return 0;
}

/* /sandboxes/{name}/exec/...: n >= 4. */
static int detached_route(const char *m, const struct seg *s, size_t n, struct gw_route *r, bool *ok,
                          struct ak_error *err)
{
        int e;
        if (n == 4 && is(&s[3], "detach")) {
                if (!pick(m, "POST", GW_EXEC_DETACH, r, ok))
                        return 0;
                return take_name(&s[1], r, err);
        }
        if (!is(&s[3], "detached") || n > 6 || (n == 6 && !is(&s[5], "logs")))
                return 0;
        if (n == 4 && !pick(m, "GET", GW_DETACHED_LIST, r, ok))
                return 0;
        if (n == 5 && !pick(m, "GET", GW_DETACHED_GET, r, ok) && !pick(m, "DELETE", GW_DETACHED_KILL, r, ok))
                return 0;
        if (n == 6 && !pick(m, "GET", GW_DETACHED_LOGS, r, ok))
                return 0;
        if ((e = take_name(&s[1], r, err)) < 0)
                return e;
        return n >= 5 ? take_id(&s[4], r, err) : 0;
}

/* /sandboxes/{name}[/...]: segs[0] is "sandboxes", n >= 2. */
static int sandbox_route(const char *m, const struct seg *s, size_t n, struct gw_route *r, bool *ok,
                         struct ak_error *err)
{
        if (n == 3 && is(&s[1], "by-uuid")) {
                if (pick(m, "GET", GW_BY_UUID, r, ok))
                        return take_name(&s[2], r, err);
                return 0;
        }
        if (n == 2) {
                if (pick(m, "GET", GW_GET, r, ok) || pick(m, "DELETE", GW_DELETE, r, ok))
                        return take_name(&s[1], r, err);
                return 0;
        }
        if (n >= 3 && is(&s[2], "files")) {
                if (n == 3) {
                        if (!pick(m, "POST", GW_FILES_BATCH, r, ok))
                                return 0;
                        return take_name(&s[1], r, err);
                }
                if (!pick(m, "GET", GW_FILE_GET, r, ok) && !pick(m, "PUT", GW_FILE_PUT, r, ok) &&
                    !pick(m, "DELETE", GW_FILE_DELETE, r, ok))
                        return 0;
                int e = take_name(&s[1], r, err);
                return e < 0 ? e : take_path(s + 3, n - 3, r, err);
        }
        if (n >= 4 && is(&s[2], "exec"))
                return detached_route(m, s, n, r, ok, err);
        if (n != 3)
                return 0;
        static const struct {
                const char *word, *method;
                enum gw_route_id id;
        } verbs[] = {
                { "exec", "POST", GW_EXEC },   { "start", "POST", GW_START }, { "stop", "POST", GW_STOP },
                { "extend", "POST", GW_EXTEND }, { "logs", "GET", GW_LOGS },
        };
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                if (is(&s[2], verbs[i].word)) {
                        if (pick(m, verbs[i].method, verbs[i].id, r, ok))
                                return take_name(&s[1], r, err);
                        return 0;
                }
        return 0;
}

/* /snapshots[/{name}[/restore]]: segs[0] is "snapshots". *known: the path
 * has a route under some method. */
static int snapshot_route(const char *m, const struct seg *s, size_t n, struct gw_route *r, bool *ok,
                          bool *known, struct ak_error *err)
{
        *known = n <= 2 || (n == 3 && is(&s[2], "restore"));
        if (n == 1) {
                if (!pick(m, "GET", GW_SNAP_LIST, r, ok))
                        pick(m, "POST", GW_SNAP_TAKE, r, ok);
                return 0;
        }
        if (n == 2 && (pick(m, "GET", GW_SNAP_GET, r, ok) || pick(m, "DELETE", GW_SNAP_DELETE, r, ok)))
                return take_name(&s[1], r, err);
        if (n == 3 && *known && pick(m, "POST", GW_SNAP_RESTORE, r, ok))
                return take_name(&s[1], r, err);
        return 0;
}

int gw_route_parse(const char *method, const char *url, struct gw_route *ret, struct ak_error *err)
{
        struct seg s[MAX_SEGMENTS];
        size_t n;
        bool ok = false, known = true;
        int r = 0;

        memset(ret, 0, sizeof(*ret));
        if (split(url, s, &n) < 0)
                return ak_error_set(err, -EINVAL, "the URL path has more than %d segments", MAX_SEGMENTS);
        if (n == 1 && is(&s[0], "health"))
                pick(method, "GET", GW_HEALTH, ret, &ok);
        else if (n == 1 && is(&s[0], "run"))
                pick(method, "POST", GW_RUN, ret, &ok);
        else if (n == 2 && is(&s[0], "run") && is(&s[1], "stream"))
                pick(method, "POST", GW_RUN_STREAM, ret, &ok);
        else if (n == 2 && is(&s[0], "batch") && is(&s[1], "run"))
                pick(method, "POST", GW_BATCH_RUN, ret, &ok);
        else if (n == 1 && is(&s[0], "status"))
                pick(method, "GET", GW_STATUS, ret, &ok);
        else if (n == 1 && is(&s[0], "audit"))
                pick(method, "GET", GW_AUDIT, ret, &ok);
        else if (n == 1 && is(&s[0], "sandboxes")) {
                if (!pick(method, "GET", GW_LIST, ret, &ok))
                        pick(method, "POST", GW_CREATE, ret, &ok);
        } else if (n >= 2 && is(&s[0], "sandboxes")) {
                r = sandbox_route(method, s, n, ret, &ok, err);
                if (r < 0)
                        return r;
                if (!ok) {
                        /* A path of the right shape with another method is 405;
                         * anything else under /sandboxes is 404. */
                        struct gw_route probe;
                        static const char *const methods[] = { "GET", "POST", "PUT", "DELETE" };
                        known = false;
                        for (size_t i = 0; i < 4 && !known; i++) {
                                bool any = false;
                                (void)sandbox_route(methods[i], s, n, &probe, &any, NULL);
                                known = any;
                        }
                }
        } else if (n >= 1 && is(&s[0], "snapshots")) {
                r = snapshot_route(method, s, n, ret, &ok, &known, err);
                if (r < 0)
                        return r;
        } else
                known = false;
        if (ok)
                return 0;
        if (known)
                return ak_error_set(err, -ENOTSUP, "method %s is not allowed on %s", method, url);
        return ak_error_set(err, -ENOENT, "Not found");
}

void gw_trace_from_headers(const char *request_id, const char *traceparent, char ret_id[AK_REQUEST_ID_MAX + 1],
                           char ret_tp[AK_TRACEPARENT_LEN + 1])
{
        if (request_id && ak_request_id_valid(request_id, strlen(request_id)))
                snprintf(ret_id, AK_REQUEST_ID_MAX + 1, "%s", request_id);
        else if (ak_request_id_new(ret_id) < 0)
                ret_id[0] = '\0';
        if (traceparent && ak_traceparent_valid(traceparent, strlen(traceparent)))
                snprintf(ret_tp, AK_TRACEPARENT_LEN + 1, "%s", traceparent);
        else
                ret_tp[0] = '\0';
}
