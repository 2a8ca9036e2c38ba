/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_chan: benchmarks of lib/chan through its public API (chan.h) only, with the
 * rte_ring anchor of the SPSC figures (ring_anchor.c) when DPDK is available.
 *
 *   bench_chan [options] [pingpong] [buffered] [select50] [select50.spsc] [spsc]
 *                                         (default: all; spsc needs two CPUs)
 *
 *   pingpong       chan.local.pingpong: round trip between two coroutines on one
 *                  scheduler over two unbuffered channels (ch_send_ptr/ch_recv_ptr)
 *   buffered       chan.local.buffered: per item through a capacity-1024 channel, one
 *                  producer coroutine, one consumer coroutine, one scheduler
 *   select50       chan.select50: ch_trysend() on one random channel of 50 local
 *                  channels (capacity 1), then ch_select() over 50 CH_RECV cases;
 *                  per iteration (the send included)
 *   select50.spsc  chan.select50.spsc: the same over 50 SPSC channels, the send being
 *                  chs_send_burst() of one element from the same thread
 *   spsc           chan.spsc.burst32, chan.spsc.burst1: per object across two cores, a
 *                  producer thread on CPU -P in a plain poll loop (chs_send_burst), a
 *                  consumer thread on CPU -C (chs_recv_burst); and the same harness on
 *                  an rte_ring SP/SC: chan.spsc.burst32.rte_ring, chan.spsc.burst1.rte_ring.
 *                  The repetitions of the two alternate, so both see the same machine;
 *                  the figures are the best repetition, and the min, median and max
 *                  of both rings go to stderr (burst 1 is bimodal: see bench_spsc()).
 *   spsc.burst32, spsc.burst1   one burst size only
 *   watch          chan.watch100.pass: one scheduler pass of a handler lcore's idle
 *                  loop, 50 selects parked over two empty SPSC channels each (100
 *                  watched lines), less the yield that runs it; .bell: the same with
 *                  the lines on a doorbell (not in the default set)
 *
 *   -r N  repetitions, best taken (5)        -t N  ping-pong round trips (1M)
 *   -i N  buffered items (10M)               -k N  select iterations (1M)
 *   -n N  objects, burst 32 (32M)            -o N  objects, burst 1 (2M)
 *   -q N  SPSC ring slots (1024)             -P cpu, -C cpu  producer, consumer (0, 1)
 *
 * Figures are "BENCH <name> <value> <unit>" lines on stdout; commentary goes to stderr.
 * The single-scheduler tests run on the calling thread: pin it (taskset). The spsc
 * tests pin their own threads.
 */
#include "bench.h"
#include "chan.h"
#include "xcore.h"

#include <errno.h>
#include <getopt.h>

static unsigned g_reps = 5;
static uint64_t g_trips = 1000000;
static uint64_t g_items = 10000000;
static uint64_t g_selects = 1000000;
static uint64_t g_objs32 = 32000000;
static uint64_t g_objs1 = 2000000;
static unsigned g_slots = 1024;
static int g_prod_cpu = 0, g_cons_cpu = 1;

static co_sched_t *g_sched;

static void spawn_or_die(co_fn_t fn, void *arg, const char *name)
{
    if (!co_spawn(fn, arg, &(co_opts_t){.name = name, .kind = "bench"}))
        bench_die("co_spawn: %s", strerror(errno));
}

static void run_or_die(void)
{
    int rc = co_sched_run(g_sched);
    if (rc != 0)
        bench_die("co_sched_run returned %d", rc);
}

static ch_t *ch_new_or_die(size_t elem_size, size_t cap)
{
    ch_t *c = ch_new(elem_size, cap);
    if (!c)
        bench_die("ch_new(%zu, %zu): %s", elem_size, cap, strerror(errno));
    return c;
}

static chs_t *chs_new_or_die(size_t elem_size, size_t cap)
{
    chs_t *c = chs_new(elem_size, cap, -1);
    if (!c)
        bench_die("chs_new(%zu, %zu): %s", elem_size, cap, strerror(errno));
    return c;
}

