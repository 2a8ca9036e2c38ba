/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/stats histograms: percentiles against exact sorted arrays within the stated
 * precision (several distributions, many seeds), merge, reset, clamping, record_n,
 * the burst and run records, min/max, iteration, geometry at every precision, invalid
 * parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

#include "histcheck.h"
#include "testutil.h"

/* ---- values ------------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    /* splitmix64: good enough, and reproducible from the printed seed. */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1]. */
static double rng_unit(void)
{
    return (double)((rng_next() >> 11) + 1) / 9007199254740992.0;
}

enum dist { DIST_UNIFORM, DIST_EXP, DIST_BIMODAL, DIST_HEAVY, DIST_COUNT };
static const char *const dist_name[] = {"uniform", "exponential", "bimodal", "heavy-tail"};

/* Latency-like values in ns; all stay below 2^40, inside the test histograms' range. */
static uint64_t draw(enum dist d)
{
    switch (d) {
    case DIST_UNIFORM:
        return rng_next() % 1000000u;
    case DIST_EXP:
        return (uint64_t)(-log(rng_unit()) * 2000.0);
    case DIST_BIMODAL:
        /* a fast path near 300 ns and a slow one near 40 us */
        if (rng_next() % 10 < 8)
            return 250 + rng_next() % 100;
        return 35000 + rng_next() % 10000;
    case DIST_HEAVY:
    default: {
        /* Pareto, alpha 1.1, from 100 ns: a few values reach seconds */
        double v = 100.0 / pow(rng_unit(), 1.0 / 1.1);
        return v > 1e12 ? (uint64_t)1e12 : (uint64_t)v;
    }
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t pow10u(unsigned n)
{
    uint64_t v = 1;
    while (n--)
        v *= 10;
    return v;
}

/* The nearest-rank definition the library states: ceil(q * n), in 1..n, a product
 * within rounding error of an integer taken as that integer. */
static uint64_t exact_quantile(const uint64_t *sorted, size_t n, double q)
{
    double x = q * (double)n, r = floor(x);
    if (x - r > x * 1e-12)
        r += 1.0;
    size_t rank = r < 1.0 ? 1 : (r > (double)n ? n : (size_t)r);
    return sorted[rank - 1];
}

/* Histogram answer @p got for exact value @p want at @p sigfigs: never below, above by
 * at most want / 10^sigfigs (the bucket width). */
static void check_within(uint64_t got, uint64_t want, unsigned sigfigs, const char *what, double q)
{
    uint64_t slack = want / pow10u(sigfigs);
    if (got < want || got - want > slack) {
        fprintf(stderr, "%s q=%g: got %llu, exact %llu, allowed +%llu\n", what, q,
                (unsigned long long)got, (unsigned long long)want, (unsigned long long)slack);
        fail();
    }
}

/* ---- percentiles vs exact --------------------------------------------------------- */

#define NVAL 20000
static const double qs[] = {0,   0.001, 0.01,  0.1,    0.25,    0.5, 0.75,
                            0.9, 0.99,  0.999, 0.9999, 0.99999, 1.0};
#define NQ (sizeof(qs) / sizeof(qs[0]))

static void check_one(enum dist d, unsigned sigfigs, uint64_t *vals)
{
    stats_hist_t *h = stats_hist_create(1, (uint64_t)1 << 40, sigfigs);
    assert_non_null(h);
    unsigned __int128 sum = 0;
    for (size_t i = 0; i < NVAL; i++) {
        vals[i] = draw(d);
        stats_hist_record(h, vals[i]);
        sum += vals[i];
    }
    qsort(vals, NVAL, sizeof(vals[0]), cmp_u64);
    assert_int_equal(stats_hist_count(h), NVAL);
    assert_int_equal(stats_hist_min(h), vals[0]);
    assert_int_equal(stats_hist_max(h), vals[NVAL - 1]);
    assert_int_equal(stats_hist_overflow(h), 0);
    uint64_t many[NQ];
    stats_hist_quantiles(h, qs, NQ, many);
    for (size_t k = 0; k < NQ; k++) {
        uint64_t got = stats_hist_quantile(h, qs[k]);
        check_within(got, exact_quantile(vals, NVAL, qs[k]), sigfigs, dist_name[d], qs[k]);
        assert_int_equal(many[k], got); /* one pass == one walk per quantile */
        assert_int_equal(stats_hist_percentile(h, qs[k] * 100.0), got);
    }
    assert_true(fabs(stats_hist_mean(h) - (double)sum / NVAL) < 1e-6 * stats_hist_mean(h) + 1e-9);
    stats_hist_free(h);
}

static void test_percentiles_vs_sorted(void **state)
{
    (void)state;
    uint64_t seed = tu_seed_from_env("MDMUX_STATS_SEED", 20261201);
    unsigned seeds = (unsigned)tu_env_u64("MDMUX_STATS_SEEDS", 12);
    uint64_t *vals = malloc(NVAL * sizeof(*vals));
    assert_non_null(vals);
    for (unsigned s = 0; s < seeds; s++) {
        for (unsigned d = 0; d < DIST_COUNT; d++) {
            /* 1..4 digits every seed; 5 digits (1 MiB per power of two) on a few. */
            for (unsigned sig = 1; sig <= (s < 2 ? 5u : 4u); sig++) {
                rng_state = seed + s * 1000003u + d * 7919u + sig;
                check_one((enum dist)d, sig, vals);
            }
        }
    }
    free(vals);
}

/* Values the histogram can hold exactly (below 2 * 10^d units) come back exact. */
static void test_small_values_exact(void **state)
{
    (void)state;
    stats_hist_t *h = stats_hist_create(1, 1000000, 3);
    assert_non_null(h);
    for (uint64_t v = 1; v <= 1000; v++)
        stats_hist_record(h, v);
    for (unsigned p = 1; p <= 100; p++)
        assert_int_equal(stats_hist_percentile(h, p), p * 10);
    assert_int_equal(stats_hist_quantile(h, 0.0), 1);
    assert_int_equal(stats_hist_quantile(h, 0.9999), 1000);
    assert_true(fabs(stats_hist_mean(h) - 500.5) < 1e-9);
    /* population stddev of 1..1000 = sqrt((1000^2 - 1) / 12) */
    assert_true(fabs(stats_hist_stddev(h) - sqrt((1e6 - 1) / 12.0)) < 1e-6);
    stats_hist_free(h);
}

static void test_stddev_within_precision(void **state)
{
    (void)state;
    rng_state = 42;
    stats_hist_t *h = stats_hist_create(1, (uint64_t)1 << 40, 3);
    assert_non_null(h);
    double sum = 0, sq = 0;
    for (int i = 0; i < NVAL; i++) {
        uint64_t v = draw(DIST_BIMODAL);
        stats_hist_record(h, v);
        sum += (double)v;
        sq += (double)v * (double)v;
    }
    double mean = sum / NVAL, sd = sqrt(sq / NVAL - mean * mean);
    double got = stats_hist_stddev(h);
    assert_true(fabs(got - sd) <= 1e-3 * (mean + sd));
    stats_hist_free(h);
}

/* ---- merge, reset, record_n ----------------------------------------------------- */

static void test_merge_equals_union(void **state)
{
    (void)state;
    rng_state = tu_seed_from_env("MDMUX_STATS_SEED", 7);
    stats_hist_t *a = stats_hist_create(1, 1000000000, 3);
    stats_hist_t *b = stats_hist_create(1, 1000000000, 3);
    stats_hist_t *u = stats_hist_create(1, 1000000000, 3);
    assert_true(a && b && u);
    for (int i = 0; i < 5000; i++) {
        uint64_t v = draw(DIST_HEAVY) + (i % 97 == 0 ? 2000000000u : 0); /* some above */
        stats_hist_record(i % 3 ? a : b, v);
        stats_hist_record(u, v);
    }
    assert_true(stats_hist_overflow(u) > 0);
    assert_int_equal(stats_hist_merge(a, b), 0);
    tu_assert_same_hist(a, u);
    /* Merging an empty histogram changes nothing (min stays, max stays). */
    stats_hist_reset(b);
    assert_int_equal(stats_hist_merge(a, b), 0);
    tu_assert_same_hist(a, u);
    /* A copy is the same histogram. */
    assert_int_equal(stats_hist_copy(b, u), 0);
    tu_assert_same_hist(b, u);
    stats_hist_free(a);
    stats_hist_free(b);
    stats_hist_free(u);
}

static void test_merge_rejects_other_geometry(void **state)
{
    (void)state;
    stats_hist_t *a = stats_hist_create(1, 1000000, 3);
    stats_hist_t *b = stats_hist_create(1, 1000000, 2);
    stats_hist_t *c = stats_hist_create(1, 2000000, 3);
    stats_hist_t *d = stats_hist_create(2, 1000000, 3);
    assert_true(a && b && c && d);
    stats_hist_record(b, 5);
    stats_hist_record(c, 5);
    stats_hist_record(d, 5);
    assert_int_equal(stats_hist_merge(a, b), -EINVAL);
    assert_int_equal(stats_hist_merge(a, c), -EINVAL);
    assert_int_equal(stats_hist_merge(a, d), -EINVAL);
    assert_int_equal(stats_hist_copy(a, d), -EINVAL);
    assert_int_equal(stats_hist_count(a), 0); /* unchanged */
    stats_hist_free(a);
    stats_hist_free(b);
    stats_hist_free(c);
    stats_hist_free(d);
}

static void test_reset(void **state)
{
    (void)state;
    stats_hist_t *h = stats_hist_create(1, 1000, 2);
    stats_hist_t *fresh = stats_hist_create(1, 1000, 2);
    assert_true(h && fresh);
    for (uint64_t v = 0; v < 3000; v += 7)
        stats_hist_record(h, v);
    assert_true(stats_hist_overflow(h) > 0);
    stats_hist_reset(h);
    tu_assert_same_hist(h, fresh);
    assert_int_equal(stats_hist_count(h), 0);
    assert_int_equal(stats_hist_min(h), 0);
    assert_int_equal(stats_hist_max(h), 0);
    assert_int_equal(stats_hist_quantile(h, 0.5), 0);
    stats_hist_record(h, 9);
    assert_int_equal(stats_hist_min(h), 9);
    assert_int_equal(stats_hist_max(h), 9);
    assert_int_equal(stats_hist_quantile(h, 0.5), 9);
    stats_hist_free(h);
    stats_hist_free(fresh);
}

static void test_record_n(void **state)
{
    (void)state;
    stats_hist_t *a = stats_hist_create(1, 100000, 3);
    stats_hist_t *b = stats_hist_create(1, 100000, 3);
    assert_true(a && b);
    static const uint64_t v[] = {0, 1, 2047, 2048, 2049, 99999, 100000, 100001, 5000000};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        for (uint64_t k = 0; k < i + 1; k++)
            stats_hist_record(a, v[i]);
        stats_hist_record_n(b, v[i], i + 1);
    }
    stats_hist_record_n(b, 12345, 0); /* no-op, min/max untouched */
    tu_assert_same_hist(a, b);
    assert_int_equal(stats_hist_overflow(b), 8 + 9);
    stats_hist_free(a);
    stats_hist_free(b);
}

/* The burst records give exactly what one record per value gives: into one histogram,
   and into two at once, of the same range and of different precisions or ranges. */
/*
 * One value of a random burst for the burst-record tests: the exact range, a
 * distribution, around the top @p top, or far above it (overflow); with @p repeats,
 * sometimes @p prev again (a run of equal values).
 */
static uint64_t burst_value(uint64_t top, uint64_t prev, bool repeats)
{
    switch (rng_next() % (repeats ? 5 : 4)) {
    case 0:
        return rng_next() % 3000; /* the exact range */
    case 1:
        return draw((enum dist)(rng_next() % DIST_COUNT));
    case 2:
        return top + rng_next() % 3 - 1; /* around the top */
    case 3:
        if (repeats)
            return prev; /* a value again, in its own run */
        break;
    default:
        break;
    }
    return rng_next() >> (rng_next() % 64); /* overflow too */
}

static void test_record_burst(void **state)
{
    (void)state;
    rng_state = tu_seed_from_env("MDMUX_STATS_SEED", 7);
    static const struct {
        uint64_t lo, hi_a, hi_b;
        unsigned sf_a, sf_b;
    } geo[] = {{1, 60000000000ull, 60000000000ull, 3, 2},
               {1, 60000000000ull, 60000000000ull, 3, 3},
               {1, 100000, 100000, 1, 5},
               {1, 100000, 1000000, 3, 2},
               {1000, 60000000000ull, 60000000000ull, 3, 2}}; /* a unit above 1 */
    for (size_t g = 0; g < sizeof(geo) / sizeof(geo[0]); g++) {
        stats_hist_t *ra = stats_hist_create(geo[g].lo, geo[g].hi_a, geo[g].sf_a);
        stats_hist_t *rb = stats_hist_create(geo[g].lo, geo[g].hi_b, geo[g].sf_b);
        stats_hist_t *ba = stats_hist_create(geo[g].lo, geo[g].hi_a, geo[g].sf_a);
        stats_hist_t *pa = stats_hist_create(geo[g].lo, geo[g].hi_a, geo[g].sf_a);
        stats_hist_t *pb = stats_hist_create(geo[g].lo, geo[g].hi_b, geo[g].sf_b);
        assert_true(ra && rb && ba && pa && pb);
        uint64_t v[64];
        for (int round = 0; round < 200; round++) {
            unsigned n = (unsigned)(rng_next() % 65); /* 0 .. 64, empty bursts too */
            for (unsigned i = 0; i < n; i++) {
                v[i] = burst_value(geo[g].hi_a, i > 0 ? v[i - 1] : 7, false);
                stats_hist_record(ra, v[i]);
                stats_hist_record(rb, v[i]);
            }
            stats_hist_record_burst(ba, v, n);
            stats_hist_record_burst2(pa, pb, v, n);
        }
        tu_assert_same_hist(ra, ba);
        tu_assert_same_hist(ra, pa);
        tu_assert_same_hist(rb, pb);
        stats_hist_free(ra);
        stats_hist_free(rb);
        stats_hist_free(ba);
        stats_hist_free(pa);
        stats_hist_free(pb);
    }
}

/* The run records give exactly what one record per value (w[i] times each) gives:
   into one histogram, and into two at once, of the same range and of different
   precisions, ranges or lowest units; runs of 1, of many, and weights past 2^32 in
   sum. The values come in runs as the latency recorder sees them (repeats). */
static void test_record_runs(void **state)
{
    (void)state;
    rng_state = tu_seed_from_env("MDMUX_STATS_SEED", 11);
    static const struct {
        uint64_t lo, hi_a, hi_b;
        unsigned sf_a, sf_b;
    } geo[] = {{1, 60000000000ull, 60000000000ull, 3, 2},
               {1, 60000000000ull, 60000000000ull, 3, 3},
               {1, 100000, 100000, 1, 5},
               {1, 100000, 1000000, 3, 2},
               {1000, 60000000000ull, 60000000000ull, 3, 2}};
    for (size_t g = 0; g < sizeof(geo) / sizeof(geo[0]); g++) {
        stats_hist_t *ra = stats_hist_create(geo[g].lo, geo[g].hi_a, geo[g].sf_a);
        stats_hist_t *rb = stats_hist_create(geo[g].lo, geo[g].hi_b, geo[g].sf_b);
        stats_hist_t *sa = stats_hist_create(geo[g].lo, geo[g].hi_a, geo[g].sf_a);
        stats_hist_t *pa = stats_hist_create(geo[g].lo, geo[g].hi_a, geo[g].sf_a);
        stats_hist_t *pb = stats_hist_create(geo[g].lo, geo[g].hi_b, geo[g].sf_b);
        assert_true(ra && rb && sa && pa && pb);
        uint64_t v[64];
        uint32_t w[64];
        uint64_t recorded = 0;
        for (int round = 0; round < 200; round++) {
            unsigned n = (unsigned)(rng_next() % 65); /* 0 .. 64, empty bursts too */
            for (unsigned i = 0; i < n; i++) {
                v[i] = burst_value(geo[g].hi_a, i > 0 ? v[i - 1] : 7, true);
                w[i] = rng_next() % 4 ? 1 + (uint32_t)(rng_next() % 5) : 1;
                for (uint32_t k = 0; k < w[i]; k++) {
                    stats_hist_record(ra, v[i]);
                    stats_hist_record(rb, v[i]);
                }
                recorded += w[i];
            }
            stats_hist_record_runs(sa, v, w, n);
            stats_hist_record_runs2(pa, pb, v, w, n);
        }
        assert_int_equal(stats_hist_count(pa), recorded);
        tu_assert_same_hist(ra, sa);
        tu_assert_same_hist(ra, pa);
        tu_assert_same_hist(rb, pb);
        /* A heavy run: the counters, count, total and overflow take the product. */
        static const uint64_t big[] = {500, 70000000000ull};
        static const uint32_t bw[] = {4000000000u, 3000000000u};
        stats_hist_reset(ra);
        stats_hist_reset(pa);
        stats_hist_reset(pb);
        stats_hist_record_runs2(pa, pb, big, bw, 2);
        for (unsigned i = 0; i < 2; i++)
            stats_hist_record_n(ra, big[i], bw[i]);
        tu_assert_same_hist(ra, pa);
        /* One run at a time (its own path): the same. */
        stats_hist_reset(sa);
        stats_hist_reset(rb);
        stats_hist_record_runs2(sa, rb, &big[1], &bw[1], 1);
        stats_hist_record_runs2(sa, rb, &big[0], &bw[0], 1);
        tu_assert_same_hist(ra, sa);
        tu_assert_same_hist(pb, rb);
        assert_int_equal(stats_hist_count(pb), 7000000000ull);
        assert_int_equal(stats_hist_overflow(pb), geo[g].hi_b < big[1] ? 3000000000ull : 0);
        stats_hist_free(ra);
        stats_hist_free(rb);
        stats_hist_free(sa);
        stats_hist_free(pa);
        stats_hist_free(pb);
    }
}

/* ---- range clamping ------------------------------------------------------------------ */

static void test_clamp_and_overflow(void **state)
{
    (void)state;
    stats_hist_t *h = stats_hist_create(1, 10000, 3);
    assert_non_null(h);
    for (uint64_t v = 1; v <= 100; v++)
        stats_hist_record(h, v);
    stats_hist_record(h, 10000); /* the highest trackable: not overflow */
    stats_hist_record(h, 10001); /* above: clamped, counted */
    stats_hist_record(h, UINT64_MAX >> 1);
    assert_int_equal(stats_hist_count(h), 103);
    assert_int_equal(stats_hist_overflow(h), 2);
    assert_int_equal(stats_hist_max(h), UINT64_MAX >> 1); /* exact, unclamped */
    assert_int_equal(stats_hist_quantile(h, 1.0), UINT64_MAX >> 1);
    assert_int_equal(stats_hist_quantile(h, 0.5), 52);
    /* Clamped values sit in highest's bucket: nothing is dropped. */
    uint64_t top = stats_hist_highest_equiv(h, 10000);
    assert_int_equal(stats_hist_highest_equiv(h, UINT64_MAX), top);
    uint64_t q = stats_hist_quantile(h, 101.0 / 103.0);
    assert_true(q >= 10000 && q <= top);
    assert_int_equal(stats_hist_count_le(h, 100), 100);
    assert_int_equal(stats_hist_count_le(h, top), 103); /* top bucket holds all 3 */
    assert_int_equal(stats_hist_count_le(h, UINT64_MAX), 103);
    char line[256];
    assert_true(stats_hist_format(h, line, sizeof(line)) > 0);
    assert_non_null(strstr(line, " overflow=2"));
    stats_hist_free(h);
}

static void test_min_max_exact(void **state)
{
    (void)state;
    rng_state = tu_seed_from_env("MDMUX_STATS_SEED", 99);
    stats_hist_t *h = stats_hist_create(1000, (uint64_t)1 << 50, 2); /* coarse buckets */
    assert_non_null(h);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 10000; i++) {
        uint64_t v = rng_next() >> (rng_next() % 40 + 14);
        stats_hist_record(h, v);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        assert_int_equal(stats_hist_min(h), lo);
        assert_int_equal(stats_hist_max(h), hi);
    }
    assert_int_equal(stats_hist_quantile(h, 0), lo);
    assert_int_equal(stats_hist_quantile(h, 1), hi);
    stats_hist_free(h);
}

