/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Log-linear histograms: geometry, reset, merge, quantiles, moments.
 *
 * Layout (HdrHistogram's, with its index arithmetic folded): with 2^c sub-buckets
 * (2^c >= 2 * 10^sigfigs) and half = 2^(c-1), bucket 0 holds values 0 .. 2^c - 1 units
 * one unit apart, and bucket b >= 1 holds 2^(c-1+b) .. 2^(c+b) - 1 units in `half` steps
 * of 2^b units. Counter index = (b << (c-1)) + (value >> (b + unit_mag)).
 */
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct geometry {
    uint32_t unit_mag, half_mag, buckets, len;
};

static uint64_t pow10u(unsigned n)
{
    uint64_t v = 1;
    while (n--)
        v *= 10;
    return v;
}

/* Smallest c with 2^c >= v (v >= 2). */
static unsigned ceil_log2(uint64_t v)
{
    return 64u - (unsigned)__builtin_clzll(v - 1);
}

static int geometry_of(uint64_t lowest, uint64_t highest, unsigned sigfigs, struct geometry *g)
{
    if (sigfigs < 1 || sigfigs > STATS_HIST_SIGFIGS_MAX || lowest < 1 || highest > INT64_MAX ||
        highest / 2 < lowest)
        return -EINVAL;
    unsigned count_mag = ceil_log2(2 * pow10u(sigfigs));
    unsigned unit_mag = 63u - (unsigned)__builtin_clzll(lowest);
    /* sub_mask and the top bucket's shifts must stay inside 63 bits. */
    if (unit_mag + count_mag > 62)
        return -EINVAL;
    /* One bucket per power of two until the range is covered; highest < 2^63, so
     * the shift never overflows. */
    uint64_t untrackable = (uint64_t)1 << (count_mag + unit_mag);
    unsigned buckets = 1;
    while (untrackable <= highest) {
        untrackable <<= 1;
        buckets++;
    }
    g->unit_mag = unit_mag;
    g->half_mag = count_mag - 1;
    g->buckets = buckets;
    g->len = (buckets + 1) << (count_mag - 1);
    return 0;
}

size_t stats_hist_size(uint64_t lowest, uint64_t highest, unsigned sigfigs)
{
    struct geometry g;
    if (geometry_of(lowest, highest, sigfigs, &g) < 0)
        return 0;
    return sizeof(stats_hist_t) + (size_t)g.len * sizeof(uint64_t);
}

static void hist_reset_totals(stats_hist_t *h)
{
    h->count = 0;
    h->total = 0;
    h->min = UINT64_MAX;
    h->max = 0;
    h->overflow = 0;
}

stats_hist_t *stats_hist_init(void *mem, size_t size, uint64_t lowest, uint64_t highest,
                              unsigned sigfigs)
{
    struct geometry g;
    if (!mem || ((uintptr_t)mem & 7) || geometry_of(lowest, highest, sigfigs, &g) < 0) {
        errno = EINVAL;
        return NULL;
    }
    if (size < sizeof(stats_hist_t) + (size_t)g.len * sizeof(uint64_t)) {
        errno = ENOSPC;
        return NULL;
    }
    stats_hist_t *h = mem;
    *h = (stats_hist_t){
        .highest = highest,
        .sub_mask = (((uint64_t)2 << g.half_mag) - 1) << g.unit_mag,
        .unit_mag = g.unit_mag,
        .half_mag = g.half_mag,
        .lowest = lowest,
        .sigfigs = sigfigs,
        .buckets = g.buckets,
        .len = g.len,
    };
    hist_reset_totals(h);
    memset(h->counts, 0, (size_t)g.len * sizeof(uint64_t));
    return h;
}

/*
 * Where the next histogram starts in its allocation: 0, 64, ... 4032 bytes in turn.
 * A histogram is tens or hundreds of KiB, so the allocator returns it at the same
 * offset into a page every time, and every header (the hot line a record reads and
 * writes) and every histogram's bucket for a given value would share one L1 set: the
 * latency recorder touches ten headers a burst (five stages, overall and per feed) out
 * of 500 or more with 50 feeds. Costs up to 4032 bytes a histogram.
 */
static size_t next_colour(void)
{
    static _Atomic unsigned n;
    unsigned k = atomic_fetch_add_explicit(&n, 1, memory_order_relaxed);
    return (size_t)(k % 64) * 64;
}

stats_hist_t *stats_hist_create(uint64_t lowest, uint64_t highest, unsigned sigfigs)
{
    size_t size = stats_hist_size(lowest, highest, sigfigs);
    if (size == 0) {
        errno = EINVAL;
        return NULL;
    }
    /* aligned_alloc wants a multiple of the alignment. */
    size_t colour = next_colour();
    char *mem = aligned_alloc(64, (colour + size + 63) & ~(size_t)63);
    if (!mem) {
        errno = ENOMEM;
        return NULL;
    }
    stats_hist_t *h = stats_hist_init(mem + colour, size, lowest, highest, sigfigs);
    h->owned = 1 + (uint32_t)(colour / 64);
    return h;
}

void stats_hist_free(stats_hist_t *h)
{
    if (h && h->owned)
        free((char *)h - (size_t)(h->owned - 1) * 64);
}

void stats_hist_reset(stats_hist_t *h)
{
    hist_reset_totals(h);
    memset(h->counts, 0, (size_t)h->len * sizeof(uint64_t));
}

bool stats_hist_same_geometry(const stats_hist_t *a, const stats_hist_t *b)
{
    return a->lowest == b->lowest && a->highest == b->highest && a->sigfigs == b->sigfigs;
}

static void merge_totals(stats_hist_t *dst, const stats_hist_t *src)
{
    dst->count += src->count;
    dst->total += src->total;
    dst->overflow += src->overflow;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

int stats_hist_merge(stats_hist_t *dst, const stats_hist_t *src)
{
    if (!stats_hist_same_geometry(dst, src))
        return -EINVAL;
    for (uint32_t i = 0; i < dst->len; i++)
        dst->counts[i] += src->counts[i];
    merge_totals(dst, src);
    return 0;
}

int stats_hist_copy(stats_hist_t *dst, const stats_hist_t *src)
{
    if (!stats_hist_same_geometry(dst, src))
        return -EINVAL;
    memcpy(dst->counts, src->counts, (size_t)dst->len * sizeof(uint64_t));
    hist_reset_totals(dst);
    merge_totals(dst, src);
    return 0;
}

/* ---- bucket arithmetic ------------------------------------------------------- */

/* Lowest value of counter @p idx, and (in *width) how many values share it. */
static uint64_t index_lo(const stats_hist_t *h, uint32_t idx, uint64_t *width)
{
    uint32_t half = (uint32_t)1 << h->half_mag;
    uint32_t b = 0, sub = idx;
    if (idx >= 2 * half) {
        b = (idx >> h->half_mag) - 1;
        sub = (idx & (half - 1)) + half;
    }
    *width = (uint64_t)1 << (b + h->unit_mag);
    return (uint64_t)sub << (b + h->unit_mag);
}

static uint64_t index_hi(const stats_hist_t *h, uint32_t idx)
{
    uint64_t width;
    uint64_t lo = index_lo(h, idx, &width);
    return lo + (width - 1);
}

static uint32_t index_of(const stats_hist_t *h, uint64_t v)
{
    return (uint32_t)stats_hist_index_(h, v > h->highest ? h->highest : v);
}

uint64_t stats_hist_lowest_equiv(const stats_hist_t *h, uint64_t v)
{
    uint64_t width;
    return index_lo(h, index_of(h, v), &width);
}

uint64_t stats_hist_highest_equiv(const stats_hist_t *h, uint64_t v)
{
    return index_hi(h, index_of(h, v));
}

/* A bucket's value as reported: its highest, but never outside what was recorded. */
static uint64_t reported(const stats_hist_t *h, uint32_t idx)
{
    uint64_t v = index_hi(h, idx);
    if (v > h->max)
        v = h->max;
    if (v < h->min)
        v = h->min;
    return v;
}

/* ---- quantiles ------------------------------------------------------------------ */

/* Nearest rank of quantile @p q among @p n values: ceil(q * n), in 1..n. A product
 * within rounding error above an integer counts as that integer: 0.07 * 1000 is
 * 70.00000000000001 in doubles, and p7 of 1000 values is the 70th, not the 71st. */
static uint64_t rank_of(double q, uint64_t n)
{
    double x = q * (double)n, r = floor(x);
    if (x - r > x * 1e-12)
        r += 1.0;
    if (!(r >= 1.0))
        return 1;
    if (r >= (double)n)
        return n;
    return (uint64_t)r;
}

uint64_t stats_hist_quantile(const stats_hist_t *h, double q)
{
    if (h->count == 0)
        return 0;
    if (!(q > 0.0))
        return h->min;
    if (q >= 1.0)
        return h->max;
    uint64_t rank = rank_of(q, h->count), seen = 0;
    for (uint32_t i = 0; i < h->len; i++) {
        seen += h->counts[i];
        if (seen >= rank)
            return reported(h, i);
    }
    return h->max; /* only if counts and count disagree (a torn copy) */
}

void stats_hist_quantiles(const stats_hist_t *h, const double *q, unsigned n, uint64_t *out)
{
    unsigned k = 0;
    /* The ends are exact (min, max) and need no walk. */
    for (; k < n && (h->count == 0 || !(q[k] > 0.0)); k++)
        out[k] = h->count ? h->min : 0;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < h->len && k < n && q[k] < 1.0; i++) {
        seen += h->counts[i];
        while (k < n && q[k] < 1.0 && seen >= rank_of(q[k], h->count))
            out[k++] = reported(h, i);
    }
    for (; k < n; k++)
        out[k] = h->max;
}

uint64_t stats_hist_percentile(const stats_hist_t *h, double p)
{
    return stats_hist_quantile(h, p / 100.0);
}

double stats_hist_mean(const stats_hist_t *h)
{
    return h->count ? (double)h->total / (double)h->count : 0.0;
}

double stats_hist_stddev(const stats_hist_t *h)
{
    if (h->count == 0)
        return 0.0;
    double mean = stats_hist_mean(h), sum = 0.0;
    for (uint32_t i = 0; i < h->len; i++) {
        if (h->counts[i] == 0)
            continue;
        uint64_t width;
        double mid = (double)index_lo(h, i, &width) + (double)(width - 1) / 2.0;
        double d = mid - mean;
        sum += d * d * (double)h->counts[i];
    }
    return sqrt(sum / (double)h->count);
}

uint64_t stats_hist_count_le(const stats_hist_t *h, uint64_t v)
{
    if (h->count == 0 || v < h->min)
        return 0;
    if (v >= h->max)
        return h->count;
    uint32_t idx = index_of(h, v);
    /* The bucket of v counts only when all of it is <= v. */
    uint32_t end = index_hi(h, idx) <= v ? idx + 1 : idx;
    uint64_t n = 0;
    for (uint32_t i = 0; i < end; i++)
        n += h->counts[i];
    return n;
}

/* ---- iteration ------------------------------------------------------------------ */

static void iter_start(stats_iter_t *it, const stats_hist_t *h)
{
    memset(it, 0, sizeof(*it));
    it->h = h;
    it->idx = UINT32_MAX; /* before the first counter */
}

void stats_iter_buckets(stats_iter_t *it, const stats_hist_t *h)
{
    iter_start(it, h);
}

void stats_iter_percentiles(stats_iter_t *it, const stats_hist_t *h, unsigned ticks_per_half)
{
    iter_start(it, h);
    it->percentiles = true;
    it->ticks_per_half = ticks_per_half ? ticks_per_half : 1;
}

/* Move to the next counter holding values; false at the end. */
static bool iter_advance(stats_iter_t *it)
{
    const stats_hist_t *h = it->h;
    if (it->seen >= h->count)
        return false;
    for (uint32_t i = it->idx + 1; i < h->len; i++) {
        if (h->counts[i]) {
            it->idx = i;
            it->seen += h->counts[i];
            return true;
        }
    }
    return false;
}

static void iter_fill(stats_iter_t *it, uint32_t idx, uint64_t since)
{
    uint64_t width;
    it->value_lo = index_lo(it->h, idx, &width);
    it->value = reported(it->h, idx);
    it->count = it->seen - since;
    it->cumulative = it->seen;
}

static bool iter_next_bucket(stats_iter_t *it)
{
    uint64_t before = it->seen;
    if (!iter_advance(it))
        return false;
    iter_fill(it, it->idx, before);
    it->percentile = 100.0 * (double)it->seen / (double)it->h->count;
    return true;
}

/* The step after @p pct: ticks_per_half steps per halving of the distance to 100. */
static double next_target(double pct, unsigned ticks_per_half)
{
    double x = 100.0 / (100.0 - pct);
    double half_distance = 2.0; /* 2^(floor(log2 x) + 1) */
    while (x >= 2.0) {
        x /= 2.0;
        half_distance *= 2.0;
    }
    return pct + 100.0 / ((double)ticks_per_half * half_distance);
}

static bool iter_next_percentile(stats_iter_t *it)
{
    const stats_hist_t *h = it->h;
    if (it->done || h->count == 0)
        return false;
    uint64_t since = it->cumulative;
    if (it->idx != UINT32_MAX && it->seen >= h->count) {
        /* Everything seen: one last step at 100 %, as HdrHistogram ends. */
        it->done = true;
        iter_fill(it, it->idx, since);
        it->value = h->max;
        it->percentile = 100.0;
        return true;
    }
    if (it->idx == UINT32_MAX && !iter_advance(it))
        return false;
    do {
        if (it->target * (double)h->count <= 100.0 * (double)it->seen) {
            iter_fill(it, it->idx, since);
            it->percentile = it->target;
            it->target = next_target(it->target, it->ticks_per_half);
            return true;
        }
    } while (iter_advance(it));
    return false; /* counts and count disagree (a torn copy) */
}

bool stats_iter_next(stats_iter_t *it)
{
    return it->percentiles ? iter_next_percentile(it) : iter_next_bucket(it);
}
