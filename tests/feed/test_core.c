/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the pure feed core (lib/feed/feed_core.h): no EAL, no mbufs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"

#define A FEED_LINE_A
#define B FEED_LINE_B
#define R FEED_LINE_RETX

#define WAIT 1000000ull /* gap_wait_ns of the tests: 1 ms */

static feed_core_conf_t conf(void)
{
    return (feed_core_conf_t){.gap_wait_ns = WAIT, .window = 8, .line_timeout_ns = 100 * WAIT};
}

static feed_core_conf_t conf_rereq(void)
{
    feed_core_conf_t c = conf();
    c.rereq = true;
    c.retry_ns = 10 * WAIT;
    c.max_retries = 2;
    c.max_outstanding = 4;
    c.rate_per_s = 1000000;
    c.max_msgs = 100;
    return c;
}

/* Assert the log's messages are exactly @p n sequences of @p want. */
static void expect_msgs(const harness_t *h, const uint64_t *want, unsigned n)
{
    uint64_t got[256];
    unsigned k = h_msgs(h, got, NULL, 256);
    assert_int_equal(k, n);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(got[i], want[i]);
}

static void finish(harness_t *h)
{
    feed_core_flush(h->core, h->now);
    assert_true(h_all_released(h));
    assert_false(h->bad);
    h_free(h);
}

static void test_first_arrival_wins(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    h_pkt_s(h, H_S1, A, 1, 2, 100);
    h_pkt_s(h, H_S1, B, 1, 2, 150); /* B 50 ticks later */
    h_pkt_s(h, H_S1, B, 3, 1, 200); /* B first this time */
    h_pkt_s(h, H_S1, A, 3, 1, 230);
    expect_msgs(h, (uint64_t[]){1, 2, 3}, 3);
    uint8_t lines[4];
    uint64_t seqs[4];
    h_msgs(h, seqs, lines, 4);
    assert_int_equal(lines[0], A);
    assert_int_equal(lines[2], B);
    assert_int_equal(h->st.line[A].wins, 1);
    assert_int_equal(h->st.line[B].wins, 1);
    assert_int_equal(h->st.line[A].duplicates, 1);
    assert_int_equal(h->st.line[B].duplicates, 1);
    const feed_hist_t *sk = feed_core_skew(h->core);
    assert_int_equal(sk->count, 2);
    assert_int_equal(sk->max, 50);
    assert_int_equal(feed_core_next(h->core), 4);
    finish(h);
}

static void test_duplicates_same_line(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    h_pkt(h, A, 1, 1);
    h_pkt(h, A, 2, 1);
    h_pkt(h, A, 2, 1);
    expect_msgs(h, (uint64_t[]){1, 2}, 2);
    assert_int_equal(h->st.line[A].duplicates, 2);
    assert_int_equal(feed_core_skew(h->core)->count, 0); /* same line: no skew sample */
    finish(h);
}

static void test_reorder_within_window(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    h_pkt(h, A, 3, 2);
    h_pkt(h, A, 5, 1);
    assert_int_equal(feed_core_held(h->core), 2);
    h_pkt(h, A, 2, 1);
    expect_msgs(h, (uint64_t[]){1, 2, 3, 4, 5}, 5);
    assert_int_equal(feed_core_held(h->core), 0);
    assert_int_equal(h->st.gaps, 0);
    finish(h);
}

static void test_held_first_arrival_wins(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    h_pkt(h, B, 3, 1); /* both held, B first */
    h_pkt(h, A, 3, 1);
    h_pkt(h, A, 2, 1);
    uint64_t seqs[3];
    uint8_t lines[3];
    assert_int_equal(h_msgs(h, seqs, lines, 3), 3);
    assert_int_equal(seqs[2], 3);
    assert_int_equal(lines[2], B);
    assert_int_equal(h->st.line[A].duplicates, 1);
    finish(h);
}

static void test_overlapping_packets(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 3); /* 1..3 */
    h_pkt(h, B, 2, 4); /* 2..5: only 4, 5 are new */
    expect_msgs(h, (uint64_t[]){1, 2, 3, 4, 5}, 5);
    assert_int_equal(h->st.line[B].wins, 1);
    finish(h);
}

static void test_gap_after_wait(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    h_pkt(h, A, 3, 1);
    h_pkt(h, B, 3, 1);
    h_advance(h, h->now + WAIT - 1);
    assert_int_equal(h->st.gaps, 0);
    assert_int_equal(feed_core_deadline(h->core), 1000 + WAIT);
    h_advance(h, h->now + 1);
    assert_int_equal(h->st.gaps, 1);
    int g = h_find_ev(h, MD_EV_GAP, 0);
    assert_true(g > 0);
    assert_int_equal(h->log[g].seq, 2);
    assert_int_equal(h->log[g].to, 2);
    /* the gap comes before message 3 */
    assert_int_equal(h->log[g + 1].kind, H_KIND_MSG);
    assert_int_equal(h->log[g + 1].seq, 3);
    assert_int_equal(h->st.line[B].duplicates, 1);
    assert_int_equal(feed_core_next(h->core), 4);
    /* without re-requests the gap waits final_wait (= gap_wait) for late copies */
    h_advance(h, h->now + WAIT);
    assert_int_equal(h_count_ev(h, MD_EV_GAP_FINAL), 1);
    assert_int_equal(h->st.final_lost, 1);
    finish(h);
}

