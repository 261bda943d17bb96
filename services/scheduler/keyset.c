#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "services/scheduler/keyset.h"
#include "services/scheduler/strmap.h"

struct keyset {
        struct strmap *map;   /* name → struct keyset_key */
        size_t n_words;
};

struct keyset *keyset_new(size_t n_words)
{
        struct keyset *ks = calloc(1, sizeof(*ks));
        if (!ks)
                return NULL;
        ks->map = strmap_new();
        if (!ks->map) {
                free(ks);
                return NULL;
        }
        ks->n_words = n_words;
        return ks;
}

static void key_free(struct keyset_key *k)
{
        if (!k)
                return;
        free(k->bits);
        free(k->name);
        free(k);
}

void keyset_free(struct keyset *ks)
{
        if (!ks)
                return;
        size_t pos = 0;
        void *v;
        while (strmap_next(ks->map, &pos, NULL, NULL, &v))
                key_free(v);
        strmap_free(ks->map);
        free(ks);
}

const uint64_t *keyset_bits(const struct keyset *ks, const char *key, size_t len)
{
        struct keyset_key *k = strmap_get(ks->map, key, len);
        return k ? k->bits : NULL;
}

int keyset_ref(struct keyset *ks, const char *key, size_t len, struct keyset_key **ret)
{
        struct keyset_key *k = strmap_get(ks->map, key, len);
        if (k) {
                k->refs++;
                *ret = k;
                return 0;
        }
        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        k->bits = calloc(ks->n_words ? ks->n_words : 1, sizeof(uint64_t));
        k->name = malloc(len + 1);
        if (!k->bits || !k->name || strmap_put(ks->map, key, len, k) < 0) {
                key_free(k);
                return -ENOMEM;
        }
        memcpy(k->name, key, len);
        k->name[len] = '\0';
        k->len = len;
        k->refs = 1;
        *ret = k;
        return 0;
}

void keyset_unref(struct keyset *ks, struct keyset_key *k)
{
        if (--k->refs > 0)
                return;
        strmap_del(ks->map, k->name, k->len);
        key_free(k);
}

int keyset_resize(struct keyset *ks, size_t n_words)
{
        if (n_words <= ks->n_words)
                return 0;
        /* Two passes so a failure leaves every bitset as it was. */
        size_t n = strmap_count(ks->map), i = 0, pos = 0;
        uint64_t **fresh = calloc(n ? n : 1, sizeof(*fresh));
        if (!fresh)
                return -ENOMEM;
        void *v;
        while (strmap_next(ks->map, &pos, NULL, NULL, &v)) {
                fresh[i] = calloc(n_words, sizeof(uint64_t));
                if (!fresh[i]) {
                        while (i > 0)
                                free(fresh[--i]);
                        free(fresh);
                        return -ENOMEM;
                }
                i++;
        }
        pos = 0;
        i = 0;
        while (strmap_next(ks->map, &pos, NULL, NULL, &v)) {
                struct keyset_key *k = v;
                memcpy(fresh[i], k->bits, ks->n_words * sizeof(uint64_t));
                free(k->bits);
                k->bits = fresh[i++];
        }
        free(fresh);
        ks->n_words = n_words;
        return 0;
}

size_t keyset_count(const struct keyset *ks)
{
        return strmap_count(ks->map);
}
