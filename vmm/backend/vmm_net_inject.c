/* See vmm_net_inject.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/base/time.h"
#include "vmm/backend/vmm_net_inject.h"
#include "vmm/net/netloop.h"
#include "vmm/net/secret_set.h"
#include "vmm/net/tls_relay.h"

#define INJECT_TIMEOUT_MS 60000   /* silence on either side of a relayed connection */
#define CONNECT_TIMEOUT_MS 10000
#define INJECT_MAX_CONNS 64       /* relayed at once per VM; more are closed */

struct job {
        struct vmm_net_inject *in;
        struct job *prev, *next;
        int gfd;
        uint64_t t0;    /* when the current request began */
        struct sockaddr_in dst;
        uint16_t dst_port;
        char dst_text[INET6_ADDRSTRLEN];
        char name[SNIFF_NAME_MAX];
        size_t head_len;
        uint8_t head[];
};

struct vmm_net_inject {
        const struct vmm_net_secrets *s;
        struct secret_set *set;
        struct tls_relay *relay;
        int netns_fd;
        struct net_reporter *reporter;
        pthread_mutex_t lock;
        pthread_cond_t idle;
        bool closing;
        unsigned active;
        struct job *jobs;
};

int vmm_net_inject_new(const struct vmm_net_secrets *s, int netns_fd, struct net_reporter *reporter,
                       struct vmm_net_inject **ret, struct ak_error *err)
{
        struct tls_relay *relay = NULL;
        int r = secret_set_relay(s->set, s->upstream_roots, INJECT_TIMEOUT_MS, &relay, err);
        if (r < 0)
                return ak_error_wrap(err, "VM network: the secrets' relay");
        struct vmm_net_inject *in = calloc(1, sizeof(*in));
        if (!in)
                return ak_error_set(err, -ENOMEM, "out of memory");
        in->s = s;
        in->set = s->set;
        in->relay = relay;
        in->netns_fd = netns_fd;
        in->reporter = reporter;
        pthread_mutex_init(&in->lock, NULL);
        pthread_cond_init(&in->idle, NULL);
        *ret = in;
        return 0;
}

void vmm_net_inject_free(struct vmm_net_inject *in)
{
        if (!in)
                return;
        pthread_mutex_lock(&in->lock);
        in->closing = true;
        /* the relay sees its guest's socket shut down wherever it waits but
         * in a server's connect or handshake (bounded by their timeouts);
         * server connections are the relay's, pooled past a job */
        for (struct job *j = in->jobs; j; j = j->next)
                shutdown(j->gfd, SHUT_RDWR);
        while (in->active)
                pthread_cond_wait(&in->idle, &in->lock);
        pthread_mutex_unlock(&in->lock);
        /* the pooled server connections were made in this VM's namespace:
         * none may carry a later VM's requests */
        tls_relay_pool_flush(in->relay);
        pthread_mutex_destroy(&in->lock);
        pthread_cond_destroy(&in->idle);
        free(in);
}

static void report(struct vmm_net_inject *in, enum net_event_kind kind, const char *dst, uint16_t port,
                   const char *name, const char *rule)
{
        if (!in->reporter)
                return;
        struct net_event ev = { .kind = kind, .protocol = IPPROTO_TCP, .dst_port = port };
        snprintf(ev.dst, sizeof(ev.dst), "%s", dst);
        snprintf(ev.name, sizeof(ev.name), "%s", name ? name : "");
        snprintf(ev.rule, sizeof(ev.rule), "%s", rule);
        net_report(in->reporter, &ev);
}

int vmm_net_inject_screen(const struct vmm_net_inject *in, const struct proxy_request *req,
                          char rule[PROXY_RULE_MAX])
{
        bool in_name = req->name && secret_set_find_placeholder(in->set, req->name, strlen(req->name)) >= 0;
        bool in_head = req->head && secret_set_find_placeholder(in->set, req->head, req->head_len) >= 0;
        if (!in_name && !in_head)
                return 1;
        bool bound = req->name && secret_set_binds(in->set, req->name);
        snprintf(rule, PROXY_RULE_MAX, "%s",
                 bound && !in_name && req->proto == SNIFF_HTTP ? "secret.plaintext" : "secret.exfiltration");
        /* A ClientHello to a bound host naming it carries no placeholder of
         * ours by chance; one that does is refused as well. */
        return 0;
}

bool vmm_net_inject_wants(const struct vmm_net_inject *in, const struct proxy_request *req)
{
        return req->proto == SNIFF_TLS && req->name && secret_set_binds(in->set, req->name);
}

/* A blocking TCP connection to j->dst from the VM's namespace, marked so the
 * redirect lets it pass: an fd or -errno. */
