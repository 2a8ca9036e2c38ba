/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/feed on the EAL: feed_main over real mbufs in SPSC channels, records to a local
 * channel, a re-request sent on a net_ring port and answered by a server coroutine
 * that reads the port's TX ring and feeds the retransmission channel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "feed.h"
#include "io.h"
#include "feedrig.h"
#include "testutil.h"

static const uint8_t SESS[MOLD_SESSION_LEN] = "0000420001";

static int setup(void **state)
{
    (void)state;
    return fr_eal_setup("test_feed_handler", "feed");
}

static int teardown(void **state)
{
    (void)state;
    return fr_eal_teardown();
}

/* An mbuf of feed 3 holding a MoldUDP64 packet of messages [seq, seq+n) (feedrig.h),
   intended_tsc 42. */
static struct rte_mbuf *mold_mbuf(uint8_t line, uint64_t seq, uint16_t n, uint16_t count_field,
                                  bool bad_itch)
{
    struct rte_mbuf *m = fr_mold_mbuf(SESS, 3, line, seq, n, count_field, bad_itch);
    io_mbuf_meta(m)->intended_tsc = 42;
    return m;
}

static void push(chs_t *c, struct rte_mbuf *m)
{
    assert_int_equal(chs_send_burst(c, &m, 1), 1);
}

/* What the consumer saw. */
typedef struct seen {
    ch_t *out;
    pool_t *pool;
    unsigned n;
    md_rec_t recs[64];
} seen_t;

static void consumer(void *arg)
{
    seen_t *s = arg;
    void *p;
    while (ch_recv_ptr(s->out, &p, CO_BACKGROUND) == 0) {
        if (s->n < 64)
            s->recs[s->n++] = *(md_rec_t *)p;
        pool_put(s->pool, p);
    }
}

/* The re-request server: answers requests found on the TX ring, then closes RETX. */
typedef struct server {
    struct rte_ring *txr;
    chs_t *retx;
    unsigned answered, want;
    mold_req_t last;
} server_t;

static void server(void *arg)
{
    server_t *s = arg;
    while (s->answered < s->want) {
        struct rte_mbuf *m;
        if (rte_ring_dequeue(s->txr, (void **)&m) != 0) {
            co_sleep(10000, CO_BACKGROUND);
            continue;
        }
        const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
        assert_int_equal(rte_pktmbuf_data_len(m), 62);
        assert_int_equal(mold_parse_request(f + 42, 20, &s->last), MOLD_OK);
        rte_pktmbuf_free(m);
        push(s->retx, mold_mbuf(FEED_LINE_RETX, s->last.seq, s->last.count, s->last.count, false));
        s->answered++;
    }
    /* RETX stays open: the handler must end once A and B are over and the gap filled */
}

/* Feed 03 on lines A, B and RETX, a 200 us gap wait. */
static void rig_init(fr_rig_t *r)
{
    fr_rig_init(r, FEED_LINES, 3, "feed03", 200000);
}

