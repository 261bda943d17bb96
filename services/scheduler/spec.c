#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/crypto/crypto.h"
#include "services/scheduler/spec.h"
#include "vmm/image/oci/ref.h"

static bool name_char(char c, bool first)
{
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
                return true;
        return !first && (c == '_' || c == '.' || c == '-');
}

int spec_check_name(const char *field, const char *name, struct ak_error *err)
{
        size_t n = name ? strlen(name) : 0;
        if (n == 0)
                return ak_error_set(err, -EINVAL, "%s: empty sandbox name", field);
        if (n > SPEC_NAME_MAX)
                return ak_error_set(err, -EINVAL, "%s: sandbox name is %zu bytes, the limit is %d",
                                    field, n, SPEC_NAME_MAX);
        for (size_t i = 0; i < n; i++)
                if (!name_char(name[i], i == 0))
                        return ak_error_set(err, -EINVAL,
                                            "%s: \"%.63s\" is not a sandbox name "
                                            "(want [a-z0-9][a-z0-9_.-]{0,62})",
                                            field, name);
        return 0;
}

int spec_check_tenant(const char *tenant, struct ak_error *err)
{
        size_t n = strlen(tenant);
        bool ok = n > 0 && n <= SPEC_TENANT_MAX;
        for (size_t i = 0; ok && i < n; i++) {
                char c = tenant[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                ok = alnum || (i > 0 && (c == '.' || c == '_' || c == '-'));
        }
        if (!ok)
                return ak_error_set(err, -EINVAL,
                                    "spec.tenant: \"%.63s\" is not a tenant name (1 to %d of A-Z a-z 0-9 . _ -, "
                                    "starting with a letter or digit)",
                                    tenant, SPEC_TENANT_MAX);
        return 0;
}

static int check_label(const char *field, const char *key, const char *value,
                       struct ak_error *err)
{
        if (!key || !*key)
                return ak_error_set(err, -EINVAL, "%s: empty label key", field);
        if (strlen(key) > SPEC_MAX_LABEL_BYTES || (value && strlen(value) > SPEC_MAX_LABEL_BYTES))
                return ak_error_set(err, -EINVAL, "%s: label %.40s... longer than %d bytes", field,
                                    key, SPEC_MAX_LABEL_BYTES);
        return 0;
}

int spec_check(const Ak__V1__SandboxSpec *spec, struct spec_needs *ret, struct ak_error *err)
{
        struct spec_needs n = {
                .image = SPEC_DEFAULT_IMAGE,
                .profile = "moderate",
                .vcpus = 1,
                .memory_mb = 512,
        };
        if (spec) {
                if (spec->name && *spec->name) {
                        int r = spec_check_name("spec.name", spec->name, err);
                        if (r < 0)
                                return r;
                }
                if (spec->image && *spec->image) {
                        if (strlen(spec->image) > SPEC_IMAGE_MAX)
                                return ak_error_set(err, -EINVAL, "spec.image: longer than %d bytes",
                                                    SPEC_IMAGE_MAX);
                        n.image = spec->image;
                }
                if (spec->profile && *spec->profile) {
                        if (strcmp(spec->profile, "permissive") != 0 &&
                            strcmp(spec->profile, "moderate") != 0 &&
                            strcmp(spec->profile, "restrictive") != 0)
                                return ak_error_set(err, -EINVAL,
                                                    "spec.profile: unknown profile \"%.64s\" (want "
                                                    "permissive, moderate or restrictive)",
                                                    spec->profile);
                        n.profile = spec->profile;
                }
                if (strcmp(n.profile, "restrictive") == 0)
                        n.memory_mb = 256;
                if (spec->vcpus > SPEC_MAX_VCPUS)
                        return ak_error_set(err, -EINVAL, "spec.vcpus: %u is more than %d", spec->vcpus,
                                            SPEC_MAX_VCPUS);
                if (spec->vcpus)
                        n.vcpus = spec->vcpus;
                if (spec->memory_mb > SPEC_MAX_MEMORY_MB)
                        return ak_error_set(err, -EINVAL, "spec.memory_mb: %u is more than %llu",
                                            spec->memory_mb, SPEC_MAX_MEMORY_MB);
                if (spec->memory_mb)
                        n.memory_mb = spec->memory_mb;
                if (spec->n_node_selector > SPEC_MAX_SELECTOR)
                        return ak_error_set(err, -EINVAL, "spec.node_selector: %zu entries, the limit is %d",
                                            spec->n_node_selector, SPEC_MAX_SELECTOR);
                for (size_t i = 0; i < spec->n_node_selector; i++) {
                        int r = check_label("spec.node_selector", spec->node_selector[i]->key,
                                            spec->node_selector[i]->value, err);
                        if (r < 0)
                                return r;
                }
        }
        if (!spec_image_is_local(n.image)) {
                /* Executors report references normalized: place by that. */
                struct oci_ref ref;
                char norm[OCI_REF_FORMAT_MAX];
                if (oci_ref_parse(n.image, strlen(n.image), &ref, err) < 0) {
                        ak_error_wrap(err, "spec.image");
                        return -EINVAL;
                }
                oci_ref_format(&ref, norm);
                snprintf(n.image_ref, sizeof(n.image_ref), "%s", norm);
        }
        *ret = n;
        if (n.image_ref[0])
                ret->image = ret->image_ref;
        return 0;
}

int spec_generate_name(char *buf, size_t size)
{
        static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
        unsigned char rnd[10];
        if (size < 14)
                return -ENOBUFS;
        int r = crypto_random_bytes(rnd, sizeof(rnd));
        if (r < 0)
                return r;
        memcpy(buf, "sb-", 3);
        /* 252 is the largest multiple of 36 below 256: no modulo bias. */
        for (size_t i = 0; i < sizeof(rnd); i++) {
                while (rnd[i] >= 252) {
                        r = crypto_random_bytes(&rnd[i], 1);
                        if (r < 0)
                                return r;
                }
                buf[3 + i] = alphabet[rnd[i] % 36];
        }
        buf[13] = '\0';
        return 0;
}

static bool id_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
               c == '_' || c == ':' || c == '-';
}

