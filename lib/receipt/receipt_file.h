/* lib/receipt internal: file helpers shared by file.c and signing_key.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* As receipt_write_private_file; with replace false, an existing path is
 * left alone and -EEXIST returned (renameat2 RENAME_NOREPLACE, else link). */
int receipt_write_private_file_mode(const char *path, const void *data, size_t len, bool replace);

/* Reads a whole file of at most max bytes (-EFBIG beyond). *ret_data is
 * malloc'd and NUL-terminated. */
int receipt_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len);
