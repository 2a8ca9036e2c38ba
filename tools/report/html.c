/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The HTML latency report (html.h). The page is written top to bottom in one pass:
 * header, key figures, the stage table, the plots (plot.c), the counters, the
 * per-feed tables and the text report. Every JSON read is checked: a missing or
 * mistyped value shows as "–" or leaves its plot out, with a note.
 */
#include "html.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

#define TOP_FEEDS 10
#define WIDE_W    1320
#define HALF_W    650

/* Figures of a stage summary, in table order. */
static const char *const sum_keys[] = {"count", "min", "p50", "p90", "p99", "p999", "p9999", "max"};
static const char *const sum_heads[] = {"count", "min",   "p50",    "p90",
                                        "p99",   "p99.9", "p99.99", "max"};
#define NSUM (sizeof(sum_keys) / sizeof(sum_keys[0]))

/* Tableau 10: distinct on white, readable for the common colour deficiencies. */
static const char *const palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                      "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

/* Fixed colours for the known stages, so every plot of the page agrees. */
static const struct {
    const char *name, *color;
} stage_colors[] = {
    {"rx_to_dequeue", "#4e79a7"},       {"dequeue_to_decode", "#59a14f"},
    {"decode_to_publish", "#b07aa1"},   {"rx_to_publish", "#e15759"},
    {"intended_to_publish", "#f28e2b"}, {"publish_to_consume", "#76b7b2"},
};

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,"
    "sans-serif;color:#1f2328;background:#fff;margin:0}"
    "main{max-width:1340px;margin:0 auto;padding:24px 10px 48px}"
    "h1{font-size:24px;margin:0 0 4px;font-weight:650}"
    "h2{font-size:17px;margin:34px 0 10px;padding-bottom:6px;border-bottom:1px solid #d8dee4;"
    "font-weight:600}"
    ".meta{color:#57606a;margin:0 0 16px}"
    ".note{color:#57606a;font-size:13px;margin:6px 0}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}"
    ".card{border:1px solid #d8dee4;border-radius:8px;padding:10px 16px;min-width:130px}"
    ".card b{display:block;font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}"
    ".card span{color:#57606a;font-size:12px}"
    "table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:13px}"
    "th,td{padding:4px 10px;border-bottom:1px solid #eaeef2;white-space:nowrap}"
    "th{background:#f6f8fa;text-align:right;font-weight:600;color:#424a53}"
    "td{text-align:right}th:first-child,td:first-child{text-align:left}"
    "tbody tr:hover{background:#f6f8fa}td.name{font-weight:600}"
    "tr.total td{border-top:2px solid #d0d7de;font-weight:600}"
    ".swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:7px}"
    ".cols{display:grid;grid-template-columns:repeat(2,650px);gap:20px 20px}"
    "svg.chart{display:block;background:#fff}"
    "svg .title{font-size:13px;font-weight:600;fill:#1f2328}"
    "svg .tick{font-size:11px;fill:#57606a;font-variant-numeric:tabular-nums}"
    "svg .axis{font-size:12px;fill:#424a53}"
    "svg .legend{font-size:12px;fill:#24292f}"
    "svg .grid{stroke:#eaeef2;stroke-width:1}"
    "svg .frame{fill:none;stroke:#d0d7de}"
    "svg .rowlabel{font-size:10px;fill:#424a53}svg .tickmark{stroke:#8c959f}"
    "pre{background:#f6f8fa;border:1px solid #d8dee4;border-radius:6px;padding:12px;"
    "font-size:12px;overflow:auto}"
    "details summary{cursor:pointer;color:#0969da;margin:6px 0}";

/* ---------------------------------------------------------------------------- */
/* JSON access                                                                  */
/* ---------------------------------------------------------------------------- */