static void test_gap_rerequest_fill(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(NULL);
    struct rte_ring *rxr = rte_ring_create("frx", 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    struct rte_ring *txr = rte_ring_create("ftx", 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    uint16_t port = fr_ring_port("feedring0", rxr, txr);
    unsigned avail0 = rte_mempool_avail_count(fr_mp);
    fr_rig_t r;
    rig_init(&r);
    r.conf.rereq = (feed_rereq_conf_t){.enabled = true,
                                       .port_id = port,
                                       .mbuf_pool = fr_mp,
                                       .dst_ip_be = htonl(0x0A000002),
                                       .src_ip_be = htonl(0x0A000001),
                                       .src_port_be = htons(5000),
                                       .dst_port_be = htons(6000)};
    feed_t *f = feed_new(&r.conf);
    assert_non_null(f);
    /* A: 1, 3, 4..5; B: 1, 3; 2 lost on both; a heartbeat and a malformed packet */
    push(r.in[0], mold_mbuf(0, 1, 1, 1, false));
    push(r.in[1], mold_mbuf(1, 1, 1, 1, false));
    push(r.in[0], mold_mbuf(0, 3, 1, 1, false));
    push(r.in[1], mold_mbuf(1, 3, 1, 1, false));
    push(r.in[0], mold_mbuf(0, 4, 2, 2, false));
    push(r.in[1], mold_mbuf(1, 6, 0, 0, false)); /* heartbeat: next is 6 */
    push(r.in[1], mold_mbuf(1, 6, 1, 2, false)); /* count 2, one block: malformed */
    push(r.in[0], mold_mbuf(0, 6, 1, 1, true));  /* unknown ITCH type: counted */
    chs_close(r.in[0]);
    chs_close(r.in[1]);
    seen_t s = {.out = r.out, .pool = r.pool};
    server_t sv = {.txr = txr, .retx = r.in[2], .want = 1};
    assert_non_null(co_spawn(feed_main, f, &(co_opts_t){.name = "feed03"}));
    assert_non_null(co_spawn(consumer, &s, NULL));
    assert_non_null(co_spawn(server, &sv, NULL));
    assert_int_equal(co_sched_run(sched), 0);
    chs_close(r.in[2]);

    assert_int_equal(sv.last.seq, 2);
    assert_int_equal(sv.last.count, 1);
    /* 1, GAP 2, 3, 4, 5, then 2 (RETX), GAP_FILLED 2 */
    uint64_t want_seq[] = {1, 2, 3, 4, 5, 2, 2};
    uint8_t want_kind[] = {MD_KIND_MSG, MD_KIND_EVENT, MD_KIND_MSG,  MD_KIND_MSG,
                           MD_KIND_MSG, MD_KIND_MSG,   MD_KIND_EVENT};
    assert_int_equal(s.n, 7);
    for (unsigned i = 0; i < 7; i++) {
        assert_int_equal(s.recs[i].kind, want_kind[i]);
        assert_int_equal(s.recs[i].feed, 3);
        if (want_kind[i] == MD_KIND_MSG) {
            assert_int_equal(s.recs[i].feed_seq, want_seq[i]);
            assert_int_equal(s.recs[i].ref, want_seq[i]);
            assert_int_equal(s.recs[i].type, 'X');
            assert_int_equal(s.recs[i].tsc_intended, 42);
            assert_true(s.recs[i].tsc_rx <= s.recs[i].tsc_dequeue);
            assert_true(s.recs[i].tsc_dequeue <= s.recs[i].tsc_decode);
        } else {
            assert_int_equal(s.recs[i].ev.from, want_seq[i]);
        }
    }
    assert_int_equal(s.recs[1].type, MD_EV_GAP);
    assert_int_equal(s.recs[5].line, MD_LINE_RETX);
    assert_int_equal(s.recs[6].type, MD_EV_GAP_FILLED);

    feed_stats_t st;
    feed_stats(f, &st);
    assert_int_equal(st.messages, 5);
    assert_int_equal(st.events, 2);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.recovered, 1);
    assert_int_equal(st.itch_errors, 1);
    assert_int_equal(st.itch_err_by[ITCH_ERR_UNKNOWN_TYPE], 1);
    assert_int_equal(st.line[1].malformed_by[MOLD_ERR_COUNT_MISMATCH], 1);
    assert_int_equal(st.line[1].heartbeats, 1);
    assert_int_equal(st.line[0].packets, 4);
    /* which line wins depends on the select's random order */
    assert_int_equal(st.line[0].duplicates + st.line[1].duplicates, 2);
    assert_int_equal(st.line[0].wins + st.line[1].wins, 4);
    assert_int_equal(st.skew_samples, 2);
    assert_true(ch_closed(r.out));
    feed_free(f);
    assert_int_equal(rte_mempool_avail_count(fr_mp), avail0);
    fr_rig_free(&r);
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
    rte_ring_free(rxr);
    rte_ring_free(txr);
    co_sched_free(sched, stderr);
}

/* @p m, stamped as received @p us microseconds after @p base (TSC). */
static struct rte_mbuf *at_us(struct rte_mbuf *m, uint64_t base, uint64_t us)
{
    io_mbuf_meta(m)->rx_tsc = base + co_ns_to_tsc(us * 1000);
    return m;
}

/*
 * A backlog on a busy line and a sparse one (what the RX lcore leaves B with when it
 * drops the copies, feed_rxf_t): A has 1..40 but 20, one a microsecond; B only 20
 * (half a microsecond after A's 19) and 41. The handler must merge them in RX order:
 * A's first burst may not run past B's 20, or A's 21.. would fill the 8-packet window
 * and declare 20 a gap that B then fills. No gap, 1..41 in order.
 */
static void test_sparse_line_merged_in_rx_order(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(NULL);
    fr_rig_t r;
    fr_rig_init(&r, 2, 3, "feed03", 200000);
    r.conf.window = 8;
    feed_t *f = feed_new(&r.conf);
    assert_non_null(f);
    /* a feed whose copies an RX lcore drops merges by its lines' head stamps (the RX
       side is not part of this test: the packets are pushed as RX left them) */
    feed_rxf_t *x = feed_rxf_new(4);
    assert_non_null(x);
    assert_int_equal(feed_attach_rxf(f, x), 0);
    uint64_t base = co_tsc() - co_ns_to_tsc(1000000);
    for (uint64_t q = 1; q <= 40; q++)
        if (q != 20)
            push(r.in[0], at_us(mold_mbuf(0, q, 1, 1, false), base, q * 2));
    push(r.in[1], at_us(mold_mbuf(1, 20, 1, 1, false), base, 20 * 2 - 1));
    push(r.in[1], at_us(mold_mbuf(1, 41, 1, 1, false), base, 41 * 2));
    chs_close(r.in[0]);
    chs_close(r.in[1]);
    seen_t s = {.out = r.out, .pool = r.pool};
    assert_non_null(co_spawn(feed_main, f, &(co_opts_t){.name = "feed03"}));
    assert_non_null(co_spawn(consumer, &s, NULL));
    assert_int_equal(co_sched_run(sched), 0);
    feed_stats_t st;
    feed_stats(f, &st);
    assert_int_equal(st.gaps, 0);
    assert_int_equal(st.messages, 41);
    assert_int_equal(s.n, 41);
    for (unsigned i = 0; i < s.n; i++) {
        assert_int_equal(s.recs[i].kind, MD_KIND_MSG);
        assert_int_equal(s.recs[i].feed_seq, i + 1);
    }
    assert_int_equal(st.line[1].wins, 2);
    feed_free(f);
    feed_rxf_free(x);
    fr_rig_free(&r);
    co_sched_free(sched, stderr);
}

/* Cancel the feed after a while: held packets are freed, the output closed. */
static void canceller(void *arg)
{
    co_sleep(2000000, CO_BACKGROUND);
    co_ctx_cancel(arg);
}

static void test_cancel(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(NULL);
    unsigned avail0 = rte_mempool_avail_count(fr_mp);
    fr_rig_t r;
    rig_init(&r);
    r.conf.gap_wait_ns = 10000000000ull; /* never declare: the packets stay held */
    r.conf.window = 16;
    feed_t *f = feed_new(&r.conf);
    assert_non_null(f);
    push(r.in[0], mold_mbuf(0, 1, 1, 1, false));
    push(r.in[0], mold_mbuf(0, 5, 1, 1, false));
    push(r.in[1], mold_mbuf(1, 7, 1, 1, false));
    co_ctx_t *ctx = co_ctx_with_cancel(CO_BACKGROUND);
    seen_t s = {.out = r.out, .pool = r.pool};
    assert_non_null(co_spawn(feed_main, f, &(co_opts_t){.name = "feed03", .ctx = ctx}));
    assert_non_null(co_spawn(consumer, &s, NULL));
    assert_non_null(co_spawn(canceller, ctx, NULL));
    assert_int_equal(co_sched_run(sched), 0);
    assert_int_equal(s.n, 1);
    assert_true(ch_closed(r.out));
    feed_stats_t st;
    feed_stats(f, &st);
    assert_int_equal(st.line[0].discarded + st.line[1].discarded, 2);
    assert_int_equal(rte_mempool_avail_count(fr_mp), avail0);
    feed_free(f);
    co_ctx_free(ctx);
    fr_rig_free(&r);
    co_sched_free(sched, stderr);
}

/* A slow consumer on an SPSC output, a pool of 4 records: the handler waits, loses none. */
typedef struct slow {
    chs_t *out;
    pool_t *pool;
    unsigned n;
    uint64_t last;
    bool ordered;
} slow_t;

static void slow_consumer(void *arg)
{
    slow_t *s = arg;
    md_rec_t *r;
    s->ordered = true;
    while (chs_recv(s->out, &r, CO_BACKGROUND) == 0) {
        if (r->kind == MD_KIND_MSG) {
            s->ordered &= r->feed_seq == s->last + 1;
            s->last = r->feed_seq;
            s->n++;
        }
        co_sleep(20000, CO_BACKGROUND);
        pool_put(s->pool, r);
    }
}

static void test_pool_backpressure(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(NULL);
    fr_rig_t r;
    rig_init(&r);
    pool_free(r.pool);
    r.pool = pool_new(&(pool_opts_t){.name = "tiny",
                                     .elem_size = sizeof(md_rec_t),
                                     .count = 4,
                                     .cache_size = 2,
                                     .numa_node = -1});
    chs_t *out = chs_new(sizeof(void *), 16, -1); /* roomier than the pool */
    r.conf.rec_pool = r.pool;
    r.conf.out_local = NULL;
    r.conf.out_spsc = out;
    feed_t *f = feed_new(&r.conf);
    assert_non_null(f);
    for (uint64_t s = 1; s <= 40; s += 4)
        push(r.in[s % 8 == 1 ? 0 : 1], mold_mbuf(s % 8 == 1 ? 0 : 1, s, 4, 4, false));
    for (unsigned l = 0; l < FEED_LINES; l++)
        chs_close(r.in[l]);
    slow_t sl = {.out = out, .pool = r.pool};
    assert_non_null(co_spawn(feed_main, f, NULL));
    assert_non_null(co_spawn(slow_consumer, &sl, NULL));
    assert_int_equal(co_sched_run(sched), 0);
    assert_int_equal(sl.n, 40);
    assert_true(sl.ordered);
    feed_stats_t st;
    feed_stats(f, &st);
    assert_int_equal(st.messages, 40);
    assert_true(st.pool_waits > 0);
    assert_int_equal(st.out_dropped, 0);
    feed_free(f);
    chs_free(out);
    fr_rig_free(&r);
    co_sched_free(sched, stderr);
}

/*
 * A packet's messages are decoded a group (up to 16) at a time and stamped once per
 * group: 20 messages make groups of 16 and 4, each with one tsc_decode; a bad message
 * in a packet is counted and the others of its group still go out, in order.
 */
static void test_decode_groups(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(NULL);
    fr_rig_t r;
    rig_init(&r);
    feed_t *f = feed_new(&r.conf);
    assert_non_null(f);
    push(r.in[0], mold_mbuf(0, 1, 20, 20, false));
    struct rte_mbuf *m = mold_mbuf(0, 21, 3, 3, false);
    /* the type byte of message 22: after the eth/ip/udp and MoldUDP64 headers, one
       block (2-byte length and 23 bytes) and the second block's length */
    rte_pktmbuf_mtod(m, uint8_t *)[42 + 20 + 25 + 2] = '@';
    push(r.in[0], m);
    push(r.in[0], mold_mbuf(0, 24, 2, 2, false));
    for (unsigned l = 0; l < FEED_LINES; l++)
        chs_close(r.in[l]);
    seen_t s = {.out = r.out, .pool = r.pool};
    assert_non_null(co_spawn(feed_main, f, NULL));
    assert_non_null(co_spawn(consumer, &s, NULL));
    assert_int_equal(co_sched_run(sched), 0);

    md_rec_t msg[64];
    unsigned n = 0;
    for (unsigned i = 0; i < s.n; i++)
        if (s.recs[i].kind == MD_KIND_MSG)
            msg[n++] = s.recs[i];
    static const uint64_t want[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                                    13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25};
    /* where each decode group starts among the records */
    static const unsigned group[] = {0, 16, 20, 22, 24};
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(msg[i].feed_seq, want[i]);
        assert_true(msg[i].tsc_dequeue <= msg[i].tsc_decode);
    }
    for (unsigned g = 0; g + 1 < sizeof(group) / sizeof(group[0]); g++) {
        for (unsigned i = group[g]; i < group[g + 1]; i++)
            assert_int_equal(msg[i].tsc_decode, msg[group[g]].tsc_decode);
        if (g > 0)
            assert_true(msg[group[g] - 1].tsc_decode <= msg[group[g]].tsc_decode);
    }
    feed_stats_t st;
    feed_stats(f, &st);
    assert_int_equal(st.messages, n);
    assert_int_equal(st.itch_errors, 1);
    assert_int_equal(st.itch_err_by[ITCH_ERR_UNKNOWN_TYPE], 1);
    assert_int_equal(st.out_dropped, 0);
    feed_free(f);
    fr_rig_free(&r);
    co_sched_free(sched, stderr);
}

static void test_bad_conf(void **state)
{
    (void)state;
    fr_rig_t r;
    rig_init(&r);
    feed_conf_t c = r.conf;
    c.out_spsc = r.in[0]; /* both outputs */
    assert_null(feed_new(&c));
    c = r.conf;
    c.rec_pool = NULL;
    assert_null(feed_new(&c));
    c = r.conf;
    c.rereq.enabled = true; /* no mempool */
    assert_null(feed_new(&c));
    c = r.conf;
    c.n_in[0] = FEED_IN_MAX + 1;
    assert_null(feed_new(&c));
    ch_t *wide = ch_new(16, 4); /* records travel as pointers */
    c = r.conf;
    c.out_local = wide;
    assert_null(feed_new(&c));
    ch_free(wide);
    fr_rig_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gap_rerequest_fill),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_pool_backpressure),
        cmocka_unit_test(test_decode_groups),
        cmocka_unit_test(test_bad_conf),
        cmocka_unit_test(test_sparse_line_merged_in_rx_order),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
