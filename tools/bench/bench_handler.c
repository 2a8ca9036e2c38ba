/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_handler: the handler lcore on its own, deterministic, for callgrind.
 *
 *   bench_handler [-k PKTS] [-n MAX] [-s SHM] [-B] CAPTURE.pcap
 *
 * Builds what mdmux puts on a handler lcore for a capture written by mdmux-gen (one
 * feed per A port 30000+i / B port 31000+i, as its configuration says): a line
 * channel per (feed, line) on the lcore's doorbell (-B: none, the watch list polls
 * every line, as before the doorbells), the feed handlers, the mux with the latency recorder
 * (app/latency.c, the real one) and, with -s, the shm ring. A producer coroutine on
 * the same scheduler plays RX: it copies each UDP frame of the capture into an mbuf,
 * stamps it, sends it to its line's channel, and after every -k packets sleeps, so
 * that the handlers see -k packets per scheduler round (default 1: the paced regime,
 * where each packet wakes its feed and the mux on its own; -k 32 or more: the batched
 * regime of --speed max). Everything runs on one thread, so under callgrind the
 * instruction counts per function depend only on the capture and -k:
 *
 *   valgrind --tool=callgrind bench_handler -k 1 -n 50000 cap.pcap
 *
 * and divide each function's self cost by the packet count it prints (subtract a
 * second run with a different -n to cancel set-up). Timing means nothing here.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_mbuf.h>

#include "chan.h"
#include "co.h"
#include "feed.h"
#include "io.h"
#include "latency.h"
#include "mux.h"
#include "pool.h"

#define MAXFEEDS   128
#define ETH_IP_UDP 42u

static unsigned g_k = 1;
static uint64_t g_max = UINT64_MAX;

typedef struct {
    uint8_t *frame;
    uint32_t len;
    uint16_t feed;
    uint8_t line;
} pkt_t;

static pkt_t *g_pkts;
static size_t g_npkts;
static unsigned g_nfeeds;
static chs_t *g_in[MAXFEEDS][2];
static struct rte_mempool *g_mp;
static uint64_t g_sent, g_dropped;

static void die(const char *m)
{
    fprintf(stderr, "bench_handler: %s\n", m);
    exit(1);
}

/* The UDP frames of the capture with their (feed, line); the rest is skipped. */
static void load(const char *path)
{
    char err[512];
    io_capture_t *c = io_capture_open(path, err, sizeof(err));
    if (c == NULL)
        die(err);
    size_t cap = 1 << 16;
    g_pkts = malloc(cap * sizeof(*g_pkts));
    uint64_t ts;
    const uint8_t *d;
    uint32_t caplen, orig;
    while (g_npkts < g_max && io_capture_next(c, &ts, &d, &caplen, &orig, err, sizeof(err)) == 1) {
        if (caplen < ETH_IP_UDP || d[12] != 0x08 || d[13] != 0 || d[14] != 0x45 || d[23] != 17)
            continue;
        unsigned port = (unsigned)d[36] << 8 | d[37];
        unsigned line = port >= 31000 ? 1 : 0, f = port - (line ? 31000 : 30000);
        if (port < 30000 || f >= MAXFEEDS)
            continue;
        if (g_npkts == cap)
            g_pkts = realloc(g_pkts, (cap *= 2) * sizeof(*g_pkts));
        uint8_t *copy = malloc(caplen);
        memcpy(copy, d, caplen);
        g_pkts[g_npkts++] =
            (pkt_t){.frame = copy, .len = caplen, .feed = (uint16_t)f, .line = (uint8_t)line};
        if (f + 1 > g_nfeeds)
            g_nfeeds = f + 1;
    }
    io_capture_close(c);
}

/* RX's part: an mbuf per frame, stamped, to its line's channel; -k per round. */
static void producer(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < g_npkts; i++) {
        const pkt_t *p = &g_pkts[i];
        struct rte_mbuf *m;
        while ((m = rte_pktmbuf_alloc(g_mp)) == NULL)
            co_sleep(1000, NULL);
        memcpy(rte_pktmbuf_append(m, (uint16_t)p->len), p->frame, p->len);
        io_mbuf_meta_t *meta = io_mbuf_meta(m);
        unsigned ulen = (unsigned)p->frame[38] << 8 | p->frame[39];
        uint64_t now = co_tsc();
        *meta = (io_mbuf_meta_t){.rx_tsc = now,
                                 .intended_tsc = now,
                                 .feed = p->feed,
                                 .line = p->line,
                                 .payload_off = ETH_IP_UDP,
                                 .payload_len = (uint16_t)(ulen >= 8 ? ulen - 8 : 0)};
        if (chs_send_burst(g_in[p->feed][p->line], &m, 1) == 1)
            g_sent++;
        else {
            g_dropped++;
            rte_pktmbuf_free(m);
        }
        if ((i + 1) % g_k == 0)
            co_sleep(1, NULL); /* the handlers run a round, then the next pass wakes us */
    }
    for (unsigned f = 0; f < g_nfeeds; f++)
        for (unsigned l = 0; l < 2; l++)
            chs_close(g_in[f][l]);
}

static void feed_run(void *arg)
{
    feed_main(arg);
}

static void mux_run(void *arg)
{
    mux_main(arg);
}

