/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file feed.h
 * mdmux feed handling: one arbiter coroutine per feed that sequences MoldUDP64 from
 * its A and B lines (and an optional retransmission input), lets the first arrival
 * win, drops duplicates, holds out-of-order packets in a bounded window, declares,
 * re-requests and fills gaps, tracks the session and the lines' health, decodes
 * ITCH 5.0 into md_rec_t records and publishes them, in order, to the mux.
 *
 * Layout: a pure sequencing core (lib/feed/feed_core.h, no DPDK, unit- and
 * property-tested without the EAL) and a thin DPDK adapter (feed.c): mbufs in,
 * records out, re-requests on a TX port.
 *
 * Ordering guarantee (what a consumer of one feed's records may rely on)
 * ----------------------------------------------------------------------
 *  - Every message the feed handler receives intact on any line is published
 *    exactly once (duplicates and late copies are dropped and counted), unless it
 *    falls in a range that was already given up (MD_EV_GAP_FINAL) or it was still
 *    held when the handler was cancelled or restarted.
 *  - Messages outside any MD_EV_GAP range are published in strictly increasing
 *    feed_seq order, with no holes except the gap ranges.
 *  - MD_EV_GAP {from, to} is published before any message with feed_seq > to.
 *  - A message inside a gap range ("recovered": from a retransmission, line RETX, or a
 *    late copy on A or B) is published after that MD_EV_GAP event, in arrival order,
 *    followed by MD_EV_GAP_FILLED for the sub-range it belonged to. Recovered
 *    messages may interleave with later in-order messages.
 *  - Every sequence number of a gap ends up in exactly one MD_EV_GAP_FILLED or one
 *    MD_EV_GAP_FINAL range (FINAL when retries are exhausted, at end of input, on a
 *    session change, or when the open-gap table overflows).
 *
 * Clocks: the gap wait, the final wait and line silence run on arrival time (the RX
 * stamps, held back while an input still holds a backlog; the wall clock when every
 * input is empty), so a handler that falls behind never turns a backlog into a gap;
 * re-request retries and the rate limit run on real time (docs/feed.md, "Clocks").
 *
 * Threading: feed_new()/feed_free() on the control path; feed_main() on its handler
 * lcore; feed_stats() from any thread (relaxed atomic loads of single-writer
 * counters, consistent per counter, not across counters).
 */
#ifndef MDMUX_FEED_H
#define MDMUX_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "pool.h"
#include "proto.h"

#ifdef __cplusplus
extern "C" {
#endif

struct rte_mempool;

/** Input lines of a feed: A, B and the retransmission input (= enum md_line). */
#define FEED_LINE_A    0
#define FEED_LINE_B    1
#define FEED_LINE_RETX 2
#define FEED_LINES     3
/** Most input channels per line (one per RX lcore). */
#define FEED_IN_MAX 16
/** Most packets held per line in the reorder window. */
#define FEED_WINDOW_MAX 1024
/** feed_conf_t.first_seq: synchronize on the first packet seen (joining mid-session). */
#define FEED_SYNC_FIRST UINT64_MAX
/** feed_rereq_conf_t.max_retries: send each request once, never resend. */
#define FEED_RETRIES_NONE UINT32_MAX
/** Open (not yet filled or given up) gap ranges tracked per feed. */
#define FEED_HOLES_MAX 64

/** Re-request settings; enabled = false: no re-requests (gaps wait, then are final). */
typedef struct feed_rereq_conf {
    bool enabled;
    uint16_t port_id;                  /**< DPDK TX port */
    uint16_t queue_id;                 /**< its TX queue (this handler lcore its only user) */
    struct rte_mempool *mbuf_pool;     /**< where request frames come from */
    uint8_t src_mac[6], dst_mac[6];    /**< Ethernet addresses of the request frames */
    uint32_t src_ip_be, dst_ip_be;     /**< IPv4, network order (dst: the server) */
    uint16_t src_port_be, dst_port_be; /**< UDP ports, network order */
    unsigned max_outstanding;          /**< requests in flight at once; default 8 */
    uint64_t retry_ns;                 /**< resend after this much real time; default 5 ms */
    unsigned max_retries;              /**< resends before MD_EV_GAP_FINAL; default 3 (0 = default:
                             pass FEED_RETRIES_NONE for none) */
    unsigned rate_per_s;               /**< requests per second, all gaps; default 1000 */
    unsigned max_msgs;                 /**< messages per request (<= 65535); default 1024 */
} feed_rereq_conf_t;

/* ------------------------------------------------------------------------------ */
/* Fault injection (tests; docs/feed.md, "Fault injection")                        */
/* ------------------------------------------------------------------------------ */

/** What an injected fault does (feed_fault_spec_t.kind). */
typedef enum feed_fault_kind {
    FEED_FAULT_NONE = 0,
    FEED_FAULT_PANIC, /**< co_panic() as a broken invariant would: the supervisor restarts it */
    FEED_FAULT_STALL, /**< park stall_ns without taking packets: the inputs fill up */
    FEED_FAULT_SLOW,  /**< busy slow_ns more per packet (yielding: the lcore's others run) */
    FEED_FAULT_KINDS
} feed_fault_kind_t;

/** The standard injector's settings (feed_fault_init). Zero fields take the defaults. */
typedef struct feed_fault_spec {
    feed_fault_kind_t kind;
    uint64_t after_packets; /**< fires from the packet after this many were taken (0: first) */
    unsigned count;         /**< panic, stall: times it fires (default 1); slow: every packet */
    uint64_t stall_ns;      /**< stall: how long (default 1 s) */
    uint64_t slow_ns;       /**< slow: extra busy time per packet (default 10 us) */
} feed_fault_spec_t;

/** feed_fault_hooks_t.packet results. */
enum { FEED_FAULT_PASS = 0, FEED_FAULT_DROP = 1 };

typedef struct feed_fault_hooks feed_fault_hooks_t;

/**
 * Fault hooks of one feed (feed_conf_t.faults; NULL, the default, costs one NULL test
 * per packet). The adapter consults them at exactly two places, marked "FAULT HOOK"
 * in feed.c. The caller owns the storage, which must outlive the feed; only the
 * feed's handler lcore touches it while feed_main() runs (fired: any thread, relaxed).
 */
struct feed_fault_hooks {
    /**
     * A packet was taken off input @p line (counted in line.packets), before it is
     * parsed. May co_panic() (the packet is then freed on restart, counted in
     * line.discarded), park on @p ctx, or spin. Returns FEED_FAULT_PASS, or
     * FEED_FAULT_DROP: the packet is freed unparsed (counted in line.discarded).
     * NULL: not called.
     */
    int (*packet)(feed_fault_hooks_t *h, uint8_t line, co_ctx_t *ctx);
    /**
     * A re-request for @p count messages from @p seq is about to be sent. Nonzero: it
     * is not (a TX failure: counted in req_failed and retried). NULL: not called.
     */
    int (*request)(feed_fault_hooks_t *h, uint64_t seq, uint16_t count);
    void *arg;              /**< free for the hooks' owner */
    const char *feed;       /**< name in the injector's panic message (feed_fault_init) */
    feed_fault_spec_t spec; /**< the standard injector's settings, defaults applied */
    uint64_t seen;          /**< packets the standard injector has seen */
    uint64_t fired;         /**< times a fault fired (relaxed atomic) */
};

/**
 * Make @p h the standard injector of @p spec for feed @p feed (a name, kept as a
 * pointer): packet hook only. From the packet after spec->after_packets were taken,
 * FEED_FAULT_PANIC panics on count packets (one each run: the supervisor restarts
 * the handler in between), FEED_FAULT_STALL parks stall_ns (cancellable) before each
 * of count packets, FEED_FAULT_SLOW spins slow_ns per packet, yielding to the lcore's
 * other coroutines while it spins. Control path. Returns 0, or EINVAL (bad kind).
 */
int feed_fault_init(feed_fault_hooks_t *h, const feed_fault_spec_t *spec, const char *feed);

/** "panic", "stall", "slow" ("none" for FEED_FAULT_NONE, NULL when out of range). */
const char *feed_fault_kind_name(feed_fault_kind_t k);

/** The kind named @p name ("panic", "stall", "slow"), or FEED_FAULT_NONE. */
feed_fault_kind_t feed_fault_kind_parse(const char *name);

/** How to build a feed. Zero numeric fields take the documented defaults. */
typedef struct feed_conf {
    uint16_t id;      /**< feed id (md_rec_t.feed) */
    const char *name; /**< copied (63 chars) */
    int numa_node;    /**< memory node of the handler's state; -1: any */
    pool_t *rec_pool; /**< md_rec_t records (elem_size >= sizeof(md_rec_t)) */
    /** Input SPSC channels (elements: struct rte_mbuf *), consumer = this handler. */
    chs_t *in[FEED_LINES][FEED_IN_MAX];
    unsigned n_in[FEED_LINES]; /**< channels per line (RETX may be 0) */
    ch_t *out_local;           /**< output when the mux runs on this lcore ... */
    chs_t *out_spsc;           /**< ... or on another one: exactly one is set */
    uint64_t gap_wait_ns;      /**< wait (RX time) for the other line before a gap; default 1 ms */
    unsigned window;           /**< packets held per line, 1..FEED_WINDOW_MAX; default 256 */
    uint64_t line_timeout_ns;  /**< line down after this silence (RX time); default 2 s */
    /** Without re-requests: how long a gap stays open for late copies; default gap_wait. */
    uint64_t final_wait_ns;
    /**
     * Sequence a session starts at: 0 takes MoldUDP64's 1, so everything before the
     * first arrival is a gap (right for replay and start-of-day joins);
     * FEED_SYNC_FIRST trusts the first packet seen (a live join mid-session, where
     * re-requesting the whole day would be wrong).
     */
    uint64_t first_seq;
    feed_rereq_conf_t rereq;    /**< optional re-requests */
    feed_fault_hooks_t *faults; /**< fault injection (tests), or NULL: none */
} feed_conf_t;

/** Line / feed health. */
enum feed_health { FEED_DOWN = 0, FEED_UP = 1 };

/** Counters of one input line. All uint64_t (feed_stats() copies them word by word). */
typedef struct feed_line_stats {
    uint64_t packets;    /**< packets taken off the line's channels */
    uint64_t bytes;      /**< their UDP payload bytes */
    uint64_t wins;       /**< data packets that delivered new in-order messages */
    uint64_t fills;      /**< data packets that only filled gaps (recovered) */
    uint64_t duplicates; /**< data packets with nothing new */
    uint64_t late;       /**< data packets only for ranges already given up (GAP_FINAL) */
    uint64_t heartbeats; /**< heartbeats and end-of-session packets */
    uint64_t stale;      /**< packets of the previous session, dropped */
    uint64_t discarded;  /**< held packets dropped by a restart or a cancellation */
    uint64_t malformed;  /**< rejected by mold_parse (sum of malformed_by) */
    uint64_t malformed_by[MOLD_ERR_COUNT]; /**< by mold_err_t */
    uint64_t state;                        /**< enum feed_health (A and B only) */
    /** of packets and duplicates: copies the RX lcore dropped (copies_on_rx), which
        the handler never read */
    uint64_t rx_copies;
} feed_line_stats_t;

/** Skew histogram: log-linear, FEED_HIST_SUB buckets per power of two. */
#define FEED_HIST_SUB     8
#define FEED_HIST_BUCKETS (FEED_HIST_SUB * 62)

/** A small single-writer histogram (lib/stats replaces it in issue 6). */
typedef struct feed_hist {
    uint64_t count, max, sum;
    uint64_t b[FEED_HIST_BUCKETS];
} feed_hist_t;

/** Counters of one feed. All uint64_t. */
typedef struct feed_stats {
    feed_line_stats_t line[FEED_LINES];
    uint64_t messages;                    /**< message records published (incl. recovered) */
    uint64_t events;                      /**< event records published */
    uint64_t gaps;                        /**< MD_EV_GAP events */
    uint64_t gap_msgs;                    /**< messages in them */
    uint64_t gaps_window;                 /**< ... declared because a window was full */
    uint64_t recovered;                   /**< messages delivered inside a gap range */
    uint64_t final_lost;                  /**< messages given up (MD_EV_GAP_FINAL) */
    uint64_t holes_evicted;               /**< gaps given up because the table was full */
    uint64_t itch_errors;                 /**< messages itch_decode() rejected */
    uint64_t itch_err_by[ITCH_ERR_COUNT]; /**< by itch_err_t */
    uint64_t session_changes;
    uint64_t end_of_session;
    uint64_t restarts;
    uint64_t requests;     /**< re-requests sent (including retries) */
    uint64_t req_retries;  /**< ... of which retries */
    uint64_t req_failed;   /**< TX failures (no mbuf, tx_burst refused) */
    uint64_t req_limited;  /**< times a due request waited for the rate limit */
    uint64_t pool_waits;   /**< times the record pool was empty (the handler waited) */
    uint64_t out_dropped;  /**< records not published: output closed or cancelled */
    uint64_t feed_state;   /**< enum feed_health */
    uint64_t skew_p50_ns;  /**< A-vs-B arrival skew of the same packet: median */
    uint64_t skew_p99_ns;  /**< ... 99th percentile */
    uint64_t skew_max_ns;  /**< ... maximum */
    uint64_t skew_samples; /**< ... samples */
} feed_stats_t;

typedef struct feed feed_t;

/**
 * Create a feed handler from @p c (copied). Allocates all its state (window, gap
 * table) on c->numa_node. Control path. Returns NULL with errno EINVAL (bad config:
 * no pool, not exactly one output, an output or input whose elements are not pointers,
 * too many inputs, window out of range, re-requests without a mempool)
 * or ENOMEM.
 */
feed_t *feed_new(const feed_conf_t *c);

/**
 * Free @p f (NULL is ignored). feed_main() must not be running. Any packet still held
 * (after a cancellation or a panic) is freed.
 */
void feed_free(feed_t *f);

/**
 * Coroutine entry (co_fn_t; @p feed is a feed_t). Selects over every input channel
 * with the gap timer as the deadline and its coroutine's context (co_context()) as
 * the cancellation. Returns when every input is closed and drained, or when every A
 * and B input is and no gap is open any more (the retransmission inputs need not be
 * closed: open gaps are still re-requested, retried and filled or given up first);
 * held packets are then released in order and open gaps become MD_EV_GAP_FINAL.
 * Returns at once when the context is done (held packets are dropped). In every case
 * it closes the output.
 * Restartable under co_supervise(): a second entry after an abnormal exit publishes
 * MD_EV_HANDLER_RESTART, drops what was held (and the packet it was parsing: all
 * counted in line.discarded), first handles the rest of the burst the previous run
 * had taken, and carries on with the sequence where it stood: what is missing then
 * becomes a gap only if no line brings it within the gap wait.
 */
void feed_main(void *feed);

/**
 * The handler gave up for good (its supervisor stopped restarting it): free what the
 * last run held in hand: the packet it was parsing (counted in line.discarded) and
 * the rest of its burst, which it never counted; those are added per line to
 * @p untaken (FEED_LINES entries) so that every packet taken off an input is counted
 * once. feed_main() must not be running. Returns how many packets were freed.
 */
unsigned feed_abandon(feed_t *f, uint64_t *untaken);

/** Snapshot @p f's counters into @p out, the copies its RX filters dropped included
    (feed_attach_rxf). Any thread. */
void feed_stats(const feed_t *f, feed_stats_t *out);

/* ------------------------------------------------------------------------------ */
/* The RX lcore's copy filter (rxf.c)                                             */
/* ------------------------------------------------------------------------------ */

/**
 * One RX lcore's filter of A/B copies, for feeds 0 .. @p n_feeds - 1 (their ids).
 * The RX lcore drops a MoldUDP64 data packet whose every sequence number it already
 * forwarded for that feed and session, so that the feed handler never reads it; the
 * copies are counted as their lines' packets, bytes and duplicates in feed_stats(),
 * and their A/B skew is sampled. Returns NULL (errno EINVAL or ENOMEM).
 */
typedef struct feed_rxf feed_rxf_t;
feed_rxf_t *feed_rxf_new(unsigned n_feeds);

/** Free @p x (NULL: nothing). Its RX lcore must have stopped, and its feeds too. */
void feed_rxf_free(feed_rxf_t *x);

/**
 * Forward at least one copy a line every @p ns (0: none) for @p feed, so that the
 * handler's line health still sees a line whose every packet is a copy. Before the
 * RX lcore starts; a quarter or less of the feed's line timeout.
 */
void feed_rxf_set_keepalive(feed_rxf_t *x, unsigned feed, uint64_t ns);

/**
 * RX lcore: the UDP payload @p payload (@p len bytes) arrived on @p line of @p feed at
 * @p rx_tsc. True to forward it; false when it is a copy (counted; the caller frees
 * it). Anything else than a well-formed data packet of the feed's session is
 * forwarded, and only those mark their range.
 */
bool feed_rxf_keep(feed_rxf_t *x, unsigned feed, unsigned line, const uint8_t *payload,
                   uint32_t len, uint64_t rx_tsc);

/** RX lcore: a packet feed_rxf_keep() forwarded found its channel full and was
    dropped: unmark its range, so that the other line's copy is forwarded. */
void feed_rxf_unsent(feed_rxf_t *x, unsigned feed, const uint8_t *payload, uint32_t len);

/** RX lcore: after feed_rxf_unsent() in the same burst, a packet feed_rxf_keep()
    dropped there: true (and no longer counted as a copy) when it must be forwarded
    after all, because what it copied was unsent. */
bool feed_rxf_again(feed_rxf_t *x, unsigned feed, unsigned line, const uint8_t *payload,
                    uint32_t len, uint64_t rx_tsc);

/** Any thread: make the filter forget @p feed's marks at its next packet (a handler
    that starts again may have lost what had been forwarded to it). */
void feed_rxf_reset(feed_rxf_t *x, unsigned feed);

/** Any thread: add @p feed's dropped copies to @p out's lines (packets, bytes,
    duplicates) and their skew samples to @p skew (NULL: not). */
void feed_rxf_add_stats(const feed_rxf_t *x, unsigned feed, feed_stats_t *out, feed_hist_t *skew);

/** Most RX filters one feed can have (one per RX lcore that polls its lines). */
#define FEED_RXF_MAX 8

/** Count @p x's copies of @p f in feed_stats() and reset them at each feed_main()
    start. Before the feed starts. Returns 0 or -ENOSPC. */
int feed_attach_rxf(feed_t *f, feed_rxf_t *x);

/** The feed's name. */
const char *feed_name(const feed_t *f);

/** Empty @p h. */
void feed_hist_init(feed_hist_t *h);

/** Record @p v into @p h. */
void feed_hist_record(feed_hist_t *h, uint64_t v);

/** Upper bound of the bucket holding quantile @p q (0..1; exact max at 1). */
uint64_t feed_hist_quantile(const feed_hist_t *h, double q);

/**
 * Build a re-request frame (Ethernet/IPv4/UDP + MoldUDP64 request for @p count
 * messages of @p session from @p seq) into @p buf of @p cap bytes from @p r's
 * addresses. Pure (no DPDK). Returns the frame length, or 0 if @p cap is too small.
 */
size_t feed_build_request(const feed_rereq_conf_t *r, const uint8_t *session, uint64_t seq,
                          uint16_t count, uint8_t *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* MDMUX_FEED_H */
