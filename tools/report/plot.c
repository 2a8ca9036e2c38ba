/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inline SVG line charts (plot.h). Every coordinate goes through one frame: the
 * pixel box of the plot area and the data range after the axis transform.
 */
#include "plot.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define MAX_TICKS    64
#define TITLE_H      30.0
#define BOTTOM_H     46.0
#define RIGHT_PAD    18.0
#define LEGEND_W     170.0
#define LEGEND_ROW   18.0
#define CHAR_W       6.6 /* average width of a 11px tick label character */
#define LOG_FLOOR    1e-3
#define PCTL_DEFAULT 5.0

/** An axis after layout: transformed range and pixel span. */
typedef struct frame_axis {
    plot_scale_t scale;
    double t0, t1;  /* transformed range */
    double p0, len; /* pixel start and length (y grows downwards: p0 is the bottom) */
    double floor;   /* PLOT_LOG: smallest value drawn */
} frame_axis_t;

/** One tick: transformed position and label. */
typedef struct tick {
    double t;
    char label[32];
} tick_t;

void plot_esc(FILE *out, const char *s)
{
    for (; s != NULL && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

/* Trim "1.50" to "1.5" and "2.0" to "2". */
static void trim_zeros(char *s)
{
    char *dot = strchr(s, '.');
    if (dot == NULL)
        return;
    char *e = s + strlen(s) - 1;
    while (e > dot && *e == '0')
        *e-- = '\0';
    if (e == dot)
        *e = '\0';
}

/* @p v scaled by @p div with 3 significant digits at most, then @p unit. */
static void fmt_scaled(char *buf, size_t len, double v, double div, const char *unit)
{
    double x = v / div, a = fabs(x);
    int dec = a >= 100 || a == 0 ? 0 : a >= 10 ? 1 : 2;
    char num[32];
    snprintf(num, sizeof(num), "%.*f", dec, x);
    trim_zeros(num);
    snprintf(buf, len, "%s%s", num, unit);
}

char *plot_fmt(char *buf, size_t len, double v, plot_fmt_t fmt)
{
    double a = fabs(v);
    switch (fmt) {
    case PLOT_FMT_NS:
        if (a < 1e3)
            fmt_scaled(buf, len, v, 1, " ns");
        else if (a < 1e6)
            fmt_scaled(buf, len, v, 1e3, " µs");
        else if (a < 1e9)
            fmt_scaled(buf, len, v, 1e6, " ms");
        else
            fmt_scaled(buf, len, v, 1e9, " s");
        break;
    case PLOT_FMT_RATE:
        if (a < 1e3)
            fmt_scaled(buf, len, v, 1, "");
        else if (a < 1e6)
            fmt_scaled(buf, len, v, 1e3, "k");
        else
            fmt_scaled(buf, len, v, 1e6, "M");
        break;
    case PLOT_FMT_SEC:
        fmt_scaled(buf, len, v, 1, " s");
        break;
    case PLOT_FMT_PCT:
        snprintf(buf, len, "%.4f", v);
        trim_zeros(buf);
        strncat(buf, "%", len - strlen(buf) - 1);
        break;
    }
    return buf;
}

/* The axis transform. */
static double transform(const frame_axis_t *a, double v)
{
    switch (a->scale) {
    case PLOT_LOG:
        return log10(v > a->floor ? v : a->floor);
    case PLOT_PCTL:
        return v >= 100 ? a->t1 : log10(100.0 / (100.0 - (v < 0 ? 0 : v)));
    default:
        return v;
    }
}

/* Pixel of @p v, clamped a little outside the frame so clipped lines stay straight. */
static double pixel(const frame_axis_t *a, double v, bool down)
{
    double f = (transform(a, v) - a->t0) / (a->t1 - a->t0);
    if (!isfinite(f))
        f = 0;
    f = f < -0.05 ? -0.05 : f > 1.05 ? 1.05 : f;
    return down ? a->p0 - f * a->len : a->p0 + f * a->len;
}

/* The largest 1-2-5 value <= @p v (up: the smallest >= @p v). */
static double step125(double v, bool up)
{
    double m = pow(10, floor(log10(v))), r = v / m;
    static const double s[] = {1, 2, 5, 10};
    if (up) {
        for (unsigned i = 0; i < 4; i++)
            if (r <= s[i] * (1 + 1e-9))
                return s[i] * m;
        return 10 * m;
    }
    for (int i = 3; i >= 0; i--)
        if (r >= s[i] * (1 - 1e-9))
            return s[i] * m;
    return m;
}

/* Data extent of the series (and band) along one coordinate. */
static void extent(const plot_t *p, bool xs, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t s = 0; s < p->nseries; s++) {
        const double *v = xs ? p->series[s].x : p->series[s].y;
        for (size_t i = 0; i < p->series[s].n; i++) {
            bool use = isfinite(v[i]) && (!(xs ? p->x : p->y).scale || v[i] > 0);
            *lo = use && v[i] < *lo ? v[i] : *lo;
            *hi = use && v[i] > *hi ? v[i] : *hi;
        }
    }
    if (p->band != NULL && !xs)
        for (size_t i = 0; i < p->band->n; i++) {
            *lo = p->band->lo[i] > 0 && p->band->lo[i] < *lo ? p->band->lo[i] : *lo;
            *hi = p->band->hi[i] > *hi ? p->band->hi[i] : *hi;
        }
}

/* The tick label of @p v on a linear axis of step @p step. */
static void linear_label(tick_t *t, const plot_axis_t *ax, double v, double step)
{
    if (ax->fmt == PLOT_FMT_SEC)
        snprintf(t->label, sizeof(t->label), "%.*f s",
                 step < 1 && v != 0 ? (int)ceil(-log10(step) - 1e-9) : 0, v);
    else
        plot_fmt(t->label, sizeof(t->label), v, ax->fmt);
}

/*
 * Ticks of a linear axis with a 1-2-5 step; fixes the range: the axis's own, or from
 * the data [lo, hi] (NAN/inf when there is none): tight, exactly that (one value v:
 * [0, 2v], centred), else from 0 to the next tick at or above hi.
 */
static unsigned ticks_linear(frame_axis_t *a, const plot_axis_t *ax, double lo, double hi,
                             double target, tick_t *t)
{
    bool given = ax->lo < ax->hi;
    if (given) {
        lo = ax->lo;
        hi = ax->hi;
    } else if (!isfinite(lo) || !isfinite(hi)) {
        lo = 0; /* no data: an empty frame 0 .. 1 */
        hi = 1;
    } else if (ax->tight && hi - lo <= fabs(hi) * 1e-9) {
        double v = hi; /* one value: in the middle */
        lo = v > 0 ? 0 : v < 0 ? 2 * v : -1;
        hi = v > 0 ? 2 * v : v < 0 ? 0 : 1;
    } else if (!ax->tight && lo > 0) {
        lo = 0;
    }
    if (hi <= lo)
        hi = lo + 1;
    target = target > 2 ? target : 2;
    double step = step125((hi - lo) / target, true);
    /* a tight axis has no room to round out to: the finer step unless it crowds, so
       that there are enough ticks inside the data */
    double finer = step125((hi - lo) / target, false);
    if (ax->tight && !given && (hi - lo) / finer <= target * 1.5)
        step = finer;
    if (!given && !ax->tight)
        hi = ceil(hi / step - 1e-9) * step;
    a->t0 = lo;
    a->t1 = hi;
    unsigned n = 0;
    /* by index, not by accumulation: no drift past hi */
    double k0 = ceil(lo / step - 1e-6);
    for (double k = k0; n < MAX_TICKS; k++) {
        double v = k * step;
        if (v > hi + step * 1e-6)
            break;
        if (fabs(v) < step * 1e-6)
            v = 0;
        t[n].t = v;
        linear_label(&t[n++], ax, v, step);
    }
    return n;
}

/* Mantissas of log-axis ticks: 1-2-5, or a finer set for ranges under a decade. */
static const double coarse_m[] = {1, 2, 5, 10};
static const double fine_m[] = {1, 1.5, 2, 3, 4, 5, 6, 8, 10};

/* The largest tick value <= @p v (up: the smallest >= @p v) of mantissas @p m. */
static double snap(double v, const double *m, unsigned n, bool up)
{
    double d = pow(10, floor(log10(v))), r = v / d;
    if (up) {
        for (unsigned i = 0; i < n; i++)
            if (r <= m[i] * (1 + 1e-9))
                return m[i] * d;
        return 10 * d;
    }
    for (unsigned i = n; i-- > 0;)
        if (r >= m[i] * (1 - 1e-9))
            return m[i] * d;
    return d;
}

/* Ticks of a log axis: decades, with 2 and 5 (or finer) when the range is short. */
static unsigned ticks_log(frame_axis_t *a, const plot_axis_t *ax, double lo, double hi, tick_t *t)
{
    if (ax->lo < ax->hi && ax->lo > 0) {
        lo = ax->lo;
        hi = ax->hi;
    }
    if (!isfinite(lo) || lo <= 0)
        lo = 1;
    if (!isfinite(hi) || hi < lo)
        hi = lo;
    bool finest = hi / lo < 8;
    const double *m = finest ? fine_m : coarse_m;
    unsigned nm = finest ? 9 : 4;
    lo = snap(lo * 0.98, m, nm, false);
    hi = snap(hi * 1.02, m, nm, true);
    if (hi <= lo)
        hi = lo * 10;
    a->floor = lo;
    a->t0 = log10(lo);
    a->t1 = log10(hi);
    unsigned per = finest ? 8 : a->t1 - a->t0 <= 2.3 ? 3 : 1;
    unsigned n = 0;
    for (double d = floor(a->t0); d <= ceil(a->t1) && n + per < MAX_TICKS; d++) {
        for (unsigned i = 0; i < per; i++) {
            double v = m[i] * pow(10, d), tv = log10(v);
            if (tv < a->t0 - 1e-9 || tv > a->t1 + 1e-9)
                continue;
            t[n].t = tv;
            plot_fmt(t[n++].label, sizeof(t->label), v, ax->fmt);
        }
    }
    return n;
}

/* Ticks of the 1/(1-p) axis: 0%, 50%, 90%, 99%, 99.9% ... */
static unsigned ticks_pctl(frame_axis_t *a, const plot_axis_t *ax, tick_t *t)
{
    double decades = ax->hi > 0 ? ax->hi : PCTL_DEFAULT;
    a->t0 = 0;
    a->t1 = decades;
    unsigned n = 0;
    t[n].t = 0;
    snprintf(t[n++].label, sizeof(t->label), "0%%");
    t[n].t = log10(2);
    snprintf(t[n++].label, sizeof(t->label), "50%%");
    for (int k = 1; k <= (int)decades && n < MAX_TICKS; k++) {
        t[n].t = k;
        snprintf(t[n++].label, sizeof(t->label), "%.*f%%", k > 2 ? k - 2 : 0,
                 100.0 - 100.0 / pow(10, k));
    }
    return n;
}

/* Lay out one axis: its range from the data unless given, and its ticks. */
static unsigned layout_axis(const plot_t *p, bool xs, frame_axis_t *a, tick_t *t)
{
    const plot_axis_t *ax = xs ? &p->x : &p->y;
    double lo, hi;
    extent(p, xs, &lo, &hi);
    a->scale = ax->scale;
    a->floor = LOG_FLOOR;
    switch (ax->scale) {
    case PLOT_LOG:
        return ticks_log(a, ax, lo, hi, t);
    case PLOT_PCTL:
        return ticks_pctl(a, ax, t);
    default:
        return ticks_linear(a, ax, lo, hi, xs ? p->width / 140.0 : p->height / 60.0, t);
    }
}

static void axis_ticks(FILE *out, const frame_axis_t *fx, const frame_axis_t *fy, bool xs,
                       const tick_t *t, unsigned n)
{
    double x0 = fx->p0, x1 = fx->p0 + fx->len, yb = fy->p0, yt = fy->p0 - fy->len;
    for (unsigned i = 0; i < n; i++) {
        double f = (t[i].t - (xs ? fx : fy)->t0) / ((xs ? fx : fy)->t1 - (xs ? fx : fy)->t0);
        if (xs) {
            double x = x0 + f * fx->len;
            fprintf(out, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                    x, yt, x, yb);
            fprintf(out, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", x,
                    yb + 16,
                    f > 0.97   ? "end"
                    : f < 0.03 ? "start"
                               : "middle");
        } else {
            double y = yb - f * fy->len;
            fprintf(out, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                    x0, y, x1, y);
            fprintf(out, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", x0 - 6,
                    y + 4);
        }
        plot_esc(out, t[i].label);
        fputs("</text>\n", out);
    }
}

static void draw_series(FILE *out, const plot_series_t *s, const frame_axis_t *fx,
                        const frame_axis_t *fy)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += isfinite(s->x[i]) && isfinite(s->y[i]);
    fprintf(out,
            "<polyline class=\"series\" data-n=\"%zu\" fill=\"none\" stroke=\"%s\" "
            "stroke-width=\"1.8\" stroke-linejoin=\"round\" stroke-linecap=\"round\"%s points=\"",
            n, s->color, s->dashed ? " stroke-dasharray=\"5 3\"" : "");
    for (size_t i = 0; i < s->n; i++)
        if (isfinite(s->x[i]) && isfinite(s->y[i]))
            fprintf(out, "%s%.1f,%.1f", i ? " " : "", pixel(fx, s->x[i], false),
                    pixel(fy, s->y[i], true));
    fputs("\"><title>", out);
    plot_esc(out, s->name);
    fputs("</title></polyline>\n", out);
    for (size_t i = 0; n <= 3 && i < s->n; i++) /* too few points for a visible line */
        if (isfinite(s->x[i]) && isfinite(s->y[i]))
            fprintf(out, "<circle class=\"marker\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>",
                    pixel(fx, s->x[i], false), pixel(fy, s->y[i], true), s->color);
}

