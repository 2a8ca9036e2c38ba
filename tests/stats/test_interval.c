/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/stats intervals: the swap protocol single-threaded (exact hand-offs) and under a
 * writer thread (every value in exactly one interval, intervals end on batch
 * boundaries, the sum of the intervals equals a reference). Run in the TSan tree too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "stats.h"
#include "testutil.h"

#define LO  1
#define HI  10000000
#define SIG 3

static void test_single_thread_handoff(void **state)
{
    (void)state;
    stats_hist_t *a = stats_hist_create(LO, HI, SIG), *b = stats_hist_create(LO, HI, SIG);
    stats_hist_t *other = stats_hist_create(LO, HI, 2);
    assert_true(a && b && other);
    stats_interval_t iv;
    assert_int_equal(stats_interval_init(&iv, a, other), -EINVAL);
    assert_int_equal(stats_interval_init(&iv, a, a), -EINVAL);
    assert_int_equal(stats_interval_init(&iv, a, NULL), -EINVAL);
    assert_int_equal(stats_interval_init(&iv, a, b), 0);
    assert_null(stats_interval_poll(&iv)); /* nothing asked */

    stats_hist_record(stats_interval_writer(&iv), 10);
    assert_int_equal(stats_interval_request(&iv), 0);
    assert_int_equal(stats_interval_request(&iv), -EBUSY);
    assert_null(stats_interval_poll(&iv));        /* writer has not come back yet */
    stats_hist_t *w = stats_interval_writer(&iv); /* batch boundary: swap */
    stats_hist_record(w, 20);
    stats_hist_t *got = stats_interval_poll(&iv);
    assert_non_null(got);
    assert_ptr_not_equal(got, w);
    assert_int_equal(stats_hist_count(got), 1);
    assert_int_equal(stats_hist_max(got), 10);
    assert_null(stats_interval_poll(&iv)); /* handed out once */

    /* Next interval: the writer's batch of 20 (and one more). */
    stats_hist_record(stats_interval_writer(&iv), 30);
    assert_int_equal(stats_interval_request(&iv), 0);
    assert_int_equal(stats_hist_count(got), 0); /* the previous one was reset */
    stats_interval_writer(&iv);
    stats_hist_t *got2 = stats_interval_poll(&iv);
    assert_ptr_equal(got2, w);
    assert_int_equal(stats_hist_count(got2), 2);
    assert_int_equal(stats_hist_min(got2), 20);

    /* The blocking form merges into a running total; it times out on an idle writer. */
    stats_hist_t *total = stats_hist_create(LO, HI, SIG);
    assert_non_null(total);
    stats_hist_record(stats_interval_writer(&iv), 40);
    assert_null(stats_interval_swap(&iv, total, 1000000)); /* writer never came back */
    stats_interval_writer(&iv);
    assert_non_null(stats_interval_swap(&iv, total, 1000000));
    assert_int_equal(stats_hist_count(total), 1);
    assert_int_equal(stats_hist_max(total), 40);
    stats_hist_free(total);
    stats_hist_free(a);
    stats_hist_free(b);
    stats_hist_free(other);
}

/* ---- a writer thread ------------------------------------------------------------- */

#define BATCH 37

struct writer {
    stats_interval_t *iv;
    uint64_t n;        /* values to record */
    _Atomic bool stop; /* reader: the writer may leave its idle loop */
    _Atomic bool got;  /* reader: it has collected a non-empty interval */
    _Atomic uint64_t recorded;
};

static uint64_t value_of(uint64_t i)
{
    return (i * 2654435761u) % 5000000u + 1;
}

static void *writer_main(void *arg)
{
    struct writer *wr = arg;
    uint64_t i = 0;
    while (i < wr->n) {
        /* Half-way, until the reader has taken a non-empty interval: swaps then happen
           mid-stream however the two threads are scheduled (a loaded machine could
           otherwise run the whole stream before the reader's first swap). The writer
           keeps ticking meanwhile, so the swap completes. */
        while (i == wr->n / BATCH / 2 * BATCH &&
               !atomic_load_explicit(&wr->got, memory_order_acquire)) {
            stats_interval_writer(wr->iv);
            sched_yield();
        }
        stats_hist_t *h = stats_interval_writer(wr->iv);
        for (unsigned k = 0; k < BATCH && i < wr->n; k++, i++)
            stats_hist_record(h, value_of(i));
        atomic_store_explicit(&wr->recorded, i, memory_order_relaxed);
        if (i % (BATCH * 64) == 0)
            sched_yield(); /* let the reader in on a 2-core machine */
    }
    /* Idle loop: a writer keeps ticking so the reader can collect the last batch. */
    while (!atomic_load_explicit(&wr->stop, memory_order_relaxed)) {
        stats_interval_writer(wr->iv);
        sched_yield();
    }
    return NULL;
}

/* An interval's counters agree with its totals (exact, since the writer has left). */
static void check_interval(const stats_hist_t *h, uint64_t n_total)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < h->len; i++)
        sum += h->counts[i];
    assert_int_equal(sum, h->count);
    /* Ends on a batch boundary unless it holds the final short batch. */
    assert_true(h->count % BATCH == 0 || n_total % BATCH != 0);
    if (h->count) {
        assert_true(h->min >= 1 && h->max <= 5000000);
        assert_true(stats_hist_quantile(h, 0) == h->min);
    }
}

static void test_writer_thread(void **state)
{
    (void)state;
    uint64_t n = tu_env_u64("MDMUX_STATS_INTERVAL_N", 400000);
    stats_hist_t *a = stats_hist_create(LO, HI, SIG), *b = stats_hist_create(LO, HI, SIG);
    stats_hist_t *total = stats_hist_create(LO, HI, SIG), *ref = stats_hist_create(LO, HI, SIG);
    assert_true(a && b && total && ref);
    stats_interval_t iv;
    assert_int_equal(stats_interval_init(&iv, a, b), 0);
    struct writer wr = {.iv = &iv, .n = n};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, writer_main, &wr), 0);
    unsigned intervals = 0, nonempty = 0;
    while (stats_hist_count(total) < n) {
        stats_hist_t *h = stats_interval_swap(&iv, NULL, 5000000000ull);
        assert_non_null(h); /* the writer always comes back within a batch or a tick */
        check_interval(h, n);
        assert_int_equal(stats_hist_merge(total, h), 0);
        intervals++;
        nonempty += stats_hist_count(h) != 0;
        if (stats_hist_count(h) != 0)
            atomic_store_explicit(&wr.got, true, memory_order_release);
        assert_true(stats_hist_count(total) <=
                    atomic_load_explicit(&wr.recorded, memory_order_relaxed));
    }
    atomic_store_explicit(&wr.stop, true, memory_order_relaxed);
    assert_int_equal(pthread_join(t, NULL), 0);
    for (uint64_t i = 0; i < n; i++)
        stats_hist_record(ref, value_of(i));
    /* Every value in exactly one interval: the sum is the reference, bit for bit. */
    assert_int_equal(total->count, ref->count);
    assert_int_equal(total->total, ref->total);
    assert_int_equal(total->min, ref->min);
    assert_int_equal(total->max, ref->max);
    assert_memory_equal(total->counts, ref->counts, ref->len * sizeof(uint64_t));
    assert_true(nonempty >= 2); /* the swaps really happened mid-stream */
    print_message("stats_interval: %u intervals, %u non-empty, %llu values\n", intervals, nonempty,
                  (unsigned long long)n);
    stats_hist_free(a);
    stats_hist_free(b);
    stats_hist_free(total);
    stats_hist_free(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_thread_handoff),
        cmocka_unit_test(test_writer_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
