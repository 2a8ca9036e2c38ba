/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The feed handler coroutine (feed.h): the DPDK adapter around the pure core.
 * mbufs in (io_mbuf_meta, payload), ITCH records out (md_rec_t from the pool),
 * re-requests out on a TX port. Everything here runs on the handler lcore.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "feed.h"
#include "feed_core.h"
#include "io.h"

#define ST_ADD(field, n) __atomic_store_n(&(field), (field) + (uint64_t)(n), __ATOMIC_RELAXED)

/* mbufs taken per wake-up: the select's one, then a burst of the same channel. */
#define FEED_BURST 32
/* Pause while the record pool is empty: the mux returns records meanwhile. */
#define POOL_WAIT_NS 2000
/* Records taken from the pool per call: get_rec() pops them one by one. */
#define FEED_REC_STASH 16

/* feed_stats() copies the counters word by word with relaxed loads. */
_Static_assert(sizeof(feed_stats_t) % sizeof(uint64_t) == 0, "feed_stats_t is all uint64_t");

struct feed {
    feed_conf_t conf;
    char name[64];
    feed_core_t *core;
    feed_clock_t clk; /* arrival and request time: how far the inputs have been read */
    feed_stats_t st;
    co_ctx_t *ctx;        /* the running coroutine's context */
    struct rte_mbuf *cur; /* the mbuf being parsed (owned until the core takes it) */
    uint8_t cur_line;     /* ... its line */
    uint8_t burst_line;   /* the burst being handled: its input ... */
    unsigned burst_idx;
    unsigned burst_n, burst_next; /* ... its size and the next one to handle */
    /* in the feed, not on the stack: what a panicking run had taken survives it */
    struct rte_mbuf *burst[FEED_BURST];
    /* Where the last packet's payload was, from its mbuf: the next one's is almost
       always at the same offset (one pool, one headroom, one header stack), so
       take_burst() can ask for it with the headers instead of after them. */
    uintptr_t payload_delta;
    bool running; /* feed_main entered and not returned: a restart if set */
    bool stop;    /* cancelled, or the output is gone */
    bool out_closed;
    bool handed; /* records went to a local mux in this burst: yield to it (take_burst) */
    bool drained[FEED_LINES][FEED_IN_MAX]; /* inputs closed and emptied */
    unsigned nstash;                       /* records taken from the pool, not yet used */
    md_rec_t *stash[FEED_REC_STASH];
    feed_rxf_t *rxf[FEED_RXF_MAX]; /* the RX lcores' copy filters of this feed */
    unsigned n_rxf;
};

const char *feed_name(const feed_t *f)
{
    return f->name;
}

/* ------------------------------------------------------------------------------ */
/* Publishing                                                                     */
/* ------------------------------------------------------------------------------ */

/*
 * A record from the pool, waiting (parked, counted) while it is empty. Records come
 * FEED_REC_STASH at a time: one pool call (thread-cache lookup, counters) per 16
 * records instead of one per record, ~60 instructions a record fewer. The stash goes
 * back to the pool when the handler ends (stash_return).
 */
static md_rec_t *get_rec(feed_t *f)
{
    if (f->nstash > 0)
        return f->stash[--f->nstash];
    for (;;) {
        unsigned n = pool_get_burst(f->conf.rec_pool, (void **)f->stash, FEED_REC_STASH);
        if (n > 0) {
            f->nstash = n - 1;
            return f->stash[n - 1];
        }
        ST_ADD(f->st.pool_waits, 1);
        if (co_sleep(POOL_WAIT_NS, f->ctx) != 0) {
            f->stop = true;
            return NULL;
        }
    }
}

static void stash_return(feed_t *f)
{
    if (f->nstash > 0)
        pool_put_burst(f->conf.rec_pool, (void *const *)f->stash, f->nstash);
    f->nstash = 0;
}

/* Send @p r to the mux (parks while the output is full: backpressure). */
static bool publish(feed_t *f, md_rec_t *r)
{
    int rc = f->conf.out_local != NULL ? ch_send_ptr(f->conf.out_local, r, f->ctx)
                                       : chs_send(f->conf.out_spsc, &r, f->ctx);
    if (rc == 0) {
        f->handed = f->conf.out_local != NULL; /* a mux on this lcore: yield to it */
        return true;
    }
    pool_put(f->conf.rec_pool, r);
    ST_ADD(f->st.out_dropped, 1);
    f->stop = true; /* closed or cancelled: nothing more can go out */
    return false;
}