static void draw_band(FILE *out, const plot_band_t *b, const frame_axis_t *fx,
                      const frame_axis_t *fy)
{
    fprintf(out,
            "<polygon class=\"band\" data-n=\"%zu\" fill=\"%s\" fill-opacity=\"0.25\" "
            "stroke=\"none\" points=\"",
            b->n * 2, b->color);
    for (size_t i = 0; i < b->n; i++)
        fprintf(out, "%.1f,%.1f ", pixel(fx, b->x[i], false), pixel(fy, b->hi[i], true));
    for (size_t i = b->n; i-- > 0;)
        fprintf(out, "%.1f,%.1f ", pixel(fx, b->x[i], false), pixel(fy, b->lo[i], true));
    fputs("\"><title>", out);
    plot_esc(out, b->name);
    fputs("</title></polygon>\n", out);
}

/* One legend row at @p y: a swatch (line, or block for the band) and the name. */
static void legend_row(FILE *out, double x, double y, const char *name, const char *color,
                       bool dashed, bool block)
{
    if (block)
        fprintf(out,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"20\" height=\"10\" fill=\"%s\" "
                "fill-opacity=\"0.35\"/>",
                x, y - 8, color);
    else
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"2.5\"%s/>",
                x, y - 3, x + 20, y - 3, color, dashed ? " stroke-dasharray=\"5 3\"" : "");
    char nm[26];
    snprintf(nm, sizeof(nm), "%s", name);
    if (strlen(name) >= sizeof(nm))
        memcpy(nm + sizeof(nm) - 4, "...", 4);
    fprintf(out, "<text class=\"legend\" x=\"%.1f\" y=\"%.1f\">", x + 26, y + 1);
    plot_esc(out, nm);
    fputs("</text>\n", out);
}

