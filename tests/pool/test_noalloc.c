/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The data path allocates nothing. This test interposes every allocator entry point
 * the project can reach — libc's malloc family, mimalloc's mi_* functions, mmap —
 * counts the calls, and runs a steady-state pipeline: objects from a pool travel
 * through local channels, a select and an SPSC channel fed by a poll-loop thread,
 * and go back to the pool. After a warm-up, the counts must not move.
 *
 * Sanitizer runtimes own malloc themselves, so there the test reports a skip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <mimalloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "pool.h"
#include "testutil.h"

#if !CO_SANITIZED

static _Atomic uint64_t allocations;

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

#define COUNT() atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed)

void *malloc(size_t n)
{
    COUNT();
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    COUNT();
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    COUNT();
    return __libc_realloc(p, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    COUNT();
    *out = __libc_memalign(align, n);
    return *out ? 0 : ENOMEM;
}

void *aligned_alloc(size_t align, size_t n)
{
    COUNT();
    return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n)
{
    COUNT();
    return __libc_memalign(align, n);
}

/* mimalloc: count, then forward to the library's own definition. */
#define FORWARD(ret, name, params, args)                                                           \
    ret name params                                                                                \
    {                                                                                              \
        static ret(*real) params;                                                                  \
        if (!real)                                                                                 \
            real = (ret(*) params)dlsym(RTLD_NEXT, #name);                                         \
        COUNT();                                                                                   \
        return real args;                                                                          \
    }

FORWARD(void *, mi_malloc, (size_t n), (n))
FORWARD(void *, mi_zalloc, (size_t n), (n))
FORWARD(void *, mi_calloc, (size_t a, size_t b), (a, b))
FORWARD(void *, mi_realloc, (void *p, size_t n), (p, n))
FORWARD(void *, mi_malloc_aligned, (size_t n, size_t a), (n, a))
FORWARD(void *, mi_zalloc_aligned, (size_t n, size_t a), (n, a))
FORWARD(void *, mmap, (void *a, size_t n, int prot, int flags, int fd, off_t off),
        (a, n, prot, flags, fd, off))

/* ---- the steady-state pipeline --------------------------------------------------------- */

enum { LANES = 4, BURST = 8 };

struct pipeline {
    pool_t *pool;
    ch_t *lanes[LANES]; /* local, buffered: producer -> consumer through select */
    ch_t *unbuffered;   /* local rendezvous back to the producer */
    chs_t *from_rx;     /* SPSC from a poll-loop "RX" thread */
    pool_t *rx_pool;
    _Atomic bool stop;
    uint64_t rounds, moved;
    uint64_t marks[4]; /* allocations and items moved, after warm-up and at the end */
};

static void producer(void *arg)
{
    struct pipeline *p = arg;
    void *objs[BURST];
    for (;;) {
        unsigned n = pool_get_burst(p->pool, objs, BURST);
        for (unsigned i = 0; i < n; i++)
            ch_send_ptr(p->lanes[i % LANES], objs[i], NULL);
        for (unsigned i = 0; i < n; i++) {
            void *back;
            if (ch_recv_ptr(p->unbuffered, &back, NULL) != 0)
                return;
            pool_put(p->pool, back);
        }
        p->rounds++;
        if (atomic_load(&p->stop))
            break;
    }
    for (int i = 0; i < LANES; i++)
        ch_close(p->lanes[i]);
}

static void consumer(void *arg)
{
    struct pipeline *p = arg;
    void *got[LANES + 1];
    ch_case_t cases[LANES + 1];
    for (int i = 0; i < LANES; i++)
        cases[i] = (ch_case_t){.op = CH_RECV, .local = p->lanes[i], .elem = &got[i]};
    cases[LANES] = (ch_case_t){.op = CH_RECV, .spsc = p->from_rx, .elem = &got[LANES]};
    int open = LANES + 1;
    while (open > 0) {
        int k = ch_select(cases, open, 0, UINT64_MAX, NULL);
        if (k < 0)
            break;
        if (cases[k].result == EPIPE) {
            cases[k] = cases[--open];
            continue;
        }
        p->moved++;
        if (cases[k].spsc)
            pool_put(p->rx_pool, *(void **)cases[k].elem); /* any thread may put */
        else
            ch_send_ptr(p->unbuffered, *(void **)cases[k].elem, NULL);
    }
}

static void *rx_thread(void *arg)
{
    struct pipeline *p = arg;
    void *objs[BURST];
    while (!atomic_load(&p->stop)) {
        unsigned n = pool_get_burst(p->rx_pool, objs, BURST);
        unsigned sent = chs_send_burst(p->from_rx, objs, n);
        if (sent < n)
            pool_put_burst(p->rx_pool, objs + sent, n - sent);
    }
    chs_close(p->from_rx);
    return NULL;
}

static void stopper(void *arg)
{
    struct pipeline *p = arg;
    uint64_t *marks = p->marks;
    co_sleep(20000000, NULL); /* warm-up: every cache, ring and stack reaches size */
    marks[0] = atomic_load(&allocations);
    marks[2] = p->moved;
    co_sleep(100000000, NULL); /* steady state */
    marks[1] = atomic_load(&allocations);
    marks[3] = p->moved;
    atomic_store(&p->stop, true);
}

static void test_steady_state_allocates_nothing(void **state)
{
    (void)state;
    static struct pipeline t;
    struct pipeline *p = &t;
    p->pool = pool_new(&(pool_opts_t){.elem_size = 64, .count = 256, .numa_node = -1});
    p->rx_pool = pool_new(&(pool_opts_t){.elem_size = 64, .count = 256, .numa_node = -1});
    for (int i = 0; i < LANES; i++)
        p->lanes[i] = ch_new(sizeof(void *), 4);
    p->unbuffered = ch_new(sizeof(void *), 0);
    p->from_rx = chs_new(sizeof(void *), 64, -1);
    co_sched_t *s = co_sched_new(&(co_sched_opts_t){.idle = CO_IDLE_PAUSE});
    co_spawn(consumer, p, &(co_opts_t){.name = "consumer"});
    co_spawn(producer, p, &(co_opts_t){.name = "producer"});
    co_spawn(stopper, p, &(co_opts_t){.name = "stopper"});
    pthread_t rx;
    pthread_create(&rx, NULL, rx_thread, p);
    assert_int_equal(co_sched_run(s), 0);
    pthread_join(rx, NULL);
    print_message("steady state: %llu items moved, %llu allocations (warm-up made %llu)\n",
                  (unsigned long long)(t.marks[3] - t.marks[2]),
                  (unsigned long long)(t.marks[1] - t.marks[0]), (unsigned long long)t.marks[0]);
    assert_true(t.marks[3] - t.marks[2] > 10000); /* the pipeline really ran */
    assert_true(t.marks[0] > 0);                  /* the counter really counts */
    assert_int_equal(t.marks[1] - t.marks[0], 0);
    assert_int_equal(co_sched_free(s, stderr), 0);
    for (int i = 0; i < LANES; i++)
        ch_free(p->lanes[i]);
    ch_free(p->unbuffered);
    chs_free(p->from_rx);
    pool_free(p->pool);
    pool_free(p->rx_pool);
}

#else

static void test_steady_state_allocates_nothing(void **state)
{
    (void)state;
    print_message("skipped: sanitizer runtimes own malloc, so it cannot be interposed\n");
    skip();
}

#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steady_state_allocates_nothing),
    };
    return cmocka_run_group_tests_name("pool_noalloc", tests, NULL, NULL);
}
