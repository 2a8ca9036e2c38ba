/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fixed-size object pools with per-thread caches over a lock-free shared store.
 *
 * The shared store is Dmitry Vyukov's bounded MPMC queue of object pointers: each
 * cell carries a sequence number that says whether it is ready to be written or read
 * at a given position, so producers and consumers claim positions with one CAS each.
 * Its capacity is at least twice the pool's object count, so a put never finds it
 * full; a get or put that meets a cell claimed but not yet released by another
 * thread (a window of a few instructions) pauses and retries rather than report a
 * false exhaustion.
 *
 * Each thread has a cache (a LIFO array, DPDK-mempool style, indexed by a small
 * per-thread number) that serves gets and puts with no atomics at all; it refills
 * half-full from the store when it runs dry and flushes half when it overflows.
 * Counters are single-writer, updated with relaxed stores and read by pool_stats().
 */
#include "pool.h"

#include <errno.h>
#include <numa.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_LINE    64
#define CACHE_DEFAULT 64u
#define CACHE_MAX     512u

struct cell {
    _Atomic size_t seq;
    void *obj;
};

/* One thread's cache: up to 2 x cache_size objects (a burst may overshoot). */
struct pool_cache {
    unsigned len, room;
    _Atomic uint64_t gets, puts, fails;
    void *objs[];
};

struct pool {
    char name[32];
    size_t esz, count;
    unsigned cache_size;
    char *mem;
    size_t mem_len;
    bool on_numa;
    struct cell *cells;
    size_t mask;
    _Atomic size_t enq __attribute__((aligned(CACHE_LINE)));
    _Atomic size_t deq __attribute__((aligned(CACHE_LINE)));
    /* threads beyond POOL_MAX_THREADS go straight to the store */
    _Atomic uint64_t direct_gets __attribute__((aligned(CACHE_LINE)));
    _Atomic uint64_t direct_puts, direct_fails;
    size_t cache_stride;
    char *caches; /* POOL_MAX_THREADS caches of cache_stride bytes */
};

static inline struct pool_cache *cache_at(const pool_t *p, int i)
{
    return (struct pool_cache *)(p->caches + (size_t)i * p->cache_stride);
}

/* ---- per-thread cache index -------------------------------------------------------- */

static _Atomic int next_thread;
static _Thread_local int thread_idx = -1; /* -1: not assigned; -2: no cache left */

static struct pool_cache *my_cache(pool_t *p)
{
    if (thread_idx == -1) {
        int idx = atomic_fetch_add(&next_thread, 1);
        thread_idx = idx < POOL_MAX_THREADS ? idx : -2;
    }
    return thread_idx >= 0 && p->caches ? cache_at(p, thread_idx) : NULL;
}

static inline void bump(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* ---- the shared store (Vyukov bounded MPMC queue) ---------------------------------- */

static size_t stored(const pool_t *p)
{
    pool_t *m = (pool_t *)p;
    /* deq first: enq only grows, so enq read after it is never behind it. */
    size_t deq = atomic_load_explicit(&m->deq, memory_order_acquire);
    size_t enq = atomic_load_explicit(&m->enq, memory_order_acquire);
    return enq - deq;
}

static bool store_push(pool_t *p, void *obj)
{
    size_t pos = atomic_load_explicit(&p->enq, memory_order_relaxed);
    for (;;) {
        struct cell *c = &p->cells[pos & p->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&p->enq, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                c->obj = obj;
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return true;
            }
        } else if (dif < 0) {
            /* The cell still holds position pos - size. If a reader has already
             * claimed that position it is about to release the cell: wait. If not, the
             * store is really full, which only an object returned twice can do. */
            size_t size = p->mask + 1;
            if (atomic_load_explicit(&p->deq, memory_order_acquire) + size <= pos)
                return false;
            __builtin_ia32_pause();
            pos = atomic_load_explicit(&p->enq, memory_order_relaxed);
        } else {
            pos = atomic_load_explicit(&p->enq, memory_order_relaxed);
        }
    }
}

