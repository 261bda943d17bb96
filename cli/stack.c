/* The local stack's processes: start, record, wait for health, stop. */
#include "cli/stack.h"
#include "cli/stack_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/progress.h"
#include "lib/base/binpath.h"
#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/home.h"
#include "lib/base/pathfmt.h"
#include "lib/base/time.h"
#include "lib/crypto/crypto.h"
#include "lib/encoding/hex.h"
#include "lib/json/json.h"
#include "lib/json/writer.h"
#include "lib/receipt/receipt.h"
#include "protos/ak/v1/scheduler.pb-c.h"

#define STACK_RECORD_MAX 4096

static const char *const names[STACK_ALL] = { "scheduler", "executor", "signer", "auditor", "gateway" };

const char *stack_service_name(enum stack_service s)
{
        return names[s];
}

int stack_paths(struct stack *st, struct ak_error *err)
{
        char home[PATH_MAX];
        int n = ak_home(home);

        memset(st, 0, sizeof(*st));
        if (n == -ENOENT)
                return ak_error_set(err, n, "no home directory: set AK_HOME");
        if (n < 0)
                return ak_error_set(err, n, "AK_HOME is too long");
        n = snprintf(st->home, sizeof(st->home), "%s", home);
        if (n < 0 || (size_t)n >= sizeof(st->home))
                return ak_error_set(err, -ENAMETOOLONG, "AK_HOME is too long");
        /* A copy: gcc's -Wrestrict (at -O1, as under ASan) cannot tell
         * st->home from st->addr[i] inside one struct. */
        char h[sizeof(st->home)];
        memcpy(h, st->home, sizeof(h));
        for (int i = 0; i < STACK_N; i++) {
                n = snprintf(st->addr[i], sizeof(st->addr[i]), "unix:%s/run/%s.sock", h, names[i]);
                /* sun_path holds 107 bytes and a NUL. */
                if (n < 0 || (size_t)n >= sizeof(st->addr[i]) || n - 5 > 107)
                        return ak_error_set(err, -ENAMETOOLONG,
                                            "AK_HOME %s is too long for Unix socket paths (%s.sock "
                                            "would pass 107 bytes); set a shorter AK_HOME",
                                            h, names[i]);
        }
        return 0;
}

static void record_path(const struct stack *st, char *buf, size_t size)
{
        snprintf(buf, size, "%s/run/stack.json", st->home);
}

void stack_token_path(const struct stack *st, char *buf, size_t size)
{
        snprintf(buf, size, "%s/run/token", st->home);
}

/* The executor's own token (the scheduler's --registration-token-file): a
 * client's token never registers an executor. */
static void executor_token_path(const struct stack *st, char *buf, size_t size)
{
        snprintf(buf, size, "%s/run/executor-token", st->home);
}

/* A fresh random token at path (a client's for the scheduler's
 * --token-file, or the executor's). One tenant: "default". */
static int write_token(const char *path, struct ak_error *err)
{
        uint8_t raw[32];
        char hex[2 * sizeof(raw) + 2];
        int r = crypto_random_bytes(raw, sizeof(raw));
        if (r < 0)
                return ak_error_errno(err, r, "random bytes for the stack's token");
        hex_encode(raw, sizeof(raw), hex, sizeof(hex));
        explicit_bzero(raw, sizeof(raw));
        hex[2 * sizeof(raw)] = '\n';
        r = receipt_write_private_file(path, hex, 2 * sizeof(raw) + 1);
        explicit_bzero(hex, sizeof(hex));
        if (r < 0)
                return ak_error_errno(err, r, "write %s", path);
        return 0;
}

int stack_token(const struct stack *st, char *buf, size_t size)
{
        char path[PATH_MAX];
        stack_token_path(st, path, sizeof(path));
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, size);
        if (n < 0)
                return -errno;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                n--;
        if (n == 0 || (size_t)n >= size) {
                explicit_bzero(buf, size);
                return -EBADMSG;
        }
        buf[n] = 0;
        return 0;
}

