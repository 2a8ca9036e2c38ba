/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file latency.h
 * Per-stage latency of every published message (docs/latency.md, "Stages"): a
 * recorder the mux calls right after it stamps tsc_publish (mux_conf_t.observe), on
 * the mux's lcore, into lib/stats histograms per stage, overall and per feed; the
 * control lcore swaps the overall ones every interval (time series of p50/p99/max and
 * per-feed message rates), merges everything on read, and writes the latency JSON
 * (the `latency` key of the stats JSON, and DIR/latency.json) and the text tables.
 *
 * Threads: the writer is lat_observe(), on the mux's lcore, or, with
 * lat_conf_t.forward, lat_recorder_main() on another lcore, fed by the mux's
 * lat_forward() through an SPSC channel of stamps; every other function runs on the
 * control lcore. No atomics on the writer beyond stats_interval_writer()'s plain
 * load and the relaxed stores of the message counters.
 */
#ifndef MDMUX_APP_LATENCY_H
#define MDMUX_APP_LATENCY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "proto.h"
#include "stats.h"

/** The stages recorded by the mux, in report order (names: lat_stage_name()). */
enum lat_stage {
    LAT_RX_TO_DEQUEUE = 0,   /**< tsc_rx -> tsc_dequeue */
    LAT_DEQUEUE_TO_DECODE,   /**< tsc_dequeue -> tsc_decode */
    LAT_DECODE_TO_PUBLISH,   /**< tsc_decode -> tsc_publish */
    LAT_RX_TO_PUBLISH,       /**< tsc_rx -> tsc_publish */
    LAT_INTENDED_TO_PUBLISH, /**< tsc_intended -> tsc_publish (paced replay only) */
    LAT_NSTAGES
};

/** Default interval of the time series, ms. */
#define LAT_INTERVAL_MS_DEFAULT 100u
/** Default budget of the time series: points kept per series (docs/latency.md). */
#define LAT_SERIES_POINTS_DEFAULT 4096u
/** Smallest and largest budget (an even number: a compaction merges pairs). */
#define LAT_SERIES_POINTS_MIN 4u
#define LAT_SERIES_POINTS_MAX 1048576u

typedef struct lat lat_t; /**< The recorder, its histograms and the series. */

/** Recorder options. */
typedef struct lat_conf {
    unsigned nfeeds;          /**< feed ids 0 .. nfeeds-1 */
    const char *const *names; /**< feed names by id (borrowed) */
    bool intended;            /**< record intended_to_publish (paced replay) */
    unsigned interval_ms;     /**< series interval; 0: LAT_INTERVAL_MS_DEFAULT */
    unsigned series_points;   /**< series budget (even); 0: LAT_SERIES_POINTS_DEFAULT */
    /** Record on another lcore: the mux's observer is lat_forward(), which sends each
        message's stamps to the recorder coroutine (lat_recorder_main()) there. */
    bool forward;
    int forward_node;       /**< NUMA node of the stamps' channel (the recorder's) */
    unsigned forward_slots; /**< its stamps; 0: LAT_FORWARD_SLOTS_DEFAULT */
    int recorder_lcore;     /**< the recorder's lcore, for the report */
    struct co_ctx *ctx;     /**< the mux's wait for room observes it (NULL: none) */
} lat_conf_t;

/** Stamps the mux -> recorder channel holds by default (48 bytes each). */
#define LAT_FORWARD_SLOTS_DEFAULT 16384u

/** Where the latency was recorded, and how the mux's hand-over went (lat_recorder_stats). */
typedef struct lat_recorder_stats {
    int lcore;        /**< the recorder's lcore; -1: the mux recorded inline */
    bool forwarded;   /**< lat_conf_t.forward */
    uint64_t sent;    /**< messages whose stamps went to the recorder */
    uint64_t waits;   /**< times the mux waited for room (the recorder was behind) */
    uint64_t dropped; /**< stamps never recorded: the recorder's lcore did not start, or
                            the run was cancelled while the mux waited */
    uint64_t slots;   /**< the channel's capacity */
} lat_recorder_stats_t;

/**
 * Create the recorder: calibrate the clock (stats_clock_set_hz(co_tsc_hz())), measure
 * the clock read cost, allocate every histogram and the whole time series (all memory
 * is taken here: the series never grows, it is downsampled in place when full).
 *
 * @return the recorder, or NULL (message on stderr).
 */
lat_t *lat_new(const lat_conf_t *c);

/** Free @p l (after the mux has ended). */
void lat_free(lat_t *l);

/**
 * The mux's observer (mux_observe_fn, arg: the lat_t): record the burst's message
 * records; @p n == 0 is the idle call (completes pending interval swaps).
 */
void lat_observe(void *arg, md_rec_t *const *recs, unsigned n);

/**
 * The mux's observer with lat_conf_t.forward (mux_observe_fn, arg: the lat_t): copy
 * the stamps of the burst's message records (48 bytes each) into the recorder's
 * channel; while it is full, park (counted as waits): lossless, so the histograms
 * count every message. Idle calls (@p n == 0) do nothing.
 */
void lat_forward(void *arg, md_rec_t *const *recs, unsigned n);

/** Mux side, once it has ended (or its lcore failed): the recorder drains and ends. */
void lat_forward_close(lat_t *l);

/**
 * The recorder's lcore did not start: lat_forward() drops (counted) instead of
 * waiting for it. Call before any traffic (the start gate).
 */
