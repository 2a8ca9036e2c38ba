/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/chan: doorbells. A select parked on channels with a doorbell is woken by the
 * ring, not by polling (an unrung send leaves it parked until chs_ring()); close rings;
 * a timed-out or woken select disarms; a second select on one channel falls back to
 * the watch list; a freed bell hands its channels back to it; errors. The cross-thread
 * case (many parked selects, a producer thread, random order) is test_select.c's
 * test_many_parked_spsc_selects, run with the channels on a bell. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "chan.h"
#include "testutil.h"

/* A coroutine receiving from up to three SPSC channels with a select, once per item,
   until every channel is closed; or once with a deadline (timeout_ns). */
struct rx {
    chs_t *c[3];
    int n;
    uint64_t timeout_ns;
    int got, closed, timeouts;
    uint64_t last, sum;
};

static void receiver(void *arg)
{
    struct rx *r = arg;
    uint64_t v[3];
    ch_case_t cases[3];
    for (int i = 0; i < r->n; i++)
        cases[i] = (ch_case_t){.op = CH_RECV, .spsc = r->c[i], .elem = &v[i]};
    int open = r->n;
    while (open > 0) {
        uint64_t dl = r->timeout_ns ? co_tsc() + co_ns_to_tsc(r->timeout_ns) : UINT64_MAX;
        int k = ch_select(cases, open, 0, dl, NULL);
        if (k == -ETIMEDOUT) {
            r->timeouts++;
            return;
        }
        assert_true(k >= 0);
        if (cases[k].result == EPIPE) {
            r->closed++;
            cases[k] = cases[--open];
            continue;
        }
        r->last = *(uint64_t *)cases[k].elem;
        r->sum += r->last;
        r->got++;
    }
}

/* Let the scheduler make @p n passes (timers, poll hooks, the other coroutines): a
   yield alone may switch straight to the next ready coroutine without one. */
static void passes(int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(co_sleep(2000, NULL), 0);
}

struct script {
    chs_t *c;
    chs_bell_t *b;
    struct rx *r;
    int got_before_ring; /* what the receiver had before the ring */
    int got_after_ring;  /* ... and after it, before the close */
};

/* The receiver parks; an unrung send must not wake it, the ring must. */
static void unrung_then_ring(void *arg)
{
    struct script *s = arg;
    passes(4); /* the receiver is parked now */
    uint64_t v = 42, bit = 0;
    assert_int_equal(chs_send_burst_unrung(s->c, &v, 1), 1);
    passes(20);
    s->got_before_ring = s->r->got;
    _Atomic uint64_t *w = chs_doorbell(s->c, &bit);
    assert_non_null(w);
    chs_ring(w, bit);
    passes(4);
    s->got_after_ring = s->r->got; /* the ring alone woke it */
    chs_close(s->c);               /* rings too: the receiver ends */
}

static void test_unrung_send_waits_for_the_ring(void **state)
{
    (void)state;
    co_sched_t *sch = co_sched_new(&(co_sched_opts_t){.idle = CO_IDLE_PAUSE});
    chs_bell_t *b = chs_bell_new(-1);
    chs_t *c = chs_new(sizeof(uint64_t), 8, -1);
    assert_int_equal(chs_bell_add(b, c), 0);
    struct rx r = {.c = {c}, .n = 1};
    struct script s = {.c = c, .b = b, .r = &r, .got_before_ring = -1};
    co_spawn(receiver, &r, &(co_opts_t){.name = "receiver"});
    co_spawn(unrung_then_ring, &s, &(co_opts_t){.name = "producer"});
    assert_int_equal(co_sched_run(sch), 0);
    assert_int_equal(s.got_before_ring, 0); /* parked until the ring */
    assert_int_equal(s.got_after_ring, 1);
    assert_int_equal(r.got, 1);
    assert_int_equal(r.last, 42);
    assert_int_equal(r.closed, 1);
    chs_free(c);
    chs_bell_free(b);
    assert_int_equal(co_sched_free(sch, stderr), 0);
}