static int upstream_connect(struct job *j)
{
        int fd = netns_socket(j->in->netns_fd, AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
                return fd;
        uint32_t mark = PROXY_MARK;
        struct timeval tv = { .tv_sec = CONNECT_TIMEOUT_MS / 1000 };
        if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
            connect(fd, (const struct sockaddr *)&j->dst, sizeof(j->dst)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static const char *outcome_rule(enum tls_relay_outcome o)
{
        switch (o) {
        case TLS_RELAY_REFUSED_SECRET:
                return "secret.exfiltration";
        case TLS_RELAY_BAD_REQUEST:
                return "secret.bad-request";
        case TLS_RELAY_BAD_RESPONSE:
                return "secret.bad-response";
        case TLS_RELAY_UPSTREAM_TLS:
                return "secret.upstream-tls";
        case TLS_RELAY_UNAVAILABLE:
                return "secret.unavailable";
        default:
                return NULL; /* the guest's own TLS failing, or I/O: not a refusal */
        }
}

static void job_end(struct job *j)
{
        struct vmm_net_inject *in = j->in;
        pthread_mutex_lock(&in->lock);
        if (j->prev)
                j->prev->next = j->next;
        else
                in->jobs = j->next;
        if (j->next)
                j->next->prev = j->prev;
        if (--in->active == 0)
                pthread_cond_broadcast(&in->idle);
        pthread_mutex_unlock(&in->lock);
        close(j->gfd);
        free(j);
}

static int job_connect(void *ctx)
{
        struct job *j = ctx;
        pthread_mutex_lock(&j->in->lock);
        bool closing = j->in->closing;
        pthread_mutex_unlock(&j->in->lock);
        return closing ? -ECANCELED : upstream_connect(j);
}

/* Rotation: the values as the vault holds them now, before each request. */
static int job_before_request(void *ctx, struct ak_error *err)
{
        struct job *j = ctx;
        return secret_set_refresh(j->in->set, err);
}

/* Each request: its refusal audited, its proxy hooks' events. */
static void job_exchange(void *ctx, const struct tls_relay_result *res, const struct ak_error *err)
{
        struct job *j = ctx;
        struct vmm_net_inject *in = j->in;
        const char *rule = res->outcome != TLS_RELAY_DONE ? outcome_rule(res->outcome) : NULL;

        if (rule)
                report(in, NET_EVENT_TLS_SNI, j->dst_text, j->dst_port, j->name, rule);
        if (in->s->on_request && res->method[0]) {
                struct vmm_net_request_event ev = {
                        .host = j->name,
                        .port = j->dst_port,
                        .method = res->method,
                        .path = res->path,
                        .status = res->status,
                        .request_bytes = res->to_server,
                        .response_bytes = res->to_guest,
                        .duration_ms = (ak_mono_ns() - j->t0) / 1000000,
                        .injected = res->injected,
                        .outcome = tls_relay_outcome_name(res->outcome),
                };
                in->s->on_request(in->s->ctx, &ev);
        }
        j->t0 = ak_mono_ns();
}

static void *job_run(void *arg)
{
        struct job *j = arg;
        struct vmm_net_inject *in = j->in;
        struct ak_error err = { 0 };
        struct tls_relay_result res = { 0 };
        char addr[INET6_ADDRSTRLEN + 8];
        snprintf(addr, sizeof(addr), "%s:%u", j->dst_text, (unsigned)j->dst_port);
        const struct tls_relay_target t = {
                .host = j->name,
                .addr = addr,
                .connect = job_connect,
                .before_request = job_before_request,
                .on_exchange = job_exchange,
                .ctx = j,
        };

        j->t0 = ak_mono_ns();
        tls_relay_serve(in->relay, j->gfd, j->head, j->head_len, &t, &res, &err);
        job_end(j);
        return NULL;
}

void vmm_net_inject_handoff(void *ctx, int fd, const struct proxy_request *req)
{
        struct vmm_net_inject *in = ctx;
        struct job *j = calloc(1, sizeof(*j) + req->head_len);
        if (!j || !req->name || req->dst.ss_family != AF_INET) {
                free(j);
                close(fd);
                return;
        }
        j->in = in;
        j->gfd = fd;
        memcpy(&j->dst, &req->dst, sizeof(j->dst));
        j->dst_port = req->dst_port;
        snprintf(j->dst_text, sizeof(j->dst_text), "%s", req->dst_text);
        snprintf(j->name, sizeof(j->name), "%s", req->name);
        memcpy(j->head, req->head, req->head_len);
        j->head_len = req->head_len;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
                free(j);
                close(fd);
                return;
        }
        pthread_mutex_lock(&in->lock);
        bool room = !in->closing && in->active < INJECT_MAX_CONNS;
        if (room) {
                j->next = in->jobs;
                if (in->jobs)
                        in->jobs->prev = j;
                in->jobs = j;
                in->active++;
        }
        pthread_mutex_unlock(&in->lock);
        if (!room) {
                free(j);
                close(fd);
                return;
        }
        pthread_attr_t a;
        pthread_t t;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, job_run, j) != 0)
                job_end(j);
        pthread_attr_destroy(&a);
}
