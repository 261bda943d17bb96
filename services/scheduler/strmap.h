/* strmap: a hash map from byte strings to pointers, for the scheduler's
 * indexes (executors by id, sandboxes by name, interned label/image keys).
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), SipHash-1-3 keyed per map from getrandom(2), so names chosen
 * by clients cannot be picked to collide. Keys are copied into the map; values
 * are the caller's. Not thread-safe: the owner locks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct strmap;

/* Returns NULL when out of memory. */
struct strmap *strmap_new(void);

/* Frees the map and its key copies, not the values. NULL is a no-op. */
void strmap_free(struct strmap *m);

/* The value under key[0..len), or NULL. */
void *strmap_get(const struct strmap *m, const char *key, size_t len);

/* Inserts or replaces. Returns 0 or -ENOMEM (the map is unchanged then). */
int strmap_put(struct strmap *m, const char *key, size_t len, void *value);

/* Removes key and returns its value (NULL when absent). */
void *strmap_del(struct strmap *m, const char *key, size_t len);

size_t strmap_count(const struct strmap *m);

/* Iteration: *pos starts at 0; returns false at the end. The map must not
 * change during an iteration. */
bool strmap_next(const struct strmap *m, size_t *pos, const char **ret_key, size_t *ret_len,
                 void **ret_value);