static void test_gap_filled_late_by_other_line(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    c.final_wait_ns = 50 * WAIT;
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    h_pkt(h, A, 3, 2);
    h_advance(h, h->now + WAIT);
    assert_int_equal(h->st.gaps, 1);
    h_pkt(h, B, 2, 2); /* 2 is recovered, 3 is a duplicate part */
    expect_msgs(h, (uint64_t[]){1, 3, 4, 2}, 4);
    assert_int_equal(h->st.recovered, 1);
    assert_int_equal(h->st.line[B].fills, 1);
    int f = h_find_ev(h, MD_EV_GAP_FILLED, 0);
    assert_true(f > 0);
    assert_int_equal(h->log[f].seq, 2);
    assert_int_equal(h->log[f].line, B);
    assert_int_equal(feed_core_holes(h->core), 0);
    h_pkt(h, A, 2, 1); /* now a plain duplicate */
    assert_int_equal(h->st.line[A].duplicates, 1);
    finish(h);
    /* finish flushed: nothing final */
}

static void test_window_full_declares_gap(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    c.window = 2;
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    h_pkt(h, A, 3, 1);
    h_pkt(h, A, 4, 1);
    assert_int_equal(h->st.gaps, 0);
    h_pkt(h, A, 5, 1); /* A's window is full: 2 is declared missing at once */
    assert_int_equal(h->st.gaps, 1);
    assert_int_equal(h->st.gaps_window, 1);
    expect_msgs(h, (uint64_t[]){1, 3, 4, 5}, 4);
    finish(h);
}

static void test_retransmission_fills_gap(void **state)
{
    (void)state;
    feed_core_conf_t c = conf_rereq();
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    h_pkt(h, A, 5, 1);
    h_advance(h, h->now + WAIT);
    assert_int_equal(h->nreq, 1);
    assert_int_equal(h->req[0].seq, 2);
    assert_int_equal(h->req[0].count, 3);
    h_pkt(h, R, 2, 3);
    expect_msgs(h, (uint64_t[]){1, 5, 2, 3, 4}, 5);
    uint8_t lines[5];
    uint64_t seqs[5];
    h_msgs(h, seqs, lines, 5);
    assert_int_equal(lines[2], R);
    assert_int_equal(h->st.recovered, 3);
    assert_int_equal(h_count_ev(h, MD_EV_GAP_FILLED), 1);
    assert_int_equal(feed_core_holes(h->core), 0);
    /* no retries once filled */
    h_advance(h, h->now + 100 * WAIT);
    assert_int_equal(h->nreq, 1);
    finish(h);
}

static void test_partial_fills_and_chunks(void **state)
{
    (void)state;
    feed_core_conf_t c = conf_rereq();
    c.max_msgs = 4;
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    h_pkt(h, A, 12, 1); /* 2..11 missing: 10 messages */
    h_advance(h, h->now + WAIT);
    assert_int_equal(h->nreq, 1);
    assert_int_equal(h->req[0].seq, 2);
    assert_int_equal(h->req[0].count, 4);
    h_pkt(h, R, 2, 2); /* half of the chunk: no new request yet */
    assert_int_equal(h->nreq, 1);
    h_pkt(h, R, 4, 2); /* chunk done: the next one goes out at once */
    assert_int_equal(h->nreq, 2);
    assert_int_equal(h->req[1].seq, 6);
    assert_int_equal(h->req[1].count, 4);
    h_pkt(h, B, 8, 1); /* a late copy in the middle splits the hole */
    assert_int_equal(feed_core_holes(h->core), 2);
    h_pkt(h, R, 6, 4); /* 6..9: 8 is a duplicate part */
    assert_int_equal(h->nreq, 3);
    assert_int_equal(h->req[2].seq, 10);
    assert_int_equal(h->req[2].count, 2);
    h_pkt(h, R, 10, 2);
    assert_int_equal(feed_core_holes(h->core), 0);
    assert_int_equal(h->st.recovered, 10);
    /* every message exactly once */
    uint64_t seqs[32];
    unsigned n = h_msgs(h, seqs, NULL, 32);
    assert_int_equal(n, 12);
    bool seen[13] = {0};
    for (unsigned i = 0; i < n; i++) {
        assert_false(seen[seqs[i]]);
        seen[seqs[i]] = true;
    }
    finish(h);
}

