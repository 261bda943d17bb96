/* libFuzzer target for the OCI documents ak reads from an image layout or a
 * docker archive: the first byte picks the reader (index with or without a
 * ref, manifest, config, docker manifest.json), the rest is the document.
 * What a reader accepts must hold its invariants: digests well formed,
 * counts within limits, strings terminated, env lines NAME=VALUE, the
 * command n_command NUL-terminated arguments. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/image/oci_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_digest(const char *d)
{
        if (oci_digest_check(d) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ak_error err = { 0 };
        if (size < 1)
                return 0;
        const char *text = (const char *)data + 1;
        size_t len = size - 1;
        switch (data[0] % 5) {
        case 0:
        case 1: {
                struct oci_descriptor d;
                if (oci_index_find(text, len, data[0] % 5 ? "latest" : NULL, &d, &err) == 0) {
                        check_digest(d.digest);
                        if (strlen(d.media_type) > OCI_MEDIA_TYPE_MAX)
                                abort();
                }
                break;
        }
        case 2: {
                struct oci_manifest *m = malloc(sizeof(*m));
                if (m && oci_manifest_parse(text, len, m, &err) == 0) {
                        check_digest(m->config.digest);
                        if (m->n_layers > OCI_MAX_LAYERS)
                                abort();
                        for (size_t i = 0; i < m->n_layers; i++) {
                                enum oci_compression c;
                                check_digest(m->layers[i].digest);
                                bool disk = strcmp(m->layers[i].media_type, OCI_MT_AK_DISK) == 0;
                                if (disk ? m->n_layers != 1 : oci_layer_compression(m->layers[i].media_type, &c) != 0)
                                        abort();
                        }
                }
                free(m);
                break;
        }
        case 3: {
                struct oci_config *c = malloc(sizeof(*c));
                if (c && oci_config_parse(text, len, c, &err) == 0) {
                        if (c->n_diff_ids > OCI_MAX_LAYERS)
                                abort();
                        for (size_t i = 0; i < c->n_diff_ids; i++)
                                check_digest(c->diff_ids[i]);
                        for (const char *p = c->env; *p;) {
                                const char *e = strchr(p, '\n');
                                if (!e || !memchr(p, '=', (size_t)(e - p)))
                                        abort();
                                p = e + 1;
                        }
                        /* Entrypoint + Cmd: n_command NUL-terminated arguments filling command_len. */
                        size_t off = 0, k = 0;
                        if (c->command_len > sizeof(c->command))
                                abort();
                        while (off < c->command_len) {
                                const char *z = memchr(c->command + off, 0, c->command_len - off);
                                if (!z)
                                        abort();
                                off = (size_t)(z - c->command) + 1;
                                k++;
                        }
                        if (k != c->n_command)
                                abort();
                        if (c->disk_size > OCI_DISK_MAX || !memchr(c->disk_source, 0, sizeof(c->disk_source)) ||
                            !memchr(c->disk_sandbox, 0, sizeof(c->disk_sandbox)) ||
                            (c->disk_user_ids[0] && !strchr(c->disk_user_ids, ':')))
                                abort();
                }
                free(c);
                break;
        }
        default: {
                struct oci_docker_entry *e = malloc(sizeof(*e));
                if (e && oci_docker_manifest_parse(text, len, data[0] & 8 ? "busybox:latest" : NULL, e, &err) == 0) {
                        if (e->n_layers > OCI_MAX_LAYERS || e->config[0] == '/')
                                abort();
                        for (size_t i = 0; i < e->n_layers; i++)
                                if (e->layers[i][0] == '/')
                                        abort();
                }
                free(e);
                break;
        }
        }
        if (strnlen(err.msg, sizeof(err.msg)) == sizeof(err.msg))
                abort();
        return 0;
}
