/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/chan internals shared by local.c, spsc.c and select.c. */
#ifndef MDMUX_CHAN_INTERNAL_H
#define MDMUX_CHAN_INTERNAL_H

#include "chan.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#define CH_LIKELY(x)   __builtin_expect(!!(x), 1)
#define CH_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CH_CACHE_LINE  64
/* Thread-locals the compiler knows are one %fs-relative access, not a call
 * (the libraries are position-independent; see RT_TLS in lib/rt). */
#define CH_TLS _Thread_local __attribute__((tls_model("initial-exec")))

/*
 * A blocked operation: one coroutine, one case, linked into a local channel's send
 * or receive queue. Two kinds share the queues (so FIFO order holds across them):
 *
 * - A select's waiters (sel != NULL) live on the parked select's stack. One is live
 *   only while its coroutine is parked: a peer that finds one whose coroutine is
 *   runnable (another case fired, or its context woke it) unlinks it and moves on.
 *   So a cancelled operation can never be completed behind its back.
 *
 * - A plain send or receive (sel == NULL) keeps its waiter in the coroutine's wait
 *   area (co_wait_area()) and parks with co_park_hooked() as its last act, so it
 *   resumes straight in its caller. Such a waiter is always live while linked: the
 *   peer that completes it unlinks it and hands over the result with co_wake(), and
 *   a context or deadline unlinks it through the park's abort hook before the
 *   coroutine resumes.
 */
typedef struct ch_sel ch_sel_t;

typedef struct ch_waiter {
    struct ch_waiter *prev, *next;
    ch_sel_t *sel;      /* NULL: a plain send or receive */
    void *elem;         /* source of a send, destination of a receive */
    co_t *co;           /* plain: the parked coroutine */
    struct ch_queue *q; /* plain: the queue it is on */
    void *val;          /* plain pointer send: the element itself (elem points here) */
    int idx;            /* case index within the select */
    bool linked;
    bool belled; /* an SPSC case armed on its channel's doorbell, not in the watch list */
} ch_waiter_t;

_Static_assert(sizeof(ch_waiter_t) <= CO_WAIT_AREA, "a plain waiter must fit the wait area");

struct ch_sel {
    co_t *co;
    int fired;      /* case completed by a peer, or -1 */
    int result;     /* its result: 0 or EPIPE */
    co_poll_t poll; /* watches the SPSC cases while parked */
    ch_case_t *cases;
    int ncases;
    bool polling;
    int moved;      /* the SPSC case whose move woke it (a doorbell or the watch list), or -1 */
    ch_waiter_t *w; /* its waiters, one per case (the watch list finds them here) */
};

typedef struct ch_queue {
    ch_waiter_t *head, *tail;
} ch_queue_t;

struct ch {
    uint32_t esz;
    uint32_t cap;
    uint32_t head;    /* oldest buffered element */
    uint16_t set_idx; /* its index in set */
    uint16_t spare_;
    /* count and closed in one 8-byte word (the 3 bytes after closed stay zero), so a
       select's scan reads "anything to receive?" as one load (ch_recv_word) */
    uint32_t count; /* buffered elements */
    bool closed;
    uint8_t zero_[3];
    ch_queue_t sendq, recvq;
    ch_set_t *set; /* the set it is a member of, or NULL (set.c) */
    /* the ring follows: CH_BUF() */
};

_Static_assert(offsetof(struct ch, count) % 8 == 0 &&
                   offsetof(struct ch, closed) == offsetof(struct ch, count) + 4,
               "ch_recv_word() reads count and closed as one word");

/* Nonzero when a receive on @p c could proceed (buffered, closed, or a sender parked):
   one 8-byte load for count and closed, one for the send queue's head, no branch. */
static inline uint64_t ch_recv_word(const ch_t *c)
{
    uint64_t w;
    memcpy(&w, &c->count, sizeof(w));
    return w | (uintptr_t)c->sendq.head;
}

/* The ring of @p c: right after the header, so finding it is no load. */
#define CH_BUF(c) ((unsigned char *)((c) + 1))

/* set.c: member @p idx of @p s may be ready to receive from; wake its owner. */
void ch_set__poke(ch_set_t *s, unsigned idx);

