/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The RX loop of one lcore.
 *
 * Per burst: stamp, classify (prefetching a few frames ahead), write the result into
 * each accepted mbuf's dynfield, then group the accepted mbufs by destination channel
 * with a counting sort over the burst (at most 32 groups; a per-destination slot
 * array, reset after the burst, maps a destination to its group) so each channel gets
 * one chs_send_burst per burst: one producer-index publication per channel per burst
 * instead of one per packet. Whatever a channel cannot take is freed and counted as
 * channel_full on its line; rejected frames are freed in one rte_pktmbuf_free_bulk.
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
#define NO_GROUP       0xff

typedef struct rx_queue {
    uint16_t port, queue;
    const io_port_state_t *ps;
} rx_queue_t;

typedef struct rx_counters {
    uint64_t frames, bursts, other, unknown;
    uint64_t malformed[IO_BAD_COUNT];
} rx_counters_t;

struct io_rx {
    const io_flow_table_t *flows;
    unsigned n_feeds;
    unsigned nq;
    int socket;
    io_replay_t *replay;
    rx_queue_t q[IO_RX_QUEUES_MAX];
    chs_t **chan;           /* [feed * 2 + line] */
    io_line_stats_t *lines; /* [feed * 2 + line] */
    uint8_t *group_of;      /* [feed * 2 + line]: group in the current burst, or NO_GROUP */
    rx_counters_t c __attribute__((aligned(64)));
    io_topk_t top;
};

io_rx_t *io_rx_new(const io_rx_conf_t *c)
{
    if (c == NULL || c->n_feeds == 0 || c->n_feeds > IO_FEEDS_MAX) {
        errno = EINVAL;
        return NULL;
    }
    size_t nd = (size_t)c->n_feeds * IO_LINES;
    size_t bytes = sizeof(io_rx_t) + nd * (sizeof(chs_t *) + sizeof(io_line_stats_t) + 1);
    io_rx_t *rx = io_alloc(bytes, c->socket);
    if (rx == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    rx->flows = c->flows;
    rx->n_feeds = c->n_feeds;
    rx->socket = c->socket;
    rx->chan = (chs_t **)(rx + 1);
    rx->lines = (io_line_stats_t *)(rx->chan + nd);
    rx->group_of = (uint8_t *)(rx->lines + nd);
    memset(rx->group_of, NO_GROUP, nd);
    io_topk_init(&rx->top);
    return rx;
}

void io_rx_free(io_rx_t *rx)
{
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
    rx->chan[feed * IO_LINES + line] = ch;
    return 0;
}

int io_rx_attach_replay(io_rx_t *rx, io_replay_t *r)
{
    rx->replay = r;
    return 0;
}

bool io_rx_done(const io_rx_t *rx)
{
    return rx->replay != NULL && io_replay_finished(rx->replay);
}

/* A burst's accepted mbufs, grouped by destination. */
typedef struct burst {
    unsigned n_acc, n_rej, n_grp;
    struct rte_mbuf *acc[IO_RX_BURST];
    uint8_t grp[IO_RX_BURST]; /* group of acc[i] */
    struct rte_mbuf *rej[IO_RX_BURST];
    uint32_t dest[IO_RX_BURST]; /* destination of group g */
    uint32_t cnt[IO_RX_BURST];
    uint32_t bytes[IO_RX_BURST];
} burst_t;

/* Count a rejected frame and queue it for freeing. */
static inline void reject(io_rx_t *rx, burst_t *b, struct rte_mbuf *m, io_verdict_t v,
                          const io_pkt_info_t *info)
{
    b->rej[b->n_rej++] = m;
    if (v == IO_MALFORMED) {
        io_bump(&rx->c.malformed[info->bad], 1);
    } else if (v == IO_UNKNOWN) {
        io_bump(&rx->c.unknown, 1);
        io_topk_add(&rx->top, info->dst_ip_be, info->dst_port_be);
    } else {
        io_bump(&rx->c.other, 1);
    }
}

/* The RX time of @m: the NIC's where the port stamps, else the burst's TSC. */
static inline uint64_t rx_time(const rx_queue_t *q, const struct rte_mbuf *m, uint64_t tsc,
                               uint8_t *flags)
{
    if (likely(!q->ps->hw_ts) || !(m->ol_flags & q->ps->ts_flag))
        return tsc;
    *flags = IO_META_HW_TS;
    return io_port_hw_to_tsc(q->ps, *RTE_MBUF_DYNFIELD(m, q->ps->ts_off, rte_mbuf_timestamp_t *));
}

/* Write an accepted mbuf's metadata (one 24-byte store) and put it in its group. */
static inline void take(io_rx_t *rx, burst_t *b, const rx_queue_t *q, struct rte_mbuf *m,
                        const io_pkt_info_t *info, uint64_t tsc)
{
    io_mbuf_meta_t *meta = io_mbuf_meta(m);
    if (q != NULL) {
        uint8_t flags = 0;
        uint64_t t = rx_time(q, m, tsc, &flags);
        *meta = (io_mbuf_meta_t){.rx_tsc = t,
                                 .intended_tsc = t,
                                 .feed = info->feed,
                                 .line = info->line,
                                 .flags = flags,
                                 .payload_off = info->l4_payload_off,
                                 .payload_len = info->l4_payload_len};
    } else { /* replay: the times are set */
        meta->feed = info->feed;
        meta->line = info->line;
        meta->payload_off = info->l4_payload_off;
        meta->payload_len = info->l4_payload_len;
    }
    uint32_t d = (uint32_t)info->feed * IO_LINES + info->line;
    uint8_t g = rx->group_of[d];
    if (g == NO_GROUP) {
        g = (uint8_t)b->n_grp++;
        rx->group_of[d] = g;
        b->dest[g] = d;
        b->cnt[g] = 0;
        b->bytes[g] = 0;
    }
    b->cnt[g]++;
    b->bytes[g] += info->l4_payload_len;
    b->grp[b->n_acc] = g;
    b->acc[b->n_acc++] = m;
}

/* Classify a burst; @q NULL: a replay burst, already stamped. */
static void classify_burst(io_rx_t *rx, const rx_queue_t *q, struct rte_mbuf **m, unsigned n,
                           burst_t *b)
{
    uint64_t tsc = rte_rdtsc();
    for (unsigned i = 0; i < n && i < PREFETCH_AHEAD; i++)
        rte_prefetch0(rte_pktmbuf_mtod(m[i], void *));
    for (unsigned i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n)
            rte_prefetch0(rte_pktmbuf_mtod(m[i + PREFETCH_AHEAD], void *));
        io_pkt_info_t info;
        io_verdict_t v = io_classify_mbuf_inline(rx->flows, m[i], &info);
        if (likely(v == IO_ACCEPT && info.feed < rx->n_feeds))
            take(rx, b, q, m[i], &info, tsc);
        else
            reject(rx, b, m[i], v == IO_ACCEPT ? IO_UNKNOWN : v, &info);
    }
}

