/* libFuzzer target for an image seed's manifest (seed_manifest.h): what the
 * parser accepts must hold its invariants, since image_seed_install builds
 * store paths from it: every path under kernel/<kernel>/ or images/<base>/,
 * no "." or ".." component, no empty component, digests 64 lowercase hex,
 * modes at most 0777, counts within limits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/image/seed_manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_path(const struct seed_manifest *m, const char *p)
{
        char k[SEED_MAX_PATH + 16], b[SEED_MAX_PATH + 16];
        snprintf(k, sizeof(k), "kernel/%s/", m->kernel);
        snprintf(b, sizeof(b), "images/%s/", m->base);
        if (strncmp(p, k, strlen(k)) != 0 && !(m->base[0] && strncmp(p, b, strlen(b)) == 0))
                abort();
        if (p[0] == '/' || strstr(p, "//") || strstr(p, "/../") || strstr(p, "/./") || p[strlen(p) - 1] == '/')
                abort();
        size_t n = strlen(p);
        if ((n >= 3 && strcmp(p + n - 3, "/..") == 0) || (n >= 2 && strcmp(p + n - 2, "/.") == 0))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ak_error err = { 0 };
        struct seed_manifest *m = NULL;
        if (seed_manifest_parse((const char *)data, size, &m, &err) != 0) {
                if (!err.msg[0])
                        abort();
                return 0;
        }
        if (!m->kernel[0] || seed_kernel_entry_check(m->kernel) != 0 || m->n_files == 0 ||
            m->n_files > SEED_MAX_FILES)
                abort();
        if (m->base[0] && (strlen(m->base) != 64 || strspn(m->base, "0123456789abcdef") != 64))
                abort();
        for (size_t i = 0; i < m->n_files; i++) {
                const struct seed_file *f = &m->files[i];
                if (strlen(f->sha256) != 64 || strspn(f->sha256, "0123456789abcdef") != 64 || f->mode > 0777 ||
                    f->size > SEED_MAX_FILE_SIZE)
                        abort();
                check_path(m, f->path);
        }
        seed_manifest_free(m);
        return 0;
}
