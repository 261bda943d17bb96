#include <time.h>

#include "lib/base/time.h"

uint64_t ak_clock_ns(clockid_t clock)
{
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t ak_mono_ns(void)
{
        return ak_clock_ns(CLOCK_MONOTONIC);
}

int64_t ak_mono_ms(void)
{
        return (int64_t)(ak_clock_ns(CLOCK_MONOTONIC) / 1000000);
}

int64_t ak_real_ms(void)
{
        return (int64_t)(ak_clock_ns(CLOCK_REALTIME) / 1000000);
}

struct timespec ak_timespec_after(clockid_t clock, int64_t ms)
{
        struct timespec ts;

        if (ms < 0)
                ms = 0;
        clock_gettime(clock, &ts);
        ts.tv_sec += (time_t)(ms / 1000);
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return ts;
}