/*
 * A packet's messages are decoded a group at a time, then stamped with one clock read
 * and published: tsc_decode is "the group is decoded", one rdtsc (~10 ns here) per
 * group instead of one per message. The group is the packet's messages in the range
 * delivered, at most FEED_DECODE_GROUP of them (docs/latency.md, "Stages").
 */
#define FEED_DECODE_GROUP 16

typedef struct decode_group {
    unsigned n;
    md_rec_t *rec[FEED_DECODE_GROUP];
    int rc[FEED_DECODE_GROUP]; /* itch_decode's result for rec[i] */
} decode_group_t;

/*
 * Stamp and publish the group, in order. Each message ends as it would have one at a
 * time: once the output fails (stop), the rest are dropped, decoded or not; before,
 * a decode error is counted and its record goes back.
 */
static void group_flush(feed_t *f, decode_group_t *g)
{
    if (g->n == 0)
        return;
    uint64_t now = co_tsc();
    for (unsigned i = 0; i < g->n; i++) {
        md_rec_t *r = g->rec[i];
        int rc = g->rc[i];
        if (f->stop) {
            ST_ADD(f->st.out_dropped, 1);
            pool_put(f->conf.rec_pool, r);
        } else if (rc != ITCH_OK) {
            ST_ADD(f->st.itch_errors, 1);
            ST_ADD(f->st.itch_err_by[rc < ITCH_ERR_COUNT ? rc : 0], 1);
            pool_put(f->conf.rec_pool, r);
        } else {
            r->tsc_decode = now;
            if (publish(f, r))
                ST_ADD(f->st.messages, 1);
        }
    }
    g->n = 0;
}

/*
 * A record for the next message of the group, without waiting: a group never holds
 * records while the handler parks for the pool (the mux may need them back first).
 * NULL when the pool is empty.
 */
static md_rec_t *get_rec_nowait(feed_t *f)
{
    if (f->nstash > 0)
        return f->stash[--f->nstash];
    unsigned n = pool_get_burst(f->conf.rec_pool, (void **)f->stash, FEED_REC_STASH);
    if (n == 0)
        return NULL;
    f->nstash = n - 1;
    return f->stash[n - 1];
}

/* Decode one message block into the group's next record. */
static void group_add(feed_t *f, decode_group_t *g, const feed_pkt_t *p, const mold_msg_t *m)
{
    if (f->stop) {
        ST_ADD(f->st.out_dropped, 1);
        return;
    }
    if (g->n == FEED_DECODE_GROUP)
        group_flush(f, g);
    md_rec_t *r = g->n > 0 ? get_rec_nowait(f) : NULL;
    if (r == NULL) {
        group_flush(f, g); /* the pool is empty: publish the group first, then wait */
        if (f->stop || (r = get_rec(f)) == NULL) {
            ST_ADD(f->st.out_dropped, 1);
            return;
        }
    }
    g->rc[g->n] = itch_decode(m->data, m->len, r);
    g->rec[g->n++] = r;
    r->seq = 0;
    r->feed_seq = m->seq;
    r->feed = f->conf.id;
    r->line = p->line;
    r->tsc_rx = p->rx_tsc;
    r->tsc_intended = p->intended_tsc;
    r->tsc_dequeue = p->dequeue_tsc;
    r->tsc_publish = 0;
}

/* Core callback: publish messages [from, to) of packet @p p. */
static void on_deliver(void *arg, const feed_pkt_t *p, uint64_t from, uint64_t to)
{
    feed_t *f = arg;
    mold_iter_t it = {.p = p->blocks, .seq = p->seq, .left = p->count};
    mold_msg_t m;
    decode_group_t g;
    g.n = 0;
    while (mold_iter_next(&it, &m) && m.seq < to) {
        if (m.seq >= from)
            group_add(f, &g, p, &m);
    }
    group_flush(f, &g);
}

/* Core callback: the packet is done with. */
static void on_release(void *arg, const feed_pkt_t *p)
{
    (void)arg;
    if (p->handle != NULL)
        rte_pktmbuf_free(p->handle);
}

