/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file stats.h
 * mdmux measurement core: log-linear latency histograms, interval snapshots, the TSC
 * clock and text summaries.
 *
 * - A **histogram** (stats_hist_t) has HdrHistogram's log-linear shape: values up to
 *   2 * 10^d (d significant digits, 1..5) times the lowest trackable unit each get
 *   their own bucket; above, every power of two is split into the same number of
 *   equal buckets. Any recorded value is therefore known to within a relative error
 *   of 10^-d (or one unit below the unit). Memory is fixed at creation (or supplied by
 *   the caller); recording never allocates, locks, or uses atomics: each core owns
 *   its histograms and readers merge copies.
 *
 * - An **interval** (stats_interval_t) lets a reader on another thread take the
 *   histogram of the last interval from a writer that keeps recording, without any
 *   atomic read-modify-write or lock on the writer: two histograms, swapped at the
 *   writer's batch boundaries (see stats_interval_writer()).
 *
 * - The **clock**: TSC reads, TSC -> ns conversion calibrated once, and the measured
 *   cost of reading the clock, so reports can show it and not charge it to stages.
 *
 * This module depends on libc only, so every other module may use it.
 */
#ifndef MDMUX_STATS_H
#define MDMUX_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------ */
/* Histograms                                                                     */
/* ------------------------------------------------------------------------------ */

/** Default precision: 3 significant digits (0.1 % relative error). */
#define STATS_HIST_SIGFIGS_DEFAULT 3
/** Highest supported precision (5 digits: 2^17 counters, 1 MiB, per power of two). */
#define STATS_HIST_SIGFIGS_MAX 5

/**
 * A log-linear histogram of uint64_t values. The fields before `counts` are read-only
 * for users (use the accessors); `counts` has `len` entries. Geometry fields come
 * first so that a record touches one cache line of header plus one counter.
 */
typedef struct stats_hist {
    /* Hot: read or written by every record. */
    uint64_t highest;  /**< highest trackable value; above it values are clamped */
    uint64_t sub_mask; /**< (sub_bucket_count - 1) << unit_mag: keeps clz in range */
    uint32_t unit_mag; /**< log2 of the lowest trackable unit */
    uint32_t half_mag; /**< log2 of sub_bucket_count / 2 */
    uint64_t count;    /**< values recorded */
    uint64_t total;    /**< sum of the values recorded (unclamped) */
    uint64_t min;      /**< smallest value recorded (UINT64_MAX when empty) */
    uint64_t max;      /**< largest value recorded, unclamped (0 when empty) */
    uint64_t overflow; /**< values above highest, counted in the top bucket */
    /* Cold: geometry and ownership. */
    uint64_t lowest;  /**< lowest discernible value as asked for */
    uint32_t sigfigs; /**< significant digits */
    uint32_t buckets; /**< powers of two covered */
    uint32_t len;     /**< entries in counts[] */
    uint32_t
        owned; /**< non-zero: stats_hist_free() releases the memory (1 + its offset in 64-byte lines) */
    uint64_t counts[]; /**< the buckets */
} stats_hist_t;

/**
 * Bytes a histogram of this geometry needs (header and counters), for caller-provided
 * storage with stats_hist_init().
 *
 * @param lowest   lowest discernible value, >= 1 (values below it share buckets of
 *                 width 2^floor(log2(lowest)))
 * @param highest  highest trackable value, >= 2 * lowest, <= INT64_MAX
 * @param sigfigs  significant digits, 1..5
 * @return the size in bytes, or 0 when a parameter is invalid.
 */
size_t stats_hist_size(uint64_t lowest, uint64_t highest, unsigned sigfigs);

/**
 * Build an empty histogram in caller-provided memory (no allocation).
 *
 * @param mem      at least stats_hist_size() bytes, 8-byte aligned (64 is better)
 * @param size     bytes available at @p mem
 * @param lowest   as stats_hist_size()
 * @param highest  as stats_hist_size()
 * @param sigfigs  as stats_hist_size()
 * @return the histogram (at @p mem), or NULL with errno EINVAL for a bad parameter or
 *         ENOSPC when @p size is too small.
 */
