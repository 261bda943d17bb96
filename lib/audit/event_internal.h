/* Shared by the event module's files; not part of its contract. */
#pragma once

#include <stddef.h>

#include "lib/audit/event.h"
#include "lib/base/error.h"

/* EventMetadata::default() into *m (fields must be NULL). 0 or -ENOMEM. */
int audit_metadata_default(struct audit_metadata *m);

/* Checks a string field against the limits (max bytes, UTF-8, no NUL);
 * -EINVAL with err "FIELD: ..." when it fails. */
int audit_check_string(const char *field, const char *s, size_t len, size_t max, struct ak_error *err);

/* strdup of a checked string: 0, -EINVAL (err), -ENOMEM. */
int audit_dup_string(const char *field, const char *s, size_t len, size_t max, char **ret,
                     struct ak_error *err);