static void draw_legend(FILE *out, const plot_t *p, double x, double y)
{
    for (size_t s = 0; s < p->nseries; s++, y += LEGEND_ROW)
        legend_row(out, x, y, p->series[s].name, p->series[s].color, p->series[s].dashed, false);
    if (p->band != NULL)
        legend_row(out, x, y, p->band->name, p->band->color, false, true);
}

/* Axis titles: x centred under the ticks, y rotated along the left edge. */
static void axis_titles(FILE *out, const plot_t *p, const frame_axis_t *fx, const frame_axis_t *fy)
{
    fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
            fx->p0 + fx->len / 2, fy->p0 + 36);
    plot_esc(out, p->x.label);
    fputs("</text>\n", out);
    double cy = fy->p0 - fy->len / 2;
    fprintf(out,
            "<text class=\"axis\" x=\"14\" y=\"%.1f\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 14 %.1f)\">",
            cy, cy);
    plot_esc(out, p->y.label);
    fputs("</text>\n", out);
}

/* Width of the widest tick label, in pixels. */
static double label_width(const tick_t *t, unsigned n)
{
    double w = 0;
    for (unsigned i = 0; i < n; i++) {
        double l = (double)strlen(t[i].label) * CHAR_W;
        w = l > w ? l : w;
    }
    return w;
}

