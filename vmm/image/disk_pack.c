/* image_disk_pack (disk_pack.h): read the disk once (holes skipped, fed as
 * zeros), hashing it raw and compressed as libarchive's zstd filter writes
 * it ("raw" format: no archive around the stream). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "lib/base/pathfmt.h"
#include "lib/crypto/crypto.h"
#include "lib/encoding/hex.h"
#include "lib/json/writer.h"
#include "vmm/image/disk_format.h"
#include "vmm/image/disk_pack.h"
#include "vmm/image/oci/layout.h"

#define CHUNK ((size_t)1 << 20)
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"

struct pack {
        int in, out;
        struct crypto_sha256 *raw, *packed;
        uint64_t packed_bytes;
        int write_errno;
        char *buf;
        char tmp[PATH_MAX];
};

static la_ssize_t write_cb(struct archive *a, void *userdata, const void *data, size_t len)
{
        struct pack *pk = userdata;
        (void)a;
        int r = ak_write_full(pk->out, data, len);
        if (r < 0) {
                pk->write_errno = -r;
                return -1;
        }
        crypto_sha256_update(pk->packed, data, len);
        pk->packed_bytes += len;
        return (la_ssize_t)len;
}

static void digest_of(struct crypto_sha256 *h, char ret[72])
{
        uint8_t d[CRYPTO_SHA256_LEN];
        crypto_sha256_final(h, d);
        memcpy(ret, "sha256:", 7);
        hex_encode(d, sizeof(d), ret + 7, 65);
}

static int feed(struct pack *pk, struct archive *a, const char *data, size_t n, struct ak_error *err)
{
        crypto_sha256_update(pk->raw, data, n);
        while (n > 0) {
                la_ssize_t w = archive_write_data(a, data, n);
                if (w <= 0)
                        return ak_error_set(err, pk->write_errno ? -pk->write_errno : -EIO, "compress the disk: %s",
                                            pk->write_errno ? strerror(pk->write_errno) : archive_error_string(a));
                data += w;
                n -= (size_t)w;
        }
        return 0;
}

/* The disk's size bytes into a, holes as zeros without reading them. */
static int compress_disk(struct pack *pk, struct archive *a, uint64_t size, struct ak_error *err)
{
        static const char zeros[CHUNK];
        uint64_t pos = 0;
        int r;
        while (pos < size) {
                off_t data = lseek(pk->in, (off_t)pos, SEEK_DATA);
                uint64_t data_at = data < 0 ? size : (uint64_t)data;
                if (data < 0 && errno != ENXIO)
                        return ak_error_errno(err, -errno, "seek the disk");
                while (pos < data_at) {
                        size_t n = data_at - pos < CHUNK ? (size_t)(data_at - pos) : CHUNK;
                        if ((r = feed(pk, a, zeros, n, err)) < 0)
                                return r;
                        pos += n;
                }
                if (pos >= size)
                        break;
                off_t hole = lseek(pk->in, (off_t)pos, SEEK_HOLE);
                uint64_t end = hole < 0 || (uint64_t)hole > size ? size : (uint64_t)hole;
                while (pos < end) {
                        size_t want = end - pos < CHUNK ? (size_t)(end - pos) : CHUNK;
                        ssize_t n = pread(pk->in, pk->buf, want, (off_t)pos);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                return ak_error_errno(err, n < 0 ? -errno : -EIO, "read the disk at %llu",
                                                      (unsigned long long)pos);
                        if ((r = feed(pk, a, pk->buf, (size_t)n, err)) < 0)
                                return r;
                        pos += (uint64_t)n;
                }
        }
        return 0;
}

/* <layout>/tmp/disk.* <- zstd(disk); the digests of both. */
static int write_layer(struct pack *pk, const char *layout_dir, uint64_t size, char raw[72], char packed[72],
                       struct ak_error *err)
{
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        int r;
        pathfmt(pk->tmp, sizeof(pk->tmp), "%s/tmp/disk.XXXXXX", layout_dir);
        if ((pk->out = mkostemp(pk->tmp, O_CLOEXEC)) < 0) {
                r = ak_error_errno(err, -errno, "create %s", pk->tmp);
                pk->tmp[0] = 0;
                goto out;
        }
        if (!a || !e) {
                r = ak_error_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        /* One zstd frame and nothing after it: no padding of the last block. */
        if (archive_write_add_filter_zstd(a) != ARCHIVE_OK || archive_write_set_format_raw(a) != ARCHIVE_OK ||
            archive_write_set_bytes_per_block(a, (int)CHUNK) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
            archive_write_open(a, pk, NULL, write_cb, NULL) != ARCHIVE_OK) {
                r = ak_error_set(err, -ENOTSUP, "zstd compression: %s", archive_error_string(a));
                goto out;
        }
        archive_entry_set_pathname(e, "disk");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, (la_int64_t)size);
        if (archive_write_header(a, e) != ARCHIVE_OK) {
                r = ak_error_set(err, -EIO, "compress the disk: %s", archive_error_string(a));
                goto out;
        }
        if ((r = compress_disk(pk, a, size, err)) < 0)
                goto out;
        if (archive_write_close(a) != ARCHIVE_OK) {
                r = ak_error_set(err, pk->write_errno ? -pk->write_errno : -EIO, "finish the compressed disk: %s",
                                 archive_error_string(a));
                goto out;
        }
        digest_of(pk->raw, raw);
        digest_of(pk->packed, packed);
        r = 0;
out:
        archive_entry_free(e);
        if (a)
                archive_write_free(a);
        return r;
}

