/* The file requests (write_file, read_file, remove_file, mkdir), with
 * agentkernel's semantics and messages. Each takes an already-validated
 * request path and fills msg (size msg_size) on failure.
 *
 * None of them can block the agent on a FIFO or device: files are opened
 * O_NONBLOCK and must be regular files. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Decodes content_base64 and writes it to path (created 0666 & ~umask,
 * truncated), creating missing parent directories first. */
int files_write(const char *path, const char *b64, size_t b64_len, int mode, char *msg, size_t msg_size);

/* Reads path (at most max bytes, else an error) and returns its base64 in
 * *ret_b64 (malloc'd, *ret_len bytes). */
int files_read(const char *path, size_t max, char **ret_b64, size_t *ret_len, char *msg, size_t msg_size);

int files_remove(const char *path, char *msg, size_t msg_size);
int files_mkdir(const char *path, bool recursive, char *msg, size_t msg_size);