/* Number at @p key of object @p o, or NAN. */
static double jnum(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* String at @p key, or @p dflt. */
static const char *jstr(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : dflt;
}

/* An array of numbers as doubles (non-numbers as NAN); NULL when not an array. */
static double *jdoubles(const json_t *a, size_t *n)
{
    *n = json_array_size(a);
    if (!json_is_array(a) || *n == 0)
        return NULL;
    double *v = malloc(*n * sizeof(*v));
    for (size_t i = 0; v != NULL && i < *n; i++) {
        const json_t *e = json_array_get(a, i);
        v[i] = json_is_number(e) ? json_number_value(e) : NAN;
    }
    return v;
}

/* The stage names: latency.stages, else the keys of latency.overall. */
static size_t stage_names(const json_t *lat, const char **names, size_t max)
{
    size_t n = 0, i;
    const json_t *v;
    json_array_foreach(json_object_get(lat, "stages"), i, v)
    {
        if (json_is_string(v) && n < max)
            names[n++] = json_string_value(v);
    }
    if (n > 0)
        return n;
    const char *k;
    json_object_foreach((json_t *)json_object_get(lat, "overall"), k, v)
    {
        if (n < max)
            names[n++] = k;
    }
    return n;
}

static const char *stage_color(const char *stage, size_t i)
{
    for (size_t k = 0; k < sizeof(stage_colors) / sizeof(stage_colors[0]); k++)
        if (strcmp(stage_colors[k].name, stage) == 0)
            return stage_colors[k].color;
    return palette[i % 10];
}

/* ---------------------------------------------------------------------------- */
/* Cells                                                                        */
/* ---------------------------------------------------------------------------- */

/* An integer with thousands separators, or "–". */
static void put_count(FILE *out, double v)
{
    if (!isfinite(v)) {
        fputs("–", out);
        return;
    }
    char d[32], g[48];
    snprintf(d, sizeof(d), "%.0f", v);
    size_t n = strlen(d), j = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && d[i - 1] != '-' && (n - i) % 3 == 0)
            g[j++] = ',';
        g[j++] = d[i];
    }
    g[j] = '\0';
    fputs(g, out);
}

/* A latency in ns, scaled ("1.2 µs"), the exact ns in the tooltip. */
static void put_ns(FILE *out, double v)
{
    char b[32];
    if (!isfinite(v)) {
        fputs("<td>–</td>", out);
        return;
    }
    fprintf(out, "<td title=\"%.0f ns\">%s</td>", v, plot_fmt(b, sizeof(b), v, PLOT_FMT_NS));
}

static void summary_head(FILE *out, const char *first)
{
    fprintf(out, "<thead><tr><th>%s</th>", first);
    for (size_t i = 0; i < NSUM; i++)
        fprintf(out, "<th>%s</th>", sum_heads[i]);
    fputs("<th>mean</th></tr></thead>\n", out);
}

/* The figures of one stage summary object as cells. */
static void summary_cells(FILE *out, const json_t *s)
{
    fputs("<td>", out);
    put_count(out, jnum(s, "count"));
    fputs("</td>", out);
    for (size_t i = 1; i < NSUM; i++)
        put_ns(out, jnum(s, sum_keys[i]));
    put_ns(out, jnum(s, "mean"));
}

/* ---------------------------------------------------------------------------- */
/* Sections                                                                     */
/* ---------------------------------------------------------------------------- */

static void card(FILE *out, const char *value, const char *what)
{
    fputs("<div class=\"card\"><b>", out);
    plot_esc(out, value);
    fputs("</b><span>", out);
    plot_esc(out, what);
    fputs("</span></div>\n", out);
}

static void header(FILE *out, const json_t *st, const json_t *lat)
{
    fputs("<h1>mdmux latency report</h1>\n<p class=\"meta\">", out);
    plot_esc(out, jstr(st, "mode", "run"));
    if (json_is_string(json_object_get(st, "capture"))) {
        fputs(" of ", out);
        plot_esc(out, jstr(st, "capture", ""));
    }
    double el = jnum(st, "elapsed_s");
    if (isfinite(el))
        fprintf(out, " · %.3f s", el);
    if (json_is_true(json_object_get(st, "interrupted")))
        fputs(" · interrupted by a signal", out);
    if (json_is_false(json_object_get(lat, "final")))
        fputs(" · on-demand report, taken while the run went on", out);
    const json_t *clk = json_object_get(lat, "clock");
    double hz = jnum(clk, "tsc_hz"), cost = jnum(clk, "read_cost_ns");
    if (isfinite(hz))
        fprintf(out, " · TSC %.3f GHz", hz / 1e9);
    if (isfinite(cost))
        fprintf(out, " · clock read %.1f ns (not charged to the stages)", cost);
    double digits = jnum(lat, "precision_digits");
    if (isfinite(digits))
        fprintf(out, " · histograms to %.0f significant digits", digits);
    fputs("</p>\n", out);
}