stats_hist_t *stats_hist_init(void *mem, size_t size, uint64_t lowest, uint64_t highest,
                              unsigned sigfigs);

/**
 * Allocate an empty histogram (one 64-byte aligned block, zeroed).
 *
 * @return the histogram, or NULL with errno EINVAL (bad parameter) or ENOMEM.
 */
stats_hist_t *stats_hist_create(uint64_t lowest, uint64_t highest, unsigned sigfigs);

/** Release a histogram from stats_hist_create() (NULL and caller storage: no-op). */
void stats_hist_free(stats_hist_t *h);

/** Empty @p h: counters, count, total, min, max and overflow. Geometry is kept. */
void stats_hist_reset(stats_hist_t *h);

/* Bucket index of @p v, already clamped to highest. Internal to the inline records. */
static inline size_t stats_hist_index_(const stats_hist_t *h, uint64_t v)
{
    /* The mask's bits keep the top bit at or above the first bucket's, so the bucket
     * number b never goes negative and v == 0 needs no branch. */
    /* 63 ^ clz is 63 - clz (clz is 0..63) and compiles to a bare bsr/lzcnt. */
    unsigned shift = (63u ^ (unsigned)__builtin_clzll(v | h->sub_mask)) - h->half_mag;
    /* Bucket b = shift - unit_mag has sub-buckets half..2*half-1 (b == 0: 0..2*half-1)
     * and starts at index (b + 1) * half: (b << half_mag) + (v >> shift) is exactly
     * that, with no subtraction of half. */
    return ((size_t)(shift - h->unit_mag) << h->half_mag) + (size_t)(v >> shift);
}

/* counts[] moved down by unit_mag << half_mag, for the split recording loops: there
   bucket b's sub-buckets start at (b + unit_mag) << half_mag, i.e. the shift's value
   itself, which saves the loop a register. Every index those loops compute is >= the
   offset, so each access stays inside counts[]. Internal to the burst records. */
static inline uint64_t *stats_hist_base_(stats_hist_t *h)
{
    return (uint64_t *)((uintptr_t)h->counts -
                        (((uintptr_t)h->unit_mag << h->half_mag) * sizeof(uint64_t)));
}

/**
 * Record one value. Never allocates, never fails: a value above the highest trackable
 * one is counted in the top bucket and in `overflow` (min, max and total keep it
 * unclamped). Not thread-safe: one writer per histogram.
 */
static inline void stats_hist_record(stats_hist_t *h, uint64_t v)
{
    uint64_t hi = h->highest;
    uint64_t over = v > hi;
    uint64_t c = over ? hi : v;
    h->counts[stats_hist_index_(h, c)]++;
    h->count++;
    h->total += v;
    h->overflow += over;
    h->min = v < h->min ? v : h->min;
    h->max = v > h->max ? v : h->max;
}

/** Record @p v @p n times (as n calls of stats_hist_record(), in one step). */
static inline void stats_hist_record_n(stats_hist_t *h, uint64_t v, uint64_t n)
{
    if (n == 0)
        return;
    uint64_t hi = h->highest;
    uint64_t over = v > hi;
    h->counts[stats_hist_index_(h, over ? hi : v)] += n;
    h->count += n;
    h->total += v * n;
    h->overflow += over * n;
    h->min = v < h->min ? v : h->min;
    h->max = v > h->max ? v : h->max;
}

/**
 * Record the @p n values at @p v, exactly as @p n calls of stats_hist_record() would
 * (same buckets, count, total, overflow, min and max), with the geometry loaded and
 * count, total, overflow, min and max kept in registers once for the whole burst
 * instead of once per value: ~15 instructions a value instead of ~34.
 */
