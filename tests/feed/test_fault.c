/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/feed fault hooks on the EAL: the standard injector (panic, stall, slow) and
 * custom hooks (drop, refuse a request) on feed_main over real mbufs, under
 * co_supervise() where it panics:
 *
 *   - a panic restarts the handler with the supervisor's backoff; the packet it was
 *     parsing is discarded (counted), the rest of its burst is handled by the next
 *     run, and the other line's copies fill in: every message once, in order, no gap;
 *   - past the restart budget the supervisor gives up and feed_abandon() frees (and
 *     counts) what the last run held, so no mbuf leaks;
 *   - a stall parks the handler with its packets untaken; slow spins per packet but
 *     lets the lcore's other coroutines run;
 *   - a packet hook that drops, a request hook that refuses (counted as TX failures).
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

static const uint8_t SESS[MOLD_SESSION_LEN] = "0000420007";

static int setup(void **state)
{
    (void)state;
    return fr_eal_setup("test_feed_fault", "fault");
}

static int teardown(void **state)
{
    (void)state;
    return fr_eal_teardown();
}

/* An mbuf of feed 7 with a MoldUDP64 packet of one ITCH 'X' message (feedrig.h). */
static struct rte_mbuf *pkt(uint8_t line, uint64_t seq)
{
    return fr_mold_mbuf(SESS, 7, line, seq, 1, 1, false);
}

/* What the consumer saw: messages in order of arrival, events by kind. */
typedef struct seen {
    ch_t *out;
    pool_t *pool;
    unsigned n;
    uint64_t seq[256];
    unsigned ev[MD_EV_COUNT];
    uint64_t restart_value[8];
    unsigned ticks; /* the ticker's count, when a message arrived */
} seen_t;

static unsigned ticks; /* the ticker coroutine's count */
static bool stop_ticker;

static void consumer(void *arg)
{
    seen_t *s = arg;
    void *p;
    while (ch_recv_ptr(s->out, &p, CO_BACKGROUND) == 0) {
        md_rec_t *r = p;
        if (r->kind == MD_KIND_MSG && s->n < 256) {
            s->seq[s->n++] = r->feed_seq;
        } else if (r->kind == MD_KIND_EVENT && r->type < MD_EV_COUNT) {
            if (r->type == MD_EV_HANDLER_RESTART && s->ev[r->type] < 8)
                s->restart_value[s->ev[r->type]] = r->ev.value;
            s->ev[r->type]++;
        }
        pool_put(s->pool, p);
    }
    s->ticks = ticks;
    stop_ticker = true;
}

typedef struct rig {
    fr_rig_t b; /* lines A and B, records, conf */
    feed_fault_hooks_t hooks;
    seen_t seen;
    unsigned avail0;
} rig_t;

/* Feed 07 on lines A and B (64 slots each) with a gap wait of @p gap_wait_ns; no feed
   yet. */
static void rig_conf(rig_t *r, uint64_t gap_wait_ns)
{
    memset(r, 0, sizeof(*r));
    r->avail0 = rte_mempool_avail_count(fr_mp);
    fr_rig_init(&r->b, 2, 7, "feed07", gap_wait_ns);
    r->seen = (seen_t){.out = r->b.out, .pool = r->b.pool};
}

/* A feed on lines A and B (64 slots each) with @p hooks (may be NULL). */
static feed_t *rig_init(rig_t *r, bool with_hooks)
{
    rig_conf(r, 200000000); /* 200 ms of arrival time: no gap unless it must */
    r->b.conf.faults = with_hooks ? &r->hooks : NULL;
    feed_t *f = feed_new(&r->b.conf);
    assert_non_null(f);
    return f;
}

/* Messages 1..n on A, then their copies on B; inputs closed. */
static void push_ab(rig_t *r, unsigned n)
{
    for (unsigned l = 0; l < 2; l++) {
        for (uint64_t s = 1; s <= n; s++) {
            struct rte_mbuf *m = pkt((uint8_t)l, s);
            assert_int_equal(chs_send_burst(r->b.in[l], &m, 1), 1);
        }
        chs_close(r->b.in[l]);
    }
}

static void expect_all(const seen_t *s, unsigned n)
{
    assert_int_equal(s->n, n);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(s->seq[i], i + 1);
}

