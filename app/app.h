/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file app.h
 * Internal interface between the parts of the mdmux binary: the command line
 * (main.c), the automatic feeds of a bare capture (autofeed.c), the wiring and
 * lifecycle of a run (run.c), the feed handlers, mux and outputs (pipeline.c), the
 * latency recorder (latency.c) and the final report (report.c).
 */
#ifndef MDMUX_APP_H
#define MDMUX_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/** The subcommands. */
typedef enum app_cmd {
    APP_REPLAY = 0, /**< replay a capture through a net_pcap port */
    APP_RUN,        /**< run on the configured ports until SIGINT/SIGTERM */
    APP_CHECK,      /**< validate a configuration */
} app_cmd_t;

/** Most --fault options. */
#define APP_FAULTS_MAX 64

/** What the command line asked for. CLI values override the configuration's. */
typedef struct app_opts {
    app_cmd_t cmd;
    const char *capture; /**< replay: the pcap file */
    const char *config;  /**< -c, or the capture's sibling .yaml */
    const char *speed;   /**< --speed, or NULL */
    double rate;         /**< --rate, when has_rate */
    bool has_rate;
    unsigned loop; /**< --loop, when has_loop */
    bool has_loop;
    unsigned max_gap_ms; /**< --max-gap-ms, when has_max_gap */
    bool has_max_gap;
    bool lossless;                /**< --lossless */
    const char *stats_json;       /**< --stats-json FILE, or NULL */
    const char *dump;             /**< --dump FILE (JSON Lines of the merged stream), or NULL */
    const char *report_dir;       /**< --report DIR: stats.json and summary.txt, or NULL */
    const char *shm;              /**< --shm PATH: publish the ring there (replay too), or NULL */
    bool auto_feeds;              /**< the feeds came from the capture (no configuration) */
    const char *metrics;          /**< --metrics ADDR:PORT (Prometheus endpoint), or NULL */
    bool telemetry;               /**< --telemetry: DPDK telemetry socket and /mdmux/ commands */
    unsigned latency_interval_ms; /**< --latency-interval MS (series), 0: latency.interval_ms */
    unsigned latency_points;      /**< --latency-points N (series budget), 0: the file's */
    bool verbose;                 /**< --verbose: per-feed latency table on stdout too */
    int progress;                 /**< 1 --progress, 0 --no-progress, -1 auto (a TTY) */
    unsigned drain_timeout_ms;    /**< --drain-timeout MS, when has_drain_timeout */
    bool has_drain_timeout;       /**< --drain-timeout was given */
    uint64_t stall_dump_after;    /**< --stall-dump-after N (tests only) */
    bool has_stall_dump;          /**< the dump writer stalls after N records */
    char **eal_args;              /**< after `--` */
    int neal_args;
    const char *faults[APP_FAULTS_MAX]; /**< --fault SPEC (cfg_add_fault), in order */
    unsigned nfaults;
} app_opts_t;

/** Exit statuses. */
enum {
    APP_EXIT_OK = 0,
    APP_EXIT_FAIL = 1,  /**< a run error (bad capture, port, EAL) */
    APP_EXIT_USAGE = 2, /**< bad command line or configuration */
};

/**
 * Run `replay` or `run` with configuration @p cfg (owned by the caller). Returns an
 * exit status.
 */
int app_run(const app_opts_t *o, cfg_t *cfg);

/**
 * Scan @p capture and write a configuration (YAML text, malloc'd) with one
 * single-line feed per UDP destination, named "address:port", in order of first
 * appearance; *@p nfeeds gets their number. Returns NULL with the reason in @p err
 * (unreadable capture, no UDP, more than CFG_MAX_MUX_FEEDS destinations).
 */
char *app_autofeed_yaml(const char *capture, unsigned *nfeeds, char *err, size_t errlen);

#endif /* MDMUX_APP_H */
