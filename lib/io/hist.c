/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A log-linear histogram (HdrHistogram's shape, fixed at 1/16 relative resolution):
 * values below 16 have a bucket each; above, every power of two is split into 16
 * equal buckets. 976 buckets cover all of uint64_t. Placeholder until lib/stats
 * (issue 6) brings the project's histograms; the API is three calls so it is easy to
 * swap.
 */
#include <string.h>

#include "io_internal.h"

void io_hist_init(io_hist_t *h)
{
    memset(h, 0, sizeof(*h));
}

static inline unsigned hist_bucket(uint64_t v)
{
    if (v < IO_HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned sub = (unsigned)(v >> (msb - 4)) & (IO_HIST_SUB - 1);
    return (msb - 3) * IO_HIST_SUB + sub;
}

/* Largest value that falls in bucket @b. */
static uint64_t hist_upper(unsigned b)
{
    if (b < IO_HIST_SUB)
        return b;
    unsigned msb = b / IO_HIST_SUB + 3, sub = b % IO_HIST_SUB;
    uint64_t lo = (uint64_t)(IO_HIST_SUB + sub) << (msb - 4);
    return lo + (((uint64_t)1 << (msb - 4)) - 1);
}

void io_hist_record(io_hist_t *h, uint64_t v)
{
    h->b[hist_bucket(v)]++;
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

uint64_t io_hist_quantile(const io_hist_t *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q >= 1.0)
        return h->max;
    if (q < 0)
        q = 0;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count || rank == 0)
        rank++; /* ceil, at least the first value */
    uint64_t seen = 0;
    for (unsigned b = 0; b < IO_HIST_BUCKETS; b++) {
        seen += h->b[b];
        if (seen >= rank) {
            uint64_t u = hist_upper(b);
            return u < h->max ? u : h->max;
        }
    }
    return h->max;
}
