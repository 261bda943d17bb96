/* A guest's serial console on disk with a fixed ceiling. A VMM that would
 * write the console to a file without end (QEMU's file chardev cannot cap
 * one; `cat /dev/zero > /dev/ttyS0` in the guest fills the host's disk) is
 * given one end of a pipe or socket pair instead; a thread of ours reads
 * the other end and appends to `path`. When `path` reaches max_bytes it becomes
 * `path`.1 (replacing the one before) and a new `path` begins: at most
 * 2 * max_bytes on disk, and `path` always holds the newest output, so
 * tails (vmm_log_tail) keep working.
 *
 * The thread never blocks the VMM for long: it reads as fast as it can and
 * drops what it cannot write (a full disk). The files are created 0600,
 * without following a symlink at `path`.
 *
 * Thread-safety: start and free from one thread; the reader thread is
 * private. */
#pragma once

#include <stdint.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CONSOLE_RING_MAX_BYTES ((uint64_t)1 << 20) /* 1 MiB per file */
#define CONSOLE_RING_MIN_BYTES ((uint64_t)4 << 10)

struct console_ring;

/* Creates (truncates) path and starts the reader on read_fd, which it takes
 * over (closed by console_ring_free, or here on failure). max_bytes: 0 →
 * CONSOLE_RING_MAX_BYTES; it can only be lowered (above the default, or
 * below CONSOLE_RING_MIN_BYTES, it is -EINVAL). */
int console_ring_start(int read_fd, const char *path, uint64_t max_bytes, struct console_ring **ret,
                       struct ak_error *err);

/* Reads what is still in the pipe (until EOF, or for up to ~100 ms once
 * nothing comes: a writer may linger in a child that has not exec'd yet),
 * stops the thread, closes everything. NULL is a no-op. */
void console_ring_free(struct console_ring *c);

#ifdef __cplusplus
}
#endif
