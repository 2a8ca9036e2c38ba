/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/chan: channel sets — ready members, default, round-robin fairness (counted picks),
 * wake-ups from local senders (buffered, unbuffered, close) and from SPSC producers on
 * other threads, deadline, context, removal, bad arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "chan.h"

static void test_ready_member_and_default(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    ch_set_t *set = ch_set_new(4);
    ch_t *a = ch_new(sizeof(int), 2), *b = ch_new(sizeof(int), 2);
    assert_int_equal(ch_set_add(set, a, NULL), 0);
    assert_int_equal(ch_set_add(set, b, NULL), 1);
    assert_int_equal(ch_set_len(set), 2);
    assert_int_equal(ch_set_wait(set, CH_NONBLOCK, UINT64_MAX, NULL), CH_DEFAULT);
    int v = 7, got = 0;
    assert_int_equal(ch_trysend(b, &v), 0);
    assert_int_equal(ch_set_wait(set, CH_NONBLOCK, UINT64_MAX, NULL), 1);
    assert_int_equal(ch_tryrecv(b, &got), 0);
    assert_int_equal(got, 7);
    /* drained: the stale bit costs one look and the set says nothing is ready */
    assert_int_equal(ch_set_wait(set, CH_NONBLOCK, UINT64_MAX, NULL), CH_DEFAULT);
    /* a channel that held elements before it joined is found too */
    ch_t *c = ch_new(sizeof(int), 2);
    assert_int_equal(ch_trysend(c, &v), 0);
    assert_int_equal(ch_set_add(set, c, NULL), 2);
    assert_int_equal(ch_set_wait(set, CH_NONBLOCK, UINT64_MAX, NULL), 2);
    assert_int_equal(ch_tryrecv(c, &got), 0);
    ch_set_free(set);
    ch_free(a);
    ch_free(b);
    ch_free(c);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(ch_set_new(0));
    assert_int_equal(errno, EINVAL);
    assert_null(ch_set_new(CH_SET_MAX + 1));
    ch_set_t *s1 = ch_set_new(1), *s2 = ch_set_new(2);
    ch_t *a = ch_new(4, 1), *b = ch_new(4, 1);
    chs_t *q = chs_new(4, 4, -1);
    assert_int_equal(ch_set_add(s1, NULL, NULL), -EINVAL);
    assert_int_equal(ch_set_add(s1, a, q), -EINVAL);
    assert_int_equal(ch_set_add(s1, a, NULL), 0);
    assert_int_equal(ch_set_add(s2, a, NULL), -EINVAL); /* one set per local channel */
    assert_int_equal(ch_set_add(s1, b, NULL), -ENOSPC);
    ch_set_remove(s1, 5);  /* ignored */
    ch_set_remove(s1, -1); /* ignored */
    ch_set_remove(s1, 0);
    assert_int_equal(ch_set_len(s1), 0);
    ch_set_remove(s1, 0);                         /* twice: ignored */
    assert_int_equal(ch_set_add(s2, a, NULL), 0); /* free to join another now */
    assert_int_equal(ch_set_add(s1, NULL, q), 0);
    assert_int_equal(ch_set_add(s1, NULL, q), -ENOSPC);
    ch_set_free(s1);
    ch_set_free(s2);
    ch_set_free(NULL);
    ch_free(a);
    ch_free(b);
    chs_free(q);
}

/* Under constant readiness the set goes round: every member is returned once in every N
   calls, exactly. */
