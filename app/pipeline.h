/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file pipeline.h
 * The record side of a run: one feed handler per feed (lib/feed) under a supervisor
 * on its handler lcore, records from a pool per handler lcore, the mux (lib/mux) on
 * the first handler lcore, and the outputs: the shared-memory ring, the JSON Lines
 * dump, UDP datagrams on a DPDK TX device and their pcap, and the latency recorder
 * (latency.h) the mux calls per burst. Writers run on the control lcore, off the data
 * path.
 *
 * run.c builds the RX side and fills each feed's input channels (pipe_feed_in()),
 * then calls pipe_build() before the lcores start and pipe_spawn() on each lcore.
 */
#ifndef MDMUX_APP_PIPELINE_H
#define MDMUX_APP_PIPELINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "app.h"
#include "chan.h"
#include "config.h"
#include "feed.h"
#include "io.h"
#include "latency.h"
#include "mux.h"

/**
 * The recorded stages by their older names (app/metrics.c and app/telemetry.c use
 * them); the same numbers as latency.h's enum lat_stage.
 */
enum {
    LAT_RX_DEQUEUE = LAT_RX_TO_DEQUEUE,
    LAT_DEQUEUE_DECODE = LAT_DEQUEUE_TO_DECODE,
    LAT_DECODE_PUBLISH = LAT_DECODE_TO_PUBLISH,
    LAT_RX_PUBLISH = LAT_RX_TO_PUBLISH,
    LAT_INTENDED_PUBLISH = LAT_INTENDED_TO_PUBLISH,
    LAT_STAGES = LAT_NSTAGES
};

/** One feed: its handler, supervisor and channels. */
typedef struct pipe_feed {
    feed_conf_t conf; /**< inputs filled by run.c (pipe_feed_in) */
    feed_t *feed;
    co_supervisor_t sv;
    uint64_t after_giveup[FEED_LINES]; /**< mbufs freed after the supervisor gave up */
    uint64_t queued[FEED_LINES];  /**< mbufs left in its inputs when the run ended (pipe_collect) */
    uint64_t out_queued;          /**< records left in its output to the mux (pipe_collect) */
    uint64_t discarded_at_cancel; /**< its lines' discarded when pipe_cancel() ran (restarts') */
    feed_fault_hooks_t fault;     /**< faults: / --fault (conf.faults points here) */
    struct pipe *p;
    unsigned index;
} pipe_feed_t;

/** The re-request server's port and the retransmissions it brings back (retx.c). */
typedef struct pipe_retx {
    bool on;
    int port;                 /**< DPDK port (TX requests, RX retransmissions), -1: none */
    unsigned lcore;           /**< the re-requesting feeds' handler lcore: polls the port */
    struct rte_mempool *pool; /**< request frames */
    io_flow_table_t *flows;   /**< (our address, feed's source port) -> feed */
    chs_t **ch;               /**< [nfeeds] RETX input of each re-requesting feed, or NULL */
    uint64_t frames;          /**< frames received on the port */
    uint64_t accepted;        /**< ... handed to a feed */
    uint64_t other;           /**< ... not for a feed (freed) */
    uint64_t channel_full;    /**< ... dropped: the feed's RETX channel was full */
    atomic_bool done;
} pipe_retx_t;

/** Everything after RX. */
typedef struct pipe {
    const cfg_t *cfg;
    const app_opts_t *o;
    unsigned mux_lcore;
    pool_t *pools[CFG_MAX_LCORES];
    pipe_feed_t *feeds; /**< [cfg->nfeeds] */
    const char **names; /**< feed names by id */
    mux_t *mux;
    mux_shm_t *shm;
    mux_writer_t *dump, *pcap;
    mux_udp_conf_t udp;
    bool udp_on;
    int tx_port; /**< -1: no TX device */
    struct rte_mempool *tx_pool;
    mux_tx_t *tx;
    lat_t *latency; /**< per-stage latency recorder (the mux's observer) */
    /** lcore of the latency recorder coroutine (run.c places it before pipe_build);
        -1: none, the mux records inline */
    int rec_lcore;
    atomic_bool rec_done; /**< the recorder coroutine has ended (or never will run) */
    atomic_uint feeds_done;
    atomic_bool mux_done;
    /** co_now_ns() when the last of the feeds, the mux and the recorder ended */
    _Atomic uint64_t end_ns;
    bool dump_started, pcap_started; /**< their coroutines run */
    const char *dump_path, *pcap_path;
    pipe_retx_t retx;
    atomic_uint *rx_done;  /**< run.c's count of finished RX pollers ... */
    unsigned nrx;          /**< ... out of this many */
    co_ctx_t *ctx;         /**< every coroutine's context: pipe_cancel() cancels it */
    atomic_bool cancelled; /**< pipe_cancel() ran */
} pipe_t;

