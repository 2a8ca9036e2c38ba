/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file plot.h
 * Inline SVG line charts for the HTML report (html.c): axes with ticks and units,
 * polylines, an optional min-max band, and a legend beside the plot area. Plain C,
 * no dependencies beyond libc and libm; every string it writes is XML-escaped, so the
 * output is well-formed XML as well as HTML5.
 */
#ifndef MDMUX_REPORT_PLOT_H
#define MDMUX_REPORT_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/** How an axis maps values to positions. */
typedef enum plot_scale {
    PLOT_LINEAR, /**< v */
    PLOT_LOG,    /**< log10(v); values <= 0 are clamped to the axis minimum */
    PLOT_PCTL,   /**< a percentile 0..100 on HdrHistogram's log10(1/(1-p)) axis */
} plot_scale_t;

/** How an axis labels its ticks. */
typedef enum plot_fmt {
    PLOT_FMT_NS,   /**< nanoseconds: "850 ns", "1.2 µs", "3 ms" */
    PLOT_FMT_RATE, /**< per second: "0", "50k", "1.2M" */
    PLOT_FMT_SEC,  /**< seconds: "2.5 s" */
    PLOT_FMT_PCT,  /**< percentiles: "99.9%" */
} plot_fmt_t;

/**
 * One axis. With lo >= hi the range is taken from the data: a linear axis then starts
 * at 0 (or below, for negative data) and ends at the next tick above the data, unless
 * it is tight.
 */
typedef struct plot_axis {
    plot_scale_t scale;
    plot_fmt_t fmt;
    double lo, hi;     /**< range in data units (PLOT_PCTL: hi is the decades shown) */
    const char *label; /**< title of the axis, e.g. "latency" */
    bool tight;        /**< linear, from the data: exactly [min, max] of the data, with the
                            ticks inside it (time axes: nothing drawn past the data) */
} plot_axis_t;

/** One line. */
typedef struct plot_series {
    const char *name;  /**< legend entry and tooltip */
    const char *color; /**< CSS colour */
    const double *x, *y;
    size_t n;
    bool dashed;
} plot_series_t;

/** A shaded band between two curves sharing x (e.g. the min and max of other feeds). */
typedef struct plot_band {
    const char *name, *color;
    const double *x, *lo, *hi;
    size_t n;
} plot_band_t;

/** A chart. */
typedef struct plot {
    const char *id;    /**< unique in the page (clip path id); [A-Za-z0-9_-] */
    const char *title; /**< drawn above the plot area */
    int width, height; /**< pixels */
    plot_axis_t x, y;
    const plot_series_t *series;
    size_t nseries;
    const plot_band_t *band; /**< or NULL */
    bool legend;             /**< reserve a column on the right for the legend */
} plot_t;

/** A heatmap: one row per name, one column per x, colour on a log scale of the value. */
typedef struct plot_heat {
    const char *id, *title;
    int width;
    const char *const *rows; /**< row names, top to bottom */
    size_t nrows, ncols;
    const double *x;    /**< [ncols] column positions (e.g. seconds), ascending */
    const double *v;    /**< [nrows * ncols] row-major values; <= 0 or NAN: blank */
    plot_axis_t xaxis;  /**< linear; its label titles the x axis */
    plot_fmt_t vfmt;    /**< how the colour bar labels values */
    const char *vlabel; /**< what the colour means, e.g. "messages/s" */
    double dx;          /**< width of the first column (x[0] - dx is where it starts);
                             0: x[1] - x[0]. Column c spans (x[c-1], x[c]]. */
} plot_heat_t;

/** Write @p p as one `<svg>` element to @p out. */
void plot_svg(FILE *out, const plot_t *p);

/** Write @p h as one `<svg>` element (cells are `<rect class="cell">`) to @p out. */
void plot_heatmap(FILE *out, const plot_heat_t *h);

/** Write @p s to @p out with the XML special characters escaped. */
void plot_esc(FILE *out, const char *s);

/**
 * Format @p v for a tick label or table cell into @p buf (at least 32 bytes) in the
 * style of @p fmt. Returns @p buf.
 */
char *plot_fmt(char *buf, size_t len, double v, plot_fmt_t fmt);

#endif /* MDMUX_REPORT_PLOT_H */