/*
 * Whatever a receiver of @p c could now do (an element buffered, a sender parked, or
 * the close): tell its set. One load and a predicted branch for a channel in none.
 */
static inline void ch_poke(const ch_t *c)
{
    if (CH_UNLIKELY(c->set != NULL))
        ch_set__poke(c->set, c->set_idx);
}

#define CHS_BELL_WORDS (CHS_BELL_MAX / 64)

/*
 * A doorbell (chan.h). The bitmap is the only part producers touch, on a line pair of
 * its own; everything after it is the consumer thread's. A channel's bit is armed
 * while a select of the consumer is parked on it, with that case's waiter in w[].
 */
struct chs_bell {
    _Atomic uint64_t bits[CHS_BELL_WORDS] __attribute__((aligned(128))); /* rung */
    co_poll_t poll __attribute__((aligned(128))); /* registered while any bit is armed */
    uint64_t armed[CHS_BELL_WORDS];
    unsigned n_armed;                  /* armed bits */
    unsigned n_chans;                  /* chan[0 .. n_chans) */
    unsigned n_words;                  /* words in use: (n_chans + 63) / 64 */
    bool on_numa;                      /* memory from numa_alloc_onnode */
    _Atomic(const void *) owner;       /* debug builds: the consumer thread */
    chs_t *chan[CHS_BELL_MAX];         /* NULL once freed */
    struct ch_waiter *w[CHS_BELL_MAX]; /* the armed case's waiter, else NULL */
};

/* select.c: a doorbell's poll hook. spsc.c: the debug check that arming calls. */
unsigned chs__bell_poll(co_poll_t *p);
void chs__check_bell_owner(chs_bell_t *b);

/*
 * Receive readiness of an SPSC channel, for its consumer's thread: what
 * chs_maybe_ready() answers for CH_RECV, inline (the tail and the close share the
 * producer's line).
 */
static inline bool chs_recv_ready(chs_t *c)
{
    return atomic_load_explicit(&c->prod.pos, memory_order_acquire) !=
               atomic_load_explicit(&c->cons.pos, memory_order_relaxed) ||
           atomic_load_explicit(&c->prod.closed, memory_order_acquire);
}

/*
 * Consumer: take one element of @p c into @p elem: 0, EAGAIN (empty, open) or EPIPE
 * (closed and drained). chs_try_op()'s receive, inline for the select's scan.
 */
static inline int chs_try_recv(chs_t *c, void *elem)
{
    if (chs_recv_burst(c, elem, 1))
        return 0;
    if (!atomic_load_explicit(&c->prod.closed, memory_order_acquire))
        return EAGAIN;
    /* closed: whatever was sent before the close is visible now; drain it first */
    return chs_recv_burst(c, elem, 1) ? 0 : EPIPE;
}

static inline void ch_copy(void *dst, const void *src, uint32_t esz)
{
    if (CH_LIKELY(esz == sizeof(void *)))
        memcpy(dst, src, sizeof(void *)); /* one 8-byte move */
    else
        memcpy(dst, src, esz);
}

/* Append @p w to @p q (FIFO). */
static inline void ch_queue_push(ch_queue_t *q, ch_waiter_t *w)
{
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    w->linked = true;
}

/* local.c */
void ch_queue_unlink(ch_queue_t *q, ch_waiter_t *w);
int ch_try_op(ch_t *c, ch_op_t op, void *elem);

/* Cheap readiness test for select's scan: could a try on this case proceed? */
static inline bool ch_local_maybe_ready(const ch_t *c, ch_op_t op)
{
    if (c->closed)
        return true;
    if (op == CH_RECV)
        return c->count || c->sendq.head;
    return c->count < c->cap || c->recvq.head;
}

/* spsc.c */
int chs_try_op(chs_t *c, ch_op_t op, void *elem);
bool chs_maybe_ready(chs_t *c, ch_op_t op);

/* select.c */
int ch_block(ch_case_t *cases, int n, uint64_t deadline_tsc, co_ctx_t *ctx);

#endif /* MDMUX_CHAN_INTERNAL_H */