void plot_svg(FILE *out, const plot_t *p)
{
    tick_t tx[MAX_TICKS], ty[MAX_TICKS];
    frame_axis_t fx, fy;
    unsigned nx = layout_axis(p, true, &fx, tx), ny = layout_axis(p, false, &fy, ty);
    double left = 30 + label_width(ty, ny) + 8;
    double right = p->legend ? LEGEND_W : RIGHT_PAD;
    fx.p0 = left;
    fx.len = p->width - left - right;
    fy.p0 = p->height - BOTTOM_H;
    fy.len = fy.p0 - TITLE_H;
    fprintf(out,
            "<svg class=\"chart\" id=\"%s\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "role=\"img\" aria-label=\"",
            p->id, p->width, p->height, p->width, p->height);
    plot_esc(out, p->title);
    fprintf(out, "\">\n<text class=\"title\" x=\"%.1f\" y=\"18\">", left);
    plot_esc(out, p->title);
    fprintf(out,
            "</text>\n<defs><clipPath id=\"clip-%s\"><rect x=\"%.1f\" y=\"%.1f\" "
            "width=\"%.1f\" height=\"%.1f\"/></clipPath></defs>\n",
            p->id, fx.p0, TITLE_H, fx.len, fy.len);
    fprintf(out, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
            fx.p0, TITLE_H, fx.len, fy.len);
    axis_ticks(out, &fx, &fy, true, tx, nx);
    axis_ticks(out, &fx, &fy, false, ty, ny);
    axis_titles(out, p, &fx, &fy);
    fprintf(out, "<g clip-path=\"url(#clip-%s)\">\n", p->id);
    if (p->band != NULL)
        draw_band(out, p->band, &fx, &fy);
    for (size_t s = p->nseries; s-- > 0;) /* first series on top */
        draw_series(out, &p->series[s], &fx, &fy);
    fputs("</g>\n", out);
    if (p->legend)
        draw_legend(out, p, fx.p0 + fx.len + 16, TITLE_H + 12);
    fputs("</svg>\n", out);
}

