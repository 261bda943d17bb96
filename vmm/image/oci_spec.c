/* Strict readers of the OCI image spec's JSON documents (image-spec v1.1:
 * image-layout.md, image-index.md, manifest.md, config.md) and of `docker
 * save`'s manifest.json. Unknown members are ignored, as the spec asks;
 * members ak relies on must be there with the right type. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/base/parse.h"
#include "lib/json/json.h"
#include "vmm/image/oci_spec.h"

static int parse_doc(const char *what, const char *text, size_t len, struct json_value **ret,
                     struct ak_error *err)
{
        struct json_error je = { 0 };
        if (len > OCI_DOC_MAX)
                return ak_error_set(err, -E2BIG, "%s: %zu bytes, more than the %zu a document may have", what, len,
                                    OCI_DOC_MAX);
        int r = json_parse(text, len, ret, &je);
        if (r == -ENOMEM)
                return ak_error_set(err, r, "%s: out of memory", what);
        if (r < 0)
                return ak_error_set(err, -EINVAL, "%s: not JSON: %s", what, je.message);
        if (json_value_type(*ret) != JSON_OBJECT && json_value_type(*ret) != JSON_ARRAY) {
                json_value_free(*ret);
                return ak_error_set(err, -EINVAL, "%s: not a JSON object", what);
        }
        return 0;
}

int oci_digest_check(const char *d)
{
        if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != OCI_DIGEST_LEN)
                return -EINVAL;
        return strspn(d + 7, "0123456789abcdef") == 64 ? 0 : -EINVAL;
}

int oci_layer_compression(const char *mt, enum oci_compression *ret)
{
        static const struct {
                const char *type;
                enum oci_compression c;
        } known[] = {
                { "application/vnd.oci.image.layer.v1.tar", OCI_TAR },
                { "application/vnd.oci.image.layer.v1.tar+gzip", OCI_TAR_GZIP },
                { "application/vnd.oci.image.layer.v1.tar+zstd", OCI_TAR_ZSTD },
                { "application/vnd.docker.image.rootfs.diff.tar", OCI_TAR },
                { "application/vnd.docker.image.rootfs.diff.tar.gzip", OCI_TAR_GZIP },
                { "application/vnd.docker.image.rootfs.diff.tar.zstd", OCI_TAR_ZSTD },
        };
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
                if (strcmp(mt, known[i].type) == 0) {
                        *ret = known[i].c;
                        return 0;
                }
        return -ENOTSUP;
}

static int descriptor_parse(const char *what, const struct json_value *v, struct oci_descriptor *ret,
                            struct ak_error *err)
{
        struct oci_descriptor d = { 0 };
        const struct json_value *size;

        if (json_value_type(v) != JSON_OBJECT)
                return ak_error_set(err, -EINVAL, "%s: a descriptor must be an object", what);
        if (json_object_copy_string(v, "mediaType", d.media_type, sizeof(d.media_type)) < 0)
                return ak_error_set(err, -EINVAL, "%s: mediaType missing, not a string or too long", what);
        if (json_object_copy_string(v, "digest", d.digest, sizeof(d.digest)) < 0 || oci_digest_check(d.digest) < 0)
                return ak_error_set(err, -EINVAL, "%s: digest missing or not sha256:<64 hex> (ak verifies sha256 only)",
                                    what);
        size = json_object_get(v, "size");
        if (!size || json_value_type(size) != JSON_NUMBER || json_number_u64(size, &d.size) < 0 ||
            d.size > ((uint64_t)1 << 50))
                return ak_error_set(err, -EINVAL, "%s: size missing or not a non-negative integer", what);
        *ret = d;
        return 0;
}

/* linux/amd64, or no platform named at all. */
static bool platform_ok(const struct json_value *e)
{
        const struct json_value *p = json_object_get(e, "platform");
        char os[32], arch[32];
        if (!p)
                return true;
        if (json_value_type(p) != JSON_OBJECT || json_object_copy_string(p, "os", os, sizeof(os)) < 0 ||
            json_object_copy_string(p, "architecture", arch, sizeof(arch)) < 0)
                return false;
        return strcmp(os, "linux") == 0 && strcmp(arch, "amd64") == 0;
}

static bool is_manifest_type(const char *mt)
{
        return strcmp(mt, OCI_MT_MANIFEST) == 0 || strcmp(mt, DOCKER_MT_MANIFEST) == 0 ||
               strcmp(mt, OCI_MT_INDEX) == 0 || strcmp(mt, DOCKER_MT_LIST) == 0;
}