/* Enqueue each group with one burst; free and count what does not fit. */
static void deliver(io_rx_t *rx, burst_t *b)
{
    uint32_t off[IO_RX_BURST];
    struct rte_mbuf *buf[IO_RX_BURST], **sorted = b->acc;
    uint32_t at = 0;
    if (b->n_grp != b->n_acc) { /* else every group is one mbuf: acc is in group order */
        for (unsigned g = 0; g < b->n_grp; g++) {
            off[g] = at;
            at += b->cnt[g];
        }
        for (unsigned i = 0; i < b->n_acc; i++)
            buf[off[b->grp[i]]++] = b->acc[i];
        sorted = buf;
        at = 0;
    }
    for (unsigned g = 0; g < b->n_grp; g++) {
        uint32_t d = b->dest[g], cnt = b->cnt[g];
        chs_t *ch = rx->chan[d];
        unsigned sent = ch ? chs_send_burst(ch, &sorted[at], cnt) : 0;
        if (sent < cnt)
            rte_pktmbuf_free_bulk(&sorted[at + sent], cnt - sent);
        io_line_stats_t *ls = &rx->lines[d];
        io_bump(&ls->packets, cnt);
        io_bump(&ls->bytes, b->bytes[g]);
        if (sent < cnt)
            io_bump(&ls->channel_full, cnt - sent);
        rx->group_of[d] = NO_GROUP;
        at += cnt;
    }
}

static void process(io_rx_t *rx, const rx_queue_t *q, struct rte_mbuf **m, unsigned n)
{
    burst_t b;
    b.n_acc = b.n_rej = b.n_grp = 0;
    classify_burst(rx, q, m, n, &b);
    deliver(rx, &b);
    if (b.n_rej)
        rte_pktmbuf_free_bulk(b.rej, b.n_rej);
    io_bump(&rx->c.frames, n);
    io_bump(&rx->c.bursts, 1);
}

unsigned io_rx_poll(io_rx_t *rx)
{
    struct rte_mbuf *m[IO_RX_BURST];
    unsigned total = 0;
    for (unsigned i = 0; i < rx->nq; i++) {
        const rx_queue_t *q = &rx->q[i];
        unsigned n = rte_eth_rx_burst(q->port, q->queue, m, IO_RX_BURST);
        if (n) {
            process(rx, q, m, n);
            total += n;
        }
    }
    if (rx->replay != NULL) {
        unsigned n = io_replay_poll(rx->replay, m, IO_RX_BURST);
        if (n) {
            process(rx, NULL, m, n);
            total += n;
        }
    }
    return total;
}

void io_rx_stats(const io_rx_t *rx, io_rx_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->frames = io_load(&rx->c.frames);
    out->bursts = io_load(&rx->c.bursts);
    out->other = io_load(&rx->c.other);
    out->unknown = io_load(&rx->c.unknown);
    for (unsigned r = 0; r < IO_BAD_COUNT; r++) {
        out->malformed[r] = io_load(&rx->c.malformed[r]);
        out->malformed_total += out->malformed[r];
    }
    for (unsigned d = 0; d < rx->n_feeds * IO_LINES; d++)
        out->accepted += io_load(&rx->lines[d].packets);
    out->n_top = io_topk_list(&rx->top, out->top, IO_TOPK);
}

void io_rx_line_stats(const io_rx_t *rx, uint16_t feed, uint8_t line, io_line_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (feed >= rx->n_feeds || line >= IO_LINES)
        return;
    const io_line_stats_t *ls = &rx->lines[feed * IO_LINES + line];
    out->packets = io_load(&ls->packets);
    out->bytes = io_load(&ls->bytes);
    out->channel_full = io_load(&ls->channel_full);
}