static void string_pair(struct json_writer *w, const char *key, const char *value)
{
        json_writer_key(w, key, strlen(key));
        json_writer_string(w, value, strlen(value));
}

/* "K=V\n" lines, or n NUL-terminated strings, as a JSON array. */
static void string_array(struct json_writer *w, const char *key, const char *p, size_t len, char sep)
{
        json_writer_key(w, key, strlen(key));
        json_writer_begin_array(w);
        for (size_t off = 0; off < len && p[off];) {
                const char *end = memchr(p + off, sep, len - off);
                size_t n = end ? (size_t)(end - (p + off)) : len - off;
                json_writer_string(w, p + off, n);
                off += n + 1;
        }
        json_writer_end_array(w);
}

static int config_json(const struct image_info *info, const struct image_info *cfg, uint64_t size, const char *diff_id,
                       char **ret, size_t *ret_len)
{
        struct json_writer *w;
        char created[32], num[24];
        time_t t = (time_t)info->created_at;
        struct tm tm;
        int r = json_writer_new(0, 0, &w);
        if (r < 0)
                return r;
        strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        snprintf(num, sizeof(num), "%llu", (unsigned long long)size);
        json_writer_begin_object(w);
        string_pair(w, "created", created);
        string_pair(w, "architecture", "amd64");
        string_pair(w, "os", "linux");
        json_writer_key(w, "config", 6);
        json_writer_begin_object(w);
        string_array(w, "Env", cfg->env, strlen(cfg->env), '\n');
        string_pair(w, "WorkingDir", cfg->working_dir);
        string_pair(w, "User", cfg->user);
        if (cfg->n_command)
                string_array(w, "Cmd", cfg->command, cfg->command_len, '\0');
        json_writer_key(w, "Labels", 6);
        json_writer_begin_object(w);
        string_pair(w, AK_DISK_LABEL_SIZE, num);
        string_pair(w, AK_DISK_LABEL_SOURCE, info->snapshot_image[0] ? info->snapshot_image : info->name);
        string_pair(w, AK_DISK_LABEL_SANDBOX, info->snapshot_sandbox);
        if (cfg->user[0] && cfg->user_ids[0])
                string_pair(w, AK_DISK_LABEL_USER_IDS, cfg->user_ids);
        json_writer_end_object(w);
        json_writer_end_object(w);
        json_writer_key(w, "rootfs", 6);
        json_writer_begin_object(w);
        string_pair(w, "type", "layers");
        json_writer_key(w, "diff_ids", 8);
        json_writer_begin_array(w);
        json_writer_string(w, diff_id, strlen(diff_id));
        json_writer_end_array(w);
        json_writer_end_object(w);
        json_writer_end_object(w);
        r = json_writer_finish(w, ret, ret_len);
        json_writer_free(w);
        return r;
}

static void descriptor(struct json_writer *w, const char *key, const char *mt, const char *digest, uint64_t size)
{
        if (key)
                json_writer_key(w, key, strlen(key));
        json_writer_begin_object(w);
        string_pair(w, "mediaType", mt);
        string_pair(w, "digest", digest);
        json_writer_key(w, "size", 4);
        json_writer_u64(w, size);
        json_writer_end_object(w);
}

static int manifest_json(const char *config, size_t config_len, const char *layer, uint64_t layer_len, char **ret,
                         size_t *ret_len)
{
        struct json_writer *w;
        int r = json_writer_new(0, 0, &w);
        if (r < 0)
                return r;
        json_writer_begin_object(w);
        json_writer_key(w, "schemaVersion", 13);
        json_writer_u64(w, 2);
        string_pair(w, "mediaType", OCI_MT_MANIFEST);
        descriptor(w, "config", MT_CONFIG, config, config_len);
        json_writer_key(w, "layers", 6);
        json_writer_begin_array(w);
        descriptor(w, NULL, AK_DISK_MEDIA_TYPE, layer, layer_len);
        json_writer_end_array(w);
        json_writer_end_object(w);
        r = json_writer_finish(w, ret, ret_len);
        json_writer_free(w);
        return r;
}

static int put_doc(struct oci_layout *l, const char *doc, size_t len, char digest[72], struct ak_error *err)
{
        memcpy(digest, "sha256:", 7);
        int r = crypto_sha256_hex(doc, len, digest + 7);
        if (r < 0)
                return ak_error_set(err, r, "sha256: %s", crypto_init_error_message(r));
        return oci_layout_put_blob(l, digest, doc, len, err);
}