int oci_index_find(const char *text, size_t len, const char *ref, struct oci_descriptor *ret, struct ak_error *err)
{
        struct json_value *v = NULL;
        struct oci_descriptor found = { 0 };
        char names[512] = "";
        size_t n_found = 0, used = 0;
        int r = parse_doc("image index", text, len, &v, err);
        if (r < 0)
                return r;
        const struct json_value *sv = json_object_get(v, "schemaVersion"), *m = json_object_get(v, "manifests");
        uint64_t schema;
        if (json_value_type(v) != JSON_OBJECT || !sv || json_number_u64(sv, &schema) < 0 || schema != 2) {
                r = ak_error_set(err, -EINVAL, "image index: schemaVersion must be 2");
                goto out;
        }
        if (!m || json_value_type(m) != JSON_ARRAY) {
                r = ak_error_set(err, -EINVAL, "image index: manifests missing or not an array");
                goto out;
        }
        if (json_array_size(m) > 1024) {
                r = ak_error_set(err, -E2BIG, "image index: %zu manifests (at most 1024)", json_array_size(m));
                goto out;
        }
        for (size_t i = 0; i < json_array_size(m); i++) {
                const struct json_value *e = json_array_get(m, i);
                struct oci_descriptor d;
                char name[256] = "";
                if ((r = descriptor_parse("image index: manifests[]", e, &d, err)) < 0)
                        goto out;
                if (!is_manifest_type(d.media_type) || !platform_ok(e))
                        continue;
                const struct json_value *ann = json_object_get(e, "annotations");
                if (ann && json_value_type(ann) == JSON_OBJECT)
                        (void)json_object_copy_string(ann, "org.opencontainers.image.ref.name", name, sizeof(name));
                if (name[0] && used < sizeof(names) - 1) {
                        int k = snprintf(names + used, sizeof(names) - used, "%s%s", used ? ", " : "", name);
                        used = k > 0 ? used + (size_t)k : used;
                        if (used >= sizeof(names))
                                used = sizeof(names) - 1;
                }
                bool match = !ref || (strncmp(ref, "sha256:", 7) == 0 ? strcmp(ref, d.digest) == 0
                                                                        : strcmp(ref, name) == 0);
                if (match && n_found++ == 0)
                        found = d;
        }
        if (n_found == 0) {
                r = ak_error_set(err, -ENOENT, "image index: no linux/amd64 manifest %s%s (tags here: %s)",
                                 ref ? "named " : "", ref ? ref : "", names[0] ? names : "none");
                goto out;
        }
        if (n_found > 1 && (!ref || strncmp(ref, "sha256:", 7) != 0)) {
                r = ak_error_set(err, -EINVAL, "image index: %zu manifests match%s%s; name one (tags here: %s)",
                                 n_found, ref ? " " : "", ref ? ref : "", names[0] ? names : "none");
                goto out;
        }
        *ret = found;
        r = 0;
out:
        json_value_free(v);
        return r;
}

int oci_manifest_parse(const char *text, size_t len, struct oci_manifest *ret, struct ak_error *err)
{
        struct json_value *v = NULL;
        int r = parse_doc("image manifest", text, len, &v, err);
        if (r < 0)
                return r;
        const struct json_value *sv = json_object_get(v, "schemaVersion"), *c = json_object_get(v, "config"),
                                *l = json_object_get(v, "layers");
        uint64_t schema;
        if (json_value_type(v) != JSON_OBJECT || !sv || json_number_u64(sv, &schema) < 0 || schema != 2) {
                r = ak_error_set(err, -EINVAL, "image manifest: schemaVersion must be 2");
                goto out;
        }
        if (!c || !l || json_value_type(l) != JSON_ARRAY) {
                r = ak_error_set(err, -EINVAL, "image manifest: config or layers missing");
                goto out;
        }
        if (json_array_size(l) > OCI_MAX_LAYERS) {
                r = ak_error_set(err, -E2BIG, "image manifest: %zu layers (ak applies at most %d)", json_array_size(l),
                                 OCI_MAX_LAYERS);
                goto out;
        }
        /* The result is large: fill it in place, and only on success is it
         * the caller's (a partly filled one is wiped). */
        memset(ret, 0, sizeof(*ret));
        if ((r = descriptor_parse("image manifest: config", c, &ret->config, err)) < 0)
                goto fail;
        if (strcmp(ret->config.media_type, OCI_MT_CONFIG) != 0 && strcmp(ret->config.media_type, DOCKER_MT_CONFIG) != 0) {
                r = ak_error_set(err, -ENOTSUP, "image manifest: config media type %s is not an image config",
                                 ret->config.media_type);
                goto fail;
        }
        for (size_t i = 0; i < json_array_size(l); i++) {
                enum oci_compression comp;
                if ((r = descriptor_parse("image manifest: layers[]", json_array_get(l, i), &ret->layers[i], err)) < 0)
                        goto fail;
                if (strcmp(ret->layers[i].media_type, OCI_MT_AK_DISK) == 0 && json_array_size(l) != 1) {
                        r = ak_error_set(err, -EINVAL, "image manifest: a disk layer (%s) must be the only layer; "
                                         "this manifest has %zu", OCI_MT_AK_DISK, json_array_size(l));
                        goto fail;
                }
                if (strcmp(ret->layers[i].media_type, OCI_MT_AK_DISK) != 0 &&
                    oci_layer_compression(ret->layers[i].media_type, &comp) < 0) {
                        r = ak_error_set(err, -ENOTSUP,
                                         "image manifest: layer %zu has media type %s (ak applies tar, tar+gzip and "
                                         "tar+zstd layers, and installs " OCI_MT_AK_DISK " disks)", i,
                                         ret->layers[i].media_type);
                        goto fail;
                }
                ret->n_layers++;
        }
        r = 0;
        goto out;
fail:
        memset(ret, 0, sizeof(*ret));
out:
        json_value_free(v);
        return r;
}