/* Keep the best (smallest) of the repetitions of one figure. */
static void keep_best(double *best, double t, const char *name, unsigned rep)
{
    fprintf(stderr, "  %s rep %u: %.2f ns\n", name, rep, bench_ticks_ns(t));
    if (t < *best)
        *best = t;
}

#define PTR(i) ((void *)(uintptr_t)(i))

/* ---- pingpong: round trip over two unbuffered channels --------------------------- */

struct pingpong {
    ch_t *ping, *pong;
    uint64_t trips;
    uint64_t t0, t1;
    uintptr_t bad;
};

static void pingpong_a(void *arg)
{
    struct pingpong *p = arg;
    uint64_t trips = p->trips;
    uintptr_t bad = 0;
    p->t0 = co_tsc();
    for (uint64_t i = 1; i <= trips; i++) {
        void *v = NULL;
        int rc = ch_send_ptr(p->ping, PTR(i), CO_BACKGROUND);
        rc |= ch_recv_ptr(p->pong, &v, CO_BACKGROUND);
        if (rc != 0)
            bench_die("pingpong: send/recv failed (%d)", rc);
        bad |= (uintptr_t)v ^ (uintptr_t)i;
    }
    p->t1 = co_tsc();
    p->bad = bad;
    ch_close(p->ping);
}

/* The echo: until ping is closed, send back what arrives. */
static void pingpong_b(void *arg)
{
    struct pingpong *p = arg;
    void *v;
    int rc;
    while ((rc = ch_recv_ptr(p->ping, &v, CO_BACKGROUND)) == 0) {
        if (ch_send_ptr(p->pong, v, CO_BACKGROUND) != 0)
            bench_die("pingpong: echo send failed");
    }
    if (rc != EPIPE)
        bench_die("pingpong: echo recv returned %d, expected EPIPE", rc);
}

static double pingpong_once(uint64_t trips)
{
    struct pingpong p = {.trips = trips};
    p.ping = ch_new_or_die(sizeof(void *), 0);
    p.pong = ch_new_or_die(sizeof(void *), 0);
    spawn_or_die(pingpong_b, &p, "echo");
    spawn_or_die(pingpong_a, &p, "ping");
    run_or_die();
    if (p.bad)
        bench_die("pingpong: echoed values differ");
    ch_free(p.ping);
    ch_free(p.pong);
    return (double)(p.t1 - p.t0) / (double)trips;
}

static void bench_pingpong(void)
{
    double best = 1e300;
    pingpong_once(100000);
    for (unsigned r = 0; r < g_reps; r++)
        keep_best(&best, pingpong_once(g_trips), "chan.local.pingpong", r);
    bench_report("chan.local.pingpong", bench_ticks_ns(best), "ns");
}

/* ---- buffered: 1 -> 1 through capacity 1024 -------------------------------------- */

struct buffered {
    ch_t *c;
    uint64_t n;
    uint64_t t0, t1;
    uintptr_t bad;
};

static void buffered_producer(void *arg)
{
    struct buffered *b = arg;
    uint64_t n = b->n;
    b->t0 = co_tsc();
    for (uint64_t i = 1; i <= n; i++) {
        if (ch_send_ptr(b->c, PTR(i), CO_BACKGROUND) != 0)
            bench_die("buffered: send failed");
    }
    ch_close(b->c);
}

static void buffered_consumer(void *arg)
{
    struct buffered *b = arg;
    uint64_t n = b->n;
    uintptr_t bad = 0;
    void *v = NULL;
    for (uint64_t i = 1; i <= n; i++) {
        if (ch_recv_ptr(b->c, &v, CO_BACKGROUND) != 0)
            bench_die("buffered: recv failed at item %" PRIu64, i);
        bad |= (uintptr_t)v ^ (uintptr_t)i;
    }
    b->t1 = co_tsc();
    b->bad = bad;
    int rc = ch_recv_ptr(b->c, &v, CO_BACKGROUND);
    if (rc != EPIPE)
        bench_die("buffered: recv after the last item returned %d, expected EPIPE", rc);
}

