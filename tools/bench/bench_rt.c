/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_rt: benchmarks of lib/rt through its public API (co.h) only.
 *
 *   bench_rt [options] [switch] [park] [spawn] [spawn.small] [mem]   (default: all but mem)
 *
 *   switch       co.switch, co.switch.cycles: one-way switch between two coroutines
 *                ping-ponging with co_yield() on one scheduler
 *   park         co.park_ready: one-way hand-off between two coroutines through
 *                co_ready(peer) + co_park() (the path channels take)
 *   spawn        co.spawn: spawn + finish of one coroutine (default stack), spawned in
 *                batches joined by a wait group
 *   spawn.small  co.spawn.small: the same with the small-stack class
 *   mem          co.mem_per_1m: resident bytes per parked small-stack coroutine with
 *                1,000,000 of them parked on one wait group (run it in its own process)
 *
 *   -r N  repetitions, best taken (5)      -s N  switches per repetition (10M)
 *   -n N  spawns per repetition (1M)       -b N  spawns per batch (1000)
 *   -m N  coroutines for mem (1M)
 *
 * Figures are "BENCH <name> <value> <unit>" lines on stdout; commentary goes to stderr.
 */
#include "bench.h"

#include <getopt.h>

static unsigned g_reps = 5;
static uint64_t g_switches = 10000000;
static uint64_t g_spawns = 1000000;
static uint64_t g_batch = 1000;
static uint64_t g_mem = 1000000;

static co_sched_t *g_sched;

static void spawn_or_die(co_fn_t fn, void *arg, const co_opts_t *opts)
{
    if (!co_spawn(fn, arg, opts))
        bench_die("co_spawn: %s", strerror(errno));
}

static void run_or_die(void)
{
    int rc = co_sched_run(g_sched);
    if (rc != 0)
        bench_die("co_sched_run returned %d", rc);
}

/* ---- switch: co_yield() ping-pong ------------------------------------------------ */

struct pingpong {
    uint64_t n; /* iterations of each side */
    uint64_t t0, t1;
    volatile uint64_t laps;
    volatile int turn;        /* who ran last: proves the two sides alternate */
    volatile uint64_t missed; /* resumed without the other side having run */
};

static inline void yield_lap(struct pingpong *p, int me)
{
    p->turn = me;
    co_yield();
    if (p->turn == me)
        p->missed++;
    p->laps++;
}

BENCH_LOOP_FN static void yield_a(void *arg)
{
    struct pingpong *p = arg;
    uint64_t n = p->n;
    p->t0 = co_tsc();
    for (uint64_t i = 0; i < n; i++)
        yield_lap(p, 1);
    p->turn = 1; /* B's last yield resumes after this side has finished */
}

BENCH_LOOP_FN static void yield_b(void *arg)
{
    struct pingpong *p = arg;
    uint64_t n = p->n;
    for (uint64_t i = 0; i < n; i++)
        yield_lap(p, 2);
    p->t1 = co_tsc();
}

/*
 * A (spawned first) stamps t0 and yields to B; from then on every co_yield() of either
 * side is one switch to the other (checked: no side ever resumes without the other
 * having run); B stamps t1 after its last yield. Between the stamps: 2n yields (+ A's
 * exit, one switch, negligible at n = 5M).
 */
static double pingpong_once(co_fn_t a, co_fn_t b, uint64_t switches)
{
    struct pingpong p = {.n = switches / 2};
    spawn_or_die(a, &p, &(co_opts_t){.name = "ping"});
    spawn_or_die(b, &p, &(co_opts_t){.name = "pong"});
    run_or_die();
    if (p.laps != 2 * p.n || p.missed != 0)
        bench_die("ping-pong: %" PRIu64 " laps (expected %" PRIu64 "), %" PRIu64
                  " resumed without a switch",
                  p.laps, 2 * p.n, p.missed);
    return (double)(p.t1 - p.t0) / (double)(2 * p.n);
}

static void bench_pingpong(const char *name, co_fn_t a, co_fn_t b)
{
    double best = 1e300;
    pingpong_once(a, b, 200000); /* warm-up: code, stacks, branch predictors */
    for (unsigned r = 0; r < g_reps; r++) {
        double t = pingpong_once(a, b, g_switches);
        fprintf(stderr, "  %s rep %u: %.2f ns (%.2f ticks)\n", name, r, bench_ticks_ns(t), t);
        if (t < best)
            best = t;
    }
    char cyc[64];
    snprintf(cyc, sizeof cyc, "%s.cycles", name);
    bench_report(name, bench_ticks_ns(best), "ns");
    bench_report(cyc, best, "cycles");
}

/* ---- park: co_ready(peer) + co_park() ping-pong ---------------------------------- */

