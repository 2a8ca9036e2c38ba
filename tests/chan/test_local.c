/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/chan: local channels — buffering, rendezvous, FIFO waiters, close, contexts,
 * element sizes, and errors carried as data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "chan.h"
#include "testutil.h"

struct log {
    int ev[64];
    int n;
};

static void note(struct log *l, int ev)
{
    l->ev[l->n++] = ev;
}

/* ---- buffered ------------------------------------------------------------------- */

static void test_buffered_fifo_len_cap(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    ch_t *c = ch_new(sizeof(int), 4);
    assert_int_equal(ch_cap(c), 4);
    assert_int_equal(ch_elem_size(c), sizeof(int));
    for (int i = 0; i < 4; i++)
        assert_int_equal(ch_trysend(c, &i), 0); /* from the thread: no coroutine needed */
    int x = 99;
    assert_int_equal(ch_trysend(c, &x), EAGAIN);
    assert_int_equal(ch_len(c), 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ch_tryrecv(c, &x), 0);
        assert_int_equal(x, i);
    }
    assert_int_equal(ch_tryrecv(c, &x), EAGAIN);
    /* Wrap around the ring many times. */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(ch_trysend(c, &i), 0);
        if (i % 3 == 2) {
            for (int j = i - 2; j <= i; j++) {
                assert_int_equal(ch_tryrecv(c, &x), 0);
                assert_int_equal(x, j);
            }
        }
    }
    ch_free(c);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

struct pair {
    ch_t *c;
    struct log log;
    int got[16];
    int rc[16];
};

static void slow_receiver(void *arg)
{
    struct pair *p = arg;
    for (int i = 0; i < 3; i++) {
        co_yield();
        note(&p->log, 100 + i);
        p->rc[i] = ch_recv(p->c, &p->got[i], CO_BACKGROUND);
    }
}

static void eager_sender(void *arg)
{
    struct pair *p = arg;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ch_send(p->c, &i, CO_BACKGROUND), 0);
        note(&p->log, i); /* logged when the send completed */
    }
}