void lat_recorder_gone(lat_t *l);

/**
 * The recorder coroutine's body (lat_conf_t.forward), on its own lcore: the only
 * writer of the histograms then. Records what lat_forward() sends, and returns once
 * lat_forward_close() has been called and everything is recorded.
 */
void lat_recorder_main(lat_t *l);

/** Any thread: where latency is recorded, and the hand-over's counters. */
void lat_recorder_stats(const lat_t *l, lat_recorder_stats_t *out);

/**
 * Control lcore, every few ms: at each interval boundary, swap the overall stage
 * histograms, merge them into the totals and into the series' open point (closed once
 * it spans the series' current resolution; a full series merges adjacent pairs of
 * points and doubles its resolution). Never blocks, never allocates.
 */
void lat_tick(lat_t *l);

/**
 * How long the control lcore may sleep before lat_tick() is due again, at most
 * @p max_ns (so intervals end on time, not on the control loop's period).
 */
uint64_t lat_sleep_ns(const lat_t *l, uint64_t max_ns);

/**
 * Control lcore: bring the totals up to date. While the mux runs (@p writer_done
 * false) the per-feed histograms are swapped, waiting (co_sleep) up to ~100 ms for
 * the mux; once it has ended (@p writer_done true: its last records happen-before)
 * everything left is merged in and the last partial interval closes the series.
 */
void lat_sync(lat_t *l, bool writer_done);

/** Messages recorded so far (as of the last sync). */
uint64_t lat_count(const lat_t *l);

/**
 * The latency report object (the value of the `latency` key; docs/latency.md): a
 * jansson json_t *, returned as void * so that callers need not include jansson.
 */
void *lat_json(const lat_t *l);

/**
 * Write the text tables: the overall one per stage; the per-feed one too when
 * @p feeds is true. Returns 0 or -EIO.
 */
int lat_print(FILE *f, const lat_t *l, bool feeds);

/**
 * Write DIR/latency.json and DIR/latency.txt (@p dir exists). Returns 0, or -1 with
 * a message on stderr.
 */
int lat_write_dir(const lat_t *l, const char *dir);

/**
 * Control lcore, while the run goes on (after lat_sync(l, false)): write the current
 * on-demand report set into @p dir (created if missing): DIR/latency.json,
 * DIR/latency.txt and DIR/report.html (tools/report, from the latency JSON alone;
 * @p mode, e.g. "replay", titles it). The SIGUSR1 and `POST /report` path. Returns 0,
 * or -1 with the reason in @p err.
 */
int lat_write_report(const lat_t *l, const char *dir, const char *mode, char *err, size_t errlen);

/** The files lat_write_report() writes, in order (NULL-terminated). */
extern const char *const lat_report_files[];

/** Stages recorded: LAT_NSTAGES, or LAT_INTENDED_TO_PUBLISH outside paced replay. */
unsigned lat_nstages(const lat_t *l);

/** Feeds recorded (lat_conf_t.nfeeds). */
unsigned lat_nfeeds(const lat_t *l);

/** Significant digits of the per-feed histograms (feed_precision_digits). */
unsigned lat_feed_sigfigs(const lat_t *l);

/**
 * Control lcore: Prometheus-style cumulative buckets of every feed's stage totals
 * (as of the last lat_sync()), for the bounds @p le[0 .. nle-1] (ns, ascending):
 * out[((feed * LAT_NSTAGES) + stage) * (nle + 2) + k] is, for k < nle, the count of
 * values whose bucket lies entirely <= le[k] (stats_hist_count_le()), at k = nle the
 * count and at k = nle + 1 the exact sum of the values (ns). One pass per histogram.
 * Stages not recorded are left untouched. Every message is in exactly one feed, so
 * summing over the feeds gives overall figures consistent with the per-feed ones.
 */
void lat_feed_buckets(const lat_t *l, const uint64_t *le, unsigned nle, uint64_t *out);

/**
 * Any thread (e.g. the Prometheus endpoint's): a copy of stage @p stage's overall
 * histogram, as of the last interval, in a new histogram (free it with
 * stats_hist_free()). NULL when the stage is not recorded (intended_to_publish outside
 * paced replay) or on ENOMEM.
 */
stats_hist_t *lat_stage_snapshot(lat_t *l, unsigned stage);

/**
 * Any thread (DPDK telemetry's): the summary of every stage of feed @p feed, as of
 * now: the request is carried out by the control lcore (lat_serve()), which brings the
 * feeds' totals up to date (lat_sync()); waits at most @p timeout_ms for it. Returns
 * the stages filled (lat_nstages()), -EINVAL for a bad feed, -ETIMEDOUT, or -ESHUTDOWN
 * once the control lcore has stopped serving (lat_serve_end()).
 */
int lat_feed_summary(lat_t *l, unsigned feed, unsigned timeout_ms, stats_summary_t *out);

/**
 * Control lcore, every control tick: answer the pending lat_feed_summary() requests
 * (lat_sync(l, false), which may co_sleep). Returns at once when none is pending.
 */
void lat_serve(lat_t *l);

/** Control lcore, when its loop ends: later lat_feed_summary() calls fail at once. */
void lat_serve_end(lat_t *l);

/** The JSON key of stage @p s ("rx_to_dequeue", ...). */
const char *lat_stage_name(unsigned s);

#endif /* MDMUX_APP_LATENCY_H */
