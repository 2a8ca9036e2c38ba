/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SPSC channels: a lock-free ring between one producer thread and one consumer
 * thread, in the style of DPDK's rte_ring SP/SC mode.
 *
 * Each side owns one cache line: the producer's holds the tail it publishes and its
 * cached copy of the consumer's head; the consumer's holds the head it publishes and
 * its cached copy of the tail. A side reads the other's line only when its cached
 * copy says the ring is full (producer) or empty (consumer), so in steady state each
 * burst costs one release store and, now and then, one acquire load of the other
 * line.
 *
 * Memory ordering: the producer writes the slots, then publishes the tail with a
 * release store; the consumer loads the tail with acquire before reading the slots.
 * Symmetrically the consumer publishes its head with release after reading the
 * slots, and the producer acquires it before overwriting them. Closing is a release
 * store after the last tail store, so a consumer that acquires "closed" and then
 * finds the ring empty has seen everything.
 *
 * Blocking is the scheduler's business: a coroutine that finds the ring empty (or
 * full) registers its side's poll hook and parks; the hook runs on every scheduler
 * pass, reads the other side's index and readies the coroutine when it moved.
 */
#include "chan_internal.h"

#include <errno.h>
#include <numa.h>
#include <stdio.h>
#include <stdlib.h>

struct chs_side {
    _Atomic uint32_t pos;        /* producer: tail (next slot to fill); consumer: head */
    uint32_t other;              /* cached copy of the other side's pos */
    struct side_waiter *waiters; /* coroutines of this side parked on the ring */
    co_poll_t poll;              /* registered while any is parked */
#ifndef NDEBUG
    _Atomic(const void *) owner; /* debug builds: the one thread allowed on this side */
#endif
} __attribute__((aligned(CH_CACHE_LINE)));

struct chs {
    struct chs_side prod;
    struct chs_side cons;
    _Atomic bool closed __attribute__((aligned(CH_CACHE_LINE)));
    uint32_t mask;
    uint32_t esz;
    bool on_numa; /* memory from numa_alloc_onnode */
    size_t bytes;
    unsigned char slots[] __attribute__((aligned(CH_CACHE_LINE)));
};

_Static_assert(offsetof(struct chs, cons) % CH_CACHE_LINE == 0, "sides share a cache line");

#ifndef NDEBUG
static CH_TLS char thread_token;

/* Debug builds: a second producer (or consumer) thread is a bug; stop it loudly. */
static void check_owner(struct chs_side *side, const chs_t *c, const char *role)
{
    const void *me = &thread_token, *expected = NULL;
    if (CH_LIKELY(atomic_load_explicit(&side->owner, memory_order_relaxed) == me))
        return;
    if (atomic_compare_exchange_strong(&side->owner, &expected, me))
        return;
    fprintf(stderr, "mdmux: fatal: SPSC channel %p used by a second %s thread\n", (void *)c, role);
    abort();
}
#define CHECK_PRODUCER(c) check_owner(&(c)->prod, (c), "producer")
#define CHECK_CONSUMER(c) check_owner(&(c)->cons, (c), "consumer")
#else
#define CHECK_PRODUCER(c) ((void)0)
#define CHECK_CONSUMER(c) ((void)0)
#endif

struct side_waiter;
static unsigned prod_ready(co_poll_t *p);
static unsigned cons_ready(co_poll_t *p);

chs_t *chs_new(size_t elem_size, size_t cap, int numa_node)
{
    if (elem_size == 0 || elem_size > 65535 || cap > (1u << 30)) {
        errno = EINVAL;
        return NULL;
    }
    size_t slots = 2;
    while (slots < cap)
        slots <<= 1;
    size_t bytes = sizeof(chs_t) + slots * elem_size;
    chs_t *c;
    bool on_numa = numa_node >= 0 && numa_available() >= 0;
    if (on_numa) {
        c = numa_alloc_onnode(bytes, numa_node); /* page-aligned, zeroed */
        if (!c) {
            errno = ENOMEM;
            return NULL;
        }
    } else {
        c = co_mem_alloc(bytes, CH_CACHE_LINE);
        if (!c)
            return NULL;
    }
    c->mask = (uint32_t)slots - 1;
    c->esz = (uint32_t)elem_size;
    c->on_numa = on_numa;
    c->bytes = bytes;
    c->prod.poll.fn = prod_ready;
    c->cons.poll.fn = cons_ready;
    return c;
}