/* Key figures of the end-to-end stage and the counters. */
static void cards(FILE *out, const json_t *st, const json_t *lat)
{
    const json_t *e2e = json_object_get(json_object_get(lat, "overall"), "rx_to_publish");
    char b[32];
    fputs("<div class=\"cards\">\n", out);
    static const char *const k[] = {"p50", "p99", "p9999", "max"};
    static const char *const w[] = {"rx → publish p50", "rx → publish p99", "rx → publish p99.99",
                                    "rx → publish max"};
    for (size_t i = 0; e2e != NULL && i < 4; i++)
        if (isfinite(jnum(e2e, k[i])))
            card(out, plot_fmt(b, sizeof(b), jnum(e2e, k[i]), PLOT_FMT_NS), w[i]);
    double pub = jnum(json_object_get(st, "outputs"), "published");
    if (isfinite(pub))
        card(out, plot_fmt(b, sizeof(b), pub, PLOT_FMT_RATE), "records published");
    size_t nf = json_array_size(json_object_get(st, "feeds"));
    if (nf == 0)
        nf = json_object_size(json_object_get(lat, "feeds"));
    snprintf(b, sizeof(b), "%zu", nf);
    card(out, b, "feeds");
    fputs("</div>\n", out);
}

static void stage_table(FILE *out, const json_t *lat, const char **stages, size_t ns)
{
    const json_t *ov = json_object_get(lat, "overall");
    fputs("<h2>Latency per stage</h2>\n<table>", out);
    summary_head(out, "stage");
    fputs("<tbody>\n", out);
    for (size_t i = 0; i < ns; i++) {
        fprintf(out,
                "<tr><td class=\"name\"><span class=\"swatch\" style=\"background:%s\">"
                "</span>",
                stage_color(stages[i], i));
        plot_esc(out, stages[i]);
        fputs("</td>", out);
        summary_cells(out, json_object_get(ov, stages[i]));
        fputs("</tr>\n", out);
    }
    fputs("</tbody></table>\n<p class=\"note\">All figures in nanoseconds of TSC time, scaled "
          "for reading (hover for the exact value). Each value is at most one unit of the "
          "histogram's precision above the true one.</p>\n",
          out);
}

/* One stage's distribution as a series (x: percentile, y: ns). Returns false if none. */
static bool dist_series(const json_t *d, plot_series_t *s, double **buf)
{
    size_t n = json_array_size(d);
    if (n == 0)
        return false;
    double *v = malloc(2 * n * sizeof(*v));
    if (v == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(d, i);
        const json_t *x = json_array_get(e, 1), *y = json_array_get(e, 0);
        v[i] = json_is_number(x) ? json_number_value(x) : NAN;
        v[n + i] = json_is_number(y) ? json_number_value(y) : NAN;
    }
    s->x = v;
    s->y = v + n;
    s->n = n;
    *buf = v;
    return true;
}

/* Decades of the 1/(1-p) axis for @p count values: at least to 99.999%. */
static double pctl_decades(double count)
{
    double d = isfinite(count) && count > 1 ? ceil(log10(count)) : 5;
    return d < 5 ? 5 : d > 7 ? 7 : d;
}

static void dist_plot(FILE *out, const char *id, const char *title, plot_series_t *s, size_t n,
                      double decades, int width, int height)
{
    plot_t p = {
        .id = id,
        .title = title,
        .width = width,
        .height = height,
        .x = {PLOT_PCTL, PLOT_FMT_PCT, 0, decades, "percentile (log 1/(1−p) scale)"},
        .y = {PLOT_LOG, PLOT_FMT_NS, 0, 0, "latency (log scale)"},
        .series = s,
        .nseries = n,
        .legend = n > 1,
    };
    plot_svg(out, &p);
}

