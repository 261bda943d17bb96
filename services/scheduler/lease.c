/* Leader election over a Lease (lease.h). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/io.h"
#include "lib/base/time.h"
#include "services/scheduler/lease.h"
#include "services/scheduler/lease_http.h"
#include "services/scheduler/lease_record.h"

#define DEFAULT_DURATION_S 15
#define MIN_PERIOD_MS 100

struct lease_elector {
        char *url, *collection_url, *ns, *name, *identity, *token_file, *ca_file;
        char lease_id[512];
        struct lease_http http;
        unsigned duration_s;
        int64_t renew_deadline_ms, retry_ms;
        void (*on_change)(void *data, bool leading, const char *holder);
        void (*log)(void *data, const char *line);
        void *data;

        pthread_t thread;
        bool started;
        pthread_mutex_t mu;
        pthread_cond_t cond;
        /* Under mu. */
        bool stop, leading;
        int64_t renewed_ms; /* monotonic start of the last successful write */
        char holder[LEASE_HOLDER_SIZE];

        /* The elector thread's own. */
        struct lease_record seen;   /* as last read or written */
        int64_t seen_ms;            /* when seen last changed (resourceVersion) */
        bool have_seen;
        char last_error[AK_ERROR_MAX];
};

static void say(struct lease_elector *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct lease_elector *e, const char *fmt, ...)
{
        char line[AK_ERROR_MAX + 600];
        va_list ap;
        if (!e->log)
                return;
        int n = snprintf(line, sizeof(line), "lease %s: ", e->lease_id);
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        va_end(ap);
        e->log(e->data, line);
}

/* ---- one round: read, then take or renew when we may ------------------ */

/* GET (404: *ret_found false). */
static int lease_get(struct lease_elector *e, struct lease_record *ret, bool *ret_found, struct ak_error *err)
{
        char *body = NULL;
        size_t len;
        long st;
        int r = lease_http_call(&e->http, "GET", e->url, NULL, &st, &body, &len, err);
        if (r < 0)
                return r;
        *ret_found = st != 404;
        if (st == 200)
                r = lease_record_parse(body, len, ret, err) < 0 ? ak_error_wrap(err, "GET %s", e->url) : 0;
        else if (st != 404)
                r = ak_error_set(err, -EIO, "GET %s: HTTP %ld: %.200s", e->url, st, body);
        free(body);
        return r;
}

/* POST (create) or PUT (update, rec has the resourceVersion read). 0 and
 * the stored Lease in *ret; -EAGAIN on 409 (someone else wrote first). */
static int lease_write(struct lease_elector *e, bool create, const struct lease_record *rec,
                       struct lease_record *ret, struct ak_error *err)
{
        const char *method = create ? "POST" : "PUT", *url = create ? e->collection_url : e->url;
        char *json = NULL, *body = NULL;
        size_t len;
        long st;
        if (lease_record_write(rec, e->ns, e->name, &json, &len) < 0)
                return ak_error_set(err, -ENOMEM, "%s %s: cannot write the Lease JSON", method, url);
        int r = lease_http_call(&e->http, method, url, json, &st, &body, &len, err);
        free(json);
        if (r < 0)
                return r;
        if (st == 200 || st == 201)
                r = lease_record_parse(body, len, ret, err) < 0 ? ak_error_wrap(err, "%s %s", method, url) : 0;
        else if (st == 409)
                r = ak_error_set(err, -EAGAIN, "%s %s: conflict (another replica wrote first)", method, url);
        else
                r = ak_error_set(err, -EIO, "%s %s: HTTP %ld: %.200s", method, url, st, body);
        free(body);
        return r;
}

static void see(struct lease_elector *e, const struct lease_record *r, int64_t now_ms)
{
        if (!e->have_seen || strcmp(e->seen.resource_version, r->resource_version) != 0)
                e->seen_ms = now_ms;
        e->seen = *r;
        e->have_seen = true;
}

/* 1: we hold the Lease (written at start_ms); 0: another replica does
 * (e->seen says who); -EAGAIN: a conflict, read again; else an error. */
