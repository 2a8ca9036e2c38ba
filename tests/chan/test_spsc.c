/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/chan: SPSC channels — ring arithmetic, bursts, close, blocking across threads,
 * contexts, and the debug check against a second producer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "chan.h"
#include "testutil.h"

static void test_capacity_rounding(void **state)
{
    (void)state;
    size_t want[][2] = {{0, 2}, {1, 2}, {2, 2}, {3, 4}, {5, 8}, {1024, 1024}, {1025, 2048}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        chs_t *c = chs_new(8, want[i][0], -1);
        assert_non_null(c);
        assert_int_equal(chs_cap(c), want[i][1]);
        assert_int_equal(chs_elem_size(c), 8);
        chs_free(c);
    }
    assert_null(chs_new(0, 4, -1));
    assert_int_equal(errno, EINVAL);
    chs_t *numa = chs_new(8, 64, 0); /* on node 0, through libnuma */
    assert_non_null(numa);
    chs_free(numa);
}

/* Bursts of every size wrap the ring at every offset; order is preserved. */
static void test_bursts_wrap_in_order(void **state)
{
    (void)state;
    chs_t *c = chs_new(sizeof(uint64_t), 8, -1);
    uint64_t next_in = 0, next_out = 0, buf[16];
    for (int round = 0; round < 500; round++) {
        unsigned want = (unsigned)(round * 7 % 11) + 1;
        for (unsigned i = 0; i < want; i++)
            buf[i] = next_in + i;
        unsigned sent = chs_send_burst(c, buf, want);
        assert_true(sent <= want);
        assert_true(chs_len(c) <= 8);
        next_in += sent;
        unsigned take = (unsigned)(round * 5 % 9) + 1;
        unsigned got = chs_recv_burst(c, buf, take);
        for (unsigned i = 0; i < got; i++)
            assert_int_equal(buf[i], next_out + i);
        next_out += got;
        assert_int_equal(chs_len(c), next_in - next_out);
    }
    assert_true(next_out > 1000);
    chs_free(c);
}

static void test_full_and_empty(void **state)
{
    (void)state;
    struct rec {
        uint32_t a;
        char b[9];
    } in[5], out[5];
    chs_t *c = chs_new(sizeof(struct rec), 4, -1);
    for (int i = 0; i < 5; i++) {
        memset(&in[i], 0, sizeof(in[i]));
        in[i].a = (uint32_t)i;
        snprintf(in[i].b, sizeof(in[i].b), "rec%d", i);
    }
    assert_int_equal(chs_send_burst(c, in, 5), 4); /* full after 4 */
    assert_int_equal(chs_send_burst(c, in, 1), 0);
    assert_int_equal(chs_recv_burst(c, out, 5), 4);
    for (int i = 0; i < 4; i++)
        assert_memory_equal(&out[i], &in[i], sizeof(in[i]));
    assert_int_equal(chs_recv_burst(c, out, 1), 0);
    chs_free(c);
}

static void test_close_drains_then_epipe(void **state)
{
    (void)state;
    chs_t *c = chs_new(sizeof(int), 4, -1);
    int v[3] = {1, 2, 3}, x;
    assert_int_equal(chs_send_burst(c, v, 3), 3);
    chs_close(c);
    chs_close(c); /* idempotent */
    assert_true(chs_closed(c));
    assert_int_equal(chs_send_burst(c, v, 1), 0);
    assert_int_equal(chs_send(c, v, CO_BACKGROUND), EPIPE);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(chs_recv(c, &x, CO_BACKGROUND), 0); /* from the thread: no park */
        assert_int_equal(x, i + 1);
    }
    assert_int_equal(chs_recv(c, &x, CO_BACKGROUND), EPIPE);
    chs_free(c);
}

/* ---- across threads ------------------------------------------------------------------ */

#define ITEMS 200000u

struct xfer {
    chs_t *c;
    uint64_t sum_in, sum_out, received;
    int rc;
    bool ordered;
};

/* A plain poll loop, as an RX core: bursts, no scheduler, never blocks. */
static void *poll_producer(void *arg)
{
    struct xfer *x = arg;
    uint64_t buf[32], next = 1;
    while (next <= ITEMS) {
        unsigned n = (unsigned)(next % 32) + 1, i;
        for (i = 0; i < n && next + i <= ITEMS; i++)
            buf[i] = next + i;
        unsigned sent = chs_send_burst(x->c, buf, i);
        for (unsigned k = 0; k < sent; k++)
            x->sum_in += buf[k];
        next += sent;
        if (!sent)
            __builtin_ia32_pause();
    }
    chs_close(x->c);
    return NULL;
}

static void blocking_consumer(void *arg)
{
    struct xfer *x = arg;
    uint64_t v, expect = 1;
    x->ordered = true;
    int rc;
    while ((rc = chs_recv(x->c, &v, CO_BACKGROUND)) == 0) {
        x->ordered &= v == expect++;
        x->sum_out += v;
        x->received++;
    }
    x->rc = rc;
}

