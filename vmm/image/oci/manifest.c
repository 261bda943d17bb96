#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json/json.h"
#include "vmm/image/oci/manifest.h"

static int kind_of(const char *mt, enum oci_manifest_kind *ret)
{
        if (strcmp(mt, OCI_MT_INDEX) == 0 || strcmp(mt, OCI_MT_DOCKER_LIST) == 0)
                *ret = OCI_KIND_INDEX;
        else if (strcmp(mt, OCI_MT_MANIFEST) == 0 || strcmp(mt, OCI_MT_DOCKER_MANIFEST) == 0)
                *ret = OCI_KIND_MANIFEST;
        else
                return -ENOTSUP;
        return 0;
}

/* An optional string member into dst (size bytes); -EINVAL when of another
 * type, too long or holding NUL. */
static int opt_string(const struct json_value *o, const char *name, char *dst, size_t size, const char *where,
                      struct ak_error *err)
{
        const struct json_value *m = json_object_get(o, name);
        dst[0] = '\0';
        if (!m)
                return 0;
        size_t n;
        const char *s = json_value_type(m) == JSON_STRING ? json_string(m, &n) : NULL;
        if (!s || n >= size || memchr(s, '\0', n))
                return ak_error_set(err, -EINVAL, "%s.%s: not a string of at most %zu bytes", where, name, size - 1);
        memcpy(dst, s, n + 1);
        return 0;
}

static int parse_platform(const struct json_value *p, struct oci_descriptor *d, const char *where,
                          struct ak_error *err)
{
        char w[96];
        if (!p)
                return 0;
        snprintf(w, sizeof(w), "%s.platform", where);
        if (json_value_type(p) != JSON_OBJECT)
                return ak_error_set(err, -EINVAL, "%s: not an object", w);
        int r = opt_string(p, "os", d->os, sizeof(d->os), w, err);
        if (r >= 0)
                r = opt_string(p, "architecture", d->architecture, sizeof(d->architecture), w, err);
        if (r >= 0)
                r = opt_string(p, "variant", d->variant, sizeof(d->variant), w, err);
        return r;
}

static int parse_descriptor(const struct json_value *v, struct oci_descriptor *d, const char *where,
                            struct ak_error *err)
{
        if (json_value_type(v) != JSON_OBJECT)
                return ak_error_set(err, -EINVAL, "%s: not an object", where);
        memset(d, 0, sizeof(*d));
        int r = opt_string(v, "mediaType", d->media_type, sizeof(d->media_type), where, err);
        if (r < 0)
                return r;
        if (!d->media_type[0])
                return ak_error_set(err, -EINVAL, "%s: no mediaType", where);
        const struct json_value *dg = json_object_get(v, "digest");
        size_t n;
        const char *s = dg && json_value_type(dg) == JSON_STRING ? json_string(dg, &n) : NULL;
        if (!s || oci_ref_digest_check(s, n) < 0)
                return ak_error_set(err, -EINVAL, "%s.digest: %s", where,
                                    s ? "not sha256: and 64 lowercase hex digits" : "missing or not a string");
        memcpy(d->digest, s, n + 1);
        const struct json_value *sz = json_object_get(v, "size");
        uint64_t size;
        if (!sz || json_number_u64(sz, &size) < 0 || size > OCI_BLOB_MAX)
                return ak_error_set(err, -EINVAL, "%s.size: missing, not an integer, or above %llu", where,
                                    (unsigned long long)OCI_BLOB_MAX);
        d->size = size;
        return parse_platform(json_object_get(v, "platform"), d, where, err);
}

static int parse_items(const struct json_value *root, struct oci_manifest *m, const char *member, size_t max,
                       struct ak_error *err)
{
        const struct json_value *a = json_object_get(root, member);
        if (!a || json_value_type(a) != JSON_ARRAY)
                return ak_error_set(err, -EINVAL, "manifest: \"%s\" missing or not an array", member);
        size_t n = json_array_size(a);
        if (n > max)
                return ak_error_set(err, -E2BIG, "manifest: %zu %s, more than %zu", n, member, max);
        m->items = calloc(n ? n : 1, sizeof(*m->items));
        if (!m->items)
                return ak_error_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                char where[64];
                snprintf(where, sizeof(where), "%s[%zu]", member, i);
                int r = parse_descriptor(json_array_get(a, i), &m->items[i], where, err);
                if (r < 0)
                        return r;
        }
        m->n_items = n;
        return 0;
}