static int round_once(struct lease_elector *e, struct ak_error *err)
{
        struct lease_record cur = { 0 }, want, stored;
        bool found;
        int r = lease_get(e, &cur, &found, err);
        if (r < 0)
                return r;
        int64_t now_ms = ak_mono_ms();
        int64_t now_us = ak_real_ms() * 1000;
        if (!found) {
                want = (struct lease_record){ .duration_s = e->duration_s, .acquire_us = now_us,
                                              .renew_us = now_us };
                snprintf(want.holder, sizeof(want.holder), "%s", e->identity);
                if ((r = lease_write(e, true, &want, &stored, err)) < 0)
                        return r;
                see(e, &stored, now_ms);
                return 1;
        }
        see(e, &cur, now_ms);
        bool mine = strcmp(cur.holder, e->identity) == 0;
        int64_t held_ms = (int64_t)(cur.duration_s ? cur.duration_s : e->duration_s) * 1000;
        if (!mine && *cur.holder && now_ms < e->seen_ms + held_ms)
                return 0;
        want = cur;
        if (!mine) {
                snprintf(want.holder, sizeof(want.holder), "%s", e->identity);
                want.acquire_us = now_us;
                want.transitions = cur.transitions + 1;
        }
        want.renew_us = now_us;
        want.duration_s = e->duration_s;
        if ((r = lease_write(e, false, &want, &stored, err)) < 0)
                return r;
        see(e, &stored, now_ms);
        return 1;
}

/* ---- the thread ---------------------------------------------------------- */

static void update(struct lease_elector *e, int r, int64_t start_ms, const struct ak_error *err)
{
        bool was, now_leading, changed;
        char holder[LEASE_HOLDER_SIZE];

        pthread_mutex_lock(&e->mu);
        was = e->leading;
        if (r == 1) {
                e->leading = true;
                e->renewed_ms = start_ms;
        } else if (r == 0 || ak_mono_ms() >= e->renewed_ms + e->renew_deadline_ms) {
                e->leading = false;
        }
        now_leading = e->leading;
        /* On an error: ourselves while still leading, nobody known once we
         * stepped down, else the leader we saw last. */
        snprintf(holder, sizeof(holder), "%s",
                 r >= 0 ? e->seen.holder : now_leading ? e->identity : was ? "" : e->holder);
        changed = strcmp(holder, e->holder) != 0 || was != now_leading;
        snprintf(e->holder, sizeof(e->holder), "%s", holder);
        pthread_mutex_unlock(&e->mu);

        if (r < 0 && strcmp(err->msg, e->last_error) != 0) {
                say(e, "%s", err->msg);
                snprintf(e->last_error, sizeof(e->last_error), "%s", err->msg);
        } else if (r >= 0) {
                e->last_error[0] = 0;
        }
        if (!changed)
                return;
        if (now_leading)
                say(e, "leading as %s (transitions %u)", e->identity, e->seen.transitions);
        else if (was)
                say(e, "stepped down: no renewal for %lld ms%s%s", (long long)(ak_mono_ms() - e->renewed_ms),
                    *holder ? "; leader is " : "", holder);
        else
                say(e, "following %s", *holder ? holder : "(no leader)");
        if (e->on_change)
                e->on_change(e->data, now_leading, holder);
}

static void *elector_main(void *arg)
{
        struct lease_elector *e = arg;
        struct ak_error err;

        for (;;) {
                pthread_mutex_lock(&e->mu);
                bool stop = e->stop;
                pthread_mutex_unlock(&e->mu);
                if (stop)
                        break;
                int64_t start_ms = ak_mono_ms();
                ak_error_clear(&err);
                int r = round_once(e, &err);
                if (r == -EAGAIN) { /* 409: someone wrote between our read and write */
                        ak_error_clear(&err);
                        start_ms = ak_mono_ms();
                        r = round_once(e, &err);
                }
                update(e, r, start_ms, &err);

                struct timespec until = ak_timespec_after(CLOCK_MONOTONIC, e->retry_ms);
                pthread_mutex_lock(&e->mu);
                while (!e->stop && pthread_cond_timedwait(&e->cond, &e->mu, &until) != ETIMEDOUT)
                        ;
                pthread_mutex_unlock(&e->mu);
        }
        return NULL;
}

/* ---- life cycle ---------------------------------------------------------- */

static char *dup_or(const char *s, const char *dir, const char *file)
{
        char *r = NULL;
        if (s)
                return strdup(s);
        if (asprintf(&r, "%s/%s", dir, file) < 0)
                return NULL;
        return r;
}