static void test_poll_loop_producer_to_parking_consumer(void **state)
{
    (void)state;
    struct xfer x = {.c = chs_new(sizeof(uint64_t), 64, -1)};
    co_sched_t *s = co_sched_new(&(co_sched_opts_t){.idle = CO_IDLE_PAUSE});
    co_spawn(blocking_consumer, &x, &(co_opts_t){.name = "consumer"});
    pthread_t t;
    pthread_create(&t, NULL, poll_producer, &x);
    assert_int_equal(co_sched_run(s), 0);
    pthread_join(t, NULL);
    assert_int_equal(x.rc, EPIPE);
    assert_true(x.ordered);
    assert_int_equal(x.received, ITEMS);
    assert_int_equal(x.sum_in, x.sum_out);
    assert_int_equal(co_sched_free(s, stderr), 0);
    chs_free(x.c);
}

/* A coroutine producer that parks on a full ring, a coroutine consumer on another
 * thread that drains in bursts. */
static void parking_producer(void *arg)
{
    struct xfer *x = arg;
    for (uint64_t v = 1; v <= ITEMS; v++) {
        assert_int_equal(chs_send(x->c, &v, CO_BACKGROUND), 0);
        x->sum_in += v;
    }
    chs_close(x->c);
}

static void *producer_thread(void *arg)
{
    co_sched_t *s = co_sched_new(&(co_sched_opts_t){.idle = CO_IDLE_PAUSE});
    co_spawn(parking_producer, arg, &(co_opts_t){.name = "producer"});
    int rc = co_sched_run(s);
    size_t leaks = co_sched_free(s, stderr);
    return (void *)(intptr_t)(rc == 0 && leaks == 0);
}

static void burst_consumer(void *arg)
{
    struct xfer *x = arg;
    uint64_t buf[16], expect = 1;
    x->ordered = true;
    for (;;) {
        unsigned n = chs_recv_burst(x->c, buf, 16);
        if (n == 0) {
            /* Block for one element: this parks until the producer moves. */
            int rc = chs_recv(x->c, buf, CO_BACKGROUND);
            if (rc) {
                x->rc = rc;
                return;
            }
            n = 1;
        }
        for (unsigned i = 0; i < n; i++) {
            x->ordered &= buf[i] == expect++;
            x->sum_out += buf[i];
        }
        x->received += n;
    }
}

static void test_parking_producer_small_ring(void **state)
{
    (void)state;
    struct xfer x = {.c = chs_new(sizeof(uint64_t), 4, -1)};
    pthread_t t;
    pthread_create(&t, NULL, producer_thread, &x);
    co_sched_t *s = co_sched_new(&(co_sched_opts_t){.idle = CO_IDLE_PAUSE});
    co_spawn(burst_consumer, &x, &(co_opts_t){.name = "consumer"});
    assert_int_equal(co_sched_run(s), 0);
    void *ok;
    pthread_join(t, &ok);
    assert_true((intptr_t)ok);
    assert_int_equal(x.rc, EPIPE);
    assert_true(x.ordered);
    assert_int_equal(x.received, ITEMS);
    assert_int_equal(x.sum_in, x.sum_out);
    assert_int_equal(co_sched_free(s, stderr), 0);
    chs_free(x.c);
}

/* ---- contexts -------------------------------------------------------------------------- */

struct waiting {
    chs_t *c;
    co_ctx_t *ctx;
    int rc;
};

static void waits_forever(void *arg)
{
    struct waiting *w = arg;
    uint64_t v;
    w->rc = chs_recv(w->c, &v, w->ctx);
}

static void test_blocked_recv_observes_context(void **state)
{
    (void)state;
    struct waiting w = {.c = chs_new(8, 8, -1), .ctx = co_ctx_with_timeout(NULL, 2000000)};
    co_sched_t *s = co_sched_new(NULL);
    co_spawn(waits_forever, &w, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(w.rc, ETIMEDOUT);
    /* The poll hook went away with the wait: a later send wakes nobody. */
    uint64_t v = 1;
    assert_int_equal(chs_send_burst(w.c, &v, 1), 1);
    assert_int_equal(co_sched_free(s, stderr), 0);
    co_ctx_free(w.ctx);
    chs_free(w.c);
}

/* ---- debug builds catch a second producer --------------------------------------------- */

static void *send_one(void *arg)
{
    uint64_t v = 7;
    chs_send_burst(arg, &v, 1);
    return NULL;
}

static void two_producers(void *arg)
{
    (void)arg;
    chs_t *c = chs_new(8, 8, -1);
    uint64_t v = 1;
    chs_send_burst(c, &v, 1); /* this thread is the producer now */
    pthread_t t;
    pthread_create(&t, NULL, send_one, c);
    pthread_join(t, NULL);
}

static void test_second_producer_caught(void **state)
{
    (void)state;
#ifdef NDEBUG
    print_message("skipped: release builds do not check SPSC ownership\n");
    skip();
#else
    char err[4096];
    int sig = 0;
    tu_run_child(two_producers, NULL, err, sizeof(err), &sig);
    assert_int_equal(sig, SIGABRT);
    assert_non_null(strstr(err, "used by a second producer thread"));
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity_rounding),
        cmocka_unit_test(test_bursts_wrap_in_order),
        cmocka_unit_test(test_full_and_empty),
        cmocka_unit_test(test_close_drains_then_epipe),
        cmocka_unit_test(test_poll_loop_producer_to_parking_consumer),
        cmocka_unit_test(test_parking_producer_small_ring),
        cmocka_unit_test(test_blocked_recv_observes_context),
        cmocka_unit_test(test_second_producer_caught),
    };
    return cmocka_run_group_tests_name("chan_spsc", tests, NULL, NULL);
}
