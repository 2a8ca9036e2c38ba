/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The record side of a run (pipeline.h): feed handlers under supervisors, the mux,
 * the outputs, their writers, and the latency recorder the mux calls (latency.h).
 *
 * Shutdown is by closing, as on the RX side: RX closes a feed's input channels; the
 * feed handler drains them, flushes (held packets in order, open gaps final) and
 * closes its output; the mux ends when every feed's output is closed and drained,
 * and closes the writers' rings and the shm ring; the writers end when their ring
 * is closed and drained. Nothing is dropped on the way out.
 *
 * Every coroutine here runs under one context (pipe_t.ctx). When a stop's drain does
 * not finish in time, run.c cancels it (pipe_cancel): handlers drop what they hold,
 * the mux and the writers stop; what was left is counted afterwards (pipe_collect)
 * as unfinished (docs/outputs.md, "Accounting").
 */
#include "pipeline.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "mdmux_sub.h" /* MDMUX_SHM_PATH_DEFAULT */

_Static_assert((int)CFG_FAULT_PANIC == (int)FEED_FAULT_PANIC &&
                   (int)CFG_FAULT_STALL == (int)FEED_FAULT_STALL &&
                   (int)CFG_FAULT_SLOW == (int)FEED_FAULT_SLOW,
               "config.h's fault kinds are lib/feed's");

/* Records in flight from one feed to the mux (its output channel). */
#define OUT_SLOTS 256u
/* Records per pool beyond the output channels: thread caches and bursts. */
#define POOL_SLACK 4096u
/* Objects per thread cache of a record pool (lib/pool's largest; build_pools()). */
#define REC_POOL_CACHE 512u
/* Stack of the writer coroutines: stdio and JSON formatting. */
#define WRITER_STACK (256u * 1024u)
/* TX mbufs for the multicast output. */
#define TX_MBUFS 4095u

static unsigned socket_of(unsigned lcore)
{
    int s = (int)rte_lcore_to_socket_id(lcore);
    return s < 0 ? 0 : (unsigned)s;
}

int pipe_init(pipe_t *p, const cfg_t *cfg, const app_opts_t *o)
{
    p->cfg = cfg;
    p->o = o;
    p->tx_port = -1;
    p->retx.port = -1;
    p->rec_lcore = -1;
    p->feeds = calloc(cfg->nfeeds, sizeof(*p->feeds));
    return p->feeds ? 0 : -1;
}

int pipe_feed_in(pipe_t *p, unsigned f, unsigned line, chs_t *ch)
{
    feed_conf_t *c = &p->feeds[f].conf;
    if (c->n_in[line] == FEED_IN_MAX) {
        fprintf(stderr, "mdmux: feed %s: more than %d RX lcores\n", p->cfg->feeds[f].name,
                FEED_IN_MAX);
        return -1;
    }
    c->in[line][c->n_in[line]++] = ch;
    return 0;
}

/* ------------------------------------------------------------------------------ */
/* Coroutines                                                                     */
/* ------------------------------------------------------------------------------ */

/* The supervisor gave up on a feed: close its output (so the mux can end) and free
   whatever RX still sends it, counted per line, until RX closes the inputs. */
