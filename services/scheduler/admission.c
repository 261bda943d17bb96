/* A doubly linked list in arrival order; the fair order is computed from it
 * (waiting counts are bounded, so O(n) per look is fine). Fair queueing by
 * rounds: a ticket's round is one past its tenant's last waiting ticket's,
 * or the current round when its tenant has none waiting; the order is
 * (round, arrival); the current round moves on as heads leave. So every
 * tenant with tickets gets one turn per round, and a tenant that arrives
 * late joins the current round instead of queueing behind a burst. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/time.h"
#include "services/scheduler/admission.h"

struct admission_ticket {
        struct admission_ticket *prev, *next;
        uint64_t seq, round;
        int64_t entered_ms;         /* monotonic */
        char tenant[64];
        char name[64];              /* the create's sandbox name; "" for none */
};

struct admission {
        pthread_mutex_t lock;
        pthread_cond_t cond; /* CLOCK_MONOTONIC */
        struct admission_ticket *head, *tail;
        unsigned n, max;
        uint64_t next_seq, changes;
        uint64_t round;             /* the current round */
};

int admission_new(unsigned max_waiting, struct admission **ret)
{
        if (max_waiting < 1 || max_waiting > ADMISSION_MAX_WAITING)
                return -EINVAL;
        struct admission *a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&a->cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&a->lock, NULL);
        a->max = max_waiting;
        *ret = a;
        return 0;
}

void admission_free(struct admission *a)
{
        if (!a)
                return;
        pthread_mutex_destroy(&a->lock);
        pthread_cond_destroy(&a->cond);
        free(a);
}

int admission_enter(struct admission *a, const char *tenant, struct admission_ticket **ret)
{
        return admission_enter_named(a, tenant, NULL, ret);
}

int admission_enter_named(struct admission *a, const char *tenant, const char *name, struct admission_ticket **ret)
{
        struct admission_ticket *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        snprintf(t->tenant, sizeof(t->tenant), "%s", tenant ? tenant : "");
        snprintf(t->name, sizeof(t->name), "%s", name ? name : "");
        t->entered_ms = ak_mono_ms();
        pthread_mutex_lock(&a->lock);
        if (a->n >= a->max) {
                pthread_mutex_unlock(&a->lock);
                free(t);
                return -EAGAIN;
        }
        t->seq = a->next_seq++;
        t->round = a->round;
        for (const struct admission_ticket *o = a->tail; o; o = o->prev)
                if (strcmp(o->tenant, t->tenant) == 0) {
                        if (o->round + 1 > t->round)
                                t->round = o->round + 1;
                        break; /* the tenant's last: its highest round */
                }
        t->prev = a->tail;
        if (a->tail)
                a->tail->next = t;
        else
                a->head = t;
        a->tail = t;
        a->n++;
        pthread_mutex_unlock(&a->lock);
        *ret = t;
        return 0;
}

static bool before(const struct admission_ticket *x, const struct admission_ticket *y)
{
        return x->round < y->round || (x->round == y->round && x->seq < y->seq);
}

/* REQUIRES a->lock. 1-based place of t in the fair order. */
static unsigned position_locked(const struct admission *a, const struct admission_ticket *t)
{
        unsigned pos = 1;
        for (const struct admission_ticket *o = a->head; o; o = o->next)
                pos += o != t && before(o, t);
        return pos;
}

unsigned admission_position(struct admission *a, const struct admission_ticket *t, unsigned *ret_waiting)
{
        pthread_mutex_lock(&a->lock);
        unsigned pos = position_locked(a, t);
        if (ret_waiting)
                *ret_waiting = a->n;
        pthread_mutex_unlock(&a->lock);
        return pos;
}

/* REQUIRES a->lock. The head of the fair order; NULL when none wait. */
static const struct admission_ticket *head_locked(const struct admission *a)
{
        const struct admission_ticket *h = a->head;
        for (const struct admission_ticket *o = a->head; o; o = o->next)
                if (before(o, h))
                        h = o;
        return h;
}

bool admission_may_try(struct admission *a, const struct admission_ticket *t, int64_t now_ms)
{
        pthread_mutex_lock(&a->lock);
        unsigned pos = position_locked(a, t);
        const struct admission_ticket *h = head_locked(a);
        bool may = pos == 1 ||
                   (pos <= ADMISSION_LOOKAHEAD && h && now_ms - h->entered_ms < ADMISSION_HEAD_GRACE_MS);
        pthread_mutex_unlock(&a->lock);
        return may;
}

unsigned admission_waiting(struct admission *a)
{
        pthread_mutex_lock(&a->lock);
        unsigned n = a->n;
        pthread_mutex_unlock(&a->lock);
        return n;
}

int admission_lookup(struct admission *a, const char *name, struct admission_entry *ret)
{
        int r = -ENOENT;
        if (!name || !*name)
                return r;
        pthread_mutex_lock(&a->lock);
        for (const struct admission_ticket *o = a->head; o; o = o->next)
                if (strcmp(o->name, name) == 0) {
                        memcpy(ret->name, o->name, sizeof(ret->name));
                        memcpy(ret->tenant, o->tenant, sizeof(ret->tenant));
                        ret->position = position_locked(a, o);
                        ret->waiting = a->n;
                        r = 0;
                        break;
                }
        pthread_mutex_unlock(&a->lock);
        return r;
}

int admission_list(struct admission *a, struct admission_entry **ret, size_t *ret_n)
{
        pthread_mutex_lock(&a->lock);
        size_t n = 0;
        struct admission_entry *v = calloc(a->n ? a->n : 1, sizeof(*v));
        if (!v) {
                pthread_mutex_unlock(&a->lock);
                return -ENOMEM;
        }
        for (const struct admission_ticket *o = a->head; o; o = o->next) {
                if (!o->name[0])
                        continue;
                memcpy(v[n].name, o->name, sizeof(v[n].name));
                memcpy(v[n].tenant, o->tenant, sizeof(v[n].tenant));
                v[n].position = position_locked(a, o);
                v[n].waiting = a->n;
                n++;
        }
        pthread_mutex_unlock(&a->lock);
        *ret = v;
        *ret_n = n;
        return 0;
}

void admission_wait(struct admission *a, int ms)
{
        pthread_mutex_lock(&a->lock);
        uint64_t seen = a->changes;
        struct timespec ts = ak_timespec_after(CLOCK_MONOTONIC, ms);
        while (a->changes == seen && pthread_cond_timedwait(&a->cond, &a->lock, &ts) == 0)
                ;
        pthread_mutex_unlock(&a->lock);
}

void admission_kick(struct admission *a)
{
        pthread_mutex_lock(&a->lock);
        a->changes++;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->lock);
}

void admission_leave(struct admission *a, struct admission_ticket *t)
{
        if (!t)
                return;
        pthread_mutex_lock(&a->lock);
        /* The head leaving (served, or given up) ends its turn. */
        if (position_locked(a, t) == 1 && t->round > a->round)
                a->round = t->round;
        if (t->prev)
                t->prev->next = t->next;
        else
                a->head = t->next;
        if (t->next)
                t->next->prev = t->prev;
        else
                a->tail = t->prev;
        a->n--;
        a->changes++;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->lock);
        free(t);
}
