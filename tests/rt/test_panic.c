/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/rt: defer, exit, panic, supervisors and the registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "co.h"
#include "testutil.h"

struct log {
    char ev[64];
    int n;
};

struct deferred {
    struct log *log;
    char tag;
};

static void note(void *arg)
{
    struct deferred *d = arg;
    d->log->ev[d->log->n++] = d->tag;
}

enum ending { END_RETURN, END_EXIT, END_PANIC };

struct ender {
    struct log log;
    struct deferred d[3];
    enum ending how;
    bool after;
};

static void ender(void *arg)
{
    struct ender *e = arg;
    for (int i = 0; i < 3; i++) {
        e->d[i] = (struct deferred){&e->log, (char)('a' + i)};
        assert_int_equal(co_defer(note, &e->d[i]), 0);
    }
    co_yield();
    if (e->how == END_EXIT)
        co_exit();
    if (e->how == END_PANIC)
        co_panic("ender %d gave up", 7);
    if (e->how != END_RETURN)
        e->after = true; /* unreachable */
}

static void test_defers_run_lifo_on_every_ending(void **state)
{
    (void)state;
    for (int how = END_RETURN; how <= END_PANIC; how++) {
        for (int small = 0; small < 2; small++) {
            co_sched_t *s = co_sched_new(NULL);
            co_wg_t wg;
            co_wg_init(&wg);
            struct ender e = {.how = (enum ending)how};
            co_spawn(
                ender, &e,
                &(co_opts_t){.name = "ender", .wg = &wg, .stack_size = small ? CO_STACK_SMALL : 0});
            assert_int_equal(co_sched_run(s), 0);
            assert_int_equal(e.log.n, 3);
            assert_memory_equal(e.log.ev, "cba", 3);
            assert_false(e.after);
            assert_int_equal(wg.panicked, how == END_PANIC ? 1u : 0u);
            assert_int_equal(co_sched_free(s, stderr), 0);
        }
    }
}

/* ---- a panic is recorded, isolated and reported to the waiter ---------------------------- */

struct counter {
    int ticks;
    bool stop;
};

static void bystander(void *arg)
{
    struct counter *c = arg;
    while (!c->stop) {
        c->ticks++;
        co_yield();
    }
}

static void panicker(void *arg)
{
    struct counter *c = arg;
    while (c->ticks < 10)
        co_yield();
    co_panic("bad sequence %u", 42u);
}

static void waiter_root(void *arg)
{
    struct counter *c = arg;
    co_wg_t wg;
    co_wg_init(&wg);
    co_spawn(panicker, c, &(co_opts_t){.name = "feed-7", .kind = "arbiter", .wg = &wg});
    assert_int_equal(co_wg_wait(&wg, CO_BACKGROUND), 0);
    assert_int_equal(wg.panicked, 1);
    int seen = c->ticks;
    co_yield();
    co_yield();
    assert_true(c->ticks > seen); /* the bystander never noticed */
    c->stop = true;
}

