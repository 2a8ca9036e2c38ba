/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Stress test of SPSC channels across threads (meant to be TSan-clean): millions of
 * items with random delays on both sides, each item carrying its sequence number and
 * a tag derived from it, so the consumer checks order and integrity item by item and
 * both sides' checksums (count, sum and an order-sensitive mix) must agree at the end.
 *
 * Every item gets a random delay on each side (also inside bursts): most none or a
 * busy spin of a few ns, some a spin of up to ~0.5 us, about one in a thousand a busy
 * wait of 5..100 us, and about one in 64Ki a sched_yield(), so each side sees the
 * ring full, empty and in between, and the blocking paths park and are woken by their
 * scheduler's poll hook.
 *
 * Now and then (about one item in 8192), and always before the last item and before
 * the close, a producer waits for the ring to drain and for the consumer to park, so a
 * single item, and the close, must wake a parked consumer; a consumer that does not
 * drain within 500 ms is a stall (a few are tolerated: the OS; a lost wake-up stalls
 * every time), and a thread that does not finish at all is reported before aborting.
 *
 *  poll_to_co       (a)+(d) a plain poll-loop producer thread (no scheduler) sends
 *                   bursts of 1..64 with chs_send_burst; the consumer is a coroutine on
 *                   its own scheduler thread using blocking chs_recv,
 *                   now and then with a 1..20 us timeout (ETIMEDOUT must lose nothing);
 *                   a heartbeat coroutine shares its scheduler. The producer closes at
 *                   the end: the consumer gets EPIPE only after the last item, again on
 *                   a second call, and a burst receive then returns 0.
 *  co_to_poll       (b)+(c)+(d) a coroutine producer (CO_IDLE_SLEEP scheduler) blocking
 *                   in chs_send on a small ring (4..64), sometimes with a timeout (a
 *                   timed-out send must not enqueue); the consumer is a plain thread
 *                   using chs_recv_burst of 1..80 and, at the end, chs_recv outside any
 *                   coroutine, which must report EPIPE. After the close, chs_send
 *                   returns EPIPE and chs_send_burst 0.
 *  co_to_co         both sides coroutines on their own schedulers on a tiny ring (2..8),
 *                   so both park all the time; the consumer mixes chs_recv and bursts.
 *  select           (e) two producer threads (one poll loop with bursts, one coroutine
 *                   with chs_send) each feed an SPSC channel; a coroutine on a third
 *                   thread runs ch_select over both plus a local channel fed by a
 *                   coroutine of its own scheduler, sometimes with CH_NONBLOCK or a
 *                   short deadline; a case that reports EPIPE leaves the set. Per-source
 *                   order and checksums are checked.
 *
 * Nothing is pinned (CI has 2 cores); the busiest case has 3 threads. Every scheduler
 * idles with CO_IDLE_SLEEP (STRESS_IDLE to change it), so the suite does not starve a
 * loaded machine.
 *
 * Environment:
 *   STRESS_ITEMS=n     items per scenario (default 10M, in every build; on an idle
 *                      2-core box about 26 s in all normal, 27 s ASan+UBSan, 57 s TSan)
 *   STRESS_SEED=s      seed of the delays, capacities and bursts (default 1)
 *   STRESS_BUDGET_S=n  per-scenario time budget after which the producers stop early
 *                      and close, so a slow (sanitized or heavily loaded) run stays under
 *                      ~2 minutes (default 60 s, 30 s under sanitizers; an unloaded run
 *                      does not reach it); the count each scenario used is printed
 *   STRESS_IDLE=0|1|2  every scheduler's idle policy: busy, pause, sleep (default)
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "chan.h"
#include "co.h"
#include "testutil.h"

#define US ((uint64_t)1000)

static uint64_t g_items, g_seed, g_budget_ns;
static int g_idle = -1; /* STRESS_IDLE: every scheduler's co_idle_t; -1: per scenario */

/* ---- items, checksums, random numbers ------------------------------------------- */

typedef struct item {
    uint64_t seq;
    uint64_t tag;
} item_t;

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t tag_of(uint64_t salt, uint64_t seq)
{
    return mix64(salt ^ (seq * 0x9E3779B97F4A7C15ull));
}

