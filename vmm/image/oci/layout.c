#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/io.h"
#include "lib/base/pathfmt.h"
#include "lib/crypto/crypto.h"
#include "lib/encoding/hex.h"
#include "lib/json/json.h"
#include "lib/json/writer.h"
#include "vmm/image/oci/layout.h"

#define LAYOUT_FILE "{\"imageLayoutVersion\":\"1.0.0\"}"

struct oci_layout {
        char dir[PATH_MAX];
};

struct oci_blob_writer {
        struct oci_layout *layout;
        char digest[OCI_DIGEST_LEN + 1];
        uint64_t size, written;
        char tmp[PATH_MAX];
        int fd;
        struct crypto_sha256 *hash;
};

static int path_in(const struct oci_layout *l, char *ret, size_t size, const char *suffix)
{
        return pathfmt(ret, size, "%s/%s", l->dir, suffix);
}

static int read_small(const char *path, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((size_t)st.st_size > max)
                return -E2BIG;
        char *buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        ssize_t n = ak_read_full(fd, buf, (size_t)st.st_size);
        if (n < 0) {
                free(buf);
                return (int)n;
        }
        buf[n] = '\0';
        *ret = buf;
        *ret_len = (size_t)n;
        return 0;
}

/* Creates path holding data unless it exists (then 0, and the file is left
 * as it is): written to a temporary file of a unique name, fsynced, then
 * link()ed into place, so that a reader never sees it half-written and two
 * processes creating the layout at once cannot clobber each other (a
 * rename would replace an index.json another pull just wrote). */
