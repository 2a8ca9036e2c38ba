/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * app/latency.c's writer (lat_observe) against the definition: every stage of every
 * published message recorded once, its span computed as docs/latency.md says, into the
 * overall and the message's feed histogram. The recorder takes shortcuts (runs of
 * messages sharing their stamps recorded once with a weight, bursts split in chunks);
 * the histograms must still be exactly those of one stats_hist_record() per value.
 * Records come as the mux hands them over: bursts of one feed, packets of several
 * messages sharing tsc_rx / tsc_dequeue / tsc_decode, events in between, stamps out
 * of order, spans above the histograms' range, interval swaps in between.
 *
 * The same again with the recorder off the mux's lcore (lat_conf_t.forward): the
 * "mux" (this thread) hands the stamps to lat_forward(), a recorder coroutine on a
 * thread of its own records them while this thread reads, and a 2-slot channel makes
 * the mux wait for the recorder nearly every burst: lossless, so the histograms are
 * still exact. A recorder that never runs (its lcore failed) costs drops, counted,
 * and no hang.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "co.h"
#include "latency.h"
#include "stats.h"

#include "histcheck.h"
#include "testutil.h"

#define NFEEDS 2
#define ROUNDS 400
#define BURST  100 /* above the recorder's chunk of 64 */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A span in TSC ticks: mostly short, sometimes long, now and then beyond 60 s. */
static uint64_t ticks(void)
{
    switch (rng_next() % 8) {
    case 0:
        return 0;
    case 1:
        return rng_next() % 100000000ull;
    case 2:
        return rng_next() % 300000000000ull; /* up to ~100 s at 3 GHz */
    default:
        return rng_next() % 20000;
    }
}

/* The definition (docs/latency.md "Stages"): to - from in ns, 0 when out of order. */
static uint64_t span(uint64_t mult, uint64_t from, uint64_t to)
{
    uint64_t d = to >= from ? to - from : 0;
    return (uint64_t)(((unsigned __int128)d * mult) >> 32);
}

static const char *const names[NFEEDS] = {"f0", "f1"};

/* The recorder's lcore: a scheduler of its own running lat_recorder_main(). */
static void recorder_co(void *arg)
{
    lat_recorder_main(arg);
}

static void *recorder_thread(void *arg)
{
    co_sched_t *s = co_sched_new(&(co_sched_opts_t){.name = "recorder"});
    assert_non_null(s);
    assert_non_null(co_spawn(recorder_co, arg, &(co_opts_t){.name = "latency-recorder"}));
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(co_sched_free(s, stderr), 0);
    return NULL;
}

/* Observe @p rounds random bursts inline (@p slots 0) or through a recorder thread and
   a channel of @p slots stamps, and check every histogram against the definition. */