static void distributions(FILE *out, const json_t *lat, const char **stages, size_t ns)
{
    const json_t *ov = json_object_get(lat, "overall");
    plot_series_t s[16];
    double *bufs[16];
    size_t n = 0;
    double decades = 5;
    for (size_t i = 0; i < ns && n < 16; i++) {
        const json_t *o = json_object_get(ov, stages[i]);
        if (!dist_series(json_object_get(o, "distribution"), &s[n], &bufs[n]))
            continue;
        s[n].name = stages[i];
        s[n].color = stage_color(stages[i], i);
        s[n].dashed = false;
        double d = pctl_decades(jnum(o, "count"));
        decades = d > decades ? d : decades;
        n++;
    }
    fputs("<h2>Percentile distribution</h2>\n", out);
    if (n == 0) {
        fputs("<p class=\"note\">No distributions in the report.</p>\n", out);
        return;
    }
    fputs("<p class=\"note\">HdrHistogram style: the x axis stretches the tail, one decade per "
          "nine: 90%, 99%, 99.9% … The rightmost point of each line is its maximum.</p>\n",
          out);
    dist_plot(out, "dist-all", "All stages", s, n, decades, WIDE_W, 400);
    fputs("<div class=\"cols\">\n", out);
    for (size_t i = 0; i < n; i++) {
        char id[96], title[128];
        snprintf(id, sizeof(id), "dist-%zu", i);
        snprintf(title, sizeof(title), "%s", s[i].name);
        dist_plot(out, id, title, &s[i], 1, decades, HALF_W, 290);
    }
    fputs("</div>\n", out);
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
}

/* Seconds from a ms array of the series (@p key). */
static double *series_secs(const json_t *ser, const char *key, size_t *n)
{
    double *t = jdoubles(json_object_get(ser, key), n);
    for (size_t i = 0; t != NULL && i < *n; i++)
        t[i] /= 1000.0;
    return t;
}

/* t_ms (each point's end) as seconds. */
static double *series_time(const json_t *ser, size_t *n)
{
    return series_secs(ser, "t_ms", n);
}

/*
 * Each point's start, seconds: t_start_ms (the report says where each point begins:
 * a downsampled series has points of 2^k base intervals, the last one partial); from
 * an older report without it, the previous point's end (the first: one interval
 * @p iv_s before its end). NULL on out of memory.
 */
static double *series_start(const json_t *ser, const double *t, size_t nt, double iv_s)
{
    size_t n0 = 0;
    double *t0 = series_secs(ser, "t_start_ms", &n0);
    if (t0 != NULL && n0 >= nt)
        return t0;
    free(t0);
    t0 = malloc((nt + 1) * sizeof(*t0));
    for (size_t i = 0; t0 != NULL && i < nt; i++)
        t0[i] = i ? t[i - 1] : isfinite(iv_s) && iv_s > 0 ? t[0] - iv_s : 0;
    return t0;
}

/* A series over time; its length is clipped to the time axis. */
static bool time_series(const json_t *a, const double *t, size_t nt, plot_series_t *s)
{
    size_t n;
    double *y = jdoubles(a, &n);
    if (y == NULL)
        return false;
    s->x = t;
    s->y = y;
    s->n = n < nt ? n : nt;
    return true;
}

static void stage_over_time(FILE *out, const json_t *ser, const double *t, size_t nt,
                            const char **stages, size_t ns)
{
    static const char *const q[] = {"p50", "p99", "max"};
    static const char *const qc[] = {"#4e79a7", "#f28e2b", "#e15759"};
    const json_t *st = json_object_get(ser, "stages");
    fputs("<h2>Stage latency over time</h2>\n<div class=\"cols\">\n", out);
    for (size_t i = 0; i < ns; i++) {
        const json_t *o = json_object_get(st, stages[i]);
        plot_series_t s[3];
        size_t n = 0;
        for (size_t k = 0; k < 3; k++) {
            if (!time_series(json_object_get(o, q[k]), t, nt, &s[n]))
                continue;
            size_t pts = 0;
            for (size_t j = 0; j < s[n].n; j++) /* 0: an empty interval, no point */
                if (!(s[n].y[j] > 0))
                    ((double *)s[n].y)[j] = NAN;
                else
                    pts += isfinite(s[n].x[j]);
            if (pts == 0) { /* nothing to draw: no axis made up around it */
                free((void *)s[n].y);
                continue;
            }
            s[n].name = q[k];
            s[n].color = qc[k];
            s[n].dashed = k == 2;
            n++;
        }
        if (n == 0) {
            fputs("<p class=\"note\">", out);
            plot_esc(out, stages[i]);
            fputs(": no message in any interval.</p>\n", out);
            continue;
        }
        char id[64];
        snprintf(id, sizeof(id), "time-%zu", i);
        plot_t p = {.id = id,
                    .title = stages[i],
                    .width = HALF_W,
                    .height = 260,
                    .x = {PLOT_LINEAR, PLOT_FMT_SEC, 0, 0, "time (s)", true},
                    .y = {PLOT_LOG, PLOT_FMT_NS, 0, 0, "latency (log scale)"},
                    .series = s,
                    .nseries = n,
                    .legend = true};
        plot_svg(out, &p);
        for (size_t k = 0; k < n; k++)
            free((void *)s[k].y);
    }
    fputs("</div>\n", out);
}

