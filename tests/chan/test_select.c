/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/chan: select — ready cases, default, fairness (counted picks), blocking wake-ups
 * from local peers and from SPSC producers on other threads, close, deadline, context,
 * bad arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "chan.h"
#include "testutil.h"

static void test_ready_case_and_default(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    ch_t *a = ch_new(sizeof(int), 1), *b = ch_new(sizeof(int), 1);
    int ra = 0, rb = 0, v = 5;
    ch_case_t cases[] = {{.op = CH_RECV, .local = a, .elem = &ra},
                         {.op = CH_RECV, .local = b, .elem = &rb}};
    assert_int_equal(ch_select(cases, 2, CH_NONBLOCK, UINT64_MAX, NULL), CH_DEFAULT);
    ch_trysend(b, &v);
    assert_int_equal(ch_select(cases, 2, CH_NONBLOCK, UINT64_MAX, NULL), 1);
    assert_int_equal(cases[1].result, 0);
    assert_int_equal(rb, 5);
    assert_int_equal(ra, 0);
    /* A send case on a channel with room. */
    ch_case_t send[] = {{.op = CH_SEND, .local = a, .elem = &v}};
    assert_int_equal(ch_select(send, 1, 0, UINT64_MAX, NULL), 0);
    assert_int_equal(ch_len(a), 1);
    assert_int_equal(ch_select(send, 1, CH_NONBLOCK, UINT64_MAX, NULL), CH_DEFAULT);
    ch_free(a);
    ch_free(b);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

static void test_bad_cases(void **state)
{
    (void)state;
    ch_t *a = ch_new(4, 1);
    chs_t *q = chs_new(4, 4, -1);
    int x;
    ch_case_t both[] = {{.op = CH_RECV, .local = a, .spsc = q, .elem = &x}};
    ch_case_t none[] = {{.op = CH_RECV, .elem = &x}};
    assert_int_equal(ch_select(both, 1, CH_NONBLOCK, UINT64_MAX, NULL), -EINVAL);
    assert_int_equal(ch_select(none, 1, CH_NONBLOCK, UINT64_MAX, NULL), -EINVAL);
    assert_int_equal(ch_select(both, CH_SELECT_MAX + 1, 0, UINT64_MAX, NULL), -EINVAL);
    assert_int_equal(ch_select(NULL, 0, CH_NONBLOCK, UINT64_MAX, NULL), CH_DEFAULT);
    ch_free(a);
    chs_free(q);
}

/* Under constant readiness no case starves: count picks over many selects. */
static void test_fair_under_constant_readiness(void **state)
{
    (void)state;
    enum { N = 8, ROUNDS = 80000 };
    co_sched_t *s = co_sched_new(NULL);
    ch_t *c[N];
    int val[N], picks[N] = {0};
    ch_case_t cases[N];
    for (int i = 0; i < N; i++) {
        c[i] = ch_new(sizeof(int), 2);
        ch_trysend(c[i], &i);
        cases[i] = (ch_case_t){.op = CH_RECV, .local = c[i], .elem = &val[i]};
    }
    for (int r = 0; r < ROUNDS; r++) {
        int k = ch_select(cases, N, CH_NONBLOCK, UINT64_MAX, NULL);
        assert_true(k >= 0 && k < N);
        assert_int_equal(val[k], k);
        picks[k]++;
        ch_trysend(c[k], &k); /* stays ready */
    }
    /* Each case expects ROUNDS/N = 10000 picks; 5 % is ~12 standard deviations. */
    double chi2 = 0;
    for (int i = 0; i < N; i++) {
        print_message("case %d picked %d times\n", i, picks[i]);
        assert_in_range(picks[i], ROUNDS / N * 95 / 100, ROUNDS / N * 105 / 100);
        double d = picks[i] - (double)ROUNDS / N;
        chi2 += d * d / ((double)ROUNDS / N);
    }
    assert_true(chi2 < 30.0); /* 7 degrees of freedom: p < 1e-4 */
    for (int i = 0; i < N; i++)
        ch_free(c[i]);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- blocking select woken by local peers ---------------------------------------------- */

struct sel_case {
    ch_t *in[3];
    ch_t *out;
    int got, k, rc;
};

static void selector(void *arg)
{
    struct sel_case *t = arg;
    int v = 99;
    ch_case_t cases[] = {{.op = CH_RECV, .local = t->in[0], .elem = &t->got},
                         {.op = CH_RECV, .local = t->in[1], .elem = &t->got},
                         {.op = CH_SEND, .local = t->out, .elem = &v},
                         {.op = CH_RECV, .local = t->in[2], .elem = &t->got}};
    t->k = ch_select(cases, 4, 0, UINT64_MAX, NULL);
    t->rc = t->k >= 0 ? cases[t->k].result : t->k;
}

static void send_on_1(void *arg)
{
    struct sel_case *t = arg;
    co_yield(); /* the selector parks first */
    int v = 41;
    assert_int_equal(ch_send(t->in[1], &v, NULL), 0);
}

static void receive_out(void *arg)
{
    struct sel_case *t = arg;
    co_yield();
    assert_int_equal(ch_recv(t->out, &t->got, NULL), 0);
}

static void run_selector(struct sel_case *t, co_fn_t peer)
{
    co_sched_t *s = co_sched_new(NULL);
    for (int i = 0; i < 3; i++)
        t->in[i] = ch_new(sizeof(int), 0);
    t->out = ch_new(sizeof(int), 0);
    t->got = -1;
    co_spawn(selector, t, NULL);
    if (peer)
        co_spawn(peer, t, NULL);
    assert_int_equal(co_sched_run(s), 0);
    for (int i = 0; i < 3; i++)
        ch_free(t->in[i]); /* the selector's other waiters were unlinked */
    ch_free(t->out);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

static void test_blocking_select_recv_wakes(void **state)
{
    (void)state;
    struct sel_case t;
    run_selector(&t, send_on_1);
    assert_int_equal(t.k, 1);
    assert_int_equal(t.rc, 0);
    assert_int_equal(t.got, 41);
}

static void test_blocking_select_send_wakes(void **state)
{
    (void)state;
    struct sel_case t;
    run_selector(&t, receive_out);
    assert_int_equal(t.k, 2);
    assert_int_equal(t.rc, 0);
    assert_int_equal(t.got, 99);
}

static void close_in_2(void *arg)
{
    struct sel_case *t = arg;
    co_yield();
    ch_close(t->in[2]);
}

static void test_select_on_closed_channel(void **state)
{
    (void)state;
    struct sel_case t;
    run_selector(&t, close_in_2);
    assert_int_equal(t.k, 3);
    assert_int_equal(t.rc, EPIPE);
    assert_int_equal(t.got, -1);
}

/* Only one case of a parked select completes, even if several peers arrive. */
static void two_senders(void *arg)
{
    struct sel_case *t = arg;
    co_yield();
    int v0 = 10, v1 = 11;
    assert_int_equal(ch_trysend(t->in[0], &v0), 0);      /* completes the select */
    assert_int_equal(ch_trysend(t->in[1], &v1), EAGAIN); /* its waiter is dead now */
}

static void test_only_one_case_completes(void **state)
{
    (void)state;
    struct sel_case t;
    run_selector(&t, two_senders);
    assert_int_equal(t.k, 0);
    assert_int_equal(t.got, 10);
}

struct timed {
    ch_t *c;
    co_ctx_t *ctx;
    uint64_t deadline;
    int k;
};

static void timed_selector(void *arg)
{
    struct timed *t = arg;
    int x;
    ch_case_t one[] = {{.op = CH_RECV, .local = t->c, .elem = &x}};
    t->k = ch_select(one, 1, 0, t->deadline, t->ctx);
}

static void test_select_deadline_and_context(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct timed a = {.c = ch_new(4, 0), .deadline = co_tsc() + co_ns_to_tsc(2000000)};
    struct timed b = {
        .c = ch_new(4, 0), .deadline = UINT64_MAX, .ctx = co_ctx_with_timeout(NULL, 1000000)};
    co_spawn(timed_selector, &a, NULL);
    co_spawn(timed_selector, &b, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(a.k, -ETIMEDOUT);
    assert_int_equal(b.k, -ETIMEDOUT);
    co_ctx_t *cancelled = co_ctx_with_cancel(NULL);
    co_ctx_cancel(cancelled);
    struct timed c = {.c = a.c, .deadline = UINT64_MAX, .ctx = cancelled};
    co_spawn(timed_selector, &c, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(c.k, -ECANCELED);
    ch_free(a.c);
    ch_free(b.c);
    co_ctx_free(b.ctx);
    co_ctx_free(cancelled);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- SPSC cases: fed from other threads, woken by the poll hook ----------------------- */

enum { FEEDS = 3, PER_FEED = 20000 };

struct feed {
    chs_t *q;
    int id;
};

static void *feed_thread(void *arg)
{
    struct feed *f = arg;
    for (uint64_t i = 1; i <= PER_FEED; i++) {
        uint64_t v = ((uint64_t)f->id << 32) | i;
        while (chs_send_burst(f->q, &v, 1) == 0)
            __builtin_ia32_pause();
        if (i % 1000 == 0)
            sched_yield(); /* let the selector run dry and park */
    }
    chs_close(f->q);
    return NULL;
}

struct merger {
    struct feed feeds[FEEDS];
    ch_t *local; /* a local case mixed in */
    uint64_t count[FEEDS];
    bool ordered;
    int local_got;
};

static void merge_all(void *arg)
{
    struct merger *m = arg;
    uint64_t v[FEEDS];
    int lv;
    ch_case_t cases[FEEDS + 1];
    for (int i = 0; i < FEEDS; i++)
        cases[i] = (ch_case_t){.op = CH_RECV, .spsc = m->feeds[i].q, .elem = &v[i]};
    cases[FEEDS] = (ch_case_t){.op = CH_RECV, .local = m->local, .elem = &lv};
    int open = FEEDS + 1;
    m->ordered = true;
    while (open > 0) {
        int k = ch_select(cases, open, 0, UINT64_MAX, NULL);
        assert_true(k >= 0);
        if (cases[k].result == EPIPE) { /* closed and drained: drop the case */
            cases[k] = cases[--open];
            continue;
        }
        if (cases[k].local) {
            m->local_got++;
            continue;
        }
        uint64_t x = *(uint64_t *)cases[k].elem;
        int id = (int)(x >> 32);
        m->ordered &= (x & 0xffffffffu) == m->count[id] + 1;
        m->count[id]++;
    }
}

static void local_feeder(void *arg)
{
    struct merger *m = arg;
    for (int i = 0; i < 10; i++) {
        co_sleep(100000, NULL);
        assert_int_equal(ch_send(m->local, &i, NULL), 0);
    }
    ch_close(m->local);
}

static void test_select_over_spsc_from_threads(void **state)
{
    (void)state;
    struct merger m = {.local = ch_new(sizeof(int), 0)};
    co_sched_t *s = co_sched_new(&(co_sched_opts_t){.idle = CO_IDLE_PAUSE});
    pthread_t t[FEEDS];
    for (int i = 0; i < FEEDS; i++) {
        m.feeds[i] = (struct feed){.q = chs_new(sizeof(uint64_t), 16, -1), .id = i};
        pthread_create(&t[i], NULL, feed_thread, &m.feeds[i]);
    }
    co_spawn(merge_all, &m, &(co_opts_t){.name = "merger"});
    co_spawn(local_feeder, &m, NULL);
    assert_int_equal(co_sched_run(s), 0);
    for (int i = 0; i < FEEDS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(m.count[i], PER_FEED);
        chs_free(m.feeds[i].q);
    }
    assert_true(m.ordered);
    assert_int_equal(m.local_got, 10);
    ch_free(m.local);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- many parked SPSC selects on one thread: the watch list ---------------------------- */

/* Forty selectors on one scheduler, each over two SPSC channels of its own (80 watched
   cases: the list grows past its first 64), some with a deadline that keeps expiring
   while parked; one producer thread sends to the channels in a pseudo-random order.
   Every selector gets exactly its own items, in order per channel, however the wake-ups
   and timeouts reshuffle the list. */
enum { SELS = 40, SEL_ITEMS = 3000 };

struct sel_watch {
    chs_t *q[2];
    int id;
    bool deadline;
    uint64_t got[2];
    bool ordered;
    int timeouts;
};

static void watch_selector(void *arg)
{
    struct sel_watch *w = arg;
    uint64_t v[2];
    ch_case_t cases[2] = {{.op = CH_RECV, .spsc = w->q[0], .elem = &v[0]},
                          {.op = CH_RECV, .spsc = w->q[1], .elem = &v[1]}};
    int open = 2;
    w->ordered = true;
    while (open > 0) {
        uint64_t dl = w->deadline ? co_tsc() + co_ns_to_tsc(20000) : UINT64_MAX;
        int k = ch_select(cases, open, 0, dl, NULL);
        if (k == -ETIMEDOUT) {
            w->timeouts++;
            continue;
        }
        assert_true(k >= 0);
        if (cases[k].result == EPIPE) {
            cases[k] = cases[--open];
            continue;
        }
        uint64_t x = *(uint64_t *)cases[k].elem;
        int line = (int)(x >> 62), id = (int)((x >> 32) & 0xffff);
        assert_int_equal(id, w->id);
        w->ordered &= (x & 0xffffffffu) == w->got[line] + 1;
        w->got[line]++;
    }
}

static void *watch_producer(void *arg)
{
    struct sel_watch *w = arg;
    uint64_t next[SELS][2] = {{0}}, rng = 88172645463325252ull;
    unsigned left = SELS * 2 * SEL_ITEMS;
    while (left > 0) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        unsigned s = (unsigned)(rng % SELS), l = (unsigned)(rng >> 32) & 1u;
        if (next[s][l] == SEL_ITEMS)
            continue;
        uint64_t v = ((uint64_t)l << 62) | ((uint64_t)s << 32) | (next[s][l] + 1);
        if (chs_send_burst(w[s].q[l], &v, 1) == 1) {
            next[s][l]++;
            left--;
        }
        if (rng % 512 == 0)
            sched_yield(); /* let the selectors run dry and park */
    }
    for (int s = 0; s < SELS; s++)
        for (int l = 0; l < 2; l++)
            chs_close(w[s].q[l]);
    return NULL;
}

/* @p bells: 0 none (the watch list), 1 every channel on one doorbell, 2 only line 0
   of each selector (every select mixes the two). */
static void many_parked_spsc_selects(int bells)
{
    static struct sel_watch w[SELS];
    co_sched_t *s = co_sched_new(&(co_sched_opts_t){.idle = CO_IDLE_PAUSE});
    chs_bell_t *bell = bells ? chs_bell_new(-1) : NULL;
    for (int i = 0; i < SELS; i++) {
        w[i] = (struct sel_watch){.id = i, .deadline = i % 5 == 0};
        for (int l = 0; l < 2; l++) {
            w[i].q[l] = chs_new(sizeof(uint64_t), 8, -1);
            if (bells == 1 || (bells == 2 && l == 0))
                assert_int_equal(chs_bell_add(bell, w[i].q[l]), 0);
        }
        co_spawn(watch_selector, &w[i], &(co_opts_t){.name = "selector"});
    }
    pthread_t t;
    pthread_create(&t, NULL, watch_producer, w);
    assert_int_equal(co_sched_run(s), 0);
    pthread_join(t, NULL);
    for (int i = 0; i < SELS; i++) {
        assert_int_equal(w[i].got[0], SEL_ITEMS);
        assert_int_equal(w[i].got[1], SEL_ITEMS);
        assert_true(w[i].ordered);
        for (int l = 0; l < 2; l++)
            chs_free(w[i].q[l]);
    }
    chs_bell_free(bell);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

static void test_many_parked_spsc_selects(void **state)
{
    (void)state;
    many_parked_spsc_selects(0);
}

/* The same through a doorbell (chs_bell_t): the producer thread's sends ring it. */
static void test_many_parked_spsc_selects_bell(void **state)
{
    (void)state;
    many_parked_spsc_selects(1);
}

static void test_many_parked_spsc_selects_half_belled(void **state)
{
    (void)state;
    many_parked_spsc_selects(2);
}

/* ---- fifty feeds ------------------------------------------------------------------------ */

static void test_fifty_cases(void **state)
{
    (void)state;
    enum { N = 50 };
    co_sched_t *s = co_sched_new(NULL);
    ch_t *c[N];
    void *got[N];
    ch_case_t cases[N];
    for (int i = 0; i < N; i++) {
        c[i] = ch_new(sizeof(void *), 4);
        cases[i] = (ch_case_t){.op = CH_RECV, .local = c[i], .elem = &got[i]};
    }
    for (int r = 0; r < 1000; r++) {
        int which = (r * 37) % N;
        void *p = (void *)(uintptr_t)(r + 1);
        assert_int_equal(ch_trysend(c[which], &p), 0);
        int k = ch_select(cases, N, CH_NONBLOCK, UINT64_MAX, NULL);
        assert_int_equal(k, which);
        assert_ptr_equal(got[k], p);
    }
    for (int i = 0; i < N; i++)
        ch_free(c[i]);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* Regression: a blocking select over CH_SELECT_MAX cases from a 2 KiB small-stack
 * coroutine (its waiters used to live on that stack and overflowed it at ~45 cases). */
struct wide {
    ch_t *c[CH_SELECT_MAX];
    void *got;
    int k;
};

static void wide_selector(void *arg)
{
    struct wide *w = arg;
    static ch_case_t cases[CH_SELECT_MAX];
    for (int i = 0; i < CH_SELECT_MAX; i++)
        cases[i] = (ch_case_t){.op = CH_RECV, .local = w->c[i], .elem = &w->got};
    w->k = ch_select(cases, CH_SELECT_MAX, 0, UINT64_MAX, NULL);
}

static void wide_sender(void *arg)
{
    struct wide *w = arg;
    co_yield();
    void *p = (void *)(uintptr_t)0x1234;
    assert_int_equal(ch_trysend(w->c[77], &p), 0);
}

static void test_wide_select_on_small_stack(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    static struct wide w;
    for (int i = 0; i < CH_SELECT_MAX; i++)
        w.c[i] = ch_new(sizeof(void *), 0);
    for (int round = 0; round < 3; round++) { /* the second time reuses the waiter block */
        w.k = -1;
        co_spawn(wide_selector, &w, &(co_opts_t){.name = "wide", .stack_size = CO_STACK_SMALL});
        co_spawn(wide_sender, &w, NULL);
        assert_int_equal(co_sched_run(s), 0);
        assert_int_equal(w.k, 77);
        assert_ptr_equal(w.got, (void *)(uintptr_t)0x1234);
    }
    for (int i = 0; i < CH_SELECT_MAX; i++)
        ch_free(w.c[i]);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_case_and_default),
        cmocka_unit_test(test_bad_cases),
        cmocka_unit_test(test_fair_under_constant_readiness),
        cmocka_unit_test(test_blocking_select_recv_wakes),
        cmocka_unit_test(test_blocking_select_send_wakes),
        cmocka_unit_test(test_select_on_closed_channel),
        cmocka_unit_test(test_only_one_case_completes),
        cmocka_unit_test(test_select_deadline_and_context),
        cmocka_unit_test(test_select_over_spsc_from_threads),
        cmocka_unit_test(test_many_parked_spsc_selects),
        cmocka_unit_test(test_many_parked_spsc_selects_bell),
        cmocka_unit_test(test_many_parked_spsc_selects_half_belled),
        cmocka_unit_test(test_fifty_cases),
        cmocka_unit_test(test_wide_select_on_small_stack),
    };
    return cmocka_run_group_tests_name("chan_select", tests, NULL, NULL);
}
