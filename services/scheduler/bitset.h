/* Bitsets over executor slots: bit i stands for the executor in slot i of the
 * registry. All of a registry's bitsets have the same length in words. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BITSET_WORDS(n_bits) (((n_bits) + 63) / 64)

static inline void bitset_set(uint64_t *b, size_t i)
{
        b[i / 64] |= (uint64_t)1 << (i % 64);
}

static inline void bitset_clear(uint64_t *b, size_t i)
{
        b[i / 64] &= ~((uint64_t)1 << (i % 64));
}

static inline bool bitset_test(const uint64_t *b, size_t i)
{
        return (b[i / 64] >> (i % 64)) & 1;
}
