/* index.json of the pull cache: read, replace one reference, write back. */
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
#include "lib/base/io.h"
#include "lib/base/pathfmt.h"
#include "lib/json/json.h"
#include "lib/json/writer.h"
#include "vmm/image/oci/layout.h"

#define INDEX_MAX ((size_t)16 << 20)

static const char *entry_ref_name(const struct json_value *e)
{
        const struct json_value *a = json_value_type(e) == JSON_OBJECT ? json_object_get(e, "annotations") : NULL;
        const struct json_value *n = a && json_value_type(a) == JSON_OBJECT ? json_object_get(a, OCI_ANNOTATION_REF_NAME)
                                                                           : NULL;
        return n && json_value_type(n) == JSON_STRING ? json_string(n, NULL) : NULL;
}

/* index.json parsed; its "manifests" array in *ret_manifests. */
static int index_read(struct oci_layout *l, struct json_value **ret, const struct json_value **ret_manifests,
                      struct ak_error *err)
{
        char p[PATH_MAX];
        pathfmt(p, sizeof(p), "%s/index.json", oci_layout_dir(l));
        _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return ak_error_errno(err, -errno, "open %s", p);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "stat %s", p);
        if ((size_t)st.st_size > INDEX_MAX)
                return ak_error_set(err, -E2BIG, "%s: larger than %zu bytes", p, INDEX_MAX);
        _cleanup_free_ char *text = malloc((size_t)st.st_size + 1);
        if (!text)
                return ak_error_set(err, -ENOMEM, "out of memory");
        ssize_t n = ak_read_full(fd, text, (size_t)st.st_size);
        if (n < 0)
                return ak_error_errno(err, (int)n, "read %s", p);
        struct json_value *v = NULL;
        struct json_error jerr;
        if (json_parse(text, (size_t)n, &v, &jerr) < 0)
                return ak_error_set(err, -EINVAL, "%s: not JSON: %s (remove the file to start the cache over)", p,
                                    jerr.message);
        const struct json_value *m = json_value_type(v) == JSON_OBJECT ? json_object_get(v, "manifests") : NULL;
        if (!m || json_value_type(m) != JSON_ARRAY) {
                json_value_free(v);
                return ak_error_set(err, -EINVAL, "%s: no \"manifests\" array", p);
        }
        *ret = v;
        *ret_manifests = m;
        return 0;
}

int oci_layout_lock(struct oci_layout *l, int *ret_fd, struct ak_error *err)
{
        char p[PATH_MAX];
        pathfmt(p, sizeof(p), "%s/index.json.lock", oci_layout_dir(l));
        int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return ak_error_errno(err, -errno, "open %s", p);
        while (flock(fd, LOCK_EX) < 0) {
                if (errno != EINTR) {
                        int r = ak_error_errno(err, -errno, "lock %s", p);
                        close(fd);
                        return r;
                }
        }
        *ret_fd = fd;
        return 0;
}

static void write_entry(struct json_writer *w, const struct oci_descriptor *d, const char *ref_name)
{
        json_writer_begin_object(w);
        json_writer_key(w, "mediaType", 9);
        json_writer_string(w, d->media_type, strlen(d->media_type));
        json_writer_key(w, "digest", 6);
        json_writer_string(w, d->digest, strlen(d->digest));
        json_writer_key(w, "size", 4);
        json_writer_u64(w, d->size);
        json_writer_key(w, "annotations", 11);
        json_writer_begin_object(w);
        json_writer_key(w, OCI_ANNOTATION_REF_NAME, strlen(OCI_ANNOTATION_REF_NAME));
        json_writer_string(w, ref_name, strlen(ref_name));
        json_writer_end_object(w);
        json_writer_end_object(w);
}