static void test_retries_then_final(void **state)
{
    (void)state;
    feed_core_conf_t c = conf_rereq();
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    h_pkt(h, A, 3, 1);
    h_advance(h, h->now + WAIT);
    assert_int_equal(h->nreq, 1);
    h_advance(h, h->now + c.retry_ns);
    assert_int_equal(h->nreq, 2);
    h_advance(h, h->now + c.retry_ns);
    assert_int_equal(h->nreq, 3);
    assert_int_equal(h_count_ev(h, MD_EV_GAP_FINAL), 0);
    h_advance(h, h->now + c.retry_ns);
    assert_int_equal(h->nreq, 3);
    assert_int_equal(h_count_ev(h, MD_EV_GAP_FINAL), 1);
    assert_int_equal(h->st.requests, 3);
    assert_int_equal(h->st.req_retries, 2);
    assert_int_equal(h->st.final_lost, 1);
    /* a retransmission after the final gap is a duplicate */
    h_pkt(h, R, 2, 1);
    assert_int_equal(h->st.line[R].late, 1); /* late, not a plain duplicate */
    assert_int_equal(h->st.line[R].duplicates, 0);
    expect_msgs(h, (uint64_t[]){1, 3}, 2);
    finish(h);
}

static void test_no_retries(void **state)
{
    (void)state;
    feed_core_conf_t c = conf_rereq();
    c.max_retries = FEED_RETRIES_NONE;
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    h_pkt(h, A, 3, 1);
    h_advance(h, h->now + WAIT);
    assert_int_equal(h->nreq, 1);
    h_advance(h, h->now + c.retry_ns);
    assert_int_equal(h->nreq, 1);
    assert_int_equal(h->st.final_lost, 1);
    finish(h);
}

static void test_request_failures_counted(void **state)
{
    (void)state;
    feed_core_conf_t c = conf_rereq();
    harness_t *h = h_new(&c);
    h->req_rc = -1;
    h_pkt(h, A, 1, 1);
    h_pkt(h, A, 3, 1);
    h_advance(h, h->now + WAIT + 3 * c.retry_ns);
    assert_int_equal(h->st.req_failed, 3);
    assert_int_equal(h->st.final_lost, 1);
    finish(h);
}

static void test_rate_limit_and_outstanding(void **state)
{
    (void)state;
    feed_core_conf_t c = conf_rereq();
    c.rate_per_s = 1000; /* one per ms */
    c.max_outstanding = 2;
    c.window = 64;
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    for (uint64_t s = 3; s <= 11; s += 2) /* 2, 4, 6, 8, 10 missing */
        h_pkt(h, A, s, 1);
    h_advance(h, h->now + WAIT);
    assert_int_equal(h->st.gaps, 5);
    /* at most 2 in flight, whatever the rate allows */
    assert_int_equal(h->nreq, 2);
    h_pkt(h, R, h->req[0].seq, 1);
    h_pkt(h, R, h->req[1].seq, 1);
    assert_true(h->nreq <= 4);
    h_advance(h, h->now + 2 * WAIT);
    assert_int_equal(h->nreq, 4);
    /* requests never closer than the rate allows beyond the burst */
    for (unsigned i = 2; i < h->nreq; i++)
        assert_true(h->req[i].at - h->req[i - 2].at >= 1000000);
    assert_true(h->st.req_limited > 0);
    finish(h);
}

static void test_session_change(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    h_pkt_s(h, H_S1, A, 1, 2, 0);
    h_pkt_s(h, H_S1, A, 4, 1, 0); /* 3 missing, held */
    h_pkt_s(h, H_S2, B, 1, 1, 0); /* new session */
    h_pkt_s(h, H_S1, A, 3, 1, 0); /* stale */
    h_pkt_s(h, H_S2, A, 1, 2, 0);
    assert_int_equal(h->st.session_changes, 1);
    assert_int_equal(h->st.line[A].stale, 1);
    int sc = h_find_ev(h, MD_EV_SESSION_CHANGE, 0);
    assert_true(sc > 0);
    assert_memory_equal(h->log[sc].session, H_S2, MOLD_SESSION_LEN);
    /* old session flushed first: gap 3, message 4, gap 3 final */
    int g = h_find_ev(h, MD_EV_GAP, 0), fin = h_find_ev(h, MD_EV_GAP_FINAL, 0);
    assert_true(g > 0 && g < sc && fin > 0 && fin < sc);
    expect_msgs(h, (uint64_t[]){1, 2, 4, 1, 2}, 5);
    assert_int_equal(feed_core_next(h->core), 3);
    finish(h);
}

static void test_end_of_session(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    feed_core_heartbeat(h->core, A, H_S1, 4, true, h->now); /* 2, 3 never came */
    assert_int_equal(h->st.end_of_session, 0);
    feed_core_heartbeat(h->core, B, H_S1, 4, true, h->now);
    h_advance(h, h->now + WAIT);
    assert_int_equal(h->st.gaps, 1);
    int g = h_find_ev(h, MD_EV_GAP, 0), e = h_find_ev(h, MD_EV_END_OF_SESSION, 0);
    assert_true(g >= 0 && e > g);
    assert_int_equal(h->log[g].seq, 2);
    assert_int_equal(h->log[g].to, 3);
    assert_int_equal(h->log[e].seq, 4);
    assert_memory_equal(h->log[e].session, H_S1, MOLD_SESSION_LEN);
    assert_int_equal(h->st.end_of_session, 1);
    assert_int_equal(h->st.line[A].heartbeats + h->st.line[B].heartbeats, 2);
    finish(h);
}

