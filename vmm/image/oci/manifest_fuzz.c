/* libFuzzer target for oci_manifest_decode and oci_index_select: the first
 * byte picks the Content-Type the registry claimed. Accepted manifests have
 * sha256 digests and bounded sizes and counts; selecting a platform never
 * reads outside the index. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/image/oci/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const types[] = {
        "", OCI_MT_INDEX, OCI_MT_MANIFEST, OCI_MT_DOCKER_LIST, OCI_MT_DOCKER_MANIFEST "; charset=utf-8", "text/plain",
};

static void check_desc(const struct oci_descriptor *d)
{
        if (oci_ref_digest_check(d->digest, strlen(d->digest)) < 0 || d->size > OCI_BLOB_MAX || !d->media_type[0])
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0)
                return 0;
        struct oci_manifest *m = NULL;
        struct ak_error err = {};
        const char *ct = types[data[0] % (sizeof(types) / sizeof(types[0]))];
        int r = oci_manifest_decode((const char *)data + 1, size - 1, ct, &m, &err);
        if (r < 0) {
                if (err.code != r || !err.msg[0] || m)
                        abort();
                return 0;
        }
        if (m->kind == OCI_KIND_MANIFEST) {
                check_desc(&m->config);
                if (m->n_items > OCI_MAX_LAYERS)
                        abort();
        } else if (m->kind == OCI_KIND_INDEX) {
                if (m->n_items > OCI_MAX_INDEX_ENTRIES)
                        abort();
                int i = oci_index_select(m, "linux", "amd64", &err);
                if (i >= (int)m->n_items || (i < 0 && (err.code != -ENOENT || !err.msg[0])))
                        abort();
        } else {
                abort();
        }
        for (size_t i = 0; i < m->n_items; i++)
                check_desc(&m->items[i]);
        oci_manifest_free(m);
        return 0;
}