/* ---- iteration ------------------------------------------------------------------------ */

static void test_bucket_iteration(void **state)
{
    (void)state;
    rng_state = 5;
    stats_hist_t *h = stats_hist_create(1, 1000000000, 3);
    assert_non_null(h);
    stats_iter_t it;
    stats_iter_buckets(&it, h);
    assert_false(stats_iter_next(&it)); /* empty */
    for (int i = 0; i < 20000; i++)
        stats_hist_record(h, draw(DIST_EXP));
    stats_iter_buckets(&it, h);
    uint64_t sum = 0, prev = 0, steps = 0;
    while (stats_iter_next(&it)) {
        assert_true(it.count > 0);
        assert_true(it.value_lo <= it.value);
        assert_true(steps == 0 || it.value_lo > prev);
        sum += it.count;
        assert_int_equal(it.cumulative, sum);
        /* Prometheus-style: cumulative at a bucket's top == count_le(top). */
        if (it.value == stats_hist_highest_equiv(h, it.value))
            assert_int_equal(stats_hist_count_le(h, it.value), it.cumulative);
        prev = it.value;
        steps++;
    }
    assert_int_equal(sum, stats_hist_count(h));
    assert_true(fabs(it.percentile - 100.0) < 1e-9);
    assert_int_equal(prev, stats_hist_max(h));
    stats_hist_free(h);
}

