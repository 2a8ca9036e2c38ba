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
    uint64_t queued;       /**< still in its channels when the run ended: unfinished */
} rep_line_t;

/** One DPDK port's own counters (rte_eth_stats): drops before mdmux sees a frame. */
typedef struct rep_port {
    const char *name;
    uint64_t ipackets;  /**< frames the port delivered */
    uint64_t imissed;   /**< dropped by the NIC or kernel ring: RX did not keep up */
    uint64_t ierrors;   /**< bad frames the NIC dropped */
    uint64_t rx_nombuf; /**< no mbuf to receive into */
} rep_port_t;

/**
 * The accounting identity, in packets (docs/outputs.md, "Accounting"):
 *
 *   received = published + duplicates + malformed + dropped + unfinished
 *              + unknown + control + discarded
 *
 * each term a sum of the finer counters below, and the records' own identity:
 * records sent by the feeds = published by the mux + left in the mux's inputs.
 */
typedef struct rep_acct {
    /* the terms */
    uint64_t received;   /**< rx_frames + retx_frames */
    uint64_t published;  /**< wins + fills: packets that delivered new messages */
    uint64_t duplicates; /**< duplicate_packets + late + stale */
    uint64_t malformed;  /**< rx_malformed + feed_malformed */
    uint64_t dropped;    /**< channel_full + retx_channel_full */
    uint64_t unfinished; /**< queued + held: 0 whenever the drain completed */
    uint64_t unknown;    /**< rx_unknown + rx_other + retx_other */
    uint64_t control;    /**< heartbeats (and end-of-session packets) */
    uint64_t discarded;  /**< restart_discarded + panicked + after_giveup */
    /* the finer counters */
    uint64_t rx_frames, retx_frames;
    uint64_t wins, fills, duplicate_packets, late, stale;
    uint64_t rx_malformed, feed_malformed;
    uint64_t channel_full, retx_channel_full;
    uint64_t rx_unknown, rx_other, retx_other;
    uint64_t heartbeats;
    uint64_t restart_discarded, panicked, after_giveup;
    uint64_t queued, held;
    bool holds;    /**< received == the sum, and every feed's own balance is right */
    char why[256]; /**< when it does not hold: the first reason */
    /* records */
    uint64_t rec_sent;        /**< records the feeds handed to the mux (messages + events) */
    uint64_t rec_published;   /**< records the mux published (the merged seq) */
    uint64_t rec_queued;      /**< records left in the feeds' outputs (cancelled mux) */
    uint64_t rec_not_sent;    /**< records the feeds could not hand over (cancelled) */
    uint64_t dump_written;    /**< records the dump wrote */
    uint64_t dump_unfinished; /**< published - written - write errors (cancelled writer) */
    uint64_t rec_unfinished;  /**< rec_queued + rec_not_sent + dump_unfinished */
    bool records_hold;        /**< sent == published + queued; all written unless cancelled */
} rep_acct_t;

/** Everything the report shows. */
/** One RX lcore's own counters (the stats JSON's rx_lcores). */
typedef struct rep_rx_lcore {
    unsigned lcore;
    io_rx_stats_t st;
    uint64_t (*packets)[CFG_LINES]; /**< [cfg->nfeeds] lines this lcore classified */
} rep_rx_lcore_t;

/** One lcore's scheduler usage (co_sched_usage()) and what it ran. */
typedef struct rep_lcore {
    unsigned lcore;
    char roles[64]; /**< "rx", "handlers", "mux", "latency recorder", "control", comma-separated */
    co_sched_usage_t usage; /**< at the end of its scheduler's run */
    uint64_t rx_busy_tsc;   /**< RX poller: TSC in polls that found packets (0: no RX) */
    uint64_t rx_run_tsc;    /**< ... and from the start gate to its end */
} rep_lcore_t;

typedef struct rep {
    const cfg_t *cfg;
    const char *mode;    /**< "replay" or "run" */
    const char *capture; /**< replay: the file */
    io_rx_stats_t rx;    /**< summed over RX lcores, unknown flows merged */
    bool copies_on_rx;   /**< the RX lcores dropped A/B copies (feed_defaults.copies_on_rx) */
    rep_rx_lcore_t *rxl; /**< [nrxl] per RX lcore, in lcore order */
    unsigned nrxl;
    rep_lcore_t *lcores; /**< [nlcores] every lcore that ran, in lcore order */
    unsigned nlcores;
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
    double start_ms;           /**< launch to the start gate opening (RX's first poll); -1: never */
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
    const pipe_t *pipe;                /**< after pipe_collect(): the accounting's inputs */
    const char *stop;                  /**< what began the drain: "signal", "end of input".. */
    unsigned drain_timeout_ms;         /**< shutdown.drain_timeout_ms */
    double drain_s;                    /**< from the drain's start to the end of the run */
    bool timed_out;                    /**< the drain was cancelled (timeout, second signal) */
    size_t leaked;                     /**< coroutines the schedulers' registries reported */
    const char *leaks;                 /**< their list ("" when none) */
    rep_acct_t acct;                   /**< filled by rep_account() */
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

/** Fill r->acct from the counters in @p r (before rep_print, rep_check, the JSON). */
void rep_account(rep_t *r);

/**
 * Check classified = handled + channel_full + queued on every line, the accounting
 * identity (r->acct, with `mdmux: accounting identity FAILED: ...`), the records'
 * identity, and that no coroutine leaked. Returns the number of failures (each is
 * printed to @p f).
 */
unsigned rep_check(FILE *f, const rep_t *r);

/** Write the JSON report to @p path. Returns 0, or -1 with a message on stderr. */
int rep_write_json(const char *path, const rep_t *r);

#endif /* MDMUX_APP_REPORT_H */
