/* UUIDs as lowercase hyphenated text ("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"). */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

#define AK_UUID_LEN 36

/* A new UUIDv7 (RFC 9562): 48-bit Unix milliseconds (CLOCK_REALTIME), version
 * 7, RFC 4122 variant, the rest from getrandom(2). ids made in later
 * milliseconds sort after earlier ones; within one millisecond the order is
 * random. Writes AK_UUID_LEN characters and a NUL. 0 or -errno (getrandom).
 * Thread-safe. */
int ak_uuid7(char ret[AK_UUID_LEN + 1]);

#ifdef __cplusplus
}
#endif