static inline item_t make_item(uint64_t salt, uint64_t seq)
{
    return (item_t){.seq = seq, .tag = tag_of(salt, seq)};
}

typedef struct chk {
    uint64_t n, sum, mix;
} chk_t;

static inline void chk_add(chk_t *c, const item_t *it)
{
    c->n++;
    c->sum += it->tag;
    c->mix = mix64(c->mix ^ it->tag); /* order-sensitive */
}

static inline uint64_t rnd64(uint64_t *s)
{
    return mix64(*s += 0x9E3779B97F4A7C15ull);
}

static inline void spin_loops(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        __asm__ volatile("" ::: "memory");
}

static void busy_wait_ns(uint64_t ns)
{
    uint64_t end = co_tsc() + co_ns_to_tsc(ns);
    while (co_tsc() < end)
        __builtin_ia32_pause();
}

/* A random delay: mostly nothing or a few ns, sometimes longer, rarely much longer. */
static inline void delay(uint64_t *rng)
{
    uint64_t r = rnd64(rng);
    unsigned k = (unsigned)(r & 1023);
    if (k < 400)
        return;
    if (k < 900)
        spin_loops((unsigned)(r >> 10) & 31);
    else if (k < 1022)
        for (unsigned i = 0, n = (unsigned)(r >> 10) & 63; i < n; i++)
            __builtin_ia32_pause();
    else
        busy_wait_ns(5 * US + ((r >> 10) % (95 * US)));
    if (((r >> 32) & 0xffff) == 0)
        sched_yield();
}

/* Waiting on a full or empty ring outside a coroutine: pause, then give the CPU away. */
static inline void backoff(unsigned *spins)
{
    if (++*spins < 256) {
        __builtin_ia32_pause();
    } else {
        *spins = 0;
        sched_yield();
    }
}

/* ---- one producer/consumer pair ---------------------------------------------------- */

enum { PROD_POLL_BURST, PROD_CO_SEND };
enum { CONS_CO_RECV, CONS_POLL_BURST, CONS_CO_MIXED, CONS_NONE };

/*
 * Idle policy of a scheduler: CO_IDLE_SLEEP unless STRESS_IDLE says otherwise. On a
 * loaded 2-core box a parked side that spins (CO_IDLE_PAUSE) keeps the CPU its peer
 * needs: measured with two suites at once, the select scenario ran 15x slower and
 * poll_to_co under TSan fell to 46 us/item. The poll-hook wake-up path is the same
 * under either policy (the policy only decides what an idle scheduler does between
 * passes); the property test draws busy, pause and sleep at random.
 */
static co_idle_t idle_of(co_idle_t dflt)
{
    return g_idle >= 0 ? (co_idle_t)g_idle : dflt;
}

typedef struct pipe_ {
    chs_t *c;
    size_t cap;
    uint64_t salt, n, seed;
    int pmode, cmode;
    uint64_t stop_tsc; /* budget: the producer stops early after this TSC */
    /* producer results */
    chk_t pchk;
    bool cut;
    uint64_t pfull, ptimeouts, perr;
    uint64_t quiesces, stalls; /* drain-and-park pauses; those the consumer took > 500 ms over */
    int after_send;            /* chs_send after the close: EPIPE */
    unsigned after_burst;      /* chs_send_burst after the close: 0 */
    bool after_closed;
    size_t pleaks;
    int prc;
    /* consumer results */
    chk_t cchk;
    uint64_t cempty, ctimeouts, cparked_ns;
    uint64_t bad;
    char cerr[256];
    int cend, cend2;
    unsigned cend_burst;
    uint64_t beats;
    size_t cleaks;
    int crc;
    bool cdone;
} pipe_t;

static void verify(pipe_t *p, const item_t *it, uint64_t *expect)
{
    if (it->seq != *expect || it->tag != tag_of(p->salt, it->seq)) {
        if (!p->bad++)
            snprintf(p->cerr, sizeof p->cerr,
                     "item %" PRIu64 ": got seq %" PRIu64 " tag %016" PRIx64 ", want seq %" PRIu64
                     " tag %016" PRIx64,
                     *expect, it->seq, it->tag, *expect, tag_of(p->salt, *expect));
        *expect = it->seq + 1; /* resynchronise, count each break once */
    } else {
        ++*expect;
    }
    chk_add(&p->cchk, it);
}

