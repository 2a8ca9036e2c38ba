/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tools/bench/bench_io: lib/io's RX path against a bare DPDK loop, same vdev, same
 * capture, same run.
 *
 *   io.rx.mpps          io_rx_poll: rx_burst(32) + TSC stamp + classify + metadata +
 *                       per-line counters + grouped chs_send_burst into 100 SPSC channels
 *                       (50 feeds x A/B, as app/run.c wires them), and every 8 polls (-d)
 *                       the same core drains the channels and frees the mbufs in place.
 *                       One core does everything the anchor does and more, so the two
 *                       compare cycle for cycle. The drain is the stand-in for the feed
 *                       handlers, needed so the channels do not fill: a fair consumer
 *                       (every channel, same order, each emptied) that frees in bulks of
 *                       64 or more as the anchor frees its bursts; its channel_full count
 *                       is printed and must be 0.
 *   io.rx.mpps.ingress  (-t ingress) the same with every line in one 4096-slot ring, as
 *                       a handler lcore's ingress ring would be: one chs_send_burst per
 *                       burst instead of one per line hit (up to 32), and a one-ring
 *                       drain. Not the deployment's shape; it measures what the per-line
 *                       channels cost the RX core (docs/benchmarks.md).
 *   io.rx.mpps.xcore    the same RX path with a consumer on a second lcore draining and
 *                       freeing (the deployment's shape). On a 2-vCPU VM this measures
 *                       the consumer and cross-core mbuf recycling (the freed mbufs go
 *                       back through the mempool's shared ring) more than the RX path;
 *                       channel-full drops are printed. Needs two lcores.
 *   io.rx.mpps.bare     anchor: rte_eth_rx_burst(32) + rte_pktmbuf_free_bulk
 *   io.rx.mpps.bare.xcore  the anchor's loop split over two lcores: rte_eth_rx_burst(32)
 *                       into an rte_ring SP/SC (4096), a consumer lcore dequeues and
 *                       frees (no classify, no metadata, no lib/chan). Packets/s that
 *                       reach the consumer: the ceiling of any pipeline whose RX and
 *                       consumer are different lcores on this machine (what the ring
 *                       cannot take is freed on the RX lcore, counted and printed, and
 *                       not counted here). Prefetching the mbufs before the consumer's
 *                       free did not raise it. Needs two lcores.
 *
 * Port: net_pcap with infinite_rx=1 over a capture synthesised here: 50 feeds x 2
 * lines of MoldUDP64-sized UDP frames (20-byte header + 3 ITCH-sized messages),
 * round-robin, 802.1Q-tagged like the conformance captures. Repetitions alternate
 * bare / io / inplace; the median of each is reported. Timings are noisy while other
 * work runs on the machine.
 *
 * Usage: bench_io [-r REPS] [-n PACKETS_PER_REP] [-f FRAMES_IN_FILE] [-l LCORES] [-m MODE] [-B]
 *                 [-g RUN] [-d POLLS] [-t ingress|lines]
 *   -t TOPOLOGY         lines (default): one channel per line; ingress: one for all
 *   -B                  no doorbell: by default the channels share one (chs_bell_t), as
 *                       app/run.c gives a handler lcore's lines, so RX rings it once a
 *                       burst (one atomic OR) as it does in mdmux
 *   -d POLLS            in-place drain every POLLS polls (default 8; 1 .. 32, so at most
 *                       1024 packets wait in 256-slot channels). 1 .. 8 run at the same
 *                       rate; from 16 the mbufs in flight overflow the mempool's lcore
 *                       cache (256) and the rate halves, though fewer instructions run.
 *   -g RUN              RUN consecutive frames per line (default 1, the worst case for
 *                       the per-burst grouping); RUN > 1 reports io.rx.mpps.runs* instead
 *   -m bare|io|xcore    run one figure only (for `perf stat -e cycles:u,instructions:u`,
 *                       which a busy machine disturbs far less than wall time)
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdatomic.h>

#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include "bench.h"
#include "io.h"

#define FEEDS   50
#define LINES   (FEEDS * 2)
#define MAXREPS 64

static chs_t *chans_x[LINES];   /* drained by the consumer lcore */
static chs_t *chans_i[LINES];   /* drained in place by the RX core */
static unsigned nchans = LINES; /* channels in each: LINES (-t lines) or 1 (-t ingress) */
/* One handler lcore's ingress ring: room for 8 polls of 32 (-d) and then some. */
#define INGRESS_SLOTS 4096
static atomic_int consumer_run;
static atomic_ulong consumed;
static unsigned drain_every = 8; /* -d */
static bool with_bells = true;   /* -B: false */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t csum(const uint8_t *h, unsigned len)
{
    uint32_t s = 0;
    for (unsigned i = 0; i < len; i += 2)
        s += (uint32_t)(h[i] << 8 | h[i + 1]);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* One VLAN-tagged MoldUDP64 frame of line @l (feed l/2, A or B); returns its length. */
static unsigned frame(uint8_t *f, unsigned l, uint64_t seq)
{
    unsigned feed = l / 2, b = l % 2, payload = 20 + 3 * (2 + 36);
    memset(f, 0, 64);
    uint32_t group = (b ? 0xef650000u : 0xef640000u) + feed + 1;
    f[0] = 0x01, f[2] = 0x5e, f[3] = (uint8_t)(group >> 16 & 0x7f), f[4] = (uint8_t)(group >> 8),
    f[5] = (uint8_t)group;
    f[6] = 0x02, f[11] = (uint8_t)(0x0a + b);
    put16(f + 12, 0x8100), put16(f + 14, 100), put16(f + 16, 0x0800);
    uint8_t *ip = f + 18, *udp = ip + 20, *mold = udp + 8;
    ip[0] = 0x45, put16(ip + 2, (uint16_t)(28 + payload)), put16(ip + 6, 0x4000), ip[8] = 32,
    ip[9] = 17;
    put16(ip + 12, 0x0a00), put16(ip + 14, (uint16_t)(b << 8 | 1));
    put16(ip + 16, (uint16_t)(group >> 16)), put16(ip + 18, (uint16_t)group);
    put16(ip + 10, csum(ip, 20));
    put16(udp, (uint16_t)(40000 + feed + b * 1000)),
        put16(udp + 2, (uint16_t)(30000 + feed + b * 1000));
    put16(udp + 4, (uint16_t)(8 + payload));
    memcpy(mold, "SESSION001", 10);
    for (int i = 0; i < 8; i++)
        mold[10 + i] = (uint8_t)(seq >> (56 - 8 * i));
    put16(mold + 18, 3);
    for (unsigned m = 0; m < 3; m++) {
        put16(mold + 20 + m * 38, 36);
        mold[22 + m * 38] = 'A';
    }
    return 18 + 28 + payload;
}

/* @run consecutive frames per line (1: every frame on the next line, the worst case for
   grouping: a burst of 32 touches 32 lines). */
static void write_capture(const char *path, unsigned frames, unsigned run)
{
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        bench_die("%s: %s", path, strerror(errno));
    uint32_t hdr[6] = {0xa1b23c4du, 0x00040002u, 0, 0, 65535, 1};
    fwrite(hdr, sizeof(hdr), 1, fp);
    uint8_t f[256];
    for (unsigned i = 0; i < frames; i++) {
        unsigned len = frame(f, (i / run) % LINES, i / LINES + 1);
        uint32_t rec[4] = {1700000000u + i / 1000000, (i % 1000000) * 1000, len, len};
        fwrite(rec, sizeof(rec), 1, fp);
        fwrite(f, len, 1, fp);
    }
    if (fclose(fp) != 0)
        bench_die("%s: write failed", path);
}

/*
 * The stand-in consumer: visit every channel once, in the same order every round, and
 * take all it holds; free what it gathered in bulks of 64 or more, as the
 * anchor frees its bursts. Round-robin and complete, so no line waits behind another
 * and (with 256-slot channels and a round every 8 polls of at most 32) none fills.
 * Returns mbufs freed.
 */
static unsigned drain_all(chs_t **chans)
{
    struct rte_mbuf *m[128];
    unsigned total = 0, k = 0;
    for (unsigned l = 0; l < nchans; l++) {
        unsigned got;
        do { /* empty it (the ingress ring holds up to 8 polls of 32) */
            got = chs_recv_burst(chans[l], m + k, 64);
            k += got;
            if (k >= 64) {
                rte_pktmbuf_free_bulk(m, k);
                total += k;
                k = 0;
            }
        } while (got == 64);
    }
    if (k) {
        rte_pktmbuf_free_bulk(m, k);
        total += k;
    }
    return total;
}

/* io.rx.mpps.bare.xcore's consumer: dequeue and free, nothing else. */
static struct rte_ring *bare_ring;
static atomic_ulong bare_dropped;

static int bare_consumer(void *arg)
{
    (void)arg;
    struct rte_mbuf *m[64];
    for (;;) {
        unsigned n = rte_ring_sc_dequeue_burst(bare_ring, (void **)m, 64, NULL);
        if (n) {
            rte_pktmbuf_free_bulk(m, n);
            continue;
        }
        if (!atomic_load_explicit(&consumer_run, memory_order_acquire) &&
            rte_ring_count(bare_ring) == 0)
            return 0;
    }
}

static double run_bare_xcore(uint16_t port, uint64_t n)
{
    struct rte_mbuf *m[32];
    uint64_t got = 0, dropped = 0, t0 = co_tsc();
    while (got < n) {
        uint16_t k = rte_eth_rx_burst(port, 0, m, 32);
        unsigned sent = rte_ring_sp_enqueue_burst(bare_ring, (void **)m, k, NULL);
        if (sent < k) {
            rte_pktmbuf_free_bulk(m + sent, k - sent);
            dropped += k - sent;
        }
        got += k;
    }
    double mpps = (double)(got - dropped) / bench_ticks_ns((double)(co_tsc() - t0)) * 1e3;
    atomic_fetch_add_explicit(&bare_dropped, dropped, memory_order_relaxed);
    return mpps;
}

static int consumer(void *arg)
{
    (void)arg;
    while (atomic_load_explicit(&consumer_run, memory_order_acquire)) {
        unsigned n = drain_all(chans_x);
        if (n)
            atomic_fetch_add_explicit(&consumed, n, memory_order_relaxed);
    }
    drain_all(chans_x);
    return 0;
}

static double run_bare(uint16_t port, uint64_t n)
{
    struct rte_mbuf *m[32];
    uint64_t got = 0, t0 = co_tsc();
    while (got < n) {
        uint16_t k = rte_eth_rx_burst(port, 0, m, 32);
        rte_pktmbuf_free_bulk(m, k);
        got += k;
    }
    return (double)got / bench_ticks_ns((double)(co_tsc() - t0)) * 1e3;
}

/* io_rx_poll for @n frames; @inplace: the RX core drains the channels itself. */
static double run_io(io_rx_t *rx, uint64_t n, bool inplace)
{
    io_rx_stats_t st;
    io_rx_stats(rx, &st);
    uint64_t start = st.frames, t0 = co_tsc();
    uint64_t got = 0;
    for (unsigned polls = 1; got < n; polls++) {
        got += io_rx_poll(rx);
        if (inplace && polls % drain_every == 0) /* like a handler: batches per channel */
            drain_all(chans_i);
    }
    double mpps = (double)got / bench_ticks_ns((double)(co_tsc() - t0)) * 1e3;
    io_rx_stats(rx, &st);
    if (st.frames - start != got || st.malformed_total || st.unknown || st.other)
        bench_die("io: %" PRIu64 " frames, %" PRIu64 " malformed, %" PRIu64 " unknown",
                  st.frames - start, st.malformed_total, st.unknown);
    return mpps;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static io_rx_t *make_rx(uint16_t port, chs_t **chans, io_flow_table_t **tp)
{
    io_flow_table_t *t = io_flow_table_new(LINES, -1);
    io_rx_t *rx = io_rx_new(&(io_rx_conf_t){.flows = t, .n_feeds = FEEDS, .socket = -1});
    if (t == NULL || rx == NULL)
        bench_die("io_rx_new: %s", strerror(errno));
    for (unsigned l = 0; l < LINES; l++) {
        unsigned feed = l / 2, b = l % 2;
        uint32_t group = (b ? 0xef650000u : 0xef640000u) + feed + 1;
        if (io_flow_table_add(t, htonl(group), htons((uint16_t)(30000 + feed + b * 1000)),
                              (uint16_t)feed, (uint8_t)b) != 0)
            bench_die("flow table");
        if (l < nchans) {
            chans[l] = chs_new(sizeof(struct rte_mbuf *), nchans == 1 ? INGRESS_SLOTS : 256, -1);
            if (with_bells) { /* one doorbell per set of channels: a handler lcore's */
                static chs_bell_t *bell[2];
                int which = chans == chans_x;
                if (bell[which] == NULL && (bell[which] = chs_bell_new(-1)) == NULL)
                    bench_die("chs_bell_new");
                if (chs_bell_add(bell[which], chans[l]) != 0)
                    bench_die("chs_bell_add");
            }
        }
        io_rx_set_channel(rx, (uint16_t)feed, (uint8_t)b, chans[nchans == 1 ? 0 : l]);
    }
    io_rx_add_queue(rx, port, 0);
    *tp = t;
    return rx;
}

int main(int argc, char **argv)
{
    int reps = 5, c;
    unsigned run = 1;
    uint64_t n = 4000000, frames = 4000;
    const char *lcores = NULL, *mode = "all";
    const char *topo = "lines";
    while ((c = getopt(argc, argv, "r:n:f:l:m:g:d:t:Bh")) != -1) {
        switch (c) {
        case 'B':
            with_bells = false;
            break;
        case 't':
            topo = optarg;
            if (strcmp(topo, "ingress") != 0 && strcmp(topo, "lines") != 0)
                bench_die("-t: ingress or lines");
            nchans = strcmp(topo, "lines") == 0 ? LINES : 1;
            break;
        case 'r':
            reps = (int)bench_count(optarg);
            break;
        case 'n':
            n = bench_count(optarg);
            break;
        case 'f':
            frames = bench_count(optarg);
            break;
        case 'l':
            lcores = optarg;
            break;
        case 'g':
            run = (unsigned)bench_count(optarg);
            break;
        case 'm':
            mode = optarg;
            break;
        case 'd':
            drain_every = (unsigned)bench_count(optarg);
            if (drain_every < 1 || drain_every > 32)
                bench_die("-d: 1 .. 32 polls");
            break;
        default:
            fprintf(stderr, "usage: bench_io [-r REPS] [-n PACKETS] [-f FRAMES] [-l LCORES] [-m "
                            "MODE] [-g RUN] [-d POLLS] [-t ingress|lines]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (reps > MAXREPS)
        reps = MAXREPS;
    char path[64], prefix[64], dev[160], err[512];
    snprintf(path, sizeof(path), "/tmp/mdmux_bench_io_%d.pcap", (int)getpid());
    snprintf(prefix, sizeof(prefix), "mdmux_bench_io%d", (int)getpid());
    write_capture(path, (unsigned)frames, run);
    io_eal_opts_t eo = {
        .prog = "bench_io", .lcores = lcores, .file_prefix = prefix, .log_level = "*:error"};
    if (io_eal_init(&eo, err, sizeof(err)) != 0)
        bench_die("%s", err);
    snprintf(dev, sizeof(dev), "net_pcap_bench0,rx_pcap=%s,infinite_rx=1", path);
    io_port_conf_t pc = {.name = "bench",
                         .device = dev,
                         .rx_socket = (int)rte_socket_id(),
                         .pool_mbufs = (unsigned)frames + 2 * LINES * 256 + 8192};
    int port = io_port_open(&pc, err, sizeof(err));
    if (port < 0)
        bench_die("%s", err);
    io_flow_table_t *t, *ti;
    io_rx_t *rx = make_rx((uint16_t)port, chans_x, &t);
    io_rx_t *rxi = make_rx((uint16_t)port, chans_i, &ti);
    unsigned worker = rte_get_next_lcore(rte_lcore_id(), 1, 0);
    bool two = worker < RTE_MAX_LCORE;
    fprintf(stderr, "bench_io: %" PRIu64 " frames in %s, %" PRIu64 " packets x %d reps%s\n", frames,
            path, n, reps, two ? "" : " (one lcore: no io.rx.mpps.xcore)");
    double bare[MAXREPS] = {0}, io[MAXREPS] = {0}, inpl[MAXREPS] = {0}, bx[MAXREPS] = {0};
    bool all = strcmp(mode, "all") == 0, do_bare = all || strcmp(mode, "bare") == 0,
         do_x = two && (all || strcmp(mode, "xcore") == 0),
         do_inpl = all || strcmp(mode, "io") == 0;
    /* bare and in-place alternate, the second core idle; then the cross-core runs */
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        uint64_t k = r < 0 ? n / 4 : n;
        double v;
        if (do_bare && (v = run_bare((uint16_t)port, k)) && r >= 0)
            bare[r] = v;
        if (do_inpl && (v = run_io(rxi, k, true)) && r >= 0)
            inpl[r] = v;
    }
    if (do_x) {
        atomic_store(&consumer_run, 1);
        rte_eal_remote_launch(consumer, NULL, worker);
        for (int r = -1; r < reps; r++) {
            double v = run_io(rx, r < 0 ? n / 4 : n, false);
            if (r >= 0)
                io[r] = v;
        }
        atomic_store_explicit(&consumer_run, 0, memory_order_release);
        rte_eal_wait_lcore(worker);
        io_line_stats_t ls;
        uint64_t full = 0;
        for (unsigned l = 0; l < LINES; l++) {
            io_rx_line_stats(rx, (uint16_t)(l / 2), (uint8_t)(l % 2), &ls);
            full += ls.channel_full;
        }
        fprintf(stderr, "bench_io: xcore: %" PRIu64 " channel_full drops (consumer behind)\n",
                full);
        /* the anchor's loop across the same two lcores, alternated as above */
        bare_ring = rte_ring_create("bench_bare_x", 4096, (int)rte_socket_id(),
                                    RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (bare_ring == NULL)
            bench_die("rte_ring_create: %s", rte_strerror(rte_errno));
        atomic_store(&consumer_run, 1);
        rte_eal_remote_launch(bare_consumer, NULL, worker);
        for (int r = -1; r < reps; r++) {
            double v = run_bare_xcore((uint16_t)port, r < 0 ? n / 4 : n);
            if (r >= 0)
                bx[r] = v;
        }
        atomic_store_explicit(&consumer_run, 0, memory_order_release);
        rte_eal_wait_lcore(worker);
        fprintf(stderr, "bench_io: bare xcore: %lu freed on the RX lcore (ring full)\n",
                (unsigned long)atomic_load(&bare_dropped));
        rte_ring_free(bare_ring);
    }
    if (do_inpl) {
        io_line_stats_t ls;
        uint64_t full = 0;
        for (unsigned l = 0; l < LINES; l++) {
            io_rx_line_stats(rxi, (uint16_t)(l / 2), (uint8_t)(l % 2), &ls);
            full += ls.channel_full;
        }
        fprintf(stderr, "bench_io: in place (drain every %u polls): %" PRIu64 " channel_full\n",
                drain_every, full);
    }
    /* the per-line topology (-t lines) reports under its own names */
    char name[64];
    const char *base = run > 1 ? "io.rx.mpps.runs" : "io.rx.mpps";
    const char *sfx = nchans == 1 ? ".ingress" : "";
    if (do_inpl) {
        snprintf(name, sizeof(name), "%s%s", base, sfx);
        bench_report(name, median(inpl, reps), "Mpps");
    }
    if (do_x) {
        snprintf(name, sizeof(name), "%s%s.xcore", base, sfx);
        bench_report(name, median(io, reps), "Mpps");
    }
    if (do_x && run == 1)
        bench_report("io.rx.mpps.bare.xcore", median(bx, reps), "Mpps");
    if (do_bare)
        bench_report(run > 1 ? "io.rx.mpps.runs.bare" : "io.rx.mpps.bare", median(bare, reps),
                     "Mpps");
    drain_all(chans_i);
    io_rx_free(rx);
    io_rx_free(rxi);
    for (unsigned l = 0; l < nchans; l++) {
        chs_free(chans_x[l]);
        chs_free(chans_i[l]);
    }
    io_flow_table_free(t);
    io_flow_table_free(ti);
    io_port_close((uint16_t)port);
    io_eal_cleanup();
    unlink(path);
    return 0;
}