/* ---------------------------------------------------------------------------- */
/* Heatmap                                                                      */
/* ---------------------------------------------------------------------------- */

#define HEAT_ROW   12.0
#define HEAT_BAR_W 110.0
#define HEAT_STEPS 32

/* ColorBrewer Blues, light to dark. */
static const unsigned blues[] = {0xf7fbff, 0xdeebf7, 0xc6dbef, 0x9ecae1, 0x6baed6,
                                 0x4292c6, 0x2171b5, 0x08519c, 0x08306b};

/* The colour at @p f in [0, 1] as "#rrggbb" into @p buf (8 bytes). */
static void heat_color(double f, char *buf)
{
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    double x = f * 8;
    unsigned i = x >= 8 ? 7 : (unsigned)x, c = 0;
    double w = x - i;
    for (unsigned sh = 0; sh <= 16; sh += 8) {
        double a = (blues[i] >> sh) & 0xff, b = (blues[i + 1] >> sh) & 0xff;
        c |= (unsigned)lround(a + (b - a) * w) << sh;
    }
    snprintf(buf, 8, "#%06x", c);
}

/* The log10 range of the positive values. */
static void heat_range(const plot_heat_t *h, double *l0, double *l1)
{
    *l0 = INFINITY;
    *l1 = -INFINITY;
    for (size_t i = 0; i < h->nrows * h->ncols; i++)
        if (isfinite(h->v[i]) && h->v[i] > 0) {
            double l = log10(h->v[i]);
            *l0 = l < *l0 ? l : *l0;
            *l1 = l > *l1 ? l : *l1;
        }
    if (!isfinite(*l0)) {
        *l0 = 0;
        *l1 = 1;
    }
    if (*l1 - *l0 < 1e-9)
        *l1 = *l0 + 1;
}