/* Feeds ordered by message volume, busiest first. */
typedef struct feed_rate {
    const char *name;
    double *y;
    size_t n;
    double total;
} feed_rate_t;

static int by_total(const void *a, const void *b)
{
    const feed_rate_t *x = a, *y = b;
    return x->total < y->total ? 1 : x->total > y->total ? -1 : strcmp(x->name, y->name);
}

/* Median, min and max at each time of the feeds from @p first on, into lo/mid/hi. */
static void others_band(const feed_rate_t *f, size_t first, size_t nf, size_t nt, double *lo,
                        double *mid, double *hi)
{
    double *col = malloc((nf - first) * sizeof(*col));
    for (size_t t = 0; col != NULL && t < nt; t++) {
        size_t m = 0;
        for (size_t i = first; i < nf; i++)
            if (t < f[i].n && isfinite(f[i].y[t]))
                col[m++] = f[i].y[t];
        lo[t] = mid[t] = hi[t] = NAN;
        for (size_t a = 1; a < m; a++) /* insertion sort: m is small */
            for (size_t b = a; b > 0 && col[b - 1] > col[b]; b--) {
                double x = col[b];
                col[b] = col[b - 1];
                col[b - 1] = x;
            }
        if (m > 0) {
            lo[t] = col[0];
            hi[t] = col[m - 1];
            mid[t] = m % 2 ? col[m / 2] : (col[m / 2 - 1] + col[m / 2]) / 2;
        }
    }
    free(col);
}

static void rates_plot(FILE *out, feed_rate_t *f, size_t nf, const double *t, size_t nt)
{
    size_t top = nf < TOP_FEEDS ? nf : TOP_FEEDS;
    plot_series_t s[TOP_FEEDS + 1];
    for (size_t i = 0; i < top; i++)
        s[i] = (plot_series_t){f[i].name, palette[i], t, f[i].y, f[i].n < nt ? f[i].n : nt, 0};
    double *b = calloc(3 * nt + 1, sizeof(*b));
    plot_band_t band = {"others: min–max", "#8c959f", t, b, b + 2 * nt, nt};
    char oname[64], title[128];
    size_t ns = top;
    if (nf > top && b != NULL) {
        others_band(f, top, nf, nt, b, b + nt, b + 2 * nt);
        snprintf(oname, sizeof(oname), "others (%zu): median", nf - top);
        s[ns++] = (plot_series_t){oname, "#6e7781", t, b + nt, nt, true};
    }
    snprintf(title, sizeof(title), "Messages per second, %s%zu busiest of %zu feeds",
             nf > top ? "the " : "", top, nf);
    plot_t p = {.id = "rates",
                .title = title,
                .width = WIDE_W,
                .height = 380,
                .x = {PLOT_LINEAR, PLOT_FMT_SEC, 0, 0, "time (s)", true},
                .y = {PLOT_LINEAR, PLOT_FMT_RATE, 0, 0, "messages/s"},
                .series = s,
                .nseries = ns,
                .band = nf > top && b != NULL ? &band : NULL,
                .legend = true};
    plot_svg(out, &p);
    free(b);
}

/* Columns of the heatmap at most: beyond, intervals are averaged into bins (a cell
   narrower than a pixel or two shows nothing, and 50 feeds x 36000 intervals would
   make a page of millions of elements). */
#define HEAT_MAX_COLS 600

/* Every feed's rate over time, busiest first: one row per feed; @p t0 and @p t each
   point's start and end, seconds; a bin's rate is the time-weighted mean of its
   points' (a partial last point counts for its own span only). */
