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
/* receipt_read_file for secrets (the signing key): a symbolic link is
 * refused (-ELOOP, O_NOFOLLOW), and so is anything but a regular file
 * (-EINVAL) and a file of another owner or writable by group or others
 * (-EPERM): such a key could have been planted. */
int receipt_read_private_file(const char *path, size_t max, char **ret_data, size_t *ret_len);
