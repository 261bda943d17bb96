#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/binpath.h"
#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/io.h"
#include "lib/base/pathfmt.h"
#include "lib/crypto/crypto.h"
#include "lib/json/json.h"
#include "lib/json/writer.h"
#include "vmm/image/image_impl.h"

#define MANIFEST_MAX (64 * 1024)

void image_report(const struct image_progress *p, const char *phase, const char *fmt, ...)
{
        char buf[512];
        va_list ap;

        if (!p || !p->report)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        p->report(p->userdata, phase, buf);
}

int image_name_check(const char *name)
{
        size_t n = strlen(name);
        if (n == 0 || n > IMAGE_NAME_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '.' || c == '_' || c == '-'));
                if (!ok)
                        return -EINVAL;
        }
        return 0;
}

int image_name_from(const char *raw, char ret[IMAGE_NAME_MAX + 1])
{
        size_t n = 0;
        for (const char *p = raw; *p && n < IMAGE_NAME_MAX; p++) {
                char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
                        c = '-';
                if (n == 0 && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
                        continue;
                ret[n++] = c;
        }
        ret[n] = 0;
        return image_name_check(ret) == 0 && strcmp(ret, IMAGE_BASE) != 0 ? 0 : -EINVAL;
}

int image_store_open(const char *dir, struct image_store **ret, struct ak_error *err)
{
        static const char *const subdirs[] = { "", "/names", "/kernel", "/tmp", "/stage", "/inuse" };
        char path[PATH_MAX];

        /* Paths under the store add at most a few hundred bytes to it. */
        if (strlen(dir) > IMAGE_STORE_DIR_MAX)
                return ak_error_set(err, -ENAMETOOLONG, "image store %s: path longer than %d bytes", dir,
                                    IMAGE_STORE_DIR_MAX);
        for (size_t i = 0; i < AK_ARRAY_SIZE(subdirs); i++) {
                pathfmt(path, sizeof(path), "%s%s", dir, subdirs[i]);
                int r = ak_mkdir_p(path, 0755, false);
                if (r < 0)
                        return ak_error_errno(err, r, "create %s", path);
        }
        struct image_store *s = calloc(1, sizeof(*s));
        if (!s)
                return ak_error_set(err, -ENOMEM, "out of memory");
        strcpy(s->dir, dir);
        *ret = s;
        return 0;
}

void image_store_free(struct image_store *s)
{
        free(s);
}

const char *image_store_dir(const struct image_store *s)
{
        return s->dir;
}

int image_store_set_guest_binary(struct image_store *s, const char *path, struct ak_error *err)
{
        if (access(path, X_OK) != 0)
                return ak_error_errno(err, -errno, "guest agent %s", path);
        if (strlen(path) >= sizeof(s->guest_bin))
                return ak_error_set(err, -ENAMETOOLONG, "guest agent path too long");
        strcpy(s->guest_bin, path);
        return 0;
}

int image_guest_binary(struct image_store *s, const char **ret, struct ak_error *err)
{
        if (!s->guest_bin[0]) {
                int r = binpath_find("guest/ak-guest", "AK_GUEST_BIN", s->guest_bin, sizeof(s->guest_bin));
                if (r < 0)
                        return ak_error_set(err, r,
                                            "guest agent binary not found: build //guest:ak-guest or set AK_GUEST_BIN");
        }
        *ret = s->guest_bin;
        return 0;
}

static int hex_digest(struct crypto_sha256 *h, char ret_hex[IMAGE_HASH_LEN + 1])
{
        static const char digits[] = "0123456789abcdef";
        uint8_t d[CRYPTO_SHA256_LEN];

        crypto_sha256_final(h, d);
        for (int i = 0; i < CRYPTO_SHA256_LEN; i++) {
                ret_hex[2 * i] = digits[d[i] >> 4];
                ret_hex[2 * i + 1] = digits[d[i] & 15];
        }
        ret_hex[IMAGE_HASH_LEN] = 0;
        return 0;
}

static _Atomic uint64_t files_hashed;

uint64_t image_hash_file_count(void)
{
        return files_hashed;
}

int image_hash_file(const char *path, char ret_hex[IMAGE_HASH_LEN + 1], struct ak_error *err)
{
        struct crypto_sha256 *h = NULL;
        char buf[65536];

        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return ak_error_errno(err, -errno, "open %s", path);
        files_hashed++;
        int r = crypto_sha256_new(&h);
        if (r < 0)
                return ak_error_set(err, r, "sha256: %s", crypto_init_error_message(r));
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = ak_error_errno(err, -errno, "read %s", path);
                        crypto_sha256_free(h);
                        return r;
                }
                if (n == 0)
                        break;
                crypto_sha256_update(h, buf, (size_t)n);
        }
        hex_digest(h, ret_hex);
        crypto_sha256_free(h);
        return 0;
}

