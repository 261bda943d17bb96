/* The server: listeners, the method table, and the worker pool.
 *
 * Every call is requested with grpc_server_request_call (no registered
 * methods), bound to a pluck completion queue of its own, and announced on the
 * server's one notification queue. Workers block in grpc_completion_queue_next
 * on that queue; the one that receives a call re-arms a request, makes sure a
 * worker stays idle to take the next call, then runs the call to completion
 * itself. At most limits.max_calls calls run at once; a worker that takes a
 * call past that answers RESOURCE_EXHAUSTED at once, so there are at most
 * max_calls + RPC_SHED_WORKERS workers and one is nearly always free to say
 * no. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <grpc/support/log.h>

#include "lib/base/fs.h"
#include "lib/base/time.h"
#include "lib/rpc/internal.h"
#include "protos/grpc/health/v1/health.pb-c.h"

#define RPC_PENDING_REQUESTS 8   /* calls the core may accept before a worker is free */
#define RPC_MAX_IDLE_WORKERS 4   /* beyond this many idle workers, extras exit */
#define RPC_SHED_WORKERS 2       /* workers beyond max_calls, to refuse the excess */

struct request_slot {
        grpc_call *call;
        grpc_call_details details;
        grpc_metadata_array md;
        grpc_completion_queue *call_cq;
};

struct rpc_server {
        grpc_server *server;
        grpc_completion_queue *cq;
        struct rpc_server_options opts;

        struct rpc_method_entry *methods;
        size_t n_methods;
        char **service_names;
        size_t n_services;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        unsigned n_workers;
        unsigned n_idle;
        unsigned peak_workers;
        unsigned in_flight;
        atomic_uint open_receives;
        atomic_uint_least64_t calls;
        atomic_uint_least64_t stats[RPC_STAT_N];
        bool started;
        bool shutdown_requested;
        bool shutdown_done;
        atomic_bool cancelling;
        atomic_bool serving;
        char shutdown_tag;
};

static pthread_mutex_t grpc_ref_lock = PTHREAD_MUTEX_INITIALIZER;

static void (*log_fn)(enum rpc_log_severity, const char *, int, const char *);

static void log_trampoline(gpr_log_func_args *a)
{
        enum rpc_log_severity sev = a->severity == GPR_LOG_SEVERITY_DEBUG  ? RPC_LOG_DEBUG
                                    : a->severity == GPR_LOG_SEVERITY_INFO ? RPC_LOG_INFO
                                                                           : RPC_LOG_ERROR;
        log_fn(sev, a->file ? a->file : "", a->line, a->message ? a->message : "");
}

void rpc_set_log(void (*fn)(enum rpc_log_severity severity, const char *file, int line, const char *msg))
{
        if (!fn)
                return;
        log_fn = fn;
        gpr_set_log_function(log_trampoline);
}

void rpc_grpc_ref(void)
{
        pthread_mutex_lock(&grpc_ref_lock);
        grpc_init();
        pthread_mutex_unlock(&grpc_ref_lock);
}

void rpc_grpc_unref(void)
{
        pthread_mutex_lock(&grpc_ref_lock);
        grpc_shutdown();
        pthread_mutex_unlock(&grpc_ref_lock);
}

