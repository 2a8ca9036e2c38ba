/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/pool: the elastic worker pool follows a load step up and down; fan-out and
 * fan-in move every item. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "pool.h"
#include "testutil.h"

/* ---- elastic worker pool ---------------------------------------------------------- */

struct load {
    pool_workers_t *w;
    unsigned min, max;
    uint64_t handled, items;
    unsigned below_min, above_max; /* bound violations seen by the monitor */
    unsigned peak_loaded;          /* worker count seen while the backlog lasted */
    unsigned after_idle;           /* worker count after the idle period */
    bool done;
};

static void slow_handler(void *item, void *arg)
{
    struct load *l = arg;
    (void)item;
    co_sleep(200000, NULL); /* 0.2 ms of blocking work per item */
    l->handled++;
}

static void monitor(void *arg)
{
    struct load *l = arg;
    while (!l->done) {
        unsigned n = pool_workers_count(l->w);
        l->below_min += n < l->min;
        l->above_max += n > l->max;
        co_sleep(100000, NULL);
    }
}

static void load_step(void *arg)
{
    struct load *l = arg;
    /* Step up: far more work than min workers can do, queued as fast as it goes. */
    for (uint64_t i = 0; i < l->items; i++)
        assert_int_equal(pool_workers_submit(l->w, (void *)(uintptr_t)(i + 1), NULL), 0);
    while (l->handled < l->items) {
        unsigned n = pool_workers_count(l->w);
        if (n > l->peak_loaded)
            l->peak_loaded = n;
        co_sleep(100000, NULL);
    }
    /* Step down: idle until the pool has shrunk back (bounded wait). */
    for (int i = 0; i < 400 && pool_workers_count(l->w) > l->min; i++)
        co_sleep(1000000, NULL);
    l->after_idle = pool_workers_count(l->w);
    l->done = true;
    assert_int_equal(pool_workers_close(l->w, NULL), 0);
}

static void test_workers_follow_load_step(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct load l = {.min = 2, .max = 12, .items = 1500};
    l.w = pool_workers_new(&(pool_workers_opts_t){.fn = slow_handler,
                                                  .arg = &l,
                                                  .min = l.min,
                                                  .max = l.max,
                                                  .queue = 256,
                                                  .sample_ns = 5000,
                                                  .up_delay_ns = 50000,
                                                  .up_samples = 2,
                                                  .down_samples = 200});
    assert_non_null(l.w);
    assert_int_equal(pool_workers_count(l.w), 2);
    co_spawn(load_step, &l, NULL);
    co_spawn(monitor, &l, NULL);
    assert_int_equal(co_sched_run(s), 0);
    print_message("workers: min %u, peak under load %u (pool peak %u), after idle %u\n", l.min,
                  l.peak_loaded, l.max, l.after_idle);
    assert_int_equal(l.handled, l.items);
    assert_int_equal(l.peak_loaded, l.max); /* scaled all the way up under the backlog */
    assert_int_equal(l.after_idle, l.min);  /* and back down when idle */
    assert_int_equal(l.below_min, 0);
    assert_int_equal(l.above_max, 0);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* A light load never needs more than the minimum. */
static void quick_handler(void *item, void *arg)
{
    (void)item;
    (*(uint64_t *)arg)++;
}

static void light_load(void *arg)
{
    pool_workers_t *w = *(pool_workers_t **)arg;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(pool_workers_submit(w, NULL, NULL), 0);
        co_sleep(50000, NULL); /* one item per 50 us, handled at once */
    }
    assert_int_equal(pool_workers_peak(w), 3);
    assert_int_equal(pool_workers_close(w, NULL), 0);
}