static void rig_free(rig_t *r, feed_t *f)
{
    feed_free(f);
    fr_rig_free(&r->b);
    assert_int_equal(rte_mempool_avail_count(fr_mp), r->avail0); /* no mbuf leaked */
}

/* The feed under a supervisor with backoff 0.1 ms doubling, budget @p budget. The
   ceiling is far away: a child that runs longer than it (a loaded box, a sanitizer)
   earns a fresh start, which would make the backoff totals depend on timing. */
static void supervise(co_supervisor_t *sv, feed_t *f, unsigned budget)
{
    co_supervisor_opts_t so = {.fn = feed_main,
                               .arg = f,
                               .child = {.name = "feed07", .kind = "feed"},
                               .backoff_min_ns = 100000,
                               .backoff_max_ns = 60000000000ull,
                               .budget = budget,
                               .window_ns = 60000000000ull};
    assert_int_equal(co_supervise(sv, &so, NULL), 0);
}

static void test_panic_restarts_and_resyncs(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(NULL);
    rig_t r;
    feed_t *f = rig_init(&r, true);
    feed_fault_spec_t spec = {.kind = FEED_FAULT_PANIC, .after_packets = 3, .count = 2};
    assert_int_equal(feed_fault_init(&r.hooks, &spec, "feed07"), 0);
    push_ab(&r, 10);
    co_supervisor_t sv;
    supervise(&sv, f, 5);
    assert_non_null(co_spawn(consumer, &r.seen, NULL));
    assert_int_equal(co_sched_run(sched), 0);

    assert_int_equal(r.hooks.fired, 2);
    assert_int_equal(sv.restarts, 2);
    assert_int_equal(sv.panics, 2);
    assert_int_equal(sv.state, CO_SV_DONE);
    assert_int_equal(sv.backoff_total_ns, 100000 + 200000);
    feed_stats_t st;
    feed_stats(f, &st);
    assert_int_equal(st.restarts, 2);
    /* the two packets it panicked on; the rest of the first burst was handled */
    assert_int_equal(st.line[0].discarded + st.line[1].discarded, 2);
    assert_int_equal(st.line[0].packets + st.line[1].packets, 20);
    /* the other line's copies fill in: every message once, in order, no gap */
    expect_all(&r.seen, 10);
    assert_int_equal(st.gaps, 0);
    assert_int_equal(r.seen.ev[MD_EV_GAP], 0);
    assert_int_equal(r.seen.ev[MD_EV_HANDLER_RESTART], 2);
    assert_int_equal(r.seen.restart_value[0], 1);
    assert_int_equal(r.seen.restart_value[1], 2);
    rig_free(&r, f);
    assert_int_equal(co_sched_free(sched, stderr), 0);
}

static void test_panic_past_budget_gives_up(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(NULL);
    rig_t r;
    feed_t *f = rig_init(&r, true);
    feed_fault_spec_t spec = {.kind = FEED_FAULT_PANIC, .after_packets = 2, .count = 100};
    assert_int_equal(feed_fault_init(&r.hooks, &spec, "feed07"), 0);
    push_ab(&r, 10);
    co_supervisor_t sv;
    supervise(&sv, f, 2);
    assert_int_equal(co_sched_run(sched), 0);
    assert_int_equal(sv.state, CO_SV_GAVE_UP);
    assert_int_equal(sv.restarts, 2);
    assert_int_equal(r.hooks.fired, 3);
    /* the last run held the packet it panicked on and 5 more of its burst */
    uint64_t untaken[FEED_LINES] = {0};
    assert_int_equal(feed_abandon(f, untaken), 1 + 5);
    assert_int_equal(untaken[0], 5);
    feed_stats_t st;
    feed_stats(f, &st);
    assert_int_equal(st.line[0].packets + untaken[0], 10); /* each taken packet counted once */
    assert_int_equal(st.line[0].discarded, 3);
    assert_int_equal(feed_abandon(f, untaken), 0); /* nothing twice */
    /* what is still queued on B is the caller's (pipeline: drain_after_giveup) */
    struct rte_mbuf *m[16];
    unsigned left = chs_recv_burst(r.b.in[1], m, 16);
    assert_int_equal(left, 10);
    rte_pktmbuf_free_bulk(m, left);
    /* the output was never closed by the handler: the caller closes it */
    assert_false(ch_closed(r.b.out));
    ch_close(r.b.out);
    void *p;
    while (ch_recv_ptr(r.b.out, &p, CO_BACKGROUND) == 0)
        pool_put(r.b.pool, p);
    rig_free(&r, f);
    assert_int_equal(co_sched_free(sched, stderr), 0);
}

