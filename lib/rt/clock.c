/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TSC clock: calibrated once against CLOCK_MONOTONIC_RAW, then converted with
 * 64.64 fixed-point multipliers so hot paths never divide.
 */
#include "rt_internal.h"

#include <pthread.h>
#include <time.h>

static pthread_once_t clock_once = PTHREAD_ONCE_INIT;
/*
 * Conversions are x * (integer + fraction / 2^64), with the ratio split into an
 * integer part and a 64-bit fraction: exact to well under a nanosecond even for
 * absolute TSC values after months of uptime (a 32-bit fraction drifted by
 * microseconds once the counter reached 10^13).
 */
struct ratio {
    uint64_t whole;
    uint64_t frac; /* / 2^64 */
};

/* Written once under clock_once; the ready flag is stored last, with release. The
   ns factor and the flag are co.h's, where co_tsc_to_ns() is inline. */
struct co_clock_ratio_ co_clock_to_ns_;
bool co_clock_ready_;
struct co_clock_ratio_ co_clock_to_tsc_;
static uint64_t tsc_hz;

static struct ratio ratio_of(uint64_t num, uint64_t den)
{
    return (struct ratio){.whole = num / den,
                          .frac = (uint64_t)(((unsigned __int128)(num % den) << 64) / den)};
}

/* floor(x * r), or its ceiling plus one when @p up: a deadline converted up is never
 * reached early, whatever the rounding of the way back. */
static uint64_t scale(uint64_t x, struct ratio r, bool up)
{
    unsigned __int128 part = (unsigned __int128)x * r.frac;
    unsigned __int128 v = (unsigned __int128)x * r.whole + (uint64_t)(part >> 64);
    if (up)
        v += 1 + ((uint64_t)part != 0);
    return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

static inline void ensure_calibrated(void)
{
    if (RT_UNLIKELY(!__atomic_load_n(&co_clock_ready_, __ATOMIC_ACQUIRE)))
        co_tsc_hz();
}

static uint64_t mono_raw_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Measure TSC ticks over ~20 ms of wall time. The wall-clock reads are bracketed
 * by TSC reads and the tightest bracket is kept, so a preemption between the two
 * reads cannot skew the result.
 */
static void clock_calibrate(void)
{
    uint64_t best_hz = 0;
    for (int round = 0; round < 2; round++) {
        uint64_t c0 = co_tsc(), t0 = mono_raw_ns(), c0b = co_tsc();
        while (mono_raw_ns() - t0 < 10000000ull)
            ;
        uint64_t c1 = co_tsc(), t1 = mono_raw_ns(), c1b = co_tsc();
        uint64_t ticks = ((c1 + c1b) / 2) - ((c0 + c0b) / 2);
        uint64_t hz = (uint64_t)((unsigned __int128)ticks * 1000000000u / (t1 - t0));
        if (best_hz == 0 || hz < best_hz)
            best_hz = hz;
    }
    uint64_t hz = best_hz ? best_hz : 1000000000ull;
    struct ratio r = ratio_of(1000000000u, hz);
    co_clock_to_ns_ = (struct co_clock_ratio_){.whole = r.whole, .frac = r.frac};
    r = ratio_of(hz, 1000000000u);
    co_clock_to_tsc_ = (struct co_clock_ratio_){.whole = r.whole, .frac = r.frac};
    tsc_hz = hz;
    __atomic_store_n(&co_clock_ready_, true, __ATOMIC_RELEASE);
}

uint64_t co_tsc_hz(void)
{
    pthread_once(&clock_once, clock_calibrate);
    return tsc_hz;
}

/* co_tsc_to_ns() before the calibration: calibrate, then convert as it does. */
uint64_t co_tsc_to_ns_slow_(uint64_t ticks)
{
    ensure_calibrated();
    return scale(ticks, (struct ratio){co_clock_to_ns_.whole, co_clock_to_ns_.frac}, false);
}

/* co_ns_to_tsc() before the calibration: calibrate, then convert as it does. */
uint64_t co_ns_to_tsc_slow_(uint64_t ns)
{
    ensure_calibrated();
    return scale(ns, (struct ratio){co_clock_to_tsc_.whole, co_clock_to_tsc_.frac}, true);
}

uint64_t co_now_ns(void)
{
    ensure_calibrated(); /* calibrate before reading the counter, not after */
    return co_tsc_to_ns(co_tsc());
}