static void drain_after_giveup(pipe_feed_t *pf)
{
    ch_case_t cases[FEED_LINES * FEED_IN_MAX];
    unsigned line_of[FEED_LINES * FEED_IN_MAX];
    struct rte_mbuf *burst[32];
    int n = 0;

    fprintf(stderr, "mdmux: feed %s: handler gave up after %u restarts (%s): dropping its input\n",
            pf->conf.name, pf->sv.restarts, pf->sv.last_panic);
    /* what the last run held in hand (its packet, the rest of its burst) */
    feed_abandon(pf->feed, pf->after_giveup);
    if (pf->conf.out_local)
        ch_close(pf->conf.out_local);
    else
        chs_close(pf->conf.out_spsc);
    for (unsigned l = 0; l < FEED_LINES; l++) {
        for (unsigned i = 0; i < pf->conf.n_in[l]; i++) {
            cases[n] = (ch_case_t){.op = CH_RECV, .spsc = pf->conf.in[l][i], .elem = &burst[0]};
            line_of[n++] = l;
        }
    }
    while (n > 0) {
        int k = ch_select(cases, n, 0, UINT64_MAX, pf->p->ctx);
        if (k < 0)
            break;
        if (cases[k].result == EPIPE) {
            n--;
            cases[k] = cases[n];
            line_of[k] = line_of[n];
            continue;
        }
        unsigned got = 1 + chs_recv_burst(cases[k].spsc, &burst[1], 31);
        pf->after_giveup[line_of[k]] += got;
        rte_pktmbuf_free_bulk(burst, got);
    }
}

/* The supervisor's child: the feed handler, logging each restart with its backoff. */
static void feed_child(void *arg)
{
    pipe_feed_t *pf = arg;
    if (pf->sv.restarts > 0)
        fprintf(stderr, "mdmux: feed %s: handler restart %u after %.3f ms backoff (panic: %s)\n",
                pf->conf.name, pf->sv.restarts, (double)pf->sv.backoff_ns / 1e6, pf->sv.last_panic);
    feed_main(pf->feed);
}

/*
 * One feed: its handler under a supervisor that restarts it after a panic, with
 * exponential backoff under a restart budget (feed_defaults.restart); past the budget
 * the feed is given up (drain_after_giveup).
 */
static void feed_runner(void *arg)
{
    pipe_feed_t *pf = arg;
    const cfg_restart_t *rs = &pf->p->cfg->restart;
    co_wg_t wg;
    co_wg_init(&wg);
    co_supervisor_opts_t so = {
        .fn = feed_child,
        .arg = pf,
        .child = {.name = pf->conf.name, .kind = "feed", .ctx = pf->p->ctx},
        .policy = CO_RESTART_ON_PANIC,
        .backoff_min_ns = rs->backoff_ns,
        .backoff_max_ns = rs->backoff_max_ns,
        .budget = rs->max_restarts,
        .window_ns = rs->window_ns,
    };
    if (co_supervise(&pf->sv, &so, &wg) != 0)
        pf->sv.state = CO_SV_GAVE_UP;
    else
        co_wg_wait(&wg, CO_BACKGROUND);
    if (pf->sv.state == CO_SV_GAVE_UP)
        drain_after_giveup(pf);
    if (pf->conf.faults != NULL)
        fprintf(stderr, "mdmux: feed %s: injected fault %s fired %llu times\n", pf->conf.name,
                feed_fault_kind_name(pf->fault.spec.kind),
                (unsigned long long)__atomic_load_n(&pf->fault.fired, __ATOMIC_RELAXED));
    pipe_mark_end(pf->p);
    atomic_fetch_add_explicit(&pf->p->feeds_done, 1, memory_order_release);
}

static void mux_runner(void *arg)
{
    pipe_t *p = arg;
    mux_main(p->mux);
    lat_forward_close(p->latency); /* after its last lat_forward() */
    pipe_mark_end(p);
    atomic_store_explicit(&p->mux_done, true, memory_order_release);
}

/* The latency recorder off the mux's lcore (latency.h, lat_conf_t.forward). */
static void recorder_runner(void *arg)
{
    pipe_t *p = arg;
    lat_recorder_main(p->latency);
    pipe_mark_end(p);
    atomic_store_explicit(&p->rec_done, true, memory_order_release);
}

static void writer_runner(void *arg)
{
    mux_writer_t *w = arg;
    mux_writer_main(w);
}

/* Spawn @p fn(@p arg) named @p name; false (reported) when it cannot be. */
static bool spawn(co_fn_t fn, void *arg, const char *name, const char *kind, size_t stack)
{
    co_opts_t o = {.name = name, .kind = kind, .stack_size = stack};
    if (co_spawn(fn, arg, &o) != NULL)
        return true;
    fprintf(stderr, "mdmux: cannot start %s: %s\n", name, strerror(errno));
    return false;
}