void chs_free(chs_t *c)
{
    if (!c)
        return;
    if (c->on_numa)
        numa_free(c, c->bytes);
    else
        co_mem_free(c);
}

/* Copy @p n elements between @p elems and the ring starting at index @p at. */
static inline void ring_copy(chs_t *c, uint32_t at, void *elems, unsigned n, bool in)
{
    if (n == 1 && c->esz == sizeof(uint64_t)) { /* one pointer-sized element: one move */
        uint64_t *slot = (uint64_t *)c->slots + (at & c->mask);
        if (in)
            memcpy(slot, elems, sizeof(uint64_t));
        else
            memcpy(elems, slot, sizeof(uint64_t));
        return;
    }
    uint32_t idx = at & c->mask;
    uint32_t first = c->mask + 1 - idx;
    if (first > n)
        first = n;
    size_t esz = c->esz;
    unsigned char *ring = c->slots + idx * esz, *user = elems;
    if (in) {
        memcpy(ring, user, first * esz);
        if (n > first) /* wrapped */
            memcpy(c->slots, user + first * esz, (n - first) * esz);
    } else {
        memcpy(user, ring, first * esz);
        if (n > first)
            memcpy(user + first * esz, c->slots, (n - first) * esz);
    }
}

unsigned chs_send_burst(chs_t *c, const void *elems, unsigned n)
{
    CHECK_PRODUCER(c);
    uint32_t tail = atomic_load_explicit(&c->prod.pos, memory_order_relaxed);
    uint32_t size = c->mask + 1;
    uint32_t free = size - (tail - c->prod.other);
    if (free < n) {
        c->prod.other = atomic_load_explicit(&c->cons.pos, memory_order_acquire);
        free = size - (tail - c->prod.other);
        if (free < n)
            n = free;
    }
    if (CH_UNLIKELY(n == 0 || atomic_load_explicit(&c->closed, memory_order_relaxed)))
        return 0;
    ring_copy(c, tail, (void *)elems, n, true);
    atomic_store_explicit(&c->prod.pos, tail + n, memory_order_release);
    return n;
}

unsigned chs_recv_burst(chs_t *c, void *elems, unsigned n)
{
    CHECK_CONSUMER(c);
    uint32_t head = atomic_load_explicit(&c->cons.pos, memory_order_relaxed);
    uint32_t avail = c->cons.other - head;
    if (avail < n) {
        c->cons.other = atomic_load_explicit(&c->prod.pos, memory_order_acquire);
        avail = c->cons.other - head;
        if (avail < n)
            n = avail;
    }
    if (n == 0)
        return 0;
    ring_copy(c, head, elems, n, false);
    atomic_store_explicit(&c->cons.pos, head + n, memory_order_release);
    return n;
}

void chs_close(chs_t *c)
{
    atomic_store_explicit(&c->closed, true, memory_order_release);
}

bool chs_closed(const chs_t *c)
{
    return atomic_load_explicit(&((chs_t *)c)->closed, memory_order_acquire);
}

size_t chs_len(const chs_t *c)
{
    chs_t *m = (chs_t *)c;
    uint32_t head = atomic_load_explicit(&m->cons.pos, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&m->prod.pos, memory_order_acquire);
    return tail - head;
}

size_t chs_cap(const chs_t *c)
{
    return (size_t)c->mask + 1;
}

size_t chs_elem_size(const chs_t *c)
{
    return c->esz;
}

/* ---- readiness, for blocking calls and select ---------------------------------------- */

/* Consumer: is there an element to take, or is the ring closed (EPIPE to report)? */
static bool cons_can_proceed(chs_t *c)
{
    uint32_t head = atomic_load_explicit(&c->cons.pos, memory_order_relaxed);
    return atomic_load_explicit(&c->prod.pos, memory_order_acquire) != head ||
           atomic_load_explicit(&c->closed, memory_order_acquire);
}

