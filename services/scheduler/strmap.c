/* Linear probing with backward-shift deletion (Knuth 6.4 algorithm R), load
 * factor at most 1/2, SipHash-1-3 over the key with a per-map random key. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto/crypto.h"
#include "services/scheduler/strmap.h"

struct slot {
        char *key;       /* NULL: empty */
        size_t len;
        uint64_t hash;
        void *value;
};

struct strmap {
        struct slot *slots;
        size_t cap;      /* a power of two */
        size_t count;
        uint64_t k0, k1;
};

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
        do {                                                                   \
                v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);      \
                v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                         \
                v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                         \
                v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);      \
        } while (0)

static uint64_t siphash13(uint64_t k0, uint64_t k1, const unsigned char *p, size_t len)
{
        uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
        uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
        uint64_t b = (uint64_t)len << 56;
        size_t whole = len & ~(size_t)7;
        for (size_t i = 0; i < whole; i += 8) {
                uint64_t m;
                memcpy(&m, p + i, 8);
                v3 ^= m;
                SIPROUND;
                v0 ^= m;
        }
        for (size_t i = 0; i < (len & 7); i++)
                b |= (uint64_t)p[whole + i] << (8 * i);
        v3 ^= b;
        SIPROUND;
        v0 ^= b;
        v2 ^= 0xff;
        SIPROUND;
        SIPROUND;
        SIPROUND;
        return v0 ^ v1 ^ v2 ^ v3;
}

struct strmap *strmap_new(void)
{
        struct strmap *m = calloc(1, sizeof(*m));
        if (!m)
                return NULL;
        m->cap = 16;
        m->slots = calloc(m->cap, sizeof(*m->slots));
        if (!m->slots) {
                free(m);
                return NULL;
        }
        uint64_t k[2] = { 0x0123456789abcdefull, 0xfedcba9876543210ull };
        /* Without the kernel's randomness the map still works, just unkeyed. */
        (void)crypto_random_bytes(k, sizeof(k));
        m->k0 = k[0];
        m->k1 = k[1];
        return m;
}

void strmap_free(struct strmap *m)
{
        if (!m)
                return;
        for (size_t i = 0; i < m->cap; i++)
                free(m->slots[i].key);
        free(m->slots);
        free(m);
}

static uint64_t hash_of(const struct strmap *m, const char *key, size_t len)
{
        return siphash13(m->k0, m->k1, (const unsigned char *)key, len);
}

static size_t find(const struct strmap *m, const char *key, size_t len, uint64_t h)
{
        size_t mask = m->cap - 1;
        for (size_t i = h & mask;; i = (i + 1) & mask) {
                const struct slot *s = &m->slots[i];
                if (!s->key)
                        return i;
                if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
                        return i;
        }
}

void *strmap_get(const struct strmap *m, const char *key, size_t len)
{
        const struct slot *s = &m->slots[find(m, key, len, hash_of(m, key, len))];
        return s->key ? s->value : NULL;
}

static int grow(struct strmap *m)
{
        size_t cap = m->cap * 2;
        struct slot *slots = calloc(cap, sizeof(*slots));
        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++) {
                struct slot *s = &m->slots[i];
                if (!s->key)
                        continue;
                size_t j = s->hash & (cap - 1);
                while (slots[j].key)
                        j = (j + 1) & (cap - 1);
                slots[j] = *s;
        }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
        return 0;
}

int strmap_put(struct strmap *m, const char *key, size_t len, void *value)
{
        uint64_t h = hash_of(m, key, len);
        struct slot *s = &m->slots[find(m, key, len, h)];
        if (s->key) {
                s->value = value;
                return 0;
        }
        if ((m->count + 1) * 2 > m->cap) {
                if (grow(m) < 0)
                        return -ENOMEM;
                s = &m->slots[find(m, key, len, h)];
        }
        char *copy = malloc(len + 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, key, len);
        copy[len] = '\0';
        *s = (struct slot){ .key = copy, .len = len, .hash = h, .value = value };
        m->count++;
        return 0;
}

void *strmap_del(struct strmap *m, const char *key, size_t len)
{
        size_t mask = m->cap - 1;
        size_t i = find(m, key, len, hash_of(m, key, len));
        if (!m->slots[i].key)
                return NULL;
        void *value = m->slots[i].value;
        free(m->slots[i].key);
        m->slots[i].key = NULL;
        m->count--;
        /* Shift later members of the probe run back so lookups never stop
         * early at the hole. */
        for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
                size_t home = m->slots[j].hash & mask;
                bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
                if (movable) {
                        m->slots[i] = m->slots[j];
                        m->slots[j].key = NULL;
                        i = j;
                }
        }
        return value;
}

size_t strmap_count(const struct strmap *m)
{
        return m->count;
}

bool strmap_next(const struct strmap *m, size_t *pos, const char **ret_key, size_t *ret_len,
                 void **ret_value)
{
        for (size_t i = *pos; i < m->cap; i++) {
                if (!m->slots[i].key)
                        continue;
                if (ret_key)
                        *ret_key = m->slots[i].key;
                if (ret_len)
                        *ret_len = m->slots[i].len;
                if (ret_value)
                        *ret_value = m->slots[i].value;
                *pos = i + 1;
                return true;
        }
        *pos = m->cap;
        return false;
}