static bool out_of_budget(const pipe_t *p, uint64_t loops)
{
    return (loops & 1023) == 0 && co_tsc() > p->stop_tsc;
}

/*
 * Let the consumer drain the ring and park on it (the producer is a plain thread:
 * spin; a coroutine: sleep), so that the next single item, or the close, must wake a
 * parked consumer. A consumer that takes over 500 ms to drain counts as a stall.
 */
#define QUIESCE_EVERY 8192 /* about one item in this many is sent after a quiesce */

static void quiesce(pipe_t *p, bool co)
{
    uint64_t end = co_tsc() + co_ns_to_tsc(500 * 1000 * US);
    unsigned spins = 0;
    p->quiesces++;
    while (chs_len(p->c) != 0) {
        if (co_tsc() > end) {
            p->stalls++;
            break;
        }
        if (co)
            co_sleep(5 * US, CO_BACKGROUND);
        else
            backoff(&spins);
    }
    if (co)
        co_sleep(30 * US, CO_BACKGROUND);
    else
        busy_wait_ns(30 * US);
}

static void prod_after_close(pipe_t *p)
{
    item_t it = make_item(p->salt, ~0ull);
    p->after_burst = chs_send_burst(p->c, &it, 1);
    p->after_send = chs_send(p->c, &it, CO_BACKGROUND);
    p->after_closed = chs_closed(p->c);
}

/* Producer, plain poll loop: bursts of 1..64, spinning while the ring is full. */
static void prod_poll(pipe_t *p)
{
    uint64_t rng = p->seed ^ 0x51ull, seq = 0, loops = 0, last = p->n - 1;
    item_t buf[64];
    while (seq < last) {
        if (out_of_budget(p, ++loops)) {
            p->cut = true;
            break;
        }
        unsigned k = 1 + (unsigned)(rnd64(&rng) % 64);
        if (k > last - seq)
            k = (unsigned)(last - seq);
        if (rnd64(&rng) % (QUIESCE_EVERY / 32) == 0) {
            quiesce(p, false);
            k = 1; /* one item must wake the parked consumer */
        }
        for (unsigned j = 0; j < k; j++) {
            buf[j] = make_item(p->salt, seq + j);
            delay(&rng); /* producing an item takes a while */
        }
        unsigned done = 0, spins = 0;
        while (done < k) {
            unsigned m = chs_send_burst(p->c, buf + done, k - done);
            if (m == 0) {
                p->pfull++;
                backoff(&spins);
            }
            done += m;
        }
        for (unsigned j = 0; j < k; j++)
            chk_add(&p->pchk, &buf[j]);
        seq += k;
    }
    /* the end: the last item alone to a parked consumer, then the close */
    quiesce(p, false);
    buf[0] = make_item(p->salt, seq);
    unsigned spins = 0;
    while (chs_send_burst(p->c, buf, 1) == 0)
        backoff(&spins);
    chk_add(&p->pchk, &buf[0]);
    quiesce(p, false);
    chs_close(p->c);
    prod_after_close(p);
}

/* Producer, coroutine: blocking chs_send, sometimes with a 1..20 us timeout. */
static void prod_co(void *arg)
{
    pipe_t *p = arg;
    uint64_t rng = p->seed ^ 0x52ull, seq = 0, loops = 0;
    bool ending = false;
    while (seq < p->n) {
        if (!ending && out_of_budget(p, ++loops)) {
            p->cut = true;
            p->n = seq + 1; /* one more, the last */
        }
        uint64_t r = rnd64(&rng);
        if (seq == p->n - 1 && !ending) {
            /* the end: the last item alone to a parked consumer, then the close */
            quiesce(p, true);
            ending = true;
        } else if (r % QUIESCE_EVERY == 0) {
            quiesce(p, true);
        }
        item_t it = make_item(p->salt, seq);
        co_ctx_t *ctx = NULL;
        if ((r & 511) == 0)
            ctx = co_ctx_with_timeout(CO_BACKGROUND, US + (r >> 20) % (20 * US));
        if (chs_len(p->c) >= p->cap)
            p->pfull++;
        int e = chs_send(p->c, &it, ctx);
        if (ctx)
            co_ctx_free(ctx);
        if (e == ETIMEDOUT) {
            p->ptimeouts++;
            continue; /* the same item again: a timed-out send enqueued nothing */
        }
        if (e != 0) {
            p->perr++;
            break;
        }
        chk_add(&p->pchk, &it);
        seq++;
        delay(&rng);
    }
    if (p->perr == 0)
        quiesce(p, true);
    chs_close(p->c);
    prod_after_close(p);
}