static void test_light_load_stays_at_min(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    uint64_t handled = 0;
    static pool_workers_t *w;
    w = pool_workers_new(
        &(pool_workers_opts_t){.fn = quick_handler, .arg = &handled, .min = 3, .max = 8});
    co_spawn(light_load, &w, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(handled, 200);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

static void test_workers_bad_options(void **state)
{
    (void)state;
    assert_null(pool_workers_new(&(pool_workers_opts_t){.fn = quick_handler})); /* no scheduler */
    co_sched_t *s = co_sched_new(NULL);
    assert_null(pool_workers_new(&(pool_workers_opts_t){.fn = NULL}));
    assert_null(pool_workers_new(&(pool_workers_opts_t){.fn = quick_handler, .min = 5, .max = 2}));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- fan-out and fan-in ------------------------------------------------------------- */

struct tally {
    uint64_t sum, count;
};

static void add_item(void *item, void *arg)
{
    struct tally *t = arg;
    co_yield(); /* interleave the workers */
    t->sum += (uintptr_t)item;
    t->count++;
}

static void fan_out_root(void *arg)
{
    struct tally *t = arg;
    ch_t *in = ch_new(sizeof(void *), 4);
    co_wg_t wg;
    co_wg_init(&wg);
    assert_int_equal(pool_fanout(in, 4, add_item, t, NULL, &wg), 0);
    assert_int_equal(wg.count, 4);
    for (uintptr_t i = 1; i <= 1000; i++)
        assert_int_equal(ch_send_ptr(in, (void *)i, NULL), 0);
    ch_close(in);
    assert_int_equal(co_wg_wait(&wg, NULL), 0);
    ch_free(in);
}

static void test_fanout(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct tally t = {0};
    co_spawn(fan_out_root, &t, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(t.count, 1000);
    assert_int_equal(t.sum, 1000 * 1001 / 2);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

struct fan_in_case {
    ch_t *ins[3];
    ch_t *out;
    uint64_t next[3];
    uint64_t received;
    bool ordered;
};

struct fan_in_src {
    ch_t *c;
    uint64_t id;
};

static void fan_in_producer(void *arg)
{
    struct fan_in_src *src = arg;
    for (uint64_t i = 1; i <= 300; i++) {
        uint64_t v = src->id << 32 | i;
        assert_int_equal(ch_send(src->c, &v, NULL), 0);
        if (i % 7 == 0)
            co_yield();
    }
    ch_close(src->c);
}

static void fan_in_consumer(void *arg)
{
    struct fan_in_case *f = arg;
    uint64_t v;
    f->ordered = true;
    while (ch_recv(f->out, &v, NULL) == 0) {
        uint64_t id = v >> 32;
        f->ordered &= (v & 0xffffffffu) == ++f->next[id]; /* each input's order kept */
        f->received++;
    }
}

static void test_fanin(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct fan_in_case f = {.out = ch_new(sizeof(uint64_t), 2)};
    struct fan_in_src src[3];
    for (int i = 0; i < 3; i++) {
        f.ins[i] = ch_new(sizeof(uint64_t), (size_t)i); /* unbuffered, 1 and 2 */
        src[i] = (struct fan_in_src){.c = f.ins[i], .id = (uint64_t)i};
        co_spawn(fan_in_producer, &src[i], NULL);
    }
    co_wg_t wg;
    co_wg_init(&wg);
    assert_int_equal(pool_fanin(f.ins, 3, f.out, NULL, &wg), 0);
    co_spawn(fan_in_consumer, &f, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(f.received, 900);
    assert_true(f.ordered);
    assert_true(ch_closed(f.out)); /* closed once every input was */
    assert_int_equal(wg.count, 0);
    for (int i = 0; i < 3; i++)
        ch_free(f.ins[i]);
    ch_free(f.out);
    ch_t *bad = ch_new(4, 1);
    assert_int_equal(pool_fanin(f.ins, 0, bad, NULL, NULL), EINVAL);
    ch_free(bad);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workers_follow_load_step),
        cmocka_unit_test(test_light_load_stays_at_min),
        cmocka_unit_test(test_workers_bad_options),
        cmocka_unit_test(test_fanout),
        cmocka_unit_test(test_fanin),
    };
    return cmocka_run_group_tests_name("pool_workers", tests, NULL, NULL);
}
