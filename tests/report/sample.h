/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file sample.h
 * A realistic stats JSON with the latency section of docs/latency.md, made from real
 * lib/stats histograms of synthetic latencies, for the report and compare tests.
 */
#ifndef MDMUX_TEST_REPORT_SAMPLE_H
#define MDMUX_TEST_REPORT_SAMPLE_H

#include <stdint.h>

#include <jansson.h>

/** The stages the sample reports, in order. */
#define SAMPLE_NSTAGES 5

/** Samples per feed and stage. */
#define SAMPLE_PER_FEED 4000u

/**
 * Build a stats JSON: @p nfeeds feeds (feed00 ..), @p nintervals series points of
 * 100 ms, latencies scaled by @p scale (1.0 = the baseline), deterministic in @p seed.
 * Returns a new reference.
 */
json_t *sample_stats(unsigned nfeeds, unsigned nintervals, double scale, uint64_t seed);

/** Write @p j to @p path (indented). Returns 0 or -1. */
int sample_write(const json_t *j, const char *path);

#endif /* MDMUX_TEST_REPORT_SAMPLE_H */
