/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SPSC channels: a lock-free ring between one producer thread and one consumer
 * thread, in the style of DPDK's rte_ring SP/SC mode.
 *
 * The ring's layout, the memory-ordering argument and the inline fast paths
 * (chs_send_burst, chs_recv_burst) are in chan_spsc.h; this file holds what is out of
 * line: creation, multi-element copies, close, readiness, blocking.
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

_Static_assert(offsetof(struct chs, cons) % CHS_SIDE_ALIGN == 0, "sides share a line pair");
_Static_assert(offsetof(struct chs, mask) % CHS_SIDE_ALIGN == 0,
               "the constants share no side's pair");

static CH_TLS char thread_token;

/* Debug builds: a second producer (or consumer) thread is a bug; stop it loudly. The
 * first thread to use a side claims it. (Compiled in every build, called only from
 * debug builds' fast paths, so a debug caller links against a release library.) */
void chs__check_owner(chs_t *c, int role)
{
    struct chs_side *side = role ? &c->cons : &c->prod;
    const void *me = &thread_token, *expected = NULL;
    if (CH_LIKELY(atomic_load_explicit(&side->owner, memory_order_relaxed) == me))
        return;
    if (atomic_compare_exchange_strong(&side->owner, &expected, me))
        return;
    fprintf(stderr, "mdmux: fatal: SPSC channel %p used by a second %s thread\n", (void *)c,
            role ? "consumer" : "producer");
    abort();
}

static unsigned prod_ready(co_poll_t *p);
static unsigned cons_ready(co_poll_t *p);

/*
 * Where in its allocation the next channel starts: 0, 128, ... 3968 bytes in turn.
 * A ring of any size is page-aligned (numa_alloc_onnode, and mimalloc for large
 * blocks), so without this every channel's producer block would sit at offset 0 of a
 * page: the same L1 set for all of them (set = address bits 6-11). A handler lcore's
 * watch list reads the producer block of every parked line on every scheduler pass,
 * 100 of them for 50 feeds, and an 8-way set held 8: each pass missed L1 on nearly
 * all (perf, `tools/demo`: `watch_poll` was 45 % of the handler lcore, its time on
 * the loads). With 32 colours they spread over 32 sets (the sides are 128-byte
 * aligned, so every other set). Costs up to 3968 bytes a channel.
 */
static size_t next_colour(void)
{
    static _Atomic unsigned n;
    unsigned k = atomic_fetch_add_explicit(&n, 1, memory_order_relaxed);
    return (size_t)(k % (4096 / CHS_SIDE_ALIGN)) * CHS_SIDE_ALIGN;
}

chs_t *chs_new(size_t elem_size, size_t cap, int numa_node)
{
    if (elem_size == 0 || elem_size > 65535 || cap > (1u << 30)) {
        errno = EINVAL;
        return NULL;
    }
    size_t slots = 2;
    while (slots < cap)
        slots <<= 1;
    size_t colour = next_colour();
    size_t bytes = colour + sizeof(chs_t) + slots * elem_size;
    char *base;
    bool on_numa = numa_node >= 0 && numa_available() >= 0;
    if (on_numa) {
        base = numa_alloc_onnode(bytes, numa_node); /* page-aligned, zeroed */
        if (!base) {
            errno = ENOMEM;
            return NULL;
        }
    } else {
        base = co_mem_alloc(bytes, CHS_SIDE_ALIGN);
        if (!base)
            return NULL;
    }
    chs_t *c = (chs_t *)(void *)(base + colour);
    c->mask = (uint32_t)slots - 1;
    c->esz = (uint32_t)elem_size;
    c->on_numa = on_numa;
    c->bytes = bytes;
    c->base = base;
    c->prod.poll.fn = prod_ready;
    c->cons.poll.fn = cons_ready;
    return c;
}

void chs_free(chs_t *c)
{
    if (!c)
        return;
    if (c->bell)
        c->bell->chan[c->bell_idx] = NULL;
    if (c->on_numa)
        numa_free(c->base, c->bytes);
    else
        co_mem_free(c->base);
}

/* Copy @p n elements between @p elems and the ring starting at index @p at (the
 * inline fast paths do one pointer-sized element themselves). A burst that does not
 * wrap is one memcpy. */