/* Consumer, coroutine: blocking chs_recv until EPIPE. */
static void cons_co_recv(void *arg)
{
    pipe_t *p = arg;
    uint64_t rng = p->seed ^ 0x61ull, expect = 0;
    item_t it;
    int e;
    for (;;) {
        uint64_t r = rnd64(&rng);
        co_ctx_t *ctx = NULL;
        if ((r & 255) == 0)
            ctx = co_ctx_with_timeout(CO_BACKGROUND, US + (r >> 20) % (20 * US));
        if (chs_len(p->c) == 0)
            p->cempty++;
        e = chs_recv(p->c, &it, ctx);
        if (ctx)
            co_ctx_free(ctx);
        if (e == ETIMEDOUT) {
            p->ctimeouts++;
            continue;
        }
        if (e != 0)
            break;
        verify(p, &it, &expect);
        delay(&rng);
    }
    p->cend = e;
    p->cend2 = chs_recv(p->c, &it, CO_BACKGROUND);
    p->cend_burst = chs_recv_burst(p->c, &it, 1);
    p->cdone = true;
}

/* Consumer, coroutine: chs_recv and bursts of 1..32 (a burst that gets 0 parks in chs_recv). */
static void cons_co_mixed(void *arg)
{
    pipe_t *p = arg;
    uint64_t rng = p->seed ^ 0x62ull, expect = 0;
    item_t buf[32];
    int e = 0;
    for (;;) {
        uint64_t r = rnd64(&rng);
        if (r & 1) {
            unsigned k = 1 + (unsigned)((r >> 8) % 32);
            unsigned m = chs_recv_burst(p->c, buf, k);
            for (unsigned j = 0; j < m; j++) {
                verify(p, &buf[j], &expect);
                delay(&rng);
            }
            if (m)
                continue;
            p->cempty++;
        }
        e = chs_recv(p->c, &buf[0], CO_BACKGROUND);
        if (e != 0)
            break;
        verify(p, &buf[0], &expect);
        delay(&rng);
    }
    p->cend = e;
    p->cend2 = chs_recv(p->c, &buf[0], CO_BACKGROUND);
    p->cend_burst = chs_recv_burst(p->c, buf, 32);
    p->cdone = true;
}

/* Consumer, plain thread: bursts of 1..80 until closed and drained; then chs_recv. */
static void cons_poll(pipe_t *p)
{
    uint64_t rng = p->seed ^ 0x63ull, expect = 0;
    item_t buf[80];
    unsigned spins = 0;
    for (;;) {
        unsigned k = 1 + (unsigned)(rnd64(&rng) % 80);
        unsigned m = chs_recv_burst(p->c, buf, k);
        if (m == 0) {
            if (chs_closed(p->c)) {
                /* closed: everything sent before the close is visible now */
                m = chs_recv_burst(p->c, buf, 80);
                if (m == 0)
                    break;
            } else {
                p->cempty++;
                backoff(&spins);
                continue;
            }
        }
        for (unsigned j = 0; j < m; j++) {
            verify(p, &buf[j], &expect);
            delay(&rng); /* consuming an item takes a while */
        }
    }
    /* outside any coroutine chs_recv spins; closed and drained, it reports EPIPE */
    p->cend = chs_recv(p->c, &buf[0], CO_BACKGROUND);
    p->cend2 = chs_recv(p->c, &buf[0], CO_BACKGROUND);
    p->cend_burst = chs_recv_burst(p->c, buf, 80);
    p->cdone = true;
}

/* Shares the consumer's scheduler: sleeps and counts until the consumer is done. */
static void heartbeat(void *arg)
{
    pipe_t *p = arg;
    while (!p->cdone) {
        co_sleep(50 * US, CO_BACKGROUND);
        p->beats++;
    }
}

