/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/rt: coroutine life cycle, scheduling order, sleep, wait groups, parking, poll
 * hooks, idle policies, deadlock detection, FP state and unwinding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <execinfo.h>
#include <fenv.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xmmintrin.h>

#include "co.h"
#include "testutil.h"

static void wg_noop(void *arg)
{
    (void)arg;
}

/* Run @p fn as the only root coroutine of a fresh scheduler; assert no leaks. */
static void run_root(co_fn_t fn, void *arg, const co_sched_opts_t *opts)
{
    co_sched_t *s = co_sched_new(opts);
    assert_non_null(s);
    assert_non_null(co_spawn(fn, arg, &(co_opts_t){.name = "root"}));
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- FIFO order ------------------------------------------------------------------ */

struct trace {
    int ev[256];
    int n;
};

struct yielder {
    struct trace *t;
    int id;
    int rounds;
};

static void yielder(void *arg)
{
    struct yielder *y = arg;
    for (int i = 0; i < y->rounds; i++) {
        y->t->ev[y->t->n++] = y->id * 100 + i;
        co_yield();
    }
}

static void test_fifo_round_robin(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct trace t = {0};
    struct yielder y[3];
    for (int i = 0; i < 3; i++) {
        y[i] = (struct yielder){.t = &t, .id = i + 1, .rounds = 3};
        assert_non_null(co_spawn(yielder, &y[i], NULL));
    }
    assert_int_equal(co_sched_live(s), 3);
    assert_int_equal(co_sched_run(s), 0);
    int want[] = {100, 200, 300, 101, 201, 301, 102, 202, 302};
    assert_int_equal(t.n, 9);
    assert_memory_equal(t.ev, want, sizeof(want));
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* A spawned coroutine runs after the spawner yields, not before. */
static void spawner(void *arg)
{
    struct trace *t = arg;
    static struct yielder child;
    child = (struct yielder){.t = t, .id = 9, .rounds = 1};
    co_spawn(yielder, &child, NULL);
    t->ev[t->n++] = 1;
    co_yield();
    t->ev[t->n++] = 2;
}

static void test_spawn_does_not_preempt(void **state)
{
    (void)state;
    struct trace t = {0};
    run_root(spawner, &t, NULL);
    int want[] = {1, 900, 2};
    assert_int_equal(t.n, 3);
    assert_memory_equal(t.ev, want, sizeof(want));
}

/* Small batch: control returns to the scheduler often; order must not change. */
static void test_fifo_with_tiny_batch(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(&(co_sched_opts_t){.batch = 1});
    struct trace t = {0};
    struct yielder y[2] = {{&t, 1, 4}, {&t, 2, 4}};
    co_spawn(yielder, &y[0], NULL);
    co_spawn(yielder, &y[1], &(co_opts_t){.stack_size = CO_STACK_SMALL});
    assert_int_equal(co_sched_run(s), 0);
    int want[] = {100, 200, 101, 201, 102, 202, 103, 203};
    assert_memory_equal(t.ev, want, sizeof(want));
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- identity ---------------------------------------------------------------------- */

struct identity_case {
    co_t *handle; /* what co_spawn returned, stored before the coroutine first runs */
    co_ctx_t *ctx;
    bool checked;
};

static void identity(void *arg)
{
    struct identity_case *c = arg;
    co_t *self = co_self();
    assert_ptr_equal(self, c->handle);
    assert_string_equal(co_name(NULL), "a-very-long-coroutine-n"); /* CO_NAME_MAX = 23 */
    assert_string_equal(co_name(self), co_name(NULL));
    assert_string_equal(co_kind(NULL), "feed");
    assert_int_equal(co_id(NULL), co_id(self));
    assert_ptr_equal(co_context(NULL), c->ctx);
    assert_true(co_stack_size(NULL) >= 100000);
    c->checked = true;
}

static void test_identity(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    assert_null(co_self());
    assert_string_equal(co_name(NULL), "(scheduler)");
    struct identity_case c = {.ctx = co_ctx_with_cancel(CO_BACKGROUND)};
    c.handle = co_spawn(identity, &c,
                        &(co_opts_t){.name = "a-very-long-coroutine-name",
                                     .kind = "feed",
                                     .ctx = c.ctx,
                                     .stack_size = 100000});
    assert_non_null(c.handle);
    co_t *other = co_spawn(wg_noop, NULL, NULL);
    assert_true(co_id(other) > co_id(c.handle));
    assert_string_equal(co_name(other), "co"); /* default name: the kind */
    assert_int_equal(co_sched_run(s), 0);
    assert_true(c.checked);
    assert_int_equal(co_sched_free(s, stderr), 0);
    co_ctx_free(c.ctx);
}

static void test_spawn_without_scheduler(void **state)
{
    (void)state;
    errno = 0;
    assert_null(co_spawn(wg_noop, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    co_sched_t *s = co_sched_new(NULL);
    assert_ptr_equal(co_sched_self(), s);
    assert_null(co_sched_new(NULL));
    assert_int_equal(errno, EBUSY);
    assert_int_equal(co_sleep(1, NULL), EPERM);
    co_yield(); /* a no-op outside a coroutine */
    assert_int_equal(co_sched_free(s, stderr), 0);
    assert_null(co_sched_self());
}

/* ---- sleep -------------------------------------------------------------------------- */

struct sleeper {
    uint64_t ns;
    uint64_t slept_ns;
    int rc;
    int *order;
    int *n;
    int id;
};

static void sleeper(void *arg)
{
    struct sleeper *sl = arg;
    uint64_t t0 = co_now_ns();
    sl->rc = co_sleep(sl->ns, CO_BACKGROUND);
    sl->slept_ns = co_now_ns() - t0;
    sl->order[(*sl->n)++] = sl->id;
}

static void test_sleep_order_and_duration(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    int order[4], n = 0;
    /* Spawned in scrambled order; deadlines 4 ms apart wake strictly in time order. */
    uint64_t ms[4] = {12, 0, 8, 4};
    struct sleeper sl[4];
    for (int i = 0; i < 4; i++) {
        sl[i] = (struct sleeper){.ns = ms[i] * 1000000, .order = order, .n = &n, .id = (int)ms[i]};
        co_spawn(sleeper, &sl[i], NULL);
    }
    assert_int_equal(co_sched_run(s), 0);
    int want[] = {0, 4, 8, 12};
    assert_memory_equal(order, want, sizeof(want));
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sl[i].rc, 0);
        assert_true(sl[i].slept_ns >= sl[i].ns); /* never early */
    }
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* A stray co_ready() must not cut a sleep short. */
static void stray_waker(void *arg)
{
    co_t *target = *(co_t **)arg;
    for (int i = 0; i < 50; i++) {
        co_ready(target);
        co_yield();
    }
}

static void test_sleep_ignores_stray_ready(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    int order[1], n = 0;
    struct sleeper sl = {.ns = 3000000, .order = order, .n = &n};
    static co_t *target;
    target = co_spawn(sleeper, &sl, NULL);
    co_spawn(stray_waker, &target, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(sl.rc, 0);
    assert_true(sl.slept_ns >= sl.ns);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- wait groups ------------------------------------------------------------------------ */

struct wg_case {
    co_wg_t wg;
    int finished;
    int wait_rc;
    long count_seen;
};

static void wg_member(void *arg)
{
    struct wg_case *c = arg;
    co_yield();
    c->finished++;
}

static void wg_root(void *arg)
{
    struct wg_case *c = arg;
    co_wg_init(&c->wg);
    for (int i = 0; i < 10; i++)
        co_spawn(wg_member, c, &(co_opts_t){.wg = &c->wg});
    c->count_seen = c->wg.count;
    c->wait_rc = co_wg_wait(&c->wg, CO_BACKGROUND);
    assert_int_equal(c->finished, 10);
    assert_int_equal(c->wg.count, 0);
    /* Waiting on an empty group returns at once. */
    assert_int_equal(co_wg_wait(&c->wg, CO_BACKGROUND), 0);
}

static void test_wait_group(void **state)
{
    (void)state;
    struct wg_case c = {0};
    run_root(wg_root, &c, NULL);
    assert_int_equal(c.count_seen, 10);
    assert_int_equal(c.wait_rc, 0);
}

/* Several waiters on one group all wake; manual add/done works without spawns. */
static void wg_waiter(void *arg)
{
    struct wg_case *c = arg;
    assert_int_equal(co_wg_wait(&c->wg, CO_BACKGROUND), 0);
    c->finished++;
}

static void wg_manual_root(void *arg)
{
    struct wg_case *c = arg;
    co_wg_init(&c->wg);
    co_wg_add(&c->wg, 2);
    for (int i = 0; i < 3; i++)
        co_spawn(wg_waiter, c, NULL);
    co_yield();
    assert_int_equal(c->finished, 0);
    co_wg_done(&c->wg);
    co_yield();
    assert_int_equal(c->finished, 0);
    co_wg_done(&c->wg);
    co_yield();
    assert_int_equal(c->finished, 3);
}

static void test_wait_group_many_waiters(void **state)
{
    (void)state;
    struct wg_case c = {0};
    run_root(wg_manual_root, &c, NULL);
}

/* ---- park / ready ---------------------------------------------------------------------- */

struct park_case {
    co_t *parked;
    int rc_ready, rc_timeout;
    bool ready_again;
};

static void parker(void *arg)
{
    struct park_case *p = arg;
    p->parked = co_self();
    p->rc_ready = co_park(CO_BACKGROUND, UINT64_MAX, "test wait", p);
    p->parked = NULL;
    p->rc_timeout = co_park(CO_BACKGROUND, co_tsc() + co_ns_to_tsc(1000000), "test", p);
}

static void readier(void *arg)
{
    struct park_case *p = arg;
    assert_true(co_is_parked(p->parked));
    assert_true(co_ready(p->parked));
    p->ready_again = co_ready(p->parked); /* already runnable: refused */
}

static void test_park_ready_and_deadline(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct park_case p = {0};
    co_spawn(parker, &p, NULL);
    co_spawn(readier, &p, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(p.rc_ready, 0);
    assert_false(p.ready_again);
    assert_int_equal(p.rc_timeout, ETIMEDOUT);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/*
 * co_ready_next(): the target runs as soon as the caller parks, ahead of the queue,
 * and a coroutine run through a hand-off cannot pass one on (its co_ready_next() is
 * FIFO), so a pair handing off to each other cannot hold the queue back.
 */
struct handoff_case {
    co_t *p, *q;
    char order[8];
    int n;
    bool second_refused;
};

static void handoff_mark(struct handoff_case *c, char who)
{
    c->order[c->n++] = who;
}

static void handoff_q(void *arg)
{
    struct handoff_case *c = arg;
    assert_int_equal(co_park(NULL, UINT64_MAX, "handoff", NULL), 0);
    handoff_mark(c, 'q');
}

static void handoff_p(void *arg)
{
    struct handoff_case *c = arg;
    assert_int_equal(co_park(NULL, UINT64_MAX, "handoff", NULL), 0);
    handoff_mark(c, 'p');
    assert_true(co_ready_next(c->q)); /* p ran through a hand-off: q goes last */
}

static void handoff_queued(void *arg)
{
    handoff_mark(arg, 'a');
}

static void handoff_giver(void *arg)
{
    struct handoff_case *c = arg;
    co_yield();                                                  /* p and q park */
    co_spawn(handoff_queued, c, &(co_opts_t){.name = "queued"}); /* runnable before p */
    assert_true(co_ready_next(c->p));
    c->second_refused = !co_ready_next(c->p); /* already runnable */
    handoff_mark(c, 'g');
}

static void test_ready_next_hands_off(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct handoff_case c = {0};
    c.p = co_spawn(handoff_p, &c, &(co_opts_t){.name = "p"});
    c.q = co_spawn(handoff_q, &c, &(co_opts_t){.name = "q"});
    co_spawn(handoff_giver, &c, &(co_opts_t){.name = "giver"});
    assert_int_equal(co_sched_run(s), 0);
    /* the giver finishes its turn, p runs before the queued coroutine, q after it */
    assert_int_equal(c.n, 4);
    assert_memory_equal(c.order, "gpaq", 4);
    assert_true(c.second_refused);
    assert_false(co_ready_next(NULL));
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- lazy timer entries: a park woken early keeps its heap entry ------------------------- */

struct lazy_case {
    co_t *parker;
    int phase; /* the park the parker is in (or about to enter) */
    int rc[5];
    uint64_t waited_ns[5];
    int stray; /* wake-ups of the park without a deadline before the readier's */
    bool readied_last;
};

static uint64_t ms_tsc(unsigned ms)
{
    return co_ns_to_tsc((uint64_t)ms * 1000000u);
}

static int lazy_park(struct lazy_case *c, int phase, unsigned ms)
{
    c->phase = phase;
    return co_park(NULL, ms ? co_tsc() + ms_tsc(ms) : UINT64_MAX, "lazy", NULL);
}

static void lazy_parker(void *arg)
{
    struct lazy_case *c = arg;
    /* 0: deadline in 50 ms, readied after 2 ms: its entry stays, due in 48 ms */
    uint64_t t0 = co_now_ns();
    c->rc[0] = lazy_park(c, 0, 50);
    c->waited_ns[0] = co_now_ns() - t0;
    /* 1: a later deadline (80 ms): the old entry fires first and must not end this park */
    t0 = co_now_ns();
    c->rc[1] = lazy_park(c, 1, 80);
    c->waited_ns[1] = co_now_ns() - t0;
    /* 2: deadline 60 ms, readied at once: the entry stays, due in ~60 ms; then 3: an
       earlier deadline (5 ms) moves the entry up */
    c->rc[2] = lazy_park(c, 2, 60);
    t0 = co_now_ns();
    c->rc[3] = lazy_park(c, 3, 5);
    c->waited_ns[3] = co_now_ns() - t0;
    /* 4: readied early again, then 5: a park without a deadline across the stale
       entry's due time; only the readier ends it */
    c->rc[4] = lazy_park(c, 4, 20);
    while (lazy_park(c, 5, 0) == 0 && !c->readied_last)
        c->stray++;
    /* 6: finishes with a lazy entry of its own: the scheduler must drop it */
    (void)lazy_park(c, 6, 30);
}

/* Until the parker is parked in park @p phase. */
static void lazy_wait(struct lazy_case *c, int phase)
{
    while (c->phase != phase || !co_is_parked(c->parker))
        co_sleep(100000, NULL);
}

static void lazy_readier(void *arg)
{
    struct lazy_case *c = arg;
    lazy_wait(c, 0);
    co_sleep(2000000, NULL);
    assert_true(co_ready(c->parker));
    lazy_wait(c, 2);
    assert_true(co_ready(c->parker));
    lazy_wait(c, 4);
    assert_true(co_ready(c->parker));
    lazy_wait(c, 5);
    co_sleep(40000000, NULL); /* past park 4's stale 20 ms entry */
    c->readied_last = true;
    assert_true(co_ready(c->parker));
    lazy_wait(c, 6);
    assert_true(co_ready(c->parker));
}

static void lazy_readier_noop(void *arg)
{
    (void)arg;
}

static void test_lazy_timer_entries(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct lazy_case c = {0};
    c.parker = co_spawn(lazy_parker, &c, &(co_opts_t){.name = "parker"});
    co_spawn(lazy_readier, &c, &(co_opts_t){.name = "readier"});
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(c.rc[0], 0);
    assert_true(c.waited_ns[0] < 40000000);
    assert_int_equal(c.rc[1], ETIMEDOUT);
    assert_true(c.waited_ns[1] >= 80000000); /* not cut short at the old 48 ms */
    assert_int_equal(c.rc[2], 0);
    assert_int_equal(c.rc[3], ETIMEDOUT);
    assert_true(c.waited_ns[3] >= 5000000 && c.waited_ns[3] < 50000000);
    assert_int_equal(c.rc[4], 0);
    assert_int_equal(c.stray, 0);
    /* a new coroutine reuses the finished one's block: spawn_init asserts no timer slot */
    co_spawn(lazy_readier_noop, NULL, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/*
 * Timers that come due in the same pass wake in deadline order, a lazy entry too.
 * A's first park (2 ms) is readied at once, so its entry stays keyed at 2 ms while
 * its next park runs to 5 ms; B then parks for 3 ms. A coroutine that holds the
 * thread for 10 ms makes both due in one pass, as a host stall does: B must wake
 * first although A's stale key is the heap's smallest.
 */
struct due_case {
    co_t *a;
    int order[2], n;
    int rc[2];
};

static void due_parker(void *arg, int id, uint64_t ms)
{
    struct due_case *c = arg;
    c->rc[id] = co_park(NULL, co_tsc() + ms_tsc(ms), "due", NULL);
    c->order[c->n++] = id;
}

static void due_a(void *arg)
{
    struct due_case *c = arg;
    assert_int_equal(co_park(NULL, co_tsc() + ms_tsc(2), "due", NULL), 0); /* readied */
    due_parker(c, 0, 5);
}

static void due_b(void *arg)
{
    due_parker(arg, 1, 3);
}

static void due_driver(void *arg)
{
    struct due_case *c = arg;
    c->a = co_spawn(due_a, c, &(co_opts_t){.name = "a"});
    co_yield(); /* A parks for 2 ms */
    assert_true(co_ready(c->a));
    co_yield(); /* A parks for 5 ms behind its 2 ms entry */
    co_spawn(due_b, c, &(co_opts_t){.name = "b"});
    co_yield(); /* B parks for 3 ms */
    uint64_t until = co_tsc() + ms_tsc(10);
    while (co_tsc() < until)
        ; /* hold the thread past both deadlines */
}

static void test_timers_due_together_wake_in_deadline_order(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct due_case c = {0};
    co_spawn(due_driver, &c, &(co_opts_t){.name = "driver"});
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.rc[0], ETIMEDOUT);
    assert_int_equal(c.rc[1], ETIMEDOUT);
    assert_int_equal(c.order[0], 1); /* B, due at 3 ms */
    assert_int_equal(c.order[1], 0); /* A, due at 5 ms */
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- poll hooks ------------------------------------------------------------------------ */

/* A "ring" filled by a producer coroutine; the consumer parks while it is empty
 * and a poll hook readies it, as lib/chan does across cores. */
struct fake_ring {
    co_poll_t poll;
    int items;
    co_t *waiter;
    int consumed;
    int polls;
};

static unsigned ring_poll(co_poll_t *p)
{
    struct fake_ring *r = (struct fake_ring *)((char *)p - offsetof(struct fake_ring, poll));
    r->polls++;
    if (r->items == 0 || !r->waiter)
        return 0;
    co_t *w = r->waiter;
    r->waiter = NULL;
    co_poll_del(p); /* a hook may remove itself */
    return co_ready(w) ? 1 : 0;
}

static void ring_consumer(void *arg)
{
    struct fake_ring *r = arg;
    while (r->consumed < 100) {
        if (r->items == 0) {
            r->waiter = co_self();
            co_poll_add(&r->poll);
            assert_int_equal(co_park(CO_BACKGROUND, UINT64_MAX, "ring", r), 0);
            assert_true(r->items > 0);
        }
        r->items--;
        r->consumed++;
    }
}

static void ring_producer(void *arg)
{
    struct fake_ring *r = arg;
    for (int i = 0; i < 100; i++) {
        r->items++;
        co_sleep(10000, CO_BACKGROUND); /* let the consumer drain and park */
    }
}

static void test_poll_hook_wakes_parked(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct fake_ring r = {.poll.fn = ring_poll};
    co_spawn(ring_consumer, &r, NULL);
    co_spawn(ring_producer, &r, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(r.consumed, 100);
    assert_true(r.polls > 0);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/*
 * A poller that never parks hands an item to a parked consumer that only a poll hook
 * wakes (an RX poller and the feed handlers of its own lcore). With co_yield_pass()
 * the consumer has it before the poller polls again: every item is taken at the
 * poll after the one that made it. With co_yield(), the poller polls up to `batch`
 * times first (the lag the test expects to see, so that it can tell the two apart).
 */
struct pass_ring {
    struct fake_ring r;
    int polls_done; /* the poller's polls so far */
    int made_at;    /* poll that made the pending item */
    int worst_lag;  /* polls between making an item and its consumption, at most */
    bool use_pass;
};

static void pass_consumer(void *arg)
{
    struct pass_ring *p = arg;
    while (p->r.consumed < 50) {
        if (p->r.items == 0) {
            p->r.waiter = co_self();
            co_poll_add(&p->r.poll);
            assert_int_equal(co_park(CO_BACKGROUND, UINT64_MAX, "ring", p), 0);
        }
        int lag = p->polls_done - p->made_at;
        if (lag > p->worst_lag)
            p->worst_lag = lag;
        p->r.items--;
        p->r.consumed++;
    }
}

static void pass_poller(void *arg)
{
    struct pass_ring *p = arg;
    while (p->r.consumed < 50) {
        p->polls_done++;
        bool made = p->r.items == 0 && p->polls_done % 7 == 0; /* now and then */
        if (made) {
            p->r.items++;
            p->made_at = p->polls_done;
        }
        if (made && p->use_pass)
            co_yield_pass();
        else
            co_yield();
    }
}

static void test_yield_pass_runs_the_woken_first(void **state)
{
    (void)state;
    for (int use_pass = 0; use_pass < 2; use_pass++) {
        co_sched_t *s = co_sched_new(NULL); /* batch 64 */
        struct pass_ring p = {.r.poll.fn = ring_poll, .use_pass = use_pass};
        co_spawn(pass_consumer, &p, NULL);
        co_spawn(pass_poller, &p, NULL);
        assert_int_equal(co_sched_run(s), 0);
        assert_int_equal(p.r.consumed, 50);
        if (use_pass)
            assert_int_equal(p.worst_lag, 0); /* taken before the next poll */
        else
            assert_true(p.worst_lag > 1); /* polled on first */
        assert_int_equal(co_sched_free(s, stderr), 0);
    }
}

/* co_yield_pass() where nothing is due at a pass: a plain yield. */
static void pass_yielder(void *arg)
{
    int *n = arg;
    for (int i = 0; i < 10; i++) {
        co_yield_pass();
        (*n)++;
    }
}

static void test_yield_pass_without_hooks(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    int a = 0, b = 0;
    co_spawn(pass_yielder, &a, NULL);
    co_spawn(pass_yielder, &b, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(a, 10);
    assert_int_equal(b, 10);
    co_yield_pass(); /* not in a coroutine: nothing */
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- idle policies -------------------------------------------------------------------- */

static void idle_sleeper(void *arg)
{
    int *done = arg;
    for (int i = 0; i < 5; i++)
        assert_int_equal(co_sleep(2000000, CO_BACKGROUND), 0);
    (*done)++;
}

static void test_idle_policies(void **state)
{
    (void)state;
    co_idle_t policies[] = {CO_IDLE_BUSY, CO_IDLE_PAUSE, CO_IDLE_SLEEP};
    for (int i = 0; i < 3; i++) {
        int done = 0;
        co_sched_t *s = co_sched_new(&(co_sched_opts_t){.idle = policies[i]});
        co_spawn(idle_sleeper, &done, NULL);
        co_spawn(idle_sleeper, &done, NULL);
        uint64_t t0 = co_now_ns();
        assert_int_equal(co_sched_run(s), 0);
        assert_true(co_now_ns() - t0 >= 10000000);
        assert_int_equal(done, 2);
        assert_int_equal(co_sched_free(s, stderr), 0);
    }
}

/* ---- stop, deadlock, leaks ----------------------------------------------------------- */

static void stopper(void *arg)
{
    int *phase = arg;
    *phase = 1;
    co_sched_stop(co_sched_self());
    co_yield();
    *phase = 2;
}

static void test_stop_and_resume(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    int phase = 0;
    co_spawn(stopper, &phase, NULL);
    assert_int_equal(co_sched_run(s), 1);
    assert_int_equal(phase, 1);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(phase, 2);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

static void forever(void *arg)
{
    co_wg_t *gate = arg;
    co_wg_wait(gate, CO_BACKGROUND);
}

static void test_deadlock_and_leak_report(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(&(co_sched_opts_t){.name = "leaky"});
    co_wg_t gate;
    co_wg_init(&gate);
    co_wg_add(&gate, 1);
    co_spawn(forever, &gate, &(co_opts_t){.name = "stuck", .kind = "handler"});
    co_spawn(forever, &gate, &(co_opts_t){.name = "small-stuck", .stack_size = CO_STACK_SMALL});
    assert_int_equal(co_sched_run(s), CO_EDEADLOCK);
    assert_int_equal(co_sched_live(s), 2);

    char *buf = NULL;
    size_t len = 0;
    FILE *report = open_memstream(&buf, &len);
    assert_int_equal(co_sched_free(s, report), 2);
    fclose(report);
    assert_non_null(strstr(buf, "scheduler 'leaky': 2 coroutine(s) leaked"));
    assert_non_null(strstr(buf, "'stuck' kind=handler"));
    assert_non_null(strstr(buf, "'small-stuck' kind=co"));
    assert_non_null(strstr(buf, "state=parked on 'wait group'"));
    assert_non_null(strstr(buf, "age="));
    free(buf);
}

/* ---- floating-point control state is per coroutine --------------------------------------- */

static void fp_upward(void *arg)
{
    int *ok = arg;
    fesetround(FE_UPWARD);
    co_yield();
    *ok += fegetround() == FE_UPWARD;
    fesetround(FE_TONEAREST);
}

static void fp_default(void *arg)
{
    int *ok = arg;
    *ok += fegetround() == FE_TONEAREST;
    co_yield();
    *ok += fegetround() == FE_TONEAREST;
}

static void test_fp_control_state_saved(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    int ok = 0;
    co_spawn(fp_upward, &ok, NULL);
    co_spawn(fp_default, &ok, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(ok, 3);
    assert_int_equal(fegetround(), FE_TONEAREST);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/*
 * MXCSR itself (fegetround() reads the x87 word only): a coroutine that sets
 * flush-to-zero and round-down and then finishes without restoring them, through the
 * finish path (rt_resume, which on AMD stores no MXCSR of the dead coroutine), must
 * leave a coroutine spawned before it (already switched out by a yield) and one
 * spawned after it (never run) with the scheduler's MXCSR.
 */
#define MXCSR_CONTROL 0xffc0u /* the control bits: masks, rounding, FTZ, DAZ */

struct mx {
    unsigned base, seen_after, seen_late;
};

static void mx_dirty(void *arg)
{
    (void)arg;
    _mm_setcsr((_mm_getcsr() & ~0x6000u) | 0x2000u | 0x8000u); /* round down, FTZ */
}

static void mx_early(void *arg)
{
    struct mx *m = arg;
    co_yield(); /* mx_dirty runs and finishes while this one is switched out */
    m->seen_after = _mm_getcsr() & MXCSR_CONTROL;
}

static void mx_late(void *arg)
{
    struct mx *m = arg;
    m->seen_late = _mm_getcsr() & MXCSR_CONTROL;
}

/* ---- usage: busy and idle time ------------------------------------------------------ */

#define USAGE_PHASE_NS 20000000ull /* 20 ms */

/* Spin (busy, never yielding) for a phase, then sleep (idle passes) for one. */
static void spin_then_sleep(void *arg)
{
    uint64_t *spun = arg, t0 = co_tsc();
    while (co_tsc() - t0 < co_ns_to_tsc(USAGE_PHASE_NS))
        ;
    *spun = co_tsc() - t0;
    assert_int_equal(co_sleep(USAGE_PHASE_NS, NULL), 0);
}

struct usage_reader {
    co_sched_t *s;
    _Atomic bool stop;
    bool monotonic;
    uint64_t reads;
};

/* Another thread reads the usage while the scheduler runs: each field only grows. */
static void *read_usage(void *arg)
{
    struct usage_reader *r = arg;
    co_sched_usage_t last = {0}, u;
    r->monotonic = true;
    while (!atomic_load(&r->stop)) {
        co_sched_usage(r->s, &u);
        r->monotonic &= u.busy_tsc >= last.busy_tsc && u.run_tsc >= last.run_tsc &&
                        u.passes >= last.passes && u.idle_passes >= last.idle_passes;
        last = u;
        r->reads++;
    }
    return NULL;
}

static void test_usage_busy_and_idle(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(&(co_sched_opts_t){.idle = CO_IDLE_PAUSE});
    uint64_t spun = 0;
    struct usage_reader r = {.s = s};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, read_usage, &r), 0);
    co_spawn(spin_then_sleep, &spun, &(co_opts_t){.name = "worker"});
    assert_int_equal(co_sched_run(s), 0);
    atomic_store(&r.stop, true);
    pthread_join(t, NULL);
    co_sched_usage_t u;
    co_sched_usage(s, &u);
    /* lower bounds only: preemption can add to either phase, never take from it */
    assert_true(u.busy_tsc >= spun);
    assert_true(u.run_tsc - u.busy_tsc >= co_ns_to_tsc(USAGE_PHASE_NS) * 9 / 10);
    assert_true(u.run_tsc >= u.busy_tsc);
    assert_true(u.idle_passes > 0 && u.passes > u.idle_passes);
    assert_true(r.monotonic);
    assert_true(r.reads > 0);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* A coroutine that only yields never lets a pass find nothing: busy throughout. A
   poll hook that never readies anything makes the passes due (as RX's is). */
static unsigned never_ready(co_poll_t *p)
{
    (void)p;
    return 0;
}

static void yield_a_while(void *arg)
{
    co_poll_t *hook = arg;
    co_poll_add(hook);
    for (int i = 0; i < 200000; i++)
        co_yield();
    co_poll_del(hook);
}

static void test_usage_of_a_poll_loop(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(&(co_sched_opts_t){.batch = 4});
    co_poll_t hook = {.fn = never_ready};
    co_spawn(yield_a_while, &hook, &(co_opts_t){.name = "poller"});
    assert_int_equal(co_sched_run(s), 0);
    co_sched_usage_t u;
    co_sched_usage(s, &u);
    assert_int_equal(u.idle_passes, 0);
    assert_true(u.passes > 1000); /* a pass every 4 yields */
    assert_int_equal(u.busy_tsc, u.run_tsc);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

static void test_mxcsr_after_a_dirty_finish(void **state)
{
    (void)state;
    struct mx m = {.base = _mm_getcsr() & MXCSR_CONTROL};
    co_sched_t *s = co_sched_new(NULL);
    co_spawn(mx_early, &m, NULL);
    co_spawn(mx_dirty, &m, NULL);
    co_spawn(mx_late, &m, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(m.seen_after, m.base);
    assert_int_equal(m.seen_late, m.base);
    assert_int_equal(_mm_getcsr() & MXCSR_CONTROL, m.base);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- unwinding: backtraces walk a coroutine's stack and stop at its entry ---------------- */

static int bt_frames;
static void *bt_addrs[64];

static __attribute__((noinline)) void bt_leaf(void)
{
    bt_frames = backtrace(bt_addrs, 64);
    __asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void bt_entry(void *arg)
{
    (void)arg;
    bt_leaf();
    __asm__ volatile("" ::: "memory");
}

static void test_backtrace_in_coroutine(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    co_spawn(bt_entry, NULL, &(co_opts_t){.name = "bt"});
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(co_sched_free(s, stderr), 0);
    /* bt_leaf, bt_entry, rt_co_main, rt_trampoline: the walk ends at the trampoline
     * (CFI marks it outermost) instead of wandering off the stack. */
    assert_true(bt_frames >= 3);
    assert_true(bt_frames <= 6);
    bool in_entry = false;
    for (int i = 0; i < bt_frames; i++) {
        uintptr_t a = (uintptr_t)bt_addrs[i];
        if (a > (uintptr_t)bt_entry && a < (uintptr_t)bt_entry + 256)
            in_entry = true;
    }
    assert_true(in_entry);
}

/* gdb, if installed, walks the same stack from a breakpoint. */
static void gdb_target(void)
{
    co_sched_t *s = co_sched_new(NULL);
    co_spawn(bt_entry, NULL, &(co_opts_t){.name = "bt"});
    co_sched_run(s);
    co_sched_free(s, stderr);
}

static void test_gdb_backtrace(void **state)
{
    (void)state;
    if (access("/usr/bin/gdb", X_OK) != 0) {
        print_message("skipped: /usr/bin/gdb is not installed (tools/setup installs it)\n");
        skip();
        return;
    }
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "gdb -q -batch -nx -ex 'break bt_leaf' -ex run -ex bt --args "
             "/proc/%d/exe --gdb-target 2>&1",
             (int)getpid());
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[16384];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    pclose(p);
    if (strstr(out, "ptrace") && strstr(out, "Operation not permitted")) {
        print_message("skipped: ptrace is not permitted here\n");
        skip();
        return;
    }
    assert_non_null(strstr(out, "bt_leaf"));
    assert_non_null(strstr(out, "bt_entry"));
    assert_non_null(strstr(out, "rt_trampoline"));
    assert_null(strstr(out, "corrupt stack"));
    assert_null(strstr(out, "Backtrace stopped"));
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--gdb-target") == 0) {
        gdb_target();
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_round_robin),
        cmocka_unit_test(test_spawn_does_not_preempt),
        cmocka_unit_test(test_fifo_with_tiny_batch),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_spawn_without_scheduler),
        cmocka_unit_test(test_sleep_order_and_duration),
        cmocka_unit_test(test_sleep_ignores_stray_ready),
        cmocka_unit_test(test_wait_group),
        cmocka_unit_test(test_wait_group_many_waiters),
        cmocka_unit_test(test_park_ready_and_deadline),
        cmocka_unit_test(test_ready_next_hands_off),
        cmocka_unit_test(test_lazy_timer_entries),
        cmocka_unit_test(test_timers_due_together_wake_in_deadline_order),
        cmocka_unit_test(test_poll_hook_wakes_parked),
        cmocka_unit_test(test_idle_policies),
        cmocka_unit_test(test_stop_and_resume),
        cmocka_unit_test(test_deadlock_and_leak_report),
        cmocka_unit_test(test_fp_control_state_saved),
        cmocka_unit_test(test_mxcsr_after_a_dirty_finish),
        cmocka_unit_test(test_usage_busy_and_idle),
        cmocka_unit_test(test_usage_of_a_poll_loop),
        cmocka_unit_test(test_yield_pass_runs_the_woken_first),
        cmocka_unit_test(test_yield_pass_without_hooks),
        cmocka_unit_test(test_backtrace_in_coroutine),
        cmocka_unit_test(test_gdb_backtrace),
    };
    return cmocka_run_group_tests_name("rt_co", tests, NULL, NULL);
}