/* Column @p c's start in x units: the previous column's end (the first: x[0] - dx). */
static double heat_start(const plot_heat_t *h, size_t c, double dx)
{
    return c == 0 ? h->x[0] - dx : h->x[c - 1];
}

/* Cells where their time is: column c spans (x[c-1], x[c]] on @p fx (so a short last
   interval, or a late one, is drawn as wide as it was). */
static void heat_cells(FILE *out, const plot_heat_t *h, const frame_axis_t *fx, double dx,
                       double l0, double l1)
{
    char col[8], vb[32], tb[32];
    for (size_t c = 0; c < h->ncols; c++) {
        double xa = pixel(fx, heat_start(h, c, dx), false), xb = pixel(fx, h->x[c], false);
        if (!(xb > xa))
            continue; /* out of order or empty: nothing to draw */
        for (size_t r = 0; r < h->nrows; r++) {
            double v = h->v[r * h->ncols + c];
            if (!isfinite(v) || v <= 0)
                continue;
            heat_color((log10(v) - l0) / (l1 - l0), col);
            /* 0.3 px of overlap hides the seams between neighbours */
            fprintf(out,
                    "<rect class=\"cell\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" "
                    "fill=\"%s\"><title>",
                    xa, TITLE_H + r * HEAT_ROW, xb - xa + (c + 1 < h->ncols ? 0.3 : 0),
                    HEAT_ROW - 1, col);
            plot_esc(out, h->rows[r]);
            fprintf(out, " at %s: %s</title></rect>\n",
                    plot_fmt(tb, sizeof(tb), h->x[c], h->xaxis.fmt),
                    plot_fmt(vb, sizeof(vb), v, h->vfmt));
        }
    }
}

