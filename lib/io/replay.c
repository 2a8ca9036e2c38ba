/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Replay: a net_pcap port on the capture, read in lockstep with lib/io's own reader.
 *
 * Why both: net_pcap reads the file through libpcap, which gives microseconds only
 * (pcap_open_offline), and on a truncated or corrupt record it counts an error and
 * quietly stops delivering. So the capture is scanned first (io_capture_scan: count,
 * first error with its offset), and while replaying each mbuf is matched with the
 * next record of our own reader, which supplies the exact nanosecond timestamp for
 * the pacer; a length that differs is counted as a mismatch. Exactly `packets` mbufs
 * are taken per loop, so a file with a bad record replays its valid prefix.
 *
 * Looping: in DPDK 22.11 net_pcap's dev_stop closes the rx pcap and dev_start opens
 * it again when it is closed (drivers/net/pcap/pcap_ethdev.c, eth_dev_stop /
 * eth_dev_start), so stop + start rewinds the file; the RX lcore does that between
 * loops (once per loop: a few system calls, not per packet).
 *
 * Pacing: mbufs are taken from the port ahead of their time into a ring of
 * REPLAY_AHEAD, stamped with their intended TSC and released, in order, as the TSC
 * reaches each one. io_rx_poll never waits: it returns and looks again on its next
 * pass. An empty ring takes a whole burst; a paced replay then tops the ring up in
 * polls that release nothing, with as many records as fit in the time left before the
 * next release (at most REPLAY_TOPUP_MAX), by the measured cost of reading one.
 * Reading a burst of 32 records through libpcap takes microseconds: taken only when
 * the previous burst was all released, it held back every release due meanwhile,
 * which then went out together as a bunch that queued up at the feed handlers. A
 * fixed rule (top up 4 records while the next release is 2 us off) never fired at
 * 1 Mpps, whose releases are 1 us apart: the ring ran dry every 128 packets and
 * refilled with a 32-record read (at 1 Mpps a pacing error p50 of 1.7 us, and the
 * handlers' rx_to_dequeue p50 ~4 us, against ~0.3 us at 300 kpps).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include "io_internal.h"

/* mbufs taken from the port ahead of their release (a power of two) */
#define REPLAY_AHEAD 128u
#define REPLAY_MASK  (REPLAY_AHEAD - 1)
/* Most records a paced replay's top-up reads in one poll (~1 us of reading) */
#define REPLAY_TOPUP_MAX 8u
/* A top-up must end this long before the next release (its call, the clock reads) */
#define REPLAY_MARGIN_NS 150u
/* First guess of the cost of reading one record, before one is measured */
#define REPLAY_REC_NS0 400u

struct io_replay {
    io_capture_t *cap;
    io_capture_info_t info;
    io_pacer_t pacer;
    uint16_t port;
    uint64_t loops;
    uint64_t start_tsc;   /* TSC of the replay's time 0 (first burst) */
    uint64_t loop_taken;  /* mbufs taken from the port in this loop */
    uint64_t released;    /* all loops (progress; relaxed atomics) */
    uint64_t loop_no;     /* progress copy of the loop number */
    uint64_t mismatches;  /* length differed from our record, or we had no record */
    uint64_t short_loops; /* the port ran dry before `packets` mbufs */
    uint64_t done;        /* 1 once everything is released */
    unsigned idle_polls;  /* consecutive empty bursts while packets remain */
    unsigned avail_lb;    /* lower bound on the free mbufs of the port's pool */
    uint64_t pool_waits;  /* bursts put off because the pool was short */
    uint64_t margin_tsc;  /* REPLAY_MARGIN_NS */
    uint64_t rec_tsc;     /* what reading one record costs (EWMA of fills, TSC) */
    uint32_t head, tail;  /* held[head & mask] is released next; tail - head are held */
    struct rte_mbuf *held[REPLAY_AHEAD];
    uint64_t due[REPLAY_AHEAD]; /* intended TSC of each held mbuf */
};

static unsigned replay_seq;

io_replay_t *io_replay_open(const io_replay_conf_t *c, char *err, size_t errlen)
{
    if (c == NULL || c->path == NULL) {
        io_err(err, errlen, EINVAL, "replay: no capture file");
        return NULL;
    }
    if (strpbrk(c->path, ",=") != NULL) { /* devargs syntax cannot quote them */
        io_err(err, errlen, EINVAL, "%s: a replayed file's path may not contain ',' or '='",
               c->path);
        return NULL;
    }
    io_replay_t *r = io_alloc(sizeof(*r), c->rx_socket);
    if (r == NULL) {
        io_err(err, errlen, ENOMEM, "replay: out of memory");
        return NULL;
    }
    r->cap = io_capture_open(c->path, err, errlen);
    if (r->cap == NULL)
        goto fail;
    io_capture_scan(r->cap, &r->info);
    if (r->info.linktype != 1) {
        io_err(err, errlen, EINVAL, "%s: link type %u is not Ethernet", c->path, r->info.linktype);
        goto fail;
    }
    if (r->info.packets == 0) {
        io_err(err, errlen, EINVAL, "%s",
               r->info.error ? r->info.errmsg : "capture has no packets");
        goto fail;
    }
    io_pacer_init(&r->pacer, &c->pace);
    r->loops = r->pacer.o.loops;
    r->margin_tsc = co_ns_to_tsc(REPLAY_MARGIN_NS);
    r->rec_tsc = co_ns_to_tsc(REPLAY_REC_NS0);
    char dev[512];
    snprintf(dev, sizeof(dev), "net_pcap_mdmux%u,rx_pcap=%s", replay_seq++, c->path);
    /* Every record in one mbuf (net_pcap chains what does not fit, and the handlers
       parse one segment): mbufs as large as the largest record, with the pool's bytes
       kept about the same (fewer mbufs; the replay waits for free ones, never drops). */
    unsigned mbufs = c->pool_mbufs;
    if (r->info.max_caplen > RTE_MBUF_DEFAULT_DATAROOM && mbufs) {
        uint64_t scaled = (uint64_t)mbufs * RTE_MBUF_DEFAULT_BUF_SIZE /
                          (r->info.max_caplen + RTE_PKTMBUF_HEADROOM);
        mbufs = scaled < 2047 ? 2047 : (unsigned)scaled;
    }
    if (r->info.max_caplen > UINT16_MAX - RTE_PKTMBUF_HEADROOM - 64) {
        io_err(err, errlen, EINVAL, "%s: a record of %u bytes: larger than an mbuf can hold",
               c->path, r->info.max_caplen);
        goto fail;
    }
    io_port_conf_t pc = {.name = "replay",
                         .device = dev,
                         .rx_queues = 1,
                         .rx_socket = c->rx_socket,
                         .pool_mbufs = mbufs,
                         .frame_max = r->info.max_caplen};
    int port = io_port_open(&pc, err, errlen);
    if (port < 0)
        goto fail;
    r->port = (uint16_t)port;
    return r;
fail:
    io_capture_close(r->cap);
    io_free(r);
    return NULL;
}

void io_replay_close(io_replay_t *r)
{
    if (r == NULL)
        return;
    for (; r->head != r->tail; r->head++)
        rte_pktmbuf_free(r->held[r->head & REPLAY_MASK]);
    io_port_close(r->port);
    io_capture_close(r->cap);
    io_free(r);
}

const io_capture_info_t *io_replay_info(const io_replay_t *r)
{
    return &r->info;
}

uint16_t io_replay_port(const io_replay_t *r)
{
    return r->port;
}

const io_pacer_t *io_replay_pacer(const io_replay_t *r)
{
    return &r->pacer;
}

void io_replay_progress(const io_replay_t *r, io_replay_progress_t *out)
{
    memset(out, 0, sizeof(*out));
    out->packets = io_load(&r->released);
    out->total = r->info.packets * r->loops;
    out->loop = io_load(&r->loop_no);
    out->mismatches = io_load(&r->mismatches);
    out->done = io_load(&r->done) != 0;
    out->percent = out->total ? 100.0 * (double)out->packets / (double)out->total : 100.0;
    uint64_t start = io_load(&r->start_tsc);
    if (start != 0 && out->packets > 0) {
        double secs = (double)(rte_rdtsc() - start) / (double)rte_get_tsc_hz();
        out->pps = secs > 0 ? (double)out->packets / secs : 0;
        out->eta_s = out->pps > 0 ? (double)(out->total - out->packets) / out->pps : 0;
    }
}

bool io_replay_finished(const io_replay_t *r)
{
    return r->done != 0;
}

/* The port gave everything of this loop: rewind (stop + start reopens the file). */
static void replay_next_loop(io_replay_t *r)
{
    if (r->pacer.loop + 1 >= r->loops) {
        __atomic_store_n(&r->done, 1, __ATOMIC_RELAXED);
        return;
    }
    rte_eth_dev_stop(r->port);
    rte_eth_dev_start(r->port);
    io_capture_rewind(r->cap);
    io_pacer_next_loop(&r->pacer);
    r->loop_taken = 0;
    io_bump(&r->loop_no, 1);
}

/* Match the @p n mbufs from ring slot @p first on with their capture records and
   compute their intended times. */
static void replay_stamp(io_replay_t *r, unsigned first, unsigned n, uint64_t now)
{
    if (r->start_tsc == 0)
        __atomic_store_n(&r->start_tsc, now, __ATOMIC_RELAXED);
    for (unsigned i = first; i < first + n; i++) {
        uint64_t ts = 0, off = io_capture_offset(r->cap);
        uint64_t back = r->pacer.backward_jumps, fwd = r->pacer.forward_jumps;
        uint32_t caplen = 0;
        if (io_capture_next(r->cap, &ts, NULL, &caplen, NULL, NULL, 0) != 1 ||
            caplen != r->held[i]->pkt_len)
            io_bump(&r->mismatches, 1);
        if (r->pacer.o.mode == IO_PACE_MAX) {
            io_pacer_next(&r->pacer, ts);
            r->due[i] = now;
            continue;
        }
        r->due[i] = r->start_tsc + co_ns_to_tsc(io_pacer_next(&r->pacer, ts));
        /* where the first jump of each kind is, for the end-of-run warning */
        if (back == 0 && r->pacer.backward_jumps)
            r->pacer.back_off = off;
        if (fwd == 0 && r->pacer.forward_jumps)
            r->pacer.fwd_off = off;
    }
}

/*
 * What this lcore can allocate from @p mp: the pool's common store plus its own cache.
 * Not rte_mempool_avail_count(): that also counts other lcores' caches, which this
 * lcore cannot allocate from.
 */
static unsigned pool_allocatable(struct rte_mempool *mp)
{
    struct rte_mempool_cache *own = rte_mempool_default_cache(mp, rte_lcore_id());
    /* rte_mempool_ops_get_count() is internal API; its inline equivalent is not. */
    unsigned common = rte_mempool_get_ops(mp->ops_index)->get_count(mp);
    return common + (own ? own->len : 0);
}

/*
 * net_pcap reads a record before it allocates the record's mbuf, and when the pool is
 * empty it drops the record, counting only rx_nombuf. A file can wait, so the replay
 * never asks for more mbufs than this lcore can allocate. The bound only shrinks by
 * what we take (other lcores only give mbufs back), so it is refreshed only when it
 * runs low.
 */
static bool replay_pool_has(io_replay_t *r, unsigned want)
{
    if (r->avail_lb < want) {
        r->avail_lb = pool_allocatable(io_ports[r->port].pool);
        if (r->avail_lb < want) {
            io_bump(&r->pool_waits, 1);
            return false;
        }
    }
    r->avail_lb -= want;
    return true;
}

/*
 * Fold the cost of the fill that began at @p t0 and read @p n records into rec_tsc,
 * per record (the call's own cost shared among them, so a small top-up reads as
 * dearer: the estimate errs towards reading fewer). A fill that took over 16 times
 * the estimate a record (the thread was preempted) teaches nothing and is skipped.
 */
static void replay_learn_cost(io_replay_t *r, uint64_t t0, unsigned n)
{
    uint64_t per = (rte_rdtsc() - t0) / n;
    if (per > 16 * r->rec_tsc)
        return;
    r->rec_tsc = r->rec_tsc - r->rec_tsc / 8 + per / 8;
    if (r->rec_tsc == 0)
        r->rec_tsc = 1;
}

/*
 * Ask for the mbufs the port's next @p n allocations on this lcore take (the top of
 * this lcore's LIFO cache of the pool), for writing: both lines of each header and
 * the first line of its data room. The feed handlers' lcore frees them, so their
 * lines were last touched there, and net_pcap allocates (header reset) and copies one
 * record at a time after reading it: the stalling load in rte_pktmbuf_alloc was ~30 %
 * of the replaying RX lcore in perf. Asked for together, the misses overlap each other
 * and libpcap's reads. A pktmbuf pool's data room follows the header and the private
 * area (rte_pktmbuf_init); without a cache, or with an empty one, nothing is asked.
 */
static void prefetch_next_mbufs(struct rte_mempool *mp, unsigned n)
{
    struct rte_mempool_cache *c = rte_mempool_default_cache(mp, rte_lcore_id());
    if (c == NULL)
        return;
    unsigned len = c->len;
    if (n > len)
        n = len;
    unsigned data =
        (unsigned)sizeof(struct rte_mbuf) + rte_pktmbuf_priv_size(mp) + RTE_PKTMBUF_HEADROOM;
    for (unsigned i = 1; i <= n; i++) {
        const char *m = c->objs[len - i];
        __builtin_prefetch(m, 1, 3); /* rte_prefetch0_write is experimental in 22.11 */
        __builtin_prefetch(m + RTE_CACHE_LINE_SIZE, 1, 3);
        __builtin_prefetch(m + data, 1, 3);
    }
}

/* Take up to @p max more mbufs from the port into the ring. */
static void replay_fill(io_replay_t *r, uint64_t now, unsigned max)
{
    uint64_t left = r->info.packets - r->loop_taken;
    if (left == 0) {
        if (r->head != r->tail)
            return; /* the next loop (or the end) once this one is all released */
        replay_next_loop(r);
        if (r->done)
            return;
        left = r->info.packets;
    }
    /* into contiguous free slots: rx_burst writes straight into the ring */
    unsigned slot = r->tail & REPLAY_MASK;
    unsigned room = REPLAY_AHEAD - (r->tail - r->head);
    if (room > REPLAY_AHEAD - slot)
        room = REPLAY_AHEAD - slot;
    if (max > room)
        max = room;
    uint16_t want = (uint16_t)(left < max ? left : max);
    if (want == 0 || !replay_pool_has(r, want))
        return;
    prefetch_next_mbufs(io_ports[r->port].pool, want);
    uint16_t n = rte_eth_rx_burst(r->port, 0, &r->held[slot], want);
    if (n == 0) {
        /* Empty with mbufs to spare: libpcap stopped early (it rejects something our
           reader accepted). Give up on this loop rather than spin. */
        if (++r->idle_polls > 1000 && rte_mempool_avail_count(io_ports[r->port].pool) > 2 * want) {
            r->short_loops++;
            io_bump(&r->mismatches, left);
            r->loop_taken = r->info.packets;
            r->idle_polls = 0;
        }
        return;
    }
    r->idle_polls = 0;
    r->loop_taken += n;
    replay_stamp(r, slot, n, now);
    r->tail += n;
    replay_learn_cost(r, now, n);
}

/* A paced replay's top-up: the records that can be read before the next release
   is due, by the measured cost of one, and none when the ring is full. */
static void replay_top_up(io_replay_t *r, uint64_t now)
{
    uint64_t due = r->due[r->head & REPLAY_MASK];
    if (r->tail - r->head == REPLAY_AHEAD || due <= now + r->margin_tsc)
        return;
    uint64_t fit = (due - now - r->margin_tsc) / r->rec_tsc;
    if (fit > 0)
        replay_fill(r, now, fit < REPLAY_TOPUP_MAX ? (unsigned)fit : REPLAY_TOPUP_MAX);
}

unsigned io_replay_poll(io_replay_t *r, struct rte_mbuf **out, unsigned max)
{
    if (r->done)
        return 0;
    uint64_t now = rte_rdtsc();
    if (r->head == r->tail)
        replay_fill(r, now, IO_RX_BURST);
    unsigned k = 0;
    while (r->head != r->tail && k < max) {
        unsigned i = r->head & REPLAY_MASK;
        if (r->due[i] > now)
            break;
        struct rte_mbuf *m = r->held[i];
        io_mbuf_meta_t *meta = io_mbuf_meta(m);
        meta->rx_tsc = now;
        meta->intended_tsc = r->due[i];
        meta->flags = 0;
        if (r->pacer.o.mode != IO_PACE_MAX) /* due <= now: the error is never negative */
            io_pacer_record(&r->pacer, 0, co_tsc_to_ns(now - r->due[i]));
        out[k++] = m;
        r->head++;
    }
    if (k)
        io_bump(&r->released, k);
    /* Time to spare before the next release: read as many records ahead as fit in it.
       Not in a poll that released any: what it released is sent only once it returns. */
    if (k == 0 && r->head != r->tail)
        replay_top_up(r, now);
    if (r->head == r->tail && r->loop_taken == r->info.packets && r->pacer.loop + 1 >= r->loops)
        __atomic_store_n(&r->done, 1, __ATOMIC_RELAXED);
    return k;
}