static int config_strings(const struct json_value *a, const char *what, char *dst, size_t size, struct ak_error *err)
{
        size_t used = 0;
        if (json_value_type(a) != JSON_ARRAY)
                return ak_error_set(err, -EINVAL, "image config: %s is not an array", what);
        for (size_t i = 0; i < json_array_size(a); i++) {
                const struct json_value *e = json_array_get(a, i);
                size_t n;
                if (json_value_type(e) != JSON_STRING)
                        return ak_error_set(err, -EINVAL, "image config: %s[%zu] is not a string", what, i);
                const char *s = json_string(e, &n);
                if (memchr(s, '\n', n) || memchr(s, 0, n) || !memchr(s, '=', n))
                        return ak_error_set(err, -EINVAL, "image config: %s[%zu] is not NAME=VALUE on one line", what, i);
                if (used + n + 2 > size)
                        return ak_error_set(err, -E2BIG, "image config: %s longer than %zu bytes", what, size);
                memcpy(dst + used, s, n);
                used += n;
                dst[used++] = '\n';
                dst[used] = 0;
        }
        return 0;
}

/* Appends the strings of an Entrypoint or Cmd array (null: none). */
static int command_strings(const struct json_value *o, const char *key, struct oci_config *c, struct ak_error *err)
{
        const struct json_value *a = json_object_get(o, key);
        if (!a || json_value_type(a) == JSON_NULL)
                return 0;
        if (json_value_type(a) != JSON_ARRAY)
                return ak_error_set(err, -EINVAL, "image config: config.%s is not an array", key);
        for (size_t i = 0; i < json_array_size(a); i++) {
                const struct json_value *e = json_array_get(a, i);
                size_t n;
                const char *s = json_value_type(e) == JSON_STRING ? json_string(e, &n) : NULL;
                if (!s || memchr(s, 0, n))
                        return ak_error_set(err, -EINVAL, "image config: config.%s[%zu] is not a string", key, i);
                if (c->command_len + n + 1 > sizeof(c->command))
                        return ak_error_set(err, -E2BIG, "image config: Entrypoint and Cmd longer than %zu bytes",
                                            sizeof(c->command));
                memcpy(c->command + c->command_len, s, n);
                c->command_len += n;
                c->command[c->command_len++] = 0;
                c->n_command++;
        }
        return 0;
}

static int optional_string(const struct json_value *o, const char *key, char *dst, size_t size, struct ak_error *err)
{
        const struct json_value *m = json_object_get(o, key);
        if (!m || json_value_type(m) == JSON_NULL)
                return 0;
        if (json_object_copy_string(o, key, dst, size) < 0)
                return ak_error_set(err, -EINVAL, "image config: config.%s is not a string (or longer than %zu)", key,
                                    size - 1);
        return 0;
}

/* "UID:GID", each 1..10 decimal digits below 2^32. */
static bool user_ids_valid(const char *s)
{
        for (int part = 0; part < 2; part++) {
                size_t n = strspn(s, "0123456789");
                unsigned long long v = 0;
                if (n == 0 || n > 10)
                        return false;
                for (size_t i = 0; i < n; i++)
                        v = v * 10 + (unsigned)(s[i] - '0');
                if (v > 0xffffffffULL)
                        return false;
                s += n;
                if (part == 0 && *s++ != ':')
                        return false;
        }
        return *s == 0;
}