bool pipe_spawn(pipe_t *p, unsigned lcore, bool is_control)
{
    bool ok = true;
    for (unsigned i = 0; i < p->cfg->nfeeds; i++)
        if (p->cfg->feeds[i].handler == lcore)
            ok &= spawn(feed_runner, &p->feeds[i], p->cfg->feeds[i].name, "feed-runner", 0);
    if (lcore == p->mux_lcore)
        ok &= spawn(mux_runner, p, "mux", "mux", 0);
    if (p->rec_lcore >= 0 && lcore == (unsigned)p->rec_lcore &&
        !spawn(recorder_runner, p, "latency-recorder", "recorder", 0)) {
        lat_recorder_gone(p->latency);
        atomic_store(&p->rec_done, true);
        ok = false;
    }
    ok &= retx_spawn(p, lcore);
    if (!is_control || !ok)
        return ok;
    /* a writer that did not start is not waited for (pipe_done) */
    p->dump_started = p->dump && spawn(writer_runner, p->dump, "dump", "writer", WRITER_STACK);
    p->pcap_started = p->pcap && spawn(writer_runner, p->pcap, "pcap", "writer", WRITER_STACK);
    return (!p->dump || p->dump_started) && (!p->pcap || p->pcap_started);
}

void pipe_mark_end(pipe_t *p)
{
    uint64_t now = co_now_ns(), seen = atomic_load_explicit(&p->end_ns, memory_order_relaxed);
    while (seen < now && !atomic_compare_exchange_weak_explicit(
                             &p->end_ns, &seen, now, memory_order_relaxed, memory_order_relaxed))
        ;
}

uint64_t pipe_end_ns(pipe_t *p)
{
    if (p->dump_started || p->pcap_started)
        return 0;
    return atomic_load_explicit(&p->end_ns, memory_order_relaxed);
}

bool pipe_done(pipe_t *p)
{
    if (atomic_load_explicit(&p->feeds_done, memory_order_acquire) < p->cfg->nfeeds ||
        !atomic_load_explicit(&p->mux_done, memory_order_acquire))
        return false;
    if ((p->dump_started && !mux_writer_done(p->dump)) ||
        (p->pcap_started && !mux_writer_done(p->pcap)))
        return false;
    if (p->retx.on && !atomic_load_explicit(&p->retx.done, memory_order_acquire))
        return false;
    if (p->rec_lcore >= 0 && !atomic_load_explicit(&p->rec_done, memory_order_acquire))
        return false;
    return true;
}

void pipe_fail_lcore(pipe_t *p, unsigned lcore)
{
    for (unsigned i = 0; i < p->cfg->nfeeds; i++) {
        if (p->cfg->feeds[i].handler != lcore)
            continue;
        pipe_feed_t *pf = &p->feeds[i];
        if (pf->conf.out_spsc)
            chs_close(pf->conf.out_spsc); /* so a mux elsewhere does not wait for it */
        atomic_fetch_add(&p->feeds_done, 1);
    }
    if (p->retx.on && lcore == p->retx.lcore)
        atomic_store(&p->retx.done, true);
    if (p->rec_lcore >= 0 && lcore == (unsigned)p->rec_lcore) {
        lat_recorder_gone(p->latency); /* the mux must not wait for it */
        atomic_store(&p->rec_done, true);
    }
    if (lcore == p->mux_lcore) {
        lat_forward_close(p->latency); /* so a recorder elsewhere ends */
        /* the writers wait for the mux to close their rings */
        if (p->dump)
            mux_writer_close(p->dump);
        if (p->pcap)
            mux_writer_close(p->pcap);
        if (p->shm)
            mux_shm_close(p->shm);
        atomic_store(&p->mux_done, true);
    }
}