static double buffered_once(uint64_t n)
{
    struct buffered b = {.n = n};
    b.c = ch_new_or_die(sizeof(void *), 1024);
    spawn_or_die(buffered_producer, &b, "producer");
    spawn_or_die(buffered_consumer, &b, "consumer");
    run_or_die();
    if (b.bad)
        bench_die("buffered: items out of order");
    ch_free(b.c);
    return (double)(b.t1 - b.t0) / (double)n;
}

static void bench_buffered(void)
{
    double best = 1e300;
    buffered_once(1000000);
    for (unsigned r = 0; r < g_reps; r++)
        keep_best(&best, buffered_once(g_items), "chan.local.buffered", r);
    bench_report("chan.local.buffered", bench_ticks_ns(best), "ns");
}

/* ---- watch: a scheduler pass with 100 parked SPSC lines ------------------------- */

/* A handler lcore's idle loop: 50 feed handlers parked in ch_select() over two empty
   SPSC channels each (the watch list: 100 lines), and one coroutine yielding. With
   batch 1 every yield is a scheduler pass, which looks at every watched line. The
   same without parked selects (no poll hook: no pass) is the yield alone, subtracted. */
#define WATCH_FEEDS 50

struct watch_run {
    unsigned feeds;
    bool bell; /* the lines on one doorbell (chs_bell_t), as app/run.c sets them up */
    chs_t *q[WATCH_FEEDS][2];
    double best; /* ticks per yield */
};

static void watch_feed(void *arg)
{
    chs_t **q = arg;
    uint64_t v[2];
    ch_case_t cases[2] = {{.op = CH_RECV, .spsc = q[0], .elem = &v[0]},
                          {.op = CH_RECV, .spsc = q[1], .elem = &v[1]}};
    int k = ch_select(cases, 2, 0, UINT64_MAX, NULL);
    if (k < 0 || cases[k].result != EPIPE)
        bench_die("watch: a parked feed woke with %d", k);
}

static void watch_spinner(void *arg)
{
    struct watch_run *w = arg;
    const uint64_t n = g_selects;
    w->best = 1e300;
    co_yield(); /* the feeds park first */
    for (unsigned r = 0; r < g_reps; r++) {
        uint64_t t0 = co_tsc();
        for (uint64_t i = 0; i < n; i++)
            co_yield();
        double t = (double)(co_tsc() - t0) / (double)n;
        if (t < w->best)
            w->best = t;
    }
    for (unsigned f = 0; f < w->feeds; f++)
        for (int l = 0; l < 2; l++)
            chs_close(w->q[f][l]);
}

static void *watch_thread(void *arg)
{
    struct watch_run *w = arg;
    co_sched_t *s = co_sched_new(&(co_sched_opts_t){.name = "watch", .batch = 1});
    if (!s)
        bench_die("co_sched_new: %s", strerror(errno));
    chs_bell_t *bell = w->bell ? chs_bell_new(0) : NULL;
    if (w->bell && !bell)
        bench_die("chs_bell_new: %s", strerror(errno));
    for (unsigned f = 0; f < w->feeds; f++) {
        for (int l = 0; l < 2; l++) {
            if (!(w->q[f][l] = chs_new(sizeof(uint64_t), g_slots, 0)))
                bench_die("chs_new: %s", strerror(errno));
            if (bell && chs_bell_add(bell, w->q[f][l]) != 0)
                bench_die("chs_bell_add");
        }
        if (!co_spawn(watch_feed, w->q[f], &(co_opts_t){.name = "feed"}))
            bench_die("co_spawn: %s", strerror(errno));
    }
    if (!co_spawn(watch_spinner, w, &(co_opts_t){.name = "spinner"}))
        bench_die("co_spawn: %s", strerror(errno));
    if (co_sched_run(s) != 0 || co_sched_free(s, stderr) != 0)
        bench_die("watch: the scheduler did not end cleanly");
    for (unsigned f = 0; f < w->feeds; f++)
        for (int l = 0; l < 2; l++)
            chs_free(w->q[f][l]);
    chs_bell_free(bell);
    return NULL;
}

