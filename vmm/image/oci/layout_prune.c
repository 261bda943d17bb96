/* Garbage collection of the pull cache: the blobs index.json reaches are
 * kept, the rest (images replaced under their tag, or never recorded) go. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "vmm/image/oci/layout.h"

#define PRUNE_MAX_DEPTH 4 /* indexes in indexes, as the import allows */

struct keep {
        char (*d)[OCI_DIGEST_LEN + 1];
        size_t n, cap;
};

static int keep_add(struct keep *k, const char *digest)
{
        for (size_t i = 0; i < k->n; i++)
                if (strcmp(k->d[i], digest) == 0)
                        return 0;
        if (k->n == k->cap) {
                size_t cap = k->cap ? 2 * k->cap : 64;
                void *d = realloc(k->d, cap * sizeof(*k->d));
                if (!d)
                        return -ENOMEM;
                k->d = d;
                k->cap = cap;
        }
        snprintf(k->d[k->n++], sizeof(*k->d), "%s", digest);
        return 1;
}

static bool is_document(const char *media_type)
{
        return !media_type[0] || strcmp(media_type, OCI_MT_INDEX) == 0 || strcmp(media_type, OCI_MT_MANIFEST) == 0 ||
               strcmp(media_type, OCI_MT_DOCKER_LIST) == 0 || strcmp(media_type, OCI_MT_DOCKER_MANIFEST) == 0;
}

/* A stored index or manifest blob, decoded; -ENOENT when it is not stored. */
static int read_document(struct oci_layout *l, const struct oci_descriptor *d, struct oci_manifest **ret,
                         struct ak_error *err)
{
        char p[PATH_MAX];
        struct stat st;
        oci_layout_blob_path(l, d->digest, p, sizeof(p));
        _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno == ENOENT)
                return -ENOENT;
        if (fd < 0 || fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "open %s", p);
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > OCI_MANIFEST_MAX)
                return ak_error_set(err, -EINVAL, "%s: not a manifest of at most %zu bytes", p, OCI_MANIFEST_MAX);
        _cleanup_free_ char *text = malloc((size_t)st.st_size + 1);
        if (!text)
                return ak_error_set(err, -ENOMEM, "out of memory");
        ssize_t n = ak_read_full(fd, text, (size_t)st.st_size);
        if (n < 0)
                return ak_error_errno(err, (int)n, "read %s", p);
        int r = oci_manifest_decode(text, (size_t)n, d->media_type[0] ? d->media_type : NULL, ret, err);
        return r < 0 ? ak_error_wrap(err, "%s", d->digest) : 0;
}

/* Adds d and what it reaches to k. */
static int reach(struct oci_layout *l, const struct oci_descriptor *d, struct keep *k, int depth,
                 struct ak_error *err)
{
        struct oci_manifest *m = NULL;
        int r = keep_add(k, d->digest);
        if (r <= 0)
                return r < 0 ? ak_error_set(err, r, "out of memory") : 0;
        if (!is_document(d->media_type))
                return 0;
        if ((r = read_document(l, d, &m, err)) == -ENOENT)
                return 0; /* recorded but not stored: nothing below it to keep */
        if (r < 0)
                return r;
        if (m->kind == OCI_KIND_INDEX && depth == PRUNE_MAX_DEPTH)
                r = ak_error_set(err, -ELOOP, "%s: indexes nested deeper than %d", d->digest, PRUNE_MAX_DEPTH);
        if (r == 0 && m->kind == OCI_KIND_MANIFEST && (r = keep_add(k, m->config.digest)) < 0)
                r = ak_error_set(err, r, "out of memory");
        for (size_t i = 0; r >= 0 && i < m->n_items; i++) {
                if (m->kind == OCI_KIND_INDEX)
                        r = reach(l, &m->items[i], k, depth + 1, err);
                else if ((r = keep_add(k, m->items[i].digest)) < 0)
                        r = ak_error_set(err, r, "out of memory");
        }
        oci_manifest_free(m);
        return r < 0 ? r : 0;
}

static int cmp_digest(const void *a, const void *b)
{
        return strcmp(a, b);
}

static bool is_hex64(const char *s)
{
        return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* Removes the blobs not in k (sorted) older than grace_s. */
static int sweep(struct oci_layout *l, struct keep *k, int64_t grace_s, struct oci_prune_stats *st,
                 struct ak_error *err)
{
        char dir[PATH_MAX], digest[OCI_DIGEST_LEN + 1];
        if ((size_t)snprintf(dir, sizeof(dir), "%s/blobs/sha256", oci_layout_dir(l)) >= sizeof(dir))
                return ak_error_set(err, -ENAMETOOLONG, "%s: path too long", oci_layout_dir(l));
        DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : ak_error_errno(err, -errno, "open %s", dir);
        int64_t now = (int64_t)time(NULL);
        int r = 0;
        for (struct dirent *de; r == 0 && (de = readdir(d));) {
                struct stat sb;
                if (!is_hex64(de->d_name))
                        continue;
                memcpy(digest, "sha256:", 7);
                memcpy(digest + 7, de->d_name, 65);
                if (k->n && bsearch(digest, k->d, k->n, sizeof(*k->d), cmp_digest))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT)
                                r = ak_error_errno(err, -errno, "stat %s/%s", dir, de->d_name);
                        continue;
                }
                if (now - (int64_t)sb.st_mtime < grace_s) {
                        st->young++;
                        continue;
                }
                if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
                        r = ak_error_errno(err, -errno, "remove %s/%s", dir, de->d_name);
                        continue;
                }
                st->removed++;
                st->bytes += (uint64_t)sb.st_size;
        }
        closedir(d);
        return r;
}

int oci_layout_prune(struct oci_layout *l, int64_t grace_s, struct oci_prune_stats *ret, struct ak_error *err)
{
        struct oci_prune_stats st = { 0 };
        struct oci_descriptor *entries = NULL;
        struct keep k = { 0 };
        size_t n = 0;
        _cleanup_close_ int lock = -1;
        int r = oci_layout_lock(l, &lock, err);
        if (r < 0)
                return r;
        if ((r = oci_layout_index_entries(l, &entries, &n, err)) < 0)
                return r;
        for (size_t i = 0; r == 0 && i < n; i++)
                r = reach(l, &entries[i], &k, 0, err);
        free(entries);
        if (r < 0) {
                free(k.d);
                return ak_error_wrap(err, "prune %s: cannot tell what the cache's images use, nothing removed",
                                     oci_layout_dir(l));
        }
        if (k.n)
                qsort(k.d, k.n, sizeof(*k.d), cmp_digest);
        r = sweep(l, &k, grace_s, &st, err);
        free(k.d);
        if (ret)
                *ret = st;
        return r;
}
