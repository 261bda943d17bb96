/* The TLS and token flags every ak service takes, parsed in one place:
 *
 *   server side (ak-scheduler, ak-executor, ak-auditor):
 *     --token-file F               incoming bearer tokens (tokens.h, auth.h)
 *     --tls-cert F --tls-key F     serve TLS
 *     --tls-ca F                   verify client certificates (mTLS)
 *     --tls-require-client-cert    refuse clients without one
 *     --health-listen ADDR         plaintext grpc.health.v1 only (probes)
 *   client side (a service that calls others, ak-executor):
 *     --peer-tls-ca F              call peers over TLS, verified with this CA
 *     --peer-tls-cert F --peer-tls-key F   presenting this client certificate
 *
 * Use: put SVC_SERVER_OPTIONS (and SVC_PEER_OPTIONS) rows in the getopt_long
 * table, hand every option to svc_flags_take first, then check
 * svc_flags_problem once parsing is done. Paths point into argv. */
#pragma once

#include <getopt.h>
#include <stdbool.h>

#include "lib/rpc/rpc.h"

enum {
        SVC_OPT_TOKEN_FILE = 0x5f00,
        SVC_OPT_TLS_CERT,
        SVC_OPT_TLS_KEY,
        SVC_OPT_TLS_CA,
        SVC_OPT_TLS_REQUIRE,
        SVC_OPT_HEALTH_LISTEN,
        SVC_OPT_PEER_TLS_CA,
        SVC_OPT_PEER_TLS_CERT,
        SVC_OPT_PEER_TLS_KEY,
};

#define SVC_SERVER_OPTIONS                                                          \
        { "token-file", required_argument, NULL, SVC_OPT_TOKEN_FILE },              \
        { "tls-cert", required_argument, NULL, SVC_OPT_TLS_CERT },                  \
        { "tls-key", required_argument, NULL, SVC_OPT_TLS_KEY },                    \
        { "tls-ca", required_argument, NULL, SVC_OPT_TLS_CA },                      \
        { "tls-require-client-cert", no_argument, NULL, SVC_OPT_TLS_REQUIRE },      \
        { "health-listen", required_argument, NULL, SVC_OPT_HEALTH_LISTEN }

#define SVC_PEER_OPTIONS                                                            \
        { "peer-tls-ca", required_argument, NULL, SVC_OPT_PEER_TLS_CA },            \
        { "peer-tls-cert", required_argument, NULL, SVC_OPT_PEER_TLS_CERT },        \
        { "peer-tls-key", required_argument, NULL, SVC_OPT_PEER_TLS_KEY }

#define SVC_SERVER_USAGE                                                                        \
        "  --token-file F              bearer tokens, one a line (# comments), mode 0600;\n"   \
        "                              other calls get UNAUTHENTICATED (health is open);\n"    \
        "                              SIGHUP reads F again\n"                                  \
        "  --tls-cert F, --tls-key F   serve TLS with this PEM certificate and key\n"          \
        "  --tls-ca F                  verify client certificates against this CA (mTLS)\n"    \
        "  --tls-require-client-cert   refuse clients without a certificate\n"          \
        "  --health-listen ADDR        also answer grpc.health.v1.Health, and nothing\n"   \
        "                              else, in plaintext on ADDR (Kubernetes grpc\n"      \
        "                              probes speak no TLS)\n"

#define SVC_PEER_USAGE                                                                          \
        "  --peer-tls-ca F             call the scheduler, signer and auditor over TLS,\n"     \
        "                              verifying them with this CA\n"                           \
        "  --peer-tls-cert F, --peer-tls-key F   presenting this client certificate\n"

struct svc_flags {
        const char *token_file;
        const char *health_listen;
        struct rpc_tls tls;        /* serving */
        struct rpc_tls peer_tls;   /* calling */
};

/* Stores option `c` when it is one of SVC_OPT_*: returns true, else false. */
bool svc_flags_take(struct svc_flags *f, int c, const char *arg);

/* NULL when the combination is usable, else what is wrong (static text). */
const char *svc_flags_problem(const struct svc_flags *f);

/* For rpc_server_listen: NULL when serving plaintext. */
const struct rpc_tls *svc_flags_server_tls(const struct svc_flags *f);

/* For rpc_channel_new to peers: NULL when calling them in plaintext. */
const struct rpc_tls *svc_flags_peer_tls(const struct svc_flags *f);

/* "mTLS (client certificates required)", "mTLS", "TLS" or "plaintext". */
const char *svc_flags_describe(const struct svc_flags *f);

/* --health-listen: a server of its own, plaintext, with no service but the
 * health service every rpc_server has (SERVING while the process serves).
 * *ret is NULL when f->health_listen is; free with rpc_server_shutdown. */
int svc_health_start(const struct svc_flags *f, struct rpc_server **ret, struct ak_error *err);