/* Producer: is there a free slot (or is it closed)? */
static bool prod_can_proceed(chs_t *c)
{
    uint32_t tail = atomic_load_explicit(&c->prod.pos, memory_order_relaxed);
    return tail - atomic_load_explicit(&c->cons.pos, memory_order_acquire) <= c->mask ||
           atomic_load_explicit(&c->closed, memory_order_relaxed);
}

bool chs_maybe_ready(chs_t *c, ch_op_t op)
{
    return op == CH_RECV ? cons_can_proceed(c) : prod_can_proceed(c);
}

int chs_try_op(chs_t *c, ch_op_t op, void *elem)
{
    if (op == CH_SEND) {
        if (atomic_load_explicit(&c->closed, memory_order_relaxed))
            return EPIPE;
        return chs_send_burst(c, elem, 1) ? 0 : EAGAIN;
    }
    if (chs_recv_burst(c, elem, 1))
        return 0;
    if (!atomic_load_explicit(&c->closed, memory_order_acquire))
        return EAGAIN;
    /* Closed: whatever was sent before the close is visible now; drain it first. */
    return chs_recv_burst(c, elem, 1) ? 0 : EPIPE;
}

/* ---- blocking ------------------------------------------------------------------------- */

/*
 * A coroutine parked on one side of the ring. Several coroutines of the side's
 * thread may block on it at once (they share the thread's single-producer or
 * single-consumer role); the side's poll hook, registered while any is parked, wakes
 * them all when the other side moves, and each retries.
 */
struct side_waiter {
    co_t *co;
    struct side_waiter *next, *prev;
};

static unsigned side_ready(struct chs_side *side, bool can_proceed)
{
    if (!can_proceed)
        return 0;
    unsigned n = 0;
    for (struct side_waiter *w = side->waiters; w; w = w->next)
        n += co_ready(w->co);
    return n; /* each removes its own node when it runs */
}

static unsigned cons_ready(co_poll_t *p)
{
    chs_t *c = (chs_t *)((char *)p - offsetof(chs_t, cons.poll));
    return side_ready(&c->cons, cons_can_proceed(c));
}

static unsigned prod_ready(co_poll_t *p)
{
    chs_t *c = (chs_t *)((char *)p - offsetof(chs_t, prod.poll));
    return side_ready(&c->prod, prod_can_proceed(c));
}

/* Park the calling coroutine on @p side until its poll hook sees progress. */
static int side_park(chs_t *c, struct chs_side *side, co_ctx_t *ctx, const char *what)
{
    struct side_waiter w = {.co = co_self(), .next = side->waiters};
    if (side->waiters)
        side->waiters->prev = &w;
    else
        co_poll_add(&side->poll); /* the first waiter registers the hook */
    side->waiters = &w;
    int r = co_park(ctx, UINT64_MAX, what, c);
    if (w.prev)
        w.prev->next = w.next;
    else
        side->waiters = w.next;
    if (w.next)
        w.next->prev = w.prev;
    if (!side->waiters)
        co_poll_del(&side->poll); /* the last one out removes it */
    return r;
}

/* Outside a coroutine there is nothing to switch to: spin, still honouring ctx. */
static int spin_once(co_ctx_t *ctx)
{
    for (int i = 0; i < 64; i++)
        __builtin_ia32_pause();
    return co_ctx_err(ctx);
}

int chs_send(chs_t *c, const void *elem, co_ctx_t *ctx)
{
    for (;;) {
        int r = chs_try_op(c, CH_SEND, (void *)elem);
        if (r != EAGAIN)
            return r;
        r = co_self() ? side_park(c, &c->prod, ctx, "spsc send") : spin_once(ctx);
        if (r)
            return r;
    }
}

int chs_recv(chs_t *c, void *elem, co_ctx_t *ctx)
{
    for (;;) {
        int r = chs_try_op(c, CH_RECV, elem);
        if (r != EAGAIN)
            return r;
        r = co_self() ? side_park(c, &c->cons, ctx, "spsc recv") : spin_once(ctx);
        if (r)
            return r;
    }
}