static void test_end_of_session_in_order(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 3);
    feed_core_heartbeat(h->core, A, H_S1, 4, true, h->now);
    assert_int_equal(h->st.end_of_session, 1);
    assert_int_equal(h_count_ev(h, MD_EV_END_OF_SESSION), 1);
    feed_core_heartbeat(h->core, B, H_S1, 4, true, h->now);
    assert_int_equal(h_count_ev(h, MD_EV_END_OF_SESSION), 1);
    finish(h);
}

static void test_heartbeat_reveals_tail_loss(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    feed_core_heartbeat(h->core, A, H_S1, 4, false, h->now); /* 2, 3 were sent */
    h_advance(h, h->now + WAIT);
    assert_int_equal(h->st.gaps, 1);
    assert_int_equal(h->st.gap_msgs, 2);
    assert_int_equal(feed_core_next(h->core), 4);
    feed_core_heartbeat(h->core, B, H_S1, 4, false, h->now); /* nothing new */
    assert_int_equal(feed_core_held(h->core), 0);
    finish(h);
}

static void test_line_health(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    uint64_t t0 = h->now, to = c.line_timeout_ns;
    h_pkt(h, A, 1, 1);
    h_pkt(h, B, 1, 1);
    /* B keeps sending heartbeats; A goes silent */
    for (int i = 1; i <= 3; i++) {
        h_advance(h, t0 + (uint64_t)i * to / 2);
        feed_core_heartbeat(h->core, B, H_S1, 2, false, h->now);
    }
    assert_int_equal(h_count_ev(h, MD_EV_LINE_DOWN), 1);
    int d = h_find_ev(h, MD_EV_LINE_DOWN, 0);
    assert_int_equal(h->log[d].line, A);
    assert_int_equal(h->st.line[A].state, FEED_DOWN);
    assert_int_equal(h->st.line[B].state, FEED_UP);
    assert_int_equal(h->st.feed_state, FEED_UP);
    /* B silent too: feed down */
    h_advance(h, h->now + to);
    assert_int_equal(h_count_ev(h, MD_EV_LINE_DOWN), 2);
    assert_int_equal(h_count_ev(h, MD_EV_FEED_DOWN), 1);
    assert_int_equal(h->st.feed_state, FEED_DOWN);
    /* A comes back: line up, then feed up */
    h_pkt(h, A, 2, 1);
    int u = h_find_ev(h, MD_EV_LINE_UP, 0), fu = h_find_ev(h, MD_EV_FEED_UP, 0);
    assert_true(u > 0 && fu > u);
    assert_int_equal(h->log[u].line, A);
    assert_int_equal(h->st.feed_state, FEED_UP);
    /* retransmissions never count as line traffic */
    h_advance(h, h->now + to);
    h_pkt(h, R, 3, 1);
    assert_int_equal(h->st.line[A].state, FEED_DOWN);
    finish(h);
}

static void test_start_resets_line_timers(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    h->now += 3 * c.line_timeout_ns; /* created long before the handler runs */
    feed_core_start(h->core, h->now);
    h_advance(h, h->now + c.line_timeout_ns / 2);
    assert_int_equal(h_count_ev(h, MD_EV_LINE_DOWN), 0);
    h_advance(h, h->now + c.line_timeout_ns);
    assert_int_equal(h_count_ev(h, MD_EV_LINE_DOWN), 2);
    finish(h);
}

static void test_single_line_not_watched(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    c.monitored = 1; /* A only */
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    h_advance(h, h->now + c.line_timeout_ns / 2);
    h_pkt(h, A, 2, 1);
    h_advance(h, h->now + c.line_timeout_ns / 2);
    assert_int_equal(h_count_ev(h, MD_EV_LINE_DOWN), 0);
    finish(h);
}

static void test_malformed_counted(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    feed_core_malformed(h->core, A, MOLD_ERR_SHORT_HEADER);
    feed_core_malformed(h->core, B, MOLD_ERR_BLOCK_OVERRUN);
    feed_core_malformed(h->core, B, MOLD_ERR_BLOCK_OVERRUN);
    feed_core_malformed(h->core, B, 9999); /* out of range: counted, never a crash */
    assert_int_equal(h->st.line[A].malformed, 1);
    assert_int_equal(h->st.line[A].malformed_by[MOLD_ERR_SHORT_HEADER], 1);
    assert_int_equal(h->st.line[B].malformed, 3);
    assert_int_equal(h->st.line[B].malformed_by[MOLD_ERR_BLOCK_OVERRUN], 2);
    finish(h);
}