/* ------------------------------------------------------------------------------ */
/* Building                                                                       */
/* ------------------------------------------------------------------------------ */

/* One record pool per handler lcore, sized for its feeds' output channels. */
static int build_pools(pipe_t *p)
{
    const cfg_t *c = p->cfg;
    for (unsigned h = 0; h < c->nhandlers; h++) {
        unsigned id = c->handlers[h], nf = 0;
        for (unsigned i = 0; i < c->nfeeds; i++)
            nf += c->feeds[i].handler == id;
        if (nf == 0)
            continue;
        char name[32];
        snprintf(name, sizeof(name), "records-lcore%u", id);
        /* The largest thread cache: the lcore's feeds take records 16 at a time into
           their stashes and the mux gives them back a burst at a time, so with tens of
           feeds a 64-object cache ran dry and overflowed every few packets, each time
           through the shared store (a CAS per object: ~60 instructions a packet in
           bench_handler). Up to 2 x 512 records may sit in a thread's cache: the
           pool's slack covers them. */
        pool_opts_t po = {.name = name,
                          .elem_size = sizeof(md_rec_t),
                          .count = (size_t)nf * (OUT_SLOTS + 64) + POOL_SLACK,
                          .cache_size = REC_POOL_CACHE,
                          .numa_node = (int)socket_of(id)};
        p->pools[id] = pool_new(&po);
        if (p->pools[id] == NULL) {
            fprintf(stderr, "mdmux: cannot create the record pool of lcore %u: %s\n", id,
                    strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Feed @p i's handler and its output channel: local when the mux shares its lcore. */
static int build_feed(pipe_t *p, unsigned i)
{
    const cfg_feed_t *cf = &p->cfg->feeds[i];
    pipe_feed_t *pf = &p->feeds[i];
    feed_conf_t *fc = &pf->conf;
    fc->id = (uint16_t)i;
    fc->name = cf->name;
    fc->numa_node = (int)socket_of(cf->handler);
    fc->rec_pool = p->pools[cf->handler];
    fc->gap_wait_ns = cf->arb.gap_wait_ns;
    fc->window = cf->arb.window;
    fc->line_timeout_ns = cf->arb.line_timeout_ns;
    fc->first_seq = cf->arb.sync_first ? FEED_SYNC_FIRST : 0;
    if (cf->handler == p->mux_lcore)
        fc->out_local = ch_new(sizeof(md_rec_t *), OUT_SLOTS);
    else
        fc->out_spsc = chs_new(sizeof(md_rec_t *), OUT_SLOTS, (int)socket_of(p->mux_lcore));
    if (fc->out_local == NULL && fc->out_spsc == NULL) {
        fprintf(stderr, "mdmux: feed %s: cannot create its output channel\n", cf->name);
        return -1;
    }
    pf->p = p;
    pf->index = i;
    for (unsigned k = 0; k < p->cfg->nfaults; k++) {
        const cfg_fault_t *cx = &p->cfg->faults[k];
        if (cx->feed != i)
            continue;
        /* the same numbers as lib/feed's kinds (config.h) */
        feed_fault_spec_t fs = {.kind = (feed_fault_kind_t)cx->kind,
                                .after_packets = cx->after_packets,
                                .count = cx->count,
                                .stall_ns = cx->stall_ns,
                                .slow_ns = cx->slow_ns};
        if (feed_fault_init(&pf->fault, &fs, cf->name) == 0) {
            fc->faults = &pf->fault;
            fprintf(stderr, "mdmux: feed %s: injecting %s after %llu packets (tests only)\n",
                    cf->name, feed_fault_kind_name(fs.kind), (unsigned long long)cx->after_packets);
        }
    }
    pf->feed = feed_new(fc);
    if (pf->feed == NULL) {
        fprintf(stderr, "mdmux: feed %s: cannot create its handler: %s\n", cf->name,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* The shm ring: on by default for run; replay has none unless outputs.shm or --shm
   asks for one (latency is recorded by the mux itself, latency.h). */
static int build_shm(pipe_t *p)
{
    const cfg_shm_t *s = &p->cfg->outputs.shm;
    char err[512];
    mux_shm_conf_t sc = {.mode = s->mode,
                         .slots = s->slots,
                         .keep_file = true,
                         .set_group = s->has_gid,
                         .gid = s->gid};
    if (s->set && !s->enabled && p->o->shm == NULL)
        return 0;
    if (p->o->shm)
        sc.path = p->o->shm;
    else if (s->set || p->o->cmd == APP_RUN)
        sc.path = s->path ? s->path : MDMUX_SHM_PATH_DEFAULT;
    else
        return 0;
    sc.feed_names = p->names;
    sc.n_feed_names = p->cfg->nfeeds;
    p->shm = mux_shm_new(&sc, err, sizeof(err));
    if (p->shm == NULL) {
        fprintf(stderr, "mdmux: shm ring: %s\n", err);
        return -1;
    }
    return 0;
}

static mux_writer_t *writer(pipe_t *p, mux_writer_kind_t kind, const char *path)
{
    char err[512];
    mux_writer_conf_t wc = {.kind = kind,
                            .path = path,
                            .policy = MUX_POLICY_BLOCK, /* lossless: the mux waits (counted) */
                            .numa_node = (int)socket_of(p->mux_lcore),
                            .feed_names = p->names,
                            .n_feed_names = p->cfg->nfeeds,
                            .snaplen = (uint16_t)(p->udp.mtu + 18),
                            .stall = kind == MUX_WRITER_JSONL && p->o->has_stall_dump,
                            .stall_after = p->o->stall_dump_after};
    mux_writer_t *w = mux_writer_new(&wc, err, sizeof(err));
    if (w == NULL)
        fprintf(stderr, "mdmux: %s\n", err);
    else
        mux_writer_set_ctx(w, p->ctx);
    return w;
}

/* Datagram settings, the TX device and its mbuf pool (outputs.multicast / pcap). */
static int build_udp(pipe_t *p)
{
    const cfg_mcast_t *m = &p->cfg->outputs.mcast;
    p->tx_port = -1;
    if (!m->enabled && p->cfg->outputs.pcap == NULL)
        return 0;
    p->udp_on = true;
    static const uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
    memcpy(p->udp.src_mac, src_mac, 6);
    /* without multicast: the pcap still shows datagrams to the default group */
    p->udp.group_be = m->enabled ? m->group_be : htonl(0xefff0001); /* 239.255.0.1 */
    p->udp.dst_port_be = htons(m->enabled ? m->port : 5000);
    p->udp.src_ip_be = m->enabled ? m->src_be : htonl(0x0a000002);
    p->udp.src_port_be = htons(m->enabled ? m->src_port : 5000);
    p->udp.mtu = (uint16_t)m->mtu;
    p->udp.ttl = (uint8_t)m->ttl;
    if (!m->enabled)
        return 0;
    char err[512];
    io_port_conf_t pc = {.name = "multicast",
                         .device = m->device,
                         .rx_queues = 1,
                         .tx_queues = 1,
                         .rx_socket = (int)socket_of(p->mux_lcore),
                         .no_hw_timestamp = true};
    p->tx_port = io_port_open(&pc, err, sizeof(err));
    if (p->tx_port < 0) {
        fprintf(stderr, "mdmux: outputs.multicast.device %s: %s\n", m->device, err);
        return -1;
    }
    p->tx_pool = rte_pktmbuf_pool_create("mdmux_tx", TX_MBUFS, 256, 0,
                                         (uint16_t)(RTE_PKTMBUF_HEADROOM + m->mtu + 64),
                                         (int)socket_of(p->mux_lcore));
    if (p->tx_pool == NULL ||
        (p->tx = mux_tx_new((uint16_t)p->tx_port, 0, p->tx_pool, err, sizeof(err))) == NULL) {
        fprintf(stderr, "mdmux: multicast output: %s\n", p->tx_pool ? err : "no mbuf pool");
        return -1;
    }
    return 0;
}

static int build_outputs(pipe_t *p)
{
    const cfg_t *c = p->cfg;
    if (build_shm(p) < 0 || build_udp(p) < 0)
        return -1;
    p->dump_path = p->o->dump ? p->o->dump : c->outputs.dump;
    if (p->dump_path && (p->dump = writer(p, MUX_WRITER_JSONL, p->dump_path)) == NULL)
        return -1;
    p->pcap_path = c->outputs.pcap;
    if (p->pcap_path && (p->pcap = writer(p, MUX_WRITER_PCAP, p->pcap_path)) == NULL)
        return -1;
    return 0;
}

static int build_mux(pipe_t *p)
{
    const cfg_t *c = p->cfg;
    mux_input_t *in = calloc(c->nfeeds, sizeof(*in));
    if (in == NULL)
        return -1;
    for (unsigned i = 0; i < c->nfeeds; i++)
        in[i] = (mux_input_t){.local = p->feeds[i].conf.out_local,
                              .spsc = p->feeds[i].conf.out_spsc,
                              .pool = p->feeds[i].conf.rec_pool,
                              .name = c->feeds[i].name};
    mux_conf_t mc = {.inputs = in,
                     .n_inputs = c->nfeeds,
                     .shm = p->shm,
                     .udp = p->udp_on ? &p->udp : NULL,
                     .pcap = p->pcap,
                     .dump = p->dump,
                     .ctx = p->ctx,
                     .observe = p->rec_lcore >= 0 ? lat_forward : lat_observe,
                     .observe_arg = p->latency};
    if (p->tx)
        mc.tx = mux_tx_sink(p->tx);
    p->mux = mux_new(&mc);
    free(in);
    if (p->mux == NULL) {
        fprintf(stderr, "mdmux: cannot create the mux: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

int pipe_build(pipe_t *p)
{
    const cfg_t *c = p->cfg;
    p->mux_lcore = c->handlers[0];
    p->names = calloc(c->nfeeds, sizeof(*p->names));
    if (p->names == NULL)
        return -1;
    for (unsigned i = 0; i < c->nfeeds; i++)
        p->names[i] = c->feeds[i].name;
    if ((p->ctx = co_ctx_with_cancel(CO_BACKGROUND)) == NULL)
        return -1;
    if (build_pools(p) < 0 || retx_build(p) < 0)
        return -1;
    for (unsigned i = 0; i < c->nfeeds; i++)
        if (build_feed(p, i) < 0)
            return -1;
    /* intended_to_publish only under paced replay: at --speed max (and live) the
       intended time is the release (or RX) time, so it would repeat rx_to_publish */
    lat_conf_t lc = {.nfeeds = c->nfeeds,
                     .names = p->names,
                     .intended = p->o->cmd == APP_REPLAY && c->replay.pace != CFG_PACE_MAX,
                     .interval_ms = c->latency.interval_ms,
                     .series_points = c->latency.series_points,
                     .forward = p->rec_lcore >= 0,
                     .forward_node =
                         p->rec_lcore >= 0 ? (int)socket_of((unsigned)p->rec_lcore) : -1,
                     .recorder_lcore = p->rec_lcore,
                     .ctx = p->ctx};
    if ((p->latency = lat_new(&lc)) == NULL)
        return -1;
    return build_outputs(p) == 0 && build_mux(p) == 0 ? 0 : -1;
}

/* A pool with records missing (a handler panicked holding some) is left allocated:
   pool_free() would abort, and the process is about to exit anyway. */
static void free_pool(pool_t *pl)
{
    pool_stats_t st;
    pool_stats(pl, &st);
    if (st.gets == st.puts)
        pool_free(pl);
    else
        fprintf(stderr, "mdmux: record pool: %lu records not returned\n",
                (unsigned long)(st.gets - st.puts));
}

/* ------------------------------------------------------------------------------ */
/* Shutdown                                                                       */
/* ------------------------------------------------------------------------------ */

static uint64_t discarded_of(const pipe_feed_t *pf)
{
    feed_stats_t st;
    uint64_t n = 0;
    feed_stats(pf->feed, &st);
    for (unsigned l = 0; l < FEED_LINES; l++)
        n += st.line[l].discarded;
    return n;
}

void pipe_cancel(pipe_t *p)
{
    if (p->ctx == NULL || atomic_exchange(&p->cancelled, true))
        return;
    for (unsigned i = 0; i < p->cfg->nfeeds; i++)
        if (p->feeds[i].feed)
            p->feeds[i].discarded_at_cancel = discarded_of(&p->feeds[i]);
    co_ctx_cancel(p->ctx);
}

void pipe_depth(const pipe_t *p, bool on_mux_lcore, pipe_depth_t *d)
{
    *d = (pipe_depth_t){0};
    for (unsigned i = 0; i < p->cfg->nfeeds; i++) {
        const feed_conf_t *c = &p->feeds[i].conf;
        for (unsigned l = 0; l < FEED_LINES; l++)
            for (unsigned k = 0; k < c->n_in[l]; k++)
                d->packets += chs_len(c->in[l][k]);
        if (c->out_spsc)
            d->records += chs_len(c->out_spsc);
        else if (c->out_local && on_mux_lcore)
            d->records += ch_len(c->out_local);
    }
    if (p->dump)
        d->writers += mux_writer_pending(p->dump);
    if (p->pcap)
        d->writers += mux_writer_pending(p->pcap);
}

void pipe_collect(pipe_t *p, unsigned lcore)
{
    struct rte_mbuf *m[32];
    md_rec_t *r[32];
    for (unsigned i = 0; p->feeds && i < p->cfg->nfeeds; i++) {
        pipe_feed_t *pf = &p->feeds[i];
        feed_conf_t *c = &pf->conf;
        for (unsigned l = 0; l < FEED_LINES && p->cfg->feeds[i].handler == lcore; l++) {
            for (unsigned k = 0; k < c->n_in[l]; k++) {
                unsigned n;
                while ((n = chs_recv_burst(c->in[l][k], m, 32)) > 0) {
                    pf->queued[l] += n;
                    rte_pktmbuf_free_bulk(m, n);
                }
            }
        }
        if (lcore != p->mux_lcore)
            continue;
        if (c->out_spsc) {
            unsigned n;
            while ((n = chs_recv_burst(c->out_spsc, r, 32)) > 0) {
                pf->out_queued += n;
                pool_put_burst(c->rec_pool, (void *const *)r, n);
            }
        } else if (c->out_local) {
            while (ch_tryrecv(c->out_local, &r[0]) == 0) {
                pf->out_queued++;
                pool_put(c->rec_pool, r[0]);
            }
        }
    }
}

void pipe_free(pipe_t *p)
{
    mux_free(p->mux);
    lat_free(p->latency);
    for (unsigned i = 0; p->feeds && i < p->cfg->nfeeds; i++) {
        pipe_feed_t *pf = &p->feeds[i];
        feed_free(pf->feed);
        if (pf->conf.out_local)
            ch_free(pf->conf.out_local);
        if (pf->conf.out_spsc)
            chs_free(pf->conf.out_spsc);
    }
    retx_free(p);
    mux_writer_free(p->dump);
    mux_writer_free(p->pcap);
    mux_shm_free(p->shm);
    mux_tx_free(p->tx);
    if (p->tx_port >= 0)
        io_port_close((uint16_t)p->tx_port);
    rte_mempool_free(p->tx_pool);
    for (unsigned i = 0; i < CFG_MAX_LCORES; i++)
        if (p->pools[i])
            free_pool(p->pools[i]);
    free(p->names);
    free(p->feeds);
    co_ctx_free(p->ctx);
    p->ctx = NULL;
}