/* Core callback: an event record. */
static void on_event(void *arg, md_event_t ev, uint8_t line, uint64_t from, uint64_t to,
                     uint64_t value, const uint8_t *session)
{
    feed_t *f = arg;
    if (f->stop) {
        ST_ADD(f->st.out_dropped, 1);
        return;
    }
    md_rec_t *r = get_rec(f);
    if (r == NULL) {
        ST_ADD(f->st.out_dropped, 1);
        return;
    }
    md_rec_event(r, ev, f->conf.id, line, from, to, value);
    if (session != NULL)
        memcpy(r->ev.session, session, MOLD_SESSION_LEN);
    r->seq = 0;
    r->feed_seq = from;
    uint64_t now = co_tsc();
    r->tsc_rx = r->tsc_dequeue = r->tsc_decode = now;
    r->tsc_publish = r->tsc_intended = 0;
    if (publish(f, r))
        ST_ADD(f->st.events, 1);
}

/* Core callback: send a re-request frame on the TX port. 0 when the NIC took it. */
static int on_request(void *arg, const uint8_t *session, uint64_t seq, uint16_t count)
{
    feed_t *f = arg;
    const feed_rereq_conf_t *rr = &f->conf.rereq;
    /* FAULT HOOK: the request hook may refuse the request (a TX failure) */
    if (unlikely(f->conf.faults != NULL) && f->conf.faults->request != NULL &&
        f->conf.faults->request(f->conf.faults, seq, count) != 0)
        return -EIO;
    struct rte_mbuf *m = rte_pktmbuf_alloc(rr->mbuf_pool);
    if (m == NULL)
        return -ENOBUFS;
    uint8_t *buf = rte_pktmbuf_mtod(m, uint8_t *);
    size_t len = feed_build_request(rr, session, seq, count, buf, rte_pktmbuf_tailroom(m));
    if (len == 0 || rte_pktmbuf_append(m, (uint16_t)len) == NULL) {
        rte_pktmbuf_free(m);
        return -EMSGSIZE;
    }
    if (rte_eth_tx_burst(rr->port_id, rr->queue_id, &m, 1) != 1) {
        rte_pktmbuf_free(m);
        return -EAGAIN;
    }
    return 0;
}

/* ------------------------------------------------------------------------------ */
/* Input                                                                          */
/* ------------------------------------------------------------------------------ */

/*
 * Parse one mbuf of input (@p line, @p idx), taken at @p wall (ns), and hand it to the
 * core (which then owns it). The core's time is the packet's RX stamp, not @p wall:
 * a packet that waited in the channel behind a backlog still arrived when it arrived.
 */
static void handle_mbuf(feed_t *f, uint8_t line, unsigned idx, struct rte_mbuf *m, uint64_t wall,
                        uint64_t deq)
{
    const io_mbuf_meta_t *meta = io_mbuf_meta(m);
    const uint8_t *pl = io_mbuf_payload(m);
    uint32_t len = meta->payload_len;
    mold_pkt_t pkt;
    f->payload_delta = (uintptr_t)pl - (uintptr_t)m;

    f->cur = m;
    f->cur_line = line;
    uint64_t now = feed_clock_packet(&f->clk, f->core, line, idx, co_tsc_to_ns(meta->rx_tsc), wall);
    feed_core_rx(f->core, line, len);
    /* FAULT HOOK: the packet hook may panic, park, spin or drop the packet */
    if (unlikely(f->conf.faults != NULL) && f->conf.faults->packet != NULL &&
        f->conf.faults->packet(f->conf.faults, line, f->ctx) != FEED_FAULT_PASS) {
        ST_ADD(f->st.line[line].discarded, 1);
        f->cur = NULL;
        rte_pktmbuf_free(m);
        return;
    }
    /* a payload is parsed in the first segment only: market data fits one */
    if ((uint32_t)meta->payload_off + len > rte_pktmbuf_data_len(m))
        len = rte_pktmbuf_data_len(m) > meta->payload_off
                  ? rte_pktmbuf_data_len(m) - meta->payload_off
                  : 0;
    mold_err_t err = mold_parse(pl, len, &pkt);
    if (err != MOLD_OK) {
        feed_core_malformed(f->core, line, err);
    } else if (pkt.kind != MOLD_DATA) {
        feed_core_heartbeat(f->core, line, pkt.session, pkt.seq, pkt.kind == MOLD_END_OF_SESSION,
                            now);
    } else {
        feed_pkt_t p = {.handle = m,
                        .blocks = pkt.blocks,
                        .seq = pkt.seq,
                        .count = pkt.count,
                        .line = line,
                        .rx_tsc = meta->rx_tsc,
                        .intended_tsc = meta->intended_tsc,
                        .dequeue_tsc = deq};
        f->cur = NULL; /* the core owns it now (a leak beats a double free on a panic) */
        feed_core_packet(f->core, &p, pkt.session, now);
        return;
    }
    f->cur = NULL;
    rte_pktmbuf_free(m);
}