static void *store_pop(pool_t *p)
{
    size_t pos = atomic_load_explicit(&p->deq, memory_order_relaxed);
    for (;;) {
        struct cell *c = &p->cells[pos & p->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&p->deq, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                void *obj = c->obj;
                atomic_store_explicit(&c->seq, pos + p->mask + 1, memory_order_release);
                return obj;
            }
        } else if (dif < 0) {
            /* Empty, or a writer claimed this cell and has not published it yet. */
            if ((intptr_t)(atomic_load_explicit(&p->enq, memory_order_acquire) - pos) <= 0)
                return NULL;
            __builtin_ia32_pause();
            pos = atomic_load_explicit(&p->deq, memory_order_relaxed);
        } else {
            pos = atomic_load_explicit(&p->deq, memory_order_relaxed);
        }
    }
}

static unsigned store_pop_burst(pool_t *p, void **objs, unsigned n)
{
    unsigned i = 0;
    while (i < n && (objs[i] = store_pop(p)) != NULL)
        i++;
    return i;
}

static void store_push_burst(pool_t *p, void *const *objs, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (!store_push(p, objs[i])) {
            fprintf(stderr, "mdmux: fatal: pool '%s': object %p returned twice\n", p->name,
                    objs[i]);
            abort();
        }
}

/* ---- creation ------------------------------------------------------------------------ */

pool_t *pool_new(const pool_opts_t *o)
{
    if (!o || !o->elem_size || !o->count || o->cache_size > CACHE_MAX ||
        o->count > (SIZE_MAX >> 2) / o->elem_size) {
        errno = EINVAL;
        return NULL;
    }
    size_t slots = 2;
    while (slots < 2 * o->count) /* twice over: writers never catch up with readers */
        slots <<= 1;
    pool_t *p = co_mem_alloc(sizeof(*p), CACHE_LINE);
    if (!p)
        return NULL;
    snprintf(p->name, sizeof(p->name), "%s", o->name ? o->name : "pool");
    p->esz = (o->elem_size + 7) & ~(size_t)7;
    if (p->esz >= CACHE_LINE)
        p->esz = (p->esz + CACHE_LINE - 1) & ~(size_t)(CACHE_LINE - 1);
    p->count = o->count;
    p->cache_size = o->cache_size ? o->cache_size : CACHE_DEFAULT;
    p->mask = slots - 1;
    p->mem_len = p->esz * p->count;
    p->on_numa = o->numa_node >= 0 && numa_available() >= 0;
    p->mem = p->on_numa ? numa_alloc_onnode(p->mem_len, o->numa_node)
                        : co_mem_alloc(p->mem_len, CACHE_LINE);
    p->cells = co_mem_alloc(slots * sizeof(struct cell), CACHE_LINE);
    {
        size_t room = 2 * (size_t)p->cache_size;
        p->cache_stride = (sizeof(struct pool_cache) + room * sizeof(void *) + CACHE_LINE - 1) &
                          ~(size_t)(CACHE_LINE - 1);
        p->caches = co_mem_alloc(p->cache_stride * POOL_MAX_THREADS, CACHE_LINE);
        for (int i = 0; p->caches && i < POOL_MAX_THREADS; i++)
            cache_at(p, i)->room = (unsigned)room;
    }
    if (!p->mem || !p->cells || !p->caches) {
        pool_free(p);
        errno = ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < slots; i++)
        atomic_init(&p->cells[i].seq, i);
    for (size_t i = 0; i < p->count; i++)
        store_push(p, p->mem + i * p->esz);
    return p;
}

static size_t cached(const pool_t *p)
{
    size_t n = 0;
    for (int i = 0; p->caches && i < POOL_MAX_THREADS; i++)
        n += __atomic_load_n(&cache_at(p, i)->len, __ATOMIC_RELAXED);
    return n;
}

void pool_free(pool_t *p)
{
    if (!p)
        return;
    if (p->cells && p->caches) {
        size_t back = stored(p) + cached(p);
        if (back != p->count) {
            fprintf(stderr, "mdmux: fatal: pool '%s' freed with %zu of %zu objects still out\n",
                    p->name, p->count - back, p->count);
            abort();
        }
    }
    if (p->on_numa && p->mem)
        numa_free(p->mem, p->mem_len);
    else
        co_mem_free(p->mem);
    co_mem_free(p->cells);
    co_mem_free(p->caches);
    co_mem_free(p);
}