/* A timed-out select disarmed its bit: the next one arms again (so an unrung send
   still leaves it parked, which a fallback to the watch list would not). */
static void after_timeout(void *arg)
{
    struct script *s = arg;
    while (s->r->timeouts == 0)
        co_yield();
    passes(4);
    unrung_then_ring(s);
}

static void receiver_twice(void *arg)
{
    struct rx *r = arg;
    receiver(r); /* times out */
    r->timeout_ns = 0;
    receiver(r);
}

static void test_timeout_disarms(void **state)
{
    (void)state;
    co_sched_t *sch = co_sched_new(&(co_sched_opts_t){.idle = CO_IDLE_PAUSE});
    chs_bell_t *b = chs_bell_new(-1);
    chs_t *c = chs_new(sizeof(uint64_t), 8, -1);
    assert_int_equal(chs_bell_add(b, c), 0);
    struct rx r = {.c = {c}, .n = 1, .timeout_ns = 200000};
    struct script s = {.c = c, .b = b, .r = &r, .got_before_ring = -1};
    co_spawn(receiver_twice, &r, &(co_opts_t){.name = "receiver"});
    co_spawn(after_timeout, &s, &(co_opts_t){.name = "producer"});
    assert_int_equal(co_sched_run(sch), 0);
    assert_int_equal(r.timeouts, 1);
    assert_int_equal(s.got_before_ring, 0);
    assert_int_equal(s.got_after_ring, 1);
    assert_int_equal(r.got, 1);
    assert_int_equal(r.closed, 1);
    chs_free(c);
    chs_bell_free(b);
    assert_int_equal(co_sched_free(sch, stderr), 0);
}

/* One select over a belled channel, a plain SPSC channel and a second belled one:
   every send, whichever of the three it is on, wakes it by itself (checked before the
   next send; nothing is closed until the end). */
static void mixed_producer(void *arg)
{
    struct rx *r = arg;
    for (uint64_t i = 0; i < 30; i++) {
        passes(3);
        uint64_t v = i + 1;
        assert_int_equal(chs_send_burst(r->c[i % 3], &v, 1), 1);
        passes(3);
        assert_int_equal(r->got, (int)i + 1);
    }
    for (int i = 0; i < 3; i++)
        chs_close(r->c[i]);
}

static void test_mixed_select(void **state)
{
    (void)state;
    co_sched_t *sch = co_sched_new(&(co_sched_opts_t){.idle = CO_IDLE_PAUSE});
    chs_bell_t *b = chs_bell_new(-1);
    struct rx r = {.n = 3};
    for (int i = 0; i < 3; i++)
        r.c[i] = chs_new(sizeof(uint64_t), 8, -1);
    assert_int_equal(chs_bell_add(b, r.c[0]), 0);
    assert_int_equal(chs_bell_add(b, r.c[2]), 0);
    co_spawn(receiver, &r, &(co_opts_t){.name = "receiver"});
    co_spawn(mixed_producer, &r, &(co_opts_t){.name = "producer"});
    assert_int_equal(co_sched_run(sch), 0);
    assert_int_equal(r.got, 30);
    assert_int_equal(r.sum, 30 * 31 / 2);
    assert_int_equal(r.closed, 3);
    for (int i = 0; i < 3; i++)
        chs_free(r.c[i]);
    chs_bell_free(b);
    assert_int_equal(co_sched_free(sch, stderr), 0);
}

/* Two coroutines select on one channel: the second cannot arm the bit the first has
   (it goes on the watch list); both get an item, neither is lost. */
static void two_items(void *arg)
{
    chs_t *c = arg;
    passes(4);
    for (uint64_t v = 1; v <= 2; v++) {
        assert_int_equal(chs_send_burst(c, &v, 1), 1);
        passes(4);
    }
}