static void test_percentile_iteration(void **state)
{
    (void)state;
    stats_hist_t *h = stats_hist_create(1, 10000000, 3);
    assert_non_null(h);
    for (uint64_t v = 1; v <= 100000; v++)
        stats_hist_record(h, v);
    stats_iter_t it;
    /* One tick per half-distance: 0, 50, 75, 87.5, ... then 100. */
    stats_iter_percentiles(&it, h, 1);
    static const double want[] = {0, 50, 75, 87.5, 93.75, 96.875};
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        assert_true(stats_iter_next(&it));
        assert_true(fabs(it.percentile - want[k]) < 1e-9);
        if (k > 0)
            check_within(it.value, (uint64_t)(want[k] * 1000), 3, "iter", want[k]);
    }
    /* Five ticks (HdrHistogram's default): counts sum to the total, ends at 100 %. */
    stats_iter_percentiles(&it, h, 5);
    double last = -1;
    uint64_t sum = 0, steps = 0;
    while (stats_iter_next(&it)) {
        assert_true(it.percentile > last);
        last = it.percentile;
        sum += it.count;
        steps++;
    }
    assert_true(fabs(last - 100.0) < 1e-12);
    assert_int_equal(sum, 100000);
    assert_true(steps > 50 && steps < 200);
    stats_hist_free(h);
}

