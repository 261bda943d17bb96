/* Pull on a miss: one thread per reference being pulled, any number of
 * creates waiting on it. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/base/pathfmt.h"
#include "lib/base/time.h"
#include "services/executor/executor_pull.h"
#include "services/executor/executor_state.h"
#include "vmm/image/oci/pull.h"

int pulls_init(struct executor *ex)
{
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        int r = pthread_cond_init(&ex->pulls.cond, &ca);
        pthread_condattr_destroy(&ca);
        if (r != 0)
                return -r;
        pthread_mutex_init(&ex->pulls.lock, NULL);
        return 0;
}

void pulls_free(struct executor *ex)
{
        pthread_mutex_lock(&ex->pulls.lock);
        while (ex->pulls.running)
                pthread_cond_wait(&ex->pulls.cond, &ex->pulls.lock);
        for (size_t i = 0; i < ex->pulls.n; i++)
                free(ex->pulls.v[i]);
        ex->pulls.n = 0;
        pthread_mutex_unlock(&ex->pulls.lock);
        pthread_cond_destroy(&ex->pulls.cond);
        pthread_mutex_destroy(&ex->pulls.lock);
}

/* Drops one reference; the last frees a finished pull that is no longer
 * worth reporting (done, or a failure older than PULL_FAILED_KEEP_MS is
 * swept by find_or_add). REQUIRES pulls.lock. */
static void unref_locked(struct executor *ex, struct image_pull *p)
{
        if (--p->refs || p->state != PULL_DONE)
                return;
        for (size_t i = 0; i < ex->pulls.n; i++)
                if (ex->pulls.v[i] == p) {
                        ex->pulls.v[i] = ex->pulls.v[--ex->pulls.n];
                        break;
                }
        free(p);
}

static void on_progress(void *userdata, const char *digest, uint64_t done, uint64_t total)
{
        struct image_pull *p = userdata;
        /* Blobs come one after another: a new digest closes the last one. */
        pthread_mutex_lock(&p->ex->pulls.lock);
        if (strcmp(p->blob, digest) != 0) {
                p->blobs_done += p->blob_done;
                p->blob_done = 0;
                p->bytes_total += total;
                snprintf(p->blob, sizeof(p->blob), "%s", digest);
        }
        p->blob_done = done;
        p->bytes_done = p->blobs_done + done;
        pthread_mutex_unlock(&p->ex->pulls.lock);
}

/* The pull itself: into the layout under the store, then imported under the
 * reference. Its own store handle (a store object is not thread-safe). */
static int do_pull(struct image_pull *p, struct ak_error *err)
{
        struct executor *ex = p->ex;
        char layout[PATH_MAX], src[PATH_MAX + IMAGE_REF_MAX + 16];
        struct oci_pull_result res;
        struct oci_pull_options o = {
                .authfile = ex->cfg.registry_auth_file, /* NULL: $DOCKER_CONFIG or ~/.docker */
                .ca_file = ex->cfg.registry_ca_file,
                .insecure = ex->cfg.insecure_registries,
                .n_insecure = ex->cfg.n_insecure_registries,
                .progress = on_progress,
                .progress_userdata = p,
        };
        pathfmt(layout, sizeof(layout), "%s/oci", ex->images_dir);
        int r = oci_pull(layout, p->ref, &o, &res, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&ex->pulls.lock);
        p->state = PULL_IMPORTING;
        p->bytes_done = p->bytes_total = res.total_bytes;
        pthread_mutex_unlock(&ex->pulls.lock);
        if (strchr(layout, ':'))
                return ak_error_set(err, -EINVAL, "cannot import from %s: the path holds ':'", layout);
        snprintf(src, sizeof(src), "oci-layout:%s:%s", layout, res.ref);
        struct image_store *s = NULL;
        struct image_info info;
        if ((r = image_store_open(ex->images_dir, &s, err)) == 0)
                r = image_import(s, src, p->ref, NULL, &info, err);
        image_store_free(s);
        return r;
}

static void *pull_thread(void *arg)
{
        struct image_pull *p = arg;
        struct executor *ex = p->ex;
        struct ak_error err = { 0 };
        int r = do_pull(p, &err);
        pthread_mutex_lock(&ex->pulls.lock);
        p->state = r < 0 ? PULL_FAILED : PULL_DONE;
        p->code = r;
        snprintf(p->error, sizeof(p->error), "%s", r < 0 ? err.msg : "");
        p->finished_ms = ak_real_ms();
        unref_locked(ex, p);
        ex->pulls.running--;
        pthread_cond_broadcast(&ex->pulls.cond);
        pthread_mutex_unlock(&ex->pulls.lock);
        return NULL;
}

/* The running pull of ref, or a new one (its thread started); NULL with
 * *ret_code when none can be started. Forgets old failures. REQUIRES
 * pulls.lock. */