int main(int argc, char **argv)
{
    const char *shm = NULL;
    int c;
    bool bells = true;
    while ((c = getopt(argc, argv, "k:n:s:Bh")) != -1) {
        switch (c) {
        case 'B':
            bells = false;
            break;
        case 'k':
            g_k = (unsigned)atoi(optarg);
            break;
        case 'n':
            g_max = strtoull(optarg, NULL, 10);
            break;
        case 's':
            shm = optarg;
            break;
        default:
            fprintf(stderr, "usage: bench_handler [-k PKTS] [-n MAX] [-s SHM] [-B] CAPTURE\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind >= argc || g_k == 0)
        die("usage: bench_handler [-k PKTS] [-n MAX] [-s SHM] [-B] CAPTURE");
    load(argv[optind]);
    if (g_nfeeds == 0)
        die("no mdmux-gen feed frames in the capture");

    char err[512], prefix[64];
    snprintf(prefix, sizeof(prefix), "mdmux_bench_handler%d", (int)getpid());
    io_eal_opts_t eo = {
        .prog = "bench_handler", .lcores = "0", .file_prefix = prefix, .log_level = "*:error"};
    if (io_eal_init(&eo, err, sizeof(err)) != 0)
        die(err);
    g_mp = rte_pktmbuf_pool_create("bench_handler", 16383, 256, 0, 2048 + RTE_PKTMBUF_HEADROOM,
                                   (int)rte_socket_id());
    if (g_mp == NULL)
        die("mbuf pool");
    co_sched_opts_t so = {.name = "handler", .idle = CO_IDLE_BUSY};
    co_sched_t *s = co_sched_new(&so);
    if (s == NULL)
        die("scheduler");

    /* as app/pipeline.c builds them */
    pool_opts_t po = {.name = "records",
                      .elem_size = sizeof(md_rec_t),
                      .count = (size_t)g_nfeeds * (256 + 64) + 4096,
                      .cache_size = 512}; /* app/pipeline.c's REC_POOL_CACHE */
    pool_t *recs = pool_new(&po);
    const char *names[MAXFEEDS];
    char namebuf[MAXFEEDS][16];
    feed_t *feeds[MAXFEEDS];
    mux_input_t in[MAXFEEDS];
    chs_bell_t *bell = bells ? chs_bell_new(-1) : NULL;
    if (bells && bell == NULL)
        die("chs_bell_new");
    for (unsigned f = 0; f < g_nfeeds; f++) {
        snprintf(namebuf[f], sizeof(namebuf[f]), "feed%02u", f);
        names[f] = namebuf[f];
        feed_conf_t fc = {.id = (uint16_t)f,
                          .name = names[f],
                          .rec_pool = recs,
                          .gap_wait_ns = 1000 * 1000,
                          .window = 64,
                          .line_timeout_ns = 2000ull * 1000 * 1000,
                          .numa_node = -1};
        for (unsigned l = 0; l < 2; l++) {
            g_in[f][l] = chs_new(sizeof(void *), 1024, -1);
            if (bell != NULL && chs_bell_add(bell, g_in[f][l]) != 0)
                die("chs_bell_add");
            fc.in[l][0] = g_in[f][l];
            fc.n_in[l] = 1;
        }
        fc.out_local = ch_new(sizeof(md_rec_t *), 256);
        if ((feeds[f] = feed_new(&fc)) == NULL)
            die("feed_new");
        in[f] = (mux_input_t){.local = fc.out_local, .pool = recs, .name = names[f]};
    }
    lat_conf_t lc = {.nfeeds = g_nfeeds, .names = names, .intended = true};
    lat_t *lat = lat_new(&lc);
    mux_shm_t *ring = NULL;
    if (shm != NULL) {
        mux_shm_conf_t sc = {.path = shm, .feed_names = names, .n_feed_names = g_nfeeds};
        if ((ring = mux_shm_new(&sc, err, sizeof(err))) == NULL)
            die(err);
    }
    mux_conf_t mc = {.inputs = in,
                     .n_inputs = g_nfeeds,
                     .shm = ring,
                     .observe = lat_observe,
                     .observe_arg = lat};
    mux_t *mux = mux_new(&mc);
    if (lat == NULL || mux == NULL)
        die("lat_new / mux_new");

    for (unsigned f = 0; f < g_nfeeds; f++)
        co_spawn(feed_run, feeds[f], &(co_opts_t){.name = names[f], .kind = "feed"});
    co_spawn(mux_run, mux, &(co_opts_t){.name = "mux", .kind = "mux"});
    co_spawn(producer, NULL, &(co_opts_t){.name = "rx", .kind = "rx"});
    co_sched_run(s);

    mux_stats_t ms;
    mux_stats(mux, &ms);
    fprintf(stderr,
            "bench_handler: %u feeds, %zu packets (%" PRIu64 " sent, %" PRIu64
            " dropped), %u per round; %" PRIu64 " records published, %" PRIu64
            " mux selects, %" PRIu64 " mux idle parks\n",
            g_nfeeds, g_npkts, g_sent, g_dropped, g_k, ms.published, ms.selects, ms.idle);
    printf("packets %" PRIu64 " records %" PRIu64 "\n", g_sent, ms.published);
    return 0;
}