/* The vertical colour bar and its decade labels, right of the cells. */
static void heat_bar(FILE *out, const plot_heat_t *h, double x, double len, double l0, double l1)
{
    char col[8], lb[32];
    double step = len / HEAT_STEPS;
    for (unsigned i = 0; i < HEAT_STEPS; i++) {
        heat_color((i + 0.5) / HEAT_STEPS, col);
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"%.2f\" fill=\"%s\"/>", x,
                TITLE_H + len - (i + 1) * step, step + 0.3, col);
    }
    static const double m[] = {1, 2, 5};
    bool fine = l1 - l0 <= 2.3;
    for (double d = floor(l0); d <= ceil(l1); d++) {
        for (unsigned i = 0; i < (fine ? 3u : 1u); i++) {
            double v = m[i] * pow(10, d), lv = log10(v);
            if (lv < l0 - 1e-9 || lv > l1 + 1e-9)
                continue;
            double y = TITLE_H + len - (lv - l0) / (l1 - l0) * len;
            fprintf(out, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\">%s</text>\n", x + 20, y + 4,
                    plot_fmt(lb, sizeof(lb), v, h->vfmt));
        }
    }
    fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\">", x, TITLE_H - 6);
    plot_esc(out, h->vlabel);
    fputs("</text>\n", out);
}

static void heat_rows(FILE *out, const plot_heat_t *h, double x0)
{
    for (size_t r = 0; r < h->nrows; r++) {
        fprintf(out, "<text class=\"rowlabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", x0 - 6,
                TITLE_H + r * HEAT_ROW + HEAT_ROW - 3);
        plot_esc(out, h->rows[r]);
        fputs("</text>\n", out);
    }
}

void plot_heatmap(FILE *out, const plot_heat_t *h)
{
    double wmax = 0;
    for (size_t r = 0; r < h->nrows; r++) {
        double l = (double)strlen(h->rows[r]) * 6.0;
        wmax = l > wmax ? l : wmax;
    }
    double left = wmax + 16, len = h->nrows * HEAT_ROW;
    double w = h->width - left - HEAT_BAR_W;
    int height = (int)(TITLE_H + len + BOTTOM_H);
    double l0, l1;
    double dx = h->dx > 0 ? h->dx : h->ncols > 1 ? h->x[1] - h->x[0] : h->ncols ? h->x[0] : 1;
    if (!(dx > 0))
        dx = 1;
    heat_range(h, &l0, &l1);
    fprintf(out,
            "<svg class=\"chart\" id=\"%s\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\""
            " role=\"img\" aria-label=\"",
            h->id, h->width, height, h->width, height);
    plot_esc(out, h->title);
    fprintf(out, "\">\n<text class=\"title\" x=\"%.1f\" y=\"18\">", left);
    plot_esc(out, h->title);
    fputs("</text>\n", out);
    heat_rows(out, h, left);
    /* the time axis under the cells: exactly the columns' span */
    plot_axis_t ax = h->xaxis;
    ax.lo = h->ncols ? h->x[0] - dx : 0;
    ax.hi = h->ncols ? h->x[h->ncols - 1] : 1;
    if (!(ax.hi > ax.lo))
        ax.hi = ax.lo + 1;
    tick_t t[MAX_TICKS];
    frame_axis_t fx = {.scale = PLOT_LINEAR, .p0 = left, .len = w};
    frame_axis_t fy = {.scale = PLOT_LINEAR, .p0 = TITLE_H + len, .len = len, .t0 = 0, .t1 = 1};
    unsigned n = ticks_linear(&fx, &ax, ax.lo, ax.hi, h->width / 140.0, t);
    heat_cells(out, h, &fx, dx, l0, l1);
    fprintf(out, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
            left, TITLE_H, w, len);
    for (unsigned i = 0; i < n; i++) {
        double x = left + (t[i].t - fx.t0) / (fx.t1 - fx.t0) * w;
        fprintf(out,
                "<line class=\"tickmark\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s</text>\n",
                x, fy.p0, x, fy.p0 + 4, x, fy.p0 + 16,
                x > left + 0.97 * w   ? "end"
                : x < left + 0.03 * w ? "start"
                                      : "middle",
                t[i].label);
    }
    fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", left + w / 2,
            fy.p0 + 36);
    plot_esc(out, ax.label);
    fputs("</text>\n", out);
    heat_bar(out, h, left + w + 18, len, l0, l1);
    fputs("</svg>\n", out);
}
