#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/copy_in.h"
#include "cli/progress.h"
#include "cli/sandbox_cp.h"
#include "cli/sandbox_cp_local.h"
#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "lib/crypto/crypto.h"
#include "protos/ak/v1/scheduler.pb-c.h"

#define ATTEMPTS 3
#define HEAD_MAX 8192

/* Where an Exec's stdout goes: 0 to go on, negative errno to stop. */
typedef int (*out_sink)(void *ud, const uint8_t *p, size_t n);

struct buf_sink {
        char data[HEAD_MAX];
        size_t len;
};

static int to_buf(void *ud, const uint8_t *p, size_t n)
{
        struct buf_sink *b = ud;
        if (n > sizeof(b->data) - 1 - b->len)
                return -EFBIG;
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = 0;
        return 0;
}

/* Runs `sh -c script sh ARGS...` as root in the sandbox; stdout to sink.
 * The command's failure: its exit code and stderr tail in err. */
static int guest_exec(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                      const char *script, const char *const *args, size_t nargs, out_sink sink, void *ud,
                      struct ak_error *err)
{
        const char *argv[12] = { "/bin/sh", "-c", script, "sh" };
        if (nargs > AK_ARRAY_SIZE(argv) - 4)
                return ak_error_set(err, -E2BIG, "internal: too many arguments");
        for (size_t i = 0; i < nargs; i++)
                argv[4 + i] = args[i];
        Ak__V1__ExecRequest req = AK__V1__EXEC_REQUEST__INIT;
        req.sandbox = (char *)sandbox;
        req.argv = (char **)argv;
        req.n_argv = 4 + nargs;
        req.sudo = true;
        req.max_output_bytes = SANDBOX_CP_PIECE + HEAD_MAX;
        struct rpc_stream *s = NULL;
        if (rpc_stream_open(ch, &ak__v1__scheduler__descriptor, "Exec", &req.base, opts, &s, err) != RPC_OK)
                return -EIO;
        char tail[512] = "";
        int code = -1, r, sr = 0;
        ProtobufCMessage *m;
        while ((r = rpc_stream_next(s, &m, err)) > 0) {
                Ak__V1__OutputChunk *c = (Ak__V1__OutputChunk *)m;
                if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDOUT && sr == 0)
                        sr = sink(ud, c->stdout.data, c->stdout.len);
                else if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_STDERR)
                        snprintf(tail, sizeof(tail), "%.*s", (int)c->stderr.len, (const char *)c->stderr.data);
                else if (c->kind_case == AK__V1__OUTPUT_CHUNK__KIND_RESULT)
                        code = c->result->exit_code;
                protobuf_c_message_free_unpacked(m, NULL);
        }
        rpc_stream_free(s);
        if (r < 0)
                return -EIO;
        if (sr < 0)
                return ak_error_set(err, sr, "the sandbox sent more output than expected");
        size_t tl = strlen(tail);
        while (tl > 0 && (tail[tl - 1] == '\n' || tail[tl - 1] == '\r'))
                tail[--tl] = 0;
        if (code != 0)
                return ak_error_set(err, -EIO, "%s%s(exit %d)", tail, tail[0] ? " " : "", code);
        return 0;
}

