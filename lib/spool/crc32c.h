/* CRC-32C (Castagnoli), as in iSCSI, ext4 and LevelDB's log: hardware
 * (SSE4.2) where the CPU has it, a table otherwise. Thread-safe. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The CRC of data[0..len). crc32c("123456789") == 0xe3069283. */
uint32_t crc32c(const void *data, size_t len);

/* The CRC of A||data given crc = crc32c(A). */
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