static void test_restart_resync(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    c.final_wait_ns = 100 * WAIT;
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    h_pkt(h, A, 3, 1); /* held */
    feed_core_restart(h->core, h->now);
    assert_int_equal(h->st.restarts, 1);
    assert_int_equal(h->st.line[A].discarded, 1);
    assert_int_equal(h->pkts[1].released, 1);
    int r = h_find_ev(h, MD_EV_HANDLER_RESTART, 0);
    assert_true(r >= 0);
    assert_int_equal(h->log[r].value, 1);
    assert_int_equal(h->log[r].seq, 2); /* where the sequence stands */
    h_pkt(h, A, 5, 1);                  /* held: no gap declared at once */
    assert_int_equal(h->st.gaps, 0);
    h_pkt(h, B, 2, 1); /* the other line brings what was missing ... */
    h_pkt(h, B, 3, 1); /* ... and what the restart dropped */
    h_pkt(h, B, 4, 1);
    assert_int_equal(h->st.gaps, 0);
    expect_msgs(h, (uint64_t[]){1, 2, 3, 4, 5}, 5);
    /* a second restart, then a loss no line fills: a gap after the wait, only then */
    h_pkt(h, A, 7, 1); /* held */
    feed_core_restart(h->core, h->now);
    assert_int_equal(h->st.restarts, 2);
    h_pkt(h, B, 8, 1);
    h_advance(h, h->now + WAIT - 1);
    assert_int_equal(h->st.gaps, 0);
    h_advance(h, h->now + 1);
    assert_int_equal(h->st.gaps, 1);
    assert_int_equal(h->st.gap_msgs, 2); /* 6 (never sent) and 7 (dropped by the restart) */
    expect_msgs(h, (uint64_t[]){1, 2, 3, 4, 5, 8}, 6);
    finish(h);
}

static void test_flush_releases_in_order(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    h_pkt(h, B, 6, 1);
    h_pkt(h, A, 4, 1);
    feed_core_flush(h->core, h->now);
    expect_msgs(h, (uint64_t[]){1, 4, 6}, 3);
    assert_int_equal(h->st.gaps, 2);
    assert_int_equal(h_count_ev(h, MD_EV_GAP_FINAL), 2);
    assert_int_equal(h->st.final_lost, 3);
    assert_true(h_all_released(h));
    h_free(h);
}

static void test_discard(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    h_pkt(h, A, 3, 1);
    h_pkt(h, B, 4, 1);
    feed_core_discard(h->core);
    assert_int_equal(h->st.line[A].discarded + h->st.line[B].discarded, 2);
    assert_true(h_all_released(h));
    expect_msgs(h, (uint64_t[]){1}, 1);
    h_free(h);
}

static void test_hole_table_bounded(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    c.window = 1;
    c.final_wait_ns = 1000 * WAIT;
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    for (unsigned i = 0; i < FEED_HOLES_MAX + 10; i++) {
        h_pkt(h, A, 3 + 2 * i, 1);
        h_pkt(h, A, 5 + 2 * i, 1); /* window 1: the previous hole is declared */
    }
    assert_true(feed_core_holes(h->core) <= FEED_HOLES_MAX);
    assert_true(h->st.holes_evicted >= 10);
    assert_int_equal(h->st.final_lost, h->st.holes_evicted);
    finish(h);
}

static void test_start_reordered(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    h_pkt(h, B, 3, 1); /* sessions start at 1: 1..2 are awaited, not skipped */
    h_pkt(h, A, 1, 2);
    expect_msgs(h, (uint64_t[]){1, 2, 3}, 3);
    assert_int_equal(h->st.gaps, 0);
    h_pkt(h, A, 5, 1);
    h_advance(h, h->now + WAIT);
    assert_int_equal(h->st.gaps, 1);
    finish(h);
}

static void test_missing_start_is_gap(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    h_pkt(h, A, 3, 1);
    h_advance(h, h->now + WAIT);
    int g = h_find_ev(h, MD_EV_GAP, 0);
    assert_true(g >= 0);
    assert_int_equal(h->log[g].seq, 1);
    assert_int_equal(h->log[g].to, 2);
    finish(h);
}

static void test_sync_on_first(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    c.first_seq = FEED_SYNC_FIRST;
    harness_t *h = h_new(&c);
    h_pkt(h, A, 100, 2);
    h_pkt(h, B, 99, 1); /* before our start: nothing to deliver */
    expect_msgs(h, (uint64_t[]){100, 101}, 2);
    assert_int_equal(h->st.gaps, 0);
    assert_int_equal(h->st.line[B].duplicates, 1);
    finish(h);
}

/* ------------------------------------------------------------------------------ */
/* The arrival clock: a backlog at the handler must never turn into a gap          */
/* ------------------------------------------------------------------------------ */

/* A packet of input (line, 0) stamped @p rx, taken by a handler at @p wall. */
static void cpkt(harness_t *h, feed_clock_t *k, uint8_t line, uint64_t seq, uint16_t count,
                 uint64_t rx, uint64_t wall)
{
    h->now = feed_clock_packet(k, h->core, line, 0, rx, wall);
    h_pkt_s(h, H_S1, line, seq, count, rx);
}

static void ctick(harness_t *h, feed_clock_t *k, uint64_t wall)
{
    h->now = wall;
    feed_clock_tick(k, h->core, wall);
}

static const unsigned N_AB[FEED_LINES] = {1, 1, 0};
static const unsigned N_ABR[FEED_LINES] = {1, 1, 1};

