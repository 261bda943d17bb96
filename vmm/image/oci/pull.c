#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "vmm/image/oci/auth.h"
#include "vmm/image/oci/layout.h"
#include "vmm/image/oci/manifest.h"
#include "vmm/image/oci/pull.h"

#define AUTHFILE_MAX ((size_t)4 << 20)

int oci_load_cred(const char *authfile, const char *domain, struct oci_cred *cred, bool *ret_found,
                  struct ak_error *err)
{
        char def[PATH_MAX];
        const char *path = authfile;
        *ret_found = false;
        if (!path) {
                const char *dc = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
                if (dc && dc[0])
                        snprintf(def, sizeof(def), "%s/config.json", dc);
                else if (home && home[0])
                        snprintf(def, sizeof(def), "%s/.docker/config.json", home);
                else
                        return 0;
                path = def;
        }
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && !authfile)
                return 0;
        if (fd < 0)
                return ak_error_errno(err, -errno, "auth file %s", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "auth file %s", path);
        if (!S_ISREG(st.st_mode) || (size_t)st.st_size > AUTHFILE_MAX)
                return ak_error_set(err, -EINVAL, "auth file %s: not a regular file of at most 4 MiB", path);
        _cleanup_free_ char *text = malloc((size_t)st.st_size + 1);
        if (!text)
                return ak_error_set(err, -ENOMEM, "out of memory");
        ssize_t n = ak_read_full(fd, text, (size_t)st.st_size);
        if (n < 0)
                return ak_error_errno(err, (int)n, "read auth file %s", path);
        int r = oci_authfile_lookup(text, (size_t)n, domain, cred, err);
        memset(text, 0, (size_t)n);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return ak_error_wrap(err, "%s", path);
        *ret_found = true;
        return 0;
}

/* Fetches and stores the manifest for reference; resolves an index. */
static int fetch_manifest(struct oci_registry *reg, struct oci_layout *l, const char *reference,
                          const struct oci_pull_options *o, struct oci_descriptor *ret_desc, struct oci_manifest **ret,
                          struct oci_pull_result *res, struct ak_error *err)
{
        const char *os = o->os ? o->os : "linux", *arch = o->arch ? o->arch : "amd64";
        char ref[OCI_DIGEST_LEN + OCI_REF_TAG_MAX + 2];
        snprintf(ref, sizeof(ref), "%s", reference);
        /* An index may name another index (nested): follow at most 2 levels. */
        for (int depth = 0; depth < 3; depth++) {
                char *body = NULL, ctype[256], digest[OCI_DIGEST_LEN + 1];
                size_t len;
                int r = oci_registry_get_manifest(reg, ref, &body, &len, ctype, digest, err);
                if (r < 0)
                        return r;
                struct oci_manifest *m = NULL;
                r = oci_manifest_decode(body, len, ctype, &m, err);
                if (r < 0) {
                        free(body);
                        return ak_error_wrap(err, "manifest %s", digest);
                }
                if (m->kind == OCI_KIND_MANIFEST) {
                        r = oci_layout_put_blob(l, digest, body, len, err);
                        free(body);
                        if (r < 0) {
                                oci_manifest_free(m);
                                return r;
                        }
                        memset(ret_desc, 0, sizeof(*ret_desc));
                        snprintf(ret_desc->media_type, sizeof(ret_desc->media_type), "%s", m->media_type);
                        strcpy(ret_desc->digest, digest);
                        ret_desc->size = len;
                        *ret = m;
                        return 0;
                }
                free(body);
                if (!res->index_digest[0])
                        strcpy(res->index_digest, digest);
                int i = oci_index_select(m, os, arch, err);
                if (i < 0) {
                        oci_manifest_free(m);
                        return ak_error_wrap(err, "index %s", digest);
                }
                snprintf(ref, sizeof(ref), "%s", m->items[i].digest);
                oci_manifest_free(m);
        }
        return ak_error_set(err, -ELOOP, "%s: image indexes nested more than 2 deep", reference);
}

static int fetch_blobs(struct oci_registry *reg, struct oci_layout *l, const struct oci_manifest *m,
                       struct oci_pull_result *res, struct ak_error *err)
{
        for (size_t i = 0; i <= m->n_items; i++) {
                const struct oci_descriptor *d = i == 0 ? &m->config : &m->items[i - 1];
                res->total_bytes += d->size;
                if (oci_layout_has_blob(l, d->digest, d->size))
                        continue;
                int r = oci_registry_fetch_blob(reg, l, d, err);
                if (r < 0 && i == 0)
                        return ak_error_wrap(err, "config");
                if (r < 0)
                        return ak_error_wrap(err, "layer %zu of %zu", i, m->n_items);
                res->fetched_bytes += d->size;
        }
        return 0;
}

int oci_pull(const char *layout_dir, const char *ref_text, const struct oci_pull_options *o,
             struct oci_pull_result *ret, struct ak_error *err)
{
        struct oci_ref ref;
        int r = oci_ref_parse(ref_text, strlen(ref_text), &ref, err);
        if (r < 0)
                return r;
        struct oci_pull_result res = {};
        oci_ref_format(&ref, res.ref);
        struct oci_cred *cred = calloc(1, sizeof(*cred));
        if (!cred)
                return ak_error_set(err, -ENOMEM, "out of memory");
        bool have_cred = false;
        r = oci_load_cred(o->authfile, ref.domain, cred, &have_cred, err);
        struct oci_layout *l = NULL;
        if (r == 0)
                r = oci_layout_open(layout_dir, &l, err);
        struct oci_registry_options ro = {
                .ca_file = o->ca_file, .insecure = o->insecure, .n_insecure = o->n_insecure,
                .cred = have_cred ? cred : NULL, .max_attempts = o->max_attempts, .backoff_ms = o->backoff_ms,
                .low_speed_s = o->low_speed_s, .progress = o->progress, .progress_userdata = o->progress_userdata,
        };
        struct oci_registry *reg = NULL;
        if (r == 0)
                r = oci_registry_open(oci_ref_api_host(&ref), ref.path, &ro, &reg, err);
        memset(cred, 0, sizeof(*cred));
        free(cred);
        struct oci_descriptor desc;
        struct oci_manifest *m = NULL;
        if (r == 0)
                r = fetch_manifest(reg, l, oci_ref_reference(&ref), o, &desc, &m, &res, err);
        if (r == 0)
                r = fetch_blobs(reg, l, m, &res, err);
        if (r == 0)
                r = oci_layout_set_ref(l, &desc, res.ref, err);
        if (r == 0) {
                strcpy(res.manifest_digest, desc.digest);
                strcpy(res.config_digest, m->config.digest);
                res.n_layers = m->n_items;
                *ret = res;
        } else {
                ak_error_wrap(err, "pull %s", res.ref);
        }
        oci_manifest_free(m);
        oci_registry_free(reg);
        oci_layout_free(l);
        return r;
}