static void rates_heatmap(FILE *out, const feed_rate_t *f, size_t nf, const double *t0,
                          const double *t, size_t nt)
{
    size_t bin = (nt + HEAT_MAX_COLS - 1) / HEAT_MAX_COLS, nc = bin ? (nt + bin - 1) / bin : 0;
    const char **rows = malloc(nf * sizeof(*rows));
    double *v = malloc(nf * nc * sizeof(*v) + 1), *x = malloc(nc * sizeof(*x) + 1);
    if (rows == NULL || v == NULL || x == NULL) {
        free(rows);
        free(v);
        free(x);
        return;
    }
    for (size_t c = 0; c < nc; c++) /* a bin ends where its last interval does */
        x[c] = t[(c + 1) * bin - 1 < nt ? (c + 1) * bin - 1 : nt - 1];
    for (size_t r = 0; r < nf; r++) {
        rows[r] = f[r].name;
        for (size_t c = 0; c < nc; c++) {
            double sum = 0, span = 0;
            size_t m = 0;
            for (size_t k = c * bin; k < (c + 1) * bin && k < nt; k++)
                if (k < f[r].n && isfinite(f[r].y[k])) {
                    double w = t[k] - t0[k] > 0 ? t[k] - t0[k] : 0;
                    sum += f[r].y[k] * w;
                    span += w;
                    m++;
                }
            v[r * nc + c] = m && span > 0 ? sum / span : NAN;
        }
    }
    char title[160];
    if (bin > 1)
        snprintf(title, sizeof(title),
                 "All %zu feeds, busiest first (colour: log scale; mean of every %zu points)", nf,
                 bin);
    else
        snprintf(title, sizeof(title), "All %zu feeds, busiest first (colour: log scale)", nf);
    plot_heat_t h = {.id = "rates-heat",
                     .title = title,
                     .width = WIDE_W,
                     .rows = rows,
                     .nrows = nf,
                     .ncols = nc,
                     .x = x,
                     .v = v,
                     .xaxis = {PLOT_LINEAR, PLOT_FMT_SEC, 0, 0, "time (s)"},
                     .vfmt = PLOT_FMT_RATE,
                     .vlabel = "messages/s",
                     .dx = nc && x[0] - t0[0] > 0 ? x[0] - t0[0] : 0};
    plot_heatmap(out, &h);
    free(rows);
    free(v);
    free(x);
}

static void feed_rates(FILE *out, const json_t *ser, const double *t0, const double *t, size_t nt)
{
    const json_t *rates = json_object_get(ser, "rates");
    size_t nf = json_object_size(rates), i = 0;
    fputs("<h2>Message rate per feed</h2>\n", out);
    feed_rate_t *f = calloc(nf + 1, sizeof(*f));
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)rates, k, v)
    {
        if (f == NULL || (f[i].y = jdoubles(v, &f[i].n)) == NULL)
            continue;
        f[i].name = k;
        for (size_t j = 0; j < f[i].n; j++)
            f[i].total += isfinite(f[i].y[j]) ? f[i].y[j] : 0;
        i++;
    }
    if (i == 0)
        fputs("<p class=\"note\">No per-feed rates in the report.</p>\n", out);
    else {
        qsort(f, i, sizeof(*f), by_total);
        rates_plot(out, f, i, t, nt);
        rates_heatmap(out, f, i, t0, t, nt);
    }
    for (size_t j = 0; j < i; j++)
        free(f[j].y);
    free(f);
}

static void series_sections(FILE *out, const json_t *lat, const char **stages, size_t ns)
{
    const json_t *ser = json_object_get(lat, "series");
    size_t nt;
    double *t = series_time(ser, &nt);
    if (t == NULL) {
        fputs("<h2>Over time</h2>\n<p class=\"note\">No interval series in the report.</p>\n", out);
        return;
    }
    double iv = jnum(ser, "interval_ms"), base = jnum(ser, "base_interval_ms"),
           level = jnum(ser, "downsampled"), cap = jnum(ser, "points_max");
    double *t0 = series_start(ser, t, nt, iv / 1000.0);
    if (t0 == NULL) {
        free(t);
        return;
    }
    stage_over_time(out, ser, t, nt, stages, ns);
    feed_rates(out, ser, t0, t, nt);
    if (isfinite(iv) && isfinite(base) && isfinite(level) && level > 0 && isfinite(cap))
        fprintf(out,
                "<p class=\"note\">One point per %.0f ms: the run outgrew the series' %.0f "
                "points, so its %.0f ms intervals were merged in pairs %.0f times (each "
                "point spans 2<sup>%.0f</sup> intervals; the last one, up to the end of the "
                "run). Points are drawn at the end of their span. In the first %.0f, merged, "
                "points, p50 and p99 are count-weighted means of the merged points' and max "
                "the largest; the later ones are exact (docs/latency.md).</p>\n",
                iv, cap, base, level, level, cap / 2);
    else if (isfinite(iv))
        fprintf(out, "<p class=\"note\">One point per %.0f ms interval, drawn at its end.</p>\n",
                iv);
    free(t0);
    free(t);
}