static const char *const code_names[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
        "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
        "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

const char *rpc_code_name(int code)
{
        static __thread char buf[32];
        if (code >= 0 && (size_t)code < sizeof(code_names) / sizeof(code_names[0]))
                return code_names[code];
        snprintf(buf, sizeof(buf), "CODE_%d", code);
        return buf;
}

bool rpc_server_cancelling(const struct rpc_server *srv)
{
        return atomic_load(&srv->cancelling);
}

bool rpc_server_serving(const struct rpc_server *srv)
{
        return atomic_load(&srv->serving);
}

void rpc_server_set_serving(struct rpc_server *srv, bool serving)
{
        atomic_store(&srv->serving, serving);
}

const struct rpc_server_options *rpc_server_opts(const struct rpc_server *srv)
{
        return &srv->opts;
}

void rpc_server_count(struct rpc_server *srv, enum rpc_stat which, uint64_t n)
{
        atomic_fetch_add(&srv->stats[which], n);
}

bool rpc_server_open_receive_begin(struct rpc_server *srv)
{
        if (atomic_fetch_add(&srv->open_receives, 1) < RPC_MAX_OPEN_RECEIVES)
                return true;
        atomic_fetch_sub(&srv->open_receives, 1);
        return false;
}

void rpc_server_open_receive_end(struct rpc_server *srv)
{
        atomic_fetch_sub(&srv->open_receives, 1);
}

void rpc_server_get_stats(struct rpc_server *srv, struct rpc_server_stats *ret)
{
        memset(ret, 0, sizeof(*ret));
        ret->calls = atomic_load(&srv->calls);
        ret->refused_auth = atomic_load(&srv->stats[RPC_STAT_REFUSED_AUTH]);
        ret->shed = atomic_load(&srv->stats[RPC_STAT_SHED]);
        ret->deadline_cut = atomic_load(&srv->stats[RPC_STAT_DEADLINE_CUT]);
        ret->messages_read = atomic_load(&srv->stats[RPC_STAT_MESSAGES]);
        ret->bytes_read = atomic_load(&srv->stats[RPC_STAT_BYTES]);
        pthread_mutex_lock(&srv->lock);
        ret->in_flight = srv->in_flight;
        ret->workers = srv->n_workers;
        ret->peak_workers = srv->peak_workers;
        pthread_mutex_unlock(&srv->lock);
}

bool rpc_server_has_service(const struct rpc_server *srv, const char *name)
{
        for (size_t i = 0; i < srv->n_services; i++)
                if (strcmp(srv->service_names[i], name) == 0)
                        return true;
        return false;
}

int rpc_server_new(const struct rpc_server_options *opts, struct rpc_server **ret,
                   struct ak_error *err)
{
        struct rpc_server *srv = calloc(1, sizeof(*srv));
        if (!srv)
                return ak_error_errno(err, -ENOMEM, "rpc server");
        if (opts)
                srv->opts = *opts;
        if (!srv->opts.max_message_bytes)
                srv->opts.max_message_bytes = RPC_DEFAULT_MAX_MESSAGE_BYTES;
        if (srv->opts.max_message_bytes > INT32_MAX)
                srv->opts.max_message_bytes = INT32_MAX;
        struct rpc_server_limits *l = &srv->opts.limits;
        if (!l->max_calls)
                l->max_calls = RPC_DEFAULT_MAX_CALLS;
        if (!l->max_conn_streams)
                l->max_conn_streams = RPC_DEFAULT_MAX_CONN_STREAMS;
        if (l->idle_conn_ms <= 0 || l->idle_conn_ms > INT32_MAX)
                l->idle_conn_ms = RPC_DEFAULT_IDLE_CONN_MS;
        if (l->call_deadline_ms <= 0)
                l->call_deadline_ms = RPC_DEFAULT_CALL_DEADLINE_MS;
        if (l->stream_deadline_ms <= 0)
                l->stream_deadline_ms = RPC_DEFAULT_STREAM_DEADLINE_MS;
        if (l->max_conn_streams > INT32_MAX)
                l->max_conn_streams = INT32_MAX;
        pthread_mutex_init(&srv->lock, NULL);
        pthread_cond_init(&srv->cond, NULL);
        atomic_store(&srv->serving, true);

        rpc_grpc_ref();
#define INT_ARG(k, v) { .type = GRPC_ARG_INTEGER, .key = (char *)(k), .value.integer = (int)(v) }
        grpc_arg args[] = {
                INT_ARG(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, srv->opts.max_message_bytes),
                INT_ARG(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, srv->opts.max_message_bytes),
                INT_ARG(GRPC_ARG_MAX_CONCURRENT_STREAMS, l->max_conn_streams),
                INT_ARG(GRPC_ARG_MAX_CONNECTION_IDLE_MS, l->idle_conn_ms),
                INT_ARG(GRPC_ARG_KEEPALIVE_TIME_MS, RPC_KEEPALIVE_MS),
                INT_ARG(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, RPC_KEEPALIVE_TIMEOUT_MS),
                INT_ARG(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, RPC_HANDSHAKE_TIMEOUT_MS),
        };
#undef INT_ARG
        grpc_channel_args cargs = { .num_args = sizeof(args) / sizeof(args[0]), .args = args };
        srv->server = grpc_server_create(&cargs, NULL);
        srv->cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(srv->server, srv->cq, NULL);

        struct ak_error e;
        int r = rpc_server_add_service(srv, &grpc__health__v1__health__descriptor,
                                       rpc_health_methods, rpc_health_n_methods, srv, &e);
        if (r < 0) {
                rpc_server_shutdown(srv, 0);
                if (err)
                        *err = e;
                return r;
        }
        srv->methods[0].is_health = true;
        srv->methods[1].is_health = true;
        *ret = srv;
        return 0;
}

static int remove_stale_socket(const char *path, struct ak_error *err)
{
        struct stat st;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : ak_error_errno(err, -errno, "stat %s", path);
        if (!S_ISSOCK(st.st_mode))
                return ak_error_set(err, -EEXIST,
                                    "%s exists and is not a socket: remove it or pick another path",
                                    path);
        if (unlink(path) < 0)
                return ak_error_errno(err, -errno, "remove stale socket %s", path);
        return 0;
}

int rpc_server_listen(struct rpc_server *srv, const char *addr, const struct rpc_tls *tls,
                      int *ret_port, struct ak_error *err)
{
        if (srv->started)
                return ak_error_set(err, -EBUSY, "listen %s: server already started", addr);
        if (!addr || !*addr)
                return ak_error_set(err, -EINVAL, "listen: empty address (want HOST:PORT or unix:PATH)");
        bool is_unix = strncmp(addr, "unix:", 5) == 0;
        if (is_unix) {
                const char *path = addr + 5;
                if (strlen(path) >= 108)
                        return ak_error_set(err, -ENAMETOOLONG,
                                            "listen %s: socket path longer than 107 bytes", addr);
                int r = remove_stale_socket(path, err);
                if (r < 0)
                        return ak_error_wrap(err, "listen %s", addr);
        } else if (!strchr(addr, ':')) {
                return ak_error_set(err, -EINVAL, "listen %s: want HOST:PORT or unix:PATH", addr);
        }

        grpc_server_credentials *creds;
        if (tls) {
                int r = rpc_tls_server_creds(tls, &creds, err);
                if (r < 0)
                        return ak_error_wrap(err, "listen %s", addr);
        } else {
                creds = grpc_insecure_server_credentials_create();
        }
        int port = grpc_server_add_http2_port(srv->server, addr, creds);
        grpc_server_credentials_release(creds);
        if (port == 0)
                return ak_error_set(err, -EADDRNOTAVAIL,
                                    "listen %s: cannot bind (address in use, or not local?)", addr);
        /* The socket's mode followed the umask; the services' sockets are
         * for their owner (the stack's run/ directory is 0700 too). */
        if (is_unix && ak_private_file(addr + 5, err) < 0)
                return ak_error_wrap(err, "listen %s", addr);
        if (ret_port)
                *ret_port = is_unix ? 0 : port;
        return 0;
}

int rpc_server_add_service(struct rpc_server *srv, const ProtobufCServiceDescriptor *service,
                           const struct rpc_method *methods, size_t n_methods, void *userdata,
                           struct ak_error *err)
{
        if (srv->started)
                return ak_error_set(err, -EBUSY, "add service %s: server already started",
                                    service->name);
        for (size_t i = 0; i < n_methods; i++) {
                const ProtobufCMethodDescriptor *md = NULL;
                for (unsigned j = 0; j < service->n_methods; j++)
                        if (strcmp(service->methods[j].name, methods[i].name) == 0)
                                md = &service->methods[j];
                if (!md || !methods[i].handler)
                        return ak_error_set(err, -EINVAL, "service %s has no method %s",
                                            service->name, methods[i].name);
        }
        struct rpc_method_entry *grown =
                realloc(srv->methods, (srv->n_methods + n_methods) * sizeof(*grown));
        char **names = realloc(srv->service_names, (srv->n_services + 1) * sizeof(*names));
        if (grown)
                srv->methods = grown;
        if (names)
                srv->service_names = names;
        if (!grown || !names)
                return ak_error_errno(err, -ENOMEM, "add service %s", service->name);
        srv->service_names[srv->n_services++] = strdup(service->name);
        for (size_t i = 0; i < n_methods; i++) {
                struct rpc_method_entry *e = &srv->methods[srv->n_methods++];
                memset(e, 0, sizeof(*e));
                for (unsigned j = 0; j < service->n_methods; j++)
                        if (strcmp(service->methods[j].name, methods[i].name) == 0)
                                e->desc = &service->methods[j];
                if (asprintf(&e->path, "/%s/%s", service->name, methods[i].name) < 0)
                        e->path = NULL;
                e->kind = methods[i].kind;
                e->handler = methods[i].handler;
                e->userdata = userdata;
        }
        return 0;
}

static const struct rpc_method_entry *find_method(struct rpc_server *srv, const char *path)
{
        for (size_t i = 0; i < srv->n_methods; i++)
                if (srv->methods[i].path && strcmp(srv->methods[i].path, path) == 0)
                        return &srv->methods[i];
        return NULL;
}

static void slot_free(struct request_slot *slot)
{
        grpc_call_details_destroy(&slot->details);
        grpc_metadata_array_destroy(&slot->md);
        if (slot->call_cq) {
                grpc_completion_queue_shutdown(slot->call_cq);
                while (grpc_completion_queue_pluck(slot->call_cq, NULL,
                                                   gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                               .type != GRPC_QUEUE_SHUTDOWN)
                        ;
                grpc_completion_queue_destroy(slot->call_cq);
        }
        free(slot);
}

/* Asks the core for one more call. Called with srv->lock held. */
static void request_one(struct rpc_server *srv)
{
        if (srv->shutdown_requested)
                return;
        struct request_slot *slot = calloc(1, sizeof(*slot));
        if (!slot)
                return;
        grpc_call_details_init(&slot->details);
        grpc_metadata_array_init(&slot->md);
        slot->call_cq = grpc_completion_queue_create_for_pluck(NULL);
        grpc_call_error e = grpc_server_request_call(srv->server, &slot->call, &slot->details,
                                                     &slot->md, slot->call_cq, srv->cq, slot);
        if (e != GRPC_CALL_OK)
                slot_free(slot);
}

static void handle_slot(struct rpc_server *srv, struct request_slot *slot, bool shed)
{
        struct rpc_call call = {
                .srv = srv,
                .call = slot->call,
                .cq = slot->call_cq,
                .md = &slot->md,
                .max_message_bytes = srv->opts.max_message_bytes,
        };
        call.path = grpc_slice_to_c_string(slot->details.method);
        call.method = call.path ? find_method(srv, call.path) : NULL;
        call.deadline = gpr_convert_clock_type(slot->details.deadline, GPR_CLOCK_MONOTONIC);
        if (gpr_time_cmp(call.deadline, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 0) {
                const struct rpc_server_limits *l = &srv->opts.limits;
                int64_t ms = call.method && call.method->kind == RPC_SERVER_STREAMING
                                     ? l->stream_deadline_ms
                                     : l->call_deadline_ms;
                call.deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                             gpr_time_from_millis(ms, GPR_TIMESPAN));
                call.server_deadline = true;
        }
        call.shed = shed;
        rpc_call_run(&call);
        gpr_free(call.path);
        gpr_free(call.peer);
        for (size_t i = 0; i < call.n_md_strings; i++)
                free(call.md_strings[i]);
        free(call.md_strings);
        grpc_call_unref(slot->call);
        slot_free(slot);
}

static void *worker_main(void *arg);

/* Called with srv->lock held. */
static void spawn_worker(struct rpc_server *srv)
{
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, worker_main, srv) == 0) {
                srv->n_workers++;
                srv->n_idle++;
                if (srv->n_workers > srv->peak_workers)
                        srv->peak_workers = srv->n_workers;
        }
        pthread_attr_destroy(&attr);
}