static void *producer_thread(void *arg)
{
    pipe_t *p = arg;
    if (p->pmode == PROD_POLL_BURST) {
        prod_poll(p);
        return NULL;
    }
    co_sched_opts_t o = {.name = "stress.prod", .idle = idle_of(CO_IDLE_SLEEP)};
    co_sched_t *s = co_sched_new(&o);
    if (!s) {
        p->prc = -100;
        return NULL;
    }
    if (!co_spawn(prod_co, p, NULL))
        p->prc = -101;
    else
        p->prc = co_sched_run(s);
    p->pleaks = co_sched_free(s, stderr);
    return NULL;
}

static void *consumer_thread(void *arg)
{
    pipe_t *p = arg;
    if (p->cmode == CONS_POLL_BURST) {
        cons_poll(p);
        return NULL;
    }
    co_sched_opts_t o = {.name = "stress.cons", .idle = idle_of(CO_IDLE_SLEEP)};
    co_sched_t *s = co_sched_new(&o);
    if (!s) {
        p->crc = -100;
        return NULL;
    }
    if (!co_spawn(p->cmode == CONS_CO_RECV ? cons_co_recv : cons_co_mixed, p, NULL) ||
        !co_spawn(heartbeat, p, NULL))
        p->crc = -101;
    else
        p->crc = co_sched_run(s);
    p->cleaks = co_sched_free(s, stderr);
    return NULL;
}

/*
 * Join @p t, or report a hang and abort after a generous limit: a consumer that is
 * never woken (by a last single item or by the close) would otherwise hang the suite.
 */
static void join_or_die(pthread_t t, const char *scenario, const char *who)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(180 + g_budget_ns / 1000000000ull);
    int e = pthread_timedjoin_np(t, NULL, &ts);
    if (e == 0)
        return;
    fprintf(stderr,
            "chan_stress: %s: the %s thread did not finish in %lld s (%s): a side parked on the "
            "ring and never woken? aborting\n",
            scenario, who, (long long)(180 + g_budget_ns / 1000000000ull), strerror(e));
    abort();
}

static uint64_t stop_tsc_after(uint64_t ns)
{
    return ns ? co_tsc() + co_ns_to_tsc(ns) : UINT64_MAX;
}

/* Check one pair's results (producer side and, unless cmode is CONS_NONE, consumer side). */
static void check_pipe(const char *name, const pipe_t *p)
{
    if (p->bad)
        fail_msg("%s: %" PRIu64 " order/integrity break(s); first: %s", name, p->bad, p->cerr);
    assert_int_equal(p->prc, 0);
    assert_int_equal(p->pleaks, 0);
    assert_int_equal(p->perr, 0);
    if (!p->cut)
        assert_int_equal(p->pchk.n, p->n);
    /* a consumer parked on an empty ring must wake for a single item: a stall is one that
       did not drain within 500 ms; a few may be the OS, hundreds are a lost wake-up */
    if (p->stalls > 3)
        fail_msg("%s: the consumer failed to drain the ring within 500 ms after %" PRIu64
                 " of %" PRIu64 " pauses (parked and not woken by a single item?)",
                 name, p->stalls, p->quiesces);
    if (p->cmode != CONS_NONE) {
        assert_int_equal(p->crc, 0);
        assert_int_equal(p->cleaks, 0);
        if (p->cchk.n != p->pchk.n || p->cchk.sum != p->pchk.sum || p->cchk.mix != p->pchk.mix)
            fail_msg("%s: consumer got %" PRIu64 " items (sum %016" PRIx64 ", mix %016" PRIx64
                     "); producer sent %" PRIu64 " (sum %016" PRIx64 ", mix %016" PRIx64 ")",
                     name, p->cchk.n, p->cchk.sum, p->cchk.mix, p->pchk.n, p->pchk.sum,
                     p->pchk.mix);
        if (p->cend != EPIPE || p->cend2 != EPIPE || p->cend_burst != 0)
            fail_msg("%s: after the drain chs_recv returned %d then %d and a burst %u; want EPIPE, "
                     "EPIPE, 0",
                     name, p->cend, p->cend2, p->cend_burst);
    }
    if (p->after_send != EPIPE || p->after_burst != 0 || !p->after_closed)
        fail_msg("%s: after the close chs_send returned %d, chs_send_burst %u, chs_closed %d; want "
                 "EPIPE, 0, 1",
                 name, p->after_send, p->after_burst, p->after_closed);
}