int stack_load(struct stack *st, struct ak_error *err)
{
        char path[PATH_MAX], text[STACK_RECORD_MAX];
        int r = stack_paths(st, err);
        if (r < 0)
                return r;
        record_path(st, path, sizeof(path));
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return ak_error_errno(err, -errno, "open %s", path);
        ssize_t n = read(fd, text, sizeof(text));
        if (n < 0)
                return ak_error_errno(err, -errno, "read %s", path);
        if ((size_t)n == sizeof(text))
                return ak_error_set(err, -EFBIG, "%s: larger than %d bytes", path, STACK_RECORD_MAX);
        struct json_value *v = NULL;
        struct json_error je;
        if (json_parse(text, (size_t)n, &v, &je) < 0)
                return ak_error_set(err, -EBADMSG, "%s: not JSON; remove it if no stack runs", path);
        const struct json_value *pids = json_object_get(v, "pids");
        for (int i = 0; pids && i < STACK_ALL; i++) {
                const struct json_value *p = json_object_get(pids, names[i]);
                uint64_t pid = 0;
                if (p && json_number_u64(p, &pid) == 0 && pid > 1 && pid < (1u << 22))
                        st->pid[i] = (pid_t)pid;
        }
        const struct json_value *mx = json_object_get(v, "metrics");
        for (int i = 0; mx && i < STACK_ALL; i++) {
                size_t ml = 0;
                const struct json_value *m = json_object_get(mx, names[i]);
                const char *ms = m ? json_string(m, &ml) : NULL;
                if (ms && ml < sizeof(st->metrics[i]) && !memchr(ms, 0, ml))
                        memcpy(st->metrics[i], ms, ml + 1);
        }
        const struct json_value *gw = json_object_get(json_object_get(v, "addresses"), "gateway");
        size_t gl = 0;
        const char *gs = gw ? json_string(gw, &gl) : NULL;
        if (gs && gl < sizeof(st->addr[STACK_GATEWAY]) && !memchr(gs, 0, gl))
                memcpy(st->addr[STACK_GATEWAY], gs, gl + 1);
        json_value_free(v);
        return 0;
}

int stack_write_record(const struct stack *st, struct ak_error *err)
{
        char path[PATH_MAX];
        struct json_writer *w = NULL;
        _cleanup_free_ char *data = NULL;
        size_t len;

        if (json_writer_new(0, STACK_RECORD_MAX, &w) < 0)
                return ak_error_set(err, -ENOMEM, "out of memory");
        json_writer_begin_object(w);
        json_writer_key(w, "home", 4);
        json_writer_string(w, st->home, strlen(st->home));
        json_writer_key(w, "pids", 4);
        json_writer_begin_object(w);
        for (int i = 0; i < STACK_ALL; i++) {
                json_writer_key(w, names[i], strlen(names[i]));
                json_writer_i64(w, st->pid[i]);
        }
        json_writer_end_object(w);
        json_writer_key(w, "addresses", 9);
        json_writer_begin_object(w);
        for (int i = 0; i < STACK_ALL; i++) {
                json_writer_key(w, names[i], strlen(names[i]));
                json_writer_string(w, st->addr[i], strlen(st->addr[i]));
        }
        json_writer_end_object(w);
        json_writer_key(w, "metrics", 7);
        json_writer_begin_object(w);
        for (int i = 0; i < STACK_ALL; i++) {
                if (!st->metrics[i][0])
                        continue;
                json_writer_key(w, names[i], strlen(names[i]));
                json_writer_string(w, st->metrics[i], strlen(st->metrics[i]));
        }
        json_writer_end_object(w);
        json_writer_end_object(w);
        int r = json_writer_finish(w, &data, &len);
        json_writer_free(w);
        if (r < 0)
                return ak_error_errno(err, r, "stack record");
        record_path(st, path, sizeof(path));
        r = receipt_write_private_file(path, data, len);
        if (r < 0)
                return ak_error_errno(err, r, "write %s", path);
        return 0;
}

bool stack_pid_alive(const struct stack *st, enum stack_service s)
{
        char path[64], buf[512], want[32];
        if (st->pid[s] <= 1)
                return false;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)st->pid[s]);
        _cleanup_close_ int sfd = open(path, O_RDONLY | O_CLOEXEC);
        if (sfd < 0)
                return false;
        ssize_t n = read(sfd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return false;
        buf[n] = 0;
        const char *paren = strrchr(buf, ')');
        if (paren && paren[1] == ' ' && paren[2] == 'Z')
                return false;   /* exited, not yet reaped */
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)st->pid[s]);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return false;
        buf[n] = 0;   /* argv[0] */
        snprintf(want, sizeof(want), "ak-%s", names[s]);
        const char *base = strrchr(buf, '/');
        return strcmp(base ? base + 1 : buf, want) == 0;
}