/* B's copy arrived within gap_wait, but the handler reads it 50 ms later: no gap. */
static void test_backlog_no_gap(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    feed_clock_t k;
    uint64_t t0 = h->now, wall = t0 + 50 * WAIT;
    feed_clock_init(&k, N_AB);
    cpkt(h, &k, A, 1, 1, t0 + 10, wall);
    cpkt(h, &k, A, 3, 1, t0 + 20, wall); /* 2 lost on A */
    feed_clock_empty(&k, A, 0, wall);
    ctick(h, &k, wall);
    /* a wall clock would declare the gap now; B is not read: arrival time is not on */
    assert_true(feed_core_due(h->core, wall));
    assert_int_equal(k.arrival, 0);
    assert_int_equal(h->st.gaps, 0);
    cpkt(h, &k, B, 1, 1, t0 + 15, wall);
    cpkt(h, &k, B, 2, 1, t0 + 20 + WAIT - 1, wall); /* within gap_wait of A's 3 */
    cpkt(h, &k, B, 3, 1, t0 + 25 + WAIT, wall);
    feed_clock_empty(&k, B, 0, wall);
    ctick(h, &k, wall);
    assert_int_equal(h->st.gaps, 0);
    assert_int_equal(h_count_ev(h, MD_EV_GAP), 0);
    expect_msgs(h, (uint64_t[]){1, 2, 3}, 3);
    assert_int_equal(h->st.line[B].wins, 1);
    finish(h);
}

/* B's copy was stamped beyond gap_wait: a gap, then a fill by B (the same as at 1x). */
static void test_backlog_late_stamp_gap_then_fill(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    feed_clock_t k;
    uint64_t t0 = h->now, wall = t0 + 50 * WAIT;
    feed_clock_init(&k, N_AB);
    cpkt(h, &k, A, 1, 1, t0 + 10, wall);
    cpkt(h, &k, A, 3, 1, t0 + 20, wall);
    feed_clock_empty(&k, A, 0, wall);
    ctick(h, &k, wall);
    cpkt(h, &k, B, 1, 1, t0 + 15, wall);
    assert_int_equal(h->st.gaps, 0);
    /* arrival time passes the deadline with this packet: the gap comes first */
    cpkt(h, &k, B, 2, 1, t0 + 20 + WAIT + 5, wall);
    assert_int_equal(h->st.gaps, 1);
    int g = h_find_ev(h, MD_EV_GAP, 0), f = h_find_ev(h, MD_EV_GAP_FILLED, 0);
    assert_true(g > 0 && f > g);
    assert_int_equal(h->log[g].seq, 2);
    assert_int_equal(h->log[f].line, B);
    expect_msgs(h, (uint64_t[]){1, 3, 2}, 3);
    assert_int_equal(h->st.recovered, 1);
    assert_int_equal(h->st.final_lost, 0);
    feed_clock_empty(&k, B, 0, wall);
    ctick(h, &k, wall);
    assert_int_equal(h_count_ev(h, MD_EV_GAP_FINAL), 0);
    finish(h);
}

/* Line silence is arrival time too: B's backlog cannot make A look silent, ... */
static void test_backlog_line_silence(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    uint64_t to = c.line_timeout_ns;
    harness_t *h = h_new(&c);
    feed_clock_t k;
    uint64_t t0 = h->now, wall = t0 + 2 * to;
    feed_clock_init(&k, N_AB);
    cpkt(h, &k, A, 1, 1, t0 + 10, wall);
    feed_clock_empty(&k, A, 0, wall);
    ctick(h, &k, wall); /* B not read yet: arrival time has not started */
    assert_int_equal(k.arrival, 0);
    assert_int_equal(h_count_ev(h, MD_EV_LINE_DOWN), 0);
    /* ... but B's traffic stamped past A's timeout shows A really was silent */
    cpkt(h, &k, B, 1, 1, t0 + to / 2, wall);
    assert_int_equal(h_count_ev(h, MD_EV_LINE_DOWN), 0);
    cpkt(h, &k, B, 2, 1, t0 + to + 20, wall);
    assert_int_equal(h_count_ev(h, MD_EV_LINE_DOWN), 1);
    assert_int_equal(h->st.line[A].state, FEED_DOWN);
    assert_int_equal(h->st.line[B].state, FEED_UP);
    /* idle: the wall clock runs, and a silent line goes down (B too, later) */
    feed_clock_empty(&k, B, 0, wall);
    ctick(h, &k, wall);
    assert_int_equal(h->st.line[B].state, FEED_UP);
    /* still a backlog on A: no wall clock for it */
    ctick(h, &k, t0 + 2 * to + 21);
    assert_int_equal(h->st.line[B].state, FEED_UP);
    feed_clock_empty(&k, A, 0, t0 + 2 * to + 21);
    feed_clock_empty(&k, B, 0, t0 + 2 * to + 21);
    ctick(h, &k, t0 + 2 * to + 21);
    assert_int_equal(h->st.line[B].state, FEED_DOWN);
    assert_int_equal(h->st.feed_state, FEED_DOWN);
    finish(h);
}

