/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TSC clock: calibrated once against CLOCK_MONOTONIC_RAW, then converted with
 * 32.32 fixed-point multipliers so hot paths never divide.
 */
#include "rt_internal.h"

#include <pthread.h>
#include <time.h>

static pthread_once_t clock_once = PTHREAD_ONCE_INIT;
/* Written once under clock_once; atomics so the lazy checks below are race-free. */
static _Atomic uint64_t tsc_hz;
static _Atomic uint64_t ns_per_tick_q32;  /* (1e9 << 32) / hz */
static _Atomic uint64_t ticks_per_ns_q32; /* (hz << 32) / 1e9 */

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
    atomic_store(&ns_per_tick_q32, (uint64_t)(((unsigned __int128)1000000000u << 32) / hz));
    atomic_store(&ticks_per_ns_q32, (uint64_t)(((unsigned __int128)hz << 32) / 1000000000u));
    atomic_store(&tsc_hz, hz);
}

uint64_t co_tsc_hz(void)
{
    pthread_once(&clock_once, clock_calibrate);
    return atomic_load_explicit(&tsc_hz, memory_order_relaxed);
}

uint64_t co_tsc_to_ns(uint64_t ticks)
{
    uint64_t m = atomic_load_explicit(&ns_per_tick_q32, memory_order_relaxed);
    if (RT_UNLIKELY(!m)) {
        co_tsc_hz();
        m = atomic_load_explicit(&ns_per_tick_q32, memory_order_relaxed);
    }
    return (uint64_t)(((unsigned __int128)ticks * m) >> 32);
}

uint64_t co_ns_to_tsc(uint64_t ns)
{
    uint64_t m = atomic_load_explicit(&ticks_per_ns_q32, memory_order_relaxed);
    if (RT_UNLIKELY(!m)) {
        co_tsc_hz();
        m = atomic_load_explicit(&ticks_per_ns_q32, memory_order_relaxed);
    }
    unsigned __int128 t = ((unsigned __int128)ns * m) >> 32;
    return t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
}

uint64_t co_now_ns(void)
{
    if (RT_UNLIKELY(!atomic_load_explicit(&ns_per_tick_q32, memory_order_relaxed)))
        co_tsc_hz(); /* calibrate before reading the counter, not after */
    return co_tsc_to_ns(co_tsc());
}
