/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file feed_core.h
 * The pure sequencing / arbitration core of a feed handler (internal to lib/feed and
 * its tests). No DPDK, no allocation after feed_core_new(), no system calls, no
 * clock: time comes in as arguments (nanoseconds), packets as opaque handles.
 *
 * The core is a state machine over events:
 *   feed_core_packet()     a MoldUDP64 data packet (line, seq, count, rx_tsc)
 *   feed_core_heartbeat()  a heartbeat or end-of-session packet
 *   feed_core_malformed()  a packet mold_parse() rejected (counted)
 *   feed_core_tick()       time passed (gap timer, line timeouts, re-request retries)
 *   feed_core_flush()      input ended: release what is held, give up open gaps
 *   feed_core_restart()    the handler restarted: drop what is held, carry on
 * and it answers through callbacks (feed_core_ops_t): deliver messages [from, to) of a
 * packet, release a packet, publish an event, send a re-request.
 *
 * Sequencing: `next` is the first sequence not yet delivered or declared missing.
 * A packet at next is delivered at once; ahead of next it is held (a min-heap by
 * sequence, then arrival); behind next it is a duplicate unless it covers an open
 * gap ("hole"), whose messages it then delivers (recovered). A gap [next, s-1] is
 * declared when the line's window is full or gap_wait_ns passed since the hole
 * became visible; it becomes a hole that re-requests (or late copies) may fill.
 */
#ifndef MDMUX_FEED_CORE_H
#define MDMUX_FEED_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "feed.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A packet as the core sees it. */
typedef struct feed_pkt {
    void *handle;          /**< the adapter's packet (an mbuf); NULL for markers */
    const uint8_t *blocks; /**< the adapter's: first message block */
    uint64_t seq;          /**< sequence of the first message */
    uint64_t rx_tsc;       /**< RX time stamp (skew histogram: ticks) */
    uint64_t intended_tsc; /**< the adapter's */
    uint64_t dequeue_tsc;  /**< the adapter's */
    uint64_t held_ns;      /**< internal: when it entered the window */
    uint64_t order;        /**< internal: arrival number (first arrival wins ties) */
    uint16_t count;        /**< messages (0: a heartbeat marker) */
    uint8_t line;          /**< FEED_LINE_* */
    uint8_t pad[5];
} feed_pkt_t;

/** The core's callbacks. */
typedef struct feed_core_ops {
    /** Publish messages [from, to) of @p p, in order, as coming from @p p->line. */
    void (*deliver)(void *arg, const feed_pkt_t *p, uint64_t from, uint64_t to);
    /** The core is done with @p p (called once per packet, after any deliver). */
    void (*release)(void *arg, const feed_pkt_t *p);
    /** Publish event @p ev; @p session (10 bytes) for session events, else NULL. */
    void (*event)(void *arg, md_event_t ev, uint8_t line, uint64_t from, uint64_t to,
                  uint64_t value, const uint8_t *session);
    /** Send a re-request; 0 when sent, else a failure (counted; retried later). */
    int (*request)(void *arg, const uint8_t *session, uint64_t seq, uint16_t count);
} feed_core_ops_t;

/** Core settings (defaults already applied by the caller or by feed_core_new). */
typedef struct feed_core_conf {
    uint64_t gap_wait_ns;
    unsigned window;
    uint64_t line_timeout_ns;
    uint64_t final_wait_ns;
    bool rereq;
    unsigned max_outstanding;
    uint64_t retry_ns;
    unsigned max_retries;
    unsigned rate_per_s;
    unsigned max_msgs;
    unsigned monitored; /**< bitmask of lines whose health is tracked (0: A and B) */
    uint64_t first_seq; /**< where a session starts (0: 1); FEED_SYNC_FIRST: first packet */
} feed_core_conf_t;

typedef struct feed_core feed_core_t;

/**
 * Create a core; zero settings take feed.h's defaults. @p now_ns starts the line
 * timers (lines start up). @p stats receives the counters (owned by the caller; the
 * core is its only writer). Control path. NULL with errno EINVAL/ENOMEM.
 */
feed_core_t *feed_core_new(const feed_core_conf_t *c, const feed_core_ops_t *ops, void *arg,
                           feed_stats_t *stats, uint64_t now_ns, int numa_node);

/**
 * The handler starts (or restarts) at @p now_ns: line silence is measured from here,
 * not from feed_core_new() (the app may create feeds long before traffic starts).
 */
void feed_core_start(feed_core_t *c, uint64_t now_ns);

/** Free @p c (held packets are released without delivery first). */
void feed_core_free(feed_core_t *c);

/** A data packet (count >= 1) of session @p session (10 bytes) arrived. */
void feed_core_packet(feed_core_t *c, const feed_pkt_t *p, const uint8_t *session, uint64_t now_ns);

/**
 * A heartbeat (@p eos false: seq is the next sequence to be sent) or end of session
 * (@p eos true: seq is the next, never sent, sequence) arrived on @p line.
 */
void feed_core_heartbeat(feed_core_t *c, uint8_t line, const uint8_t *session, uint64_t seq,
                         bool eos, uint64_t now_ns);

/** Count a packet of @p bytes on @p line (every packet, before parsing). */
void feed_core_rx(feed_core_t *c, uint8_t line, uint64_t bytes);

/** Count a packet mold_parse() rejected with @p err on @p line. */
void feed_core_malformed(feed_core_t *c, uint8_t line, unsigned err);