static void one_item(void *arg)
{
    struct rx *r = arg;
    uint64_t v;
    ch_case_t k = {.op = CH_RECV, .spsc = r->c[0], .elem = &v};
    assert_int_equal(ch_select(&k, 1, 0, UINT64_MAX, NULL), 0);
    r->got++;
    r->last = v;
}

static void test_two_selects_on_one_channel(void **state)
{
    (void)state;
    co_sched_t *sch = co_sched_new(&(co_sched_opts_t){.idle = CO_IDLE_PAUSE});
    chs_bell_t *b = chs_bell_new(-1);
    chs_t *c = chs_new(sizeof(uint64_t), 8, -1);
    assert_int_equal(chs_bell_add(b, c), 0);
    struct rx r1 = {.c = {c}}, r2 = {.c = {c}};
    co_spawn(one_item, &r1, &(co_opts_t){.name = "first"});
    co_spawn(one_item, &r2, &(co_opts_t){.name = "second"});
    co_spawn(two_items, c, &(co_opts_t){.name = "producer"});
    assert_int_equal(co_sched_run(sch), 0);
    assert_int_equal(r1.got + r2.got, 2);
    assert_int_equal(r1.last + r2.last, 3);
    chs_free(c);
    chs_bell_free(b);
    assert_int_equal(co_sched_free(sch, stderr), 0);
}

/* A freed bell leaves its channels working without one (an unrung send is a send). */
static void unrung_two_then_close(void *arg)
{
    chs_t *c = arg;
    for (uint64_t v = 1; v <= 2; v++) {
        passes(4);
        assert_int_equal(chs_send_burst_unrung(c, &v, 1), 1);
    }
    passes(4);
    chs_close(c);
}

static void test_freed_bell_hands_back(void **state)
{
    (void)state;
    co_sched_t *sch = co_sched_new(&(co_sched_opts_t){.idle = CO_IDLE_PAUSE});
    chs_bell_t *b = chs_bell_new(-1);
    chs_t *c = chs_new(sizeof(uint64_t), 8, -1);
    assert_int_equal(chs_bell_add(b, c), 0);
    chs_bell_free(b);
    uint64_t bit = 7;
    assert_null(chs_doorbell(c, &bit));
    assert_int_equal(bit, 7);
    struct rx r = {.c = {c}, .n = 1};
    co_spawn(receiver, &r, &(co_opts_t){.name = "receiver"});
    co_spawn(unrung_two_then_close, c, &(co_opts_t){.name = "producer"});
    assert_int_equal(co_sched_run(sch), 0);
    assert_int_equal(r.got, 2);
    assert_int_equal(r.closed, 1);
    chs_free(c);
    assert_int_equal(co_sched_free(sch, stderr), 0);
}

/* ---- one item at a time from another thread ------------------------------------------ */

/* A producer thread sends one item to a random line of 20 selectors (40 lines on one
   doorbell), then waits until it has been received before the next: nothing but the
   ring of that one send can wake its selector (no deadlines, no other traffic), so a
   single lost wake-up is a timeout here, reported as a failure, not a hang. */
enum { HS_SELS = 20, HS_ITEMS = 5000 };

struct handshake {
    chs_t *q[HS_SELS][2];
    _Atomic uint64_t received;
    uint64_t lost_at; /* the item that was not received in time, or 0 */
};

static void hs_selector(void *arg)
{
    void **a = arg;
    struct handshake *h = a[0];
    chs_t **q = a[1];
    uint64_t v[2];
    ch_case_t cases[2] = {{.op = CH_RECV, .spsc = q[0], .elem = &v[0]},
                          {.op = CH_RECV, .spsc = q[1], .elem = &v[1]}};
    int open = 2;
    while (open > 0) {
        int k = ch_select(cases, open, 0, UINT64_MAX, NULL);
        assert_true(k >= 0);
        if (cases[k].result == EPIPE)
            cases[k] = cases[--open];
        else
            atomic_fetch_add(&h->received, 1);
    }
}