int image_hash_text(const char *text, char ret_hex[IMAGE_HASH_LEN + 1], struct ak_error *err)
{
        int r = crypto_sha256_hex(text, strlen(text), ret_hex);
        if (r < 0)
                return ak_error_set(err, r, "sha256: %s", crypto_init_error_message(r));
        return 0;
}

int image_tmpdir(struct image_store *s, char ret[PATH_MAX], struct ak_error *err)
{
        pathfmt(ret, PATH_MAX, "%s/tmp/build.XXXXXX", s->dir);
        if (!mkdtemp(ret))
                return ak_error_errno(err, -errno, "create a build directory under %s/tmp", s->dir);
        return 0;
}

int image_copy_file(const char *src, const char *dst, struct ak_error *err)
{
        struct stat st;

        _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0 || fstat(in, &st) < 0)
                return ak_error_errno(err, -errno, "open %s", src);
        _cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777);
        if (out < 0)
                return ak_error_errno(err, -errno, "create %s", dst);
        bool write_failed;
        int r = ak_copy_fd(in, out, &write_failed);
        if (r < 0)
                return write_failed ? ak_error_errno(err, r, "write %s", dst) : ak_error_errno(err, r, "read %s", src);
        if (fchmod(out, st.st_mode & 07777) < 0)
                return ak_error_errno(err, -errno, "chmod %s", dst);
        return 0;
}