/* The retry timer is real time, but a retransmission waiting in its channel holds it. */
static void test_queued_retransmission_holds_retry(void **state)
{
    (void)state;
    feed_core_conf_t c = conf_rereq();
    harness_t *h = h_new(&c);
    feed_clock_t k;
    uint64_t t0 = h->now, w1 = t0 + 30;
    feed_clock_init(&k, N_ABR);
    cpkt(h, &k, A, 1, 1, t0 + 10, w1);
    cpkt(h, &k, A, 3, 1, t0 + 20, w1);
    uint64_t w2 = t0 + 20 + WAIT; /* idle until the gap is due */
    for (uint8_t l = 0; l < FEED_LINES; l++)
        feed_clock_empty(&k, l, 0, w2);
    ctick(h, &k, w2);
    assert_int_equal(h->st.gaps, 1);
    assert_int_equal(h->nreq, 1);
    /* the answer came at w2 + retry/2 but the handler is behind: a retry would be wrong */
    uint64_t w3 = w2 + 3 * c.retry_ns;
    feed_clock_empty(&k, A, 0, w3);
    feed_clock_empty(&k, B, 0, w3);
    ctick(h, &k, w3);
    assert_int_equal(h->nreq, 1);
    assert_int_equal(h_count_ev(h, MD_EV_GAP_FINAL), 0);
    cpkt(h, &k, R, 2, 1, w2 + c.retry_ns / 2, w3);
    assert_int_equal(h->st.recovered, 1);
    assert_int_equal(feed_core_holes(h->core), 0);
    feed_clock_empty(&k, R, 0, w3);
    ctick(h, &k, w3 + 10 * c.retry_ns);
    assert_int_equal(h->nreq, 1);
    finish(h);
}

/* A copy on the other line after the gap, before final: accepted as the fill. */
static void test_late_copy_fills_open_request(void **state)
{
    (void)state;
    feed_core_conf_t c = conf_rereq();
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    h_pkt(h, A, 3, 1);
    h_advance(h, h->now + WAIT);
    assert_int_equal(h->nreq, 1);
    h_advance(h, h->now + c.retry_ns + 1); /* a retry went out: the hole is still open */
    assert_int_equal(h->nreq, 2);
    h_pkt(h, B, 2, 2);
    expect_msgs(h, (uint64_t[]){1, 3, 2}, 3);
    assert_int_equal(h->st.line[B].fills, 1);
    assert_int_equal(h_count_ev(h, MD_EV_GAP_FILLED), 1);
    assert_int_equal(h_count_ev(h, MD_EV_GAP_FINAL), 0);
    /* the server's answer to the retry: a plain duplicate now, not late */
    h_pkt(h, R, 2, 1);
    assert_int_equal(h->st.line[R].duplicates, 1);
    assert_int_equal(h->st.line[R].late, 0);
    h_advance(h, h->now + 10 * c.retry_ns);
    assert_int_equal(h->nreq, 2);
    finish(h);
}

/* A copy after MD_EV_GAP_FINAL: not published, counted as late on its line. */
static void test_copy_after_final_counted_late(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    h_pkt(h, A, 1, 1);
    h_pkt(h, A, 4, 1);
    h_advance(h, h->now + 2 * WAIT); /* gap [2, 3], then final after final_wait */
    assert_int_equal(h_count_ev(h, MD_EV_GAP_FINAL), 1);
    assert_int_equal(h->st.final_lost, 2);
    h_pkt(h, B, 2, 1);
    h_pkt(h, B, 3, 2); /* 3 given up, 4 delivered already */
    h_pkt(h, B, 4, 1); /* a plain duplicate */
    assert_int_equal(h->st.line[B].late, 2);
    assert_int_equal(h->st.line[B].duplicates, 1);
    assert_int_equal(h->st.recovered, 0);
    expect_msgs(h, (uint64_t[]){1, 4}, 2);
    finish(h);
}

/* A stamp beyond the wall clock or behind what the input showed is clamped. */
static void test_clock_clamps_stamps(void **state)
{
    (void)state;
    feed_core_conf_t c = conf();
    harness_t *h = h_new(&c);
    feed_clock_t k;
    uint64_t t0 = h->now;
    feed_clock_init(&k, N_AB);
    /* queued before the handler started: the stamp stands, it is not clamped up to a
       start time (that would make both lines' backlogs look simultaneous) */
    assert_int_equal(feed_clock_packet(&k, h->core, B, 0, 7, t0 + 50), 7);
    assert_int_equal(feed_clock_known(&k, B, 0), 7);
    feed_clock_empty(&k, A, 0, t0 + 100);
    assert_int_equal(feed_clock_packet(&k, h->core, A, 0, 0, t0 + 200), t0 + 100);
    assert_int_equal(feed_clock_packet(&k, h->core, A, 0, UINT64_MAX, t0 + 200), t0 + 200);
    assert_int_equal(k.arrival, 7); /* B is read up to 7 */
    feed_clock_closed(&k, B, 0, t0 + 300);
    assert_int_equal(k.arrival, t0 + 200);
    feed_clock_closed(&k, A, 0, t0 + 300);
    assert_int_equal(k.arrival, t0 + 300); /* nothing open: the wall clock */
    finish(h);
}