/* Looks at the feed while it stalls. */
typedef struct probe {
    feed_t *f;
    rig_t *r;
    uint64_t packets; /* taken, 5 ms into the stall */
    unsigned queued;  /* still in B's channel then */
} probe_t;

static void probe(void *arg)
{
    probe_t *p = arg;
    co_sleep(5000000, CO_BACKGROUND);
    feed_stats_t st;
    feed_stats(p->f, &st);
    p->packets = st.line[0].packets + st.line[1].packets;
    p->queued = (unsigned)chs_len(p->r->b.in[1]);
}

static void test_stall_parks_without_taking(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(NULL);
    rig_t r;
    feed_t *f = rig_init(&r, true);
    feed_fault_spec_t spec = {.kind = FEED_FAULT_STALL, .after_packets = 2, .stall_ns = 100000000};
    assert_int_equal(feed_fault_init(&r.hooks, &spec, "feed07"), 0);
    assert_int_equal(r.hooks.spec.count, 1);
    push_ab(&r, 10);
    probe_t pr = {.f = f, .r = &r};
    assert_non_null(co_spawn(feed_main, f, &(co_opts_t){.name = "feed07"}));
    assert_non_null(co_spawn(consumer, &r.seen, NULL));
    assert_non_null(co_spawn(probe, &pr, NULL));
    assert_int_equal(co_sched_run(sched), 0);
    assert_int_equal(r.hooks.fired, 1);
    assert_int_equal(pr.packets, 3); /* parked on the third, nothing more taken */
    assert_int_equal(pr.queued, 10); /* B untouched: its channel fills meanwhile */
    expect_all(&r.seen, 10);         /* and after the stall, nothing is lost */
    rig_free(&r, f);
    assert_int_equal(co_sched_free(sched, stderr), 0);
}

static void ticker(void *arg)
{
    (void)arg;
    while (!stop_ticker) {
        ticks++;
        co_yield();
    }
}

static void test_slow_spins_but_yields(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(NULL);
    rig_t r;
    feed_t *f = rig_init(&r, true);
    feed_fault_spec_t spec = {.kind = FEED_FAULT_SLOW, .slow_ns = 200000};
    assert_int_equal(feed_fault_init(&r.hooks, &spec, "feed07"), 0);
    push_ab(&r, 10);
    ticks = 0;
    stop_ticker = false;
    assert_non_null(co_spawn(feed_main, f, &(co_opts_t){.name = "feed07"}));
    assert_non_null(co_spawn(consumer, &r.seen, NULL));
    assert_non_null(co_spawn(ticker, NULL, NULL));
    uint64_t t0 = co_now_ns();
    assert_int_equal(co_sched_run(sched), 0);
    uint64_t took = co_now_ns() - t0;
    assert_int_equal(r.hooks.fired, 20); /* every packet, both lines */
    assert_true(took >= 20 * 200000);    /* a lower bound: at least the busy time */
    /* the other coroutine of the lcore ran all along, one turn per spin at least */
    assert_true(r.seen.ticks >= 20);
    expect_all(&r.seen, 10);
    rig_free(&r, f);
    assert_int_equal(co_sched_free(sched, stderr), 0);
}

/* A custom packet hook: drop everything on line A. */
static int drop_a(feed_fault_hooks_t *h, uint8_t line, co_ctx_t *ctx)
{
    (void)ctx;
    h->seen++;
    return line == FEED_LINE_A ? FEED_FAULT_DROP : FEED_FAULT_PASS;
}

static void test_custom_drop_hook(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(NULL);
    rig_t r;
    feed_t *f = rig_init(&r, true);
    r.hooks.packet = drop_a;
    push_ab(&r, 10);
    assert_non_null(co_spawn(feed_main, f, &(co_opts_t){.name = "feed07"}));
    assert_non_null(co_spawn(consumer, &r.seen, NULL));
    assert_int_equal(co_sched_run(sched), 0);
    assert_int_equal(r.hooks.seen, 20);
    feed_stats_t st;
    feed_stats(f, &st);
    assert_int_equal(st.line[0].packets, 10);
    assert_int_equal(st.line[0].discarded, 10);
    assert_int_equal(st.line[0].wins, 0);
    expect_all(&r.seen, 10); /* B carries everything */
    rig_free(&r, f);
    assert_int_equal(co_sched_free(sched, stderr), 0);
}