int image_lock(const char *path, int *ret_fd, struct ak_error *err)
{
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return ak_error_errno(err, -errno, "open lock %s", path);
        while (flock(fd, LOCK_EX) < 0) {
                if (errno == EINTR)
                        continue;
                int r = ak_error_errno(err, -errno, "lock %s", path);
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

bool image_output_disk_full(const char *output)
{
        return output && (strstr(output, "No space left on device") || strstr(output, "Could not allocate block"));
}

int image_write_file_atomic(const char *path, const void *data, size_t len, struct ak_error *err)
{
        char tmp[PATH_MAX];

        if ((size_t)pathfmt(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= sizeof(tmp))
                return ak_error_set(err, -ENAMETOOLONG, "path too long: %s", path);
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return ak_error_errno(err, -errno, "create %s", tmp);
        for (size_t done = 0; done < len;) {
                ssize_t w = write(fd, (const char *)data + done, len - done);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0) {
                        int r = ak_error_errno(err, -errno, "write %s", tmp);
                        unlink(tmp);
                        return r;
                }
                done += (size_t)w;
        }
        if (fsync(fd) < 0 || rename(tmp, path) < 0) {
                int r = ak_error_errno(err, -errno, "write %s", path);
                unlink(tmp);
                return r;
        }
        return 0;
}

int image_manifest_write(const char *dir, const struct image_info *info, struct ak_error *err)
{
        struct json_writer *w = NULL;
        char path[PATH_MAX], *out = NULL;
        size_t len;

        if (json_writer_new(JSON_WRITER_PRETTY, MANIFEST_MAX, &w) < 0)
                return ak_error_set(err, -ENOMEM, "out of memory");
        json_writer_begin_object(w);
        json_writer_key(w, "name", 4);
        json_writer_string(w, info->name, strlen(info->name));
        json_writer_key(w, "hash", 4);
        json_writer_string(w, info->hash, strlen(info->hash));
        json_writer_key(w, "kind", 4);
        json_writer_string(w, info->kind, strlen(info->kind));
        json_writer_key(w, "kernel", 6);
        json_writer_string(w, info->kernel, strlen(info->kernel));
        json_writer_key(w, "packages", 8);
        json_writer_begin_array(w);
        for (const char *p = info->packages; *p;) {
                const char *e = strchr(p, ',');
                size_t n = e ? (size_t)(e - p) : strlen(p);
                json_writer_string(w, p, n);
                p += n + (e ? 1 : 0);
        }
        json_writer_end_array(w);
        json_writer_key(w, "stage", 5);
        json_writer_string(w, info->stage, strlen(info->stage));
        if (info->digest[0]) {
                json_writer_key(w, "digest", 6);
                json_writer_string(w, info->digest, strlen(info->digest));
                json_writer_key(w, "source", 6);
                json_writer_string(w, info->source, strlen(info->source));
                json_writer_key(w, "env", 3);
                json_writer_begin_array(w);
                for (const char *p = info->env; *p;) {
                        const char *e = strchr(p, '\n');
                        size_t n = e ? (size_t)(e - p) : strlen(p);
                        json_writer_string(w, p, n);
                        p += n + (e ? 1 : 0);
                }
                json_writer_end_array(w);
                json_writer_key(w, "working_dir", 11);
                json_writer_string(w, info->working_dir, strlen(info->working_dir));
                json_writer_key(w, "user", 4);
                json_writer_string(w, info->user, strlen(info->user));
                json_writer_key(w, "user_ids", 8);
                json_writer_string(w, info->user_ids, strlen(info->user_ids));
                json_writer_key(w, "command", 7);
                json_writer_begin_array(w);
                for (size_t off = 0, i = 0; i < info->n_command && off < info->command_len; i++) {
                        size_t n = strnlen(info->command + off, info->command_len - off);
                        json_writer_string(w, info->command + off, n);
                        off += n + 1;
                }
                json_writer_end_array(w);
        }
        if (info->snapshot_sandbox[0]) {
                json_writer_key(w, "snapshot", 8);
                json_writer_begin_object(w);
                json_writer_key(w, "sandbox", 7);
                json_writer_string(w, info->snapshot_sandbox, strlen(info->snapshot_sandbox));
                json_writer_key(w, "image", 5);
                json_writer_string(w, info->snapshot_image, strlen(info->snapshot_image));
                json_writer_key(w, "tenant", 6);
                json_writer_string(w, info->snapshot_tenant, strlen(info->snapshot_tenant));
                json_writer_end_object(w);
                json_writer_key(w, "source", 6);
                json_writer_string(w, info->source, strlen(info->source));
        }
        json_writer_key(w, "size_bytes", 10);
        json_writer_u64(w, info->size_bytes);
        json_writer_key(w, "created_at", 10);
        json_writer_i64(w, info->created_at);
        json_writer_end_object(w);
        int r = json_writer_finish(w, &out, &len);
        json_writer_free(w);
        if (r < 0)
                return ak_error_errno(err, r, "manifest");
        pathfmt(path, sizeof(path), "%s/manifest.json", dir);
        r = image_write_file_atomic(path, out, len, err);
        free(out);
        return r;
}

static int read_small_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        char *buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        size_t len = 0;
        for (;;) {
                ssize_t n = read(fd, buf + len, max + 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        free(buf);
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max) {
                        free(buf);
                        return -EFBIG;
                }
        }
        buf[len] = 0;
        *ret = buf;
        *ret_len = len;
        return 0;
}

int image_manifest_read(struct image_store *s, const char *hash, struct image_info *ret, struct ak_error *err)
{
        char path[PATH_MAX], *text = NULL;
        size_t len;
        struct json_value *v = NULL;
        struct image_info info = { 0 };

        pathfmt(path, sizeof(path), "%s/%s/manifest.json", s->dir, hash);
        int r = read_small_file(path, MANIFEST_MAX, &text, &len);
        if (r == -ENOENT)
                return ak_error_set(err, -ENOENT, "image %s is not in %s", hash, s->dir);
        if (r < 0)
                return ak_error_errno(err, r, "read %s", path);
        r = json_parse(text, len, &v, NULL);
        free(text);
        if (r < 0 || json_value_type(v) != JSON_OBJECT)
                goto bad;
        if (json_object_copy_string(v, "name", info.name, sizeof(info.name)) < 0 ||
            json_object_copy_string(v, "hash", info.hash, sizeof(info.hash)) < 0 ||
            json_object_copy_string(v, "kind", info.kind, sizeof(info.kind)) < 0 ||
            json_object_copy_string(v, "kernel", info.kernel, sizeof(info.kernel)) < 0)
                goto bad;
        /* Optional: manifests from before stages have none. */
        if (json_object_get(v, "stage") && json_object_copy_string(v, "stage", info.stage, sizeof(info.stage)) < 0)
                goto bad;
        /* Optional: only imported OCI images have them. */
        if (json_object_get(v, "digest") &&
            (json_object_copy_string(v, "digest", info.digest, sizeof(info.digest)) < 0 ||
             json_object_copy_string(v, "source", info.source, sizeof(info.source)) < 0 ||
             json_object_copy_string(v, "working_dir", info.working_dir, sizeof(info.working_dir)) < 0 ||
             json_object_copy_string(v, "user", info.user, sizeof(info.user)) < 0))
                goto bad;
        /* Optional: only disk snapshots have it. */
        const struct json_value *snap = json_object_get(v, "snapshot");
        if (snap && (json_value_type(snap) != JSON_OBJECT ||
                     json_object_copy_string(snap, "sandbox", info.snapshot_sandbox, sizeof(info.snapshot_sandbox)) < 0 ||
                     !info.snapshot_sandbox[0] ||
                     json_object_copy_string(snap, "image", info.snapshot_image, sizeof(info.snapshot_image)) < 0 ||
                     json_object_copy_string(snap, "tenant", info.snapshot_tenant, sizeof(info.snapshot_tenant)) < 0 ||
                     json_object_copy_string(v, "source", info.source, sizeof(info.source)) < 0))
                goto bad;
        const struct json_value *env = json_object_get(v, "env");
        if (env) {
                size_t used = 0;
                if (json_value_type(env) != JSON_ARRAY)
                        goto bad;
                for (size_t i = 0; i < json_array_size(env); i++) {
                        const struct json_value *e = json_array_get(env, i);
                        size_t n;
                        if (json_value_type(e) != JSON_STRING)
                                goto bad;
                        const char *p = json_string(e, &n);
                        if (memchr(p, '\n', n) || used + n + 2 > sizeof(info.env))
                                goto bad;
                        memcpy(info.env + used, p, n);
                        used += n;
                        info.env[used++] = '\n';
                        info.env[used] = 0;
                }
        }
        if (json_object_get(v, "user_ids") &&
            json_object_copy_string(v, "user_ids", info.user_ids, sizeof(info.user_ids)) < 0)
                goto bad;
        const struct json_value *cmd = json_object_get(v, "command");
        if (cmd) {
                if (json_value_type(cmd) != JSON_ARRAY)
                        goto bad;
                for (size_t i = 0; i < json_array_size(cmd); i++) {
                        const struct json_value *e = json_array_get(cmd, i);
                        size_t n;
                        if (json_value_type(e) != JSON_STRING)
                                goto bad;
                        const char *p = json_string(e, &n);
                        if (memchr(p, 0, n) || info.command_len + n + 1 > sizeof(info.command))
                                goto bad;
                        memcpy(info.command + info.command_len, p, n);
                        info.command_len += n;
                        info.command[info.command_len++] = 0;
                        info.n_command++;
                }
        }
        const struct json_value *pk = json_object_get(v, "packages");
        if (!pk || json_value_type(pk) != JSON_ARRAY)
                goto bad;
        size_t used = 0;
        for (size_t i = 0; i < json_array_size(pk); i++) {
                const struct json_value *e = json_array_get(pk, i);
                size_t n;
                if (json_value_type(e) != JSON_STRING)
                        goto bad;
                const char *p = json_string(e, &n);
                if (used + n + 2 > sizeof(info.packages))
                        goto bad;
                if (i)
                        info.packages[used++] = ',';
                memcpy(info.packages + used, p, n);
                used += n;
                info.packages[used] = 0;
        }
        const struct json_value *sz = json_object_get(v, "size_bytes"), *ca = json_object_get(v, "created_at");
        if (!sz || !ca || json_number_u64(sz, &info.size_bytes) < 0 || json_number_i64(ca, &info.created_at) < 0)
                goto bad;
        if (strcmp(info.hash, hash) != 0)
                goto bad;
        json_value_free(v);
        pathfmt(info.dir, sizeof(info.dir), "%s/%s", s->dir, hash);
        *ret = info;
        return 0;
bad:
        json_value_free(v);
        return ak_error_set(err, -EINVAL, "%s: not a valid image manifest (remove the image and build it again)",
                            path);
}

int image_name_set(struct image_store *s, const char *name, const char *hash, struct ak_error *err)
{
        char path[PATH_MAX], line[IMAGE_HASH_LEN + 2];

        pathfmt(path, sizeof(path), "%s/names/%s", s->dir, name);
        pathfmt(line, sizeof(line), "%s\n", hash);
        return image_write_file_atomic(path, line, strlen(line), err);
}

int image_name_get(struct image_store *s, const char *name, char hash[IMAGE_HASH_LEN + 1])
{
        char path[PATH_MAX], *text = NULL;
        size_t len;

        pathfmt(path, sizeof(path), "%s/names/%s", s->dir, name);
        int r = read_small_file(path, 128, &text, &len);
        if (r < 0)
                return r;
        if (len != IMAGE_HASH_LEN + 1 || text[IMAGE_HASH_LEN] != '\n' ||
            strspn(text, "0123456789abcdef") != IMAGE_HASH_LEN) {
                free(text);
                return -EINVAL;
        }
        memcpy(hash, text, IMAGE_HASH_LEN);
        hash[IMAGE_HASH_LEN] = 0;
        free(text);
        return 0;
}

int image_publish(struct image_store *s, const char *tmpdir, const char *hash, struct ak_error *err)
{
        char dst[PATH_MAX];

        pathfmt(dst, sizeof(dst), "%s/%s", s->dir, hash);
        if (rename(tmpdir, dst) == 0)
                return 0;
        if (errno == EEXIST || errno == ENOTEMPTY) {
                ak_rm_rf(tmpdir);
                return 0;
        }
        return ak_error_errno(err, -errno, "move %s to %s", tmpdir, dst);
}

int image_lookup(struct image_store *s, const char *name, struct image_info *ret, struct ak_error *err)
{
        char hash[IMAGE_HASH_LEN + 1], key[IMAGE_REF_MAX];

        if (image_key_is_ref(name)) {
                int r = image_ref_normalize(name, key, err);
                if (r < 0)
                        return r;
        } else if (image_name_check(name) < 0) {
                return ak_error_set(err, -EINVAL, "invalid image name '%s': use a-z, 0-9, '.', '_', '-', or an OCI "
                                    "reference (python:3.12-alpine)", name);
        }
        int r = image_key_get(s, name, hash, key);
        if (r == -ENOENT && image_key_is_ref(name))
                return ak_error_set(err, -ENOENT, "no image %s here: `ak image pull %s` pulls it", name, name);
        if (r == -ENOENT)
                return ak_error_set(err, -ENOENT,
                                    "no image named '%s': `ak image build %s` makes one (`ak image list` shows them)",
                                    name, name);
        if (r < 0)
                return ak_error_errno(err, r, "image name %s", name);
        r = image_manifest_read(s, hash, ret, err);
        if (r < 0)
                return r;
        snprintf(ret->name, sizeof(ret->name), "%s", key);
        return 0;
}
