#include "vmm/net/net_event.h"

#include "lib/base/time.h"

void net_reporter_init(struct net_reporter *r, net_event_fn fn, void *ctx, unsigned rate, unsigned burst)
{
        *r = (struct net_reporter){ .fn = fn, .ctx = ctx };
        pthread_mutex_init(&r->lock, NULL);
        r->rate = rate ? rate : NET_EVENT_DEFAULT_RATE;
        r->burst = burst ? burst : NET_EVENT_DEFAULT_BURST;
        r->tokens = r->burst;
        r->last_ns = ak_mono_ns();
}

void net_reporter_destroy(struct net_reporter *r)
{
        pthread_mutex_destroy(&r->lock);
}

int net_report(struct net_reporter *r, struct net_event *ev)
{
        pthread_mutex_lock(&r->lock);
        uint64_t now = ak_mono_ns();
        r->tokens += (double)(now - r->last_ns) / 1e9 * r->rate;
        if (r->tokens > r->burst)
                r->tokens = r->burst;
        r->last_ns = now;
        r->denied++;
        int pass = r->fn && r->tokens >= 1;
        if (pass) {
                r->tokens -= 1;
                r->passed++;
                ev->suppressed = r->suppressed;
                r->suppressed = 0;
        } else {
                r->suppressed++;
        }
        net_event_fn fn = r->fn;
        void *ctx = r->ctx;
        pthread_mutex_unlock(&r->lock);
        /* Outside the lock: the owner's callback may take its own locks. */
        if (pass)
                fn(ctx, ev);
        return pass;
}

uint64_t net_reporter_denied(struct net_reporter *r)
{
        pthread_mutex_lock(&r->lock);
        uint64_t n = r->denied;
        pthread_mutex_unlock(&r->lock);
        return n;
}

void net_reporter_overrun(struct net_reporter *r)
{
        pthread_mutex_lock(&r->lock);
        r->overruns++;
        pthread_mutex_unlock(&r->lock);
}

uint64_t net_reporter_overruns(struct net_reporter *r)
{
        pthread_mutex_lock(&r->lock);
        uint64_t n = r->overruns;
        pthread_mutex_unlock(&r->lock);
        return n;
}