static void test_panic_isolated_and_recorded(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct counter c = {0};
    co_spawn(bystander, &c, &(co_opts_t){.name = "bystander"});
    co_spawn(waiter_root, &c, NULL);
    assert_int_equal(co_sched_run(s), 0);

    co_panic_rec_t recs[CO_PANIC_LOG];
    assert_int_equal(co_panics_recent(s, recs, CO_PANIC_LOG), 1);
    assert_string_equal(recs[0].name, "feed-7");
    assert_string_equal(recs[0].msg, "bad sequence 42");
    assert_true(recs[0].co_id > 0);

    co_kind_stats_t k[CO_KINDS_MAX];
    size_t nk = co_registry_kinds(s, k, CO_KINDS_MAX);
    bool found = false;
    for (size_t i = 0; i < nk; i++) {
        if (strcmp(k[i].kind, "arbiter") == 0) {
            assert_int_equal(k[i].created, 1);
            assert_int_equal(k[i].finished, 1);
            assert_int_equal(k[i].panicked, 1);
            assert_int_equal(k[i].live, 0);
            found = true;
        }
    }
    assert_true(found);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* A panic inside a deferred cleanup: the remaining cleanups still run. */
static void panics_in_defer(void *arg)
{
    (void)arg;
    co_panic("second");
}

static void double_panicker(void *arg)
{
    struct ender *e = arg;
    e->d[0] = (struct deferred){&e->log, 'a'};
    co_defer(note, &e->d[0]);
    co_defer(panics_in_defer, NULL);
    co_panic("first");
}

static void test_panic_in_defer(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    co_wg_t wg;
    co_wg_init(&wg);
    struct ender e = {0};
    co_spawn(double_panicker, &e, &(co_opts_t){.wg = &wg});
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(e.log.n, 1);
    assert_int_equal(wg.panicked, 1);
    co_panic_rec_t recs[2];
    assert_int_equal(co_panics_recent(s, recs, 2), 2);
    assert_string_equal(recs[0].msg, "second");
    assert_string_equal(recs[1].msg, "first");
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- supervisors --------------------------------------------------------------------------- */

struct flaky {
    int runs;
    int fail_first; /* panic on the first N runs */
    co_ctx_t *ctx;
    co_supervisor_t *sv;    /* if set: the backoff each run was started after */
    uint64_t backoff[8];    /* ... in backoff[run - 1] */
    uint64_t backoff_total; /* ... and the total at the last run */
};

static void flaky(void *arg)
{
    struct flaky *f = arg;
    if (f->sv && f->runs < 8) {
        f->backoff[f->runs] = f->sv->backoff_ns;
        f->backoff_total = f->sv->backoff_total_ns;
    }
    f->runs++;
    if (f->runs <= f->fail_first)
        co_panic("flaky run %d", f->runs);
}

static void test_supervisor_restarts_until_clean(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    co_supervisor_t sv;
    struct flaky f = {.fail_first = 3, .sv = &sv};
    co_wg_t wg;
    co_wg_init(&wg);
    co_supervisor_opts_t o = {.fn = flaky,
                              .arg = &f,
                              .child = {.name = "feed-3"},
                              .backoff_min_ns = 100000,
                              .backoff_max_ns = 400000};
    assert_int_equal(co_supervise(&sv, &o, &wg), 0);
    uint64_t t0 = co_now_ns();
    assert_int_equal(co_sched_run(s), 0);
    uint64_t took = co_now_ns() - t0;
    assert_int_equal(f.runs, 4);
    assert_int_equal(sv.panics, 3);
    assert_int_equal(sv.restarts, 3);
    assert_int_equal(sv.state, CO_SV_DONE);
    assert_string_equal(sv.last_panic, "flaky run 3");
    assert_int_equal(wg.count, 0);
    /* Backoff 0.1 + 0.2 + 0.4 ms, doubling and capped, and recorded. */
    assert_true(took >= 700000);
    assert_int_equal(f.backoff[0], 0);
    assert_int_equal(f.backoff[1], 100000);
    uint64_t sum = f.backoff[1];
    for (unsigned k = 2; k <= 3; k++) {
        /* doubled, capped; or back to the minimum if the machine held the child up for
           longer than the maximum (a child that outlives it earns a fresh start) */
        uint64_t doubled = f.backoff[k - 1] * 2 > 400000 ? 400000 : f.backoff[k - 1] * 2;
        assert_true(f.backoff[k] == doubled || f.backoff[k] == 100000);
        sum += f.backoff[k];
    }
    assert_int_equal(f.backoff_total, sum);
    assert_int_equal(sv.backoff_total_ns, sum);
    co_kind_stats_t k[CO_KINDS_MAX];
    size_t nk = co_registry_kinds(s, k, CO_KINDS_MAX);
    for (size_t i = 0; i < nk; i++)
        if (strcmp(k[i].kind, "supervisor") == 0)
            assert_int_equal(k[i].finished, 1);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

static void test_supervisor_budget(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct flaky f = {.fail_first = 1000};
    co_supervisor_t sv;
    co_supervisor_opts_t o = {.fn = flaky,
                              .arg = &f,
                              .child = {.name = "hopeless"},
                              .backoff_min_ns = 10000,
                              .backoff_max_ns = 10000,
                              .budget = 4,
                              .window_ns = 60000000000ull};
    assert_int_equal(co_supervise(&sv, &o, NULL), 0);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(sv.state, CO_SV_GAVE_UP);
    assert_int_equal(sv.restarts, 4);
    assert_int_equal(f.runs, 5);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* CO_RESTART_ALWAYS keeps restarting clean exits until the context is cancelled. */
static void clean_child(void *arg)
{
    struct flaky *f = arg;
    f->runs++;
    if (f->runs == 5)
        co_ctx_cancel(f->ctx);
}

static void test_supervisor_always_until_cancel(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct flaky f = {.ctx = co_ctx_with_cancel(CO_BACKGROUND)};
    co_supervisor_t sv;
    co_supervisor_opts_t o = {.fn = clean_child,
                              .arg = &f,
                              .child = {.name = "loop", .ctx = f.ctx},
                              .policy = CO_RESTART_ALWAYS,
                              .backoff_min_ns = 1000,
                              .budget = 32};
    assert_int_equal(co_supervise(&sv, &o, NULL), 0);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(f.runs, 5);
    assert_int_equal(sv.state, CO_SV_DONE);
    assert_int_equal(sv.panics, 0);
    assert_int_equal(co_sched_free(s, stderr), 0);
    co_ctx_free(f.ctx);
}

static void test_supervise_rejects_bad_options(void **state)
{
    (void)state;
    co_supervisor_t sv;
    co_supervisor_opts_t o = {0};
    co_sched_t *s = co_sched_new(NULL);
    assert_int_equal(co_supervise(&sv, &o, NULL), EINVAL);
    co_wg_t wg;
    o = (co_supervisor_opts_t){.fn = flaky, .child = {.wg = &wg}};
    assert_int_equal(co_supervise(&sv, &o, NULL), EINVAL);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- registry across threads ------------------------------------------------------------ */

static void short_lived(void *arg)
{
    (void)arg;
    co_yield();
}

static void *spawn_kinds(void *arg)
{
    (void)arg;
    co_sched_t *s = co_sched_new(NULL);
    for (int i = 0; i < 100; i++)
        co_spawn(short_lived, NULL, &(co_opts_t){.kind = i % 2 ? "rx" : "tx"});
    co_sched_run(s);
    co_kind_stats_t k[CO_KINDS_MAX];
    co_registry_snapshot(k, CO_KINDS_MAX); /* racing the other thread: TSan checks it */
    co_sched_free(s, stderr);
    return NULL;
}

static void list_one(const co_info_t *info, void *arg)
{
    int *n = arg;
    if (strcmp(info->name, "lister") == 0) {
        assert_string_equal(info->state, "running");
    } else {
        assert_string_equal(info->state, "parked");
        assert_string_equal(info->wait, "sleep");
    }
    (*n)++;
}

static void lister(void *arg)
{
    (void)arg;
    int n = 0;
    co_yield(); /* let the sleeper park */
    co_registry_foreach(co_sched_self(), list_one, &n);
    assert_int_equal(n, 2);
}

static void nap(void *arg)
{
    (void)arg;
    co_sleep(1000000, CO_BACKGROUND);
}

static void test_registry(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    co_spawn(nap, NULL, &(co_opts_t){.name = "napper", .kind = "rx"});
    co_spawn(lister, NULL, &(co_opts_t){.name = "lister", .kind = "tx"});
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, spawn_kinds, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    co_kind_stats_t k[CO_KINDS_MAX];
    size_t nk = co_registry_snapshot(k, CO_KINDS_MAX);
    uint64_t rx_live = 0, rx_created = 0;
    for (size_t i = 0; i < nk; i++) {
        if (strcmp(k[i].kind, "rx") == 0) {
            rx_live = k[i].live;
            rx_created = k[i].created;
        }
    }
    /* The two threads' schedulers are gone; only ours remains, with one live "rx". */
    assert_int_equal(rx_created, 1);
    assert_int_equal(rx_live, 1);
    assert_int_equal(co_sched_run(s), 0);
    nk = co_registry_snapshot(k, CO_KINDS_MAX);
    for (size_t i = 0; i < nk; i++)
        assert_int_equal(k[i].live, 0);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- death tests ------------------------------------------------------------------------ */

static void unobserved(void *arg)
{
    (void)arg;
    co_panic("nobody is watching %s", "me");
}

static void unrecovered_child(void *arg)
{
    co_sched_t *s = co_sched_new(NULL);
    co_spawn(unobserved, NULL,
             &(co_opts_t){.name = "orphan", .stack_size = arg ? CO_STACK_SMALL : 0});
    co_sched_run(s);
}

static void test_unrecovered_panic_aborts(void **state)
{
    (void)state;
    for (int small = 0; small < 2; small++) {
        char err[8192];
        int sig = 0;
        tu_run_child(unrecovered_child, small ? (void *)1 : NULL, err, sizeof(err), &sig);
        assert_int_equal(sig, SIGABRT);
        assert_non_null(strstr(err, "panic in coroutine 'orphan'"));
        assert_non_null(strstr(err, "nobody is watching me"));
        assert_non_null(strstr(err, "unrecovered panic"));
    }
}

static void panic_outside_child(void *arg)
{
    (void)arg;
    co_panic("from the thread");
}

static void free_parent_first_child(void *arg)
{
    (void)arg;
    co_ctx_t *parent = co_ctx_with_cancel(CO_BACKGROUND);
    co_ctx_with_cancel(parent);
    co_ctx_free(parent);
}

static void test_misuse_is_fatal_and_explained(void **state)
{
    (void)state;
    char err[4096];
    int sig = 0;
    tu_run_child(panic_outside_child, NULL, err, sizeof(err), &sig);
    assert_int_equal(sig, SIGABRT);
    assert_non_null(strstr(err, "panic outside a coroutine: from the thread"));
    tu_run_child(free_parent_first_child, NULL, err, sizeof(err), &sig);
    assert_int_equal(sig, SIGABRT);
    assert_non_null(strstr(err, "still has 1 derived context"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defers_run_lifo_on_every_ending),
        cmocka_unit_test(test_panic_isolated_and_recorded),
        cmocka_unit_test(test_panic_in_defer),
        cmocka_unit_test(test_supervisor_restarts_until_clean),
        cmocka_unit_test(test_supervisor_budget),
        cmocka_unit_test(test_supervisor_always_until_cancel),
        cmocka_unit_test(test_supervise_rejects_bad_options),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_unrecovered_panic_aborts),
        cmocka_unit_test(test_misuse_is_fatal_and_explained),
    };
    return cmocka_run_group_tests_name("rt_panic", tests, NULL, NULL);
}