static void run_pipe(const char *name, int pmode, int cmode, size_t cap, uint64_t salt)
{
    pipe_t *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->c = chs_new(sizeof(item_t), cap, -1);
    assert_non_null(p->c);
    p->cap = chs_cap(p->c);
    p->salt = salt;
    p->n = g_items;
    p->seed = mix64(g_seed ^ salt);
    p->pmode = pmode;
    p->cmode = cmode;
    p->stop_tsc = stop_tsc_after(g_budget_ns);
    uint64_t t0 = co_now_ns();
    pthread_t tp, tc;
    assert_int_equal(pthread_create(&tc, NULL, consumer_thread, p), 0);
    assert_int_equal(pthread_create(&tp, NULL, producer_thread, p), 0);
    join_or_die(tp, name, "producer");
    join_or_die(tc, name, "consumer");
    double secs = (double)(co_now_ns() - t0) / 1e9;
    print_message("chan_stress: %s (ring %zu): %" PRIu64 " items%s in %.2f s (%.0f ns/item); "
                  "producer found the ring full %" PRIu64 " times (%" PRIu64
                  " send timeouts), consumer found it empty %" PRIu64 " times (%" PRIu64
                  " receive timeouts); %" PRIu64 " drain-and-park pauses (%" PRIu64 " stalls)\n",
                  name, p->cap, p->pchk.n, p->cut ? " (cut short by STRESS_BUDGET_S)" : "", secs,
                  p->pchk.n ? secs * 1e9 / (double)p->pchk.n : 0.0, p->pfull, p->ptimeouts,
                  p->cempty, p->ctimeouts, p->quiesces, p->stalls);
    check_pipe(name, p);
    /* with this many items both sides must have had to wait */
    if (p->pchk.n >= 100000) {
        assert_true(p->cempty > 0);
        if (pmode == PROD_CO_SEND)
            assert_true(p->pfull > 0);
    }
    if (cmode == CONS_CO_RECV)
        assert_true(p->beats > 0);
    chs_free(p->c);
    free(p);
}

static size_t pick_cap(uint64_t salt, const size_t *caps, size_t n)
{
    return caps[mix64(g_seed ^ salt ^ 0xC0FFEEull) % n];
}

static void test_poll_to_co(void **state)
{
    (void)state;
    static const size_t caps[] = {16, 64, 256, 1024};
    run_pipe("poll_to_co", PROD_POLL_BURST, CONS_CO_RECV, pick_cap(0xA1, caps, 4), 0xA1);
}

static void test_co_to_poll(void **state)
{
    (void)state;
    static const size_t caps[] = {4, 5, 8, 12, 16, 32, 64};
    run_pipe("co_to_poll", PROD_CO_SEND, CONS_POLL_BURST, pick_cap(0xB2, caps, 7), 0xB2);
}

static void test_co_to_co(void **state)
{
    (void)state;
    static const size_t caps[] = {2, 3, 4, 8};
    run_pipe("co_to_co", PROD_CO_SEND, CONS_CO_MIXED, pick_cap(0xC3, caps, 4), 0xC3);
}

/* ---- select over several SPSC channels and a local one ------------------------------ */

#define NSRC 3 /* two SPSC channels, one local */

typedef struct seltest {
    pipe_t *p[2];
    ch_t *local;
    uint64_t local_n, local_salt, local_sent;
    int local_send_err, local_close;
    chk_t lchk; /* what the feeder sent */
    /* the selector */
    chk_t got[NSRC];
    uint64_t expect[NSRC], bad;
    char err[256];
    uint64_t defaults, timeouts, picks[NSRC], eof_order[NSRC];
    int neof, sel_err;
    size_t leaks;
    int rc;
    uint64_t seed;
} seltest_t;

static void local_feeder(void *arg)
{
    seltest_t *t = arg;
    uint64_t rng = t->seed ^ 0x71ull;
    for (uint64_t seq = 0; seq < t->local_n; seq++) {
        item_t it = make_item(t->local_salt, seq);
        int e = ch_send(t->local, &it, CO_BACKGROUND);
        if (e != 0) {
            t->local_send_err = e;
            break;
        }
        chk_add(&t->lchk, &it);
        t->local_sent++;
        if ((rnd64(&rng) & 7) == 0)
            co_yield();
    }
    t->local_close = ch_close(t->local);
}