/* The select cases of every input not yet drained; returns how many. */
static int build_cases(feed_t *f, ch_case_t *cases, uint8_t *line_of, uint8_t *idx_of,
                       struct rte_mbuf **slot)
{
    int n = 0;
    for (uint8_t l = 0; l < FEED_LINES; l++) {
        for (uint8_t i = 0; i < f->conf.n_in[l]; i++) {
            if (f->drained[l][i])
                continue;
            cases[n] = (ch_case_t){.op = CH_RECV, .spsc = f->conf.in[l][i], .elem = slot};
            line_of[n] = l;
            idx_of[n] = i;
            n++;
        }
    }
    return n;
}

/* How many packets ahead take_burst() prefetches a payload. */
#define FEED_PAYLOAD_AHEAD 4

/*
 * A payload's first line, and the one holding MoldUDP64's message count and first
 * block. Behind Ethernet, a VLAN tag, IPv4 and UDP (46 bytes) the payload starts late
 * in its line and those are in the next one: mold_parse() waited for that second
 * miss only after the first had ended. Where both are in one line, the second
 * prefetch is of the same line and costs an instruction.
 */
static inline void prefetch_payload(const void *pl)
{
    rte_prefetch0(pl);
    rte_prefetch0(RTE_PTR_ADD(pl, MOLD_HDR_LEN + 2));
}

/* Take the mbuf the select received plus a burst of the same channel, @p max in all
   (FEED_BURST, or fewer to stop before another input's older packets). */
static void take_burst(feed_t *f, chs_t *ch, uint8_t line, unsigned idx, struct rte_mbuf *first,
                       unsigned max)
{
    struct rte_mbuf **burst = f->burst;
    unsigned have = first != NULL;
    burst[0] = first;
    /* read the clock first: "empty at wall" must not cover a packet queued after it */
    uint64_t deq = co_tsc(), wall = co_tsc_to_ns(deq);
    unsigned got = have + chs_recv_burst(ch, &burst[have], max - have);
    /* ... but the dequeue stamp is taken once they are taken: a packet queued between
       the two reads would otherwise be dequeued "before" RX stamped it (rx_to_dequeue
       0). The select's own packet was taken before deq: one read is enough for it. */
    if (got > have)
        deq = co_tsc();
    f->burst_line = line;
    f->burst_idx = idx;
    f->burst_n = got;
    /*
     * The RX lcore wrote these mbufs, so every first touch is a miss on another core's
     * cache. Ask for all of their headers (both lines: the dynfield meta is in the
     * second) at once, and for each payload a few packets ahead, so the misses overlap
     * instead of queueing one behind the other. The first payloads are asked for with
     * the headers, where the last packet's was (payload_delta): its address is in the
     * header, so otherwise its miss would start only once the header's had ended. A
     * wrong guess is one prefetch of a line nobody reads.
     */
    for (unsigned i = 0; i < got; i++) {
        rte_prefetch0(burst[i]);
        rte_prefetch0(RTE_PTR_ADD(burst[i], RTE_CACHE_LINE_SIZE));
        if (i < FEED_PAYLOAD_AHEAD && f->payload_delta != 0)
            prefetch_payload(RTE_PTR_ADD(burst[i], f->payload_delta));
    }
    for (unsigned i = 0; i < got; i++) {
        if (i + FEED_PAYLOAD_AHEAD < got)
            prefetch_payload(io_mbuf_payload(burst[i + FEED_PAYLOAD_AHEAD]));
        f->burst_next = i + 1;
        handle_mbuf(f, line, idx, burst[i], wall, deq);
    }
    f->burst_n = f->burst_next = 0;
    if (got < max && max == FEED_BURST) /* short: it emptied the channel (free readiness) */
        feed_clock_empty(&f->clk, line, idx, wall);
    /*
     * The first record sent readied the mux at the head of the run queue (a hand-off:
     * lib/chan's channel set). Yield to it now rather than after this handler's select
     * and park: what is left of the turn can wait, the records need not. One switch
     * pair a burst.
     */
    if (f->handed) {
        f->handed = false;
        co_yield();
    }
}