/* ---- geometry ---------------------------------------------------------------------- */

/* Walk every bucket from 0 to highest: contiguous, each no wider than the precision. */
static void check_geometry(uint64_t lowest, uint64_t highest, unsigned sig)
{
    stats_hist_t *h = stats_hist_create(lowest, highest, sig);
    assert_non_null(h);
    uint64_t unit = (uint64_t)1 << (63 - __builtin_clzll(lowest));
    uint64_t v = 0, buckets = 0;
    for (;;) {
        uint64_t lo = stats_hist_lowest_equiv(h, v), hi = stats_hist_highest_equiv(h, v);
        assert_int_equal(lo, v); /* contiguous: the next bucket starts right after */
        assert_true(hi >= lo);
        uint64_t width = hi - lo + 1;
        assert_true(width <= unit || width - 1 <= lo / pow10u(sig));
        buckets++;
        if (hi >= highest)
            break;
        v = hi + 1;
    }
    /* Every counter but bucket 0's unused upper half is reachable, none beyond len. */
    assert_true(buckets <= h->len);
    stats_hist_free(h);
}

static void test_geometry_all_precisions(void **state)
{
    (void)state;
    for (unsigned sig = 1; sig <= 5; sig++) {
        check_geometry(1, 1000000000, sig);
        check_geometry(1000, 3600000000000ull, sig);
    }
    check_geometry(1, INT64_MAX, 1);
    /* HdrHistogram's figures: 1 .. 3600e6 at 3 digits has 23552 counters. */
    assert_int_equal(stats_hist_size(1, 3600000000ull, 3),
                     sizeof(stats_hist_t) + 23552 * sizeof(uint64_t));
    /* Sub-buckets per power of two: 2^ceil(log2(2 * 10^d)). */
    static const uint32_t half[] = {16, 128, 1024, 16384, 131072};
    for (unsigned sig = 1; sig <= 5; sig++) {
        stats_hist_t *h = stats_hist_create(1, 1000, sig);
        assert_non_null(h);
        assert_int_equal((uint32_t)1 << h->half_mag, half[sig - 1]);
        stats_hist_free(h);
    }
}

