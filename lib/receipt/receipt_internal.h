/* lib/receipt internal helpers. */
#pragma once

#include <stddef.h>

/* If error is non-NULL, sets *error to the formatted message (best effort
 * on ENOMEM). Returns r. */
int receipt_error(char **error, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* strdup that keeps NULL. Returns 0 or -ENOMEM. */
int receipt_strdup0(const char *s, char **ret);