/** Time passed: run the gap timer, line timeouts, re-request retries and limits. */
void feed_core_tick(feed_core_t *c, uint64_t now_ns);

/**
 * The next time feed_core_tick() has work (UINT64_MAX: none), the earliest over both
 * clocks (arrival and request time, see feed_core_set_wall): a wake-up time on the
 * wall clock, which neither clock ever passes.
 */
uint64_t feed_core_deadline(const feed_core_t *c);

/**
 * Would feed_core_tick(@p now_ns) do anything? @p now_ns is arrival time (gap wait,
 * final wait, line silence); the re-request timers compare against the request clock.
 */
bool feed_core_due(const feed_core_t *c, uint64_t now_ns);

/**
 * The request clock: real time for the re-request timers (send stamps, retry
 * deadlines, rate limit), which the server answers in. Monotone. Until it is first
 * set, those timers use the arrival time given to each call (one clock, as in the
 * unit tests).
 */
void feed_core_set_wall(feed_core_t *c, uint64_t wall_ns);

/** Input ended: release every held packet in order (gaps declared), finalize gaps. */
void feed_core_flush(feed_core_t *c, uint64_t now_ns);

/** Cancelled: release every held packet without delivery (counted as discarded). */
void feed_core_discard(feed_core_t *c);

/**
 * The handler restarted: publish MD_EV_HANDLER_RESTART and drop what is held
 * (counted as discarded). The sequence goes on from where it stood: what is missing
 * becomes a gap only when no line brings it within the gap wait or the window, as
 * any loss does (the other line usually still has the dropped packets queued).
 */
void feed_core_restart(feed_core_t *c, uint64_t now_ns);

/** The next sequence expected (first not delivered nor declared missing); 0 unsynced. */
uint64_t feed_core_next(const feed_core_t *c);

/** Packets held now (all lines). */
unsigned feed_core_held(const feed_core_t *c);

/** Open gap ranges now. */
unsigned feed_core_holes(const feed_core_t *c);

/** The A-versus-B skew histogram (ticks of rx_tsc). */
const feed_hist_t *feed_core_skew(const feed_core_t *c);

/*
 * The arrival clock (docs/feed.md, "Clocks")
 * ------------------------------------------
 * The core's time is not the handler's: it is how far the feed's inputs have been
 * read. For each input channel, known[] is a time before which every packet RX-stamped
 * on it has been taken: the stamp of the last packet taken (a channel is FIFO, and its
 * stamps are monotone), or the wall time it was last seen empty. The arrival clock is
 * the minimum of known[] over the open A and B inputs: a gap then waits gap_wait_ns of
 * arrival time on every line, however long the packets sat in the channels. When every
 * input is empty it is the wall clock (nothing queued could fill a gap: idle lines,
 * silence, the end of the stream). The request clock is the same over the RETX
 * inputs: real time, except that a retransmission which came in time but still waits
 * in its channel holds the retry timer back. Pure (no DPDK, no clock).
 */

/** Inputs a clock tracks: line * FEED_IN_MAX + channel index. */
#define FEED_CLOCK_IN (FEED_LINES * FEED_IN_MAX)

/** An arrival clock over a feed's input channels. */
typedef struct feed_clock {
    uint64_t known[FEED_CLOCK_IN]; /**< everything stamped before it was taken */
    bool live[FEED_CLOCK_IN];      /**< configured and not drained */
    uint8_t n_in[FEED_LINES];      /**< inputs configured per line: the slots to visit */
    uint64_t arrival;              /**< min known[] over live A/B inputs (monotone) */
    uint64_t request;              /**< min known[] over live RETX inputs (monotone) */
} feed_clock_t;

/** Time before which every packet of input (@p line, @p idx) has been taken. */
static inline uint64_t feed_clock_known(const feed_clock_t *k, uint8_t line, unsigned idx)
{
    return k->known[(unsigned)line * FEED_IN_MAX + idx];
}

/**
 * Start @p k with @p n_in[line] channels per line. Every clock starts at 0 (nothing
 * is known of what was queued before the handler started); the first look at an empty
 * input, or the first packet read from it, moves it on.
 */
void feed_clock_init(feed_clock_t *k, const unsigned n_in[FEED_LINES]);

/** Input (@p line, @p idx) was empty at @p wall_ns. */
void feed_clock_empty(feed_clock_t *k, uint8_t line, unsigned idx, uint64_t wall_ns);

/** Input (@p line, @p idx) is closed and drained: it constrains nothing any more. */
void feed_clock_closed(feed_clock_t *k, uint8_t line, unsigned idx, uint64_t wall_ns);

/**
 * A packet of input (@p line, @p idx) stamped @p rx_ns was taken at @p wall_ns: advance
 * the clocks, give the core the request clock, and run the core's timers that arrival
 * time has passed (so the result depends on the stamps, not on when the handler got
 * to the packet). Returns the packet's stamp for feed_core_packet()/heartbeat():
 * @p rx_ns clamped into [known, wall_ns] (a bogus or missing stamp cannot run a timer
 * early or hold it back forever).
 */
uint64_t feed_clock_packet(feed_clock_t *k, feed_core_t *c, uint8_t line, unsigned idx,
                           uint64_t rx_ns, uint64_t wall_ns);

/** Recompute the clocks at @p wall_ns, give the core the request clock, run due timers. */
void feed_clock_tick(feed_clock_t *k, feed_core_t *c, uint64_t wall_ns);

#ifdef __cplusplus
}
#endif
#endif /* MDMUX_FEED_CORE_H */
