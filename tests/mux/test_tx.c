/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/mux: the TX port sink. The mux sends its datagrams to a net_ring port whose TX
 * ring the test drains and parses back: every record, in merged order; a TX ring that
 * fills up makes rte_eth_tx_burst refuse frames, which are counted exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "mux.h"
#include "testutil.h"

static struct rte_mempool *mp;

static int eal_setup(void **state)
{
    (void)state;
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "--file-prefix=mdmux-muxtx%d", (int)getpid());
    char *argv[] = {
        "test_mux_tx", "-l",          "0-1",      "--no-huge",      "-m",
        "256",         "--no-shconf", "--no-pci", "--no-telemetry", "--log-level=*:warning",
        prefix};
    if (rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])), argv) < 0)
        return -1;
    mp = rte_pktmbuf_pool_create("mux_tx", 1023, 32, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    return mp ? 0 : -1;
}

static int eal_teardown(void **state)
{
    (void)state;
    rte_mempool_free(mp);
    rte_eal_cleanup();
    return 0;
}

/* A net_ring port whose TX queue is @p txr; configured and started. */
static uint16_t ring_port(const char *name, struct rte_ring *rxr, struct rte_ring *txr)
{
    int port = rte_eth_from_rings(name, &rxr, 1, &txr, 1, 0);
    assert_true(port >= 0);
    struct rte_eth_conf conf = {0};
    assert_int_equal(rte_eth_dev_configure((uint16_t)port, 1, 1, &conf), 0);
    assert_int_equal(rte_eth_rx_queue_setup((uint16_t)port, 0, 64, 0, NULL, mp), 0);
    assert_int_equal(rte_eth_tx_queue_setup((uint16_t)port, 0, 64, 0, NULL), 0);
    assert_int_equal(rte_eth_dev_start((uint16_t)port), 0);
    return (uint16_t)port;
}

static void run_mux(mux_tx_t *tx, md_rec_t *recs, unsigned n)
{
    co_sched_t *sched = co_sched_new(NULL);
    ch_t *c = ch_new(sizeof(void *), n);
    for (unsigned k = 0; k < n; k++) {
        memset(&recs[k], 0, sizeof(recs[k]));
        recs[k].kind = MD_KIND_MSG;
        recs[k].type = 'X';
        recs[k].feed = 1;
        recs[k].feed_seq = k + 1;
        ch_send_ptr(c, &recs[k], CO_BACKGROUND);
    }
    ch_close(c);
    mux_udp_conf_t u = {.src_ip_be = htonl(0x0A000001), .src_port_be = htons(40000)};
    assert_int_equal(mux_udp_parse_dest("239.1.2.3:5000", &u), 0);
    mux_input_t in = {.local = c};
    mux_t *m =
        mux_new(&(mux_conf_t){.inputs = &in, .n_inputs = 1, .udp = &u, .tx = mux_tx_sink(tx)});
    assert_non_null(m);
    co_spawn(mux_main, m, NULL);
    assert_int_equal(co_sched_run(sched), 0);
    mux_free(m);
    ch_free(c);
    co_sched_free(sched, stderr);
}

/* Drain @p txr, parse each frame; returns the records seen, checking merged order. */
static unsigned drain_parse(struct rte_ring *txr, unsigned *frames)
{
    struct rte_mbuf *ms[64];
    unsigned n, recs = 0;
    uint64_t next = 1;
    *frames = 0;
    while ((n = rte_ring_dequeue_burst(txr, (void **)ms, 64, NULL)) > 0) {
        for (unsigned i = 0; i < n; i++) {
            mux_dgram_hdr_t h;
            const uint8_t *r;
            int k = mux_dgram_parse(rte_pktmbuf_mtod(ms[i], const uint8_t *),
                                    rte_pktmbuf_data_len(ms[i]), &h, &r);
            assert_true(k > 0);
            assert_int_equal(h.first_seq, next);
            md_rec_t rec;
            memcpy(&rec, r, sizeof(rec));
            assert_int_equal(rec.seq, next);
            assert_int_equal(rec.feed_seq, next);
            next += (unsigned)k;
            recs += (unsigned)k;
            (*frames)++;
            rte_pktmbuf_free(ms[i]);
        }
    }
    return recs;
}

static void test_tx_round_trip(void **state)
{
    (void)state;
    struct rte_ring *rxr = rte_ring_create("mtx_rx0", 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    struct rte_ring *txr = rte_ring_create("mtx_tx0", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    uint16_t port = ring_port("mtx0", rxr, txr);
    char err[256];
    mux_tx_t *tx = mux_tx_new(port, 0, mp, err, sizeof(err));
    assert_non_null(tx);
    static md_rec_t recs[2000];
    run_mux(tx, recs, 2000);
    mux_tx_stats_t st;
    mux_tx_stats(tx, &st);
    assert_int_equal(st.frames, (2000 + 10) / 11);
    assert_int_equal(st.tx_fail + st.alloc_fail, 0);
    unsigned frames;
    assert_int_equal(drain_parse(txr, &frames), 2000);
    assert_int_equal(frames, st.frames);
    mux_tx_free(tx);
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
    rte_ring_free(rxr);
    rte_ring_free(txr);
}

/* A TX ring with room for 63 frames: the rest are refused, freed and counted. */
static void test_tx_failures_counted(void **state)
{
    (void)state;
    struct rte_ring *rxr = rte_ring_create("mtx_rx1", 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    struct rte_ring *txr = rte_ring_create("mtx_tx1", 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    uint16_t port = ring_port("mtx1", rxr, txr);
    char err[256];
    mux_tx_t *tx = mux_tx_new(port, 0, mp, err, sizeof(err));
    static md_rec_t recs[1100];
    run_mux(tx, recs, 1100); /* 100 frames */
    mux_tx_stats_t st;
    mux_tx_stats(tx, &st);
    assert_int_equal(st.frames, 63);
    assert_int_equal(st.tx_fail, 37);
    unsigned frames;
    drain_parse(txr, &frames);
    assert_int_equal(frames, 63);
    unsigned avail = rte_mempool_avail_count(mp);
    assert_int_equal(avail, 1023); /* refused frames were freed, none leaked */
    assert_null(mux_tx_new(RTE_MAX_ETHPORTS - 1, 0, mp, err, sizeof(err)));
    mux_tx_free(tx);
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
    rte_ring_free(rxr);
    rte_ring_free(txr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tx_round_trip),
        cmocka_unit_test(test_tx_failures_counted),
    };
    return cmocka_run_group_tests(tests, eal_setup, eal_teardown);
}