static void test_hist(void **state)
{
    (void)state;
    feed_hist_t hh;
    feed_hist_init(&hh);
    assert_int_equal(feed_hist_quantile(&hh, 0.5), 0);
    for (uint64_t v = 1; v <= 1000; v++)
        feed_hist_record(&hh, v);
    uint64_t p50 = feed_hist_quantile(&hh, 0.5), p99 = feed_hist_quantile(&hh, 0.99);
    assert_true(p50 >= 500 && p50 <= 500 * 9 / 8 + 1);
    assert_true(p99 >= 990 && p99 <= 1000);
    assert_int_equal(feed_hist_quantile(&hh, 1.0), 1000);
    feed_hist_record(&hh, UINT64_MAX);
    assert_int_equal(feed_hist_quantile(&hh, 1.0), UINT64_MAX);
}

static void test_bad_conf(void **state)
{
    (void)state;
    feed_stats_t st;
    feed_core_conf_t c = conf();
    c.window = FEED_WINDOW_MAX + 1;
    assert_null(feed_core_new(&c, &h_ops, NULL, &st, 0, -1));
    c = conf();
    c.max_msgs = 70000;
    assert_null(feed_core_new(&c, &h_ops, NULL, &st, 0, -1));
    c = conf();
    assert_null(feed_core_new(&c, &h_ops, NULL, NULL, 0, -1));
}

/* One's-complement sum over 16-bit words. */
static uint16_t csum(const uint8_t *p, size_t n, uint32_t sum)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)sum;
}

static void test_request_frame(void **state)
{
    (void)state;
    feed_rereq_conf_t r = {.src_mac = {2, 0, 0, 0, 0, 1},
                           .dst_mac = {2, 0, 0, 0, 0, 2},
                           .src_ip_be = __builtin_bswap32(0x0a000001),
                           .dst_ip_be = __builtin_bswap32(0x0a000002),
                           .src_port_be = __builtin_bswap16(5000),
                           .dst_port_be = __builtin_bswap16(6000)};
    uint8_t buf[128];
    assert_int_equal(feed_build_request(&r, H_S1, 77, 5, buf, 10), 0);
    size_t n = feed_build_request(&r, H_S1, 77, 5, buf, sizeof(buf));
    assert_int_equal(n, 62);
    assert_memory_equal(buf, r.dst_mac, 6);
    assert_int_equal(buf[12], 0x08);
    assert_int_equal(buf[14], 0x45);
    assert_int_equal(csum(buf + 14, 20, 0), 0xFFFF); /* IPv4 header checksum valid */
    uint32_t pseudo = 17 + 28;
    pseudo += csum(buf + 26, 8, 0);
    assert_int_equal(csum(buf + 34, 28, pseudo), 0xFFFF); /* UDP checksum valid */
    mold_req_t q;
    assert_int_equal(mold_parse_request(buf + 42, 20, &q), MOLD_OK);
    assert_memory_equal(q.session, H_S1, MOLD_SESSION_LEN);
    assert_int_equal(q.seq, 77);
    assert_int_equal(q.count, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_arrival_wins),
        cmocka_unit_test(test_duplicates_same_line),
        cmocka_unit_test(test_reorder_within_window),
        cmocka_unit_test(test_held_first_arrival_wins),
        cmocka_unit_test(test_overlapping_packets),
        cmocka_unit_test(test_gap_after_wait),
        cmocka_unit_test(test_gap_filled_late_by_other_line),
        cmocka_unit_test(test_window_full_declares_gap),
        cmocka_unit_test(test_retransmission_fills_gap),
        cmocka_unit_test(test_partial_fills_and_chunks),
        cmocka_unit_test(test_retries_then_final),
        cmocka_unit_test(test_no_retries),
        cmocka_unit_test(test_request_failures_counted),
        cmocka_unit_test(test_rate_limit_and_outstanding),
        cmocka_unit_test(test_session_change),
        cmocka_unit_test(test_end_of_session),
        cmocka_unit_test(test_end_of_session_in_order),
        cmocka_unit_test(test_heartbeat_reveals_tail_loss),
        cmocka_unit_test(test_line_health),
        cmocka_unit_test(test_start_resets_line_timers),
        cmocka_unit_test(test_single_line_not_watched),
        cmocka_unit_test(test_malformed_counted),
        cmocka_unit_test(test_restart_resync),
        cmocka_unit_test(test_flush_releases_in_order),
        cmocka_unit_test(test_discard),
        cmocka_unit_test(test_hole_table_bounded),
        cmocka_unit_test(test_start_reordered),
        cmocka_unit_test(test_missing_start_is_gap),
        cmocka_unit_test(test_sync_on_first),
        cmocka_unit_test(test_backlog_no_gap),
        cmocka_unit_test(test_backlog_late_stamp_gap_then_fill),
        cmocka_unit_test(test_backlog_line_silence),
        cmocka_unit_test(test_queued_retransmission_holds_retry),
        cmocka_unit_test(test_late_copy_fills_open_request),
        cmocka_unit_test(test_copy_after_final_counted_late),
        cmocka_unit_test(test_clock_clamps_stamps),
        cmocka_unit_test(test_hist),
        cmocka_unit_test(test_bad_conf),
        cmocka_unit_test(test_request_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
