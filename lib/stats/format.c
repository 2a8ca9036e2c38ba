/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Text summaries of histograms: one pass over the counters finds every quantile of
 * the summary, so a report of many histograms stays cheap.
 */
#include "stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const double summary_q[] = {0.5, 0.9, 0.99, 0.999, 0.9999};
#define SUMMARY_NQ (sizeof(summary_q) / sizeof(summary_q[0]))

void stats_hist_summary(const stats_hist_t *h, stats_summary_t *s)
{
    memset(s, 0, sizeof(*s));
    if (h->count == 0)
        return;
    uint64_t v[SUMMARY_NQ];
    stats_hist_quantiles(h, summary_q, SUMMARY_NQ, v);
    s->count = h->count;
    s->min = h->min;
    s->p50 = v[0];
    s->p90 = v[1];
    s->p99 = v[2];
    s->p999 = v[3];
    s->p9999 = v[4];
    s->max = h->max;
    s->overflow = h->overflow;
    s->mean = stats_hist_mean(h);
}

int stats_hist_format(const stats_hist_t *h, char *buf, size_t len)
{
    stats_summary_t s;
    stats_hist_summary(h, &s);
    int n = snprintf(buf, len,
                     "count=%" PRIu64 " min=%" PRIu64 " p50=%" PRIu64 " p90=%" PRIu64
                     " p99=%" PRIu64 " p99.9=%" PRIu64 " p99.99=%" PRIu64 " max=%" PRIu64,
                     s.count, s.min, s.p50, s.p90, s.p99, s.p999, s.p9999, s.max);
    if (n < 0 || s.overflow == 0)
        return n;
    size_t used = (size_t)n < len ? (size_t)n : (len ? len - 1 : 0);
    int m = snprintf(buf ? buf + used : NULL, len - used, " overflow=%" PRIu64, s.overflow);
    return m < 0 ? m : n + m;
}

int stats_hist_format_header(char *buf, size_t len)
{
    return snprintf(buf, len, "%-24s %12s %10s %10s %10s %10s %10s %10s %10s", "name", "count",
                    "min", "p50", "p90", "p99", "p99.9", "p99.99", "max");
}

int stats_hist_format_row(const stats_hist_t *h, const char *name, char *buf, size_t len)
{
    stats_summary_t s;
    stats_hist_summary(h, &s);
    return snprintf(buf, len,
                    "%-24.24s %12" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64
                    " %10" PRIu64 " %10" PRIu64 " %10" PRIu64,
                    name ? name : "", s.count, s.min, s.p50, s.p90, s.p99, s.p999, s.p9999, s.max);
}

/* HdrHistogram's footer, so its tools read the file as their own. */
static void write_footer(const stats_hist_t *h, FILE *f, double scale)
{
    fprintf(f, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", stats_hist_mean(h) / scale,
            stats_hist_stddev(h) / scale);
    fprintf(f, "#[Max     = %12.3f, Total count    = %12" PRIu64 "]\n", (double)h->max / scale,
            h->count);
    fprintf(f, "#[Buckets = %12u, SubBuckets     = %12u]\n", h->buckets, 2u << h->half_mag);
}

int stats_hist_write_distribution(const stats_hist_t *h, FILE *f, unsigned ticks_per_half,
                                  double scale)
{
    if (!(scale > 0.0))
        scale = 1.0;
    fprintf(f, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");
    stats_iter_t it;
    stats_iter_percentiles(&it, h, ticks_per_half);
    while (stats_iter_next(&it)) {
        double p = it.percentile / 100.0;
        /* The 100 % line has no finite 1/(1-p): HdrHistogram leaves the column out. */
        if (p < 1.0)
            fprintf(f, "%12.3f %2.12f %10" PRIu64 " %14.2f\n", (double)it.value / scale, p,
                    it.cumulative, 1.0 / (1.0 - p));
        else
            fprintf(f, "%12.3f %2.12f %10" PRIu64 "\n", (double)it.value / scale, p, it.cumulative);
    }
    write_footer(h, f, scale);
    return ferror(f) ? -EIO : 0;
}