/* config.Labels' OCI_LABEL_DISK_* (other labels are not read). */
static int disk_labels(const struct json_value *cfg, struct oci_config *ret, struct ak_error *err)
{
        const struct json_value *labels = json_object_get(cfg, "Labels");
        char size[24] = "";
        if (!labels || json_value_type(labels) == JSON_NULL)
                return 0;
        if (json_value_type(labels) != JSON_OBJECT)
                return ak_error_set(err, -EINVAL, "image config: config.Labels is not an object");
        int r;
        if ((r = optional_string(labels, OCI_LABEL_DISK_SIZE, size, sizeof(size), err)) < 0 ||
            (r = optional_string(labels, OCI_LABEL_DISK_SOURCE, ret->disk_source, sizeof(ret->disk_source), err)) < 0 ||
            (r = optional_string(labels, OCI_LABEL_DISK_SANDBOX, ret->disk_sandbox, sizeof(ret->disk_sandbox), err)) < 0 ||
            (r = optional_string(labels, OCI_LABEL_DISK_USER_IDS, ret->disk_user_ids, sizeof(ret->disk_user_ids), err)) < 0)
                return r;
        if (ret->disk_user_ids[0] && !user_ids_valid(ret->disk_user_ids))
                return ak_error_set(err, -EINVAL, "image config: label %s is \"%s\", not UID:GID", OCI_LABEL_DISK_USER_IDS,
                                    ret->disk_user_ids);
        if (size[0] && ak_parse_u64(size, 1, OCI_DISK_MAX, &ret->disk_size) < 0)
                return ak_error_set(err, -EINVAL, "image config: label %s is \"%s\", not a disk size of 1..%llu bytes",
                                    OCI_LABEL_DISK_SIZE, size, (unsigned long long)OCI_DISK_MAX);
        return 0;
}

int oci_config_parse(const char *text, size_t len, struct oci_config *ret, struct ak_error *err)
{
        struct json_value *v = NULL;
        int r = parse_doc("image config", text, len, &v, err);
        if (r < 0)
                return r;
        memset(ret, 0, sizeof(*ret));
        const struct json_value *rootfs = json_object_get(v, "rootfs"), *ids, *cfg = json_object_get(v, "config");
        char type[16];
        if (json_value_type(v) != JSON_OBJECT ||
            json_object_copy_string(v, "architecture", ret->architecture, sizeof(ret->architecture)) < 0 ||
            json_object_copy_string(v, "os", ret->os, sizeof(ret->os)) < 0) {
                r = ak_error_set(err, -EINVAL, "image config: architecture or os missing");
                goto fail;
        }
        if (!rootfs || json_value_type(rootfs) != JSON_OBJECT ||
            json_object_copy_string(rootfs, "type", type, sizeof(type)) < 0 || strcmp(type, "layers") != 0 ||
            !(ids = json_object_get(rootfs, "diff_ids")) || json_value_type(ids) != JSON_ARRAY) {
                r = ak_error_set(err, -EINVAL, "image config: rootfs must be {\"type\": \"layers\", \"diff_ids\": [...]}");
                goto fail;
        }
        if (json_array_size(ids) > OCI_MAX_LAYERS) {
                r = ak_error_set(err, -E2BIG, "image config: %zu diff_ids (at most %d)", json_array_size(ids),
                                 OCI_MAX_LAYERS);
                goto fail;
        }
        for (size_t i = 0; i < json_array_size(ids); i++) {
                const struct json_value *e = json_array_get(ids, i);
                size_t n;
                const char *s = json_value_type(e) == JSON_STRING ? json_string(e, &n) : NULL;
                if (!s || n != OCI_DIGEST_LEN || oci_digest_check(s) < 0) {
                        r = ak_error_set(err, -EINVAL, "image config: rootfs.diff_ids[%zu] is not sha256:<64 hex>", i);
                        goto fail;
                }
                memcpy(ret->diff_ids[ret->n_diff_ids++], s, OCI_DIGEST_LEN + 1);
        }
        if (cfg && json_value_type(cfg) != JSON_NULL) {
                const struct json_value *env = json_object_get(cfg, "Env");
                if (json_value_type(cfg) != JSON_OBJECT) {
                        r = ak_error_set(err, -EINVAL, "image config: config is not an object");
                        goto fail;
                }
                if (env && json_value_type(env) != JSON_NULL &&
                    (r = config_strings(env, "config.Env", ret->env, sizeof(ret->env), err)) < 0)
                        goto fail;
                if ((r = optional_string(cfg, "WorkingDir", ret->working_dir, sizeof(ret->working_dir), err)) < 0 ||
                    (r = optional_string(cfg, "User", ret->user, sizeof(ret->user), err)) < 0 ||
                    (r = command_strings(cfg, "Entrypoint", ret, err)) < 0 ||
                    (r = command_strings(cfg, "Cmd", ret, err)) < 0 || (r = disk_labels(cfg, ret, err)) < 0)
                        goto fail;
        }
        json_value_free(v);
        return 0;
fail:
        memset(ret, 0, sizeof(*ret));
        json_value_free(v);
        return r;
}