static inline void stats_hist_record_burst(stats_hist_t *h, const uint64_t *v, unsigned n)
{
    const uint64_t hi = h->highest, mask = h->sub_mask;
    const unsigned half = h->half_mag, unit = h->unit_mag;
    uint64_t *counts = h->counts;
    uint64_t total = 0, over = 0, mn = h->min, mx = h->max;
    for (unsigned i = 0; i < n; i++) {
        uint64_t x = v[i];
        uint64_t o = x > hi;
        uint64_t c = o ? hi : x;
        unsigned shift = (63u ^ (unsigned)__builtin_clzll(c | mask)) - half;
        counts[((size_t)(shift - unit) << half) + (size_t)(c >> shift)]++;
        total += x;
        over += o;
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
    }
    h->count += n;
    h->total += total;
    h->overflow += over;
    h->min = mn;
    h->max = mx;
}

/* Internal: fold a batch's count, total, overflow, min and max into @p h (the shared
   tail of the two-histogram burst records). */
static inline void stats__hist_add_summary(stats_hist_t *h, uint64_t count, uint64_t total,
                                           uint64_t over, uint64_t mn, uint64_t mx)
{
    h->count += count;
    h->total += total;
    h->overflow += over;
    h->min = mn < h->min ? mn : h->min;
    h->max = mx > h->max ? mx : h->max;
}

/**
 * Record the @p n values at @p v into both @p a and @p b, exactly as
 * stats_hist_record_burst() into each would. When both clamp at the same highest
 * value (the same range, whatever the precisions) one pass does both histograms'
 * buckets (the clamp shared) and a second pass the overflow, min, max and total of
 * both: apart, each loop's state fits x86-64's registers, where one loop spilled
 * several of them on every value (~2 instructions a value fewer, counted with
 * callgrind in bench_handler). Always inlined: out of line, the call costs more.
 */
static inline __attribute__((always_inline)) void
stats_hist_record_burst2(stats_hist_t *a, stats_hist_t *b, const uint64_t *v, unsigned n)
{
    if (__builtin_expect(a->highest != b->highest, 0)) {
        stats_hist_record_burst(a, v, n);
        stats_hist_record_burst(b, v, n);
        return;
    }
    const uint64_t hi = a->highest, amask = a->sub_mask, bmask = b->sub_mask;
    const unsigned ahalf = a->half_mag, bhalf = b->half_mag;
    uint64_t *ab = stats_hist_base_(a), *bb = stats_hist_base_(b);
    for (unsigned i = 0; i < n; i++) {
        uint64_t c = v[i] > hi ? hi : v[i];
        unsigned as = (63u ^ (unsigned)__builtin_clzll(c | amask)) - ahalf;
        unsigned bs = (63u ^ (unsigned)__builtin_clzll(c | bmask)) - bhalf;
        ab[((size_t)as << ahalf) + (size_t)(c >> as)]++;
        bb[((size_t)bs << bhalf) + (size_t)(c >> bs)]++;
    }
    uint64_t total = 0, over = 0, mn = UINT64_MAX, mx = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t x = v[i];
        total += x;
        over += x > hi;
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
    }
    stats__hist_add_summary(a, n, total, over, mn, mx);
    stats__hist_add_summary(b, n, total, over, mn, mx);
}

/**
 * Record value @p v[i] @p w[i] times, for i < @p n, exactly as w[0] + ... + w[n-1]
 * calls of stats_hist_record() would (same buckets, count, total, overflow, min and
 * max): a run of equal values costs one bucket update. Every @p w[i] must be >= 1 (a
 * zero weight would still move min and max).
 */
static inline void stats_hist_record_runs(stats_hist_t *h, const uint64_t *v, const uint32_t *w,
                                          unsigned n)
{
    const uint64_t hi = h->highest, mask = h->sub_mask;
    const unsigned half = h->half_mag, unit = h->unit_mag;
    uint64_t *counts = h->counts;
    uint64_t cnt = 0, total = 0, over = 0, mn = h->min, mx = h->max;
    for (unsigned i = 0; i < n; i++) {
        uint64_t x = v[i], k = w[i];
        uint64_t c = x > hi ? hi : x;
        unsigned shift = (63u ^ (unsigned)__builtin_clzll(c | mask)) - half;
        counts[((size_t)(shift - unit) << half) + (size_t)(c >> shift)] += k;
        cnt += k;
        total += x * k; /* mod 2^64, as k additions are */
        over += x > hi ? k : 0;
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
    }
    h->count += cnt;
    h->total += total;
    h->overflow += over;
    h->min = mn;
    h->max = mx;
}