static void observe_exact(unsigned slots, int rounds)
{
    rng_state = tu_seed_from_env("MDMUX_LAT_SEED", 5);
    lat_t *l = lat_new(&(lat_conf_t){.nfeeds = NFEEDS,
                                     .names = names,
                                     .intended = true,
                                     .interval_ms = 1,
                                     .forward = slots > 0,
                                     .forward_node = -1,
                                     .forward_slots = slots,
                                     .recorder_lcore = 1});
    assert_non_null(l);
    pthread_t rec;
    if (slots > 0)
        assert_int_equal(pthread_create(&rec, NULL, recorder_thread, l), 0);
    assert_int_equal(lat_nstages(l), LAT_NSTAGES);
    const uint64_t hz = co_tsc_hz();
    const uint64_t mult = (uint64_t)(((unsigned __int128)1000000000u << 32) / hz);
    stats_hist_t *ref[LAT_NSTAGES], *fref[NFEEDS][LAT_NSTAGES];
    for (unsigned s = 0; s < LAT_NSTAGES; s++) {
        ref[s] = stats_hist_create(1, 60000000000ull, STATS_HIST_SIGFIGS_DEFAULT);
        assert_non_null(ref[s]);
        for (unsigned f = 0; f < NFEEDS; f++) {
            fref[f][s] = stats_hist_create(1, 60000000000ull, lat_feed_sigfigs(l));
            assert_non_null(fref[f][s]);
        }
    }

    static md_rec_t recs[BURST];
    md_rec_t *ptr[BURST];
    uint64_t t = 1000000, rx = 0, deq = 0, dec = 0, intended = 0, msgs = 0;
    unsigned left = 0; /* messages left in the current packet */
    for (int round = 0; round < rounds; round++) {
        unsigned f = (unsigned)(rng_next() % NFEEDS), n = 1 + (unsigned)(rng_next() % BURST);
        for (unsigned i = 0; i < n; i++) {
            md_rec_t *r = &recs[i];
            memset(r, 0, sizeof(*r));
            ptr[i] = r;
            r->feed = (uint16_t)f;
            if (rng_next() % 10 == 0) { /* an event: no packet stamps, not recorded */
                r->kind = MD_KIND_EVENT;
                r->tsc_rx = r->tsc_dequeue = r->tsc_decode = t;
                r->tsc_publish = t + ticks();
                continue;
            }
            if (left == 0) { /* a new packet, often of the same channel burst */
                left = 1 + (unsigned)(rng_next() % 6);
                t += ticks();
                if (rng_next() % 3 != 0 || deq == 0) {
                    rx = t;
                    deq = rng_next() % 8 == 0 ? rx - rng_next() % 1000 : rx + ticks();
                }
                dec = deq + ticks();
                intended = rng_next() % 4 == 0 ? 0 : rx - rng_next() % 5000;
            } else if (rng_next() % 5 == 0) {
                dec += ticks(); /* a new decode group in the same packet */
            }
            left--;
            r->kind = MD_KIND_MSG;
            r->tsc_rx = rx;
            r->tsc_dequeue = deq;
            r->tsc_decode = dec;
            r->tsc_intended = intended;
            r->tsc_publish = rng_next() % 16 == 0 ? dec - 1 : dec + ticks();
            uint64_t v[LAT_NSTAGES] = {
                [LAT_RX_TO_DEQUEUE] = span(mult, rx, deq),
                [LAT_DEQUEUE_TO_DECODE] = span(mult, deq, dec),
                [LAT_DECODE_TO_PUBLISH] = span(mult, dec, r->tsc_publish),
                [LAT_RX_TO_PUBLISH] = span(mult, rx, r->tsc_publish),
                [LAT_INTENDED_TO_PUBLISH] = span(mult, intended, r->tsc_publish),
            };
            for (unsigned s = 0; s < LAT_NSTAGES; s++) {
                if (s == LAT_INTENDED_TO_PUBLISH && intended == 0)
                    continue; /* live traffic: no intended time */
                stats_hist_record(ref[s], v[s]);
                stats_hist_record(fref[f][s], v[s]);
            }
            msgs++;
        }
        (slots ? lat_forward : lat_observe)(l, ptr, n);
        if (round % 50 == 0)
            (slots ? lat_forward : lat_observe)(l, NULL, 0); /* the mux's idle call */
        /* The reader's swaps, taken by the writer's next call: the overall intervals
           (lat_tick, a 1 ms interval) and once the feeds' (lat_sync while the writer
           runs: it waits for a writer that only runs after it, then leaves the swaps
           pending, as after a slow mux). Values on either side of a swap must all
           reach the totals. */
        if (round % 40 == 20) {
            uint64_t t0 = co_now_ns();
            while (co_now_ns() - t0 < 1500000)
                ;
            lat_tick(l); /* asks */
        } else if (round % 40 == 21) {
            lat_tick(l); /* takes what the writer left */
        }
        if (round == rounds / 2)
            lat_sync(l, false);
    }
    lat_recorder_stats_t rs;
    if (slots > 0) {
        lat_forward_close(l); /* the mux has ended: the recorder drains and returns */
        assert_int_equal(pthread_join(rec, NULL), 0);
        lat_recorder_stats(l, &rs);
        assert_true(rs.forwarded);
        assert_int_equal(rs.lcore, 1);
        assert_int_equal(rs.sent, msgs);
        assert_int_equal(rs.dropped, 0);
        assert_int_equal(rs.slots, slots);
        if (slots <= 2)
            assert_true(rs.waits > 0); /* bursts of up to 100 into 2 slots */
    } else {
        lat_recorder_stats(l, &rs);
        assert_false(rs.forwarded);
        assert_int_equal(rs.lcore, -1);
        assert_int_equal(rs.sent, 0);
    }
    lat_sync(l, true);
    assert_int_equal(lat_count(l), msgs);

    for (unsigned s = 0; s < LAT_NSTAGES; s++) {
        stats_hist_t *h = lat_stage_snapshot(l, s);
        assert_non_null(h);
        tu_assert_same_hist(h, ref[s]);
        stats_hist_free(h);
    }
    /* The feeds' totals, through lat_feed_buckets: at the top of every bucket that
       holds values, the same cumulative count, and the same count and sum. */
    for (unsigned f = 0; f < NFEEDS; f++) {
        for (unsigned s = 0; s < LAT_NSTAGES; s++) {
            static uint64_t le[4096], out[NFEEDS * LAT_NSTAGES * (4096 + 2)];
            unsigned nle = 0;
            stats_iter_t it;
            stats_iter_buckets(&it, fref[f][s]);
            while (stats_iter_next(&it) && nle < 4096)
                le[nle++] = stats_hist_highest_equiv(fref[f][s], it.value_lo);
            lat_feed_buckets(l, le, nle, out);
            const uint64_t *o = &out[(f * LAT_NSTAGES + s) * (nle + 2)];
            for (unsigned k = 0; k < nle; k++)
                assert_int_equal(o[k], stats_hist_count_le(fref[f][s], le[k]));
            assert_int_equal(o[nle], stats_hist_count(fref[f][s]));
            assert_int_equal(o[nle + 1], fref[f][s]->total);
        }
    }
    for (unsigned s = 0; s < LAT_NSTAGES; s++) {
        stats_hist_free(ref[s]);
        for (unsigned f = 0; f < NFEEDS; f++)
            stats_hist_free(fref[f][s]);
    }
    lat_free(l);
}

