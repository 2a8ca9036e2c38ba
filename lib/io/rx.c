/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The RX loop of one lcore.
 *
 * Per burst: one rdtsc (every packet of a burst carries the burst's TSC: the PMD
 * handed them over at one instant, and one read instead of 32 is a good part of a
 * packet's budget), then per packet, prefetching the frame PREFETCH_AHEAD ahead:
 * classify (inlined: the common frame is a fast path of one compare per rule, see
 * classify_inline.h), write the 24-byte metadata, count the packet and its payload
 * bytes on its line and append the mbuf to its destination's stage. A destination is
 * a channel: lines that share one (every line of a handler lcore shares its ingress
 * ring, app/run.c) share its stage, so a burst for one handler lcore is one
 * chs_send_burst: one producer-index publication per channel per burst. Whatever a
 * channel cannot take is freed and counted as channel_full on each packet's own line;
 * rejected frames are counted by reason and freed in one rte_pktmbuf_free_bulk.
 *
 * Staging costs a few instructions a packet and touches only the destinations hit in
 * this burst: a line's counters and its destination pointer share a cache line,
 * indexed straight from the flow table's result, and a destination's first packet in a
 * burst puts it on a short hit list, which is all deliver() walks. A line with no
 * channel stages to a destination whose channel is closed and takes nothing, so its
 * packets are counted channel_full without a test on the hot path. The stages live in
 * the RX context, not on the caller's stack (which may be a coroutine's).
 *
 * With a filter (io_rx_set_filter: lib/feed's A/B copy filter), each accepted packet
 * is offered to it after its line's counters and before its stage; what it drops is
 * freed with the burst's rejects. A forwarded packet that then finds its channel full
 * is reported (unsent), and the filter is asked again about that burst's drops, one of
 * which may now be the only copy (free_filtered). Without one, the cost is a test of a
 * pointer a packet.
 *
 * Counters are single-writer: this lcore bumps them with relaxed load + store; other
 * threads read them with relaxed loads (io_rx_stats).
 */
#include <errno.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_prefetch.h>

#include "classify_inline.h"

#define PREFETCH_AHEAD 4

typedef struct rx_queue {
    uint16_t port, queue;
    const io_port_state_t *ps;
} rx_queue_t;

typedef struct rx_counters {
    uint64_t frames, bursts, other, unknown;
    uint64_t filtered; /* dropped by the filter */
    uint64_t held;     /* hold_when_full: channel bursts kept for a later poll */
    uint64_t malformed[IO_BAD_COUNT];
} rx_counters_t;

/*
 * One destination channel and its stage. The stage has room for a whole burst, so
 * appending never needs a bounds check; its first slots share the line of the count.
 */
typedef struct rx_dest {
    chs_t *ch;  /* never NULL: io_rx->none when no channel is set */
    uint32_t n; /* mbufs staged in this burst (0 between bursts) */
    uint32_t pad;
    struct rte_mbuf *stage[IO_RX_BURST];
} __attribute__((aligned(64))) rx_dest_t;

/* One (feed, line): its counters and its destination, in 32 bytes of one line. */
typedef struct rx_line {
    io_line_stats_t st; /* packets, bytes, channel_full */
    rx_dest_t *d;
} __attribute__((aligned(32))) rx_line_t;

/* The current burst: the destinations it hit (in order of first packet), and its
   rejects. */
typedef struct rx_burst {
    rx_dest_t *hit[IO_RX_BURST];
    uint32_t n_rej;
    uint32_t n_filt;   /* dropped by the filter */
    uint32_t n_unsent; /* forwarded, then dropped on a full channel (dest_full) */
    struct rte_mbuf *rej[IO_RX_BURST];
    struct rte_mbuf *filt[IO_RX_BURST];
} rx_burst_t;

struct io_rx {
    const io_flow_table_t *flows; /* never NULL: io_flow_none when none was given */
    unsigned n_feeds;
    unsigned nq;
    int socket;
    io_replay_t *replay;
    chs_t *none;   /* closed: stands in for an unset channel */
    rx_line_t *ln; /* [feed * 2 + line] */
    rx_dest_t *d;  /* [n_dest]; d[0] is none's */
    unsigned n_dest, max_dest;
    rx_queue_t q[IO_RX_QUEUES_MAX];
    bool hold_when_full;
    bool has_filter;
    io_rx_filter_t filter;
    unsigned n_held;                  /* destinations holding mbufs for a full channel */
    rx_dest_t *held[IO_RX_BURST + 1]; /* ... at most one burst's hits */
    rx_counters_t c __attribute__((aligned(64)));
    io_topk_t top;
    rx_burst_t b __attribute__((aligned(64)));
};

io_rx_t *io_rx_new(const io_rx_conf_t *c)
{
    if (c == NULL || c->n_feeds == 0 || c->n_feeds > IO_FEEDS_MAX) {
        errno = EINVAL;
        return NULL;
    }
    size_t nd = (size_t)c->n_feeds * IO_LINES;
    size_t head = (sizeof(io_rx_t) + 63) & ~(size_t)63;
    size_t lines = (nd * sizeof(rx_line_t) + 63) & ~(size_t)63;
    io_rx_t *rx = io_alloc(head + lines + (nd + 1) * sizeof(rx_dest_t), c->socket);
    chs_t *none = chs_new(sizeof(struct rte_mbuf *), 2, c->socket);
    if (rx == NULL || none == NULL) {
        io_free(rx);
        chs_free(none);
        errno = ENOMEM;
        return NULL;
    }
    chs_close(none);
    rx->flows = c->flows ? c->flows : io_flow_none;
    rx->n_feeds = c->n_feeds;
    rx->socket = c->socket;
    rx->none = none;
    rx->hold_when_full = c->hold_when_full;
    rx->ln = (rx_line_t *)((char *)rx + head); /* io_alloc memory is cache-line aligned */
    rx->d = (rx_dest_t *)((char *)rx->ln + lines);
    rx->max_dest = (unsigned)nd + 1;
    rx->n_dest = 1;
    rx->d[0].ch = none;
    for (size_t d = 0; d < nd; d++)
        rx->ln[d].d = &rx->d[0];
    io_topk_init(&rx->top);
    return rx;
}

void io_rx_free(io_rx_t *rx)
{
    if (rx == NULL)
        return;
    io_rx_release_held(rx);
    chs_free(rx->none);
    io_free(rx);
}

int io_rx_add_queue(io_rx_t *rx, uint16_t port, uint16_t queue)
{
    if (port >= RTE_MAX_ETHPORTS)
        return -EINVAL;
    if (rx->nq >= IO_RX_QUEUES_MAX)
        return -ENOSPC;
    rx->q[rx->nq++] = (rx_queue_t){.port = port, .queue = queue, .ps = &io_ports[port]};
    return 0;
}

int io_rx_set_channel(io_rx_t *rx, uint16_t feed, uint8_t line, chs_t *ch)
{
    if (feed >= rx->n_feeds || line >= IO_LINES ||
        (ch != NULL && chs_elem_size(ch) != sizeof(struct rte_mbuf *)))
        return -EINVAL;
    if (ch == NULL)
        ch = rx->none;
    unsigned k = 0;
    while (k < rx->n_dest && rx->d[k].ch != ch)
        k++;
    if (k == rx->n_dest) { /* a new destination: there is a slot per line, and none's */
        if (k == rx->max_dest)
            return -ENOSPC;
        rx->d[rx->n_dest++].ch = ch;
    }
    rx->ln[feed * IO_LINES + line].d = &rx->d[k];
    return 0;
}

int io_rx_set_filter(io_rx_t *rx, const io_rx_filter_t *f)
{
    rx->has_filter = f != NULL && f->keep != NULL;
    if (rx->has_filter)
        rx->filter = *f;
    return 0;
}

int io_rx_attach_replay(io_rx_t *rx, io_replay_t *r)
{
    rx->replay = r;
    return 0;
}

bool io_rx_done(const io_rx_t *rx)
{
    return rx->replay != NULL && rx->n_held == 0 && io_replay_finished(rx->replay);
}

/* Count a rejected frame and queue it for freeing (out of line: the rare case). Its
   arguments are values, so the classifier's result never has to leave registers. */
static __attribute__((noinline)) void reject(io_rx_t *rx, struct rte_mbuf *m, io_verdict_t v,
                                             unsigned bad, uint32_t ip_be, uint16_t port_be)
{
    rx->b.rej[rx->b.n_rej++] = m;
    if (v == IO_MALFORMED) {
        io_bump(&rx->c.malformed[bad], 1);
    } else if (v == IO_UNKNOWN || v == IO_ACCEPT) { /* ACCEPT: a feed this RX has not */
        io_bump(&rx->c.unknown, 1);
        io_topk_add(&rx->top, ip_be, port_be);
    } else {
        io_bump(&rx->c.other, 1);
    }
}

/* How a burst is stamped: the burst's TSC, per-packet NIC time, or replay (stamped). */
enum { STAMP_TSC, STAMP_HW, STAMP_REPLAY };

/* The RX time of @m: the NIC's where the port stamped it, else the burst's TSC. */
static inline uint64_t rx_time(const rx_queue_t *q, const struct rte_mbuf *m, uint64_t tsc,
                               uint8_t *flags)
{
    if (!(m->ol_flags & q->ps->ts_flag))
        return tsc;
    *flags = IO_META_HW_TS;
    return io_port_hw_to_tsc(q->ps, *RTE_MBUF_DYNFIELD(m, q->ps->ts_off, rte_mbuf_timestamp_t *));
}

/*
 * What stays the same for a whole burst, in locals: the compiler must otherwise reload
 * each from the context after every byte store (a uint8_t store may alias anything).
 */
typedef struct burst_env {
    const io_flow_table_t *flows;
    const io_rx_filter_t *filter; /* NULL: none */
    rx_line_t *ln;
    uint32_t n_feeds;
    int meta_off;
    uint64_t tsc;
} burst_env_t;

/* The UDP payload of @p m in its first segment, and its length there. */
static inline const uint8_t *payload_of(const struct rte_mbuf *m, const io_mbuf_meta_t *meta,
                                        uint32_t *len)
{
    uint32_t off = meta->payload_off, have = rte_pktmbuf_data_len(m);
    *len = have > off ? (meta->payload_len < have - off ? meta->payload_len : have - off) : 0;
    return rte_pktmbuf_mtod_offset(m, const uint8_t *, off);
}

/* The filter's word on @p m (out of line: it is a call anyway). */
static __attribute__((noinline)) bool ask_filter(const io_rx_filter_t *f, struct rte_mbuf *m,
                                                 const io_mbuf_meta_t *meta)
{
    uint32_t len;
    const uint8_t *pl = payload_of(m, meta, &len);
    return f->keep(f->arg, meta->feed, meta->line, pl, len, meta->rx_tsc);
}

/* Classify @m, stamp it, count it on its line and stage it for its destination
   (*hit: the next free hit-list slot). */
static inline __attribute__((always_inline)) void rx_one(io_rx_t *rx, const burst_env_t *env,
                                                         const rx_queue_t *q, struct rte_mbuf *m,
                                                         int stamp, rx_dest_t ***hit)
{
    io_pkt_info_t info;
    info.bad = 0; /* set only for IO_MALFORMED; a register, once info is scalarised */
    io_verdict_t v = io_classify_mbuf_inline(env->flows, m, &info);
    if (unlikely(v != IO_ACCEPT || info.feed >= env->n_feeds)) {
        reject(rx, m, v, info.bad, info.dst_ip_be, info.dst_port_be);
        return;
    }
    io_mbuf_meta_t *meta = RTE_MBUF_DYNFIELD(m, env->meta_off, io_mbuf_meta_t *);
    if (stamp == STAMP_REPLAY) { /* the times and flags are set */
        meta->feed = info.feed;
        meta->line = info.line;
        meta->payload_off = info.l4_payload_off;
        meta->payload_len = info.l4_payload_len;
    } else {
        uint8_t flags = 0;
        uint64_t t = stamp == STAMP_HW ? rx_time(q, m, env->tsc, &flags) : env->tsc;
        *meta = (io_mbuf_meta_t){.rx_tsc = t,
                                 .intended_tsc = t,
                                 .feed = info.feed,
                                 .line = info.line,
                                 .flags = flags,
                                 .payload_off = info.l4_payload_off,
                                 .payload_len = info.l4_payload_len};
    }
    rx_line_t *ln = &env->ln[(uint32_t)info.feed * IO_LINES + info.line];
    io_bump(&ln->st.packets, 1);
    io_bump(&ln->st.bytes, info.l4_payload_len);
    if (env->filter != NULL && !ask_filter(env->filter, m, meta)) {
        rx->b.filt[rx->b.n_filt++] = m;
        return;
    }
    rx_dest_t *d = ln->d;
    uint32_t k = d->n;
    if (k == 0) /* first for its destination in this burst */
        *(*hit)++ = d;
    d->stage[k] = m;
    d->n = k + 1;
}

/* What a destination's channel did not take: each mbuf counted on its own line (its
   metadata names it), then freed. Out of line: a full channel is the rare case. */
static __attribute__((noinline)) void dest_full(io_rx_t *rx, struct rte_mbuf **m, unsigned n)
{
    rx->b.n_unsent += n;
    for (unsigned i = 0; i < n; i++) {
        const io_mbuf_meta_t *meta = io_mbuf_meta(m[i]);
        io_bump(&rx->ln[(uint32_t)meta->feed * IO_LINES + meta->line].st.channel_full, 1);
        if (rx->has_filter && rx->filter.unsent != NULL) {
            uint32_t len;
            const uint8_t *pl = payload_of(m[i], meta, &len);
            rx->filter.unsent(rx->filter.arg, meta->feed, meta->line, pl, len);
        }
    }
    rte_pktmbuf_free_bulk(m, n);
}

/* hold_when_full: keep what @p d's channel did not take (from @p sent on) for the next
   poll, at the front of its stage. */
static __attribute__((noinline)) void hold(io_rx_t *rx, rx_dest_t *d, unsigned sent)
{
    io_bump(&rx->c.held, 1);
    d->n -= sent;
    memmove(d->stage, &d->stage[sent], d->n * sizeof(d->stage[0]));
    rx->held[rx->n_held++] = d;
}

/* Send each hit destination's stage with one burst; free and count what does not fit
   (or, with hold_when_full, keep it). Channels with a doorbell (a handler lcore's
   lines share one) are rung once per doorbell word and burst, after all the sends,
   instead of once per send: one atomic OR for the burst where the word stays the
   same, which it does for up to 64 lines of one handler lcore. */
static inline void deliver(io_rx_t *rx, rx_dest_t **end)
{
    _Atomic uint64_t *bell = NULL;
    uint64_t bits = 0;
    for (rx_dest_t **h = rx->b.hit; h < end; h++) {
        rx_dest_t *d = *h;
        uint32_t cnt = d->n;
        unsigned sent = chs_send_burst_unrung(d->ch, d->stage, cnt);
        uint64_t bit;
        _Atomic uint64_t *w = chs_doorbell(d->ch, &bit);
        if (w != NULL && sent != 0) {
            if (w != bell) {
                if (bell != NULL)
                    chs_ring(bell, bits);
                bell = w;
                bits = 0;
            }
            bits |= bit;
        }
        if (likely(sent == cnt)) {
            d->n = 0;
        } else if (rx->hold_when_full && d->ch != rx->none) {
            hold(rx, d, sent);
        } else {
            d->n = 0;
            dest_full(rx, &d->stage[sent], cnt - sent);
        }
    }
    if (bell != NULL)
        chs_ring(bell, bits);
}

/*
 * The filter's drops of this burst. When a packet it forwarded found its channel
 * full (dest_full told the filter), a copy of it dropped in the same burst may now be
 * the only one: the filter is asked again about each, and forwards it after all
 * (one send each: the rare case).
 */
static __attribute__((noinline)) void free_filtered(io_rx_t *rx)
{
    unsigned n = rx->b.n_filt, k = 0;
    struct rte_mbuf **m = rx->b.filt;
    if (unlikely(rx->b.n_unsent) && rx->filter.again != NULL) {
        for (unsigned i = 0; i < n; i++) {
            const io_mbuf_meta_t *meta = io_mbuf_meta(m[i]);
            uint32_t len;
            const uint8_t *pl = payload_of(m[i], meta, &len);
            if (!rx->filter.again(rx->filter.arg, meta->feed, meta->line, pl, len, meta->rx_tsc)) {
                m[k++] = m[i];
                continue;
            }
            chs_t *ch = rx->ln[(uint32_t)meta->feed * IO_LINES + meta->line].d->ch;
            if (chs_send_burst(ch, &m[i], 1) != 1)
                dest_full(rx, &m[i], 1);
        }
        n = k;
    }
    io_bump(&rx->c.filtered, n);
    if (n)
        rte_pktmbuf_free_bulk(m, n);
}

/* Offer the held mbufs again; true when none is left. */
static __attribute__((noinline)) bool offer_held(io_rx_t *rx)
{
    unsigned n = rx->n_held;
    rx->n_held = 0; /* hold() appends again what stays: never past entry i */
    for (unsigned i = 0; i < n; i++) {
        rx_dest_t *d = rx->held[i];
        unsigned sent = chs_send_burst(d->ch, d->stage, d->n);
        if (sent < d->n)
            hold(rx, d, sent);
        else
            d->n = 0;
    }
    return rx->n_held == 0;
}

unsigned io_rx_release_held(io_rx_t *rx)
{
    unsigned dropped = 0;
    for (unsigned i = 0; rx && i < rx->n_held; i++) {
        rx_dest_t *d = rx->held[i];
        dropped += d->n;
        dest_full(rx, d->stage, d->n);
        d->n = 0;
    }
    if (rx)
        rx->n_held = 0;
    return dropped;
}

static inline __attribute__((always_inline)) void
process(io_rx_t *rx, const rx_queue_t *q, struct rte_mbuf **m, unsigned n, int stamp)
{
    const burst_env_t env = {.flows = rx->flows,
                             .filter = rx->has_filter ? &rx->filter : NULL,
                             .ln = rx->ln,
                             .n_feeds = rx->n_feeds,
                             .meta_off = io_mbuf_meta_off,
                             .tsc = stamp == STAMP_REPLAY ? 0 : rte_rdtsc()};
    rx_dest_t **hit = rx->b.hit;
    unsigned i = 0;
    rx->b.n_rej = rx->b.n_filt = rx->b.n_unsent = 0;
    for (unsigned k = 0; k < n && k < PREFETCH_AHEAD; k++)
        rte_prefetch0(rte_pktmbuf_mtod(m[k], void *));
    /* two loops rather than a test per packet for the prefetch */
    for (; i + PREFETCH_AHEAD < n; i++) {
        rte_prefetch0(rte_pktmbuf_mtod(m[i + PREFETCH_AHEAD], void *));
        rx_one(rx, &env, q, m[i], stamp, &hit);
    }
    for (; i < n; i++)
        rx_one(rx, &env, q, m[i], stamp, &hit);
    deliver(rx, hit);
    if (unlikely(rx->b.n_rej))
        rte_pktmbuf_free_bulk(rx->b.rej, rx->b.n_rej);
    if (rx->b.n_filt)
        free_filtered(rx);
    io_bump(&rx->c.frames, n);
    io_bump(&rx->c.bursts, 1);
}

/* Out of line so the common stamping (the burst's TSC) has its loop to itself. */
static __attribute__((noinline)) void process_hw(io_rx_t *rx, const rx_queue_t *q,
                                                 struct rte_mbuf **m, unsigned n)
{
    process(rx, q, m, n, STAMP_HW);
}

static __attribute__((noinline)) void process_replay(io_rx_t *rx, struct rte_mbuf **m, unsigned n)
{
    process(rx, NULL, m, n, STAMP_REPLAY);
}

unsigned io_rx_poll(io_rx_t *rx)
{
    struct rte_mbuf *m[IO_RX_BURST];
    unsigned total = 0;
    /* nothing new while anything is held: a held stage is not on the hit list, and a
       new burst's packets for it would go behind the held ones unsent */
    if (unlikely(rx->n_held) && !offer_held(rx))
        return 0;
    for (unsigned i = 0; i < rx->nq; i++) {
        const rx_queue_t *q = &rx->q[i];
        unsigned n = rte_eth_rx_burst(q->port, q->queue, m, IO_RX_BURST);
        if (n) {
            if (likely(!q->ps->hw_ts))
                process(rx, q, m, n, STAMP_TSC);
            else
                process_hw(rx, q, m, n);
            total += n;
        }
    }
    if (rx->replay != NULL) {
        unsigned n = io_replay_poll(rx->replay, m, IO_RX_BURST);
        if (n) {
            process_replay(rx, m, n);
            total += n;
        }
    }
    return total;
}

void io_rx_stats(const io_rx_t *rx, io_rx_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->frames = io_load(&rx->c.frames);
    out->filtered = io_load(&rx->c.filtered);
    out->bursts = io_load(&rx->c.bursts);
    out->other = io_load(&rx->c.other);
    out->unknown = io_load(&rx->c.unknown);
    out->held = io_load(&rx->c.held);
    for (unsigned r = 0; r < IO_BAD_COUNT; r++) {
        out->malformed[r] = io_load(&rx->c.malformed[r]);
        out->malformed_total += out->malformed[r];
    }
    for (unsigned d = 0; d < rx->n_feeds * IO_LINES; d++)
        out->accepted += io_load(&rx->ln[d].st.packets);
    out->n_top = io_topk_list(&rx->top, out->top, IO_TOPK);
}

void io_rx_line_stats(const io_rx_t *rx, uint16_t feed, uint8_t line, io_line_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (feed >= rx->n_feeds || line >= IO_LINES)
        return;
    const io_line_stats_t *ls = &rx->ln[feed * IO_LINES + line].st;
    out->packets = io_load(&ls->packets);
    out->bytes = io_load(&ls->bytes);
    out->channel_full = io_load(&ls->channel_full);
}