static double watch_once(unsigned feeds, bool bell)
{
    struct watch_run w = {.feeds = feeds, .bell = bell};
    pthread_t t;
    if (pthread_create(&t, NULL, watch_thread, &w) != 0)
        bench_die("pthread_create failed");
    pthread_join(t, NULL);
    return w.best;
}

static void bench_watch(void)
{
    double bare = watch_once(0, false), full = watch_once(WATCH_FEEDS, false);
    double belled = watch_once(WATCH_FEEDS, true);
    fprintf(stderr,
            "  watch: %.1f ticks a yield with %u parked lines, %.1f with them on a doorbell, "
            "%.1f without\n",
            full, 2 * WATCH_FEEDS, belled, bare);
    bench_report("chan.watch100.pass", bench_ticks_ns(full - bare), "ns");
    bench_report("chan.watch100.pass.bell", bench_ticks_ns(belled - bare), "ns");
}

/* ---- select50: one random channel of 50 made ready, then select ------------------ */

#define SEL_N 50

struct select50 {
    ch_t *c[SEL_N];
    chs_t *s[SEL_N];
    bool spsc;
    uint64_t iters;
    uint64_t t0, t1;
};

/* xorshift64 and a multiply-shift to 0..49: the same generator as bench_go's select50. */
static inline unsigned rand50(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return (unsigned)(((uint64_t)(uint32_t)(*x >> 32) * SEL_N) >> 32);
}

static void select50_run(void *arg)
{
    struct select50 *s = arg;
    ch_case_t cases[SEL_N];
    void *got = NULL;
    for (int i = 0; i < SEL_N; i++)
        cases[i] = (ch_case_t){.op = CH_RECV,
                               .local = s->spsc ? NULL : s->c[i],
                               .spsc = s->spsc ? s->s[i] : NULL,
                               .elem = &got};
    uint64_t rng = 0x9E3779B97F4A7C15ull, iters = s->iters;
    uintptr_t bad = 0;
    s->t0 = co_tsc();
    for (uint64_t it = 1; it <= iters; it++) {
        unsigned k = rand50(&rng);
        void *v = PTR(it);
        if (s->spsc) {
            if (chs_send_burst(s->s[k], &v, 1) != 1)
                bench_die("select50.spsc: chs_send_burst failed");
        } else if (ch_trysend(s->c[k], &v) != 0) {
            bench_die("select50: ch_trysend failed");
        }
        int idx = ch_select(cases, SEL_N, 0, UINT64_MAX, CO_BACKGROUND);
        if (idx != (int)k)
            bench_die("select50: ch_select returned %d, channel %u was the ready one", idx, k);
        bad |= ((uintptr_t)got ^ (uintptr_t)it) | (uintptr_t)cases[idx].result;
    }
    s->t1 = co_tsc();
    if (bad)
        bench_die("select50: wrong value or result received");
}

static double select50_once(bool spsc, uint64_t iters)
{
    struct select50 s = {.spsc = spsc, .iters = iters};
    for (int i = 0; i < SEL_N; i++) {
        if (spsc)
            s.s[i] = chs_new_or_die(sizeof(void *), 2);
        else
            s.c[i] = ch_new_or_die(sizeof(void *), 1);
    }
    spawn_or_die(select50_run, &s, "select");
    run_or_die();
    for (int i = 0; i < SEL_N; i++) {
        if (spsc)
            chs_free(s.s[i]);
        else
            ch_free(s.c[i]);
    }
    return (double)(s.t1 - s.t0) / (double)iters;
}

static void bench_select50(bool spsc)
{
    const char *name = spsc ? "chan.select50.spsc" : "chan.select50";
    double best = 1e300;
    select50_once(spsc, 100000);
    for (unsigned r = 0; r < g_reps; r++)
        keep_best(&best, select50_once(spsc, g_selects), name, r);
    bench_report(name, bench_ticks_ns(best), "ns");
}

/* ---- spsc: two cores, lib/chan and rte_ring in the same harness ------------------ */

