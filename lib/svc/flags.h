/* The TLS and token flags every ak service takes, parsed in one place:
 *
 *   server side (every service):
 *     --token-file F               incoming bearer tokens (tokens.h, auth.h)
 *     --tls-cert F --tls-key F     serve TLS
 *     --tls-ca F                   require client certificates verified
 *                                  against F (mTLS)
 *     --tls-require-client-cert    what --tls-ca does anyway (kept for old
 *                                  command lines)
 *     --insecure                   allow a TCP listener nobody authenticates
 *     --health-listen ADDR         plaintext grpc.health.v1 only (probes)
 *     --metrics-listen ADDR        Prometheus /metrics over HTTP (metrics.h)
 *     --log-format text|json, --log-level L   the structured log (log.h)
 *     --max-calls N, --max-conn-streams N, --conn-idle-ms N,
 *     --call-deadline-ms N, --stream-deadline-ms N   lib/rpc's limits
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
        SVC_OPT_INSECURE,
        SVC_OPT_MAX_CALLS,
        SVC_OPT_MAX_CONN_STREAMS,
        SVC_OPT_CONN_IDLE_MS,
        SVC_OPT_CALL_DEADLINE_MS,
        SVC_OPT_STREAM_DEADLINE_MS,
        SVC_OPT_METRICS_LISTEN,
        SVC_OPT_LOG_FORMAT,
        SVC_OPT_LOG_LEVEL,
};

/* In SVC_SERVER_OPTIONS; a service without them (ak-gateway) lists it alone. */
#define SVC_METRICS_OPTION { "metrics-listen", required_argument, NULL, SVC_OPT_METRICS_LISTEN }
#define SVC_LOG_OPTIONS                                                        \
        { "log-format", required_argument, NULL, SVC_OPT_LOG_FORMAT },         \
        { "log-level", required_argument, NULL, SVC_OPT_LOG_LEVEL }

#define SVC_LOG_USAGE                                                                           \
        "  --log-format text|json      stderr's lines as text or one JSON object a line\n"  \
        "                              (time, level, service, msg, fields; default text)\n" \
        "  --log-level L               debug, info, warn or error (info)\n"

#define SVC_METRICS_USAGE                                                                       \
        "  --metrics-listen ADDR       serve Prometheus metrics (text format) over plain HTTP\n" \
        "                              at http://ADDR/metrics; ADDR is HOST:PORT, [V6]:PORT\n"  \
        "                              ([::]: every address, IPv4 too) or :PORT (every IPv4\n" \
        "                              address); HOST is numeric or localhost. No credential:\n" \
        "                              counts, states and durations only\n"


#define SVC_SERVER_OPTIONS                                                          \
        { "token-file", required_argument, NULL, SVC_OPT_TOKEN_FILE },              \
        { "tls-cert", required_argument, NULL, SVC_OPT_TLS_CERT },                  \
        { "tls-key", required_argument, NULL, SVC_OPT_TLS_KEY },                    \
        { "tls-ca", required_argument, NULL, SVC_OPT_TLS_CA },                      \
        { "tls-require-client-cert", no_argument, NULL, SVC_OPT_TLS_REQUIRE },      \
        { "health-listen", required_argument, NULL, SVC_OPT_HEALTH_LISTEN },         \
        { "insecure", no_argument, NULL, SVC_OPT_INSECURE },                        \
        { "max-calls", required_argument, NULL, SVC_OPT_MAX_CALLS },                \
        { "max-conn-streams", required_argument, NULL, SVC_OPT_MAX_CONN_STREAMS },  \
        { "conn-idle-ms", required_argument, NULL, SVC_OPT_CONN_IDLE_MS },          \
        { "call-deadline-ms", required_argument, NULL, SVC_OPT_CALL_DEADLINE_MS },  \
        { "stream-deadline-ms", required_argument, NULL, SVC_OPT_STREAM_DEADLINE_MS }, \
        SVC_METRICS_OPTION, SVC_LOG_OPTIONS

#define SVC_PEER_OPTIONS                                                            \
        { "peer-tls-ca", required_argument, NULL, SVC_OPT_PEER_TLS_CA },            \
        { "peer-tls-cert", required_argument, NULL, SVC_OPT_PEER_TLS_CERT },        \
        { "peer-tls-key", required_argument, NULL, SVC_OPT_PEER_TLS_KEY }