/** What is still queued in the pipeline (pipe_depth): the drain's progress. */
typedef struct pipe_depth {
    uint64_t packets; /**< mbufs in the feed handlers' input channels */
    uint64_t records; /**< records in the feeds' outputs to the mux */
    uint64_t writers; /**< items in the dump and pcap writers' rings */
} pipe_depth_t;

/** Prepare @p p for @p cfg's feeds (before pipe_feed_in). Returns 0 or -1 (ENOMEM). */
int pipe_init(pipe_t *p, const cfg_t *cfg, const app_opts_t *o);

/** Add input channel @p ch (consumer: the handler) of feed @p f, line @p line. */
int pipe_feed_in(pipe_t *p, unsigned f, unsigned line, chs_t *ch);

/**
 * Create pools, feed handlers, channels to the mux, the mux and its outputs, once the
 * EAL is up and every input channel is set. Returns 0 or -1 (message on stderr).
 */
int pipe_build(pipe_t *p);

/**
 * Spawn lcore @p lcore's roles (feeds, mux, retransmission poller; on the control
 * lcore the writers) on its scheduler. Returns false (reported) if one
 * could not start: the caller then fails the lcore (pipe_fail_lcore) and stops the run.
 */
bool pipe_spawn(pipe_t *p, unsigned lcore, bool is_control);

/** True when every feed, the mux and the writers have finished. */
bool pipe_done(pipe_t *p);

/**
 * When the pipeline's data path ended (co_now_ns): the last of the feeds, the mux and
 * the latency recorder to return. 0 when that is not known: a writer (dump, pcap) ran,
 * whose end only the control loop sees, or nothing has ended yet.
 */
uint64_t pipe_end_ns(pipe_t *p);

/** Note that a part of the data path (a feed, the mux, the recorder, an RX poller)
    ends now: pipe_end_ns() is the latest of these. */
void pipe_mark_end(pipe_t *p);

/** Account for lcore @p lcore's roles as finished (its scheduler could not start). */
void pipe_fail_lcore(pipe_t *p, unsigned lcore);

/**
 * Cancel the context of every feed handler, supervisor, the mux, the writers and the
 * retransmission poller (the drain timed out): each returns at its next wait or
 * backlog check, dropping what it holds (counted). Before cancelling, records each
 * feed's discarded count (so the report tells restart discards from cancelled ones).
 * Idempotent; any thread.
 */
void pipe_cancel(pipe_t *p);

/**
 * What is queued now (relaxed reads from another lcore: approximate while it runs).
 * @p on_mux_lcore: the caller runs on the mux's lcore, so the local channels of the
 * feeds there can be read too.
 */
void pipe_depth(const pipe_t *p, bool on_mux_lcore, pipe_depth_t *d);

/**
 * On lcore @p lcore once its scheduler has no coroutine left (each channel is emptied
 * by its own consumer thread): take what is left in the input channels of the feeds
 * it handles (mbufs: freed, counted in pipe_feed_t.queued) and, on the mux's lcore,
 * in every feed's output (records: back to their pool, counted in out_queued). Zero
 * unless the run was cancelled or an lcore failed.
 */
void pipe_collect(pipe_t *p, unsigned lcore);

/** Free everything (after the lcores have returned). */
void pipe_free(pipe_t *p);

/**
 * Open the re-request port (rereq:), its request mbuf pool, the flow table of the
 * retransmissions and the feeds' RETX channels, and fill each re-requesting feed's
 * feed_conf_t.rereq. Before the feeds are created. Returns 0 or -1 (message on stderr).
 */
int retx_build(pipe_t *p);

/**
 * Spawn the retransmission poller if @p lcore is the re-requesting feeds' lcore.
 * Returns false (reported) if it could not start.
 */
bool retx_spawn(pipe_t *p, unsigned lcore);

/** Free what retx_build() made (after the feeds). */
void retx_free(pipe_t *p);

#endif /* MDMUX_APP_PIPELINE_H */
