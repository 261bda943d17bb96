/* Reading protocol documents with lib/json's reader, as the agent always has.
 *
 * The reader keeps duplicate keys, \u0000 and numbers of any size, and leaves
 * the verdict to its caller. The protocol refuses, anywhere in a document
 * (ignored fields included), numbers outside int64 (integers) or double
 * (reals) and \u0000 in keys; in requests also duplicate keys and \u0000 in
 * strings (in replies the last of a duplicate counts). These are the limits
 * jansson set when it read them. Internal to //guest:protocol. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/json/json.h"

/* Walks the whole tree (its depth is bounded by the reader). strict: refuse
 * duplicate keys and \u0000 in strings too. Returns 0, -EINVAL with
 * an "Invalid request: ..." message in msg[0..size), or -ENOMEM. */
int proto_json_check(const struct json_value *root, bool strict, char *msg, size_t size);

/* obj's member called name (the last, if it stands twice), or NULL. */
const struct json_value *proto_json_member(const struct json_value *obj, const char *name);

/* As proto_json_member, with null as absent (serde's Option). */
const struct json_value *proto_json_field(const struct json_value *obj, const char *name);

/* v is non-NULL and of type t. */
bool proto_json_is(const struct json_value *v, enum json_type t);

/* v is an integer (integer syntax: not "1.0", but "-0" is 0) in [lo, hi]. */
bool proto_json_int(const struct json_value *v, long long lo, long long hi, long long *ret);
