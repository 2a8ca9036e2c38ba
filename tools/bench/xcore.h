/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tools/bench: the two-core SPSC harness, shared by bench_chan (lib/chan's chs_t) and
 * its rte_ring anchor (ring_anchor.c), so that both are timed by the same code.
 *
 * A producer thread pinned on one CPU enqueues the objects 1, 2, ..., n (pointer-sized)
 * in bursts from a plain poll loop; a consumer thread pinned on another CPU dequeues in
 * bursts of the same size and checks that every object arrives, in order. The figure is
 * the consumer's wall time (TSC) from releasing the producer to the last object,
 * divided by n. A call that moves nothing is followed by one PAUSE on either side.
 *
 * Use: the first part (guarded) declares the harness. A file that instantiates it
 * defines XCORE_NAME (a prefix), XCORE_SEND(ring, objs, n) and XCORE_RECV(ring, objs, n)
 * (each returns how many of the n pointer-sized objects it moved, never blocking) and
 * includes this header again; that defines `static void <XCORE_NAME>_xcore(struct
 * xcore *)`. The send and receive calls are expanded in the loops, so an inline API
 * stays inline: rte_ring's is, and so are chs_send_burst() and chs_recv_burst().
 */
#ifndef MDMUX_BENCH_XCORE_H
#define MDMUX_BENCH_XCORE_H

#include "bench.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

/** Largest burst the harness supports. */
#define XCORE_BURST_MAX 256

struct xcore {
    /* in */
    void *ring;
    unsigned burst;
    uint64_t n;
    int prod_cpu, cons_cpu;
    /* out */
    uint64_t ticks;      /* consumer: release of the producer -> last object dequeued */
    uint64_t prod_ticks; /* producer: release -> last object enqueued */
    uint64_t full;       /* producer calls that enqueued nothing */
    uint64_t empty;      /* consumer calls that dequeued nothing */
    uint64_t recvs;      /* consumer calls that dequeued something */
    /* internal */
    atomic_int ready, go;
};

static inline void xcore_pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (rc != 0)
        bench_die("pthread_setaffinity_np(CPU %d): %s", cpu, strerror(rc));
}

static inline void xcore_pause(void)
{
    __builtin_ia32_pause();
}

/* Start both threads, wait for both; the stamps and counters land in *x. */
static inline void xcore_launch(struct xcore *x, void *(*prod)(void *), void *(*cons)(void *))
{
    pthread_t tp, tc;
    if (x->burst == 0 || x->burst > XCORE_BURST_MAX)
        bench_die("xcore: burst %u out of 1..%d", x->burst, XCORE_BURST_MAX);
    atomic_store(&x->ready, 0);
    atomic_store(&x->go, 0);
    x->ticks = x->prod_ticks = x->full = x->empty = x->recvs = 0;
    int rc = pthread_create(&tc, NULL, cons, x);
    if (rc == 0)
        rc = pthread_create(&tp, NULL, prod, x);
    if (rc != 0)
        bench_die("pthread_create: %s", strerror(rc));
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
}

#ifdef BENCH_HAVE_RTE_RING
/* ring_anchor.c: an rte_ring SP/SC of @count slots (power of two, count - 1 usable), in
 * aligned_alloc()ed memory, without the EAL; and the harness run on it. */
void *bench_ring_new(unsigned count);
void bench_ring_free(void *ring);
void bench_ring_xcore(struct xcore *x);
#endif

#endif /* MDMUX_BENCH_XCORE_H */

/* ---- the template part: instantiated once per XCORE_NAME ------------------------- */
#ifdef XCORE_NAME

#define XCORE_CAT2(a, b) a##b
#define XCORE_CAT(a, b)  XCORE_CAT2(a, b)

static void *XCORE_CAT(XCORE_NAME, _producer)(void *arg)
{
    struct xcore *x = arg;
    void *ring = x->ring;
    const unsigned burst = x->burst;
    const uint64_t end = x->n + 1;
    uintptr_t objs[XCORE_BURST_MAX];
    uint64_t next = 1, full = 0;

    xcore_pin(x->prod_cpu);
    atomic_store_explicit(&x->ready, 1, memory_order_release);
    while (!atomic_load_explicit(&x->go, memory_order_acquire))
        xcore_pause();
    uint64_t t0 = co_tsc();
    while (next < end) {
        unsigned m = end - next < burst ? (unsigned)(end - next) : burst;
        for (unsigned i = 0; i < m; i++)
            objs[i] = (uintptr_t)(next + i);
        unsigned k = XCORE_SEND(ring, objs, m);
        next += k;
        if (k == 0) {
            full++;
            xcore_pause();
        }
    }
    x->prod_ticks = co_tsc() - t0;
    x->full = full;
    return NULL;
}

static void *XCORE_CAT(XCORE_NAME, _consumer)(void *arg)
{
    struct xcore *x = arg;
    void *ring = x->ring;
    const unsigned burst = x->burst;
    const uint64_t end = x->n + 1;
    uintptr_t objs[XCORE_BURST_MAX];
    uint64_t expect = 1, empty = 0, recvs = 0, bad = 0;

    xcore_pin(x->cons_cpu);
    while (!atomic_load_explicit(&x->ready, memory_order_acquire))
        xcore_pause();
    uint64_t t0 = co_tsc();
    atomic_store_explicit(&x->go, 1, memory_order_release);
    while (expect < end) {
        unsigned k = XCORE_RECV(ring, objs, burst);
        if (k == 0) {
            empty++;
            xcore_pause();
            continue;
        }
        recvs++;
        for (unsigned i = 0; i < k; i++)
            bad |= objs[i] ^ (uintptr_t)(expect + i); /* order and content */
        expect += k;
    }
    x->ticks = co_tsc() - t0;
    if (bad || expect != end)
        bench_die("xcore: objects out of order or lost (%" PRIu64 " of %" PRIu64 " received)",
                  expect - 1, x->n);
    x->empty = empty;
    x->recvs = recvs;
    return NULL;
}

static void XCORE_CAT(XCORE_NAME, _xcore)(struct xcore *x)
{
    xcore_launch(x, XCORE_CAT(XCORE_NAME, _producer), XCORE_CAT(XCORE_NAME, _consumer));
}

#undef XCORE_NAME
#undef XCORE_SEND
#undef XCORE_RECV
#endif /* XCORE_NAME */
