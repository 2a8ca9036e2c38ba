/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_boost: the Boost.Context anchor of co.switch, called from C against Debian's
 * libboost-context-dev.
 *
 *   bench_boost [-r reps] [-s switches]
 *
 * co.switch.boost, co.switch.boost.cycles: one-way jump_fcontext() between two
 * fcontexts ping-ponging (A <-> B, both on their own mmap'ed stacks), total TSC ticks
 * between the first and the last jump divided by the number of jumps, best of the
 * repetitions. Same clock (co_tsc(), co_tsc_hz()) and the same counts as bench_rt.
 */
#include "bench.h"

#include <getopt.h>
#include <sys/mman.h>

/*
 * Boost.Context's fcontext API (boost/context/detail/fcontext.hpp) is extern "C";
 * these are its declarations for x86-64 System V.
 */
typedef void *fcontext_t;
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;
transfer_t jump_fcontext(fcontext_t const to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

#define STACK_BYTES (64u * 1024u) /* as CO_STACK_DEFAULT */

static unsigned g_reps = 5;
static uint64_t g_switches = 10000000;

static void *g_stack_a, *g_stack_b;
static fcontext_t g_main;
static uint64_t g_laps, g_t0, g_t1;
static volatile uint64_t g_count;
static volatile int g_turn;        /* who ran last: proves the two sides alternate */
static volatile uint64_t g_missed; /* resumed without the other side having run */

static void *stack_new(void)
{
    void *p = mmap(NULL, STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        bench_die("mmap: %s", strerror(errno));
    return (char *)p + STACK_BYTES; /* fcontext stacks grow down from the top */
}

/* B: answer every jump from A by jumping back. Never returns (that would exit()). */
BENCH_LOOP_FN static void ctx_b(transfer_t t)
{
    for (;;) {
        g_count++;
        g_turn = 2;
        t = jump_fcontext(t.fctx, NULL);
        if (g_turn == 2)
            g_missed++;
    }
}

/* A: start B, ping-pong g_laps round trips (2 jumps each), then go back to main. */
BENCH_LOOP_FN static void ctx_a(transfer_t t)
{
    g_main = t.fctx;
    transfer_t x = {make_fcontext(g_stack_b, STACK_BYTES, ctx_b), NULL};
    uint64_t laps = g_laps;
    g_t0 = co_tsc();
    for (uint64_t i = 0; i < laps; i++) {
        g_turn = 1;
        x = jump_fcontext(x.fctx, NULL);
        if (g_turn == 1)
            g_missed++;
        g_count++;
    }
    g_t1 = co_tsc();
    jump_fcontext(g_main, NULL);
    bench_die("resumed a finished fcontext");
}

static double pingpong_once(uint64_t switches)
{
    g_laps = switches / 2;
    g_count = 0;
    g_missed = 0;
    fcontext_t a = make_fcontext(g_stack_a, STACK_BYTES, ctx_a);
    jump_fcontext(a, NULL); /* returns when A jumps back to main; A and B are abandoned */
    if (g_count != 2 * g_laps || g_missed != 0)
        bench_die("boost ping-pong: %" PRIu64 " jumps (expected %" PRIu64 "), %" PRIu64
                  " resumed without a switch",
                  g_count, 2 * g_laps, g_missed);
    return (double)(g_t1 - g_t0) / (double)(2 * g_laps);
}

int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "r:s:h")) != -1) {
        switch (c) {
        case 'r':
            g_reps = (unsigned)bench_count(optarg);
            break;
        case 's':
            g_switches = bench_count(optarg);
            break;
        default:
            fprintf(stderr, "usage: bench_boost [-r reps] [-s switches]\n");
            return 2;
        }
    }
    if (g_switches < 2)
        g_switches = 2;
    fprintf(stderr, "bench_boost: TSC %.3f MHz, %u reps\n", (double)co_tsc_hz() / 1e6, g_reps);

    g_stack_a = stack_new();
    g_stack_b = stack_new();
    pingpong_once(200000); /* warm-up */
    double best = 1e300;
    for (unsigned r = 0; r < g_reps; r++) {
        double t = pingpong_once(g_switches);
        fprintf(stderr, "  co.switch.boost rep %u: %.2f ns (%.2f ticks)\n", r, bench_ticks_ns(t),
                t);
        if (t < best)
            best = t;
    }
    bench_report("co.switch.boost", bench_ticks_ns(best), "ns");
    bench_report("co.switch.boost.cycles", best, "cycles");
    return 0;
}
