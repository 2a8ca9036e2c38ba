/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/io pacer and histogram: exact 1x, Nx, fractional speeds, fixed rate, max, loops
 * that stay monotonic, backward jumps clamped and counted, forward jumps above the
 * limit clamped to it and counted, with the first of each kind located. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>

#include "io.h"

static io_pacer_t pacer_speed(const char *speed, uint64_t loops)
{
    io_pacer_opts_t o = {.loops = loops};
    assert_int_equal(io_pacer_parse_speed(speed, &o), 0);
    io_pacer_t p;
    io_pacer_init(&p, &o);
    return p;
}

static void test_parse_speed(void **state)
{
    (void)state;
    io_pacer_opts_t o = {0};
    assert_int_equal(io_pacer_parse_speed("max", &o), 0);
    assert_int_equal(o.mode, IO_PACE_MAX);
    assert_int_equal(io_pacer_parse_speed("1", &o), 0);
    assert_int_equal(o.mode, IO_PACE_SPEED);
    assert_int_equal(o.speed_num, 1);
    assert_int_equal(o.speed_den, 1);
    assert_int_equal(io_pacer_parse_speed("2.5", &o), 0);
    assert_int_equal(o.speed_num, 5);
    assert_int_equal(o.speed_den, 2);
    assert_int_equal(io_pacer_parse_speed("0.25", &o), 0);
    assert_int_equal(o.speed_num, 1);
    assert_int_equal(o.speed_den, 4);
    assert_int_equal(io_pacer_parse_speed("10.", &o), 0);
    assert_int_equal(o.speed_num, 10);
    assert_int_equal(o.speed_den, 1);
    static const char *const bad[] = {
        "", "0", "0.000", "abc", "1.2.3", "-1", "1e3", "1.0000000001", "12345678901234567890"};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(io_pacer_parse_speed(bad[i], &o), -EINVAL);
}

static void test_1x_exact(void **state)
{
    (void)state;
    io_pacer_t p = pacer_speed("1", 1);
    uint64_t base = 1700000000000000000ull, ts = base;
    for (uint64_t i = 0; i < 100000; i++) {
        ts += 1 + (i * 7919) % 100003; /* uneven gaps, ns */
        if (i == 0)
            base = ts;
        assert_int_equal(io_pacer_next(&p, ts), ts - base);
    }
    assert_int_equal(p.backward_jumps, 0);
}

static void test_speeds(void **state)
{
    (void)state;
    io_pacer_t p2 = pacer_speed("2", 1), p25 = pacer_speed("2.5", 1), ph = pacer_speed("0.5", 1);
    uint64_t t0 = 5000000000ull;
    for (uint64_t i = 0; i < 1000; i++) {
        uint64_t ts = t0 + i * 999;
        assert_int_equal(io_pacer_next(&p2, ts), i * 999 / 2);
        assert_int_equal(io_pacer_next(&p25, ts), i * 999 * 2 / 5);
        assert_int_equal(io_pacer_next(&ph, ts), i * 999 * 2);
    }
    /* max: always "now" */
    io_pacer_t pm = pacer_speed("max", 1);
    assert_int_equal(io_pacer_next(&pm, 123), 0);
    assert_int_equal(io_pacer_next(&pm, 99999), 0);
}

static void test_rate(void **state)
{
    (void)state;
    io_pacer_opts_t o = {.mode = IO_PACE_RATE, .rate_pps = 3, .loops = 2};
    io_pacer_t p;
    io_pacer_init(&p, &o);
    for (uint64_t i = 0; i < 30; i++) {
        if (i == 15)
            io_pacer_next_loop(&p); /* the rate ignores loops and timestamps */
        assert_int_equal(io_pacer_next(&p, 7), i * 1000000000ull / 3);
    }
}

static void test_loop_monotonic(void **state)
{
    (void)state;
    io_pacer_t p = pacer_speed("1", 3);
    static const uint64_t ts[4] = {1000, 1010, 1020, 1030};
    uint64_t prev = 0;
    for (int loop = 0; loop < 3; loop++) {
        if (loop)
            io_pacer_next_loop(&p);
        for (int i = 0; i < 4; i++) {
            uint64_t v = io_pacer_next(&p, ts[i]);
            /* duration 30 + one mean gap 10: each loop starts 40 ns after the last */
            assert_int_equal(v, (uint64_t)loop * 40 + (uint64_t)i * 10);
            assert_true(v >= prev);
            prev = v;
        }
    }
    /* at 2x the loop offsets are halved too */
    io_pacer_t p2 = pacer_speed("2", 2);
    for (int i = 0; i < 4; i++)
        io_pacer_next(&p2, ts[i]);
    io_pacer_next_loop(&p2);
    assert_int_equal(io_pacer_next(&p2, ts[0]), 20);
    /* a one-packet capture loops without moving backwards */
    io_pacer_t p1 = pacer_speed("1", 5);
    for (int i = 0; i < 5; i++) {
        if (i)
            io_pacer_next_loop(&p1);
        assert_int_equal(io_pacer_next(&p1, 777), 0);
    }
}

