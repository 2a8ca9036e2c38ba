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
    unsigned nrx;                /**< RX lcores */
    unsigned nhandlers;          /**< lcores running feed handlers */
} metrics_view_t;

/**
 * Fixed bucket ladder of the Prometheus stage histograms, in ns: 1-2-5 steps from
 * 100 ns to 100 ms (19 bounds), then +Inf. Fixed so that series stay comparable
 * across runs and versions (Prometheus cannot aggregate differing ladders).
 */
#define METRICS_LE_COUNT 19
extern const uint64_t metrics_le_ns[METRICS_LE_COUNT];

/** Name of latency stage @p stage (enum lat_stage): "rx_to_dequeue", ... */
const char *metrics_stage_name(unsigned stage);

/**
 * Snapshot of stage @p stage's overall latency histogram (ns) into a new histogram
 * (free it with stats_hist_free()), or NULL when the stage is not recorded. Any
 * thread: the one place the endpoint and the telemetry commands get latency from
 * (app/latency.c's lat_stage_snapshot(), merged per-core histograms).
 */
stats_hist_t *metrics_stage_snapshot(const pipe_t *p, unsigned stage);

/** Write every mdmux_* series of @p v in Prometheus text format 0.0.4 to @p out. */
void metrics_render(const metrics_view_t *v, FILE *out);

typedef struct metrics metrics_t;

/**
 * Serve GET /metrics (and /) on @p addr_be:@p port (network order address, host
 * order port) from libmicrohttpd's internal thread. @p v must stay valid until
 * metrics_stop(). Returns NULL with the reason in @p err.
 */
metrics_t *metrics_start(const metrics_view_t *v, uint32_t addr_be, uint16_t port, char *err,
                         size_t errlen);

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
