/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file html.h
 * The self-contained HTML latency report: one file with inline CSS and inline SVG
 * plots (no script, no external resource), made from an mdmux stats JSON with its
 * `latency` section (schema: docs/latency.md). App-independent: mdmux calls it at
 * shutdown for --report DIR/report.html, mdmux-report from the command line.
 */
#ifndef MDMUX_REPORT_HTML_H
#define MDMUX_REPORT_HTML_H

#include <stdio.h>

#include <jansson.h>

/**
 * Write the HTML report of @p stats to @p out: summary tables per stage and per feed,
 * percentile distributions on a 1/(1-p) axis, stage latency and per-feed message
 * rates over time, and the counters. Missing sections are reported as such in the
 * page; malformed values are skipped, never trusted.
 *
 * The output is well-formed XML (XHTML-compatible HTML5).
 *
 * @return 0, or -1 when @p stats is not an object or the stream reports an error.
 */
int report_html_write(json_t *stats, FILE *out);

/**
 * Write the report of @p stats to the file @p path. Returns 0, or -1 with a message
 * on stderr naming @p path.
 */
int report_html_write_file(json_t *stats, const char *path);

#endif /* MDMUX_REPORT_HTML_H */