static void selector(void *arg)
{
    seltest_t *t = arg;
    uint64_t rng = t->seed ^ 0x72ull;
    int active[NSRC] = {0, 1, 2}, nact = NSRC;
    item_t elem[NSRC];
    ch_case_t cs[NSRC];
    while (nact > 0) {
        for (int j = 0; j < nact; j++) {
            int src = active[j];
            cs[j] = (ch_case_t){
                .op = CH_RECV,
                .local = src == 2 ? t->local : NULL,
                .spsc = src < 2 ? t->p[src]->c : NULL,
                .elem = &elem[j],
            };
        }
        uint64_t r = rnd64(&rng);
        unsigned flags = (r & 15) == 0 ? CH_NONBLOCK : 0;
        uint64_t dl = UINT64_MAX;
        if (((r >> 8) & 63) == 0)
            dl = co_tsc() + co_ns_to_tsc(US + (r >> 20) % (50 * US));
        int k = ch_select(cs, nact, flags, dl, CO_BACKGROUND);
        if (k == CH_DEFAULT) {
            t->defaults++;
            continue;
        }
        if (k == -ETIMEDOUT) {
            t->timeouts++;
            continue;
        }
        if (k < 0 || k >= nact) {
            t->sel_err = k;
            break;
        }
        int src = active[k];
        if (cs[k].result == EPIPE) {
            t->eof_order[t->neof++] = (uint64_t)src;
            active[k] = active[--nact];
            continue;
        }
        if (cs[k].result != 0) {
            t->sel_err = 1000 + cs[k].result;
            break;
        }
        t->picks[src]++;
        uint64_t salt = src == 2 ? t->local_salt : t->p[src]->salt;
        const item_t *it = &elem[k];
        if (it->seq != t->expect[src] || it->tag != tag_of(salt, it->seq)) {
            if (!t->bad++)
                snprintf(t->err, sizeof t->err,
                         "source %d item %" PRIu64 ": got seq %" PRIu64 " tag %016" PRIx64, src,
                         t->expect[src], it->seq, it->tag);
            t->expect[src] = it->seq + 1;
        } else {
            t->expect[src]++;
        }
        chk_add(&t->got[src], it);
        delay(&rng);
    }
}

static void *select_thread(void *arg)
{
    seltest_t *t = arg;
    co_sched_opts_t o = {.name = "stress.select", .idle = idle_of(CO_IDLE_SLEEP)};
    co_sched_t *s = co_sched_new(&o);
    if (!s) {
        t->rc = -100;
        return NULL;
    }
    t->local = ch_new(sizeof(item_t), 4);
    if (!t->local || !co_spawn(selector, t, NULL) || !co_spawn(local_feeder, t, NULL))
        t->rc = -101;
    else
        t->rc = co_sched_run(s);
    t->leaks = co_sched_free(s, stderr);
    if (t->local)
        ch_free(t->local);
    return NULL;
}