#define XCORE_NAME                chs
#define XCORE_SEND(ring, objs, n) chs_send_burst(ring, objs, n)
#define XCORE_RECV(ring, objs, n) chs_recv_burst(ring, objs, n)
#include "xcore.h"

typedef void (*xcore_fn)(struct xcore *);

/* One repetition on a fresh ring; returns ticks per object. */
static double spsc_once(const char *name, xcore_fn fn, bool ring, unsigned burst, uint64_t n,
                        int rep)
{
    struct xcore x = {.burst = burst, .n = n, .prod_cpu = g_prod_cpu, .cons_cpu = g_cons_cpu};
#ifdef BENCH_HAVE_RTE_RING
    x.ring = ring ? bench_ring_new(g_slots) : (void *)chs_new_or_die(sizeof(void *), g_slots);
#else
    (void)ring;
    x.ring = chs_new_or_die(sizeof(void *), g_slots);
#endif
    fn(&x);
    double t = (double)x.ticks / (double)n;
    if (rep >= 0)
        fprintf(stderr,
                "  %s rep %d: %.2f ns/object (producer %.2f), %.1f objects/dequeue,"
                " %.1f%% empty dequeues, %" PRIu64 " full enqueues\n",
                name, rep, bench_ticks_ns(t), bench_ticks_ns((double)x.prod_ticks / (double)n),
                (double)n / (double)x.recvs, 100.0 * (double)x.empty / (double)(x.empty + x.recvs),
                x.full);
#ifdef BENCH_HAVE_RTE_RING
    if (ring)
        bench_ring_free(x.ring);
    else
#endif
        chs_free(x.ring);
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sort @p t (ticks per object, @p k repetitions) and print its min, median and max. */
static void spsc_spread(const char *name, double *t, unsigned k)
{
    qsort(t, k, sizeof *t, cmp_double);
    double median = k % 2 ? t[k / 2] : (t[k / 2 - 1] + t[k / 2]) / 2;
    fprintf(stderr, "  %s over %u reps: min %.2f, median %.2f, max %.2f ns/object\n", name, k,
            bench_ticks_ns(t[0]), bench_ticks_ns(median), bench_ticks_ns(t[k - 1]));
}

static void bench_spsc(unsigned burst, uint64_t n)
{
    char name[64], anchor[80];
    snprintf(name, sizeof name, "chan.spsc.burst%u", burst);
    snprintf(anchor, sizeof anchor, "%s.rte_ring", name);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 2 || g_prod_cpu == g_cons_cpu)
        bench_die("%s needs two CPUs (have %ld; producer %d, consumer %d)", name, ncpu, g_prod_cpu,
                  g_cons_cpu);
    fprintf(stderr,
            "  %s: producer on CPU %d, consumer on CPU %d, %u slots, %" PRIu64
            " objects a repetition\n",
            name, g_prod_cpu, g_cons_cpu, g_slots, n);
#ifdef BENCH_HAVE_RTE_RING
    const bool have_ring = true;
#else
    const bool have_ring = false;
    fprintf(stderr, "bench_chan: built without DPDK (libdpdk-dev): no %s\n", anchor);
#endif
    uint64_t warm = n / 10 < 1000000 ? n / 10 : 1000000;
    if (warm == 0)
        warm = 1;
    spsc_once(name, chs_xcore, false, burst, warm, -1);
#ifdef BENCH_HAVE_RTE_RING
    spsc_once(anchor, bench_ring_xcore, true, burst, warm, -1);
#endif
    if (g_reps == 0)
        bench_die("%s: -r 0: no repetition to report", name);
    double *ours = calloc(g_reps, sizeof(double)), *theirs = calloc(g_reps, sizeof(double));
    if (!ours || !theirs)
        bench_die("calloc: out of memory");
    for (unsigned r = 0; r < g_reps; r++) {
        /* alternate which goes first, so neither always follows the other */
        for (int j = 0; j < 2; j++) {
            bool ring = (j == 0) == (r % 2 == 1);
            if (!ring)
                ours[r] = spsc_once(name, chs_xcore, false, burst, n, (int)r);
#ifdef BENCH_HAVE_RTE_RING
            else
                theirs[r] = spsc_once(anchor, bench_ring_xcore, true, burst, n, (int)r);
#endif
        }
    }
    /*
     * The figure is the best repetition, as everywhere in bench_chan. At burst 1 the
     * rate is bimodal (a ring that runs near full moves an object in a fraction of the
     * time of one that runs near empty, where every object ping-pongs the index and
     * slot lines), and which mode a repetition lands in depends on the relative speed
     * of the two sides and on the host. So the spread is printed too, for both rings
     * alike: a best that beats the anchor's only by luck of the mode shows up as a
     * median that does not.
     */
    spsc_spread(name, ours, g_reps);
    if (have_ring)
        spsc_spread(anchor, theirs, g_reps);
    bench_report(name, bench_ticks_ns(ours[0]), "ns"); /* sorted: [0] is the best */
    if (have_ring)
        bench_report(anchor, bench_ticks_ns(theirs[0]), "ns");
    free(ours);
    free(theirs);
}