void chs__copy(chs_t *c, uint32_t at, void *elems, unsigned n, bool in)
{
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

void chs_close(chs_t *c)
{
    atomic_store_explicit(&c->prod.closed, true, memory_order_release);
    if (c->bell_word) /* a parked consumer must see the close as it sees data */
        chs_ring(c->bell_word, c->bell_bit);
}

/* ---- doorbells ------------------------------------------------------------------------ */

chs_bell_t *chs_bell_new(int numa_node)
{
    chs_bell_t *b;
    bool on_numa = numa_node >= 0 && numa_available() >= 0;
    if (on_numa) {
        b = numa_alloc_onnode(sizeof(*b), numa_node); /* page-aligned, zeroed */
        if (!b) {
            errno = ENOMEM;
            return NULL;
        }
    } else {
        b = co_mem_alloc(sizeof(*b), CHS_SIDE_ALIGN);
        if (!b)
            return NULL;
        memset(b, 0, sizeof(*b));
    }
    b->on_numa = on_numa;
    b->poll.fn = chs__bell_poll;
    return b;
}

void chs_bell_free(chs_bell_t *b)
{
    if (!b)
        return;
    if (b->n_armed != 0) { /* its poll hook is still on a scheduler: a use after free */
        fprintf(stderr, "mdmux: fatal: doorbell %p freed with %u selects parked on it\n", (void *)b,
                b->n_armed);
        abort();
    }
    for (unsigned i = 0; i < b->n_chans; i++) {
        chs_t *c = b->chan[i];
        if (c) { /* back to the watch list */
            c->bell = NULL;
            c->bell_word = NULL;
            c->bell_bit = 0;
        }
    }
    if (b->on_numa)
        numa_free(b, sizeof(*b));
    else
        co_mem_free(b);
}

int chs_bell_add(chs_bell_t *b, chs_t *c)
{
    if (c->bell)
        return -EBUSY;
    if (b->n_chans == CHS_BELL_MAX)
        return -ENOSPC;
    unsigned i = b->n_chans++;
    b->chan[i] = c;
    b->n_words = (b->n_chans + 63) / 64;
    c->bell = b;
    c->bell_idx = (uint16_t)i;
    c->bell_bit = 1ull << (i % 64);
    c->bell_word = &b->bits[i / 64];
    return 0;
}

unsigned chs_bell_len(const chs_bell_t *b)
{
    return b->n_chans;
}

/* Debug builds: every channel of a bell has one consumer thread (select.c's arming). */
void chs__check_bell_owner(chs_bell_t *b)
{
    const void *me = &thread_token, *expected = NULL;
    if (CH_LIKELY(atomic_load_explicit(&b->owner, memory_order_relaxed) == me))
        return;
    if (atomic_compare_exchange_strong(&b->owner, &expected, me))
        return;
    fprintf(stderr, "mdmux: fatal: doorbell %p armed by a second consumer thread\n", (void *)b);
    abort();
}

bool chs_closed(const chs_t *c)
{
    return atomic_load_explicit(&((chs_t *)c)->prod.closed, memory_order_acquire);
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
           atomic_load_explicit(&c->prod.closed, memory_order_acquire);
}

/* Producer: is there a free slot (or is it closed)? */
static bool prod_can_proceed(chs_t *c)
{
    uint32_t tail = atomic_load_explicit(&c->prod.pos, memory_order_relaxed);
    return tail - atomic_load_explicit(&c->cons.pos, memory_order_acquire) <= c->mask ||
           atomic_load_explicit(&c->prod.closed, memory_order_relaxed);
}

bool chs_maybe_ready(chs_t *c, ch_op_t op)
{
    return op == CH_RECV ? cons_can_proceed(c) : prod_can_proceed(c);
}

int chs_try_op(chs_t *c, ch_op_t op, void *elem)
{
    if (op == CH_SEND) {
        if (atomic_load_explicit(&c->prod.closed, memory_order_relaxed))
            return EPIPE;
        return chs_send_burst(c, elem, 1) ? 0 : EAGAIN;
    }
    return chs_try_recv(c, elem);
}

/* ---- blocking ------------------------------------------------------------------------- */

/*
 * A coroutine parked on one side of the ring. Several coroutines of the side's
 * thread may block on it at once (they share the thread's single-producer or
 * single-consumer role); the side's poll hook, registered while any is parked, wakes
 * them all when the other side moves, and each retries.
 */
struct chs_waiter_ {
    co_t *co;
    struct chs_waiter_ *next, *prev;
};

static unsigned side_ready(struct chs_side *side, bool can_proceed)
{
    if (!can_proceed)
        return 0;
    unsigned n = 0;
    for (struct chs_waiter_ *w = side->waiters; w; w = w->next)
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
    struct chs_waiter_ w = {.co = co_self(), .next = side->waiters};
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