static void test_backward_and_forward_jumps(void **state)
{
    (void)state;
    io_pacer_t p = pacer_speed("1", 1);
    assert_int_equal(io_pacer_next(&p, 1000), 0);
    assert_int_equal(io_pacer_next(&p, 1100), 100);
    assert_int_equal(io_pacer_next(&p, 1050), 100); /* clamped */
    assert_int_equal(io_pacer_next(&p, 1150), 200); /* gaps kept from there */
    assert_int_equal(io_pacer_next(&p, 0), 200);    /* far back: no wrap, no stall */
    assert_int_equal(io_pacer_next(&p, 10), 210);
    assert_int_equal(p.backward_jumps, 2);
    assert_int_equal(p.forward_jumps, 0);
    assert_int_equal(p.first_back, 2); /* the third packet */
    assert_int_equal(p.back_ns, 50 + 1150);
    assert_int_equal(p.first_fwd, UINT64_MAX);
    /* a 3 s pause is clamped to the 1 s limit and counted; later gaps are kept */
    assert_int_equal(io_pacer_next(&p, 10 + 3000000000ull), 210 + 1000000000ull);
    assert_int_equal(p.forward_jumps, 1);
    assert_int_equal(p.first_fwd, 6);
    assert_int_equal(p.clamped_ns, 2000000000ull);
    assert_int_equal(io_pacer_next(&p, 10 + 3000000500ull), 210 + 1000000500ull);
    /* exactly the limit is a gap, not a jump */
    assert_int_equal(io_pacer_next(&p, 10 + 4000000500ull), 210 + 2000000500ull);
    assert_int_equal(p.forward_jumps, 1);
    /* the replay's byte offsets are its own business: unknown here */
    assert_int_equal(p.back_off, UINT64_MAX);
    assert_int_equal(p.fwd_off, UINT64_MAX);
}

/* A clock stepped forward an hour, then back an hour, mid-capture, at 1x and 2x. */
static void test_clock_steps(void **state)
{
    (void)state;
    const uint64_t h = 3600000000000ull, t0 = 1772461800000000000ull;
    for (int speed = 1; speed <= 2; speed++) {
        io_pacer_t p = pacer_speed(speed == 1 ? "1" : "2", 1);
        uint64_t prev = 0;
        for (uint64_t i = 0; i < 3000; i++) {
            /* 10 us apart; +1 h from packet 1000, back to the true clock at 2000 */
            uint64_t ts = t0 + i * 10000 + (i >= 1000 && i < 2000 ? h : 0);
            uint64_t v = io_pacer_next(&p, ts);
            assert_true(v >= prev);
            prev = v;
            /* the hour is cut to 1 s; the step back is sent at once (one gap lost) */
            uint64_t want = i < 1000   ? i * 10000
                            : i < 2000 ? i * 10000 + 1000000000ull - 10000
                                       : i * 10000 + 1000000000ull - 20000;
            assert_int_equal(v, want / (uint64_t)speed);
        }
        assert_int_equal(p.forward_jumps, 1);
        assert_int_equal(p.backward_jumps, 1);
        assert_int_equal(p.first_fwd, 1000);
        assert_int_equal(p.first_back, 2000);
        assert_int_equal(p.clamped_ns, h + 10000 - 1000000000ull);
    }
    /* honour every gap: UINT64_MAX */
    io_pacer_opts_t o = {.loops = 1, .fwd_jump_ns = UINT64_MAX};
    assert_int_equal(io_pacer_parse_speed("1", &o), 0);
    io_pacer_t p;
    io_pacer_init(&p, &o);
    assert_int_equal(io_pacer_next(&p, t0), 0);
    assert_int_equal(io_pacer_next(&p, t0 + h), h);
    assert_int_equal(p.forward_jumps, 0);
    /* a loop after a clamped jump starts where the clamped loop ended */
    io_pacer_t q = pacer_speed("1", 2);
    io_pacer_next(&q, 100);
    io_pacer_next(&q, 100 + h);
    io_pacer_next(&q, 100 + h + 10);
    io_pacer_next_loop(&q);
    uint64_t dur = 1000000000ull + 10;
    assert_int_equal(io_pacer_next(&q, 100), dur + dur / 2);
}

static void test_histogram(void **state)
{
    (void)state;
    io_hist_t h;
    io_hist_init(&h);
    assert_int_equal(io_hist_quantile(&h, 0.5), 0);
    for (uint64_t v = 1; v <= 10000; v++)
        io_hist_record(&h, v);
    uint64_t p50 = io_hist_quantile(&h, 0.5), p99 = io_hist_quantile(&h, 0.99);
    assert_true(p50 >= 5000 && p50 <= 5000 + 5000 / 16 + 1);
    assert_true(p99 >= 9900 && p99 <= 10000);
    assert_int_equal(io_hist_quantile(&h, 1.0), 10000);
    assert_int_equal(h.count, 10000);
    io_hist_init(&h);
    for (uint64_t v = 0; v < 16; v++)
        io_hist_record(&h, v); /* exact below 16 */
    assert_int_equal(io_hist_quantile(&h, 0.5), 7);
    io_hist_record(&h, UINT64_MAX);
    assert_int_equal(io_hist_quantile(&h, 1.0), UINT64_MAX);
    /* pacing errors: early releases counted, recorded as 0 */
    io_pacer_t p = pacer_speed("1", 1);
    io_pacer_record(&p, 100, 90);
    io_pacer_record(&p, 100, 150);
    assert_int_equal(p.early, 1);
    assert_int_equal(p.err.max, 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_speed),    cmocka_unit_test(test_1x_exact),
        cmocka_unit_test(test_speeds),         cmocka_unit_test(test_rate),
        cmocka_unit_test(test_loop_monotonic), cmocka_unit_test(test_backward_and_forward_jumps),
        cmocka_unit_test(test_clock_steps),    cmocka_unit_test(test_histogram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