/**
 * Record value @p v[i] @p w[i] times into both @p a and @p b, for i < @p n, exactly as
 * stats_hist_record_runs() into each would; every @p w[i] >= 1. For the latency
 * recorder, whose runs are the messages of one packet sharing their stamps. As
 * stats_hist_record_burst2(): when both clamp at the same highest value, one pass does
 * both (clamp, overflow, min, max and total shared), ~5 instructions a run more than
 * that loop's value (the weights' multiply and select).
 */
static inline void stats_hist_record_runs2(stats_hist_t *a, stats_hist_t *b, const uint64_t *v,
                                           const uint32_t *w, unsigned n)
{
    if (n == 1) {
        /* One run (a paced packet's messages): no loop state to set up and tear down. */
        stats_hist_record_n(a, v[0], w[0]);
        stats_hist_record_n(b, v[0], w[0]);
        return;
    }
    if (__builtin_expect(a->highest != b->highest, 0)) {
        stats_hist_record_runs(a, v, w, n);
        stats_hist_record_runs(b, v, w, n);
        return;
    }
    const uint64_t hi = a->highest, amask = a->sub_mask, bmask = b->sub_mask;
    const unsigned ahalf = a->half_mag, aunit = a->unit_mag;
    const unsigned bhalf = b->half_mag, bunit = b->unit_mag;
    uint64_t *ac = a->counts, *bc = b->counts;
    uint64_t cnt = 0, total = 0, over = 0, mn = UINT64_MAX, mx = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t x = v[i], k = w[i];
        uint64_t c = x > hi ? hi : x;
        unsigned as = (63u ^ (unsigned)__builtin_clzll(c | amask)) - ahalf;
        unsigned bs = (63u ^ (unsigned)__builtin_clzll(c | bmask)) - bhalf;
        ac[((size_t)(as - aunit) << ahalf) + (size_t)(c >> as)] += k;
        bc[((size_t)(bs - bunit) << bhalf) + (size_t)(c >> bs)] += k;
        cnt += k;
        total += x * k; /* mod 2^64, as k additions are */
        over += x > hi ? k : 0;
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
    }
    stats__hist_add_summary(a, cnt, total, over, mn, mx);
    stats__hist_add_summary(b, cnt, total, over, mn, mx);
}

/** Values recorded. */
static inline uint64_t stats_hist_count(const stats_hist_t *h)
{
    return h->count;
}

/** Smallest value recorded (exact), 0 when empty. */
static inline uint64_t stats_hist_min(const stats_hist_t *h)
{
    return h->count ? h->min : 0;
}

/** Largest value recorded (exact, even when above the range), 0 when empty. */
static inline uint64_t stats_hist_max(const stats_hist_t *h)
{
    return h->max;
}

/** Values recorded above the highest trackable value (clamped into the top bucket). */
static inline uint64_t stats_hist_overflow(const stats_hist_t *h)
{
    return h->overflow;
}

/**
 * Add @p src into @p dst (count, total, overflow, buckets; min and max combined).
 *
 * @return 0, or -EINVAL when the geometries differ (then @p dst is unchanged).
 */
int stats_hist_merge(stats_hist_t *dst, const stats_hist_t *src);

/**
 * Copy @p src into @p dst (as reset + merge).
 *
 * @return 0, or -EINVAL when the geometries differ (then @p dst is unchanged).
 */
int stats_hist_copy(stats_hist_t *dst, const stats_hist_t *src);

/** True when @p a and @p b have the same lowest, highest and significant digits. */
bool stats_hist_same_geometry(const stats_hist_t *a, const stats_hist_t *b);