/* Sum of a counter over the lines of a feed object. */
static double line_sum(const json_t *feed, const char *line, const char *key)
{
    const json_t *lines = json_object_get(feed, "lines");
    if (line != NULL)
        return jnum(json_object_get(lines, line), key);
    double s = 0;
    const char *k;
    const json_t *l;
    json_object_foreach((json_t *)lines, k, l)
    {
        double v = jnum(l, key);
        s += isfinite(v) ? v : 0;
    }
    return s;
}

#define NCOUNT 10

/* The counters of one feed, in table order. */
static void feed_counts(const json_t *f, double *c)
{
    c[0] = line_sum(f, "A", "packets");
    c[1] = line_sum(f, "B", "packets");
    c[2] = line_sum(f, "A", "wins");
    c[3] = line_sum(f, "B", "wins");
    c[4] = line_sum(f, NULL, "duplicates");
    c[5] = jnum(f, "gaps");
    c[6] = jnum(f, "recovered");
    c[7] = jnum(f, "final_lost");
    c[8] = line_sum(f, NULL, "malformed") +
           (isfinite(jnum(f, "itch_errors")) ? jnum(f, "itch_errors") : 0);
    c[9] = jnum(f, "messages");
}

static void count_row(FILE *out, const char *cls, const char *name, const double *c)
{
    fprintf(out, "<tr%s><td class=\"name\">", cls);
    plot_esc(out, name);
    fputs("</td>", out);
    for (size_t i = 0; i < NCOUNT; i++) {
        fputs("<td>", out);
        put_count(out, c[i]);
        fputs("</td>", out);
    }
    fputs("</tr>\n", out);
}

static void counters(FILE *out, const json_t *st)
{
    const json_t *feeds = json_object_get(st, "feeds"), *f;
    const json_t *rx = json_object_get(st, "rx");
    fputs("<h2>Counters</h2>\n", out);
    if (rx != NULL) {
        fputs("<p class=\"meta\">RX: ", out);
        put_count(out, jnum(rx, "frames"));
        fputs(" frames, ", out);
        put_count(out, jnum(rx, "accepted"));
        fputs(" accepted, ", out);
        put_count(out, jnum(rx, "other"));
        fputs(" other, ", out);
        put_count(out, jnum(rx, "unknown_flow"));
        fputs(" unknown flow, ", out);
        put_count(out, jnum(rx, "malformed_total"));
        fputs(" malformed</p>\n", out);
    }
    if (json_array_size(feeds) == 0) {
        fputs("<p class=\"note\">No per-feed counters in the report.</p>\n", out);
        return;
    }
    static const char *const h[NCOUNT] = {"packets A", "packets B", "wins A", "wins B", "dups",
                                          "gaps",      "recovered", "lost",   "bad",    "messages"};
    fputs("<table><thead><tr><th>feed</th>", out);
    for (size_t i = 0; i < NCOUNT; i++)
        fprintf(out, "<th>%s</th>", h[i]);
    fputs("</tr></thead><tbody>\n", out);
    double tot[NCOUNT] = {0}, c[NCOUNT];
    size_t i;
    json_array_foreach(feeds, i, f)
    {
        feed_counts(f, c);
        for (size_t k = 0; k < NCOUNT; k++)
            tot[k] += isfinite(c[k]) ? c[k] : 0;
        count_row(out, "", jstr(f, "name", "?"), c);
    }
    if (json_array_size(feeds) > 1)
        count_row(out, " class=\"total\"", "total", tot);
    fputs("</tbody></table>\n<p class=\"note\">wins: packets that delivered new messages "
          "first; lost: messages of gaps given up; bad: malformed packets + ITCH decode "
          "errors.</p>\n",
          out);
}

