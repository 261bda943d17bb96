/* image_disk_install (image_disk.h): a zstd stream -> a sparse raw disk,
 * every size and digest checked on the way. libarchive reads the stream
 * ("raw" format: no archive inside, only its zstd filter). */
#include <archive.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "lib/crypto/crypto.h"
#include "lib/encoding/hex.h"
#include "vmm/image/image_disk.h"

#define READ_CHUNK ((size_t)1 << 20)
#define HOLE_BLOCK 4096

struct install {
        int in, out;
        const struct image_disk_expect *x;
        struct crypto_sha256 *packed, *raw;
        uint64_t read, written;
        int read_errno;
        char *buf;
};

static la_ssize_t read_cb(struct archive *a, void *userdata, const void **ret)
{
        struct install *in = userdata;
        (void)a;
        ssize_t n;
        do
                n = read(in->in, in->buf, READ_CHUNK);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                in->read_errno = errno;
                return -1;
        }
        crypto_sha256_update(in->packed, in->buf, (size_t)n);
        in->read += (uint64_t)n;
        *ret = in->buf;
        return n;
}

static bool all_zero(const char *p, size_t n)
{
        return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Writes n bytes at in->written, leaving all-zero aligned blocks as holes. */
static int put(struct install *in, const char *p, size_t n, struct ak_error *err)
{
        uint64_t limit = in->x->disk_size ? in->x->disk_size : in->x->max_bytes;
        if (in->written + n > limit || in->written + n < in->written)
                return ak_error_set(err, -EFBIG, "the disk is larger than %s (%llu bytes)",
                                    in->x->disk_size ? "its config's " "dev.ak.disk.size label" : "the limit",
                                    (unsigned long long)limit);
        crypto_sha256_update(in->raw, p, n);
        while (n > 0) {
                size_t step = HOLE_BLOCK - (size_t)(in->written % HOLE_BLOCK);
                if (step > n)
                        step = n;
                if (!all_zero(p, step)) {
                        /* Extend over following non-zero blocks in one write. */
                        size_t len = step;
                        while (len < n) {
                                size_t more = n - len < HOLE_BLOCK ? n - len : HOLE_BLOCK;
                                if (all_zero(p + len, more))
                                        break;
                                len += more;
                        }
                        step = len;
                        for (size_t done = 0; done < step;) {
                                ssize_t w = pwrite(in->out, p + done, step - done, (off_t)(in->written + done));
                                if (w < 0 && errno == EINTR)
                                        continue;
                                if (w <= 0)
                                        return ak_error_errno(err, w < 0 ? -errno : -EIO, "write the disk at %llu",
                                                              (unsigned long long)(in->written + done));
                                done += (size_t)w;
                        }
                }
                p += step;
                n -= step;
                in->written += step;
        }
        return 0;
}

static int check_digest(struct crypto_sha256 *h, const char *want, const char *what, struct ak_error *err)
{
        uint8_t d[CRYPTO_SHA256_LEN];
        char hex[CRYPTO_SHA256_HEX_LEN + 1];
        crypto_sha256_final(h, d);
        hex_encode(d, sizeof(d), hex, sizeof(hex));
        if (want && (strncmp(want, "sha256:", 7) != 0 || strcmp(want + 7, hex) != 0))
                return ak_error_set(err, -EBADMSG, "%s hashes to sha256:%s, not %s (corrupt or tampered: pull the "
                                    "image again)", what, hex, want);
        return 0;
}

/* The stream's data into in->out; then the rest of layer_fd, hashed. */
static int decompress(struct install *in, struct archive *a, struct ak_error *err)
{
        struct archive_entry *e;
        int r;
        if (archive_read_open(a, in, NULL, read_cb, NULL) != ARCHIVE_OK ||
            archive_read_next_header(a, &e) != ARCHIVE_OK)
                return ak_error_set(err, -EBADMSG, "the disk layer is not a zstd stream: %s",
                                    in->read_errno ? strerror(in->read_errno) : archive_error_string(a));
        if (archive_filter_count(a) != 2 || archive_filter_code(a, 0) != ARCHIVE_FILTER_ZSTD)
                return ak_error_set(err, -EBADMSG, "the disk layer is not zstd-compressed (found %s)",
                                    archive_filter_name(a, 0));
        for (;;) {
                const void *p;
                size_t n;
                la_int64_t off;
                int ar = archive_read_data_block(a, &p, &n, &off);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar != ARCHIVE_OK)
                        return ak_error_set(err, in->read_errno ? -EIO : -EBADMSG,
                                            "the disk layer is corrupt or truncated after %llu disk bytes: %s",
                                            (unsigned long long)in->written,
                                            in->read_errno ? strerror(in->read_errno) : archive_error_string(a));
                if ((uint64_t)off != in->written)
                        return ak_error_set(err, -EBADMSG, "the disk layer's data jumps to offset %lld",
                                            (long long)off);
                if ((r = put(in, p, n, err)) < 0)
                        return r;
        }
        /* What follows the stream (nothing, in a layer ak made) still counts
         * for the layer's digest. */
        const void *rest;
        la_ssize_t n;
        while ((n = read_cb(a, in, &rest)) > 0)
                ;
        if (n < 0)
                return ak_error_errno(err, -in->read_errno, "read the disk layer");
        return 0;
}

int image_disk_install(int layer_fd, const struct image_disk_expect *x, int out_fd, uint64_t *ret_size,
                       struct ak_error *err)
{
        struct install in = { .in = layer_fd, .out = out_fd, .x = x };
        struct archive *a = NULL;
        int r;
        if (!(in.buf = malloc(READ_CHUNK)) || crypto_sha256_new(&in.packed) < 0 || crypto_sha256_new(&in.raw) < 0 ||
            !(a = archive_read_new())) {
                r = ak_error_set(err, -ENOMEM, "install a disk: out of memory (or no SHA-256)");
                goto out;
        }
        archive_read_support_filter_zstd(a);
        archive_read_support_format_raw(a);
        if ((r = decompress(&in, a, err)) < 0)
                goto out;
        if (x->layer_size != UINT64_MAX && in.read != x->layer_size) {
                r = ak_error_set(err, -EBADMSG, "the disk layer has %llu bytes, its descriptor says %llu (truncated "
                                 "or corrupt: pull the image again)", (unsigned long long)in.read,
                                 (unsigned long long)x->layer_size);
                goto out;
        }
        if ((r = check_digest(in.packed, x->layer_digest, "the disk layer", err)) < 0 ||
            (r = check_digest(in.raw, x->diff_id, "the uncompressed disk", err)) < 0)
                goto out;
        if (x->disk_size && in.written != x->disk_size) {
                r = ak_error_set(err, -EBADMSG, "the disk has %llu bytes, its config says %llu (truncated)",
                                 (unsigned long long)in.written, (unsigned long long)x->disk_size);
                goto out;
        }
        if (in.written == 0) {
                r = ak_error_set(err, -EBADMSG, "the disk layer holds an empty disk");
                goto out;
        }
        if (ftruncate(out_fd, (off_t)in.written) < 0 || fsync(out_fd) < 0) {
                r = ak_error_errno(err, -errno, "size and sync the disk (%llu bytes)", (unsigned long long)in.written);
                goto out;
        }
        if (ret_size)
                *ret_size = in.written;
        r = 0;
out:
        if (a)
                archive_read_free(a);
        crypto_sha256_free(in.packed);
        crypto_sha256_free(in.raw);
        free(in.buf);
        return r;
}