/* --------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: bench_chan [-r reps] [-t trips] [-i items] [-k selects] [-n objects32]"
                    " [-o objects1] [-q slots] [-P cpu] [-C cpu]\n"
                    "                  [pingpong] [buffered] [select50] [select50.spsc] [spsc]"
                    " [spsc.burst32] [spsc.burst1]\n");
    exit(2);
}

static int cpu_arg(const char *s)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 0 || v >= CPU_SETSIZE)
        bench_die("bad CPU '%s'", s);
    return (int)v;
}

int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "r:t:i:k:n:o:q:P:C:h")) != -1) {
        switch (c) {
        case 'r':
            g_reps = (unsigned)bench_count(optarg);
            break;
        case 't':
            g_trips = bench_count(optarg);
            break;
        case 'i':
            g_items = bench_count(optarg);
            break;
        case 'k':
            g_selects = bench_count(optarg);
            break;
        case 'n':
            g_objs32 = bench_count(optarg);
            break;
        case 'o':
            g_objs1 = bench_count(optarg);
            break;
        case 'q':
            g_slots = (unsigned)bench_count(optarg);
            break;
        case 'P':
            g_prod_cpu = cpu_arg(optarg);
            break;
        case 'C':
            g_cons_cpu = cpu_arg(optarg);
            break;
        default:
            usage();
        }
    }
    if (g_slots & (g_slots - 1))
        bench_die("-q %u: the ring slots must be a power of two", g_slots);

    static const char *const all[] = {"pingpong", "buffered", "select50", "select50.spsc", "spsc"};
    const char *const *tests = (const char *const *)argv + optind;
    size_t ntests = (size_t)(argc - optind);
    if (ntests == 0) {
        tests = all;
        ntests = sizeof all / sizeof all[0];
    }

    fprintf(stderr, "bench_chan: TSC %.3f MHz, %u reps\n", (double)co_tsc_hz() / 1e6, g_reps);
    g_sched = co_sched_new(NULL);
    if (!g_sched)
        bench_die("co_sched_new: %s", strerror(errno));

    for (size_t i = 0; i < ntests; i++) {
        if (!strcmp(tests[i], "pingpong"))
            bench_pingpong();
        else if (!strcmp(tests[i], "buffered"))
            bench_buffered();
        else if (!strcmp(tests[i], "select50"))
            bench_select50(false);
        else if (!strcmp(tests[i], "select50.spsc"))
            bench_select50(true);
        else if (!strcmp(tests[i], "watch"))
            bench_watch();
        else if (!strcmp(tests[i], "spsc")) {
            bench_spsc(32, g_objs32);
            bench_spsc(1, g_objs1);
        } else if (!strcmp(tests[i], "spsc.burst32"))
            bench_spsc(32, g_objs32);
        else if (!strcmp(tests[i], "spsc.burst1"))
            bench_spsc(1, g_objs1);
        else
            usage();
    }

    size_t leaks = co_sched_free(g_sched, stderr);
    if (leaks) {
        fprintf(stderr, "bench_chan: %zu coroutines leaked\n", leaks);
        return 1;
    }
    return 0;
}