/**
 * The value at quantile @p q (0..1): the nearest-rank value ceil(q * count) of the
 * recorded values (a product within rounding error of an integer is that integer: p7 of
 * 1000 values is the 70th), reported as the highest value of its bucket, clamped to
 * [min, max].
 * So it is never below the exact value and exceeds it by at most its relative
 * precision (10^-sigfigs); q = 0 gives min and q = 1 gives max, both exact.
 *
 * @return the value, or 0 when the histogram is empty.
 */
uint64_t stats_hist_quantile(const stats_hist_t *h, double q);

/**
 * Several quantiles in one pass over the counters: out[k] = stats_hist_quantile(h,
 * q[k]). @p q must be sorted ascending.
 */
void stats_hist_quantiles(const stats_hist_t *h, const double *q, unsigned n, uint64_t *out);

/** As stats_hist_quantile(h, p / 100). */
uint64_t stats_hist_percentile(const stats_hist_t *h, double p);

/** Mean of the recorded values (exact: from the unclamped total); 0 when empty. */
double stats_hist_mean(const stats_hist_t *h);

/**
 * Standard deviation (population) of the recorded values, from the buckets (each
 * bucket's values taken at its midpoint): within the histogram's precision.
 */
double stats_hist_stddev(const stats_hist_t *h);

/**
 * Count of recorded values <= @p v, at bucket resolution: every value in the bucket
 * holding @p v is counted when that bucket's highest value is <= @p v, otherwise none
 * of them. Built for Prometheus cumulative buckets (`le`), whose bounds need not align
 * with the histogram's.
 */
uint64_t stats_hist_count_le(const stats_hist_t *h, uint64_t v);

/** Lowest value that shares the bucket of @p v. */
uint64_t stats_hist_lowest_equiv(const stats_hist_t *h, uint64_t v);

/** Highest value that shares the bucket of @p v (values above highest: highest's). */
uint64_t stats_hist_highest_equiv(const stats_hist_t *h, uint64_t v);

/* ------------------------------------------------------------------------------ */
/* Iteration                                                                      */
/* ------------------------------------------------------------------------------ */

/**
 * An iterator over a histogram; the public fields describe the current step after
 * each successful stats_iter_next(). Do not modify the histogram while iterating.
 */
typedef struct stats_iter {
    uint64_t value_lo;   /**< lowest value of the step's bucket */
    uint64_t value;      /**< highest value of the step's bucket (clamped to max) */
    uint64_t count;      /**< values in this step (bucket, or since the previous step) */
    uint64_t cumulative; /**< values at or below this step */
    double percentile;   /**< percentile iteration: the step's target, 0..100;
                              bucket iteration: cumulative / count * 100 */
    /* internal */
    const stats_hist_t *h;
    uint32_t idx;
    uint32_t ticks_per_half;
    double target;
    uint64_t seen;
    bool percentiles;
    bool done;
} stats_iter_t;

/**
 * Iterate over the buckets that hold values, lowest first. The counts of all steps sum
 * to the histogram's count.
 */
void stats_iter_buckets(stats_iter_t *it, const stats_hist_t *h);

/**
 * Iterate over percentiles as HdrHistogram's percentile output does, for a
 * percentile distribution on a 1/(1-p) axis: steps at 0 %, then @p ticks_per_half
 * steps per halving of the distance to 100 % (50, 75, 87.5 ...), last at 100 %.
 * `value` is the value at `percentile`, `count` the values since the previous step.
 *
 * @param ticks_per_half  steps per half-distance, >= 1 (0 counts as 1; HdrHistogram's
 *                        default is 5)
 */
void stats_iter_percentiles(stats_iter_t *it, const stats_hist_t *h, unsigned ticks_per_half);

/** Advance; false once the iteration is over (fields then undefined). */
bool stats_iter_next(stats_iter_t *it);

/* ------------------------------------------------------------------------------ */
/* Intervals: a live histogram read from another thread                           */
/* ------------------------------------------------------------------------------ */

