/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TSC clock of lib/stats: its own calibration (the module depends on libc only),
 * which stats_clock_set_hz() can replace with lib/rt's so one process converts with
 * one figure. Conversions multiply by a 64.64 fixed-point ratio: no division.
 */
#include "stats.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

struct ratio {
    uint64_t whole;
    uint64_t frac; /* / 2^64 */
};

/* `hz` is stored last with release; the ratios are read after an acquire of it. */
static struct ratio to_ns, to_tsc;
static _Atomic uint64_t clock_hz;
static pthread_mutex_t clock_lock = PTHREAD_MUTEX_INITIALIZER;

static struct ratio ratio_of(uint64_t num, uint64_t den)
{
    return (struct ratio){.whole = num / den,
                          .frac = (uint64_t)(((unsigned __int128)(num % den) << 64) / den)};
}

static uint64_t scale(uint64_t x, struct ratio r)
{
    unsigned __int128 v =
        (unsigned __int128)x * r.whole + (uint64_t)(((unsigned __int128)x * r.frac) >> 64);
    return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

static uint64_t mono_raw_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Ticks over ~10 ms of wall time, twice; the wall-clock reads are bracketed by TSC
 * reads so a preemption between them cannot skew the figure. The lower one wins (a
 * preemption only ever adds ticks to one side). */
static uint64_t calibrate(void)
{
    uint64_t best = 0;
    for (int round = 0; round < 2; round++) {
        uint64_t c0 = stats_tsc(), t0 = mono_raw_ns(), c0b = stats_tsc();
        while (mono_raw_ns() - t0 < 10000000ull)
            ;
        uint64_t c1 = stats_tsc(), t1 = mono_raw_ns(), c1b = stats_tsc();
        uint64_t ticks = (c1 + c1b) / 2 - (c0 + c0b) / 2;
        uint64_t hz = (uint64_t)((unsigned __int128)ticks * 1000000000u / (t1 - t0));
        if (best == 0 || hz < best)
            best = hz;
    }
    return best ? best : 1000000000ull;
}

/* Under clock_lock: set the ratios, then publish hz. */
static void clock_publish(uint64_t hz)
{
    to_ns = ratio_of(1000000000u, hz);
    to_tsc = ratio_of(hz, 1000000000u);
    atomic_store_explicit(&clock_hz, hz, memory_order_release);
}

uint64_t stats_tsc_hz(void)
{
    uint64_t hz = atomic_load_explicit(&clock_hz, memory_order_acquire);
    if (__builtin_expect(hz != 0, 1))
        return hz;
    pthread_mutex_lock(&clock_lock);
    hz = atomic_load_explicit(&clock_hz, memory_order_relaxed);
    if (hz == 0) {
        hz = calibrate();
        clock_publish(hz);
    }
    pthread_mutex_unlock(&clock_lock);
    return hz;
}

void stats_clock_set_hz(uint64_t hz)
{
    if (hz == 0)
        return;
    pthread_mutex_lock(&clock_lock);
    clock_publish(hz);
    pthread_mutex_unlock(&clock_lock);
}

uint64_t stats_tsc_to_ns(uint64_t ticks)
{
    stats_tsc_hz();
    return scale(ticks, to_ns);
}

uint64_t stats_ns_to_tsc(uint64_t ns)
{
    stats_tsc_hz();
    return scale(ns, to_tsc);
}

/* ---- the cost of reading the clock --------------------------------------------- */

/* Deltas up to this many ticks are binned exactly; larger ones share the last bin (a
 * back-to-back pair that slow means the TSC read traps, which the figure then shows
 * as a floor). Two such tables: 4 KiB of stack, no allocation. */
#define COST_BINS 1024u

static uint64_t bin_median(const uint16_t *bins, unsigned n)
{
    unsigned rank = (n + 1) / 2, seen = 0;
    for (unsigned i = 0; i < COST_BINS; i++) {
        seen += bins[i];
        if (seen >= rank)
            return i;
    }
    return COST_BINS - 1;
}

static uint64_t bin_min(const uint16_t *bins)
{
    for (unsigned i = 0; i < COST_BINS; i++)
        if (bins[i])
            return i;
    return COST_BINS - 1;
}

static void bin_add(uint16_t *bins, uint64_t d)
{
    bins[d < COST_BINS ? d : COST_BINS - 1]++;
}

void stats_clock_cost(stats_clock_cost_t *out, unsigned pairs)
{
    uint16_t tsc[COST_BINS], tscp[COST_BINS];
    if (pairs == 0)
        pairs = 4096;
    if (pairs > UINT16_MAX)
        pairs = UINT16_MAX;
    memset(tsc, 0, sizeof(tsc));
    memset(tscp, 0, sizeof(tscp));
    /* Interleaved, so a frequency or scheduling change hits both kinds alike. */
    for (unsigned i = 0; i < pairs; i++) {
        uint64_t a = stats_tsc(), b = stats_tsc();
        bin_add(tsc, b - a);
        uint64_t c = stats_tscp(), d = stats_tscp();
        bin_add(tscp, d - c);
    }
    out->rdtsc_ticks = bin_median(tsc, pairs);
    out->rdtscp_ticks = bin_median(tscp, pairs);
    out->rdtsc_min = bin_min(tsc);
    out->rdtscp_min = bin_min(tscp);
    double ns_per_tick = 1e9 / (double)stats_tsc_hz();
    out->rdtsc_ns = (double)out->rdtsc_ticks * ns_per_tick;
    out->rdtscp_ns = (double)out->rdtscp_ticks * ns_per_tick;
}