#define SVC_SERVER_USAGE                                                                        \
        "  --token-file F              bearer tokens, one a line (# comments), mode 0600;\n"   \
        "                              other calls get UNAUTHENTICATED (health is open),\n"   \
        "                              decided from the headers before the request is\n"    \
        "                              read; SIGHUP reads F again\n"                           \
        "  --tls-cert F, --tls-key F   serve TLS with this PEM certificate and key\n"          \
        "  --tls-ca F                  mTLS: require a client certificate, verified\n"       \
        "                              against this CA; clients without one are refused\n"  \
        "  --tls-require-client-cert   (what --tls-ca does; accepted for old scripts)\n"     \
        "  --insecure                  allow listening on TCP with neither --token-file\n"  \
        "                              nor --tls-ca: anyone who reaches the port may call\n" \
        "                              (refused without it; unix: sockets need neither,\n"  \
        "                              their directory's mode guards them)\n"               \
        "  --health-listen ADDR        also answer grpc.health.v1.Health, and nothing\n"   \
        "                              else, in plaintext on ADDR (Kubernetes grpc\n"      \
        "                              probes speak no TLS)\n"                             \
        "  --max-calls N               calls served at once, streams included; more are\n" \
        "                              refused RESOURCE_EXHAUSTED at once (256;\n"         \
        "                              ak-scheduler: 1024)\n"                              \
        "  --max-conn-streams N        concurrent calls per client connection (128)\n"     \
        "  --conn-idle-ms N            close connections without calls after N ms\n"       \
        "                              (300000); clients reconnect when they need to\n"    \
        "  --call-deadline-ms N        deadline of a call whose client set none: past it\n"\
        "                              the call ends DEADLINE_EXCEEDED (600000)\n"         \
        "  --stream-deadline-ms N      the same for streaming calls (86400000)\n"        \
        SVC_METRICS_USAGE SVC_LOG_USAGE

#define SVC_PEER_USAGE                                                                          \
        "  --peer-tls-ca F             call the scheduler, signer and auditor over TLS,\n"     \
        "                              verifying them with this CA\n"                           \
        "  --peer-tls-cert F, --peer-tls-key F   presenting this client certificate\n"

struct svc_flags {
        const char *token_file;
        const char *health_listen;
        const char *metrics_listen;  /* --metrics-listen, or NULL */
        const char *log_format, *log_level;  /* for svc_log_setup; NULL: defaults */
        struct rpc_tls tls;        /* serving */
        struct rpc_tls peer_tls;   /* calling */
        bool insecure;             /* --insecure */
        struct rpc_server_limits limits;  /* 0s: lib/rpc's defaults; a main may
                                             preset its own before parsing */
        const char *bad_value;     /* the first limit flag whose value was bad */
};

/* Stores option `c` when it is one of SVC_OPT_*: returns true, else false. */
bool svc_flags_take(struct svc_flags *f, int c, const char *arg);

/* NULL when the combination is usable, else what is wrong (static text). */
const char *svc_flags_problem(const struct svc_flags *f);

/* Whether serving `listen` with these flags leaves callers unauthenticated
 * where that is refused: a TCP address with neither --token-file nor
 * --tls-ca, and no --insecure. 0, or -EPERM with the reason and the way out
 * in buf (for the main to print and exit). `service` names the binary. */
int svc_flags_check_listen(const struct svc_flags *f, const char *service, const char *listen,
                           char *buf, size_t size);

/* rpc_server_options for the main server: the limits, max_message_bytes
 * and authorize left to the caller. */
void svc_flags_server_options(const struct svc_flags *f, struct rpc_server_options *ret);

/* For rpc_server_listen: NULL when serving plaintext. */
const struct rpc_tls *svc_flags_server_tls(const struct svc_flags *f);

/* For rpc_channel_new to peers: NULL when calling them in plaintext. */
const struct rpc_tls *svc_flags_peer_tls(const struct svc_flags *f);

/* "mTLS (client certificates required)", "TLS" or "plaintext". */
const char *svc_flags_describe(const struct svc_flags *f);

/* The words of a service's "listening on ADDR" line: msg "listening on
 * LISTEN" with a ":0" port replaced by the port it got (what tests and
 * ak up wait for), sec "<svc_flags_describe>, bearer tokens" (or "no client
 * authentication"). */
void svc_flags_listening(const struct svc_flags *f, const char *listen, int port, bool auth, char *msg,
                         size_t msg_size, char *sec, size_t sec_size);

/* --health-listen: a server of its own, plaintext, with no service but the
 * health service every rpc_server has (SERVING while the process serves;
 * from the start only when `serving`, e.g. not for a replica that has yet
 * to learn whether it leads). *ret is NULL when f->health_listen is; free
 * with rpc_server_shutdown. */
int svc_health_start(const struct svc_flags *f, bool serving, struct rpc_server **ret, struct ak_error *err);
