/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sample report (sample.h). Each stage draws log-normal latencies with a heavy
 * tail (a small share of values 10-100x the median), per feed, into lib/stats
 * histograms; the overall histogram is their merge, and its distribution is
 * stats_iter_percentiles() at 5 ticks per half, as mdmux writes it.
 */
#include "sample.h"

#include <math.h>
#include <stdio.h>

#include "stats.h"

static const char *const stage_names[SAMPLE_NSTAGES] = {"rx_to_dequeue", "dequeue_to_decode",
                                                        "decode_to_publish", "rx_to_publish",
                                                        "intended_to_publish"};

/* Median latency of each stage, ns. */
static const double stage_median[SAMPLE_NSTAGES] = {310, 85, 140, 560, 1450};

/* xorshift64*, uniform in (0, 1). */
static double uniform(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return ((double)((*s * 2685821657736338717ull) >> 11) + 0.5) / 9007199254740992.0;
}

/* A log-normal value around @p median with a rare heavy tail. */
static double draw(uint64_t *s, double median)
{
    double z = sqrt(-2 * log(uniform(s))) * cos(6.283185307179586 * uniform(s));
    double v = median * exp(0.35 * z);
    double u = uniform(s);
    if (u < 0.002)
        v *= 10 + 90 * uniform(s);
    else if (u < 0.02)
        v *= 2 + 3 * uniform(s);
    return v;
}

static json_t *summary_json(const stats_hist_t *h)
{
    stats_summary_t s;
    stats_hist_summary(h, &s);
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "count", (json_int_t)s.count,
                     "min", (json_int_t)s.min, "p50", (json_int_t)s.p50, "p90", (json_int_t)s.p90,
                     "p99", (json_int_t)s.p99, "p999", (json_int_t)s.p999, "p9999",
                     (json_int_t)s.p9999, "max", (json_int_t)s.max, "mean", s.mean);
}

static json_t *distribution_json(const stats_hist_t *h)
{
    json_t *a = json_array();
    stats_iter_t it;
    stats_iter_percentiles(&it, h, 5);
    while (stats_iter_next(&it))
        json_array_append_new(a, json_pack("[I, f, I]", (json_int_t)it.value, it.percentile,
                                           (json_int_t)it.cumulative));
    return a;
}

/* Per-feed and overall summaries of every stage. */
static void histograms(json_t *lat, unsigned nfeeds, double scale, uint64_t *seed)
{
    json_t *overall = json_object(), *feeds = json_object();
    stats_hist_t *all = stats_hist_create(1, 3600000000000ull, 3);
    stats_hist_t *one = stats_hist_create(1, 3600000000000ull, 3);
    for (unsigned f = 0; f < nfeeds; f++) {
        char name[16];
        snprintf(name, sizeof(name), "feed%02u", f);
        json_object_set_new(feeds, name, json_object());
    }
    for (unsigned st = 0; st < SAMPLE_NSTAGES; st++) {
        stats_hist_reset(all);
        for (unsigned f = 0; f < nfeeds; f++) {
            char name[16];
            snprintf(name, sizeof(name), "feed%02u", f);
            stats_hist_reset(one);
            double m = stage_median[st] * scale * (1 + 0.02 * (f % 7));
            for (unsigned i = 0; i < SAMPLE_PER_FEED; i++)
                stats_hist_record(one, (uint64_t)draw(seed, m));
            json_object_set_new(json_object_get(feeds, name), stage_names[st], summary_json(one));
            stats_hist_merge(all, one);
        }
        json_t *o = summary_json(all);
        json_object_set_new(o, "distribution", distribution_json(all));
        json_object_set_new(overall, stage_names[st], o);
    }
    stats_hist_free(all);
    stats_hist_free(one);
    json_object_set_new(lat, "overall", overall);
    json_object_set_new(lat, "feeds", feeds);
}

/* A burst between 2.5 s and 3.5 s: the rates double and the tail grows. */
static double burst(unsigned t)
{
    return t >= 25 && t < 35 ? 1.0 : 0.0;
}

