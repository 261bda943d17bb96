/* The auditor: spool + deliveries. See auditor.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "services/auditor/auditor.h"
#include "services/auditor/auditor_metrics.h"

struct auditor {
        struct audit_config *config;
        struct spool *spool;
        int dir_fd;
        struct deadletter dl;
        struct delivery **dests;
        size_t n_dests;
        int closing;
        pthread_mutex_t release_mu;
};

/* After a destination records progress: free what every destination has. */
static void on_progress(void *userdata)
{
        struct auditor *a = userdata;
        uint64_t min = UINT64_MAX;

        if (__atomic_load_n(&a->closing, __ATOMIC_RELAXED))
                return;
        pthread_mutex_lock(&a->release_mu);
        for (size_t i = 0; i < a->n_dests; i++) {
                struct delivery_status st;
                delivery_status(a->dests[i], &st);
                if (st.persisted_position < min)
                        min = st.persisted_position;
        }
        if (min != UINT64_MAX)
                spool_release(a->spool, min + 1);
        pthread_mutex_unlock(&a->release_mu);
}

int auditor_new(struct audit_config *config, const char *spool_dir, struct auditor **ret, struct ak_error *err)
{
        struct spool_options so = { config->spool_max_bytes, config->spool_segment_bytes };
        struct auditor *a = calloc(1, sizeof(*a));
        int r;

        if (!a) {
                audit_config_free(config);
                return ak_error_errno(err, -ENOMEM, "auditor");
        }
        a->config = config;
        a->dir_fd = -1;
        pthread_mutex_init(&a->dl.mu, NULL);
        pthread_mutex_init(&a->release_mu, NULL);
        r = spool_open(spool_dir, &so, &a->spool, err);
        if (r < 0)
                goto fail;
        a->dir_fd = open(spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (a->dir_fd < 0) {
                r = ak_error_errno(err, -errno, "spool %s", spool_dir);
                goto fail;
        }
        if (config->dead_letter_path)
                a->dl.path = strdup(config->dead_letter_path);
        else if (asprintf(&a->dl.path, "%s/dead_letter.jsonl", spool_dir) < 0)
                a->dl.path = NULL;
        a->dests = calloc(config->n_dests, sizeof(*a->dests));
        if (!a->dl.path || !a->dests) {
                r = ak_error_errno(err, -ENOMEM, "auditor");
                goto fail;
        }
        for (size_t i = 0; i < config->n_dests; i++) {
                r = delivery_new(config, &config->dests[i], a->spool, a->dir_fd, &a->dl, on_progress, a,
                                 &a->dests[i], err);
                if (r < 0)
                        goto fail;
                a->n_dests = i + 1;
        }
        *ret = a;
        return 0;
fail:
        auditor_free(a);
        return r;
}

int auditor_start(struct auditor *a, struct ak_error *err)
{
        for (size_t i = 0; i < a->n_dests; i++) {
                int r = delivery_start(a->dests[i], err);
                if (r < 0)
                        return r;
        }
        int r = auditor_metrics_attach(a);
        if (r < 0)
                return ak_error_errno(err, r, "auditor metrics");
        return 0;
}

void auditor_free(struct auditor *a)
{
        if (!a)
                return;
        auditor_metrics_detach(a);
        __atomic_store_n(&a->closing, 1, __ATOMIC_RELAXED);
        for (size_t i = 0; i < a->n_dests; i++)
                delivery_free(a->dests[i]);
        free(a->dests);
        if (a->dir_fd >= 0)
                close(a->dir_fd);
        spool_free(a->spool);
        free(a->dl.path);
        pthread_mutex_destroy(&a->dl.mu);
        pthread_mutex_destroy(&a->release_mu);
        audit_config_free(a->config);
        free(a);
}

int auditor_append(struct auditor *a, struct audit_event *const *events, size_t n, uint64_t *ret_first,
                   struct ak_error *err)
{
        _cleanup_free_ struct iovec *iov = NULL;
        int r = 0;

        if (n == 0 || n > AUDITOR_MAX_EMIT)
                return ak_error_set(err, -EINVAL, "%zu events in one call (1 to %d)", n, AUDITOR_MAX_EMIT);
        iov = calloc(n, sizeof(*iov));
        if (!iov)
                return ak_error_errno(err, -ENOMEM, "emit");
        for (size_t i = 0; i < n; i++) {
                char *json;
                size_t len;
                r = audit_event_to_json(events[i], &json, &len);
                if (r < 0) {
                        r = r == -E2BIG ? ak_error_set(err, -EINVAL, "events[%zu]: more than %d bytes as JSON", i,
                                                       AUDIT_MAX_EVENT_JSON)
                                        : ak_error_errno(err, r, "events[%zu]", i);
                        break;
                }
                iov[i] = (struct iovec){ json, len };
        }
        if (r == 0)
                r = spool_append(a->spool, iov, n, ret_first, err);
        for (size_t i = 0; i < n; i++)
                free(iov[i].iov_base);
        return r;
}

int auditor_status(struct auditor *a, struct auditor_status *ret)
{
        spool_stats(a->spool, &ret->spool);
        ret->dests = calloc(a->n_dests ? a->n_dests : 1, sizeof(*ret->dests));
        if (!ret->dests)
                return -ENOMEM;
        ret->n_dests = a->n_dests;
        for (size_t i = 0; i < a->n_dests; i++)
                delivery_status(a->dests[i], &ret->dests[i]);
        return 0;
}

void auditor_status_free(struct auditor_status *s)
{
        free(s->dests);
        s->dests = NULL;
        s->n_dests = 0;
}

struct spool *auditor_spool(struct auditor *a)
{
        return a->spool;
}