/* ---- get and put --------------------------------------------------------------------- */

unsigned pool_get_burst(pool_t *p, void **objs, unsigned n)
{
    struct pool_cache *c = my_cache(p);
    if (!c) {
        unsigned got = store_pop_burst(p, objs, n);
        atomic_fetch_add_explicit(&p->direct_gets, got, memory_order_relaxed);
        if (got < n)
            atomic_fetch_add_explicit(&p->direct_fails, n - got, memory_order_relaxed);
        return got;
    }
    unsigned len = c->len;
    if (len < n) { /* refill: what was asked for plus half a cache */
        unsigned want = n - len + p->cache_size / 2;
        if (len + want > c->room)
            want = c->room - len;
        len += store_pop_burst(p, &c->objs[len], want);
        if (len < n) { /* a burst bigger than the cache: the rest straight from the store */
            unsigned direct = store_pop_burst(p, objs, n - len);
            for (unsigned i = 0; i < len; i++)
                objs[direct + i] = c->objs[len - 1 - i];
            unsigned got = direct + len;
            __atomic_store_n(&c->len, 0, __ATOMIC_RELAXED);
            bump(&c->gets, got);
            if (got < n)
                bump(&c->fails, n - got);
            return got;
        }
    }
    unsigned got = len < n ? len : n;
    for (unsigned i = 0; i < got; i++)
        objs[i] = c->objs[--len];
    __atomic_store_n(&c->len, len, __ATOMIC_RELAXED);
    bump(&c->gets, got);
    if (got < n)
        bump(&c->fails, n - got);
    return got;
}

void pool_put_burst(pool_t *p, void *const *objs, unsigned n)
{
    struct pool_cache *c = my_cache(p);
    if (!c) {
        store_push_burst(p, objs, n);
        atomic_fetch_add_explicit(&p->direct_puts, n, memory_order_relaxed);
        return;
    }
    unsigned len = c->len;
    if (len + n > p->cache_size) { /* flush down to half a cache first */
        unsigned keep = p->cache_size / 2;
        unsigned flush = len > keep ? len - keep : 0;
        store_push_burst(p, &c->objs[len - flush], flush);
        len -= flush;
        if (len + n > c->room) { /* a huge burst: straight to the store */
            store_push_burst(p, objs, n);
            __atomic_store_n(&c->len, len, __ATOMIC_RELAXED);
            bump(&c->puts, n);
            return;
        }
    }
    for (unsigned i = 0; i < n; i++)
        c->objs[len++] = objs[i];
    __atomic_store_n(&c->len, len, __ATOMIC_RELAXED);
    bump(&c->puts, n);
}

void *pool_get(pool_t *p)
{
    void *obj;
    return pool_get_burst(p, &obj, 1) ? obj : NULL;
}

void pool_put(pool_t *p, void *obj)
{
    pool_put_burst(p, &obj, 1);
}

void pool_stats(const pool_t *p, pool_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    pool_t *m = (pool_t *)p;
    for (int i = 0; i < POOL_MAX_THREADS; i++) {
        struct pool_cache *c = cache_at(p, i);
        out->gets += atomic_load_explicit(&c->gets, memory_order_relaxed);
        out->puts += atomic_load_explicit(&c->puts, memory_order_relaxed);
        out->get_fails += atomic_load_explicit(&c->fails, memory_order_relaxed);
    }
    out->gets += atomic_load_explicit(&m->direct_gets, memory_order_relaxed);
    out->puts += atomic_load_explicit(&m->direct_puts, memory_order_relaxed);
    out->get_fails += atomic_load_explicit(&m->direct_fails, memory_order_relaxed);
    out->avail = stored(p) + cached(p);
}

size_t pool_elem_size(const pool_t *p)
{
    return p->esz;
}

bool pool_owns(const pool_t *p, const void *obj)
{
    const char *o = obj;
    return o >= p->mem && o < p->mem + p->mem_len && (size_t)(o - p->mem) % p->esz == 0;
}