/**
 * Two histograms of one geometry and the flags that swap them. One writer thread
 * records into the active one; one reader thread swaps them and reads the one the
 * writer left. Protocol (single writer, single reader):
 *
 * - The writer calls stats_interval_writer() at the start of every batch (and from its
 *   idle loop, at least every few milliseconds) and records the batch into the
 *   histogram it returns. That call is one relaxed-cost load on x86 and, only right
 *   after a swap request, one store: no read-modify-write, no lock, no fence.
 * - The reader calls stats_interval_request() to ask for a swap, then polls
 *   stats_interval_poll() until it returns the histogram the writer stopped using
 *   (the writer has returned to stats_interval_writer() since the request). It then
 *   owns that histogram exclusively: it reads it, merges it into its own totals and
 *   resets it (stats_interval_poll() does the reset on the next request).
 *
 * Guarantees: every value lands in exactly one interval; an interval ends at a batch
 * boundary of the writer; its count, buckets, min, max and total are exact and
 * mutually consistent. The reader waits at most one writer batch (or idle tick).
 */
typedef struct stats_interval {
    /* Written by the reader, read by the writer. */
    _Alignas(64) _Atomic uint32_t request; /**< swaps asked for; low bit: active one */
    /* Written by the writer, read by the reader. */
    _Alignas(64) _Atomic uint32_t ack; /**< last request the writer has seen */
    /* Writer-private. */
    uint32_t seen;
    /* Reader-private. */
    _Alignas(64) bool pending;
    stats_hist_t *h[2];
} stats_interval_t;

/**
 * Set up @p iv with two empty histograms of the same geometry (from
 * stats_hist_create() or caller storage; they stay the caller's to free).
 *
 * @return 0, or -EINVAL when the geometries differ or a histogram is NULL.
 */
int stats_interval_init(stats_interval_t *iv, stats_hist_t *a, stats_hist_t *b);

/**
 * Writer side: the histogram to record the coming batch into. Call it once per batch;
 * do not keep the pointer across batches (after a swap request it changes).
 */
static inline stats_hist_t *stats_interval_writer(stats_interval_t *iv)
{
    /* Acquire: the reader's reset of the histogram it hands back happens before the
     * writer records into it again. On x86 it is a plain load. */
    uint32_t want = atomic_load_explicit(&iv->request, memory_order_acquire);
    if (__builtin_expect(want != iv->seen, 0)) {
        iv->seen = want;
        /* Release: every record into the old histogram happens before the reader
         * sees this ack and reads it. */
        atomic_store_explicit(&iv->ack, want, memory_order_release);
    }
    return iv->h[want & 1u];
}

/**
 * Reader side: ask the writer to switch histograms at its next batch. The previous
 * interval histogram handed out by stats_interval_poll() is reset here first, so it
 * must no longer be in use.
 *
 * @return 0, or -EBUSY when a request is still pending (poll it first).
 */
int stats_interval_request(stats_interval_t *iv);

/**
 * Reader side: the interval histogram, once the writer has left it, else NULL (the
 * writer has not started a batch since the request, or no request is pending). The
 * histogram stays valid and unchanged until the next stats_interval_request().
 */
stats_hist_t *stats_interval_poll(stats_interval_t *iv);

/**
 * Reader side, blocking: request, then poll (sleeping ~10 us between polls) for up to
 * @p timeout_ns nanoseconds. If @p into is not NULL the interval is merged into it.
 *
 * @return the interval histogram, or NULL on timeout (the request stays pending:
 *         poll again later) or when another request was pending and still is.
 */
stats_hist_t *stats_interval_swap(stats_interval_t *iv, stats_hist_t *into, uint64_t timeout_ns);

/* ------------------------------------------------------------------------------ */
/* Clock                                                                          */
/* ------------------------------------------------------------------------------ */

/** Read the TSC without serialisation: the cheap stamp for intervals. */
static inline uint64_t stats_tsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/** Read the TSC with rdtscp: waits for earlier instructions to finish. */
static inline uint64_t stats_tscp(void)
{
    uint32_t lo, hi, aux;
    __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
    (void)aux;
    return ((uint64_t)hi << 32) | lo;
}