static json_t *series_json(unsigned nfeeds, unsigned n, double scale, uint64_t *seed)
{
    json_t *t = json_array(), *rates = json_object(), *stages = json_object();
    for (unsigned i = 0; i < n; i++)
        json_array_append_new(t, json_integer(100 * (json_int_t)(i + 1)));
    for (unsigned f = 0; f < nfeeds; f++) {
        char name[16];
        json_t *r = json_array();
        double base = 250000.0 / pow(f + 1, 0.9);
        for (unsigned i = 0; i < n; i++) {
            double v = base * (1 + 0.25 * sin(i / 6.0 + f) + burst(i) * (f % 3 == 0 ? 1.0 : 0.3));
            json_array_append_new(r, json_real(floor(v * (0.9 + 0.2 * uniform(seed)))));
        }
        snprintf(name, sizeof(name), "feed%02u", f);
        json_object_set_new(rates, name, r);
    }
    for (unsigned st = 0; st < SAMPLE_NSTAGES; st++) {
        json_t *p50 = json_array(), *p99 = json_array(), *mx = json_array();
        double m = stage_median[st] * scale;
        for (unsigned i = 0; i < n; i++) {
            double b = 1 + 2 * burst(i);
            json_array_append_new(p50,
                                  json_integer((json_int_t)(m * (0.95 + 0.1 * uniform(seed)))));
            json_array_append_new(
                p99, json_integer((json_int_t)(m * 3.5 * b * (0.9 + 0.2 * uniform(seed)))));
            json_array_append_new(mx,
                                  json_integer((json_int_t)(m * 40 * b * (0.5 + uniform(seed)))));
        }
        json_object_set_new(stages, stage_names[st],
                            json_pack("{s:o, s:o, s:o}", "p50", p50, "p99", p99, "max", mx));
    }
    return json_pack("{s:i, s:o, s:o, s:o}", "interval_ms", 100, "t_ms", t, "rates", rates,
                     "stages", stages);
}

/* The counters of the stats JSON's feeds array. */
static json_t *feeds_json(unsigned nfeeds)
{
    json_t *a = json_array();
    for (unsigned f = 0; f < nfeeds; f++) {
        char name[16];
        json_int_t pk = 40000 - 500 * (json_int_t)f;
        snprintf(name, sizeof(name), "feed%02u", f);
        json_t *lines =
            json_pack("{s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I}}", "A",
                      "packets", pk, "bytes", pk * 180, "handled", pk, "wins", pk * 6 / 10,
                      "duplicates", pk * 4 / 10, "malformed", (json_int_t)(f % 5 == 0), "B",
                      "packets", pk - 7, "bytes", (pk - 7) * 180, "handled", pk - 7, "wins",
                      pk * 4 / 10, "duplicates", pk * 6 / 10 - 7, "malformed", (json_int_t)0);
        json_array_append_new(a, json_pack("{s:s, s:i, s:o, s:I, s:I, s:I, s:I, s:I, s:I}", "name",
                                           name, "id", (int)f, "lines", lines, "messages", pk * 3,
                                           "gaps", (json_int_t)(f % 4 == 1), "recovered",
                                           (json_int_t)0, "final_lost",
                                           (json_int_t)(f % 4 == 1 ? 3 : 0), "itch_errors",
                                           (json_int_t)0, "events", (json_int_t)2));
    }
    return a;
}

json_t *sample_stats(unsigned nfeeds, unsigned nintervals, double scale, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    json_t *lat = json_pack("{s:s, s:{s:I, s:f}, s:i}", "unit", "ns", "clock", "tsc_hz",
                            (json_int_t)2600000000ll, "read_cost_ns", 10.0, "precision_digits", 3);
    json_t *stages = json_array();
    for (unsigned i = 0; i < SAMPLE_NSTAGES; i++)
        json_array_append_new(stages, json_string(stage_names[i]));
    json_object_set_new(lat, "stages", stages);
    histograms(lat, nfeeds, scale, &s);
    json_object_set_new(lat, "series", series_json(nfeeds, nintervals, scale, &s));
    json_t *root = json_pack("{s:s, s:s, s:n, s:b, s:f}", "mode", "replay", "capture", "demo.pcap",
                             "capture_error", "interrupted", 0, "elapsed_s", nintervals / 10.0);
    json_object_set_new(root, "rx",
                        json_pack("{s:I, s:I, s:I, s:I, s:I}", "frames", (json_int_t)3000000,
                                  "accepted", (json_int_t)2999990, "other", (json_int_t)4,
                                  "unknown_flow", (json_int_t)0, "malformed_total", (json_int_t)6));
    json_object_set_new(root, "feeds", feeds_json(nfeeds));
    json_object_set_new(root, "outputs", json_pack("{s:I}", "published", (json_int_t)5800000));
    json_object_set_new(root, "latency", lat);
    return root;
}

int sample_write(const json_t *j, const char *path)
{
    return json_dump_file(j, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
}
