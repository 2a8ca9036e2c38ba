/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file report.h
 * The end-of-run report of the mdmux binary: the per-feed, per-line table on stdout
 * and the --stats-json file (format in docs/configuration.md, "Statistics").
 */
#ifndef MDMUX_APP_REPORT_H
#define MDMUX_APP_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "feed.h"
#include "io.h"
#include "mux.h"
#include "pipeline.h"

/** One feed line's final counts. */
typedef struct rep_line {
    uint64_t packets;      /**< classified to this line (all RX lcores) */
    uint64_t bytes;        /**< their UDP payload bytes */
    uint64_t channel_full; /**< dropped by RX: the handler's channel was full */
    uint64_t handled;      /**< taken by the feed handler (or freed after it gave up) */
} rep_line_t;

/** One DPDK port's own counters (rte_eth_stats): drops before mdmux sees a frame. */
typedef struct rep_port {
    const char *name;
    uint64_t ipackets;  /**< frames the port delivered */
    uint64_t imissed;   /**< dropped by the NIC or kernel ring: RX did not keep up */
    uint64_t ierrors;   /**< bad frames the NIC dropped */
    uint64_t rx_nombuf; /**< no mbuf to receive into */
} rep_port_t;

/** Everything the report shows. */
typedef struct rep {
    const cfg_t *cfg;
    const char *mode;               /**< "replay" or "run" */
    const char *capture;            /**< replay: the file */
    io_rx_stats_t rx;               /**< summed over RX lcores, unknown flows merged */
    rep_line_t (*lines)[CFG_LINES]; /**< [cfg->nfeeds] */
    rep_port_t *ports;              /**< [nports] */
    unsigned nports;
    bool pacing;                        /**< replay: pacing figures valid */
    const char *pace_mode;              /**< "max", "speed", "rate" */
    uint64_t err_p50, err_p99, err_max; /**< pacing error, ns */
    uint64_t early;                     /**< releases before their intended time */
    /* replay: capture clock steps (lib/io pacer): count, first packet (0-based index)
       and its record's byte offset (UINT64_MAX: none) */
    uint64_t ts_back, ts_back_ns, ts_back_pkt, ts_back_off;
    uint64_t ts_fwd, ts_clamped_ns, ts_fwd_pkt, ts_fwd_off, ts_fwd_limit_ns;
    uint64_t undelivered;      /**< replay: capture records the port did not deliver as read */
    double elapsed_s;          /**< wall time of the data path */
    const char *capture_error; /**< replay: the capture's error, or NULL */
    bool interrupted;          /**< stopped by a signal */
    feed_stats_t *fs;          /**< [cfg->nfeeds] the feed handlers' counters */
    mux_stats_t mux;           /**< the merged stream */
    bool has_dump, has_pcap, has_tx;
    mux_writer_stats_t dump, pcap;     /**< writers' counters */
    mux_tx_stats_t tx;                 /**< multicast TX counters */
    const lat_t *lat;                  /**< per-stage latency (synced), or NULL */
    bool lat_feeds;                    /**< stdout: the per-feed latency table too */
    const char *dump_path, *pcap_path; /**< outputs written */
    const char *shm_path;              /**< the public shm ring, or NULL */
    const char *mcast;                 /**< "group:port" of the multicast output, or NULL */
    const pipe_retx_t *retx;           /**< re-request port counters, or NULL */
} rep_t;

/** Add @p s (one RX lcore's counters) into @p total, merging the unknown-flow lists. */
void rep_add_rx(io_rx_stats_t *total, const io_rx_stats_t *s);

/**
 * Print the summary, the per-feed table, the outputs and the latency table (per feed
 * too when r->lat_feeds) to @p f.
 */
void rep_print(FILE *f, const rep_t *r);

/**
 * Write DIR/stats.json, DIR/summary.txt, DIR/latency.json, DIR/latency.txt and
 * DIR/report.html (tools/report, from the stats.json written) (creating @p dir).
 * Returns 0, or -1 with a message on stderr.
 */
int rep_write_dir(const char *dir, const rep_t *r);

/**
 * Check classified = handled + channel_full on every line. Returns the number of
 * lines that break it (each is printed to @p f).
 */
unsigned rep_check(FILE *f, const rep_t *r);

/** Write the JSON report to @p path. Returns 0, or -1 with a message on stderr. */
int rep_write_json(const char *path, const rep_t *r);

#endif /* MDMUX_APP_REPORT_H */
