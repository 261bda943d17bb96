/* Open addressing over FNV-1a hashes, grown at half full. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/image/oci_pathset.h"

struct oci_pathset {
        char **slots;
        size_t cap; /* a power of two */
        size_t n;
};

static uint64_t hash(const char *p, size_t n)
{
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < n; i++)
                h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
        return h;
}

int oci_pathset_new(struct oci_pathset **ret)
{
        struct oci_pathset *s = calloc(1, sizeof(*s));
        if (!s || !(s->slots = calloc(64, sizeof(char *)))) {
                free(s);
                return -ENOMEM;
        }
        s->cap = 64;
        *ret = s;
        return 0;
}

void oci_pathset_free(struct oci_pathset *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->cap; i++)
                free(s->slots[i]);
        free(s->slots);
        free(s);
}

static size_t find(char **slots, size_t cap, const char *p, size_t n)
{
        size_t i = hash(p, n) & (cap - 1);
        while (slots[i] && !(strlen(slots[i]) == n && memcmp(slots[i], p, n) == 0))
                i = (i + 1) & (cap - 1);
        return i;
}

static int grow(struct oci_pathset *s)
{
        size_t cap = s->cap * 2;
        char **slots = calloc(cap, sizeof(char *));
        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < s->cap; i++)
                if (s->slots[i])
                        slots[find(slots, cap, s->slots[i], strlen(s->slots[i]))] = s->slots[i];
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
        return 0;
}

static int add(struct oci_pathset *s, const char *p, size_t n)
{
        if (2 * (s->n + 1) > s->cap && grow(s) < 0)
                return -ENOMEM;
        size_t i = find(s->slots, s->cap, p, n);
        if (s->slots[i])
                return 0;
        if (!(s->slots[i] = strndup(p, n)))
                return -ENOMEM;
        s->n++;
        return 0;
}

int oci_pathset_add_with_parents(struct oci_pathset *s, const char *path)
{
        for (const char *e = strchr(path, '/'); e; e = strchr(e + 1, '/'))
                if (add(s, path, (size_t)(e - path)) < 0)
                        return -ENOMEM;
        return add(s, path, strlen(path));
}

bool oci_pathset_has(const struct oci_pathset *s, const char *path)
{
        return s->slots[find(s->slots, s->cap, path, strlen(path))] != NULL;
}