static void *worker_main(void *arg)
{
        struct rpc_server *srv = arg;
        for (;;) {
                grpc_event ev = grpc_completion_queue_next(srv->cq,
                                                           gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
                if (ev.type == GRPC_QUEUE_SHUTDOWN)
                        break;
                if (ev.type != GRPC_OP_COMPLETE)
                        continue;
                if (ev.tag == &srv->shutdown_tag) {
                        pthread_mutex_lock(&srv->lock);
                        srv->shutdown_done = true;
                        pthread_cond_broadcast(&srv->cond);
                        pthread_mutex_unlock(&srv->lock);
                        continue;
                }
                struct request_slot *slot = ev.tag;
                if (!ev.success) {
                        /* Request cancelled by shutdown: no call was bound. */
                        slot_free(slot);
                        continue;
                }
                atomic_fetch_add(&srv->calls, 1);
                pthread_mutex_lock(&srv->lock);
                srv->n_idle--;
                request_one(srv);
                bool shed = srv->in_flight >= srv->opts.limits.max_calls;
                if (!shed)
                        srv->in_flight++;
                if (srv->n_idle == 0 &&
                    srv->n_workers < srv->opts.limits.max_calls + RPC_SHED_WORKERS &&
                    !srv->shutdown_requested)
                        spawn_worker(srv);
                pthread_mutex_unlock(&srv->lock);

                handle_slot(srv, slot, shed);

                pthread_mutex_lock(&srv->lock);
                if (!shed)
                        srv->in_flight--;
                srv->n_idle++;
                bool surplus = srv->n_idle > RPC_MAX_IDLE_WORKERS;
                if (surplus) {
                        srv->n_idle--;
                        srv->n_workers--;
                        pthread_cond_broadcast(&srv->cond);
                }
                pthread_mutex_unlock(&srv->lock);
                if (surplus)
                        return NULL;
        }
        pthread_mutex_lock(&srv->lock);
        srv->n_idle--;
        srv->n_workers--;
        pthread_cond_broadcast(&srv->cond);
        pthread_mutex_unlock(&srv->lock);
        return NULL;
}

int rpc_server_start(struct rpc_server *srv, struct ak_error *err)
{
        if (srv->started)
                return ak_error_set(err, -EBUSY, "server already started");
        grpc_server_start(srv->server);
        pthread_mutex_lock(&srv->lock);
        srv->started = true;
        for (int i = 0; i < RPC_PENDING_REQUESTS; i++)
                request_one(srv);
        spawn_worker(srv);
        spawn_worker(srv);
        pthread_mutex_unlock(&srv->lock);
        return 0;
}

static void wait_shutdown_done(struct rpc_server *srv, unsigned grace_ms)
{
        struct timespec until = ak_timespec_after(CLOCK_REALTIME, grace_ms);
        pthread_mutex_lock(&srv->lock);
        while (!srv->shutdown_done)
                if (pthread_cond_timedwait(&srv->cond, &srv->lock, &until) == ETIMEDOUT)
                        break;
        bool done = srv->shutdown_done;
        pthread_mutex_unlock(&srv->lock);
        if (!done) {
                atomic_store(&srv->cancelling, true);
                grpc_server_cancel_all_calls(srv->server);
        }
        pthread_mutex_lock(&srv->lock);
        while (!srv->shutdown_done)
                pthread_cond_wait(&srv->cond, &srv->lock);
        pthread_mutex_unlock(&srv->lock);
}

void rpc_server_shutdown(struct rpc_server *srv, unsigned grace_ms)
{
        if (!srv)
                return;
        atomic_store(&srv->serving, false);
        pthread_mutex_lock(&srv->lock);
        srv->shutdown_requested = true;
        bool started = srv->started;
        pthread_mutex_unlock(&srv->lock);

        grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
        if (started) {
                wait_shutdown_done(srv, grace_ms);
        } else {
                grpc_server_cancel_all_calls(srv->server);
                while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                               .tag != &srv->shutdown_tag)
                        ;
        }
        grpc_server_destroy(srv->server);
        grpc_completion_queue_shutdown(srv->cq);
        pthread_mutex_lock(&srv->lock);
        while (srv->n_workers > 0)
                pthread_cond_wait(&srv->cond, &srv->lock);
        pthread_mutex_unlock(&srv->lock);
        /* Whatever no worker took (a worker exits on the first SHUTDOWN). */
        while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                               .type != GRPC_QUEUE_SHUTDOWN)
                        ;
        grpc_completion_queue_destroy(srv->cq);

        for (size_t i = 0; i < srv->n_methods; i++)
                free(srv->methods[i].path);
        free(srv->methods);
        for (size_t i = 0; i < srv->n_services; i++)
                free(srv->service_names[i]);
        free(srv->service_names);
        pthread_cond_destroy(&srv->cond);
        pthread_mutex_destroy(&srv->lock);
        free(srv);
        rpc_grpc_unref();
}