static int parse_tree(const struct json_value *root, const char *content_type, struct oci_manifest *m,
                      struct ak_error *err)
{
        if (json_value_type(root) != JSON_OBJECT)
                return ak_error_set(err, -EINVAL, "manifest: not a JSON object");
        const struct json_value *sv = json_object_get(root, "schemaVersion");
        uint64_t version;
        if (!sv || json_number_u64(sv, &version) < 0)
                return ak_error_set(err, -EINVAL, "manifest: schemaVersion missing or not an integer");
        if (version != 2)
                return ak_error_set(err, -ENOTSUP, "manifest: schemaVersion %llu (only 2 is supported; schema 1 "
                                    "images are deprecated: push the image again with a current client)",
                                    (unsigned long long)version);
        char mt[OCI_MEDIA_TYPE_MAX + 1], ct[OCI_MEDIA_TYPE_MAX + 1] = "";
        int r = opt_string(root, "mediaType", mt, sizeof(mt), "manifest", err);
        if (r < 0)
                return r;
        if (content_type) {
                size_t n = strcspn(content_type, ";");
                while (n > 0 && (content_type[n - 1] == ' ' || content_type[n - 1] == '\t'))
                        n--;
                snprintf(ct, sizeof(ct), "%.*s", (int)n, content_type);
        }
        enum oci_manifest_kind k_mt, k_ct;
        bool mt_known = mt[0] && kind_of(mt, &k_mt) == 0, ct_known = ct[0] && kind_of(ct, &k_ct) == 0;
        if (mt[0] && !mt_known)
                return ak_error_set(err, -ENOTSUP, "manifest: unsupported mediaType \"%s\"", mt);
        if (!mt_known && !ct_known)
                return ak_error_set(err, -ENOTSUP, "manifest: neither a mediaType nor a known Content-Type (\"%s\")",
                                    ct);
        if (mt_known && ct_known && k_mt != k_ct)
                return ak_error_set(err, -EINVAL, "manifest: mediaType \"%s\" disagrees with Content-Type \"%s\"", mt,
                                    ct);
        m->kind = mt_known ? k_mt : k_ct;
        strcpy(m->media_type, mt_known ? mt : ct);
        if (m->kind == OCI_KIND_INDEX)
                return parse_items(root, m, "manifests", OCI_MAX_INDEX_ENTRIES, err);
        const struct json_value *cfg = json_object_get(root, "config");
        if (!cfg)
                return ak_error_set(err, -EINVAL, "manifest: no \"config\"");
        r = parse_descriptor(cfg, &m->config, "config", err);
        if (r < 0)
                return r;
        return parse_items(root, m, "layers", OCI_MAX_LAYERS, err);
}

int oci_manifest_decode(const char *json, size_t len, const char *content_type, struct oci_manifest **ret,
                       struct ak_error *err)
{
        if (len > OCI_MANIFEST_MAX)
                return ak_error_set(err, -E2BIG, "manifest: %zu bytes, more than %zu", len, OCI_MANIFEST_MAX);
        struct json_value *root = NULL;
        struct json_error jerr;
        int r = json_parse(json, len, &root, &jerr);
        if (r < 0)
                return ak_error_set(err, r == -ENOMEM ? r : -EINVAL, "manifest: not JSON: %s", jerr.message);
        struct oci_manifest *m = calloc(1, sizeof(*m));
        if (!m) {
                json_value_free(root);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        r = parse_tree(root, content_type, m, err);
        json_value_free(root);
        if (r < 0) {
                oci_manifest_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

void oci_manifest_free(struct oci_manifest *m)
{
        if (!m)
                return;
        free(m->items);
        free(m);
}

int oci_index_select(const struct oci_manifest *index, const char *os, const char *arch, struct ak_error *err)
{
        int best = -1;
        for (size_t i = 0; i < index->n_items; i++) {
                const struct oci_descriptor *d = &index->items[i];
                if (strcmp(d->os, os) != 0 || strcmp(d->architecture, arch) != 0)
                        continue;
                if (best < 0 || (index->items[best].variant[0] && !d->variant[0]))
                        best = (int)i;
        }
        if (best >= 0)
                return best;
        char have[512] = "";
        size_t used = 0;
        for (size_t i = 0; i < index->n_items && used + 80 < sizeof(have); i++) {
                const struct oci_descriptor *d = &index->items[i];
                used += (size_t)snprintf(have + used, sizeof(have) - used, "%s%s/%s%s%s", i ? ", " : "",
                                         d->os[0] ? d->os : "?", d->architecture[0] ? d->architecture : "?",
                                         d->variant[0] ? "/" : "", d->variant);
        }
        return ak_error_set(err, -ENOENT, "the image index has no %s/%s manifest (it has: %s)", os, arch,
                            index->n_items ? have : "none");
}