int stack_dir(const struct stack *st, const char *sub, char *out, size_t size, struct ak_error *err)
{
        char part[PATH_MAX];
        int r;
        /* AK_HOME and each level below it: ours and 0700, never one that
         * another user made (they could plant keys or sockets in it). */
        if ((r = ak_private_dir(st->home, err)) < 0)
                return r;
        if ((r = pathfmt(out, size, "%s/%s", st->home, sub)) < 0)
                return ak_error_errno(err, r, "%s/%s", st->home, sub);
        for (const char *s = sub;; s++) {
                if (*s != '/' && *s)
                        continue;
                if ((r = pathfmt(part, sizeof(part), "%s/%.*s", st->home, (int)(s - sub), sub)) < 0)
                        return ak_error_errno(err, r, "%s/%s", st->home, sub);
                if ((r = ak_private_dir(part, err)) < 0)
                        return r;
                if (!*s)
                        break;
        }
        return 0;
}

pid_t stack_spawn(const char *log, char *const argv[], struct ak_error *err)
{
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
                return ak_error_errno(err, -errno, "open %s", log);
        pid_t pid = fork();
        if (pid < 0) {
                close(fd);
                return ak_error_errno(err, -errno, "fork");
        }
        if (pid == 0) {
                setsid();
                int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (in < 0 || dup2(in, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                        _exit(127);
                execv(argv[0], argv);
                dprintf(2, "ak: exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        close(fd);
        return pid;
}

int stack_pick_metrics_addr(char *out, size_t size, struct ak_error *err)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
                return ak_error_errno(err, -errno, "pick a loopback port for a metrics listener");
        snprintf(out, size, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
        return 0;
}

int stack_find_bin(enum stack_service s, char *buf, size_t size, struct ak_error *err)
{
        char rel[64];
        snprintf(rel, sizeof(rel), "services/%s/ak-%s", names[s], names[s]);
        if (binpath_find(rel, NULL, buf, size) < 0)
                return ak_error_set(err, -ENOENT,
                                    "ak-%s not found next to ak: build //services/%s:ak-%s (./ak does)",
                                    names[s], names[s], names[s]);
        return 0;
}

void stack_print_log_tail(const char *log)
{
        char buf[2048];
        _cleanup_close_ int fd = open(log, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        off_t end = lseek(fd, 0, SEEK_END);
        lseek(fd, end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0, SEEK_SET);
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n > 0) {
                buf[n] = 0;
                fprintf(stderr, "--- the end of %s ---\n%s", log, buf);
        }
}

static int executor_registered(struct rpc_channel *ch, const char *token)
{
        Ak__V1__ListExecutorsRequest req = AK__V1__LIST_EXECUTORS_REQUEST__INIT;
        Ak__V1__ListExecutorsResponse *resp = NULL;
        struct rpc_call_options o = { .timeout_ms = 2000, .bearer_token = token };
        struct ak_error e = { 0 };
        if (rpc_unary(ch, &ak__v1__scheduler__descriptor, "ListExecutors", &req.base, &o,
                      (ProtobufCMessage **)&resp, &e) != RPC_OK)
                return 0;
        int n = 0;
        for (size_t i = 0; i < resp->n_executors; i++)
                if (!resp->executors[i]->lost)
                        n++;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return n;
}

static int wait_ready(struct stack *st, const char logs[STACK_N][PATH_MAX], unsigned timeout_s,
                      struct cli_progress *pr, struct ak_error *err)
{
        struct rpc_channel *ch[STACK_N] = { 0 };
        bool up[STACK_N] = { 0 };
        char token[STACK_TOKEN_MAX];
        long long deadline = ak_mono_ms() + (long long)timeout_s * 1000;
        int r = stack_token(st, token, sizeof(token));

        if (r < 0) {
                r = ak_error_errno(err, r, "read %s/run/token", st->home);
                goto out;
        }
        for (int i = 0; i < STACK_N; i++)
                if ((r = rpc_channel_new(st->addr[i], NULL, &ch[i], err)) < 0)
                        goto out;
        /* Said before the first look, so a stack ready at once still gets
         * its start and done lines in a log. */
        if (pr) {
                char line[64];
                snprintf(line, sizeof(line), "0 of %d services healthy", STACK_N);
                cli_progress_report(pr, "stack", line);
        }
        for (;;) {
                int n_up = 0;
                for (int i = 0; i < STACK_N; i++) {
                        struct ak_error e = { 0 };
                        if (!up[i] && rpc_health_check(ch[i], "", 1000, &e) == RPC_OK)
                                up[i] = true;
                        n_up += up[i];
                        /* Our children: exited is a reaped pid (cmdline still says
                         * ak until they exec, so stack_pid_alive cannot tell yet). */
                        if (!up[i] && waitpid(st->pid[i], NULL, WNOHANG) == st->pid[i]) {
                                st->pid[i] = 0;
                                stack_print_log_tail(logs[i]);
                                r = ak_error_set(err, -ECHILD, "ak-%s exited while starting; its log: %s",
                                                 names[i], logs[i]);
                                goto out;
                        }
                }
                bool registered = n_up == STACK_N && executor_registered(ch[STACK_SCHEDULER], token) > 0;
                if (registered)
                        break;
                if (pr) {
                        char line[96];
                        snprintf(line, sizeof(line), "%d of %d services healthy%s", n_up, STACK_N,
                                 n_up == STACK_N ? "; waiting for the executor to register" : "");
                        cli_progress_report(pr, "stack", line);
                }
                if (ak_mono_ms() > deadline) {
                        for (int i = 0; i < STACK_N; i++)
                                if (!up[i])
                                        stack_print_log_tail(logs[i]);
                        r = ak_error_set(err, -ETIMEDOUT,
                                         "the stack was not ready after %u s (%d of %d services healthy%s); "
                                         "logs in %s/logs",
                                         timeout_s, n_up, STACK_N,
                                         n_up == STACK_N ? ", executor not registered" : "", st->home);
                        goto out;
                }
                usleep(100 * 1000);
        }
out:
        explicit_bzero(token, sizeof(token));
        for (int i = 0; i < STACK_N; i++)
                rpc_channel_free(ch[i]);
        return r;
}

/* What the four services are started with: paths, flags, argv. */
struct launch {
        char bin[STACK_N][PATH_MAX], logs[STACK_N][PATH_MAX];
        char key[PATH_MAX], config[PATH_MAX], spool[PATH_MAX], state[PATH_MAX], images[PATH_MAX];
        char token[PATH_MAX], exec_token[PATH_MAX], warm[16], vcpus[24];
        char *argv[STACK_N][40];
};

/* The auditor's destination: agentkernel's audit.jsonl, as `ak audit` reads it. */
static int write_audit_config(const struct stack *st, const char *config, struct ak_error *err)
{
        struct json_writer *w = NULL;
        _cleanup_free_ char *data = NULL;
        char path[PATH_MAX];
        size_t len;
        snprintf(path, sizeof(path), "%s/audit.jsonl", st->home);
        if (json_writer_new(0, 8192, &w) < 0)
                return ak_error_set(err, -ENOMEM, "out of memory");
        json_writer_begin_object(w);
        json_writer_key(w, "destination", 11);
        json_writer_begin_object(w);
        json_writer_key(w, "type", 4);
        json_writer_string(w, "file", 4);
        json_writer_key(w, "path", 4);
        json_writer_string(w, path, strlen(path));
        json_writer_end_object(w);
        json_writer_end_object(w);
        int r = json_writer_finish(w, &data, &len);
        json_writer_free(w);
        if (r < 0 || (r = receipt_write_private_file(config, data, len)) < 0)
                return ak_error_errno(err, r, "write %s", config);
        return 0;
}

/* Directories, paths and every service's argv (with st->metrics as they
 * are: pick them first). */
static int launch_prepare(struct stack *st, const struct stack_up_options *o, struct launch *L, struct ak_error *err)
{
        char dir[PATH_MAX];
        int r;
        for (int i = 0; i < STACK_N; i++)
                if ((r = stack_find_bin((enum stack_service)i, L->bin[i], sizeof(L->bin[i]), err)) < 0)
                        return r;
        if ((r = stack_dir(st, "run", dir, sizeof(dir), err)) < 0 ||
            (r = stack_dir(st, "logs", dir, sizeof(dir), err)) < 0 ||
            (r = stack_dir(st, "receipts", dir, sizeof(dir), err)) < 0 ||
            (r = stack_dir(st, "auditor/spool", L->spool, sizeof(L->spool), err)) < 0 ||
            (r = stack_dir(st, "executor", L->state, sizeof(L->state), err)) < 0 ||
            (r = stack_dir(st, "images", L->images, sizeof(L->images), err)) < 0)
                return r;
        if (strlen(L->state) > 60)
                return ak_error_set(err, -ENAMETOOLONG,
                                    "%s: the executor's state directory must be at most 60 bytes "
                                    "(VM socket paths); set a shorter AK_HOME", L->state);
        for (int i = 0; i < STACK_N; i++)
                snprintf(L->logs[i], sizeof(L->logs[i]), "%s/logs/%s.log", st->home, names[i]);
        snprintf(L->key, sizeof(L->key), "%s/receipts/ed25519_signing_key.pkcs8", st->home);
        snprintf(L->config, sizeof(L->config), "%s/auditor/config.json", st->home);
        stack_token_path(st, L->token, sizeof(L->token));
        executor_token_path(st, L->exec_token, sizeof(L->exec_token));
        snprintf(L->warm, sizeof(L->warm), "%u", o->min_warm);
        /* A sandbox's vCPU is a thread of its VMM; a laptop running agents
         * overcommits them (4 per CPU), memory stays the executor's 3/4 of RAM. */
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        snprintf(L->vcpus, sizeof(L->vcpus), "%ld", 4 * (ncpu > 0 ? ncpu : 1));
        char *sig[] = { L->bin[STACK_SIGNER], "--key", L->key, "--listen", st->addr[STACK_SIGNER],
                        "--metrics-listen", st->metrics[STACK_SIGNER], NULL };
        char *aud[] = { L->bin[STACK_AUDITOR], "--listen", st->addr[STACK_AUDITOR], "--config", L->config,
                        "--spool", L->spool, "--metrics-listen", st->metrics[STACK_AUDITOR], NULL };
        char *sch[] = { L->bin[STACK_SCHEDULER], "--listen", st->addr[STACK_SCHEDULER], "--token-file", L->token,
                        "--registration-token-file", L->exec_token, "--metrics-listen",
                        st->metrics[STACK_SCHEDULER], NULL };
        /* --vm-supervisors: the VMs outlive the executor, so one restarted
         * in place (`ak up` again) takes its sandboxes back; `ak down`
         * stops them (stack_stop_vms). */
        char *exe[] = { L->bin[STACK_EXECUTOR], "--listen", st->addr[STACK_EXECUTOR], "--state-dir", L->state,
                        "--scheduler-token-file", L->exec_token,
                        "--images", L->images, "--scheduler", st->addr[STACK_SCHEDULER], "--signer",
                        st->addr[STACK_SIGNER], "--auditor", st->addr[STACK_AUDITOR], "--executor-id",
                        "local", "--min-warm", L->warm, "--max-warm", o->min_warm > 2 ? L->warm : "2",
                        "--capacity-vcpus", L->vcpus, "--metrics-listen", st->metrics[STACK_EXECUTOR],
                        "--vm-supervisors", NULL };
        _Static_assert(sizeof(exe) <= sizeof(L->argv[0]), "argv room");
        memcpy(L->argv[STACK_SIGNER], sig, sizeof(sig));
        memcpy(L->argv[STACK_AUDITOR], aud, sizeof(aud));
        memcpy(L->argv[STACK_SCHEDULER], sch, sizeof(sch));
        memcpy(L->argv[STACK_EXECUTOR], exe, sizeof(exe));
        return write_audit_config(st, L->config, err);
}

static const enum stack_service start_order[STACK_N] = { STACK_SIGNER, STACK_AUDITOR, STACK_SCHEDULER,
                                                         STACK_EXECUTOR };

/* Starts the services marked in start[] (in start_order, after removing
 * their stale sockets), records the stack and waits until all of it
 * answers. Services already running are not touched. */
static int launch_wait(struct stack *st, const struct stack_up_options *o, struct launch *L,
                       const bool start[STACK_N], struct ak_error *err)
{
        int r;
        for (int i = 0; i < STACK_N; i++)
                if (start[i])
                        unlink(st->addr[i] + 5);
        for (int k = 0; k < STACK_N; k++) {
                enum stack_service s = start_order[k];
                if (!start[s])
                        continue;
                pid_t pid = stack_spawn(L->logs[s], L->argv[s], err);
                if (pid < 0)
                        return pid;
                st->pid[s] = pid;
        }
        if ((r = stack_write_record(st, err)) < 0)
                return r;
        struct cli_progress pr;
        cli_progress_init(&pr);
        r = wait_ready(st, (const char(*)[PATH_MAX])L->logs, o->timeout_s ? o->timeout_s : 120,
                       o->progress ? &pr : NULL, err);
        if (o->progress)
                cli_progress_done(&pr);
        return r;
}

/* `ak up` on a stack of which some services run: starts the others as they
 * were (same tokens, sockets, state), waits for all. Nothing running is
 * touched, also not on failure. */
static int restart_missing(struct stack *st, struct stack_up_options *o, struct ak_error *err)
{
        _cleanup_free_ struct launch *L = calloc(1, sizeof(*L));
        bool dead[STACK_N] = { 0 };
        int r;
        if (!L)
                return ak_error_set(err, -ENOMEM, "out of memory");
        for (int i = 0; i < STACK_N; i++)
                if ((dead[i] = !stack_pid_alive(st, (enum stack_service)i)) &&
                    (r = stack_pick_metrics_addr(st->metrics[i], sizeof(st->metrics[i]), err)) < 0)
                        return r;
        if ((r = launch_prepare(st, o, L, err)) < 0)
                return r;
        if ((r = launch_wait(st, o, L, dead, err)) < 0)
                return ak_error_wrap(err, "restarting the stopped services of the stack in %s", st->home);
        if (o->gateway_listen && st->addr[STACK_GATEWAY][0] && !stack_pid_alive(st, STACK_GATEWAY))
                stack_start_gateway(st, o);
        return 0;
}

int stack_up(struct stack *st, struct stack_up_options *o, struct ak_error *err)
{
        int r = stack_load(st, err);
        if (r == 0) {
                int alive = 0, first = -1;
                for (int i = 0; i < STACK_N; i++)
                        if (stack_pid_alive(st, (enum stack_service)i)) {
                                alive++;
                                first = first < 0 ? i : first;
                        }
                if (alive == STACK_N)
                        return ak_error_set(err, -EEXIST,
                                            "a stack is already running in %s (ak-%s, pid %d); "
                                            "`ak down` stops it",
                                            st->home, names[first], (int)st->pid[first]);
                if (alive)
                        return restart_missing(st, o, err);
        } else if (r != -ENOENT) {
                return r;
        }
        if ((r = stack_paths(st, err)) < 0)
                return r;
        _cleanup_free_ struct launch *L = calloc(1, sizeof(*L));
        if (!L)
                return ak_error_set(err, -ENOMEM, "out of memory");
        for (int i = 0; i < STACK_N; i++)
                if ((r = stack_pick_metrics_addr(st->metrics[i], sizeof(st->metrics[i]), err)) < 0)
                        return r;
        if ((r = launch_prepare(st, o, L, err)) < 0)
                return r;
        if ((r = write_token(L->token, err)) < 0 || (r = write_token(L->exec_token, err)) < 0)
                return r;
        bool all[STACK_N];
        for (int i = 0; i < STACK_N; i++)
                all[i] = true;
        if ((r = launch_wait(st, o, L, all, err)) < 0)
                goto fail;
        if (o->gateway_listen)
                stack_start_gateway(st, o);
        return 0;
fail:;
        struct ak_error ignored = { 0 };
        stack_down(st, &ignored);
        return r;
}

static bool wait_gone(struct stack *st, enum stack_service s, long long ms)
{
        long long end = ak_mono_ms() + ms;
        while (stack_pid_alive(st, s)) {
                if (ak_mono_ms() > end)
                        return false;
                usleep(50 * 1000);
        }
        return true;
}

int stack_down(struct stack *st, struct ak_error *err)
{
        static const enum stack_service order[STACK_ALL] = { STACK_GATEWAY, STACK_EXECUTOR, STACK_SCHEDULER,
                                                             STACK_AUDITOR, STACK_SIGNER };
        char path[PATH_MAX];
        int stopped = 0;

        for (int k = 0; k < STACK_ALL; k++) {
                enum stack_service s = order[k];
                if (!stack_pid_alive(st, s))
                        continue;
                kill(st->pid[s], SIGTERM);
                if (!wait_gone(st, s, 15000)) {
                        kill(st->pid[s], SIGKILL);
                        wait_gone(st, s, 5000);
                }
                stopped++;
        }
        /* The executor's VMs outlive it (--vm-supervisors): down means
         * them too, once it is gone. */
        if (!stack_pid_alive(st, STACK_EXECUTOR))
                stack_stop_vms(st);
        /* Reap our own children (when the caller started them). */
        for (int i = 0; i < STACK_ALL; i++)
                if (st->pid[i] > 1)
                        waitpid(st->pid[i], NULL, WNOHANG);
        record_path(st, path, sizeof(path));
        if (unlink(path) < 0 && errno != ENOENT)
                return ak_error_errno(err, -errno, "remove %s", path);
        for (int i = 0; i < STACK_N; i++)
                unlink(st->addr[i] + 5);
        return stopped;
}
