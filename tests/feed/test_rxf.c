/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the RX lcore's A/B copy filter (lib/feed/rxf.c, feed_rxf_*): pure, no
 * EAL. Packets are MoldUDP64 payloads built here; the filter's decisions and counts
 * are checked against what the handler would have made of the same packets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "co.h"
#include "feed.h"

#define A 0u
#define B 1u

static const char S1[MOLD_SESSION_LEN + 1] = "SESSION001";
static const char S2[MOLD_SESSION_LEN + 1] = "SESSION002";

typedef struct pkt {
    uint8_t b[512];
    uint32_t len;
} pkt_t;

/* A data packet of @p count one-byte messages from @p seq (count 0: a heartbeat,
   MOLD_COUNT_EOS: an end of session). */
static pkt_t mk(const char *session, uint64_t seq, uint16_t count)
{
    pkt_t p;
    p.len = (uint32_t)mold_encode_hdr(p.b, session, seq, count);
    for (unsigned i = 0; count != MOLD_COUNT_EOS && i < count; i++)
        p.len += (uint32_t)mold_encode_block(p.b + p.len, "A", 1);
    return p;
}

static bool keep(feed_rxf_t *x, unsigned line, const pkt_t *p, uint64_t tsc)
{
    return feed_rxf_keep(x, 0, line, p->b, p->len, tsc);
}

static void stats(const feed_rxf_t *x, feed_stats_t *st, feed_hist_t *skew)
{
    memset(st, 0, sizeof(*st));
    memset(skew, 0, sizeof(*skew));
    feed_rxf_add_stats(x, 0, st, skew);
}

/* The other line's copy is dropped and counted on its line, with its skew. */
static void test_copy_dropped_and_counted(void **state)
{
    (void)state;
    feed_rxf_t *x = feed_rxf_new(1);
    pkt_t p = mk(S1, 1, 3);
    assert_true(keep(x, A, &p, 1000));
    assert_false(keep(x, B, &p, 1700));
    feed_stats_t st;
    feed_hist_t skew;
    stats(x, &st, &skew);
    assert_int_equal(st.line[B].packets, 1);
    assert_int_equal(st.line[B].duplicates, 1);
    assert_int_equal(st.line[B].bytes, p.len);
    assert_int_equal(st.line[A].packets, 0); /* the forwarded one is the handler's */
    assert_int_equal(skew.count, 1);
    assert_int_equal(skew.max, 700);
    feed_rxf_free(x);
}

/* Anything with one new sequence goes through; so does the same line's own resend
   only when new (a same-line duplicate is a copy too, without a skew sample). */
static void test_partial_overlap_forwarded(void **state)
{
    (void)state;
    feed_rxf_t *x = feed_rxf_new(1);
    pkt_t a = mk(S1, 10, 3), b = mk(S1, 11, 3), c = mk(S1, 10, 3);
    assert_true(keep(x, A, &a, 1));
    assert_true(keep(x, B, &b, 2));  /* 13 is new */
    assert_false(keep(x, A, &c, 3)); /* 10..12 all forwarded: A's own duplicate */
    feed_stats_t st;
    feed_hist_t skew;
    stats(x, &st, &skew);
    assert_int_equal(st.line[A].duplicates, 1);
    assert_int_equal(skew.count, 0);
    feed_rxf_free(x);
}

/* Heartbeats, ends of session and malformed packets always go through and mark
   nothing: a malformed A must not make B's good copy look like a copy. */
static void test_control_and_malformed_forwarded(void **state)
{
    (void)state;
    feed_rxf_t *x = feed_rxf_new(1);
    pkt_t hb = mk(S1, 5, 0), eos = mk(S1, 5, MOLD_COUNT_EOS), good = mk(S1, 5, 2);
    assert_true(keep(x, A, &hb, 1));
    assert_true(keep(x, B, &hb, 2));
    assert_true(keep(x, A, &eos, 3));
    assert_true(keep(x, B, &eos, 4));
    pkt_t bad = good;
    bad.len -= 1; /* the last block is cut short */
    assert_true(keep(x, A, &bad, 5));
    assert_true(keep(x, B, &good, 6));
    assert_false(keep(x, A, &good, 7));
    feed_rxf_free(x);
}

/* A new session starts over; the previous session's stale packets go through. */
static void test_sessions(void **state)
{
    (void)state;
    feed_rxf_t *x = feed_rxf_new(1);
    pkt_t a1 = mk(S1, 1, 2), b2 = mk(S2, 1, 2), a1b = mk(S1, 3, 2);
    assert_true(keep(x, A, &a1, 1));
    assert_true(keep(x, B, &b2, 2)); /* another session: nothing of it forwarded yet */
    assert_false(keep(x, A, &b2, 3));
    assert_true(keep(x, A, &a1, 4));  /* stale: the handler counts it */
    assert_true(keep(x, B, &a1b, 5)); /* still stale, and not marked */
    assert_true(keep(x, A, &a1b, 6));
    feed_rxf_free(x);
}