static void test_observe_exact(void **state)
{
    (void)state;
    observe_exact(0, ROUNDS);
}

static void test_forward_exact(void **state)
{
    (void)state;
    observe_exact(4096, ROUNDS);
}

static void test_forward_waits_for_the_recorder(void **state)
{
    (void)state;
    observe_exact(2, ROUNDS / 4); /* a wait per stamp or two: slow under TSan */
}

/* The recorder's lcore never started: the mux must not wait for it, and every stamp
   it could not hand over is counted. */
static void test_forward_without_a_recorder(void **state)
{
    (void)state;
    lat_t *l = lat_new(&(lat_conf_t){
        .nfeeds = NFEEDS, .names = names, .forward = true, .forward_node = -1, .forward_slots = 4});
    assert_non_null(l);
    lat_recorder_gone(l);
    static md_rec_t recs[10];
    md_rec_t *ptr[10];
    for (unsigned i = 0; i < 10; i++) {
        recs[i] = (md_rec_t){.kind = i == 3 ? MD_KIND_EVENT : MD_KIND_MSG, .feed = 1};
        ptr[i] = &recs[i];
    }
    lat_forward(l, ptr, 10);
    lat_recorder_stats_t rs;
    lat_recorder_stats(l, &rs);
    assert_int_equal(rs.sent, 4);    /* the channel's room */
    assert_int_equal(rs.dropped, 5); /* 9 messages (one record is an event) */
    assert_int_equal(rs.waits, 1);
    lat_forward_close(l);
    lat_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_observe_exact),
        cmocka_unit_test(test_forward_exact),
        cmocka_unit_test(test_forward_waits_for_the_recorder),
        cmocka_unit_test(test_forward_without_a_recorder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