static int create_file(const char *path, const void *data, size_t len)
{
        char tmp[PATH_MAX];
        if (pathfmt(tmp, sizeof(tmp), "%s.XXXXXX", path) < 0)
                return -ENAMETOOLONG;
        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = ak_write_full(fd, data, len);
        if (r == 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
                r = -errno;
        close(fd);
        if (r == 0 && link(tmp, path) < 0 && errno != EEXIST)
                r = -errno;
        unlink(tmp);
        return r;
}

int oci_layout_open(const char *dir, struct oci_layout **ret, struct ak_error *err)
{
        struct oci_layout *l = calloc(1, sizeof(*l));
        char p[PATH_MAX];
        if (!l)
                return ak_error_set(err, -ENOMEM, "out of memory");
        if (strlen(dir) >= sizeof(l->dir) - 200) {
                free(l);
                return ak_error_set(err, -ENAMETOOLONG, "OCI layout %s: path too long", dir);
        }
        strcpy(l->dir, dir);
        static const char *const subdirs[] = { "blobs/sha256", "tmp" };
        int r = 0;
        for (size_t i = 0; r == 0 && i < AK_ARRAY_SIZE(subdirs); i++) {
                path_in(l, p, sizeof(p), subdirs[i]);
                r = ak_mkdir_p(p, 0755, false);
                if (r < 0)
                        ak_error_errno(err, r, "create %s", p);
        }
        char *text = NULL;
        size_t len = 0;
        if (r == 0) {
                path_in(l, p, sizeof(p), "oci-layout");
                r = read_small(p, 4096, &text, &len);
                if (r == -ENOENT) {
                        r = create_file(p, LAYOUT_FILE, strlen(LAYOUT_FILE));
                        if (r < 0)
                                ak_error_errno(err, r, "write %s", p);
                } else if (r < 0) {
                        ak_error_errno(err, r, "read %s", p);
                } else {
                        struct json_value *v = NULL;
                        const struct json_value *ver = NULL;
                        if (json_parse(text, len, &v, NULL) == 0 && json_value_type(v) == JSON_OBJECT)
                                ver = json_object_get(v, "imageLayoutVersion");
                        if (!ver || json_value_type(ver) != JSON_STRING || strcmp(json_string(ver, NULL), "1.0.0"))
                                r = ak_error_set(err, -EINVAL, "%s: not an OCI layout 1.0.0 file", p);
                        json_value_free(v);
                }
        }
        free(text);
        if (r == 0) {
                path_in(l, p, sizeof(p), "index.json");
                if (access(p, F_OK) < 0) {
                        const char *empty = "{\"schemaVersion\":2,\"manifests\":[]}";
                        r = create_file(p, empty, strlen(empty));
                        if (r < 0)
                                ak_error_errno(err, r, "write %s", p);
                }
        }
        if (r < 0) {
                free(l);
                return r;
        }
        *ret = l;
        return 0;
}

void oci_layout_free(struct oci_layout *l)
{
        free(l);
}

const char *oci_layout_dir(const struct oci_layout *l)
{
        return l->dir;
}

void oci_layout_blob_path(const struct oci_layout *l, const char *digest, char *ret, size_t size)
{
        pathfmt(ret, size, "%s/blobs/sha256/%s", l->dir, digest + 7);
}

bool oci_layout_has_blob(const struct oci_layout *l, const char *digest, uint64_t size)
{
        char p[PATH_MAX];
        struct stat st;
        oci_layout_blob_path(l, digest, p, sizeof(p));
        if (stat(p, &st) < 0 || !S_ISREG(st.st_mode))
                return false;
        if (size != UINT64_MAX && (uint64_t)st.st_size != size)
                return false;
        (void)utimensat(AT_FDCWD, p, NULL, 0); /* in use again (oci_layout_prune) */
        return true;
}

int oci_blob_writer_new(struct oci_layout *l, const char *digest, uint64_t size, struct oci_blob_writer **ret,
                        struct ak_error *err)
{
        if (oci_ref_digest_check(digest, strlen(digest)) < 0)
                return ak_error_set(err, -EINVAL, "blob digest \"%s\" is not sha256", digest);
        struct oci_blob_writer *w = calloc(1, sizeof(*w));
        if (!w)
                return ak_error_set(err, -ENOMEM, "out of memory");
        w->fd = -1;
        w->layout = l;
        w->size = size;
        strcpy(w->digest, digest);
        pathfmt(w->tmp, sizeof(w->tmp), "%s/tmp/%.16s.XXXXXX", l->dir, digest + 7); /* fits: open bounds dir */
        int r = crypto_sha256_new(&w->hash);
        if (r < 0) {
                free(w);
                return ak_error_set(err, r, "SHA-256: %s", crypto_init_error_message(r));
        }
        w->fd = mkostemp(w->tmp, O_CLOEXEC);
        if (w->fd < 0) {
                r = ak_error_errno(err, -errno, "create %s", w->tmp);
                w->tmp[0] = '\0';
                oci_blob_writer_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

int oci_blob_writer_write(struct oci_blob_writer *w, const void *data, size_t len, struct ak_error *err)
{
        if (len > w->size - w->written)
                return ak_error_set(err, -EFBIG, "blob %s: more bytes than the %llu its descriptor declares",
                                    w->digest, (unsigned long long)w->size);
        int r = ak_write_full(w->fd, data, len);
        if (r < 0)
                return ak_error_errno(err, r, "write %s", w->tmp);
        crypto_sha256_update(w->hash, data, len);
        w->written += len;
        return 0;
}

uint64_t oci_blob_writer_offset(const struct oci_blob_writer *w)
{
        return w->written;
}

int oci_blob_writer_rewind(struct oci_blob_writer *w, struct ak_error *err)
{
        uint8_t scratch[CRYPTO_SHA256_LEN];
        if (ftruncate(w->fd, 0) < 0 || lseek(w->fd, 0, SEEK_SET) < 0)
                return ak_error_errno(err, -errno, "truncate %s", w->tmp);
        crypto_sha256_final(w->hash, scratch); /* starts the hash over */
        w->written = 0;
        return 0;
}

int oci_blob_writer_commit(struct oci_blob_writer *w, struct ak_error *err)
{
        uint8_t d[CRYPTO_SHA256_LEN];
        char hex[CRYPTO_SHA256_HEX_LEN + 1], dst[PATH_MAX];
        if (w->written != w->size)
                return ak_error_set(err, -EPROTO, "blob %s: got %llu of %llu bytes", w->digest,
                                    (unsigned long long)w->written, (unsigned long long)w->size);
        crypto_sha256_final(w->hash, d);
        hex_encode(d, sizeof(d), hex, sizeof(hex));
        if (strcmp(hex, w->digest + 7) != 0)
                return ak_error_set(err, -EBADMSG, "blob %s: the registry's bytes hash to sha256:%s (digest mismatch: "
                                    "corrupt or tampered; nothing was stored)", w->digest, hex);
        if (fsync(w->fd) < 0)
                return ak_error_errno(err, -errno, "fsync %s", w->tmp);
        oci_layout_blob_path(w->layout, w->digest, dst, sizeof(dst));
        if (fchmod(w->fd, 0644) < 0 || rename(w->tmp, dst) < 0)
                return ak_error_errno(err, -errno, "store blob %s", dst);
        w->tmp[0] = '\0';
        return 0;
}

void oci_blob_writer_free(struct oci_blob_writer *w)
{
        if (!w)
                return;
        if (w->fd >= 0)
                close(w->fd);
        if (w->tmp[0])
                unlink(w->tmp);
        crypto_sha256_free(w->hash);
        free(w);
}

int oci_layout_adopt_blob(struct oci_layout *l, const char *tmp_path, int fd, const char *digest,
                          struct ak_error *err)
{
        char dst[PATH_MAX];
        if (oci_ref_digest_check(digest, strlen(digest)) < 0)
                return ak_error_set(err, -EINVAL, "blob digest '%s' is not sha256:<64 hex>", digest);
        oci_layout_blob_path(l, digest, dst, sizeof(dst));
        if (fsync(fd) < 0 || fchmod(fd, 0644) < 0 || rename(tmp_path, dst) < 0)
                return ak_error_errno(err, -errno, "store blob %s as %s", tmp_path, dst);
        return 0;
}

int oci_layout_put_blob(struct oci_layout *l, const char *digest, const void *data, size_t len,
                        struct ak_error *err)
{
        struct oci_blob_writer *w = NULL;
        int r = oci_blob_writer_new(l, digest, len, &w, err);
        if (r == 0)
                r = oci_blob_writer_write(w, data, len, err);
        if (r == 0)
                r = oci_blob_writer_commit(w, err);
        oci_blob_writer_free(w);
        return r;
}
