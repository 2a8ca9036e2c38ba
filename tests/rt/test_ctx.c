/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/rt: cancellation contexts — tree, deadlines, every blocking call, cross-thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "co.h"
#include "testutil.h"

static void test_tree_cancel(void **state)
{
    (void)state;
    co_ctx_t *root = co_ctx_with_cancel(CO_BACKGROUND);
    co_ctx_t *a = co_ctx_with_cancel(root);
    co_ctx_t *b = co_ctx_with_cancel(root);
    co_ctx_t *a1 = co_ctx_with_cancel(a);
    assert_int_equal(co_ctx_err(CO_BACKGROUND), 0);
    assert_int_equal(co_ctx_err(a1), 0);

    co_ctx_cancel(a); /* a subtree */
    assert_int_equal(co_ctx_err(a), ECANCELED);
    assert_int_equal(co_ctx_err(a1), ECANCELED);
    assert_int_equal(co_ctx_err(root), 0);
    assert_int_equal(co_ctx_err(b), 0);

    co_ctx_cancel(root); /* everything */
    co_ctx_cancel(root); /* idempotent */
    assert_int_equal(co_ctx_err(b), ECANCELED);
    assert_int_equal(co_ctx_err(root), ECANCELED);

    co_ctx_free(a1);
    co_ctx_free(a);
    co_ctx_free(b);
    co_ctx_free(root);
    co_ctx_cancel(CO_BACKGROUND); /* a no-op */
}

/*
 * Regression (found by rt_property once the machine had been up for ~2 h): with
 * 32-bit fractions, converting an absolute deadline to ticks and back lost
 * microseconds, so deadlines fired early. Round trips must not come back early, and
 * must stay within a few ns, even after a year of uptime.
 */
static void test_clock_conversions_exact(void **state)
{
    (void)state;
    uint64_t hz = co_tsc_hz();
    for (uint64_t ns = 1; ns < 40000000000000000ull; ns = ns * 7 + 12345) {
        uint64_t back = co_tsc_to_ns(co_ns_to_tsc(ns));
        assert_true(back >= ns);
        assert_true(back - ns <= 2 + 2000000000ull / hz); /* a tick or two */
    }
    assert_in_range(co_tsc_to_ns(hz), 999999999ull, 1000000000ull); /* a second, to 1 ns */
    /* The inline conversion against the exact quotient ticks * 10^9 / hz: the fraction
       is rounded down to 2^-64, so it may land one below, never above, never further. */
    for (uint64_t t = 1; t < (UINT64_MAX >> 8); t = t * 3 + 987654321) {
        uint64_t exact = (uint64_t)((unsigned __int128)t * 1000000000u / hz);
        uint64_t got = co_tsc_to_ns(t);
        assert_true(got == exact || got + 1 == exact);
    }
}

static void test_deadlines(void **state)
{
    (void)state;
    assert_int_equal(co_ctx_deadline(CO_BACKGROUND), UINT64_MAX);
    co_ctx_t *parent = co_ctx_with_timeout(CO_BACKGROUND, 2000000);
    co_ctx_t *later = co_ctx_with_timeout(parent, 60000000000ull);
    co_ctx_t *sooner = co_ctx_with_deadline(parent, co_now_ns() + 1000);
    co_ctx_t *plain = co_ctx_with_cancel(parent);
    /* A child's deadline is the earlier of its own and its parent's. */
    assert_int_equal(co_ctx_deadline(later), co_ctx_deadline(parent));
    assert_int_equal(co_ctx_deadline(plain), co_ctx_deadline(parent));
    assert_true(co_ctx_deadline(sooner) < co_ctx_deadline(parent));
    while (co_ctx_err(sooner) == 0)
        ;
    assert_int_equal(co_ctx_err(sooner), ETIMEDOUT);
    assert_int_equal(co_ctx_err(parent), 0);
    while (co_ctx_err(parent) == 0)
        ;
    assert_int_equal(co_ctx_err(later), ETIMEDOUT);
    assert_int_equal(co_ctx_err(plain), ETIMEDOUT);
    /* The first reason observed sticks. */
    co_ctx_cancel(plain);
    assert_int_equal(co_ctx_err(plain), ETIMEDOUT);
    co_ctx_free(plain);
    co_ctx_free(sooner);
    co_ctx_free(later);
    co_ctx_free(parent);
}