static void feed_latency(FILE *out, const json_t *lat, const char **stages, size_t ns)
{
    const json_t *feeds = json_object_get(lat, "feeds"), *f;
    const char *name;
    if (json_object_size(feeds) == 0)
        return;
    fputs("<h2>Latency per feed</h2>\n<details", out);
    fputs(json_object_size(feeds) <= 8 ? " open=\"open\"" : "", out);
    fprintf(out, "><summary>%zu feeds × %zu stages</summary>\n<table>", json_object_size(feeds),
            ns);
    summary_head(out, "feed / stage");
    fputs("<tbody>\n", out);
    json_object_foreach((json_t *)feeds, name, f)
    {
        for (size_t i = 0; i < ns; i++) {
            const json_t *s = json_object_get(f, stages[i]);
            if (s == NULL)
                continue;
            fputs("<tr><td>", out);
            if (i == 0) {
                fputs("<b>", out);
                plot_esc(out, name);
                fputs("</b> ", out);
            }
            plot_esc(out, stages[i]);
            fputs("</td>", out);
            summary_cells(out, s);
            fputs("</tr>\n", out);
        }
    }
    fputs("</tbody></table></details>\n", out);
}

/* One plain-text row: name then the figures in ns. */
static void text_row(FILE *out, const char *name, const json_t *s)
{
    char nm[64];
    snprintf(nm, sizeof(nm), "%s", name);
    fputs("  ", out);
    plot_esc(out, nm);
    for (size_t k = strlen(nm); k < 28; k++)
        fputc(' ', out);
    for (size_t i = 0; i < NSUM; i++) {
        double v = jnum(s, sum_keys[i]);
        if (isfinite(v))
            fprintf(out, " %11.0f", v);
        else
            fprintf(out, " %11s", "-");
    }
    fputc('\n', out);
}

static void text_report(FILE *out, const json_t *lat, const char **stages, size_t ns)
{
    const json_t *ov = json_object_get(lat, "overall"), *feeds = json_object_get(lat, "feeds");
    const json_t *f;
    const char *name;
    fputs("<h2>Text report</h2>\n<pre>latency, ns\n  stage                       ", out);
    for (size_t i = 0; i < NSUM; i++)
        fprintf(out, " %11s", sum_heads[i]);
    fputc('\n', out);
    for (size_t i = 0; i < ns; i++)
        text_row(out, stages[i], json_object_get(ov, stages[i]));
    json_object_foreach((json_t *)feeds, name, f)
    {
        for (size_t i = 0; i < ns; i++) {
            char nm[160];
            snprintf(nm, sizeof(nm), "%s %s", name, stages[i]);
            if (json_object_get(f, stages[i]) != NULL)
                text_row(out, nm, json_object_get(f, stages[i]));
        }
    }
    fputs("</pre>\n", out);
}

int report_html_write(json_t *stats, FILE *out)
{
    if (!json_is_object(stats))
        return -1;
    const json_t *lat = json_object_get(stats, "latency");
    const char *stages[32];
    size_t ns = stage_names(lat, stages, 32);
    fprintf(out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
            "<meta name=\"viewport\" content=\"width=device-width\"/>"
            "<title>mdmux latency report</title>\n<style>%s</style></head>\n<body><main>\n",
            css);
    header(out, stats, lat);
    cards(out, stats, lat);
    if (ns == 0)
        fputs("<p class=\"note\">This report has no latency section.</p>\n", out);
    else {
        stage_table(out, lat, stages, ns);
        distributions(out, lat, stages, ns);
        series_sections(out, lat, stages, ns);
    }
    counters(out, stats);
    if (ns > 0) {
        feed_latency(out, lat, stages, ns);
        text_report(out, lat, stages, ns);
    }
    fputs("</main></body></html>\n", out);
    return ferror(out) ? -1 : 0;
}

int report_html_write_file(json_t *stats, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "mdmux: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = report_html_write(stats, f);
    if (fclose(f) != 0 || rc != 0) {
        fprintf(stderr, "mdmux: %s: cannot write the HTML report\n", path);
        return -1;
    }
    return 0;
}