static void test_caller_storage(void **state)
{
    (void)state;
    size_t size = stats_hist_size(1, 100000, 2);
    assert_true(size > sizeof(stats_hist_t));
    _Alignas(64) static unsigned char mem[1 << 16];
    assert_true(size <= sizeof(mem));
    memset(mem, 0xa5, sizeof(mem));
    stats_hist_t *h = stats_hist_init(mem, size, 1, 100000, 2);
    assert_ptr_equal(h, (void *)mem);
    stats_hist_record(h, 77);
    assert_int_equal(stats_hist_quantile(h, 0.5), 77);
    assert_int_equal(stats_hist_count_le(h, 76), 0);
    stats_hist_free(h); /* not owned: no-op */
    assert_int_equal(stats_hist_count(h), 1);
    errno = 0;
    assert_null(stats_hist_init(mem, size - 1, 1, 100000, 2));
    assert_int_equal(errno, ENOSPC);
}

static void test_invalid_parameters(void **state)
{
    (void)state;
    static const struct {
        uint64_t lo, hi;
        unsigned sig;
    } bad[] = {
        {1, 1000, 0},
        {1, 1000, 6},
        {0, 1000, 3},
        {10, 19, 3},
        {1, 1, 3},
        {1, (uint64_t)INT64_MAX + 1, 3},
        {(uint64_t)1 << 50, UINT64_MAX >> 1, 5},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(stats_hist_size(bad[i].lo, bad[i].hi, bad[i].sig), 0);
        errno = 0;
        assert_null(stats_hist_create(bad[i].lo, bad[i].hi, bad[i].sig));
        assert_int_equal(errno, EINVAL);
    }
    _Alignas(64) static unsigned char mem[1 << 16];
    errno = 0;
    assert_null(stats_hist_init(NULL, sizeof(mem), 1, 1000, 2));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(stats_hist_init(mem + 1, sizeof(mem) - 1, 1, 1000, 2)); /* misaligned */
    assert_int_equal(errno, EINVAL);
    assert_non_null(stats_hist_init(mem, sizeof(mem), 10, 20, 1)); /* smallest range */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentiles_vs_sorted),
        cmocka_unit_test(test_small_values_exact),
        cmocka_unit_test(test_stddev_within_precision),
        cmocka_unit_test(test_merge_equals_union),
        cmocka_unit_test(test_merge_rejects_other_geometry),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_record_n),
        cmocka_unit_test(test_record_burst),
        cmocka_unit_test(test_record_runs),
        cmocka_unit_test(test_clamp_and_overflow),
        cmocka_unit_test(test_min_max_exact),
        cmocka_unit_test(test_bucket_iteration),
        cmocka_unit_test(test_percentile_iteration),
        cmocka_unit_test(test_geometry_all_precisions),
        cmocka_unit_test(test_caller_storage),
        cmocka_unit_test(test_invalid_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