/* ---- every blocking call observes its context -------------------------------------- */

struct blocked {
    co_ctx_t *ctx;
    co_wg_t gate;
    int sleep_rc, wait_rc, park_rc;
    int done;
};

static void sleep_blocked(void *arg)
{
    struct blocked *b = arg;
    b->sleep_rc = co_sleep(60000000000ull, b->ctx);
    b->done++;
}

static void wait_blocked(void *arg)
{
    struct blocked *b = arg;
    b->wait_rc = co_wg_wait(&b->gate, b->ctx);
    b->done++;
}

static void park_blocked(void *arg)
{
    struct blocked *b = arg;
    b->park_rc = co_park(b->ctx, UINT64_MAX, "test", b);
    b->done++;
}

static void canceller(void *arg)
{
    struct blocked *b = arg;
    co_sleep(1000000, CO_BACKGROUND);
    assert_int_equal(b->done, 0);
    co_ctx_cancel(b->ctx);
}

static void run_blocked(struct blocked *b, bool with_canceller)
{
    co_sched_t *s = co_sched_new(NULL);
    co_wg_init(&b->gate);
    co_wg_add(&b->gate, 1);
    co_spawn(sleep_blocked, b, NULL);
    co_spawn(wait_blocked, b, NULL);
    co_spawn(park_blocked, b, NULL);
    if (with_canceller)
        co_spawn(canceller, b, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(b->done, 3);
    assert_null(b->gate.waiters); /* a cancelled waiter leaves the group's list */
    assert_int_equal(co_sched_free(s, stderr), 0);
}

static void test_cancel_wakes_every_blocking_call(void **state)
{
    (void)state;
    struct blocked b = {.ctx = co_ctx_with_cancel(CO_BACKGROUND)};
    run_blocked(&b, true);
    assert_int_equal(b.sleep_rc, ECANCELED);
    assert_int_equal(b.wait_rc, ECANCELED);
    assert_int_equal(b.park_rc, ECANCELED);
    co_ctx_free(b.ctx);
}

static void test_parent_cancel_wakes_child_ctx_waiters(void **state)
{
    (void)state;
    co_ctx_t *parent = co_ctx_with_cancel(CO_BACKGROUND);
    struct blocked b = {.ctx = co_ctx_with_cancel(parent)};
    co_sched_t *s = co_sched_new(NULL);
    co_wg_init(&b.gate);
    co_wg_add(&b.gate, 1);
    co_spawn(sleep_blocked, &b, NULL);
    co_spawn(wait_blocked, &b, NULL);
    co_spawn(park_blocked, &b, NULL);
    struct blocked pb = {.ctx = parent};
    co_spawn(canceller, &pb, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(b.sleep_rc, ECANCELED);
    assert_int_equal(b.wait_rc, ECANCELED);
    assert_int_equal(b.park_rc, ECANCELED);
    assert_int_equal(co_sched_free(s, stderr), 0);
    co_ctx_free(b.ctx);
    co_ctx_free(parent);
}

static void test_deadline_wakes_every_blocking_call(void **state)
{
    (void)state;
    struct blocked b = {.ctx = co_ctx_with_timeout(CO_BACKGROUND, 2000000)};
    uint64_t t0 = co_now_ns();
    run_blocked(&b, false);
    assert_true(co_now_ns() - t0 >= 2000000);
    assert_int_equal(b.sleep_rc, ETIMEDOUT);
    assert_int_equal(b.wait_rc, ETIMEDOUT);
    assert_int_equal(b.park_rc, ETIMEDOUT);
    co_ctx_free(b.ctx);
}

static void test_already_cancelled_returns_at_once(void **state)
{
    (void)state;
    struct blocked b = {.ctx = co_ctx_with_cancel(CO_BACKGROUND)};
    co_ctx_cancel(b.ctx);
    run_blocked(&b, false);
    assert_int_equal(b.sleep_rc, ECANCELED);
    assert_int_equal(b.wait_rc, ECANCELED);
    assert_int_equal(b.park_rc, ECANCELED);
    co_ctx_free(b.ctx);
}

/* A sleep shorter than the context's deadline completes normally. */
static void short_sleep(void *arg)
{
    co_ctx_t *ctx = arg;
    assert_int_equal(co_sleep(1000000, ctx), 0);
    assert_int_equal(co_ctx_err(ctx), 0);
}

static void test_short_sleep_under_deadline(void **state)
{
    (void)state;
    co_ctx_t *ctx = co_ctx_with_timeout(CO_BACKGROUND, 60000000000ull);
    co_sched_t *s = co_sched_new(NULL);
    co_spawn(short_sleep, ctx, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(co_sched_free(s, stderr), 0);
    co_ctx_free(ctx);
}

/*
 * Regression (found by rt_property, seed 274): a sleep whose own timer fired must
 * report a full sleep even if its context is cancelled before it resumes.
 */
struct late_cancel {
    co_ctx_t *ctx;
    int rc;
};

static void early_riser(void *arg)
{
    struct late_cancel *lc = arg;
    co_sleep(1000000, CO_BACKGROUND); /* fires first, in the same pass */
    co_ctx_cancel(lc->ctx);           /* ...and runs before the late sleeper resumes */
}

static void late_sleeper(void *arg)
{
    struct late_cancel *lc = arg;
    lc->rc = co_sleep(1100000, lc->ctx);
}

static void hog(void *arg)
{
    (void)arg;
    uint64_t until = co_now_ns() + 3000000; /* no yield: both timers expire meanwhile */
    while (co_now_ns() < until)
        ;
}

static void test_cancel_after_sleep_completed(void **state)
{
    (void)state;
    struct late_cancel lc = {.ctx = co_ctx_with_cancel(CO_BACKGROUND), .rc = -1};
    co_sched_t *s = co_sched_new(NULL);
    co_spawn(early_riser, &lc, NULL);
    co_spawn(late_sleeper, &lc, NULL);
    co_spawn(hog, NULL, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(lc.rc, 0);
    assert_int_equal(co_ctx_err(lc.ctx), ECANCELED);
    assert_int_equal(co_sched_free(s, stderr), 0);
    co_ctx_free(lc.ctx);
}

/* ---- cancellation from another thread, no system call on the waiting side ------------ */

struct xthread {
    co_ctx_t *root;
    _Atomic int parked;
    int rcs[8];
};

static void xthread_waiter(void *arg)
{
    struct xthread *x = arg;
    co_ctx_t *mine = co_ctx_with_cancel(x->root); /* derived on this thread */
    co_wg_t never;
    co_wg_init(&never);
    co_wg_add(&never, 1);
    atomic_fetch_add(&x->parked, 1);
    int slot = atomic_load(&x->parked) - 1;
    x->rcs[slot] = co_wg_wait(&never, mine);
    co_ctx_free(mine);
}

static void *xthread_main(void *arg)
{
    struct xthread *x = arg;
    co_sched_t *s = co_sched_new(&(co_sched_opts_t){.name = "remote", .idle = CO_IDLE_PAUSE});
    for (int i = 0; i < 4; i++)
        co_spawn(xthread_waiter, x, &(co_opts_t){.stack_size = i % 2 ? CO_STACK_SMALL : 0});
    int rc = co_sched_run(s);
    size_t leaks = co_sched_free(s, stderr);
    return (void *)(intptr_t)(rc == 0 && leaks == 0);
}

static void test_cancel_across_threads(void **state)
{
    (void)state;
    struct xthread x = {.root = co_ctx_with_cancel(CO_BACKGROUND)};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, xthread_main, &x), 0);
    while (atomic_load(&x.parked) < 4)
        sched_yield();
    co_ctx_cancel(x.root);
    void *ok;
    pthread_join(t, &ok);
    assert_true((intptr_t)ok);
    for (int i = 0; i < 4; i++)
        assert_int_equal(x.rcs[i], ECANCELED);
    co_ctx_free(x.root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_cancel),
        cmocka_unit_test(test_clock_conversions_exact),
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_cancel_wakes_every_blocking_call),
        cmocka_unit_test(test_parent_cancel_wakes_child_ctx_waiters),
        cmocka_unit_test(test_deadline_wakes_every_blocking_call),
        cmocka_unit_test(test_already_cancelled_returns_at_once),
        cmocka_unit_test(test_short_sleep_under_deadline),
        cmocka_unit_test(test_cancel_after_sleep_completed),
        cmocka_unit_test(test_cancel_across_threads),
    };
    return cmocka_run_group_tests_name("rt_ctx", tests, NULL, NULL);
}