static struct image_pull *find_or_add_locked(struct executor *ex, const char *ref, int *ret_code)
{
        int64_t now = ak_real_ms();
        for (size_t i = 0; i < ex->pulls.n;) {
                struct image_pull *p = ex->pulls.v[i];
                bool stale = p->state == PULL_FAILED && (now - p->finished_ms > PULL_FAILED_KEEP_MS ||
                                                         strcmp(p->ref, ref) == 0);
                if (stale && p->refs == 0) {
                        ex->pulls.v[i] = ex->pulls.v[--ex->pulls.n];
                        free(p);
                        continue;
                }
                if (strcmp(p->ref, ref) == 0 && (p->state == PULL_PULLING || p->state == PULL_IMPORTING))
                        return p;
                i++;
        }
        if (ex->pulls.n == PULL_MAX) {
                *ret_code = -EBUSY;
                return NULL;
        }
        struct image_pull *p = calloc(1, sizeof(*p));
        if (!p) {
                *ret_code = -ENOMEM;
                return NULL;
        }
        snprintf(p->ref, sizeof(p->ref), "%s", ref);
        p->ex = ex;
        p->state = PULL_PULLING;
        p->started_ms = now;
        p->refs = 1; /* the thread's */
        pthread_attr_t a;
        pthread_t t;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        int r = pthread_create(&t, &a, pull_thread, p);
        pthread_attr_destroy(&a);
        if (r != 0) {
                free(p);
                *ret_code = -r;
                return NULL;
        }
        ex->pulls.running++;
        ex->pulls.v[ex->pulls.n++] = p;
        return p;
}

int pulls_ensure(struct executor *ex, const char *ref, const char *sandbox, const char *tenant,
                 struct ak_error *err)
{
        int code = 0;
        unsigned wait_ms = ex->cfg.pull_wait_ms ? ex->cfg.pull_wait_ms : PULL_WAIT_MS_DEFAULT;
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += wait_ms / 1000;
        deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000;
        }

        pthread_mutex_lock(&ex->pulls.lock);
        struct image_pull *p = find_or_add_locked(ex, ref, &code);
        if (!p) {
                pthread_mutex_unlock(&ex->pulls.lock);
                return ak_error_errno(err, code, "cannot start pulling %s on executor %s (%d pulls at once at most)",
                                      ref, ex->node.id, PULL_MAX);
        }
        p->refs++;
        struct pull_waiter me = { .sandbox = sandbox, .tenant = tenant, .pull = p, .next = ex->pulls.waiters };
        if (sandbox)
                ex->pulls.waiters = &me;
        int w = 0;
        while ((p->state == PULL_PULLING || p->state == PULL_IMPORTING) && w != ETIMEDOUT)
                w = pthread_cond_timedwait(&ex->pulls.cond, &ex->pulls.lock, &deadline);
        for (struct pull_waiter **q = &ex->pulls.waiters; sandbox && *q; q = &(*q)->next)
                if (*q == &me) {
                        *q = me.next;
                        break;
                }
        int r;
        if (p->state == PULL_DONE)
                r = 0;
        else if (p->state == PULL_FAILED)
                r = ak_error_set(err, p->code, "pull %s on executor %s: %s", ref, ex->node.id, p->error);
        else
                r = ak_error_set(err, -ETIMEDOUT, "pull %s on executor %s: still pulling after %u s (%llu of %llu "
                                 "bytes); it goes on: try again later", ref, ex->node.id, wait_ms / 1000,
                                 (unsigned long long)p->bytes_done, (unsigned long long)p->bytes_total);
        unref_locked(ex, p);
        pthread_mutex_unlock(&ex->pulls.lock);
        return r;
}

/* One pull as GetStatus says it. REQUIRES pulls.lock. */
static void status_of_locked(const struct image_pull *p, struct image_pull_status *s)
{
        snprintf(s->ref, sizeof(s->ref), "%s", p->ref);
        s->state = p->state == PULL_PULLING ? "pulling" : p->state == PULL_IMPORTING ? "importing" : "failed";
        s->bytes_done = p->bytes_done;
        s->bytes_total = p->bytes_total;
        snprintf(s->error, sizeof(s->error), "%s", p->error);
}

int pulls_waiting(struct executor *ex, const char *sandbox, struct image_pull_status *ret, char *ret_tenant,
                  size_t tenant_size)
{
        int r = -ENOENT;
        pthread_mutex_lock(&ex->pulls.lock);
        for (const struct pull_waiter *w = ex->pulls.waiters; w; w = w->next)
                if (strcmp(w->sandbox, sandbox) == 0) {
                        status_of_locked(w->pull, ret);
                        snprintf(ret_tenant, tenant_size, "%s", w->tenant ? w->tenant : "");
                        r = 0;
                        break;
                }
        pthread_mutex_unlock(&ex->pulls.lock);
        return r;
}

int pulls_status(struct executor *ex, struct image_pull_status **ret, size_t *ret_n)
{
        pthread_mutex_lock(&ex->pulls.lock);
        int64_t now = ak_real_ms();
        struct image_pull_status *v = calloc(ex->pulls.n + 1, sizeof(*v));
        size_t k = 0;
        if (!v) {
                pthread_mutex_unlock(&ex->pulls.lock);
                return -ENOMEM;
        }
        for (size_t i = 0; i < ex->pulls.n; i++) {
                const struct image_pull *p = ex->pulls.v[i];
                if (p->state == PULL_DONE || (p->state == PULL_FAILED && now - p->finished_ms > PULL_FAILED_KEEP_MS))
                        continue;
                status_of_locked(p, &v[k++]);
        }
        pthread_mutex_unlock(&ex->pulls.lock);
        *ret = v;
        *ret_n = k;
        return 0;
}
