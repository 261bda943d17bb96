#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "vmm/image/oci/layout.h"
#include "vmm/image/oci/manifest.h"
#include "vmm/image/oci/push.h"
#include "vmm/image/oci/registry.h"

/* The manifest blob desc names, read whole (at most OCI_MANIFEST_MAX). */
static int read_manifest(struct oci_layout *l, const struct oci_descriptor *desc, char **ret, struct ak_error *err)
{
        char path[4096];
        oci_layout_blob_path(l, desc->digest, path, sizeof(path));
        if (desc->size > OCI_MANIFEST_MAX)
                return ak_error_set(err, -E2BIG, "manifest %s: %llu bytes, more than %zu", desc->digest,
                                    (unsigned long long)desc->size, OCI_MANIFEST_MAX);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return ak_error_errno(err, -errno, "manifest %s: open %s", desc->digest, path);
        _cleanup_free_ char *body = malloc(desc->size + 1);
        if (!body)
                return ak_error_set(err, -ENOMEM, "out of memory");
        ssize_t n = ak_read_full(fd, body, desc->size);
        if (n < 0)
                return ak_error_errno(err, (int)n, "manifest %s: read %s", desc->digest, path);
        if ((uint64_t)n != desc->size)
                return ak_error_set(err, -EPROTO, "manifest %s: %s has %zd bytes, index.json says %llu", desc->digest,
                                    path, n, (unsigned long long)desc->size);
        body[n] = '\0';
        *ret = TAKE_PTR(body);
        return 0;
}

static int push_blobs(struct oci_registry *reg, struct oci_layout *l, const struct oci_manifest *m,
                      struct oci_push_result *res, struct ak_error *err)
{
        for (size_t i = 0; i <= m->n_items; i++) {
                const struct oci_descriptor *d = i == 0 ? &m->config : &m->items[i - 1];
                int r = oci_registry_push_blob(reg, l, d, err);
                if (r < 0 && i == 0)
                        return ak_error_wrap(err, "config");
                if (r < 0)
                        return ak_error_wrap(err, "layer %zu of %zu", i, m->n_items);
                res->n_blobs++;
                if (r == 1) {
                        res->n_uploaded++;
                        res->uploaded_bytes += d->size;
                }
        }
        return 0;
}

/* Source manifest: its descriptor, body and parsed form. */
static int load_source(struct oci_layout *l, const char *src_text, struct oci_descriptor *desc, char **ret_body,
                       struct oci_manifest **ret_m, struct ak_error *err)
{
        struct oci_ref src;
        char name[OCI_REF_FORMAT_MAX];
        int r = oci_ref_parse(src_text, strlen(src_text), &src, err);
        if (r < 0)
                return r;
        oci_ref_format(&src, name);
        r = oci_layout_get_ref(l, name, desc, err);
        if (r == -ENOENT)
                return ak_error_set(err, -ENOENT, "%s is not in the image cache %s (pull or import it first)", name,
                                    oci_layout_dir(l));
        if (r < 0)
                return r;
        _cleanup_free_ char *body = NULL;
        r = read_manifest(l, desc, &body, err);
        if (r < 0)
                return r;
        r = oci_manifest_decode(body, desc->size, desc->media_type, ret_m, err);
        if (r < 0)
                return ak_error_wrap(err, "manifest %s", desc->digest);
        if ((*ret_m)->kind != OCI_KIND_MANIFEST) {
                oci_manifest_free(*ret_m);
                *ret_m = NULL;
                return ak_error_set(err, -ENOTSUP, "%s names an image index: push one platform's image", name);
        }
        *ret_body = TAKE_PTR(body);
        return 0;
}

int oci_push(const char *layout_dir, const char *src_text, const char *dest_text, const struct oci_pull_options *o,
             struct oci_push_result *ret, struct ak_error *err)
{
        struct oci_ref dest;
        int r = oci_ref_parse(dest_text, strlen(dest_text), &dest, err);
        if (r < 0)
                return r;
        struct oci_push_result res = {};
        oci_ref_format(&dest, res.ref);
        struct oci_layout *l = NULL;
        struct oci_descriptor desc;
        char *body = NULL;
        struct oci_manifest *m = NULL;
        r = oci_layout_open(layout_dir, &l, err);
        if (r == 0)
                r = load_source(l, src_text, &desc, &body, &m, err);
        if (r == 0 && dest.digest[0] && strcmp(dest.digest, desc.digest) != 0)
                r = ak_error_set(err, -EINVAL, "destination digest %s is not the image's manifest digest %s", dest.digest,
                                 desc.digest);
        struct oci_cred *cred = calloc(1, sizeof(*cred));
        bool have_cred = false;
        if (r == 0 && !cred)
                r = ak_error_set(err, -ENOMEM, "out of memory");
        if (r == 0)
                r = oci_load_cred(o->authfile, dest.domain, cred, &have_cred, err);
        struct oci_registry_options ro = {
                .ca_file = o->ca_file, .insecure = o->insecure, .n_insecure = o->n_insecure,
                .cred = have_cred ? cred : NULL, .max_attempts = o->max_attempts, .backoff_ms = o->backoff_ms,
                .low_speed_s = o->low_speed_s, .progress = o->progress, .progress_userdata = o->progress_userdata,
                .push = true,
        };
        struct oci_registry *reg = NULL;
        if (r == 0)
                r = oci_registry_open(oci_ref_api_host(&dest), dest.path, &ro, &reg, err);
        if (cred)
                memset(cred, 0, sizeof(*cred));
        free(cred);
        if (r == 0)
                r = push_blobs(reg, l, m, &res, err);
        if (r == 0)
                r = oci_registry_put_manifest(reg, dest.digest[0] ? dest.digest : dest.tag, body, desc.size,
                                              desc.media_type, err);
        if (r == 0) {
                strcpy(res.manifest_digest, desc.digest);
                *ret = res;
        } else {
                ak_error_wrap(err, "push %s", res.ref);
        }
        oci_manifest_free(m);
        free(body);
        oci_registry_free(reg);
        oci_layout_free(l);
        return r;
}
