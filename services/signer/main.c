/* ak-signer: the only holder of the receipt signing key. Flags, wiring,
 * signals; the work is in keystore.c and server.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/version.h"
#include "lib/rpc/rpc.h"
#include "lib/svc/auth.h"
#include "lib/svc/flags.h"
#include "lib/svc/log.h"
#include "lib/svc/metrics.h"
#include "lib/svc/run.h"
#include "services/signer/keystore.h"
#include "services/signer/signer.h"

static const char usage[] =
        "Usage: ak-signer --key FILE [--listen ADDR] [--rotate] [--admin-token-file FILE]\n"
        "                 [--token-file F] [--tls-cert PEM --tls-key PEM [--tls-ca PEM]]\n"
        "                 [--insecure]\n"
        "\n"
        "Holds the Ed25519 key that signs execution receipts and serves ak.v1.Signer\n"
        "(and grpc.health.v1.Health) over gRPC. Private key bytes never leave it.\n"
        "\n"
        "  --key FILE              the active signing key, PKCS#8 (agentkernel's\n"
        "                          ed25519_signing_key.pkcs8 works as is). Created,\n"
        "                          0600, when missing. Must not be accessible by group\n"
        "                          or others. FILE.d/ (0700) lists every key held.\n"
        "  --listen ADDR           host:port (port 0 picks one) or unix:/path\n"
        "  --rotate                make a new active key first; old keys stay listed\n"
        "                          for verification (retired private keys are erased).\n"
        "                          Without --listen: rotate and exit. Refused while\n"
        "                          another ak-signer uses FILE: use its RotateKey RPC.\n"
        "  --admin-token-file F    allows the RotateKey RPC to callers that send\n"
        "                          \"authorization: Bearer <the token in F>\"; F must be\n"
        "                          0600. Without it RotateKey is refused.\n"
        SVC_SERVER_USAGE
        "                              (RotateKey answers to the admin token alone;\n"
        "                              --admin-token-file does not count as\n"
        "                              authentication for --insecure)\n"
        "\n"
        "Prints \"ak-signer: listening on ADDR\" on stdout once serving; logs to\n"
        "stderr. SIGINT/SIGTERM: finish calls in flight (5 s at most), then exit.\n"
        "SIGHUP: read --token-file again.\n"
        "\n"
        "Examples:\n"
        "  ak-signer --key /var/lib/ak-signer/key.pkcs8 --listen 0.0.0.0:7443 \\\n"
        "      --tls-cert s.pem --tls-key s.key --tls-ca ca.pem --admin-token-file admin.token\n"
        "  ak-signer --key /var/lib/ak-signer/key.pkcs8 --rotate\n";

struct flags {
        const char *key;
        const char *listen;
        const char *admin_token_file;
        bool rotate;
        struct svc_flags sf;
};

static int parse_flags(int argc, char **argv, struct flags *f)
{
        enum { KEY = 256, LISTEN, ROTATE, TOKEN, HELP, VERSION };
        static const struct option opts[] = {
                { "key", required_argument, NULL, KEY },
                { "listen", required_argument, NULL, LISTEN },
                { "rotate", no_argument, NULL, ROTATE },
                { "admin-token-file", required_argument, NULL, TOKEN },
                SVC_SERVER_OPTIONS,
                { "help", no_argument, NULL, HELP },
                { "version", no_argument, NULL, VERSION },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (svc_flags_take(&f->sf, c, optarg))
                        continue;
                switch (c) {
                case KEY: f->key = optarg; break;
                case LISTEN: f->listen = optarg; break;
                case ROTATE: f->rotate = true; break;
                case TOKEN: f->admin_token_file = optarg; break;
                case HELP: fputs(usage, stdout); exit(0);
                case VERSION: printf("ak-signer %s\n", AK_VERSION); exit(0);
                default: return -1;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "ak-signer: unexpected argument '%s'\n", argv[optind]);
                return -1;
        }
        if (!f->key) {
                fprintf(stderr, "ak-signer: --key FILE is required\n");
                return -1;
        }
        if (!f->listen && !f->rotate) {
                fprintf(stderr, "ak-signer: nothing to do: give --listen ADDR, --rotate, or both\n");
                return -1;
        }
        const char *problem = svc_flags_problem(&f->sf);
        if (problem) {
                fprintf(stderr, "ak-signer: %s\n", problem);
                return -1;
        }
        char why[512];
        if (f->listen && svc_flags_check_listen(&f->sf, "ak-signer", f->listen, why, sizeof(why)) < 0) {
                fprintf(stderr, "ak-signer: %s\n", why);
                return -1;
        }
        return 0;
}

/* The admin token: the file's text without one trailing newline, printable
 * ASCII (it travels in an HTTP/2 header), readable by its owner only. */
