/* The shared TLS and token flags (flags.h). */
#include "lib/svc/flags.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/base/hostport.h"
#include "lib/base/parse.h"
#include "lib/svc/log.h"

/* A limit flag's value: a whole number from min to max, else f->bad_value. */
static void take_limit(struct svc_flags *f, const char *flag, const char *arg, unsigned min,
                       unsigned max, unsigned *u, int64_t *ms)
{
        unsigned v;
        if (ak_parse_uint(arg, min, max, &v) < 0) {
                if (!f->bad_value)
                        f->bad_value = flag;
                return;
        }
        if (u)
                *u = v;
        if (ms)
                *ms = v;
}

bool svc_flags_take(struct svc_flags *f, int c, const char *arg)
{
        struct rpc_server_limits *l = &f->limits;
        switch (c) {
        case SVC_OPT_INSECURE: f->insecure = true; return true;
        case SVC_OPT_MAX_CALLS:
                take_limit(f, "--max-calls: want a whole number from 4 to 65536", arg, 4, 65536,
                           &l->max_calls, NULL);
                return true;
        case SVC_OPT_MAX_CONN_STREAMS:
                take_limit(f, "--max-conn-streams: want a whole number from 1 to 65536", arg, 1, 65536,
                           &l->max_conn_streams, NULL);
                return true;
        case SVC_OPT_CONN_IDLE_MS:
                take_limit(f, "--conn-idle-ms: want milliseconds from 1000 to 86400000", arg, 1000,
                           86400000, NULL, &l->idle_conn_ms);
                return true;
        case SVC_OPT_CALL_DEADLINE_MS:
                take_limit(f, "--call-deadline-ms: want milliseconds from 100 to 2000000000", arg, 100,
                           2000000000, NULL, &l->call_deadline_ms);
                return true;
        case SVC_OPT_STREAM_DEADLINE_MS:
                take_limit(f, "--stream-deadline-ms: want milliseconds from 100 to 2000000000", arg, 100,
                           2000000000, NULL, &l->stream_deadline_ms);
                return true;
        case SVC_OPT_TOKEN_FILE: f->token_file = arg; return true;
        case SVC_OPT_TLS_CERT: f->tls.cert_file = arg; return true;
        case SVC_OPT_TLS_KEY: f->tls.key_file = arg; return true;
        case SVC_OPT_TLS_CA:
                /* A CA to verify client certificates with is mTLS: one is required. */
                f->tls.ca_file = arg;
                f->tls.require_client_cert = true;
                return true;
        case SVC_OPT_TLS_REQUIRE: f->tls.require_client_cert = true; return true;
        case SVC_OPT_HEALTH_LISTEN: f->health_listen = arg; return true;
        case SVC_OPT_METRICS_LISTEN: f->metrics_listen = arg; return true;
        case SVC_OPT_LOG_FORMAT: f->log_format = arg; return true;
        case SVC_OPT_LOG_LEVEL: f->log_level = arg; return true;
        case SVC_OPT_PEER_TLS_CA: f->peer_tls.ca_file = arg; return true;
        case SVC_OPT_PEER_TLS_CERT: f->peer_tls.cert_file = arg; return true;
        case SVC_OPT_PEER_TLS_KEY: f->peer_tls.key_file = arg; return true;
        default: return false;
        }
}

const char *svc_flags_problem(const struct svc_flags *f)
{
        if (f->bad_value)
                return f->bad_value;
        struct ak_error ignored;
        if (svc_log_check(f->log_format, NULL, &ignored) < 0)
                return "--log-format: want text or json";
        if (svc_log_check(NULL, f->log_level, &ignored) < 0)
                return "--log-level: want debug, info, warn or error";
        if (!f->tls.cert_file != !f->tls.key_file)
                return "--tls-cert and --tls-key go together";
        if ((f->tls.ca_file || f->tls.require_client_cert) && !f->tls.cert_file)
                return "--tls-ca and --tls-require-client-cert need --tls-cert and --tls-key";
        if (f->tls.require_client_cert && !f->tls.ca_file)
                return "--tls-require-client-cert needs --tls-ca to verify them with";
        if (!f->peer_tls.cert_file != !f->peer_tls.key_file)
                return "--peer-tls-cert and --peer-tls-key go together";
        if (f->peer_tls.cert_file && !f->peer_tls.ca_file)
                return "--peer-tls-cert and --peer-tls-key need --peer-tls-ca";
        return NULL;
}

const struct rpc_tls *svc_flags_server_tls(const struct svc_flags *f)
{
        return f->tls.cert_file ? &f->tls : NULL;
}

const struct rpc_tls *svc_flags_peer_tls(const struct svc_flags *f)
{
        return f->peer_tls.ca_file ? &f->peer_tls : NULL;
}

const char *svc_flags_describe(const struct svc_flags *f)
{
        if (!f->tls.cert_file)
                return "plaintext";
        if (!f->tls.ca_file)
                return "TLS";
        return "mTLS (client certificates required)";
}

void svc_flags_listening(const struct svc_flags *f, const char *listen, int port, bool auth, char *msg,
                         size_t msg_size, char *sec, size_t sec_size)
{
        size_t n = strlen(listen);
        if (port && n > 2 && !strcmp(listen + n - 2, ":0"))
                snprintf(msg, msg_size, "listening on %.*s:%d", (int)(n - 2), listen, port);
        else
                snprintf(msg, msg_size, "listening on %s", listen);
        snprintf(sec, sec_size, "%s, %s", svc_flags_describe(f), auth ? "bearer tokens" : "no client authentication");
}

int svc_flags_check_listen(const struct svc_flags *f, const char *service, const char *listen,
                           char *buf, size_t size)
{
        if (!listen || strncmp(listen, "unix:", 5) == 0 || f->insecure || f->token_file ||
            (f->tls.ca_file && f->tls.require_client_cert))
                return 0;
        snprintf(buf, size,
                 "refusing to listen on %s with no authentication: anyone who reaches the port "
                 "could call %s. Give --token-file F (bearer tokens) or --tls-cert/--tls-key/--tls-ca "
                 "(client certificates), listen on unix:PATH, or pass --insecure to accept every "
                 "caller",
                 listen, service);
        return -EPERM;
}

void svc_flags_server_options(const struct svc_flags *f, struct rpc_server_options *ret)
{
        memset(ret, 0, sizeof(*ret));
        ret->limits = f->limits;
}

int svc_health_start(const struct svc_flags *f, bool serving, struct rpc_server **ret, struct ak_error *err)
{
        struct rpc_server *srv = NULL;
        *ret = NULL;
        if (!f->health_listen)
                return 0;
        struct rpc_server_options o = { .limits.max_calls = 4 };
        /* $(POD_IP):PORT on an IPv6 pod comes unbracketed: bracket it. */
        char bracketed[AK_HOSTPORT_MAX + 3];
        const char *addr = ak_hostport_bracket(f->health_listen, bracketed, sizeof(bracketed)) == 0 ? bracketed
                                                                                                   : f->health_listen;
        int r;
        if ((r = rpc_server_new(&o, &srv, err)) == 0) {
                rpc_server_set_serving(srv, serving);
                if ((r = rpc_server_listen(srv, addr, NULL, NULL, err)) == 0)
                        r = rpc_server_start(srv, err);
        }
        if (r < 0) {
                rpc_server_shutdown(srv, 0);
                ak_error_wrap(err, "--health-listen %s", f->health_listen);
                return r;
        }
        *ret = srv;
        return 0;
}
