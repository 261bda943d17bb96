/* keyset: interned keys (an image name, a label "k\0v", a pool
 * "image\0profile"), each with a bitset of the executor slots that have it,
 * so placement tests a label or an image with one bit instead of comparing
 * strings per executor.
 *
 * A key lives while some executor holds a reference; its bitset is the
 * holders' business (set and clear bits with bitset.h). Not thread-safe: the
 * registry locks. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct keyset_key {
        uint64_t *bits;   /* n_words long, see keyset_resize */
        size_t refs;
        size_t len;
        char *name;       /* the key's bytes, NUL-terminated */
};

struct keyset;

struct keyset *keyset_new(size_t n_words);

/* Frees every key. NULL is a no-op. */
void keyset_free(struct keyset *ks);

/* The bitset of key[0..len), or NULL when no executor holds it. */
const uint64_t *keyset_bits(const struct keyset *ks, const char *key, size_t len);

/* Takes a reference on key[0..len), creating it with an all-zero bitset.
 * Returns 0 or -ENOMEM. */
int keyset_ref(struct keyset *ks, const char *key, size_t len, struct keyset_key **ret);

/* Drops a reference; the key is freed with its last one (its bits must be
 * clear by then). */
void keyset_unref(struct keyset *ks, struct keyset_key *k);

/* Grows every bitset to n_words (new words zero). Returns 0 or -ENOMEM (then
 * nothing changed). */
int keyset_resize(struct keyset *ks, size_t n_words);

size_t keyset_count(const struct keyset *ks);