static void test_select(void **state)
{
    (void)state;
    seltest_t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->seed = mix64(g_seed ^ 0xD4);
    t->local_salt = 0xD4L;
    t->local_n = g_items / 8;
    uint64_t stop = stop_tsc_after(g_budget_ns);
    static const size_t caps[] = {8, 32, 128};
    for (int k = 0; k < 2; k++) {
        pipe_t *p = calloc(1, sizeof *p);
        assert_non_null(p);
        p->salt = 0xD0 + (uint64_t)k;
        p->c = chs_new(sizeof(item_t), pick_cap(p->salt, caps, 3), -1);
        assert_non_null(p->c);
        p->cap = chs_cap(p->c);
        p->n = (g_items - t->local_n) / 2;
        p->seed = mix64(g_seed ^ p->salt);
        p->pmode = k == 0 ? PROD_POLL_BURST : PROD_CO_SEND;
        p->cmode = CONS_NONE;
        p->stop_tsc = stop;
        t->p[k] = p;
    }
    uint64_t t0 = co_now_ns();
    pthread_t ts, tp[2];
    assert_int_equal(pthread_create(&ts, NULL, select_thread, t), 0);
    for (int k = 0; k < 2; k++)
        assert_int_equal(pthread_create(&tp[k], NULL, producer_thread, t->p[k]), 0);
    for (int k = 0; k < 2; k++)
        join_or_die(tp[k], "select", k ? "coroutine producer" : "poll-loop producer");
    join_or_die(ts, "select", "selecting consumer");
    double secs = (double)(co_now_ns() - t0) / 1e9;
    uint64_t total = t->p[0]->pchk.n + t->p[1]->pchk.n + t->local_sent;
    print_message(
        "chan_stress: select (rings %zu, %zu; local cap 4): %" PRIu64 " items%s in %.2f s "
        "(%.0f ns/item); picks %" PRIu64 "/%" PRIu64 "/%" PRIu64 ", %" PRIu64
        " CH_DEFAULT, %" PRIu64 " deadline timeouts; producers found a ring full %" PRIu64
        "/%" PRIu64 " times, paused for the selector to park %" PRIu64 "/%" PRIu64 " times\n",
        t->p[0]->cap, t->p[1]->cap, total,
        t->p[0]->cut || t->p[1]->cut ? " (cut short by STRESS_BUDGET_S)" : "", secs,
        total ? secs * 1e9 / (double)total : 0.0, t->picks[0], t->picks[1], t->picks[2],
        t->defaults, t->timeouts, t->p[0]->pfull, t->p[1]->pfull, t->p[0]->quiesces,
        t->p[1]->quiesces);
    if (t->bad)
        fail_msg("select: %" PRIu64 " order/integrity break(s); first: %s", t->bad, t->err);
    assert_int_equal(t->rc, 0);
    assert_int_equal(t->leaks, 0);
    assert_int_equal(t->sel_err, 0);
    assert_int_equal(t->neof, NSRC);
    assert_int_equal(t->local_send_err, 0);
    assert_int_equal(t->local_close, 0);
    assert_int_equal(t->local_sent, t->local_n);
    for (int k = 0; k < 2; k++) {
        pipe_t *p = t->p[k];
        char name[32];
        snprintf(name, sizeof name, "select source %d", k);
        check_pipe(name, p);
        if (t->got[k].n != p->pchk.n || t->got[k].sum != p->pchk.sum ||
            t->got[k].mix != p->pchk.mix)
            fail_msg("select: source %d: received %" PRIu64 " items (sum %016" PRIx64
                     "), producer sent %" PRIu64 " (sum %016" PRIx64 ")",
                     k, t->got[k].n, t->got[k].sum, p->pchk.n, p->pchk.sum);
    }
    if (t->got[2].n != t->lchk.n || t->got[2].sum != t->lchk.sum || t->got[2].mix != t->lchk.mix)
        fail_msg("select: local source: received %" PRIu64 " items, sent %" PRIu64, t->got[2].n,
                 t->lchk.n);
    for (int k = 0; k < 2; k++) {
        chs_free(t->p[k]->c);
        free(t->p[k]);
    }
    free(t);
}

int main(void)
{
    bool san = tu_sanitized();
    g_seed = tu_seed_from_env("STRESS_SEED", 1);
    g_items = tu_env_u64("STRESS_ITEMS", 10000000);
    g_budget_ns = tu_env_u64("STRESS_BUDGET_S", san ? 30 : 60) * 1000000000ull;
    if (g_items < 16)
        g_items = 16;
    if (getenv("STRESS_IDLE") && *getenv("STRESS_IDLE"))
        g_idle = (int)(tu_env_u64("STRESS_IDLE", CO_IDLE_SLEEP) % 3);
    print_message("chan_stress: %" PRIu64 " items per scenario (STRESS_ITEMS), seed %" PRIu64
                  " (STRESS_SEED)",
                  g_items, g_seed);
    if (g_budget_ns)
        print_message("; a scenario that runs past %" PRIu64 " s stops early (STRESS_BUDGET_S) "
                      "and the count it used is printed",
                      (uint64_t)(g_budget_ns / 1000000000ull));
    print_message("\n");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poll_to_co),
        cmocka_unit_test(test_co_to_poll),
        cmocka_unit_test(test_co_to_co),
        cmocka_unit_test(test_select),
    };
    return cmocka_run_group_tests_name("chan_stress", tests, NULL, NULL);
}