/* Unbuffered: each send completes only when the receiver takes the element. */
static void test_unbuffered_rendezvous(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct pair p = {.c = ch_new(sizeof(int), 0)};
    int x = 1;
    assert_int_equal(ch_trysend(p.c, &x), EAGAIN); /* nobody to take it */
    co_spawn(eager_sender, &p, NULL);
    co_spawn(slow_receiver, &p, NULL);
    assert_int_equal(co_sched_run(s), 0);
    /* The receiver's turn (100+i) always precedes the completion of send i. */
    int want[] = {100, 0, 101, 1, 102, 2};
    assert_int_equal(p.log.n, 6);
    assert_memory_equal(p.log.ev, want, sizeof(want));
    for (int i = 0; i < 3; i++)
        assert_int_equal(p.got[i], i);
    assert_int_equal(ch_len(p.c), 0);
    ch_free(p.c);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* A parked receiver on a buffered channel gets the element directly. */
static void parked_receiver(void *arg)
{
    struct pair *p = arg;
    p->rc[0] = ch_recv(p->c, &p->got[0], CO_BACKGROUND);
}

static void later_sender(void *arg)
{
    struct pair *p = arg;
    co_yield(); /* the receiver parks first */
    int v = 42;
    assert_int_equal(ch_send(p->c, &v, CO_BACKGROUND), 0);
    assert_int_equal(ch_len(p->c), 0); /* handed over, not buffered */
}

static void test_direct_handoff_to_parked_receiver(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct pair p = {.c = ch_new(sizeof(int), 8)};
    co_spawn(parked_receiver, &p, NULL);
    co_spawn(later_sender, &p, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(p.rc[0], 0);
    assert_int_equal(p.got[0], 42);
    ch_free(p.c);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- FIFO among blocked senders and receivers ----------------------------------------- */

struct blocked {
    ch_t *c;
    int id;
    int val;
    int rc;
};

static void blocked_sender(void *arg)
{
    struct blocked *b = arg;
    b->rc = ch_send(b->c, &b->id, CO_BACKGROUND);
}

static void blocked_receiver(void *arg)
{
    struct blocked *b = arg;
    b->rc = ch_recv(b->c, &b->val, CO_BACKGROUND);
}

static void drain_three(void *arg)
{
    struct pair *p = arg;
    co_yield(); /* all three senders park, in spawn order */
    for (int i = 0; i < 3; i++)
        assert_int_equal(ch_recv(p->c, &p->got[i], CO_BACKGROUND), 0);
}

static void test_blocked_senders_served_fifo(void **state)
{
    (void)state;
    for (int cap = 0; cap <= 1; cap++) {
        co_sched_t *s = co_sched_new(NULL);
        struct pair p = {.c = ch_new(sizeof(int), (size_t)cap)};
        int filler = -1;
        if (cap)
            assert_int_equal(ch_trysend(p.c, &filler), 0); /* full: the senders park */
        struct blocked b[3];
        for (int i = 0; i < 3; i++) {
            b[i] = (struct blocked){.c = p.c, .id = 10 + i, .rc = -1};
            co_spawn(blocked_sender, &b[i], NULL);
        }
        co_spawn(drain_three, &p, NULL);
        assert_int_equal(co_sched_run(s), 0);
        if (cap) { /* each receive freed a slot that the next parked sender filled */
            int want[] = {-1, 10, 11};
            assert_memory_equal(p.got, want, sizeof(want));
            int x;
            assert_int_equal(ch_tryrecv(p.c, &x), 0);
            assert_int_equal(x, 12);
        } else {
            int want[] = {10, 11, 12};
            assert_memory_equal(p.got, want, sizeof(want));
        }
        for (int i = 0; i < 3; i++)
            assert_int_equal(b[i].rc, 0);
        ch_free(p.c);
        assert_int_equal(co_sched_free(s, stderr), 0);
    }
}

/* ch_tryrecv_burst() takes what as many ch_tryrecv() calls take, in the same order:
   buffered elements across the ring's wrap, then the parked senders' in their order
   (each freed slot refilled by the next one), unbuffered hand-offs too. */
struct burst_case {
    int cap, skew, n;
    bool ok;
};

static void burst_checker(void *arg)
{
    struct burst_case *bc = arg;
    ch_t *c[2];
    struct blocked b[2][3];
    for (int k = 0; k < 2; k++) {
        c[k] = ch_new(sizeof(int), (size_t)bc->cap);
        for (int i = 0; i < bc->skew; i++) { /* move head off 0: the copy wraps */
            int x = i;
            assert_int_equal(ch_trysend(c[k], &x), 0);
            assert_int_equal(ch_tryrecv(c[k], &x), 0);
        }
        for (int i = 0; i < bc->cap; i++) {
            int x = 100 + i;
            assert_int_equal(ch_trysend(c[k], &x), 0);
        }
        for (int i = 0; i < 3; i++) {
            b[k][i] = (struct blocked){.c = c[k], .id = 10 + i, .rc = -1};
            co_spawn(blocked_sender, &b[k][i], NULL);
        }
    }
    co_yield(); /* the senders run and park: both channels are full (or unbuffered) */
    int one[16], many[16], n1 = 0, n2 = 0, x;
    bc->ok = true;
    for (unsigned got; n2 < 16 && (got = ch_tryrecv_burst(c[1], &many[n2], (unsigned)bc->n)) > 0;) {
        for (unsigned i = 0; i < got && ch_tryrecv(c[0], &x) == 0; i++)
            one[n1++] = x;
        n2 += (int)got;
        bc->ok &= ch_len(c[0]) == ch_len(c[1]); /* the same senders have filled the same slots */
    }
    while (n1 < 16 && ch_tryrecv(c[0], &x) == 0)
        one[n1++] = x;
    bc->ok &= n1 == bc->cap + 3 && n1 == n2 && memcmp(one, many, sizeof(int) * (size_t)n1) == 0 &&
              ch_tryrecv(c[1], &x) == EAGAIN;
    co_yield(); /* the senders finish */
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 3; i++)
            bc->ok &= b[k][i].rc == 0;
        ch_close(c[k]);
        bc->ok &= ch_tryrecv_burst(c[k], &x, 1) == 0 && ch_tryrecv(c[k], &x) == EPIPE;
        ch_free(c[k]);
    }
}

static void test_tryrecv_burst_matches_tryrecv(void **state)
{
    (void)state;
    static const int caps[] = {0, 1, 3, 5}, ns[] = {1, 2, 4, 7};
    for (size_t ci = 0; ci < 4; ci++)
        for (int skew = 0; skew < (caps[ci] ? caps[ci] : 1); skew++)
            for (size_t ni = 0; ni < 4; ni++) {
                co_sched_t *s = co_sched_new(NULL);
                struct burst_case bc = {.cap = caps[ci], .skew = skew, .n = ns[ni]};
                co_spawn(burst_checker, &bc, NULL);
                assert_int_equal(co_sched_run(s), 0);
                if (!bc.ok)
                    fail_msg("cap %d skew %d burst %d differs", bc.cap, skew, bc.n);
                assert_int_equal(co_sched_free(s, stderr), 0);
            }
}

static void feed_three(void *arg)
{
    struct pair *p = arg;
    co_yield();
    for (int i = 0; i < 3; i++)
        assert_int_equal(ch_send(p->c, &i, CO_BACKGROUND), 0);
}

static void test_blocked_receivers_served_fifo(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct pair p = {.c = ch_new(sizeof(int), 2)};
    struct blocked b[3];
    for (int i = 0; i < 3; i++) {
        b[i] = (struct blocked){.c = p.c, .val = -1, .rc = -1};
        co_spawn(blocked_receiver, &b[i], NULL);
    }
    co_spawn(feed_three, &p, NULL);
    assert_int_equal(co_sched_run(s), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(b[i].rc, 0);
        assert_int_equal(b[i].val, i);
    }
    ch_free(p.c);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- close ------------------------------------------------------------------------- */

static void closer(void *arg)
{
    struct pair *p = arg;
    co_yield();
    assert_int_equal(ch_close(p->c), 0);
    assert_int_equal(ch_close(p->c), EPIPE); /* twice: reported, not fatal */
}

static void test_close_drains_then_reports(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    ch_t *c = ch_new(sizeof(int), 4);
    for (int i = 0; i < 2; i++)
        ch_trysend(c, &i);
    assert_int_equal(ch_close(c), 0);
    assert_true(ch_closed(c));
    int x = 5;
    assert_int_equal(ch_trysend(c, &x), EPIPE);
    assert_int_equal(ch_tryrecv(c, &x), 0);
    assert_int_equal(x, 0);
    assert_int_equal(ch_tryrecv(c, &x), 0);
    assert_int_equal(x, 1);
    x = 77;
    assert_int_equal(ch_tryrecv(c, &x), EPIPE);
    assert_int_equal(x, 77); /* untouched */
    ch_free(c);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

static void test_close_wakes_parked(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct pair pr = {.c = ch_new(sizeof(int), 0)};
    struct pair ps = {.c = ch_new(sizeof(int), 0)};
    struct blocked r[2], w[2];
    for (int i = 0; i < 2; i++) {
        r[i] = (struct blocked){.c = pr.c, .val = -1, .rc = -1};
        w[i] = (struct blocked){.c = ps.c, .id = i, .rc = -1};
        co_spawn(blocked_receiver, &r[i], NULL);
        co_spawn(blocked_sender, &w[i], NULL);
    }
    co_spawn(closer, &pr, NULL);
    co_spawn(closer, &ps, NULL);
    assert_int_equal(co_sched_run(s), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r[i].rc, EPIPE);
        assert_int_equal(r[i].val, -1);
        assert_int_equal(w[i].rc, EPIPE);
    }
    ch_free(pr.c);
    ch_free(ps.c);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- contexts --------------------------------------------------------------------- */

struct cancel_case {
    co_t *sender;
    ch_t *c;
    co_ctx_t *ctx;
    int send_rc, recv_rc;
    int got;
};

static void cancelled_sender(void *arg)
{
    struct cancel_case *k = arg;
    int v = 1;
    k->send_rc = ch_send(k->c, &v, k->ctx);
}

static void cancel_then_receive(void *arg)
{
    struct cancel_case *k = arg;
    co_yield();
    co_ctx_cancel(k->ctx);
    /* The cancellation reaches the parked sender at the scheduler's next pass; until
     * then it is still a legitimate rendezvous partner. Wait for that pass... */
    while (co_is_parked(k->sender))
        co_yield();
    /* ...after which the sender is runnable but has not run: its element must not be
     * taken. */
    k->recv_rc = ch_tryrecv(k->c, &k->got);
}

static void test_cancelled_send_is_not_delivered(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct cancel_case k = {.c = ch_new(sizeof(int), 0), .ctx = co_ctx_with_cancel(NULL)};
    k.sender = co_spawn(cancelled_sender, &k, NULL);
    co_spawn(cancel_then_receive, &k, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(k.send_rc, ECANCELED);
    assert_int_equal(k.recv_rc, EAGAIN);
    ch_free(k.c);
    co_ctx_free(k.ctx);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

static void timed_recv(void *arg)
{
    struct cancel_case *k = arg;
    k->recv_rc = ch_recv(k->c, &k->got, k->ctx);
}

static void test_recv_times_out(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    uint64_t t0 = co_now_ns(); /* before the timeout starts: a preemption between the two
                                  made the check below fail under load */
    struct cancel_case k = {.c = ch_new(sizeof(int), 1), .ctx = co_ctx_with_timeout(NULL, 2000000)};
    co_spawn(timed_recv, &k, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(k.recv_rc, ETIMEDOUT);
    assert_true(co_now_ns() - t0 >= 2000000);
    ch_free(k.c); /* the waiter left the queue: freeing is allowed */
    co_ctx_free(k.ctx);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- element sizes ------------------------------------------------------------------ */

struct quote {
    uint64_t seq;
    uint32_t price;
    char side;
    char sym[11];
};

static void quote_producer(void *arg)
{
    ch_t *c = arg;
    for (uint64_t i = 0; i < 100; i++) {
        struct quote q = {.seq = i, .price = (uint32_t)(i * 100), .side = i % 2 ? 'B' : 'S'};
        snprintf(q.sym, sizeof(q.sym), "SYM%llu", (unsigned long long)i);
        assert_int_equal(ch_send(c, &q, CO_BACKGROUND), 0);
    }
    ch_close(c);
}

static void quote_consumer(void *arg)
{
    ch_t *c = arg;
    struct quote q;
    uint64_t n = 0;
    while (ch_recv(c, &q, CO_BACKGROUND) == 0) {
        char want[11];
        snprintf(want, sizeof(want), "SYM%llu", (unsigned long long)n);
        assert_int_equal(q.seq, n);
        assert_int_equal(q.price, n * 100);
        assert_int_equal(q.side, n % 2 ? 'B' : 'S');
        assert_string_equal(q.sym, want);
        n++;
    }
    assert_int_equal(n, 100);
}

static void test_struct_and_byte_elements(void **state)
{
    (void)state;
    for (size_t cap = 0; cap <= 7; cap += 7) {
        co_sched_t *s = co_sched_new(NULL);
        ch_t *c = ch_new(sizeof(struct quote), cap);
        co_spawn(quote_consumer, c, NULL);
        co_spawn(quote_producer, c, NULL);
        assert_int_equal(co_sched_run(s), 0);
        ch_free(c);
        assert_int_equal(co_sched_free(s, stderr), 0);
    }
    ch_t *b = ch_new(1, 3);
    char x = 'a', y = 0;
    assert_int_equal(ch_trysend(b, &x), 0);
    assert_int_equal(ch_tryrecv(b, &y), 0);
    assert_int_equal(y, 'a');
    ch_free(b);
    assert_null(ch_new(0, 1));
    assert_int_equal(errno, EINVAL);
    assert_null(ch_new(65536, 1));
}

static void ptr_consumer(void *arg)
{
    ch_t *c = arg;
    void *p;
    for (uintptr_t i = 1; i <= 50; i++) {
        assert_int_equal(ch_recv_ptr(c, &p, CO_BACKGROUND), 0);
        assert_ptr_equal(p, (void *)i);
    }
}

static void ptr_producer(void *arg)
{
    ch_t *c = arg;
    for (uintptr_t i = 1; i <= 50; i++)
        assert_int_equal(ch_send_ptr(c, (void *)i, CO_BACKGROUND), 0);
}

static void test_pointer_fast_path(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    ch_t *c = ch_new(sizeof(void *), 0);
    co_spawn(ptr_consumer, c, NULL);
    co_spawn(ptr_producer, c, NULL);
    assert_int_equal(co_sched_run(s), 0);
    ch_free(c);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- errors as data: a result channel -------------------------------------------------- */

struct lookup {
    ch_t *requests; /* uint64_t keys */
    ch_t *results;  /* ch_result_t */
};

/* A worker answers each key with its square, or ENOENT for odd keys. */
static void lookup_worker(void *arg)
{
    struct lookup *l = arg;
    uint64_t key;
    while (ch_recv(l->requests, &key, CO_BACKGROUND) == 0) {
        ch_result_t r =
            key % 2 ? (ch_result_t){.err = ENOENT} : (ch_result_t){.err = 0, .value = key * key};
        ch_send(l->results, &r, CO_BACKGROUND);
    }
    ch_close(l->results);
}

static void lookup_client(void *arg)
{
    struct lookup *l = arg;
    for (uint64_t k = 0; k < 6; k++)
        ch_send(l->requests, &k, CO_BACKGROUND);
    ch_close(l->requests);
    ch_result_t r;
    uint64_t k = 0;
    while (ch_recv(l->results, &r, CO_BACKGROUND) == 0) {
        if (k % 2) {
            assert_int_equal(r.err, ENOENT);
        } else {
            assert_int_equal(r.err, 0);
            assert_int_equal(r.value, k * k);
        }
        k++;
    }
    assert_int_equal(k, 6);
}

static void test_result_channel_carries_errors(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct lookup l = {.requests = ch_new(sizeof(uint64_t), 8),
                       .results = ch_new(sizeof(ch_result_t), 8)};
    co_spawn(lookup_worker, &l, NULL);
    co_spawn(lookup_client, &l, NULL);
    assert_int_equal(co_sched_run(s), 0);
    ch_free(l.requests);
    ch_free(l.results);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffered_fifo_len_cap),
        cmocka_unit_test(test_unbuffered_rendezvous),
        cmocka_unit_test(test_direct_handoff_to_parked_receiver),
        cmocka_unit_test(test_blocked_senders_served_fifo),
        cmocka_unit_test(test_tryrecv_burst_matches_tryrecv),
        cmocka_unit_test(test_blocked_receivers_served_fifo),
        cmocka_unit_test(test_close_drains_then_reports),
        cmocka_unit_test(test_close_wakes_parked),
        cmocka_unit_test(test_cancelled_send_is_not_delivered),
        cmocka_unit_test(test_recv_times_out),
        cmocka_unit_test(test_struct_and_byte_elements),
        cmocka_unit_test(test_pointer_fast_path),
        cmocka_unit_test(test_result_channel_carries_errors),
    };
    return cmocka_run_group_tests_name("chan_local", tests, NULL, NULL);
}