/*
 * When the next packet of a non-empty input arrived: for lines A and B the RX stamp
 * of the packet at its head (a peek, which also brings its mbuf in for the read that
 * follows), for the retransmission input how far it has been read.
 *
 * The head's own stamp, not what was read of the input: an input seen empty has been
 * "read" up to the wall clock, and a packet RX stamped just before that but enqueued
 * just after would then sort behind the other line's whole backlog. With the RX
 * lcore dropping A/B copies (feed_rxf_t) one line is mostly empty, and its packets
 * that fill the other's losses came behind a window's worth of it, which declared
 * gaps they then filled late.
 */
static uint64_t next_arrival(feed_t *f, chs_t *in, uint8_t line, unsigned idx)
{
    struct rte_mbuf *m;
    if (line != FEED_LINE_RETX && chs_peek(in, 0, &m))
        return co_tsc_to_ns(io_mbuf_meta(m)->rx_tsc);
    return feed_clock_known(&f->clk, line, idx);
}

/*
 * How many packets to take from line input @p in, whose head arrived first, so that
 * none arrived after @p next, the head of the input that arrived next (UINT64_MAX:
 * none waits): a burst of one line must not run ahead of the other line's older
 * packets (a sparse line's next packet may be far later than its head). A channel is
 * in RX order, so a binary search over the first FEED_BURST, each probe a peek (the
 * mbufs are read right after anyway). At least 1.
 */