/* A custom request hook that refuses every request. */
static int refuse(feed_fault_hooks_t *h, uint64_t seq, uint16_t count)
{
    (void)seq;
    (void)count;
    h->fired++;
    return -1;
}

static void test_request_hook_refuses(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(NULL);
    struct rte_ring *rxr = rte_ring_create("qrx", 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    struct rte_ring *txr = rte_ring_create("qtx", 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    uint16_t port = fr_ring_port("faultring0", rxr, txr);
    rig_t r;
    rig_conf(&r, 100000);
    r.b.conf.faults = &r.hooks;
    r.b.conf.rereq = (feed_rereq_conf_t){
        .enabled = true, .port_id = port, .mbuf_pool = fr_mp, .retry_ns = 100000, .max_retries = 2};
    r.hooks.request = refuse;
    feed_t *f = feed_new(&r.b.conf);
    assert_non_null(f);
    /* 1 and 3 on both lines: 2 is missing everywhere */
    for (unsigned l = 0; l < 2; l++) {
        struct rte_mbuf *m[2] = {pkt((uint8_t)l, 1), pkt((uint8_t)l, 3)};
        assert_int_equal(chs_send_burst(r.b.in[l], m, 2), 2);
        chs_close(r.b.in[l]);
    }
    assert_non_null(co_spawn(feed_main, f, &(co_opts_t){.name = "feed07"}));
    assert_non_null(co_spawn(consumer, &r.seen, NULL));
    assert_int_equal(co_sched_run(sched), 0);
    feed_stats_t st;
    feed_stats(f, &st);
    assert_true(r.hooks.fired >= 1);
    assert_int_equal(st.req_failed, r.hooks.fired); /* each refusal a counted TX failure */
    assert_int_equal(rte_ring_count(txr), 0);       /* nothing reached the port */
    assert_int_equal(st.gaps, 1);
    assert_int_equal(st.final_lost, 1);
    assert_int_equal(r.seen.n, 2);
    rig_free(&r, f);
    rte_eth_dev_stop((uint16_t)port);
    rte_eth_dev_close((uint16_t)port);
    rte_ring_free(rxr);
    rte_ring_free(txr);
    assert_int_equal(co_sched_free(sched, stderr), 0);
}

static void test_names_and_bad_spec(void **state)
{
    (void)state;
    assert_string_equal(feed_fault_kind_name(FEED_FAULT_PANIC), "panic");
    assert_string_equal(feed_fault_kind_name(FEED_FAULT_STALL), "stall");
    assert_string_equal(feed_fault_kind_name(FEED_FAULT_SLOW), "slow");
    assert_null(feed_fault_kind_name(FEED_FAULT_KINDS));
    assert_int_equal(feed_fault_kind_parse("stall"), FEED_FAULT_STALL);
    assert_int_equal(feed_fault_kind_parse("none"), FEED_FAULT_NONE);
    assert_int_equal(feed_fault_kind_parse("crash"), FEED_FAULT_NONE);
    assert_int_equal(feed_fault_kind_parse(NULL), FEED_FAULT_NONE);
    feed_fault_hooks_t h;
    assert_int_equal(feed_fault_init(&h, &(feed_fault_spec_t){.kind = FEED_FAULT_NONE}, "x"),
                     EINVAL);
    assert_int_equal(feed_fault_init(&h, &(feed_fault_spec_t){.kind = FEED_FAULT_KINDS}, "x"),
                     EINVAL);
    assert_int_equal(feed_fault_init(&h, &(feed_fault_spec_t){.kind = FEED_FAULT_SLOW}, NULL), 0);
    assert_int_equal(h.spec.slow_ns, 10000);
    assert_int_equal(h.spec.stall_ns, 1000000000ull);
    assert_int_equal(h.spec.count, 1);
    assert_string_equal(h.feed, "feed");
    assert_null(h.request);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_panic_restarts_and_resyncs),
        cmocka_unit_test(test_panic_past_budget_gives_up),
        cmocka_unit_test(test_stall_parks_without_taking),
        cmocka_unit_test(test_slow_spins_but_yields),
        cmocka_unit_test(test_custom_drop_hook),
        cmocka_unit_test(test_request_hook_refuses),
        cmocka_unit_test(test_names_and_bad_spec),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