static void test_round_robin_under_constant_readiness(void **state)
{
    (void)state;
    enum { N = 9, ROUNDS = 9000 };
    co_sched_t *s = co_sched_new(NULL);
    ch_set_t *set = ch_set_new(N);
    ch_t *c[N];
    int picks[N] = {0};
    for (int i = 0; i < N; i++) {
        c[i] = ch_new(sizeof(int), 2);
        assert_int_equal(ch_set_add(set, c[i], NULL), i);
        ch_trysend(c[i], &i);
    }
    int last = -1;
    for (int r = 0; r < ROUNDS; r++) {
        int k = ch_set_wait(set, CH_NONBLOCK, UINT64_MAX, NULL);
        assert_true(k >= 0 && k < N);
        if (last >= 0)
            assert_int_equal(k, (last + 1) % N);
        int v;
        assert_int_equal(ch_tryrecv(c[k], &v), 0);
        assert_int_equal(v, k);
        ch_trysend(c[k], &k); /* stays ready */
        picks[k]++;
        last = k;
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(picks[i], ROUNDS / N);
    /* Only some ready: the others are skipped, the ready ones still alternate. */
    int v;
    for (int i = 0; i < N; i++)
        while (ch_tryrecv(c[i], &v) == 0)
            ;
    ch_trysend(c[2], &v);
    ch_trysend(c[6], &v);
    int a = ch_set_wait(set, CH_NONBLOCK, UINT64_MAX, NULL);
    int b = ch_set_wait(set, CH_NONBLOCK, UINT64_MAX, NULL);
    assert_true((a == 2 && b == 6) || (a == 6 && b == 2));
    ch_set_free(set);
    for (int i = 0; i < N; i++)
        ch_free(c[i]);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- blocking: local senders wake a parked owner ------------------------------------ */

struct local_rig {
    ch_t *buffered, *unbuffered, *closing;
    ch_set_t *set;
    int got_buffered, got_unbuffered;
    bool saw_close;
    int wakes;
};

static void local_owner(void *arg)
{
    struct local_rig *r = arg;
    int open = 3;
    while (open > 0) {
        int k = ch_set_wait(r->set, 0, UINT64_MAX, NULL);
        assert_true(k >= 0 && k < 3);
        r->wakes++;
        ch_t *c = k == 0 ? r->buffered : k == 1 ? r->unbuffered : r->closing;
        int v, e;
        while ((e = ch_tryrecv(c, &v)) == 0) {
            if (k == 0)
                r->got_buffered += v;
            else if (k == 1)
                r->got_unbuffered += v;
        }
        if (e == EPIPE) {
            if (k == 2)
                r->saw_close = true;
            ch_set_remove(r->set, k);
            open--;
        }
    }
}

static void local_sender(void *arg)
{
    struct local_rig *r = arg;
    for (int i = 1; i <= 10; i++) {
        co_sleep(20000, NULL);
        assert_int_equal(ch_send(r->buffered, &i, NULL), 0);
        /* unbuffered: parks until the owner takes it; the parked sender makes the member
           ready */
        assert_int_equal(ch_send(r->unbuffered, &i, NULL), 0);
    }
    ch_close(r->buffered);
    ch_close(r->unbuffered);
    co_sleep(20000, NULL);
    ch_close(r->closing);
}

static void test_local_senders_wake_the_owner(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct local_rig r = {.buffered = ch_new(sizeof(int), 4),
                          .unbuffered = ch_new(sizeof(int), 0),
                          .closing = ch_new(sizeof(int), 1),
                          .set = ch_set_new(3)};
    assert_int_equal(ch_set_add(r.set, r.buffered, NULL), 0);
    assert_int_equal(ch_set_add(r.set, r.unbuffered, NULL), 1);
    assert_int_equal(ch_set_add(r.set, r.closing, NULL), 2);
    co_spawn(local_owner, &r, &(co_opts_t){.name = "owner"});
    co_spawn(local_sender, &r, &(co_opts_t){.name = "sender"});
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(r.got_buffered, 55);
    assert_int_equal(r.got_unbuffered, 55);
    assert_true(r.saw_close);
    assert_int_equal(ch_set_len(r.set), 0);
    assert_true(r.wakes >= 3);
    ch_set_free(r.set);
    ch_free(r.buffered);
    ch_free(r.unbuffered);
    ch_free(r.closing);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* A select's send case parked on a member is a sender the owner can take from. */
static void select_sender(void *arg)
{
    ch_t *c = arg;
    int v = 42;
    ch_case_t cs[] = {{.op = CH_SEND, .local = c, .elem = &v}};
    assert_int_equal(ch_select(cs, 1, 0, UINT64_MAX, NULL), 0);
}

static ch_t *taker_chan;

/* Waits on the set, then takes from the member it returned. */
static void set_taker(void *arg)
{
    ch_set_t *set = arg;
    assert_int_equal(ch_set_wait(set, 0, UINT64_MAX, NULL), 0);
    int v = 0;
    assert_int_equal(ch_tryrecv(taker_chan, &v), 0);
    assert_int_equal(v, 42);
}

static void test_parked_select_sender_wakes_the_owner(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    taker_chan = ch_new(sizeof(int), 0);
    ch_set_t *set = ch_set_new(1);
    assert_int_equal(ch_set_add(set, taker_chan, NULL), 0);
    /* the taker parks first; the sender's select parks on the unbuffered channel and
       pokes the set; the taker wakes and takes straight from the parked select */
    co_spawn(set_taker, set, &(co_opts_t){.name = "taker"});
    co_spawn(select_sender, taker_chan, &(co_opts_t){.name = "sender"});
    assert_int_equal(co_sched_run(s), 0);
    ch_set_free(set);
    ch_free(taker_chan);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/*
 * A local send hands off to the parked owner: it runs once the sender's turn ends,
 * before the coroutines that were runnable already (three producers readied in one
 * round, as a scheduler pass readies feed handlers). The owner takes each producer's
 * element right after that producer: owner, producer, owner, ... and not all three
 * producers first.
 */
struct handoff_rig {
    ch_t *in[3];
    ch_set_t *set;
    char order[16];
    int n;
    int producers; /* started so far: the next one's input */
};

static void handoff_owner(void *arg)
{
    struct handoff_rig *r = arg;
    for (int got = 0; got < 3;) {
        int k = ch_set_wait(r->set, 0, UINT64_MAX, NULL);
        assert_true(k >= 0);
        int v;
        if (ch_tryrecv(r->in[k], &v) == 0) {
            r->order[r->n++] = (char)('0' + v);
            got++;
        }
    }
}

static void handoff_producer(void *arg)
{
    struct handoff_rig *r = arg;
    int me = r->producers++;
    r->order[r->n++] = (char)('a' + me);
    assert_int_equal(ch_send(r->in[me], &me, NULL), 0);
}

static void test_local_send_hands_off_to_the_owner(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct handoff_rig r = {.set = ch_set_new(3)};
    for (int i = 0; i < 3; i++) {
        r.in[i] = ch_new(sizeof(int), 4);
        assert_int_equal(ch_set_add(r.set, r.in[i], NULL), i);
    }
    co_spawn(handoff_owner, &r, &(co_opts_t){.name = "owner"});
    for (int i = 0; i < 3; i++)
        co_spawn(handoff_producer, &r, &(co_opts_t){.name = "producer"});
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(r.n, 6);
    assert_memory_equal(r.order, "a0b1c2", 6);
    ch_set_free(r.set);
    for (int i = 0; i < 3; i++)
        ch_free(r.in[i]);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- deadline and context ---------------------------------------------------------- */

static void deadline_owner(void *arg)
{
    ch_set_t *set = arg;
    uint64_t t0 = co_now_ns();
    assert_int_equal(ch_set_wait(set, 0, co_tsc() + co_ns_to_tsc(200000), NULL), -ETIMEDOUT);
    assert_true(co_now_ns() - t0 >= 150000);
    /* already past: no park at all */
    assert_int_equal(ch_set_wait(set, 0, 1, NULL), -ETIMEDOUT);
    co_ctx_t *ctx = co_ctx_with_timeout(NULL, 200000);
    assert_int_equal(ch_set_wait(set, 0, UINT64_MAX, ctx), -ETIMEDOUT);
    co_ctx_free(ctx);
    ctx = co_ctx_with_cancel(NULL);
    co_ctx_cancel(ctx);
    assert_int_equal(ch_set_wait(set, 0, UINT64_MAX, ctx), -ECANCELED);
    co_ctx_free(ctx);
}

static void test_deadline_and_context(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    ch_set_t *set = ch_set_new(2);
    ch_t *a = ch_new(sizeof(int), 1);
    assert_int_equal(ch_set_add(set, a, NULL), 0);
    co_spawn(deadline_owner, set, &(co_opts_t){.name = "owner"});
    assert_int_equal(co_sched_run(s), 0);
    ch_set_free(set);
    ch_free(a);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- SPSC members fed by other threads --------------------------------------------- */

enum { PRODUCERS = 6, PER_PRODUCER = 20000 };

struct spsc_rig {
    chs_t *q[PRODUCERS];
    ch_set_t *set;
    uint64_t next[PRODUCERS];
    bool ordered;
};

static void *spsc_producer(void *arg)
{
    chs_t *q = arg;
    for (uint64_t i = 1; i <= PER_PRODUCER;) {
        if (chs_send_burst(q, &i, 1) == 1)
            i++;
        if (i % 1024 == 0)
            sched_yield(); /* let the owner run dry and park */
    }
    chs_close(q);
    return NULL;
}

static void spsc_owner(void *arg)
{
    struct spsc_rig *r = arg;
    unsigned open = PRODUCERS;
    r->ordered = true;
    while (open > 0) {
        int k = ch_set_wait(r->set, 0, UINT64_MAX, NULL);
        assert_true(k >= 0 && k < PRODUCERS);
        uint64_t v[16];
        unsigned n = chs_recv_burst(r->q[k], v, 16);
        for (unsigned i = 0; i < n; i++)
            r->ordered &= v[i] == ++r->next[k];
        if (n == 0 && chs_closed(r->q[k]) && chs_recv_burst(r->q[k], v, 1) == 0) {
            ch_set_remove(r->set, k);
            open--;
        }
    }
}

static void test_spsc_members_from_threads(void **state)
{
    (void)state;
    struct spsc_rig r = {.set = ch_set_new(PRODUCERS)};
    co_sched_t *s = co_sched_new(&(co_sched_opts_t){.idle = CO_IDLE_PAUSE});
    pthread_t t[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        r.q[i] = chs_new(sizeof(uint64_t), 64, -1);
        assert_int_equal(ch_set_add(r.set, NULL, r.q[i]), i);
    }
    co_spawn(spsc_owner, &r, &(co_opts_t){.name = "owner"});
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&t[i], NULL, spsc_producer, r.q[i]);
    assert_int_equal(co_sched_run(s), 0);
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r.next[i], PER_PRODUCER);
        chs_free(r.q[i]);
    }
    assert_true(r.ordered);
    ch_set_free(r.set);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* A plain thread (no coroutine) spins instead of parking. */
static void *late_sender(void *arg)
{
    chs_t *q = arg;
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    uint64_t v = 9;
    while (chs_send_burst(q, &v, 1) != 1)
        ;
    return NULL;
}

static void test_plain_thread_spins(void **state)
{
    (void)state;
    ch_set_t *set = ch_set_new(1);
    chs_t *q = chs_new(sizeof(uint64_t), 4, -1);
    assert_int_equal(ch_set_add(set, NULL, q), 0);
    pthread_t t;
    pthread_create(&t, NULL, late_sender, q);
    assert_int_equal(ch_set_wait(set, 0, UINT64_MAX, NULL), 0);
    uint64_t v = 0;
    assert_int_equal(chs_recv_burst(q, &v, 1), 1);
    assert_int_equal(v, 9);
    pthread_join(t, NULL);
    ch_set_free(set);
    chs_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_member_and_default),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_round_robin_under_constant_readiness),
        cmocka_unit_test(test_local_senders_wake_the_owner),
        cmocka_unit_test(test_parked_select_sender_wakes_the_owner),
        cmocka_unit_test(test_local_send_hands_off_to_the_owner),
        cmocka_unit_test(test_deadline_and_context),
        cmocka_unit_test(test_spsc_members_from_threads),
        cmocka_unit_test(test_plain_thread_spins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