/* A forwarded packet that found its channel full is unmarked: its copy goes through;
   one already dropped in the same burst is forwarded after all and uncounted. */
static void test_unsent_and_again(void **state)
{
    (void)state;
    feed_rxf_t *x = feed_rxf_new(1);
    pkt_t p = mk(S1, 1, 4), q = mk(S1, 5, 4);
    assert_true(keep(x, A, &p, 1));
    feed_rxf_unsent(x, 0, p.b, p.len);
    assert_true(keep(x, B, &p, 2)); /* a later burst: not a copy any more */

    assert_true(keep(x, A, &q, 3));
    assert_false(keep(x, B, &q, 4));                      /* the same burst: dropped ... */
    assert_false(feed_rxf_again(x, 0, B, q.b, q.len, 4)); /* ... and A's still stands */
    feed_rxf_unsent(x, 0, q.b, q.len);                    /* ... until A's is unsent */
    assert_true(feed_rxf_again(x, 0, B, q.b, q.len, 4));
    feed_stats_t st;
    feed_hist_t skew;
    stats(x, &st, &skew);
    assert_int_equal(st.line[B].packets, 0);
    assert_int_equal(st.line[B].duplicates, 0);
    assert_int_equal(st.line[B].bytes, 0);
    assert_false(keep(x, A, &q, 5)); /* B's is the forwarded one now */
    feed_rxf_free(x);
}

/* One copy a line per keepalive period goes through, for the handler's line health. */
static void test_keepalive(void **state)
{
    (void)state;
    feed_rxf_t *x = feed_rxf_new(1);
    uint64_t period = co_ns_to_tsc(1000000);
    feed_rxf_set_keepalive(x, 0, 1000000);
    pkt_t p1 = mk(S1, 1, 1), p2 = mk(S1, 2, 1), p3 = mk(S1, 3, 1);
    uint64_t t = 10 * period;
    assert_true(keep(x, A, &p1, t));
    assert_true(keep(x, B, &p1, t)); /* B never forwarded: due at once */
    assert_true(keep(x, A, &p2, t + 1));
    assert_false(keep(x, B, &p2, t + 2)); /* forwarded just now: a copy */
    assert_true(keep(x, A, &p3, t + period));
    assert_true(keep(x, B, &p3, t + period + 1)); /* a period on: forwarded */
    feed_rxf_free(x);
}

/* A reset (a handler restarting) forgets what was forwarded. */
static void test_reset(void **state)
{
    (void)state;
    feed_rxf_t *x = feed_rxf_new(2);
    pkt_t p = mk(S1, 1, 2);
    assert_true(feed_rxf_keep(x, 1, A, p.b, p.len, 1));
    feed_rxf_reset(x, 1);
    assert_true(feed_rxf_keep(x, 1, B, p.b, p.len, 2));
    assert_false(feed_rxf_keep(x, 1, A, p.b, p.len, 3));
    /* feeds are apart: feed 0 has seen nothing */
    assert_true(feed_rxf_keep(x, 0, B, p.b, p.len, 4));
    feed_rxf_free(x);
}

/* The window slides with the sequence; what slides out is forgotten (forwarded), and
   a copy spanning its edges is not dropped. */
static void test_window_slides(void **state)
{
    (void)state;
    feed_rxf_t *x = feed_rxf_new(1);
    pkt_t old = mk(S1, 1, 8), far = mk(S1, 5000, 8), near = mk(S1, 4992, 8);
    assert_true(keep(x, A, &old, 1));
    assert_true(keep(x, A, &far, 2));
    assert_true(keep(x, B, &old, 3)); /* below the window now: unknown, forwarded */
    assert_false(keep(x, B, &far, 4));
    assert_true(keep(x, B, &near, 5)); /* 4992..4999: never forwarded */
    pkt_t span = mk(S1, 4995, 8);      /* 4995..5002: all forwarded by now */
    assert_false(keep(x, A, &span, 6));
    feed_rxf_free(x);
}

/* Bad arguments forward (the filter only ever drops what it knows to be a copy). */
static void test_out_of_range(void **state)
{
    (void)state;
    assert_null(feed_rxf_new(0));
    feed_rxf_t *x = feed_rxf_new(1);
    pkt_t p = mk(S1, 1, 1);
    assert_true(keep(x, A, &p, 1));
    assert_true(feed_rxf_keep(x, 1, B, p.b, p.len, 2)); /* no such feed */
    assert_true(feed_rxf_keep(x, 0, 2, p.b, p.len, 3)); /* no such line */
    assert_true(keep(x, B, &(pkt_t){.len = 3}, 4));     /* too short for a header */
    feed_rxf_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_dropped_and_counted),
        cmocka_unit_test(test_partial_overlap_forwarded),
        cmocka_unit_test(test_control_and_malformed_forwarded),
        cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_unsent_and_again),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_window_slides),
        cmocka_unit_test(test_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
