/* TOML documents for agentkernel.toml, through cpptoml (Debian's
 * libcpptoml-dev, header-only C++; Debian 12 has no C TOML library) behind
 * this C API: the whole document becomes a plain tree the C side walks.
 *
 * Every value carries the line where its key is set, found by a light
 * scan of the text (cpptoml keeps none); 0 when the scan cannot tell (keys
 * inside inline tables take their table's line). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TOML_MAX_BYTES (1u << 20)  /* larger documents are refused */
#define TOML_MAX_DEPTH 32          /* nesting of arrays and inline tables */

enum toml_type { TOML_TABLE, TOML_ARRAY, TOML_STRING, TOML_INT, TOML_FLOAT, TOML_BOOL, TOML_DATETIME };

struct toml_value {
        enum toml_type type;
        const char *key;           /* its key in the parent table; NULL in an array */
        unsigned line;             /* 1-based; 0: unknown */
        const char *s;             /* TOML_STRING */
        int64_t i;                 /* TOML_INT */
        double f;                  /* TOML_FLOAT */
        bool b;                    /* TOML_BOOL */
        struct toml_value *items;  /* TOML_TABLE members (in line order), TOML_ARRAY elements
                                    * (an array of tables is an array of TOML_TABLE) */
        size_t n_items;
};

/* Parses len bytes of text (need not be NUL-terminated). On success
 * *ret_root is a TOML_TABLE the caller frees with toml_free. On a syntax
 * error -EINVAL and err says what and on which line; -E2BIG past
 * TOML_MAX_BYTES or TOML_MAX_DEPTH; -ENOMEM. */
int toml_parse(const char *text, size_t len, struct toml_value **ret_root, struct ak_error *err);

/* Frees a tree from toml_parse; NULL is a no-op. */
void toml_free(struct toml_value *root);

/* The member `key` of a TOML_TABLE, or NULL. */
const struct toml_value *toml_get(const struct toml_value *table, const char *key);

/* "a string", "an integer", ... for messages. */
const char *toml_type_name(enum toml_type t);

#ifdef __cplusplus
}
#endif