int spec_check_status(const Ak__V1__ExecutorStatus *st, struct ak_error *err)
{
        if (!st)
                return ak_error_set(err, -EINVAL, "status: missing");
        size_t n = st->executor_id ? strlen(st->executor_id) : 0;
        if (n == 0)
                return ak_error_set(err, -EINVAL, "status.executor_id: empty");
        if (n > EXECUTOR_ID_MAX)
                return ak_error_set(err, -EINVAL, "status.executor_id: %zu bytes, the limit is %d", n,
                                    EXECUTOR_ID_MAX);
        for (size_t i = 0; i < n; i++)
                if (!id_char(st->executor_id[i]))
                        return ak_error_set(err, -EINVAL,
                                            "status.executor_id: \"%.128s\" (want [A-Za-z0-9._:-]{1,128})",
                                            st->executor_id);
        n = st->address ? strlen(st->address) : 0;
        if (n == 0)
                return ak_error_set(err, -EINVAL, "status.address: empty (where does executor %s listen?)",
                                    st->executor_id);
        if (n > EXECUTOR_ADDRESS_MAX)
                return ak_error_set(err, -EINVAL, "status.address: %zu bytes, the limit is %d", n,
                                    EXECUTOR_ADDRESS_MAX);
        if (st->n_labels > EXECUTOR_MAX_LABELS)
                return ak_error_set(err, -EINVAL, "status.labels: %zu, the limit is %d", st->n_labels,
                                    EXECUTOR_MAX_LABELS);
        for (size_t i = 0; i < st->n_labels; i++) {
                int r = check_label("status.labels", st->labels[i]->key, st->labels[i]->value, err);
                if (r < 0)
                        return r;
        }
        if (st->n_images > EXECUTOR_MAX_IMAGES)
                return ak_error_set(err, -EINVAL, "status.images: %zu, the limit is %d", st->n_images,
                                    EXECUTOR_MAX_IMAGES);
        for (size_t i = 0; i < st->n_images; i++)
                if (strlen(st->images[i]) > SPEC_IMAGE_MAX)
                        return ak_error_set(err, -EINVAL, "status.images[%zu]: longer than %d bytes", i,
                                            SPEC_IMAGE_MAX);
        if (st->n_pulls > EXECUTOR_MAX_PULLS)
                return ak_error_set(err, -EINVAL, "status.pulls: %zu, the limit is %d", st->n_pulls,
                                    EXECUTOR_MAX_PULLS);
        for (size_t i = 0; i < st->n_pulls; i++)
                if (strlen(st->pulls[i]->image) > SPEC_IMAGE_MAX || strlen(st->pulls[i]->state) > 16 ||
                    strlen(st->pulls[i]->error) > 4096)
                        return ak_error_set(err, -EINVAL, "status.pulls[%zu]: image, state or error too long", i);
        if (st->n_pools > EXECUTOR_MAX_POOLS)
                return ak_error_set(err, -EINVAL, "status.pools: %zu, the limit is %d", st->n_pools,
                                    EXECUTOR_MAX_POOLS);
        for (size_t i = 0; i < st->n_pools; i++)
                if (strlen(st->pools[i]->image) > SPEC_IMAGE_MAX ||
                    strlen(st->pools[i]->profile) > SPEC_MAX_LABEL_BYTES)
                        return ak_error_set(err, -EINVAL, "status.pools[%zu]: image or profile longer than %d bytes",
                                            i, SPEC_MAX_LABEL_BYTES);
        if (st->n_sandboxes > EXECUTOR_MAX_SANDBOXES)
                return ak_error_set(err, -EINVAL, "status.sandboxes: %zu, the limit is %d",
                                    st->n_sandboxes, EXECUTOR_MAX_SANDBOXES);
        for (size_t i = 0; i < st->n_sandboxes; i++) {
                const Ak__V1__Sandbox *sb = st->sandboxes[i];
                char field[64];
                snprintf(field, sizeof(field), "status.sandboxes[%zu].spec.name", i);
                int r = spec_check_name(field, sb->spec ? sb->spec->name : NULL, err);
                if (r < 0)
                        return r;
                if (sb->spec->tenant && *sb->spec->tenant && (r = spec_check_tenant(sb->spec->tenant, err)) < 0)
                        return r;
        }
        return 0;
}

bool spec_image_is_local(const char *image)
{
        return !strpbrk(image, "/:@");
}