static unsigned burst_before(chs_t *in, uint8_t line, uint64_t next)
{
    if (next == UINT64_MAX || line == FEED_LINE_RETX)
        return FEED_BURST;
    unsigned lo = 1, hi = FEED_BURST; /* the first lo are before next; hi: upper bound */
    struct rte_mbuf *m;
    if (chs_peek(in, FEED_BURST - 1, &m) && co_tsc_to_ns(io_mbuf_meta(m)->rx_tsc) <= next)
        return FEED_BURST;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2; /* is packet mid (0-based) before next? */
        if (chs_peek(in, mid, &m) && co_tsc_to_ns(io_mbuf_meta(m)->rx_tsc) <= next)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * Advance the clocks to @p wall for every input that is empty now (nothing queued on
 * it can fill a gap, so real time is right for it), then run the timers that are due.
 * A non-empty input holds arrival time back to what has been read of it: its packets
 * are processed before any deadline judges them missing. Returns the non-empty input
 * whose next packet arrived first (next_arrival), or -1 when all are empty.
 */
static int clock_poll(feed_t *f, const ch_case_t *cases, const uint8_t *line_of,
                      const uint8_t *idx_of, int n, uint64_t wall, uint64_t *second)
{
    int oldest = -1;
    uint64_t t = UINT64_MAX, t2 = UINT64_MAX;
    for (int k = 0; k < n; k++) {
        if (chs_len(cases[k].spsc) == 0) {
            feed_clock_empty(&f->clk, line_of[k], idx_of[k], wall);
        } else {
            /* with copies dropped on RX one line is sparse: its head's own stamp (the
               peek costs ~30 % at top speed where both lines are dense: read-so-far) */
            uint64_t kn = f->n_rxf ? next_arrival(f, cases[k].spsc, line_of[k], idx_of[k])
                                   : feed_clock_known(&f->clk, line_of[k], idx_of[k]);
            if (kn < t) {
                t2 = t;
                t = kn;
                oldest = k;
            } else if (kn < t2) {
                t2 = kn;
            }
        }
    }
    *second = t2;
    feed_clock_tick(&f->clk, f->core, wall);
    return oldest;
}

/* Select over the inputs until all are drained or the handler must stop. */
static void run(feed_t *f)
{
    ch_case_t cases[FEED_LINES * FEED_IN_MAX];
    uint8_t line_of[FEED_LINES * FEED_IN_MAX], idx_of[FEED_LINES * FEED_IN_MAX];
    struct rte_mbuf *first = NULL;
    int n = build_cases(f, cases, line_of, idx_of, &first), lines_open = 0;
    for (int i = 0; i < n; i++)
        lines_open += line_of[i] != FEED_LINE_RETX;

    while (n > 0 && !f->stop) {
        /* A and B are over and nothing is missing: retransmissions are not needed */
        if (lines_open == 0 && feed_core_holes(f->core) == 0 && feed_core_held(f->core) == 0)
            break;
        uint64_t now = co_now_ns(), next;
        int oldest = clock_poll(f, cases, line_of, idx_of, n, now, &next);
        if (oldest >= 0) {
            /*
             * A backlog: read the input that is furthest behind in arrival time, so
             * the lines are merged in RX order (a random pick would let one line run
             * a window's worth ahead of the other and declare gaps it then fills).
             */
            if (co_ctx_err(f->ctx) != 0) {
                f->stop = true; /* cancelled: a backlog must not delay that */
                break;
            }
            take_burst(f, cases[oldest].spsc, line_of[oldest], idx_of[oldest], NULL,
                       f->n_rxf ? burst_before(cases[oldest].spsc, line_of[oldest], next)
                                : FEED_BURST);
            continue;
        }
        /*
         * The earliest deadline of either clock is the select's: both clocks are at
         * most the wall clock and equal to it when every input is empty. A deadline
         * already past but not due means an input is not empty: the select returns
         * it at once, and its packets are read before the timer is judged again.
         */
        uint64_t dl = feed_core_deadline(f->core);
        uint64_t dl_tsc = dl == UINT64_MAX ? UINT64_MAX
                          : dl <= now      ? 0
                                           : co_tsc() + co_ns_to_tsc(dl - now);
        int k = ch_select(cases, n, 0, dl_tsc, f->ctx);
        if (k == -ETIMEDOUT && co_ctx_err(f->ctx) == 0)
            continue;
        if (k < 0) {
            f->stop = true; /* cancelled (or the context's own deadline) */
            break;
        }
        if (cases[k].result == EPIPE) {
            f->drained[line_of[k]][idx_of[k]] = true;
            feed_clock_closed(&f->clk, line_of[k], idx_of[k], co_now_ns());
            lines_open -= line_of[k] != FEED_LINE_RETX;
            n--;
            cases[k] = cases[n];
            line_of[k] = line_of[n];
            idx_of[k] = idx_of[n];
            continue;
        }
        take_burst(f, cases[k].spsc, line_of[k], idx_of[k], first, FEED_BURST);
    }
}

/* A restart: handle the rest of the burst the previous run had taken (intact packets). */
static void take_rest(feed_t *f)
{
    uint64_t deq = co_tsc(), wall = co_tsc_to_ns(deq);
    while (f->burst_next < f->burst_n && !f->stop) {
        unsigned i = f->burst_next++;
        handle_mbuf(f, f->burst_line, f->burst_idx, f->burst[i], wall, deq);
    }
    if (f->burst_next < f->burst_n) {
        /* stopped meanwhile (cancelled, output gone): freed, counted as taken */
        for (unsigned i = f->burst_next; i < f->burst_n; i++) {
            feed_core_rx(f->core, f->burst_line, io_mbuf_meta(f->burst[i])->payload_len);
            ST_ADD(f->st.line[f->burst_line].discarded, 1);
            rte_pktmbuf_free(f->burst[i]);
        }
    }
    f->burst_n = f->burst_next = 0;
}

/* Free the packet a panicking run was parsing (counted as taken: discarded). */
static void drop_cur(feed_t *f)
{
    if (f->cur == NULL)
        return;
    ST_ADD(f->st.line[f->cur_line].discarded, 1);
    rte_pktmbuf_free(f->cur);
    f->cur = NULL;
}

static void close_output(feed_t *f)
{
    if (f->out_closed)
        return;
    f->out_closed = true;
    if (f->conf.out_local != NULL)
        ch_close(f->conf.out_local);
    else
        chs_close(f->conf.out_spsc);
}

/* What RX forwarded to a run that ends (a panic) may be gone with it: let the RX
   filters forward copies again. */
static void reset_copies(void *arg)
{
    feed_t *f = arg;
    for (unsigned i = 0; i < f->n_rxf; i++)
        feed_rxf_reset(f->rxf[i], f->conf.id);
}

void feed_main(void *arg)
{
    feed_t *f = arg;
    f->ctx = co_context(NULL);
    f->stop = false;
    drop_cur(f); /* the previous run panicked while parsing this one */
    if (f->running) {
        feed_core_restart(f->core, co_now_ns());
        reset_copies(f); /* again: copies dropped while the handler was down */
    }
    /* On a panic, the reset runs as the stack unwinds, not after the supervisor's
       backoff: the other line's copies of what the run held (the packet it was
       parsing, above all) usually arrive within the A/B skew, and must get through. */
    if (f->n_rxf > 0 && co_defer(reset_copies, f) != 0)
        fprintf(stderr,
                "mdmux: feed %s: no memory to reset the RX copy filters on a panic; "
                "they reset at its restart\n",
                f->name);
    uint64_t t0 = co_now_ns();
    feed_core_start(f->core, t0);
    feed_clock_init(&f->clk, f->conf.n_in);
    for (uint8_t l = 0; l < FEED_LINES; l++) {
        for (unsigned i = 0; i < f->conf.n_in[l]; i++) {
            if (f->drained[l][i]) /* a restart: closed inputs stay closed */
                feed_clock_closed(&f->clk, l, i, t0);
        }
    }
    f->running = true;
    if (f->burst_next < f->burst_n)
        take_rest(f);
    run(f);
    if (f->stop)
        feed_core_discard(f->core);
    else
        feed_core_flush(f->core, co_now_ns());
    close_output(f);
    stash_return(f);
    f->running = false;
}

/* ------------------------------------------------------------------------------ */
/* Control path                                                                   */
/* ------------------------------------------------------------------------------ */

/* EINVAL checks of feed_new(). */
static bool conf_ok(const feed_conf_t *c)
{
    if (c->rec_pool == NULL || pool_elem_size(c->rec_pool) < sizeof(md_rec_t))
        return false;
    if ((c->out_local == NULL) == (c->out_spsc == NULL))
        return false;
    size_t out_elem =
        c->out_local != NULL ? ch_elem_size(c->out_local) : chs_elem_size(c->out_spsc);
    if (out_elem != sizeof(md_rec_t *))
        return false;
    if (c->window > FEED_WINDOW_MAX || (c->rereq.enabled && c->rereq.mbuf_pool == NULL))
        return false;
    unsigned total = 0;
    for (unsigned l = 0; l < FEED_LINES; l++) {
        if (c->n_in[l] > FEED_IN_MAX)
            return false;
        for (unsigned i = 0; i < c->n_in[l]; i++) {
            if (c->in[l][i] == NULL || chs_elem_size(c->in[l][i]) != sizeof(void *))
                return false;
        }
        total += c->n_in[l];
    }
    return total > 0 && total <= CH_SELECT_MAX;
}

/* The core's settings from the feed's. */
static feed_core_conf_t core_conf(const feed_conf_t *c)
{
    return (feed_core_conf_t){
        .gap_wait_ns = c->gap_wait_ns,
        .window = c->window,
        .line_timeout_ns = c->line_timeout_ns,
        .final_wait_ns = c->final_wait_ns,
        .rereq = c->rereq.enabled,
        .max_outstanding = c->rereq.max_outstanding,
        .retry_ns = c->rereq.retry_ns,
        .max_retries = c->rereq.max_retries,
        .rate_per_s = c->rereq.rate_per_s,
        .max_msgs = c->rereq.max_msgs,
        .first_seq = c->first_seq,
        /* a line with no input is not watched (single-line feeds) */
        .monitored = (c->n_in[FEED_LINE_A] > 0 ? 1u : 0u) | (c->n_in[FEED_LINE_B] > 0 ? 2u : 0u),
    };
}

feed_t *feed_new(const feed_conf_t *c)
{
    if (c == NULL || !conf_ok(c)) {
        errno = EINVAL;
        return NULL;
    }
    feed_t *f = co_mem_alloc(sizeof(*f), 64);
    if (f == NULL)
        return NULL;
    f->conf = *c;
    snprintf(f->name, sizeof(f->name), "%s", c->name != NULL ? c->name : "feed");
    f->conf.name = f->name;
    static const feed_core_ops_t ops = {
        .deliver = on_deliver, .release = on_release, .event = on_event, .request = on_request};
    feed_core_conf_t k = core_conf(c);
    if (k.monitored == 0)
        k.monitored = 4; /* retransmissions only: watch nothing (bit 2 is never checked) */
    f->core = feed_core_new(&k, &ops, f, &f->st, co_now_ns(), c->numa_node);
    if (f->core == NULL) {
        int e = errno;
        co_mem_free(f);
        errno = e;
        return NULL;
    }
    return f;
}

unsigned feed_abandon(feed_t *f, uint64_t *untaken)
{
    unsigned n = f->cur != NULL;
    drop_cur(f);
    for (unsigned i = f->burst_next; i < f->burst_n; i++) {
        untaken[f->burst_line]++;
        rte_pktmbuf_free(f->burst[i]);
        n++;
    }
    f->burst_n = f->burst_next = 0;
    return n;
}

void feed_free(feed_t *f)
{
    if (f == NULL)
        return;
    if (f->cur != NULL)
        rte_pktmbuf_free(f->cur);
    for (unsigned i = f->burst_next; i < f->burst_n; i++)
        rte_pktmbuf_free(f->burst[i]);
    f->stop = true; /* nothing is published from here on */
    feed_core_free(f->core);
    stash_return(f);
    co_mem_free(f);
}

int feed_attach_rxf(feed_t *f, feed_rxf_t *x)
{
    if (f->n_rxf == FEED_RXF_MAX)
        return -ENOSPC;
    f->rxf[f->n_rxf++] = x;
    return 0;
}

/* Copy @p size bytes of single-writer uint64_t counters, each with a relaxed load. */
static void copy_counters(void *dst, const void *src, size_t size)
{
    const uint64_t *s = src;
    uint64_t *d = dst;
    for (size_t i = 0; i < size / sizeof(uint64_t); i++)
        d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

void feed_stats(const feed_t *f, feed_stats_t *out)
{
    copy_counters(out, &f->st, sizeof(*out));
    const feed_hist_t *h = feed_core_skew(f->core);
    feed_hist_t merged; /* the handler's skew samples and its RX filters' */
    if (f->n_rxf > 0) {
        copy_counters(&merged, h, sizeof(merged));
        for (unsigned i = 0; i < f->n_rxf; i++)
            feed_rxf_add_stats(f->rxf[i], f->conf.id, out, &merged);
        h = &merged;
    }
    out->skew_samples = __atomic_load_n(&h->count, __ATOMIC_RELAXED);
    out->skew_p50_ns = co_tsc_to_ns(feed_hist_quantile(h, 0.5));
    out->skew_p99_ns = co_tsc_to_ns(feed_hist_quantile(h, 0.99));
    out->skew_max_ns = co_tsc_to_ns(feed_hist_quantile(h, 1.0));
}

/* ------------------------------------------------------------------------------ */
/* The standard fault injector                                                    */
/* ------------------------------------------------------------------------------ */

static const char *const fault_names[FEED_FAULT_KINDS] = {
    [FEED_FAULT_NONE] = "none",
    [FEED_FAULT_PANIC] = "panic",
    [FEED_FAULT_STALL] = "stall",
    [FEED_FAULT_SLOW] = "slow",
};

const char *feed_fault_kind_name(feed_fault_kind_t k)
{
    return (unsigned)k < FEED_FAULT_KINDS ? fault_names[k] : NULL;
}

feed_fault_kind_t feed_fault_kind_parse(const char *name)
{
    for (unsigned k = FEED_FAULT_NONE + 1; name != NULL && k < FEED_FAULT_KINDS; k++)
        if (strcmp(name, fault_names[k]) == 0)
            return (feed_fault_kind_t)k;
    return FEED_FAULT_NONE;
}

/* The packet hook of feed_fault_init(). */
static int std_packet(feed_fault_hooks_t *h, uint8_t line, co_ctx_t *ctx)
{
    (void)line;
    uint64_t n = ++h->seen;
    if (n <= h->spec.after_packets)
        return FEED_FAULT_PASS;
    uint64_t fired = h->fired;
    if (h->spec.kind != FEED_FAULT_SLOW && fired >= h->spec.count)
        return FEED_FAULT_PASS;
    __atomic_store_n(&h->fired, fired + 1, __ATOMIC_RELAXED);
    switch (h->spec.kind) {
    case FEED_FAULT_PANIC:
        co_panic("feed %s: injected fault: broken invariant at packet %llu (panic %llu of %u)",
                 h->feed, (unsigned long long)n, (unsigned long long)fired + 1, h->spec.count);
    case FEED_FAULT_STALL:
        co_sleep(h->spec.stall_ns, ctx); /* early when cancelled: the handler then stops */
        break;
    case FEED_FAULT_SLOW: {
        uint64_t end = co_tsc() + co_ns_to_tsc(h->spec.slow_ns);
        while (co_tsc() < end)
            co_yield(); /* busy for this feed, not for the lcore's others */
        break;
    }
    default:
        break;
    }
    return FEED_FAULT_PASS;
}

int feed_fault_init(feed_fault_hooks_t *h, const feed_fault_spec_t *spec, const char *feed)
{
    if (h == NULL || spec == NULL || spec->kind <= FEED_FAULT_NONE ||
        spec->kind >= FEED_FAULT_KINDS)
        return EINVAL;
    memset(h, 0, sizeof(*h));
    h->packet = std_packet;
    h->feed = feed != NULL ? feed : "feed";
    h->spec = *spec;
    if (h->spec.count == 0)
        h->spec.count = 1;
    if (h->spec.stall_ns == 0)
        h->spec.stall_ns = 1000000000ull;
    if (h->spec.slow_ns == 0)
        h->spec.slow_ns = 10000;
    return 0;
}
