/* The shared TLS and token flags (flags.h). */
#include "lib/svc/flags.h"

bool svc_flags_take(struct svc_flags *f, int c, const char *arg)
{
        switch (c) {
        case SVC_OPT_TOKEN_FILE: f->token_file = arg; return true;
        case SVC_OPT_TLS_CERT: f->tls.cert_file = arg; return true;
        case SVC_OPT_TLS_KEY: f->tls.key_file = arg; return true;
        case SVC_OPT_TLS_CA: f->tls.ca_file = arg; return true;
        case SVC_OPT_TLS_REQUIRE: f->tls.require_client_cert = true; return true;
        case SVC_OPT_HEALTH_LISTEN: f->health_listen = arg; return true;
        case SVC_OPT_PEER_TLS_CA: f->peer_tls.ca_file = arg; return true;
        case SVC_OPT_PEER_TLS_CERT: f->peer_tls.cert_file = arg; return true;
        case SVC_OPT_PEER_TLS_KEY: f->peer_tls.key_file = arg; return true;
        default: return false;
        }
}

const char *svc_flags_problem(const struct svc_flags *f)
{
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
        return f->tls.require_client_cert ? "mTLS (client certificates required)" : "mTLS";
}

int svc_health_start(const struct svc_flags *f, struct rpc_server **ret, struct ak_error *err)
{
        struct rpc_server *srv = NULL;
        *ret = NULL;
        if (!f->health_listen)
                return 0;
        struct rpc_server_options o = { .limits.max_calls = 4 };
        int r;
        if ((r = rpc_server_new(&o, &srv, err)) < 0 ||
            (r = rpc_server_listen(srv, f->health_listen, NULL, NULL, err)) < 0 ||
            (r = rpc_server_start(srv, err)) < 0) {
                rpc_server_shutdown(srv, 0);
                ak_error_wrap(err, "--health-listen %s", f->health_listen);
                return r;
        }
        *ret = srv;
        return 0;
}
