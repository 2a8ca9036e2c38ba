/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file metrics.h
 * Live observability of a run, off the data path: a Prometheus endpoint
 * (libmicrohttpd, text format 0.0.4, app/metrics.c) and DPDK telemetry commands
 * /mdmux/feeds, /mdmux/feed,NAME, /mdmux/latency and /mdmux/coroutines
 * (app/telemetry.c).
 *
 * Both read the same view of the run: the feed handlers' counters (feed_stats), the
 * RX contexts' (io_rx_stats, io_rx_line_stats), channel depths (chs_len), the mux's
 * and the coroutine registry's, all snapshots with relaxed loads that the data-path
 * cores publish anyway. Neither adds work to a data-path core: libmicrohttpd runs in
 * its own internal thread, telemetry in DPDK's, and both are stopped (or detached)
 * before the run's objects are freed.
 */
#ifndef MDMUX_APP_METRICS_H
#define MDMUX_APP_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "io.h"
#include "pipeline.h"
#include "stats.h"

/** What the endpoint and the telemetry commands read; filled by run.c. */
typedef struct metrics_view {
    const cfg_t *cfg;
    const pipe_t *pipe;
    io_rx_t *rx[CFG_MAX_LCORES]; /**< RX context of each lcore, or NULL */
    /** Each RX lcore's TSC in polls that found packets (its poller writes it, relaxed) */
    const uint64_t *rx_busy_tsc[CFG_MAX_LCORES];
    unsigned nrx;           /**< RX lcores */
    unsigned nhandlers;     /**< lcores running feed handlers */
    const char *report_dir; /**< --report DIR for POST /report, or NULL */
    const char *mode;       /**< "replay" or "run" (titles the on-demand report) */
    const int *port_ids;    /**< run: DPDK port id of each cfg->ports entry; else NULL */
} metrics_view_t;

/**
 * Fixed bucket ladder of the Prometheus stage histograms, in ns: 1-2-5 steps from
 * 100 ns to 100 ms (19 bounds), then +Inf. Fixed so that series stay comparable
 * across runs and versions (Prometheus cannot aggregate differing ladders).
 */
#define METRICS_LE_COUNT 19
extern const uint64_t metrics_le_ns[METRICS_LE_COUNT];

/**
 * Bounds of the per-feed family (mdmux_feed_stage_latency_seconds): the 1-5 subset of
 * metrics_le_ns (100 ns, 500 ns, 1 us, 5 us, ... 100 ms: 13 bounds, then +Inf), so
 * that 50 feeds x 5 stages stay near 4000 series and every per-feed `le` is also an
 * overall one (sum by (stage, le) over the feeds equals the overall bucket).
 */
#define METRICS_FEED_LE_COUNT 13

/**
 * One consistent snapshot of the stage latencies, per feed, for a scrape: what the
 * control lcore hands the endpoint (lat_feed_buckets() at metrics_le_ns). The overall
 * family is the sum over the feeds of the same snapshot, so in every scrape the
 * per-feed counts add up to the overall ones exactly.
 */
typedef struct metrics_lat {
    unsigned nfeeds; /**< feeds in b */
    unsigned nst;    /**< stages recorded (0: no latency in this run) */
    uint64_t *b;     /**< [nfeeds][LAT_NSTAGES][METRICS_LE_COUNT + 2], as lat_feed_buckets() */
} metrics_lat_t;

/** Name of latency stage @p stage (enum lat_stage): "rx_to_dequeue", ... */
const char *metrics_stage_name(unsigned stage);

/**
 * Snapshot of stage @p stage's overall latency histogram (ns) into a new histogram
 * (free it with stats_hist_free()), or NULL when the stage is not recorded. Any
 * thread: the one place the endpoint and the telemetry commands get latency from
 * (app/latency.c's lat_stage_snapshot(), merged per-core histograms).
 */
stats_hist_t *metrics_stage_snapshot(const pipe_t *p, unsigned stage);

/**
 * Write every mdmux_* series of @p v in Prometheus text format 0.0.4 to @p out, the
 * stage latency families from @p lat (NULL: none).
 */
void metrics_render(const metrics_view_t *v, const metrics_lat_t *lat, FILE *out);

typedef struct metrics metrics_t;

/**
 * Serve on @p addr_be:@p port (network order address, host order port) from
 * libmicrohttpd's internal thread (docs/latency.md, "Scraping"):
 *
 * - GET /metrics (and /): the Prometheus text;
 * - GET /latency: the current latency JSON (as DIR/latency.json holds it);
 * - POST /report: write DIR/latency.json, latency.txt and report.html to --report DIR
 *   now, and answer a JSON naming the files and the time (409 without --report).
 *
 * Anything that reads the latency recorder's totals runs on the control lcore: the
 * HTTP thread posts the request and waits (bounded) until metrics_control() has done
 * it. @p v must stay valid until metrics_stop(). Returns NULL with the reason in @p err.
 */
metrics_t *metrics_start(const metrics_view_t *v, uint32_t addr_be, uint16_t port, char *err,
                         size_t errlen);

/**
 * Control coroutine, every control tick: carry out what the endpoint asked for (a
 * fresh latency snapshot for a scrape, a report, the latency JSON) and wake the
 * waiting HTTP thread. May co_sleep (lat_sync()); returns at once when nothing is
 * asked. NULL is ignored.
 */
void metrics_control(metrics_t *m);

/**
 * Control coroutine, once it ends: later requests no longer wait for it (scrapes use
 * the last snapshot; POST /report and GET /latency answer 503). NULL is ignored.
 */
void metrics_control_end(metrics_t *m);

/** Stop the endpoint and join its thread (NULL is ignored). */
void metrics_stop(metrics_t *m);

/**
 * Register the /mdmux/... telemetry commands (once per process; before or after the
 * EAL is up). They answer with an error until telemetry_attach().
 */
int telemetry_register(void);

/** Let the commands read @p v (until telemetry_detach()). */
void telemetry_attach(const metrics_view_t *v);

/** Stop reading the view: waits for a command in progress; later ones get an error. */
void telemetry_detach(void);

#endif /* MDMUX_APP_METRICS_H */