struct handoff {
    uint64_t n;
    uint64_t t0, t1;
    co_t *a, *b;
    volatile uint64_t laps;
};

static void park_side(struct handoff *h, int is_a)
{
    uint64_t n = h->n;
    if (is_a)
        h->t0 = co_tsc();
    for (uint64_t i = 0; i < n; i++) {
        co_ready(is_a ? h->b : h->a); /* false on A's first lap: B has not parked yet */
        int rc = co_park(CO_BACKGROUND, UINT64_MAX, "bench handoff", h);
        if (rc != 0)
            bench_die("co_park returned %d", rc);
        h->laps++;
    }
    if (is_a)
        co_ready(h->b); /* B's last park waits for this */
    else
        h->t1 = co_tsc();
}

BENCH_LOOP_FN static void park_a(void *arg)
{
    park_side(arg, 1);
}

BENCH_LOOP_FN static void park_b(void *arg)
{
    park_side(arg, 0);
}

static double handoff_once(uint64_t switches)
{
    struct handoff h = {.n = switches / 2};
    h.a = co_spawn(park_a, &h, &(co_opts_t){.name = "park-a"});
    h.b = co_spawn(park_b, &h, &(co_opts_t){.name = "park-b"});
    if (!h.a || !h.b)
        bench_die("co_spawn: %s", strerror(errno));
    run_or_die();
    if (h.laps != 2 * h.n)
        bench_die("handoff: %" PRIu64 " laps, expected %" PRIu64, h.laps, 2 * h.n);
    return (double)(h.t1 - h.t0) / (double)(2 * h.n);
}

static void bench_park(void)
{
    double best = 1e300;
    handoff_once(200000);
    for (unsigned r = 0; r < g_reps; r++) {
        double t = handoff_once(g_switches);
        fprintf(stderr, "  co.park_ready rep %u: %.2f ns\n", r, bench_ticks_ns(t));
        if (t < best)
            best = t;
    }
    bench_report("co.park_ready", bench_ticks_ns(best), "ns");
    bench_report("co.park_ready.cycles", best, "cycles");
}

/* ---- spawn: batches of co_spawn() joined by a wait group ------------------------ */

struct spawner {
    size_t stack_size;
    uint64_t batch, total, warm;
    double best; /* ticks per coroutine */
    volatile uint64_t ran;
};

static void spawn_child(void *arg)
{
    struct spawner *sp = arg;
    sp->ran++;
}

static uint64_t spawn_batches(struct spawner *sp, uint64_t total)
{
    co_wg_t wg;
    co_opts_t o = {.name = "child", .kind = "bench.child", .stack_size = sp->stack_size, .wg = &wg};
    uint64_t t0 = co_tsc();
    for (uint64_t done = 0; done < total; done += sp->batch) {
        co_wg_init(&wg);
        for (uint64_t i = 0; i < sp->batch; i++)
            spawn_or_die(spawn_child, sp, &o);
        int rc = co_wg_wait(&wg, CO_BACKGROUND);
        if (rc != 0)
            bench_die("co_wg_wait returned %d", rc);
    }
    return co_tsc() - t0;
}

static void spawn_root(void *arg)
{
    struct spawner *sp = arg;
    uint64_t total = (sp->total + sp->batch - 1) / sp->batch * sp->batch;
    spawn_batches(sp, sp->warm); /* fills the stack caches */
    sp->best = 1e300;
    for (unsigned r = 0; r < g_reps; r++) {
        uint64_t before = sp->ran;
        double t = (double)spawn_batches(sp, total) / (double)total;
        if (sp->ran - before != total)
            bench_die("spawn: %" PRIu64 " ran, expected %" PRIu64, sp->ran - before, total);
        fprintf(stderr, "  spawn (stack %zu) rep %u: %.2f ns\n", sp->stack_size, r,
                bench_ticks_ns(t));
        if (t < sp->best)
            sp->best = t;
    }
}

static void bench_spawn(const char *name, size_t stack_size)
{
    struct spawner sp = {
        .stack_size = stack_size, .batch = g_batch, .total = g_spawns, .warm = 4 * g_batch};
    spawn_or_die(spawn_root, &sp, &(co_opts_t){.name = "spawner"});
    run_or_die();
    char cyc[64];
    snprintf(cyc, sizeof cyc, "%s.cycles", name);
    bench_report(name, bench_ticks_ns(sp.best), "ns");
    bench_report(cyc, sp.best, "cycles");
}

/* ---- mem: 1M parked small-stack coroutines -------------------------------------- */

struct memb {
    uint64_t n;
    co_wg_t gate; /* every child parks in co_wg_wait(&gate) */
    co_wg_t all;  /* every child is a member */
    volatile uint64_t parked, woke;
    uint64_t rss0, rss1;
    uint64_t spawn_ticks, wake_ticks;
};

