/* The image seed's manifest: a strict line parser (seed_manifest.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/image/seed_manifest.h"

static bool name_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '+' || c == '-' || c == '~' || c == '%';
}

/* One path component of len bytes. */
static bool component_ok(const char *s, size_t len)
{
        if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!name_char(s[i]))
                        return false;
        return true;
}

int seed_kernel_entry_check(const char *entry)
{
        size_t n = strlen(entry);
        if (n >= 160 || !component_ok(entry, n) || strcmp(entry, "current") == 0)
                return -EINVAL;
        return 0;
}

static bool is_hex64(const char *s, size_t len)
{
        return len == 64 && strspn(s, "0123456789abcdef") >= 64;
}

/* A relative path of components, under kernel/<kernel>/ or images/<base>/. */
static bool path_ok(const struct seed_manifest *m, const char *p)
{
        char prefix[SEED_MAX_PATH];
        if (m->kernel[0] && (size_t)snprintf(prefix, sizeof(prefix), "kernel/%s/", m->kernel) < sizeof(prefix) &&
            strncmp(p, prefix, strlen(prefix)) == 0)
                goto components;
        if (m->base[0] && (size_t)snprintf(prefix, sizeof(prefix), "images/%s/", m->base) < sizeof(prefix) &&
            strncmp(p, prefix, strlen(prefix)) == 0)
                goto components;
        return false;
components:
        for (const char *c = p;;) {
                size_t l = strcspn(c, "/");
                if (!component_ok(c, l))
                        return false;
                if (!c[l])
                        return true;
                c += l + 1;
        }
}

static int parse_file(struct seed_manifest *m, char *rest, size_t lineno, struct ak_error *err)
{
        char *save = NULL;
        char *sha = strtok_r(rest, " ", &save), *size = strtok_r(NULL, " ", &save);
        char *mode = strtok_r(NULL, " ", &save), *path = strtok_r(NULL, " ", &save);
        if (!sha || !size || !mode || !path || strtok_r(NULL, " ", &save))
                return ak_error_set(err, -EINVAL, "line %zu: want 'file SHA256 SIZE MODE PATH'", lineno);
        if (!is_hex64(sha, strlen(sha)))
                return ak_error_set(err, -EINVAL, "line %zu: '%.80s' is not a lowercase hex sha256", lineno, sha);
        char *end;
        errno = 0;
        unsigned long long sz = strtoull(size, &end, 10);
        if (errno || *end || size[0] < '0' || size[0] > '9' || sz > SEED_MAX_FILE_SIZE)
                return ak_error_set(err, -EINVAL, "line %zu: bad size '%.40s'", lineno, size);
        unsigned long md = strtoul(mode, &end, 8);
        if (*end || mode[0] < '0' || mode[0] > '7' || md > 0777 || strlen(mode) > 4)
                return ak_error_set(err, -EINVAL, "line %zu: bad mode '%.40s' (octal, at most 0777)", lineno, mode);
        if (strlen(path) >= SEED_MAX_PATH || !path_ok(m, path))
                return ak_error_set(err, -EINVAL,
                                    "line %zu: path '%.200s' is not under kernel/%s/ or images/%s/ with plain "
                                    "components",
                                    lineno, path, m->kernel, m->base[0] ? m->base : "<no base>");
        for (size_t i = 0; i < m->n_files; i++)
                if (strcmp(m->files[i].path, path) == 0)
                        return ak_error_set(err, -EINVAL, "line %zu: %.200s listed twice", lineno, path);
        if (m->n_files == SEED_MAX_FILES)
                return ak_error_set(err, -E2BIG, "line %zu: more than %d files", lineno, SEED_MAX_FILES);
        struct seed_file *f = &m->files[m->n_files++];
        memcpy(f->sha256, sha, 65);
        f->size = sz;
        f->mode = (unsigned)md;
        strcpy(f->path, path);
        return 0;
}

static int parse_line(struct seed_manifest *m, char *line, size_t lineno, struct ak_error *err)
{
        if (lineno == 1)
                return strcmp(line, SEED_MANIFEST_MAGIC) == 0
                               ? 0
                               : ak_error_set(err, -EINVAL, "line 1: not '" SEED_MANIFEST_MAGIC "'");
        if (strncmp(line, "kernel ", 7) == 0) {
                if (m->kernel[0] || m->n_files || seed_kernel_entry_check(line + 7) < 0)
                        return ak_error_set(err, -EINVAL, "line %zu: one valid 'kernel ENTRY', before the files",
                                            lineno);
                strcpy(m->kernel, line + 7);
                return 0;
        }
        if (strncmp(line, "base ", 5) == 0) {
                if (m->base[0] || m->n_files || !is_hex64(line + 5, strlen(line + 5)))
                        return ak_error_set(err, -EINVAL, "line %zu: one 'base HASH' (64 hex), before the files",
                                            lineno);
                strcpy(m->base, line + 5);
                return 0;
        }
        if (strncmp(line, "file ", 5) == 0)
                return parse_file(m, line + 5, lineno, err);
        return ak_error_set(err, -EINVAL, "line %zu: unknown entry '%.40s'", lineno, line);
}

int seed_manifest_parse(const char *text, size_t len, struct seed_manifest **ret, struct ak_error *err)
{
        if (len > SEED_MAX_MANIFEST)
                return ak_error_set(err, -E2BIG, "manifest is %zu bytes, more than %u", len, SEED_MAX_MANIFEST);
        if (memchr(text, 0, len))
                return ak_error_set(err, -EINVAL, "manifest contains a NUL byte");
        struct seed_manifest *m = calloc(1, sizeof(*m));
        char *copy = malloc(len + 1);
        size_t cap = 0;
        int r = 0;
        if (!m || !copy) {
                r = ak_error_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        memcpy(copy, text, len);
        copy[len] = 0;
        if (len == 0 || copy[len - 1] != '\n') {
                r = ak_error_set(err, -EINVAL, "manifest is empty or its last line is unterminated (truncated?)");
                goto out;
        }
        size_t lineno = 0;
        for (char *line = copy, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
                *nl = 0;
                lineno++;
                if (m->n_files == cap && strncmp(line, "file ", 5) == 0) {
                        cap = cap ? cap * 2 : 64;
                        if (cap > SEED_MAX_FILES)
                                cap = SEED_MAX_FILES + 1;
                        struct seed_file *t = realloc(m->files, cap * sizeof(*t));
                        if (!t) {
                                r = ak_error_set(err, -ENOMEM, "out of memory");
                                goto out;
                        }
                        m->files = t;
                }
                if ((r = parse_line(m, line, lineno, err)) < 0)
                        goto out;
        }
        if (!m->kernel[0] || m->n_files == 0)
                r = ak_error_set(err, -EINVAL, "manifest names no kernel or no files");
out:
        free(copy);
        if (r < 0) {
                seed_manifest_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

void seed_manifest_free(struct seed_manifest *m)
{
        if (!m)
                return;
        free(m->files);
        free(m);
}
