/* The tree's layout, shared by parse.c and value.c only. */
#pragma once

#include <stddef.h>

#include "lib/json/json.h"

struct json_member {
        char *key;
        size_t key_len;
        struct json_value *value;
};

struct json_value {
        enum json_type type;
        bool boolean;
        char *text;   /* JSON_STRING: decoded bytes; JSON_NUMBER: source text */
        size_t len;   /* length of text, or number of items / members */
        struct json_value **items;    /* JSON_ARRAY */
        struct json_member *members;  /* JSON_OBJECT */
};