static void *hs_producer(void *arg)
{
    struct handshake *h = arg;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (uint64_t i = 1; i <= HS_ITEMS && h->lost_at == 0; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        chs_t *c = h->q[rng % HS_SELS][(rng >> 32) & 1];
        while (chs_send_burst(c, &i, 1) != 1)
            ;
        uint64_t t0 = co_tsc();
        while (atomic_load(&h->received) < i) {
            if (co_tsc() - t0 > co_ns_to_tsc(5000000000ull)) {
                h->lost_at = i; /* 5 s: its selector was not woken */
                break;
            }
            sched_yield(); /* on a loaded machine the consumer may share this CPU */
        }
    }
    for (int s = 0; s < HS_SELS; s++)
        for (int l = 0; l < 2; l++)
            chs_close(h->q[s][l]);
    return NULL;
}

static void test_one_at_a_time_from_a_thread(void **state)
{
    (void)state;
    static struct handshake h;
    static void *args[HS_SELS][2];
    h.received = 0;
    h.lost_at = 0;
    co_sched_t *sch = co_sched_new(&(co_sched_opts_t){.idle = CO_IDLE_PAUSE});
    chs_bell_t *b = chs_bell_new(-1);
    for (int s = 0; s < HS_SELS; s++) {
        for (int l = 0; l < 2; l++) {
            h.q[s][l] = chs_new(sizeof(uint64_t), 4, -1);
            assert_int_equal(chs_bell_add(b, h.q[s][l]), 0);
        }
        args[s][0] = &h;
        args[s][1] = h.q[s];
        co_spawn(hs_selector, args[s], &(co_opts_t){.name = "selector"});
    }
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hs_producer, &h), 0);
    assert_int_equal(co_sched_run(sch), 0);
    pthread_join(t, NULL);
    if (h.lost_at)
        fail_msg("item %llu was not received within 5 s: a lost wake-up",
                 (unsigned long long)h.lost_at);
    assert_int_equal(atomic_load(&h.received), HS_ITEMS);
    for (int s = 0; s < HS_SELS; s++)
        for (int l = 0; l < 2; l++)
            chs_free(h.q[s][l]);
    chs_bell_free(b);
    assert_int_equal(co_sched_free(sch, stderr), 0);
}

static void test_add_errors(void **state)
{
    (void)state;
    chs_bell_t *b = chs_bell_new(-1), *b2 = chs_bell_new(-1);
    static chs_t *c[CHS_BELL_MAX + 1];
    for (int i = 0; i <= CHS_BELL_MAX; i++)
        c[i] = chs_new(sizeof(uint64_t), 2, -1);
    for (int i = 0; i < CHS_BELL_MAX; i++)
        assert_int_equal(chs_bell_add(b, c[i]), 0);
    assert_int_equal(chs_bell_len(b), CHS_BELL_MAX);
    assert_int_equal(chs_bell_add(b, c[CHS_BELL_MAX]), -ENOSPC);
    assert_int_equal(chs_bell_add(b2, c[0]), -EBUSY);
    /* bits: channel i sets bit i % 64 of word i / 64 */
    uint64_t bit = 0;
    _Atomic uint64_t *w0 = chs_doorbell(c[0], &bit), *w = chs_doorbell(c[65], &bit);
    assert_int_equal(bit, 1ull << 1);
    assert_ptr_equal(w, w0 + 1);
    for (int i = 0; i <= CHS_BELL_MAX; i++)
        chs_free(c[i]); /* before the bell: it forgets them */
    chs_bell_free(b);
    chs_bell_free(b2);
    chs_bell_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unrung_send_waits_for_the_ring),
        cmocka_unit_test(test_timeout_disarms),
        cmocka_unit_test(test_mixed_select),
        cmocka_unit_test(test_two_selects_on_one_channel),
        cmocka_unit_test(test_freed_bell_hands_back),
        cmocka_unit_test(test_one_at_a_time_from_a_thread),
        cmocka_unit_test(test_add_errors),
    };
    return cmocka_run_group_tests_name("chan_bell", tests, NULL, NULL);
}