static void hex(const uint8_t d[CRYPTO_SHA256_LEN], char out[65])
{
        for (int i = 0; i < CRYPTO_SHA256_LEN; i++)
                snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Finishes and frees h; out: the digest in hex. */
static void hash_done(struct crypto_sha256 *h, char out[65])
{
        uint8_t d[CRYPTO_SHA256_LEN];
        crypto_sha256_final(h, d);
        crypto_sha256_free(h);
        hex(d, out);
}

static void backoff(int attempt)
{
        struct timespec ts = { 0, 200000000L * attempt };
        nanosleep(&ts, NULL);
}

/* SIGINT/SIGTERM during a copy: the copy stops between pieces and removes
 * its staging in the guest (and its temp file here) before it returns. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
        interrupted = sig;
}

struct interrupt_saved {
        struct sigaction intr, term;
};

static void interrupt_catch(struct interrupt_saved *s)
{
        struct sigaction sa = { .sa_handler = on_interrupt };
        sigemptyset(&sa.sa_mask);
        interrupted = 0;
        sigaction(SIGINT, &sa, &s->intr);
        sigaction(SIGTERM, &sa, &s->term);
}

/* Puts the caller's handlers back; r, or -EINTR said in err when a signal
 * came (the caller decides whether to re-raise it). */
static int interrupt_release(const struct interrupt_saved *s, int r, struct ak_error *err)
{
        sigaction(SIGINT, &s->intr, NULL);
        sigaction(SIGTERM, &s->term, NULL);
        if (!interrupted)
                return r;
        return ak_error_set(err, -EINTR, "interrupted by %s; the partial copy was removed",
                            interrupted == SIGINT ? "SIGINT" : "SIGTERM");
}

static int write_piece(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                       const char *path, const uint8_t *data, size_t n, struct ak_error *err)
{
        Ak__V1__WriteFileRequest req = AK__V1__WRITE_FILE_REQUEST__INIT;
        req.sandbox = (char *)sandbox;
        req.path = (char *)path;
        req.content.data = (uint8_t *)data;
        req.content.len = n;
        req.mode = 0600;
        int r = -EIO;
        for (int a = 1; a <= ATTEMPTS; a++) {
                ProtobufCMessage *resp = NULL;
                if (rpc_unary(ch, &ak__v1__scheduler__descriptor, "WriteFile", &req.base, opts, &resp, err) ==
                    RPC_OK) {
                        protobuf_c_message_free_unpacked(resp, NULL);
                        return 0;
                }
                if (a < ATTEMPTS)
                        backoff(a);
        }
        return r;
}

/* Sends fd as staging/NNNNNN pieces (at least one); ret_hex: its SHA-256. */
static int send_pieces(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                       const struct sandbox_cp_put *a, const char *staging, int fd, char ret_hex[65],
                       struct ak_error *err)
{
        const char *src = a->src;
        unsigned long long max = a->max_bytes ? a->max_bytes : SANDBOX_CP_MAX_BYTES;
        _cleanup_free_ uint8_t *buf = malloc(SANDBOX_CP_PIECE);
        struct crypto_sha256 *h = NULL;
        if (!buf || crypto_sha256_new(&h) < 0)
                return ak_error_set(err, -ENOMEM, "out of memory");
        struct cli_progress pr;
        cli_progress_init(&pr);
        unsigned long long total = 0;
        int r = 0;
        for (unsigned i = 0;; i++) {
                ssize_t n = ak_read_full(fd, buf, SANDBOX_CP_PIECE);
                if (n < 0) {
                        r = ak_error_errno(err, (int)n, "reading %s", src);
                        break;
                }
                if (n == 0 && i > 0)
                        break;
                if (interrupted) {
                        r = -EINTR;
                        break;
                }
                total += (unsigned long long)n;
                if (total > max) {
                        r = ak_error_set(err, -EFBIG, "%s is larger than %llu MiB, the copy limit%s%s", src,
                                         max >> 20, a->max_hint ? ": " : "", a->max_hint ? a->max_hint : "");
                        break;
                }
                crypto_sha256_update(h, buf, (size_t)n);
                char path[PATH_MAX], detail[128];
                snprintf(path, sizeof(path), "%.200s/%06u", staging, i);
                struct ak_error e2 = { 0 };
                if ((r = write_piece(ch, opts, sandbox, path, buf, (size_t)n, &e2)) < 0) {
                        ak_error_set(err, r, "writing piece %u of %s into the sandbox failed %d times: %s", i,
                                     src, ATTEMPTS, e2.msg);
                        break;
                }
                snprintf(detail, sizeof(detail), "%.80s: %llu MiB", src, total >> 20);
                cli_progress_report(&pr, a->phase ? a->phase : "copy in", detail);
                if ((size_t)n < SANDBOX_CP_PIECE)
                        break;
        }
        cli_progress_done(&pr);
        hash_done(h, ret_hex);
        return r;
}

/* $1 staging, $2 target, $3 sha256, $4 file|dir, $5 mode, $6 source's
 * name, $7 1: the target is $2 itself, its parents made. */
static const char join_script[] =
        "d=$1 t=$2 want=$3 kind=$4 mode=$5 base=$6 exact=$7\n"
        "fail() { rm -rf \"$d\" \"$part\"; echo \"$*\" >&2; exit 1; }\n"
        "part=\n"
        "if [ \"$exact\" != 1 ] && [ -d \"$t\" ]; then t=\"${t%/}/$base\"; fi\n"
        "t=${t%/}; [ -n \"$t\" ] || fail \"cannot copy onto /\"\n"
        "p=${t%/*}; [ -n \"$p\" ] || p=/\n"
        "if [ \"$exact\" = 1 ]; then mkdir -p \"$p\" 2>/dev/null; fi\n"
        "[ -d \"$p\" ] || fail \"$p is not a directory in the sandbox\"\n"
        "if [ \"$kind\" = dir ] && [ -e \"$t\" ] && [ ! -d \"$t\" ]; then fail \"$t is not a directory in the "
        "sandbox\"; fi\n"
        "if [ \"$kind\" = file ] && [ -d \"$t\" ]; then fail \"$t is a directory in the sandbox\"; fi\n"
        "part=$t.ak-cp-part\n"
        "rm -f \"$part\"\n"
        "for f in \"$d\"/*; do cat \"$f\" >>\"$part\" && rm -f \"$f\" || fail \"joining the pieces into $part failed\"; "
        "done\n"
        "got=$(sha256sum <\"$part\") || fail \"sha256sum $part failed\"\n"
        "got=${got%% *}\n"
        "[ \"$got\" = \"$want\" ] || fail \"checksum mismatch: sent $want, the sandbox has $got\"\n"
        "if [ \"$kind\" = dir ]; then\n"
        "  mkdir -p \"$t\" && tar -x -p -f \"$part\" -C \"$t\" || fail \"unpacking into $t failed\"\n"
        "  rm -f \"$part\"\n"
        "else\n"
        "  chmod \"$mode\" \"$part\" && mv -f \"$part\" \"$t\" || fail \"moving into $t failed\"\n"
        "fi\n"
        "rm -rf \"$d\"\n";

static int put(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
               const struct sandbox_cp_put *a, struct ak_error *err);

int sandbox_cp_put(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                   const struct sandbox_cp_put *a, struct ak_error *err)
{
        struct interrupt_saved saved;
        interrupt_catch(&saved);
        int r = put(ch, opts, sandbox, a, err);
        return interrupt_release(&saved, r, err);
}

int sandbox_cp_in(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                  const char *src, const char *guest_path, struct ak_error *err)
{
        struct sandbox_cp_put a = { .src = src, .guest_path = guest_path };
        return sandbox_cp_put(ch, opts, sandbox, &a, err);
}

static int put(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
               const struct sandbox_cp_put *a, struct ak_error *err)
{
        const char *src = a->src, *guest_path = a->guest_path;
        struct stat st;
        if (stat(src, &st) < 0)
                return ak_error_errno(err, -errno, "%s", src);
        bool dir = S_ISDIR(st.st_mode);
        if (!dir && !S_ISREG(st.st_mode))
                return ak_error_set(err, -EINVAL, "%s: not a regular file or a directory", src);
        pid_t pid = -1;
        _cleanup_close_ int fd = -1;
        int r;
        if (dir) {
                if ((r = copy_in_spawn_tar(src, &pid, &fd, err)) < 0)
                        return r;
        } else if ((fd = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
                return ak_error_errno(err, -errno, "%s", src);
        }
        struct buf_sink staging = { .len = 0 };
        struct ak_error e2 = { 0 };
        r = guest_exec(ch, opts, sandbox, "mktemp -d /tmp/.ak-cp.XXXXXX", NULL, 0, to_buf, &staging, &e2);
        if (r < 0)
                ak_error_set(err, r, "making a staging directory in sandbox %s: %s", sandbox, e2.msg);
        staging.data[strcspn(staging.data, "\n")] = 0;
        if (r == 0 && (strncmp(staging.data, "/tmp/.ak-cp.", 12) != 0 || strlen(staging.data) > 64 ||
                       strchr(staging.data, '*')))
                r = ak_error_set(err, -EPROTO, "sandbox %s answered mktemp with \"%.64s\"", sandbox, staging.data);
        char want[65] = "";
        if (r == 0)
                r = send_pieces(ch, opts, sandbox, a, staging.data, fd, want, err);
        if (pid > 0) {
                if (r < 0)
                        kill(pid, SIGTERM);
                int ws;
                while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
                        ;
                /* tar exits 1 when a file changed while it read it: still a copy. */
                if (r == 0 && !(WIFEXITED(ws) && WEXITSTATUS(ws) <= 1))
                        r = ak_error_set(err, -EIO, "tar -C %s -c failed: is every file in it readable?", src);
        }
        if (r < 0) {
                if (staging.data[0] == '/')
                        guest_exec(ch, opts, sandbox, "rm -rf \"$1\"", (const char *[]){ staging.data }, 1, to_buf,
                                   &(struct buf_sink){ .len = 0 }, &e2);
                return r;
        }
        char mode[16];
        snprintf(mode, sizeof(mode), "%o", a->mode ? a->mode & 07777 : (unsigned)(st.st_mode & 07777));
        const char *b = strrchr(src, '/');
        char base[NAME_MAX + 1];
        snprintf(base, sizeof(base), "%s", b ? b + 1 : src);
        if (!base[0] || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
                char *rp = realpath(src, NULL);
                const char *rb = rp ? strrchr(rp, '/') : NULL;
                snprintf(base, sizeof(base), "%s", rb && rb[1] ? rb + 1 : "root");
                free(rp);
        }
        const char *args[] = { staging.data, guest_path, want, dir ? "dir" : "file", mode, base, a->exact ? "1" : "0" };
        r = guest_exec(ch, opts, sandbox, join_script, args, AK_ARRAY_SIZE(args), to_buf,
                       &(struct buf_sink){ .len = 0 }, &e2);
        if (r < 0)
                return ak_error_set(err, r, "copying %s to %s:%s: %s", src, sandbox, guest_path, e2.msg);
        return 0;
}

/* Copy-out. */

/* $1 the source. A directory is packed into a staging file first. */
static const char stat_script[] =
        "p=$1\n"
        "if [ -d \"$p\" ]; then\n"
        "  d=$(mktemp -d /tmp/.ak-cp.XXXXXX) || exit 1\n"
        "  tar -C \"$p\" -cf \"$d/a.tar\" . || { rm -rf \"$d\"; echo \"packing $p failed\" >&2; exit 1; }\n"
        "  f=$d/a.tar k=dir\n"
        "elif [ -f \"$p\" ]; then f=$p k=file\n"
        "elif [ -e \"$p\" ]; then echo \"$p is not a regular file or a directory\" >&2; exit 1\n"
        "else echo \"$p: no such file or directory\" >&2; exit 2; fi\n"
        "s=$(sha256sum <\"$f\") && n=$(wc -c <\"$f\") || exit 1\n"
        "m=$(stat -c %a \"$f\" 2>/dev/null) || m=644\n"
        "printf '%s %s %s %s %s\\n' \"$k\" $n \"${s%% *}\" \"$m\" \"$f\"\n";

struct mem_sink {
        uint8_t *p;
        unsigned long long got, max;
};

static int to_mem(void *ud, const uint8_t *p, size_t n)
{
        struct mem_sink *m = ud;
        if (n > m->max - m->got)
                return -EFBIG;
        memcpy(m->p + m->got, p, n);
        m->got += n;
        return 0;
}

/* Reads head->path into fd, piece by piece, each retried. */
static int read_pieces(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                       const char *what, const struct sandbox_cp_head *head, int fd, char ret_hex[65],
                       struct ak_error *err)
{
        struct crypto_sha256 *h = NULL;
        if (crypto_sha256_new(&h) < 0)
                return ak_error_set(err, -ENOMEM, "out of memory");
        _cleanup_free_ uint8_t *buf = malloc(SANDBOX_CP_PIECE);
        if (!buf) {
                crypto_sha256_free(h);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        struct cli_progress pr;
        cli_progress_init(&pr);
        int r = 0;
        for (unsigned long long off = 0; off < head->size && r == 0; off += SANDBOX_CP_PIECE) {
                if (interrupted) {
                        r = -EINTR;
                        break;
                }
                unsigned long long want = head->size - off < SANDBOX_CP_PIECE ? head->size - off : SANDBOX_CP_PIECE;
                char skip[32], count[32];
                snprintf(skip, sizeof(skip), "%llu", off >> 20);
                snprintf(count, sizeof(count), "%u", SANDBOX_CP_PIECE >> 20);
                const char *args[] = { head->path, skip, count };
                struct ak_error e2 = { 0 };
                r = -EIO;
                for (int a = 1; a <= ATTEMPTS && r < 0; a++) {
                        struct mem_sink m = { .p = buf, .max = want };
                        r = guest_exec(ch, opts, sandbox, "dd if=\"$1\" bs=1048576 skip=\"$2\" count=\"$3\" 2>/dev/null",
                                       args, 3, to_mem, &m, &e2);
                        if (r == 0 && m.got != want)
                                r = ak_error_set(&e2, -EIO, "got %llu bytes, want %llu (did it change?)", m.got, want);
                        if (r < 0 && a < ATTEMPTS)
                                backoff(a);
                }
                if (r < 0) {
                        ak_error_set(err, r, "reading %s at byte %llu failed %d times: %s", what, off, ATTEMPTS, e2.msg);
                        break;
                }
                crypto_sha256_update(h, buf, (size_t)want);
                if ((r = ak_write_full(fd, buf, (size_t)want)) < 0) {
                        ak_error_errno(err, r, "writing the copy of %s", what);
                        break;
                }
                char detail[128];
                snprintf(detail, sizeof(detail), "%.80s: %llu of %llu MiB", what, (off + want) >> 20, head->size >> 20);
                cli_progress_report(&pr, "copy out", detail);
        }
        cli_progress_done(&pr);
        hash_done(h, ret_hex);
        return r;
}

/* Where dst names: dst itself, or dst/BASENAME when dst is a directory. */
static int local_target(const char *dst, const char *guest_path, char *out, size_t size, struct ak_error *err)
{
        struct stat st;
        char gp[PATH_MAX];
        snprintf(gp, sizeof(gp), "%s", guest_path);
        size_t l = strlen(gp);
        while (l > 1 && gp[l - 1] == '/')
                gp[--l] = 0;
        const char *base = strrchr(gp, '/');
        base = base && base[1] ? base + 1 : "root";
        if (stat(dst, &st) == 0 && S_ISDIR(st.st_mode)) {
                if (snprintf(out, size, "%s/%s", dst, base) >= (int)size)
                        return ak_error_set(err, -ENAMETOOLONG, "%s/%s: path too long", dst, base);
        } else if (snprintf(out, size, "%s", dst) >= (int)size) {
                return ak_error_set(err, -ENAMETOOLONG, "%s: path too long", dst);
        }
        return 0;
}

static int get(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
               const char *guest_path, const char *dst, struct ak_error *err);

int sandbox_cp_out(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                   const char *guest_path, const char *dst, struct ak_error *err)
{
        struct interrupt_saved saved;
        interrupt_catch(&saved);
        int r = get(ch, opts, sandbox, guest_path, dst, err);
        return interrupt_release(&saved, r, err);
}

static int get(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
               const char *guest_path, const char *dst, struct ak_error *err)
{
        char target[PATH_MAX], what[PATH_MAX + 160];
        int r = local_target(dst, guest_path, target, sizeof(target), err);
        if (r < 0)
                return r;
        snprintf(what, sizeof(what), "%s:%s", sandbox, guest_path);
        struct buf_sink hb = { .len = 0 };
        struct ak_error e2 = { 0 };
        if ((r = guest_exec(ch, opts, sandbox, stat_script, (const char *[]){ guest_path }, 1, to_buf, &hb, &e2)) < 0)
                return ak_error_set(err, r, "%s: %s", what, e2.msg);
        struct sandbox_cp_head head;
        if ((r = sandbox_cp_parse_head(hb.data, hb.len, &head, &e2)) < 0)
                return ak_error_set(err, r, "sandbox %s described %s badly: %s", sandbox, guest_path, e2.msg);
        struct stat st;
        if (head.dir && stat(target, &st) == 0 && !S_ISDIR(st.st_mode))
                r = ak_error_set(err, -ENOTDIR, "%s is a directory, but %s is not a directory", what, target);
        else if (!head.dir && stat(target, &st) == 0 && S_ISDIR(st.st_mode))
                r = ak_error_set(err, -EISDIR, "%s is a directory; name the file to write", target);
        char tmp[PATH_MAX + 32], parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", target);
        char *slash = strrchr(parent, '/');
        if (slash)
                *(slash == parent ? slash + 1 : slash) = 0;
        snprintf(tmp, sizeof(tmp), "%s/.ak-cp.XXXXXX", slash ? parent : ".");
        _cleanup_close_ int fd = r < 0 ? -1 : mkostemp(tmp, O_CLOEXEC);
        if (r == 0 && fd < 0)
                r = ak_error_errno(err, -errno, "creating a temp file beside %s", target);
        char got[65] = "";
        if (r == 0)
                r = read_pieces(ch, opts, sandbox, what, &head, fd, got, err);
        if (head.dir)
                guest_exec(ch, opts, sandbox, "case $1 in /tmp/.ak-cp.*/a.tar) rm -rf \"${1%/a.tar}\";; esac",
                           (const char *[]){ head.path }, 1, to_buf, &(struct buf_sink){ .len = 0 }, &e2);
        if (r == 0 && strcmp(got, head.sha256) != 0)
                r = ak_error_set(err, -EIO, "checksum mismatch copying %s: the sandbox said %s, we got %s", what,
                                 head.sha256, got);
        if (r == 0 && head.dir) {
                if (lseek(fd, 0, SEEK_SET) < 0)
                        r = ak_error_errno(err, -errno, "rewinding %s", tmp);
                else
                        r = sandbox_cp_unpack(fd, target, what, err);
        } else if (r == 0) {
                if (fchmod(fd, head.mode & 0777) < 0 || fsync(fd) < 0 || rename(tmp, target) < 0)
                        r = ak_error_errno(err, -errno, "putting the copy in place at %s", target);
        }
        if (fd >= 0 && (r < 0 || head.dir))
                unlink(tmp);
        return r;
}
