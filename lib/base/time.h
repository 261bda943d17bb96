/* Clocks: "now" in milliseconds or nanoseconds, and absolute deadlines for
 * pthread_cond_timedwait and friends. One home for what every service, the
 * CLI, the VMM and the guest agent used to spell out for themselves.
 *
 * All functions are thread-safe and cannot fail (clock_gettime on the clocks
 * used here cannot fail on Linux). */
#pragma once

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Nanoseconds on clock (CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME...). */
uint64_t ak_clock_ns(clockid_t clock);

/* CLOCK_MONOTONIC: for durations, timeouts and deadlines. Never goes back. */
uint64_t ak_mono_ns(void);
int64_t ak_mono_ms(void);

/* CLOCK_REALTIME in milliseconds since the Unix epoch: for timestamps that
 * are stored or shown, never for measuring time. */
int64_t ak_real_ms(void);

/* The absolute time ms milliseconds from now on clock (ms < 0 counts as 0),
 * normalised (0 <= tv_nsec < 1e9). clock must be the one the waited-on
 * object uses: CLOCK_REALTIME for a default pthread_cond_t, CLOCK_MONOTONIC
 * for one made with pthread_condattr_setclock(CLOCK_MONOTONIC). */
struct timespec ak_timespec_after(clockid_t clock, int64_t ms);

#ifdef __cplusplus
}
#endif
