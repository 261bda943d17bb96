#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/copy_in.h"
#include "cli/progress.h"
#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "protos/ak/v1/scheduler.pb-c.h"

extern char **environ;

/* One WriteFile each: below a guest frame (10 MiB of JSON, base64 inside). */
#define PIECE_BYTES (6u << 20)
#define STAGING "/tmp/.ak-copy-in"

static int unary(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *method,
                 const ProtobufCMessage *req, struct ak_error *err)
{
        ProtobufCMessage *resp = NULL;
        if (rpc_unary(ch, &ak__v1__scheduler__descriptor, method, req, opts, &resp, err) != RPC_OK)
                return -EIO;
        protobuf_c_message_free_unpacked(resp, NULL);
        return 0;
}

/* Runs argv in the sandbox, output discarded; its stderr tail in err on
 * failure. */
static int guest_sh(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                    const char *script, const char *arg, struct ak_error *err)
{
        const char *argv[] = { "/bin/sh", "-c", script, "sh", arg };
        Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
        req.sandbox = (char *)sandbox;
        req.argv = (char **)argv;
        req.n_argv = AK_ARRAY_SIZE(argv);
        req.sudo = true; /* /workspace is made by root, as `ak run` runs as root */
        struct rpc_stream *s = NULL;
        if (rpc_stream_open(ch, &ak__v1__scheduler__descriptor, "Exec", &req.base, opts, &s, err) != RPC_OK)
                return -EIO;
        char tail[512] = "";
        int code = -1, r;
        ProtobufCMessage *m;
        while ((r = rpc_stream_next(s, &m, err)) > 0) {
                Ak__V1__OutputChunk *c = (Ak__V1__OutputChunk *)m;
                if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDERR)
                        snprintf(tail, sizeof(tail), "%.*s", (int)c->stderr.len, (const char *)c->stderr.data);
                else if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_RESULT)
                        code = c->result->exit_code;
                protobuf_c_message_free_unpacked(m, NULL);
        }
        rpc_stream_free(s);
        if (r < 0)
                return -EIO;
        if (code != 0)
                return ak_error_set(err, -EIO, "exit %d%s%s", code, tail[0] ? ": " : "", tail);
        return 0;
}

int copy_in_spawn_tar(const char *dir, pid_t *ret_pid, int *ret_fd, struct ak_error *err)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return ak_error_errno(err, -errno, "pipe");
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        const char *argv[] = { "tar", "-C", dir, "-cf", "-", ".", NULL };
        int r = posix_spawnp(ret_pid, "tar", &fa, NULL, (char **)argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        if (r != 0) {
                close(p[0]);
                return ak_error_set(err, -r, "tar: %s (install tar)", strerror(r));
        }
        *ret_fd = p[0];
        return 0;
}

/* Sends tar's output as STAGING/NNNNN pieces; ret_total: bytes sent. */
static int send_pieces(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                       const char *dir, int fd, unsigned long long *ret_total, struct ak_error *err)
{
        _cleanup_free_ uint8_t *buf = malloc(PIECE_BYTES);
        if (!buf)
                return ak_error_set(err, -ENOMEM, "out of memory");
        struct cli_progress pr;
        cli_progress_init(&pr);
        unsigned long long total = 0;
        int r = 0;
        for (unsigned i = 0;; i++) {
                ssize_t n = ak_read_full(fd, buf, PIECE_BYTES);
                if (n < 0) {
                        r = ak_error_errno(err, (int)n, "reading tar's output");
                        break;
                }
                if (n == 0)
                        break;
                total += (unsigned long long)n;
                if (total > COPY_IN_MAX_BYTES) {
                        r = ak_error_set(err, -EFBIG,
                                         "%s packs to more than %llu MiB, the copy-in limit: run from a smaller "
                                         "directory, or use --profile moderate and `ak sandbox cp`",
                                         dir, COPY_IN_MAX_BYTES >> 20);
                        break;
                }
                char path[64], detail[128];
                snprintf(path, sizeof(path), STAGING "/%05u", i);
                Ak__V1__WriteFileRequest req = AK__V1__WRITE_FILE_REQUEST__INIT;
                req.sandbox = (char *)sandbox;
                req.path = path;
                req.content.data = buf;
                req.content.len = (size_t)n;
                req.mode = 0600;
                if ((r = unary(ch, opts, "WriteFile", &req.base, err)) < 0)
                        break;
                snprintf(detail, sizeof(detail), "copying %s into the sandbox: %llu MiB", dir, total >> 20);
                cli_progress_report(&pr, "run", detail);
        }
        cli_progress_done(&pr);
        *ret_total = total;
        return r;
}

int copy_in_dir(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                const char *dir, const char *guest_dir, struct ak_error *err)
{
        pid_t pid;
        int fd = -1, r;
        if ((r = copy_in_spawn_tar(dir, &pid, &fd, err)) < 0)
                return r;
        unsigned long long total = 0;
        r = send_pieces(ch, opts, sandbox, dir, fd, &total, err);
        if (r < 0)
                kill(pid, SIGTERM);
        close(fd);
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        /* tar exits 1 when a file changed while it was read: still a copy. */
        if (r == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) <= 1))
                r = ak_error_set(err, -EIO, "tar -C %s -c failed (exit %d): is the directory readable?", dir,
                                 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        if (r == 0 && total > 0) {
                struct ak_error e2 = { 0 };
                r = guest_sh(ch, opts, sandbox,
                             "mkdir -p \"$1\" && cat " STAGING "/* | tar -x -C \"$1\"; s=$?; rm -rf " STAGING
                             "; exit $s",
                             guest_dir, &e2);
                if (r < 0)
                        ak_error_set(err, r, "unpacking into %s in the sandbox: %s", guest_dir, e2.msg);
        } else if (r < 0 && total > 0) {
                struct ak_error ignored = { 0 };
                guest_sh(ch, opts, sandbox, "rm -rf \"$1\"", STAGING, &ignored);
        }
        if (r < 0 && err->msg[0] == 0)
                ak_error_set(err, r, "copying %s into the sandbox failed", dir);
        return r;
}

bool copy_in_env_passes(const char *entry)
{
        static const char *const client_only[] = { "PATH", "HOME", "PWD", "OLDPWD", "SHELL", "SHLVL",
                                                   "USER", "LOGNAME", "_" };
        const char *eq = strchr(entry, '=');
        if (!eq || eq == entry)
                return false;
        size_t n = (size_t)(eq - entry);
        for (size_t i = 0; i < AK_ARRAY_SIZE(client_only); i++)
                if (strlen(client_only[i]) == n && memcmp(entry, client_only[i], n) == 0)
                        return false;
        return !(n >= 3 && memcmp(entry, "LD_", 3) == 0) && !(n >= 3 && memcmp(entry, "AK_", 3) == 0);
}