/* The config (Env, ...) a disk image's config carries: its own, or for a
 * snapshot without any, its source image's. */
static void image_config_of(struct image_store *s, const struct image_info *info, struct image_info *ret)
{
        *ret = *info;
        if (info->env[0] || info->working_dir[0] || info->user[0] || info->n_command || !info->snapshot_image[0])
                return;
        struct image_info *src = calloc(1, sizeof(*src));
        if (src && image_lookup(s, info->snapshot_image, src, NULL) == 0)
                *ret = *src;
        free(src);
}

/* The layer, config and manifest into l; the manifest's descriptor. */
static int pack_blobs(struct image_store *s, struct oci_layout *l, const struct image_info *info, int disk,
                      uint64_t size, struct oci_descriptor *desc, struct image_disk_packed *res, struct ak_error *err)
{
        struct pack pk = { .in = disk, .out = -1 };
        char raw[72], packed[72], config_digest[72];
        _cleanup_free_ char *config = NULL, *manifest = NULL;
        _cleanup_free_ struct image_info *cfg = calloc(1, sizeof(*cfg));
        size_t config_len, manifest_len;
        int r;
        if (!cfg || !(pk.buf = malloc(CHUNK)) || crypto_sha256_new(&pk.raw) < 0 || crypto_sha256_new(&pk.packed) < 0) {
                r = ak_error_set(err, -ENOMEM, "out of memory (or no SHA-256)");
                goto out;
        }
        if ((r = write_layer(&pk, oci_layout_dir(l), size, raw, packed, err)) < 0 ||
            (r = oci_layout_adopt_blob(l, pk.tmp, pk.out, packed, err)) < 0)
                goto out;
        pk.tmp[0] = 0;
        image_config_of(s, info, cfg);
        if ((r = config_json(info, cfg, size, raw, &config, &config_len)) < 0) {
                r = ak_error_errno(err, r, "write the image config");
                goto out;
        }
        if ((r = put_doc(l, config, config_len, config_digest, err)) < 0)
                goto out;
        if ((r = manifest_json(config_digest, config_len, packed, pk.packed_bytes, &manifest, &manifest_len)) < 0) {
                r = ak_error_errno(err, r, "write the image manifest");
                goto out;
        }
        memset(desc, 0, sizeof(*desc));
        pathfmt(desc->media_type, sizeof(desc->media_type), "%s", OCI_MT_MANIFEST);
        desc->size = manifest_len;
        if ((r = put_doc(l, manifest, manifest_len, desc->digest, err)) < 0)
                goto out;
        memcpy(res->manifest_digest, desc->digest, sizeof(res->manifest_digest));
        res->disk_bytes = size;
        res->layer_bytes = pk.packed_bytes;
out:
        if (pk.out >= 0)
                close(pk.out);
        if (pk.tmp[0])
                unlink(pk.tmp);
        crypto_sha256_free(pk.raw);
        crypto_sha256_free(pk.packed);
        free(pk.buf);
        return r;
}

int image_disk_pack(struct image_store *s, const char *name, const char *layout_dir, const char *ref_name,
                    const struct image_progress *p, struct image_disk_packed *ret, struct ak_error *err)
{
        _cleanup_free_ struct image_info *info = calloc(1, sizeof(*info));
        struct image_disk_packed res = { 0 };
        struct oci_layout *l = NULL;
        struct image_use *use = NULL;
        struct oci_descriptor desc;
        char path[PATH_MAX];
        struct stat st;
        _cleanup_close_ int fd = -1;
        int r;
        if (!info)
                return ak_error_set(err, -ENOMEM, "out of memory");
        if ((r = image_lookup(s, name, info, err)) < 0)
                return ak_error_wrap(err, "pack %s", name);
        if (strcmp(info->kind, "rootfs") != 0)
                return ak_error_set(err, -EINVAL, "pack %s: a %s image has no root disk to push (push a snapshot or "
                                    "a root filesystem image)", name, info->kind);
        pathfmt(path, sizeof(path), "%s/rootfs.ext4", info->dir);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "pack %s: open %s", name, path);
        if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > AK_DISK_MAX)
                return ak_error_set(err, -EFBIG, "pack %s: %s is not a disk of 1..%llu bytes", name, path, AK_DISK_MAX);
        if ((r = image_use_begin(s, info->hash, "push", &use, err)) < 0 ||
            (r = oci_layout_open(layout_dir, &l, err)) < 0)
                goto out;
        if (p && p->report)
                p->report(p->userdata, "pack", "compressing the disk");
        if ((r = pack_blobs(s, l, info, fd, (uint64_t)st.st_size, &desc, &res, err)) < 0 ||
            (r = oci_layout_set_ref(l, &desc, ref_name, err)) < 0)
                goto out;
        *ret = res;
out:
        image_use_end(use);
        oci_layout_free(l);
        return r < 0 ? ak_error_wrap(err, "pack %s", name) : 0;
}