/* A path inside the archive: relative, no "..", no empty parts. */
static int archive_path_check(const char *p)
{
        if (!*p || p[0] == '/')
                return -EINVAL;
        for (const char *s = p; *s;) {
                const char *e = strchr(s, '/');
                size_t n = e ? (size_t)(e - s) : strlen(s);
                if (n == 0 || (n == 2 && s[0] == '.' && s[1] == '.'))
                        return -EINVAL;
                s += n + (e ? 1 : 0);
        }
        return 0;
}

static int docker_entry(const struct json_value *e, struct oci_docker_entry *ret, struct ak_error *err)
{
        const struct json_value *l = json_object_get(e, "Layers");
        if (json_value_type(e) != JSON_OBJECT || json_object_copy_string(e, "Config", ret->config, sizeof(ret->config)) < 0 ||
            archive_path_check(ret->config) < 0)
                return ak_error_set(err, -EINVAL, "docker manifest.json: Config missing or not a relative path");
        if (!l || json_value_type(l) != JSON_ARRAY)
                return ak_error_set(err, -EINVAL, "docker manifest.json: Layers missing or not an array");
        if (json_array_size(l) > OCI_MAX_LAYERS)
                return ak_error_set(err, -E2BIG, "docker manifest.json: %zu layers (at most %d)", json_array_size(l),
                                    OCI_MAX_LAYERS);
        for (size_t i = 0; i < json_array_size(l); i++) {
                const struct json_value *p = json_array_get(l, i);
                size_t n;
                const char *s = json_value_type(p) == JSON_STRING ? json_string(p, &n) : NULL;
                if (!s || n > OCI_PATH_MAX || strlen(s) != n || archive_path_check(s) < 0)
                        return ak_error_set(err, -EINVAL, "docker manifest.json: Layers[%zu] is not a relative path", i);
                memcpy(ret->layers[ret->n_layers++], s, n + 1);
        }
        return 0;
}

static bool has_tag(const struct json_value *e, const char *tag, char *first, size_t size)
{
        const struct json_value *t = json_object_get(e, "RepoTags");
        bool found = false;
        if (!t || json_value_type(t) != JSON_ARRAY)
                return false;
        for (size_t i = 0; i < json_array_size(t); i++) {
                const struct json_value *s = json_array_get(t, i);
                if (json_value_type(s) != JSON_STRING)
                        continue;
                if (i == 0)
                        snprintf(first, size, "%s", json_string(s, NULL));
                if (tag && strcmp(json_string(s, NULL), tag) == 0)
                        found = true;
        }
        return found;
}

int oci_docker_manifest_parse(const char *text, size_t len, const char *tag, struct oci_docker_entry *ret,
                              struct ak_error *err)
{
        struct json_value *v = NULL;
        int r = parse_doc("docker manifest.json", text, len, &v, err);
        if (r < 0)
                return r;
        memset(ret, 0, sizeof(*ret));
        if (json_value_type(v) != JSON_ARRAY || json_array_size(v) == 0) {
                r = ak_error_set(err, -EINVAL, "docker manifest.json: not a non-empty array");
                goto out;
        }
        const struct json_value *pick = NULL;
        char first[256] = "";
        if (!tag) {
                if (json_array_size(v) != 1) {
                        r = ak_error_set(err, -EINVAL, "docker archive holds %zu images: name one by tag",
                                         json_array_size(v));
                        goto out;
                }
                pick = json_array_get(v, 0);
                (void)has_tag(pick, NULL, first, sizeof(first));
        } else {
                for (size_t i = 0; i < json_array_size(v) && !pick; i++)
                        if (has_tag(json_array_get(v, i), tag, first, sizeof(first)))
                                pick = json_array_get(v, i);
                if (!pick) {
                        r = ak_error_set(err, -ENOENT, "docker archive has no image tagged %s", tag);
                        goto out;
                }
                snprintf(first, sizeof(first), "%s", tag);
        }
        if ((r = docker_entry(pick, ret, err)) < 0)
                goto out;
        snprintf(ret->tag, sizeof(ret->tag), "%s", first);
        r = 0;
out:
        if (r < 0)
                memset(ret, 0, sizeof(*ret));
        json_value_free(v);
        return r;
}