/* The API server's base URL: cfg's, else in-cluster from the environment. */
static int api_base(const struct lease_config *cfg, char **ret, struct ak_error *err)
{
        const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
        char *u = NULL;
        if (cfg->api_server) {
                if (strncmp(cfg->api_server, "https://", 8) != 0 && strncmp(cfg->api_server, "http://", 7) != 0)
                        return ak_error_set(err, -EINVAL, "--api-server %s: want https://HOST:PORT",
                                            cfg->api_server);
                u = strdup(cfg->api_server);
        } else if (!host || !port || !*host || !*port || strlen(host) > 255 || strlen(port) > 5) {
                return ak_error_set(err, -EINVAL, "not in a Kubernetes pod (KUBERNETES_SERVICE_HOST/PORT unset): "
                                                  "give --api-server");
        } else if (asprintf(&u, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0) {
                u = NULL;
        }
        if (!u)
                return ak_error_set(err, -ENOMEM, "out of memory");
        size_t n = strlen(u);
        while (n > 0 && u[n - 1] == '/')
                u[--n] = 0;
        *ret = u;
        return 0;
}

/* Namespace from the service account's file when not given. */
static int read_ns(const struct lease_config *cfg, char **ret, struct ak_error *err)
{
        char *ns = NULL;
        size_t len = 0;
        if (cfg->ns) {
                ns = strdup(cfg->ns);
        } else {
                int r = ak_read_file(LEASE_SA_DIR "/namespace", 256, &ns, &len);
                if (r < 0)
                        return ak_error_errno(err, r, "%s/namespace (give --lease-namespace)", LEASE_SA_DIR);
                ns[strcspn(ns, "\r\n")] = 0;
        }
        if (!ns)
                return ak_error_set(err, -ENOMEM, "out of memory");
        if (lease_check_name(ns) < 0) {
                ak_error_set(err, -EINVAL, "lease namespace \"%.64s\": want a Kubernetes name ([a-z0-9.-])", ns);
                free(ns);
                return -EINVAL;
        }
        *ret = ns;
        return 0;
}

static int identity(const struct lease_config *cfg, char **ret, struct ak_error *err)
{
        char host[256] = "";
        const char *id = cfg->identity ? cfg->identity : getenv("POD_NAME");
        if (!id || !*id) {
                if (gethostname(host, sizeof(host) - 1) < 0)
                        return ak_error_errno(err, -errno, "gethostname (give --lease-identity)");
                id = host;
        }
        size_t n = strlen(id);
        if (n == 0 || n >= LEASE_HOLDER_SIZE)
                return ak_error_set(err, -EINVAL, "lease identity: want 1 to %d bytes", LEASE_HOLDER_SIZE - 1);
        for (size_t i = 0; i < n; i++) {
                if ((unsigned char)id[i] < ' ' || id[i] == 0x7f)
                        return ak_error_set(err, -EINVAL, "lease identity: control character at byte %zu", i);
        }
        if (!(*ret = strdup(id)))
                return ak_error_set(err, -ENOMEM, "out of memory");
        return 0;
}

static int resolve(struct lease_elector *e, const struct lease_config *cfg, struct ak_error *err)
{
        char *base = NULL;
        int r;
        e->name = strdup(cfg->name ? cfg->name : "ak-scheduler");
        e->token_file = dup_or(cfg->token_file, LEASE_SA_DIR, "token");
        e->ca_file = dup_or(cfg->ca_file, LEASE_SA_DIR, "ca.crt");
        if (!e->name || !e->token_file || !e->ca_file)
                return ak_error_set(err, -ENOMEM, "out of memory");
        if (lease_check_name(e->name) < 0)
                return ak_error_set(err, -EINVAL, "--lease-name %.64s: want a Kubernetes name ([a-z0-9.-])",
                                    e->name);
        if ((r = read_ns(cfg, &e->ns, err)) < 0 || (r = identity(cfg, &e->identity, err)) < 0 ||
            (r = api_base(cfg, &base, err)) < 0)
                return r;
        r = asprintf(&e->collection_url, "%s/apis/coordination.k8s.io/v1/namespaces/%s/leases", base, e->ns);
        if (r >= 0)
                r = asprintf(&e->url, "%s/%s", e->collection_url, e->name);
        free(base);
        if (r < 0) {
                e->collection_url = e->url = NULL;
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        snprintf(e->lease_id, sizeof(e->lease_id), "%s/%s", e->ns, e->name);
        return 0;
}

int lease_elector_new(const struct lease_config *cfg, struct lease_elector **ret, struct ak_error *err)
{
        struct lease_elector *e = calloc(1, sizeof(*e));
        pthread_condattr_t ca;
        int r;

        if (!e)
                return ak_error_set(err, -ENOMEM, "out of memory");
        pthread_mutex_init(&e->mu, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&e->cond, &ca);
        pthread_condattr_destroy(&ca);
        if ((r = resolve(e, cfg, err)) < 0)
                goto fail;
        if (cfg->duration_s > LEASE_MAX_DURATION_S) {
                r = ak_error_set(err, -EINVAL, "lease duration %u s: at most %u", cfg->duration_s,
                                 LEASE_MAX_DURATION_S);
                goto fail;
        }
        e->duration_s = cfg->duration_s ? cfg->duration_s : DEFAULT_DURATION_S;
        e->renew_deadline_ms = (int64_t)e->duration_s * 2000 / 3;
        e->retry_ms = (int64_t)e->duration_s * 1000 / 4;
        if (e->retry_ms < MIN_PERIOD_MS)
                e->retry_ms = MIN_PERIOD_MS;
        e->http = (struct lease_http){ .token_file = e->token_file,
                                       .ca_file = strncmp(e->url, "https:", 6) == 0 ? e->ca_file : NULL,
                                       .timeout_ms = (long)e->retry_ms };
        e->on_change = cfg->on_change;
        e->log = cfg->log;
        e->data = cfg->data;
        if ((r = lease_http_init(err)) < 0)
                goto fail;
        if ((r = -pthread_create(&e->thread, NULL, elector_main, e)) < 0) {
                ak_error_errno(err, r, "lease %s: pthread_create", e->lease_id);
                goto fail;
        }
        e->started = true;
        *ret = e;
        return 0;
fail:
        lease_elector_free(e);
        return r;
}

bool lease_elector_is_leader(struct lease_elector *e)
{
        pthread_mutex_lock(&e->mu);
        bool r = e->leading && ak_mono_ms() < e->renewed_ms + e->renew_deadline_ms;
        pthread_mutex_unlock(&e->mu);
        return r;
}

void lease_elector_holder(struct lease_elector *e, char *buf, size_t size)
{
        pthread_mutex_lock(&e->mu);
        bool leading = e->leading && ak_mono_ms() < e->renewed_ms + e->renew_deadline_ms;
        /* Ourselves past the renew deadline, before the thread noticed: no
         * one is known to lead. */
        snprintf(buf, size, "%s", !leading && strcmp(e->holder, e->identity) == 0 ? "" : e->holder);
        pthread_mutex_unlock(&e->mu);
}

const char *lease_elector_lease(const struct lease_elector *e)
{
        return e->lease_id;
}

/* Gives the Lease up (client-go's ReleaseOnCancel): no holder, so the
 * next replica to look takes it at once. */
static void release(struct lease_elector *e)
{
        struct lease_record want = e->seen, stored;
        struct ak_error err;
        int64_t now_us = ak_real_ms() * 1000;

        want.holder[0] = 0;
        want.duration_s = 1;
        want.renew_us = now_us;
        if (lease_write(e, false, &want, &stored, &err) < 0)
                say(e, "release failed (the others take over after %u s): %s", e->duration_s, err.msg);
        else
                say(e, "released");
}

void lease_elector_stop(struct lease_elector *e)
{
        if (!e || !e->started)
                return;
        pthread_mutex_lock(&e->mu);
        e->stop = true;
        pthread_cond_broadcast(&e->cond);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
        e->started = false;
        bool held = lease_elector_is_leader(e) && strcmp(e->seen.holder, e->identity) == 0;
        pthread_mutex_lock(&e->mu);
        e->leading = false;
        pthread_mutex_unlock(&e->mu);
        if (held)
                release(e);
}

void lease_elector_free(struct lease_elector *e)
{
        if (!e)
                return;
        lease_elector_stop(e);
        pthread_cond_destroy(&e->cond);
        pthread_mutex_destroy(&e->mu);
        free(e->url);
        free(e->collection_url);
        free(e->ns);
        free(e->name);
        free(e->identity);
        free(e->token_file);
        free(e->ca_file);
        free(e);
}