static int read_token(const char *path, char **ret, struct ak_error *err)
{
        char buf[SIGNER_MAX_TOKEN + 2];
        size_t len = 0;
        struct stat st;
        int fd, r = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return ak_error_errno(err, -errno, "open admin token file %s", path);
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                r = ak_error_set(err, -EINVAL, "admin token file %s is not a regular file", path);
        else if (st.st_mode & 077)
                r = ak_error_set(err, -EPERM,
                                 "admin token file %s is accessible by group or others (mode %04o); run: chmod 600 %s",
                                 path, (unsigned)(st.st_mode & 07777), path);
        while (r == 0 && len < sizeof(buf) - 1) {
                ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        r = ak_error_errno(err, -errno, "read %s", path);
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        if (r == 0 && len > 0 && buf[len - 1] == '\n')
                len--;
        if (r == 0 && len > 0 && buf[len - 1] == '\r')
                len--;
        buf[len] = '\0';
        for (size_t i = 0; r == 0 && i < len; i++)
                if (buf[i] < 0x21 || buf[i] > 0x7e)
                        r = ak_error_set(err, -EINVAL,
                                         "the admin token in %s must be printable ASCII without spaces", path);
        if (r == 0 && (len == 0 || len > SIGNER_MAX_TOKEN))
                r = ak_error_set(err, -EINVAL, "the admin token in %s must be 1 to %d bytes", path,
                                 SIGNER_MAX_TOKEN);
        if (r == 0 && !(*ret = strdup(buf)))
                r = ak_error_set(err, -ENOMEM, "admin token file %s: out of memory", path);
        explicit_bzero(buf, sizeof(buf));
        return r;
}

/* --token-file guards every call but RotateKey, which the admin token
 * guards (both travel as "authorization: Bearer"). */
static int authorize(struct rpc_call *call, void *data)
{
        if (strcmp(rpc_call_method(call), "/ak.v1.Signer/RotateKey") == 0)
                return RPC_OK;
        return svc_auth_authorize(call, data);
}

/* What serve builds: on_stop drains the servers, serve frees the rest. */
struct signer_main {
        struct rpc_server *srv, *health;
        struct metrics_http *metrics;
};

static void on_stop(void *data, int sig)
{
        struct signer_main *m = data;

        SVC_LOG(SVC_LOG_INFO, "finishing calls in flight, then exiting", SVC_LOG_S("signal", strsignal(sig)));
        rpc_server_shutdown(m->health, 0);
        rpc_server_shutdown(m->srv, 5000);
        m->health = m->srv = NULL;
}

static void log_serving(const struct flags *f, struct keystore *ks, bool auth, const char *token, int port)
{
        struct keystore_key *k = keystore_active(ks);

        char sec[256];
        const char *security = sec;
        snprintf(sec, sizeof(sec), "%s, %s", svc_flags_describe(&f->sf),
                 auth ? "bearer tokens" : "no client authentication");
        SVC_LOG(SVC_LOG_INFO, "signing", SVC_LOG_S("key_id", keystore_key_id(k)),
                SVC_LOG_S("key_file", keystore_path(ks)), SVC_LOG_S("security", security),
                SVC_LOG_S("rotate_key", token ? "allowed with the admin token" : "refused (no admin token)"));
        keystore_key_unref(k);
        if (port > 0) {
                const char *colon = strrchr(f->listen, ':');
                printf("ak-signer: listening on %.*s:%d\n", (int)(colon - f->listen), f->listen, port);
        } else {
                printf("ak-signer: listening on %s\n", f->listen);
        }
        fflush(stdout);
}

static int serve(const struct flags *f, struct keystore *ks, const char *token)
{
        struct signer_options so = { .admin_token = token, .log = true };
        struct signer_main m = { 0 };
        struct svc_auth *auth = NULL;
        struct signer *signer = NULL;
        struct ak_error err = { 0 };
        int port = 0;

        /* Before gRPC starts a thread: every thread inherits the mask. */
        if (svc_signals_block(SVC_STARTING_HOLD_STOP) < 0) {
                svc_log(SVC_LOG_ERROR, "cannot block SIGINT, SIGTERM and SIGHUP", NULL, 0);
                return 1;
        }
        if (f->sf.token_file && svc_auth_load(f->sf.token_file, "signer", &auth, &err) < 0) {
                svc_log(SVC_LOG_ERROR, err.msg, NULL, 0);
                return 1;
        }
        struct rpc_server_options ro;
        svc_flags_server_options(&f->sf, &ro);
        ro.authorize = authorize;
        ro.authorize_data = auth;
        if (signer_new(ks, &so, &signer, &err) < 0 || rpc_server_new(&ro, &m.srv, &err) < 0 ||
            rpc_server_listen(m.srv, f->listen, svc_flags_server_tls(&f->sf), &port, &err) < 0 ||
            signer_add_to_server(signer, m.srv, &err) < 0 || rpc_server_start(m.srv, &err) < 0 ||
            svc_health_start(&f->sf, true, &m.health, &err) < 0 ||
            svc_metrics_start(f->sf.metrics_listen, "ak-signer", &m.metrics, &err) < 0) {
                svc_log(SVC_LOG_ERROR, err.msg, NULL, 0);
                rpc_server_shutdown(m.health, 0);
                rpc_server_shutdown(m.srv, 0);
                signer_free(signer);
                svc_auth_free(auth);
                return 1;
        }
        log_serving(f, ks, auth != NULL, token, port);

        struct svc_loop loop = { .data = &m, .name = "ak-signer", .reload_data = auth, .stop = on_stop };
        int rc = svc_run(&loop) < 0 ? 1 : 0;
        rpc_server_shutdown(m.health, 0);
        rpc_server_shutdown(m.srv, 5000);
        metrics_http_stop(m.metrics);
        signer_free(signer);
        svc_auth_free(auth);
        return rc;
}

int main(int argc, char **argv)
{
        struct flags f = { 0 };
        struct keystore *ks = NULL;
        struct ak_error err = { 0 };
        char *token = NULL;
        int rc = 0;

        if (parse_flags(argc, argv, &f) < 0) {
                fprintf(stderr, "Run `ak-signer --help` for usage.\n");
                return 2;
        }
        /* Checked by svc_flags_problem: cannot fail here. */
        svc_log_setup("ak-signer", f.sf.log_format, f.sf.log_level, NULL);
        if (f.admin_token_file && read_token(f.admin_token_file, &token, &err) < 0) {
                svc_log(SVC_LOG_ERROR, err.msg, NULL, 0);
                return 1;
        }
        if (keystore_open(f.key, &ks, &err) < 0) {
                svc_log(SVC_LOG_ERROR, err.msg, NULL, 0);
                rc = 1;
                goto out;
        }
        if (f.rotate) {
                struct keystore_key *old = keystore_active(ks);
                struct keystore_public_key rec;
                char old_id[17];

                memcpy(old_id, keystore_key_id(old), sizeof(old_id));
                keystore_key_unref(old);
                if (keystore_rotate(ks, &rec, &err) < 0) {
                        SVC_LOG(SVC_LOG_ERROR, "rotate failed", SVC_LOG_S("key_file", f.key), SVC_LOG_S("error", err.msg));
                        rc = 1;
                        goto out;
                }
                char msg[PATH_MAX + 128];
                snprintf(msg, sizeof(msg), "rotated %s: key %s is active; %s is retired and stays listed", f.key,
                         rec.key_id, old_id);
                svc_log(SVC_LOG_INFO, msg, NULL, 0);
        }
        if (f.listen)
                rc = serve(&f, ks, token);
out:
        keystore_free(ks);
        if (token)
                explicit_bzero(token, strlen(token));
        free(token);
        return rc;
}