/**
 * TSC frequency in Hz: calibrated against CLOCK_MONOTONIC_RAW on first use (~20 ms,
 * once per process), unless set with stats_clock_set_hz(). Thread-safe.
 */
uint64_t stats_tsc_hz(void);

/**
 * Use @p hz as the TSC frequency (e.g. lib/rt's co_tsc_hz(), so the whole process
 * converts with one calibration). Call before any conversion; 0 is ignored.
 */
void stats_clock_set_hz(uint64_t hz);

/** TSC ticks to nanoseconds, rounded down. */
uint64_t stats_tsc_to_ns(uint64_t ticks);

/** Nanoseconds to TSC ticks, rounded down. */
uint64_t stats_ns_to_tsc(uint64_t ns);

/** The cost of reading the clock, from back-to-back pairs of reads. */
typedef struct stats_clock_cost {
    uint64_t rdtsc_ticks;  /**< median rdtsc -> rdtsc delta */
    uint64_t rdtscp_ticks; /**< median rdtscp -> rdtscp delta */
    uint64_t rdtsc_min;    /**< smallest rdtsc -> rdtsc delta */
    uint64_t rdtscp_min;   /**< smallest rdtscp -> rdtscp delta */
    double rdtsc_ns;       /**< rdtsc_ticks in ns */
    double rdtscp_ns;      /**< rdtscp_ticks in ns */
} stats_clock_cost_t;

/**
 * Measure the cost of reading the clock: the median (and minimum) delta of @p pairs
 * back-to-back rdtsc and rdtscp pairs (at most 65535; 0 means 4096). A stage measured
 * as the difference of two stamps includes one such cost, which reports show beside
 * the stage rather than charge to it. No allocation; 4 KiB of stack.
 */
void stats_clock_cost(stats_clock_cost_t *out, unsigned pairs);

/* ------------------------------------------------------------------------------ */
/* Text                                                                           */
/* ------------------------------------------------------------------------------ */

/** The summary figures of a histogram, in its own unit. */
typedef struct stats_summary {
    uint64_t count, min, p50, p90, p99, p999, p9999, max, overflow;
    double mean;
} stats_summary_t;

/** Fill @p s from @p h (all zero when empty). */
void stats_hist_summary(const stats_hist_t *h, stats_summary_t *s);

/**
 * Write a one-line summary of @p h into @p buf, as snprintf() does:
 * `count=N min=A p50=B p90=C p99=D p99.9=E p99.99=F max=G` (and ` overflow=K` when
 * values were clamped). Values are in the histogram's unit (ns by convention).
 *
 * @return the length of the full line (>= @p len means it was truncated), or -1.
 */
int stats_hist_format(const stats_hist_t *h, char *buf, size_t len);

/**
 * Write the header of a summary table (the columns of stats_hist_format_row()).
 *
 * @return as snprintf().
 */
int stats_hist_format_header(char *buf, size_t len);

/**
 * Write one row of a summary table: @p name (up to 24 columns) then count, min, p50,
 * p90, p99, p99.9, p99.99 and max, right-aligned under stats_hist_format_header().
 *
 * @return as snprintf().
 */
int stats_hist_format_row(const stats_hist_t *h, const char *name, char *buf, size_t len);

/**
 * Write @p h's percentile distribution in HdrHistogram's text format (the `.hgrm` that
 * its plotter reads): a line per stats_iter_percentiles() step with the value divided
 * by @p scale, the percentile as a fraction, the cumulative count and 1/(1-p), then the
 * mean, stddev, max, count and geometry footer. Control path (stdio).
 *
 * @param f               where to write
 * @param ticks_per_half  steps per half-distance (5 is HdrHistogram's default)
 * @param scale           divisor of the values (1: as recorded; 1000: ns as us)
 * @return 0, or -EIO when a write failed.
 */
int stats_hist_write_distribution(const stats_hist_t *h, FILE *f, unsigned ticks_per_half,
                                  double scale);

#ifdef __cplusplus
}
#endif

#endif /* MDMUX_STATS_H */