static int write_index(struct oci_layout *l, const char *data, size_t len, struct ak_error *err)
{
        char p[PATH_MAX], tmp[PATH_MAX + 8];
        pathfmt(p, sizeof(p), "%s/index.json", oci_layout_dir(l));
        pathfmt(tmp, sizeof(tmp), "%s.tmp", p);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return ak_error_errno(err, -errno, "create %s", tmp);
        int r = ak_write_full(fd, data, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        close(fd);
        if (r == 0 && rename(tmp, p) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return ak_error_errno(err, r, "write %s", p);
        }
        return 0;
}

int oci_layout_set_ref(struct oci_layout *l, const struct oci_descriptor *desc, const char *ref_name,
                       struct ak_error *err)
{
        _cleanup_close_ int lock = -1;
        int r = oci_layout_lock(l, &lock, err);
        if (r < 0)
                return r;
        struct json_value *root = NULL;
        const struct json_value *manifests = NULL;
        r = index_read(l, &root, &manifests, err);
        if (r < 0)
                return r;
        struct json_writer *w = NULL;
        r = json_writer_new(0, INDEX_MAX, &w);
        if (r < 0) {
                json_value_free(root);
                return ak_error_set(err, r, "out of memory");
        }
        json_writer_begin_object(w);
        json_writer_key(w, "schemaVersion", 13);
        json_writer_u64(w, 2);
        json_writer_key(w, "manifests", 9);
        json_writer_begin_array(w);
        for (size_t i = 0; i < json_array_size(manifests); i++) {
                const struct json_value *e = json_array_get(manifests, i);
                const char *name = entry_ref_name(e);
                if (!name || strcmp(name, ref_name) != 0)
                        json_writer_value(w, e);
        }
        write_entry(w, desc, ref_name);
        json_writer_end_array(w);
        json_writer_end_object(w);
        json_value_free(root);
        char *out = NULL;
        size_t out_len;
        r = json_writer_finish(w, &out, &out_len);
        json_writer_free(w);
        if (r < 0)
                return ak_error_set(err, r, "index.json: cannot serialize (%d)", r);
        r = write_index(l, out, out_len, err);
        free(out);
        return r;
}

/* An entry's descriptor: -EINVAL when malformed. */
static int entry_descriptor(const struct json_value *e, struct oci_descriptor *ret)
{
        const struct json_value *mt = json_value_type(e) == JSON_OBJECT ? json_object_get(e, "mediaType") : NULL;
        const struct json_value *dg = json_value_type(e) == JSON_OBJECT ? json_object_get(e, "digest") : NULL;
        const struct json_value *sz = json_value_type(e) == JSON_OBJECT ? json_object_get(e, "size") : NULL;
        struct oci_descriptor d = {};
        size_t n;
        if (!mt || !dg || !sz || json_value_type(mt) != JSON_STRING || json_value_type(dg) != JSON_STRING ||
            json_number_u64(sz, &d.size) < 0 || json_string(mt, &n) == NULL || n >= sizeof(d.media_type) ||
            oci_ref_digest_check(json_string(dg, NULL), strlen(json_string(dg, NULL))) < 0)
                return -EINVAL;
        strcpy(d.media_type, json_string(mt, NULL));
        strcpy(d.digest, json_string(dg, NULL));
        *ret = d;
        return 0;
}

int oci_layout_index_entries(struct oci_layout *l, struct oci_descriptor **ret, size_t *ret_n,
                             struct ak_error *err)
{
        struct json_value *root = NULL;
        const struct json_value *manifests = NULL;
        int r = index_read(l, &root, &manifests, err);
        if (r < 0)
                return r;
        size_t n = json_array_size(manifests);
        struct oci_descriptor *d = calloc(n ? n : 1, sizeof(*d));
        if (!d)
                r = ak_error_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; r == 0 && i < n; i++)
                if (entry_descriptor(json_array_get(manifests, i), &d[i]) < 0)
                        r = ak_error_set(err, -EINVAL, "%s/index.json: entry %zu is malformed", oci_layout_dir(l), i);
        json_value_free(root);
        if (r < 0) {
                free(d);
                return r;
        }
        *ret = d;
        *ret_n = n;
        return 0;
}

int oci_layout_get_ref(struct oci_layout *l, const char *ref_name, struct oci_descriptor *ret,
                       struct ak_error *err)
{
        struct json_value *root = NULL;
        const struct json_value *manifests = NULL;
        int r = index_read(l, &root, &manifests, err);
        if (r < 0)
                return r;
        r = ak_error_set(err, -ENOENT, "%s: not in %s/index.json", ref_name, oci_layout_dir(l));
        for (size_t i = 0; i < json_array_size(manifests); i++) {
                const struct json_value *e = json_array_get(manifests, i);
                const char *name = entry_ref_name(e);
                if (!name || strcmp(name, ref_name) != 0)
                        continue;
                struct oci_descriptor d;
                if (entry_descriptor(e, &d) < 0) {
                        r = ak_error_set(err, -EINVAL, "index.json: the entry for %s is malformed", ref_name);
                        break;
                }
                *ret = d;
                r = 0;
                break;
        }
        json_value_free(root);
        if (r == 0 && err)
                ak_error_clear(err);
        return r;
}