static void mem_child(void *arg)
{
    struct memb *m = arg;
    m->parked++;
    int rc = co_wg_wait(&m->gate, CO_BACKGROUND);
    if (rc != 0)
        bench_die("co_wg_wait(gate) returned %d", rc);
    m->woke++;
}

static void mem_root(void *arg)
{
    struct memb *m = arg;
    co_opts_t o = {
        .name = "parked", .kind = "bench.parked", .stack_size = CO_STACK_SMALL, .wg = &m->all};
    co_wg_init(&m->gate);
    co_wg_add(&m->gate, 1);
    co_wg_init(&m->all);

    m->rss0 = bench_rss_bytes();
    uint64_t t0 = co_tsc();
    for (uint64_t i = 0; i < m->n; i++)
        spawn_or_die(mem_child, m, &o);
    /* FIFO run queue: by the time this yield returns, every child ran and parked. */
    co_yield();
    m->spawn_ticks = co_tsc() - t0;
    if (m->parked != m->n)
        bench_die("mem: %" PRIu64 " parked, expected %" PRIu64, m->parked, m->n);
    m->rss1 = bench_rss_bytes();
    if (co_sched_live(g_sched) != m->n + 1)
        bench_die("mem: %zu live, expected %" PRIu64, co_sched_live(g_sched), m->n + 1);

    t0 = co_tsc();
    co_wg_done(&m->gate); /* release them all */
    int rc = co_wg_wait(&m->all, CO_BACKGROUND);
    if (rc != 0)
        bench_die("co_wg_wait(all) returned %d", rc);
    m->wake_ticks = co_tsc() - t0;
    if (m->woke != m->n)
        bench_die("mem: %" PRIu64 " woke, expected %" PRIu64, m->woke, m->n);
}

static void bench_mem(void)
{
    struct memb m = {.n = g_mem};
    spawn_or_die(mem_root, &m, &(co_opts_t){.name = "mem-root"});
    run_or_die();
    double per = (double)(m.rss1 - m.rss0) / (double)m.n;
    fprintf(stderr, "  mem: %" PRIu64 " parked, RSS %.1f -> %.1f MiB\n", m.n,
            (double)m.rss0 / 1048576.0, (double)m.rss1 / 1048576.0);
    bench_report("co.mem_per_1m", per, "bytes");
    bench_report("co.mem_per_1m.spawn_park", bench_ticks_ns((double)m.spawn_ticks / (double)m.n),
                 "ns");
    bench_report("co.mem_per_1m.wake_finish", bench_ticks_ns((double)m.wake_ticks / (double)m.n),
                 "ns");
}

/* --------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: bench_rt [-r reps] [-s switches] [-n spawns] [-b batch] [-m coroutines]"
                    " [switch] [park] [spawn] [spawn.small] [mem]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "r:s:n:b:m:h")) != -1) {
        switch (c) {
        case 'r':
            g_reps = (unsigned)bench_count(optarg);
            break;
        case 's':
            g_switches = bench_count(optarg);
            break;
        case 'n':
            g_spawns = bench_count(optarg);
            break;
        case 'b':
            g_batch = bench_count(optarg);
            break;
        case 'm':
            g_mem = bench_count(optarg);
            break;
        default:
            usage();
        }
    }
    if (g_switches < 2)
        g_switches = 2;

    static const char *const all[] = {"switch", "park", "spawn", "spawn.small"};
    const char *const *tests = (const char *const *)argv + optind;
    size_t ntests = (size_t)(argc - optind);
    if (ntests == 0) {
        tests = all;
        ntests = sizeof all / sizeof all[0];
    }

    fprintf(stderr, "bench_rt: TSC %.3f MHz, %u reps\n", (double)co_tsc_hz() / 1e6, g_reps);
    g_sched = co_sched_new(NULL);
    if (!g_sched)
        bench_die("co_sched_new: %s", strerror(errno));

    for (size_t i = 0; i < ntests; i++) {
        if (!strcmp(tests[i], "switch"))
            bench_pingpong("co.switch", yield_a, yield_b);
        else if (!strcmp(tests[i], "park"))
            bench_park();
        else if (!strcmp(tests[i], "spawn"))
            bench_spawn("co.spawn", 0);
        else if (!strcmp(tests[i], "spawn.small"))
            bench_spawn("co.spawn.small", CO_STACK_SMALL);
        else if (!strcmp(tests[i], "mem"))
            bench_mem();
        else
            usage();
    }

    size_t leaks = co_sched_free(g_sched, stderr);
    if (leaks) {
        fprintf(stderr, "bench_rt: %zu coroutines leaked\n", leaks);
        return 1;
    }
    return 0;
}
