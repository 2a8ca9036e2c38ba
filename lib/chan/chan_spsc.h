/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/chan: the SPSC ring's layout and its inline fast paths, included by chan.h.
 * Not for direct use: include chan.h. Only chs_send_burst() and chs_recv_burst() live
 * here, so that a poll loop calling them one object at a time pays no call, no
 * register spills and no stack traffic (rte_ring's calls are inline too). Everything
 * that may block, park, close or copy more than one element stays out of line in
 * spsc.c.
 *
 * Layout. Each side owns one 128-byte block (two cache lines, as rte_ring does), so
 * the adjacent-line prefetcher, which fetches 128-byte pairs, never pulls the other
 * side's line along with one's own. A side's block holds the index it publishes and
 * its cached copy of the other side's index; the waiter list and poll hook of the side
 * are touched only by that side's thread and only when it parks. The ring's constants
 * and the closed flag share a third line, written once (by chs_close()) and otherwise
 * only read, so it stays shared in both caches. Then the slots.
 *
 * Cache-line traffic per operation. A side reads the other side's index only when its
 * cached copy says full (producer) or empty (consumer). Nothing the fast path reads on
 * every call is written by the other side: the hooks that make parking possible are
 * run by the scheduler of the parked side, never checked by the fast path.
 *
 * Memory ordering (C11):
 * - The producer writes the slots, then publishes the tail with a release store. The
 *   consumer loads the tail with acquire before it reads the slots, so it sees them.
 * - The consumer reads the slots, then publishes its head with a release store. The
 *   producer loads the head with acquire before it overwrites those slots, so its
 *   writes cannot overtake the consumer's reads.
 * - A cached copy (`other`) is a value obtained by such an acquire load, kept by the
 *   side that made it; the happens-before it established still covers every slot it
 *   accounts for. It is stale only in the safe direction (less room, fewer elements).
 * - A side's own index is written only by itself, so it reads it relaxed.
 * - chs_close() is a release store after the producer's last tail store; a consumer
 *   that acquires `closed` and then finds the ring empty has seen every element.
 */
#ifndef MDMUX_CHAN_SPSC_H
#define MDMUX_CHAN_SPSC_H

#ifndef MDMUX_CHAN_H
#error "include chan.h, not chan_spsc.h"
#endif

#include <stdatomic.h>
#include <string.h>

/* The block each side owns (internal). */
#define CHS_SIDE_ALIGN 128

struct chs_waiter_;

struct chs_side {
    _Atomic uint32_t pos; /* producer: tail (next slot to fill); consumer: head */
    /* Producer's block only: set by chs_close() (the producer closes). Right after the
       tail, so a parked consumer's poll reads both with one 8-byte load (CHS_WATCH_MASK:
       the tail and this byte; the three after it stay zero). */
    _Atomic bool closed;
    uint8_t zero_[3];
    uint32_t other;              /* cached copy of the other side's pos */
    struct chs_waiter_ *waiters; /* coroutines of this side parked on the ring */
    co_poll_t poll;              /* registered while any is parked */
    _Atomic(const void *) owner; /* debug builds: the one thread allowed on this side */
} __attribute__((aligned(CHS_SIDE_ALIGN)));

/* The bytes of the producer block's first word that are the tail and the close. */
#define CHS_WATCH_MASK 0xffffffffffull

struct chs_bell;

/* The ring (internal: use the chs_*() functions). */
struct chs {
    struct chs_side prod;
    struct chs_side cons;
    uint32_t mask __attribute__((aligned(64))); /* slots - 1 */
    uint32_t esz;                               /* element size */
    bool on_numa;                               /* memory from numa_alloc_onnode */
    uint16_t bell_idx;                          /* its index in bell */
    size_t bytes;                               /* of the allocation at base */
    void *base;                                 /* the allocation: c is a colour into it */
    /* The doorbell (chs_bell_add()): the word a send sets bell_bit in, or NULL. Set up
       before any traffic and then only read, on the line every send reads anyway. */
    _Atomic uint64_t *bell_word;
    uint64_t bell_bit;
    struct chs_bell *bell;
    unsigned char slots[] __attribute__((aligned(64)));
};

/* spsc.c: copy @p n elements between @p elems and the ring from index @p at. */
void chs__copy(chs_t *c, uint32_t at, void *elems, unsigned n, bool in);
/* spsc.c, debug builds: abort unless the calling thread owns side @p role (0: producer). */
void chs__check_owner(chs_t *c, int role);

#ifndef NDEBUG
#define CHS__CHECK_OWNER(c, role) chs__check_owner((c), (role))
#else
#define CHS__CHECK_OWNER(c, role) ((void)0)
#endif

/**
 * Producer: chs_send_burst() without ringing @p c's doorbell. For a producer that
 * sends to many channels of one doorbell in a row and rings once for all of them
 * (chs_doorbell(), chs_ring()): until it rings, a consumer parked in a select on @p c
 * may not see what it sent. Identical to chs_send_burst() for a channel without one.
 *
 * @param c      the channel; the calling thread must be its only producer
 * @param elems  @p n elements of chs_elem_size() bytes each
 * @param n      how many to send
 * @return       how many were enqueued: fewer than @p n when the ring fills, 0 when
 *               it is full or closed
 */
static inline unsigned chs_send_burst_unrung(chs_t *c, const void *elems, unsigned n)
{
    CHS__CHECK_OWNER(c, 0);
    uint32_t tail = atomic_load_explicit(&c->prod.pos, memory_order_relaxed);
    uint32_t size = c->mask + 1;
    uint32_t room = size - (tail - c->prod.other);
    if (room < n) {
        /* acquire: the consumer's reads of those slots happen before our writes */
        c->prod.other = atomic_load_explicit(&c->cons.pos, memory_order_acquire);
        room = size - (tail - c->prod.other);
        if (room < n)
            n = room;
    }
    /* The producer is the one that closes, so a relaxed load sees its own close. */
    if (__builtin_expect(n == 0 || atomic_load_explicit(&c->prod.closed, memory_order_relaxed), 0))
        return 0;
    if (__builtin_expect(n == 1 && c->esz == sizeof(uint64_t), 1))
        memcpy(c->slots + (size_t)(tail & c->mask) * sizeof(uint64_t), elems, sizeof(uint64_t));
    else
        chs__copy(c, tail, (void *)elems, n, true);
    /* release: the slot writes above are visible to whoever acquires this tail */
    atomic_store_explicit(&c->prod.pos, tail + n, memory_order_release);
    return n;
}

/**
 * The doorbell word of @p c and, in @p bit, the bit its sends set there; NULL (and
 * @p bit untouched) when @p c has no doorbell (chs_bell_add()).
 */
static inline _Atomic uint64_t *chs_doorbell(const chs_t *c, uint64_t *bit)
{
    if (c->bell_word != NULL)
        *bit = c->bell_bit;
    return c->bell_word;
}

/**
 * Producer: ring a doorbell, setting @p bits in @p word (from chs_doorbell()). After
 * the sends it announces: their tail stores are ordered before it (release), and the
 * consumer's poll exchanges the word (acquire) before it looks at those channels. One
 * atomic OR, whatever the number of bits.
 */
static inline void chs_ring(_Atomic uint64_t *word, uint64_t bits)
{
    atomic_fetch_or_explicit(word, bits, memory_order_release);
}

/**
 * Producer: enqueue up to @p n elements from the array @p elems. Never blocks and
 * needs no scheduler (a plain poll loop may call it). Inline: with one pointer-sized
 * element it is a few loads, one store to the slot and one release store of the
 * tail; it reads the consumer's index only when its cached copy says the ring is full.
 * On a channel with a doorbell it then rings it (one atomic OR).
 *
 * @param c      the channel; the calling thread must be its only producer
 * @param elems  @p n elements of chs_elem_size() bytes each
 * @param n      how many to send
 * @return       how many were enqueued: fewer than @p n when the ring fills, 0 when
 *               it is full or closed
 */
static inline unsigned chs_send_burst(chs_t *c, const void *elems, unsigned n)
{
    unsigned sent = chs_send_burst_unrung(c, elems, n);
    if (__builtin_expect(c->bell_word != NULL, 0) && sent != 0)
        chs_ring(c->bell_word, c->bell_bit);
    return sent;
}

/**
 * Consumer: dequeue up to @p n elements into the array @p elems. Never blocks. Inline:
 * it reads the producer's index only when its cached copy says the ring is empty, so
 * while elements are queued it touches only its own line and the slots.
 *
 * @param c      the channel; the calling thread must be its only consumer
 * @param elems  room for @p n elements of chs_elem_size() bytes each
 * @param n      how many to take at most
 * @return       how many were dequeued (0 when empty, closed or not)
 */
static inline unsigned chs_recv_burst(chs_t *c, void *elems, unsigned n)
{
    CHS__CHECK_OWNER(c, 1);
    uint32_t head = atomic_load_explicit(&c->cons.pos, memory_order_relaxed);
    uint32_t avail = c->cons.other - head;
    if (avail < n) {
        /* acquire: the producer's slot writes happen before our reads */
        c->cons.other = atomic_load_explicit(&c->prod.pos, memory_order_acquire);
        avail = c->cons.other - head;
        if (avail < n)
            n = avail;
    }
    if (__builtin_expect(n == 0, 0))
        return 0;
    if (__builtin_expect(n == 1 && c->esz == sizeof(uint64_t), 1))
        memcpy(elems, c->slots + (size_t)(head & c->mask) * sizeof(uint64_t), sizeof(uint64_t));
    else
        chs__copy(c, head, elems, n, false);
    /* release: our slot reads happen before the producer may overwrite them */
    atomic_store_explicit(&c->cons.pos, head + n, memory_order_release);
    return n;
}

/**
 * Consumer: copy the element @p i places behind the head of @p c (0: the head) into
 * @p elem without taking anything. Returns true, or false when @p c holds @p i
 * elements or fewer (@p elem untouched). Receives then return the same elements.
 */
static inline bool chs_peek(chs_t *c, unsigned i, void *elem)
{
    CHS__CHECK_OWNER(c, 1);
    uint32_t head = atomic_load_explicit(&c->cons.pos, memory_order_relaxed);
    if (c->cons.other - head <= i) {
        /* acquire: the producer's slot writes happen before our read */
        c->cons.other = atomic_load_explicit(&c->prod.pos, memory_order_acquire);
        if (c->cons.other - head <= i)
            return false;
    }
    memcpy(elem, c->slots + (size_t)((head + i) & c->mask) * c->esz, c->esz);
    return true;
}

#endif /* MDMUX_CHAN_SPSC_H */
