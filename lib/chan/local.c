/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Local channels: both ends on one scheduler, so no atomics. A ring buffer of `cap`
 * elements plus FIFO queues of parked senders and receivers. Whenever a peer is
 * parked, the element moves directly between the two coroutines' buffers: an
 * unbuffered send is a rendezvous, and a receiver never waits on a buffer that a
 * parked sender could fill.
 */
#include "chan_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

ch_t *ch_new(size_t elem_size, size_t cap)
{
    if (elem_size == 0 || elem_size > 65535 || cap > UINT32_MAX / elem_size) {
        errno = EINVAL;
        return NULL;
    }
    ch_t *c = co_mem_alloc(sizeof(*c) + cap * elem_size, CH_CACHE_LINE);
    if (!c)
        return NULL;
    c->esz = (uint32_t)elem_size;
    c->cap = (uint32_t)cap;
    return c;
}

void ch_free(ch_t *c)
{
    if (!c)
        return;
    if (c->sendq.head || c->recvq.head) {
        fprintf(stderr, "mdmux: fatal: ch_free: channel %p still has parked coroutines\n",
                (void *)c);
        abort();
    }
    if (c->set) {
        fprintf(stderr, "mdmux: fatal: ch_free: channel %p is still in a channel set\n", (void *)c);
        abort();
    }
    co_mem_free(c);
}

/* ---- waiter queues --------------------------------------------------------------- */

void ch_queue_unlink(ch_queue_t *q, ch_waiter_t *w)
{
    if (!w->linked)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->linked = false;
}

/*
 * The first waiter of @p q whose coroutine is still parked on it, unlinked; NULL
 * if none. Select waiters of coroutines woken otherwise (another case, a context)
 * are dropped on the way; a plain waiter is live whenever it is linked.
 */
static ch_waiter_t *queue_take(ch_queue_t *q)
{
    ch_waiter_t *w;
    while ((w = q->head) != NULL) {
        ch_queue_unlink(q, w);
        if (!w->sel || (w->sel->fired < 0 && co_is_parked(w->sel->co)))
            return w;
    }
    return NULL;
}

/* Unlink @p w, the head of @p q: the fast paths' queue_take() of a plain waiter. */
static inline void queue_pop_head(ch_queue_t *q, ch_waiter_t *w)
{
    ch_waiter_t *next = w->next;
    q->head = next;
    if (next)
        next->prev = NULL;
    else
        q->tail = NULL;
    w->linked = false;
}

/* Complete @p w's case with @p result and wake its coroutine. */
static void fire(ch_waiter_t *w, int result)
{
    if (!w->sel) {
        co_wake(w->co, result); /* its park returns the operation's result */
        return;
    }
    w->sel->fired = w->idx;
    w->sel->result = result;
    co_ready(w->sel->co);
}

/* ---- the ring -------------------------------------------------------------------- */

static inline void *slot(const ch_t *c, uint32_t i)
{
    uint32_t at = c->head + i;
    if (at >= c->cap)
        at -= c->cap;
    return CH_BUF(c) + (size_t)at * c->esz;
}

static void ring_put(ch_t *c, const void *elem)
{
    ch_copy(slot(c, c->count), elem, c->esz);
    c->count++;
    ch_poke(c);
}

static void ring_take(ch_t *c, void *elem)
{
    ch_copy(elem, slot(c, 0), c->esz);
    if (++c->head == c->cap)
        c->head = 0;
    c->count--;
}

/* ---- operations ----------------------------------------------------------------- */

static int try_send(ch_t *c, const void *elem)
{
    if (CH_UNLIKELY(c->closed))
        return EPIPE;
    if (c->recvq.head) { /* a receiver is parked, so the buffer is empty: hand over */
        ch_waiter_t *w = queue_take(&c->recvq);
        if (w) {
            ch_copy(w->elem, elem, c->esz);
            fire(w, 0);
            return 0;
        }
    }
    if (c->count < c->cap) {
        ring_put(c, elem);
        return 0;
    }
    return EAGAIN;
}

static int try_recv(ch_t *c, void *elem)
{
    if (c->count) {
        ring_take(c, elem);
        if (c->sendq.head) { /* a parked sender fills the slot just freed */
            ch_waiter_t *w = queue_take(&c->sendq);
            if (w) {
                ring_put(c, w->elem);
                fire(w, 0);
            }
        }
        return 0;
    }
    if (c->sendq.head) { /* unbuffered: take straight from the sender */
        ch_waiter_t *w = queue_take(&c->sendq);
        if (w) {
            ch_copy(elem, w->elem, c->esz);
            fire(w, 0);
            return 0;
        }
    }
    return c->closed ? EPIPE : EAGAIN;
}

int ch_try_op(ch_t *c, ch_op_t op, void *elem)
{
    return op == CH_SEND ? try_send(c, elem) : try_recv(c, elem);
}

int ch_trysend(ch_t *c, const void *elem)
{
    return try_send(c, elem);
}

int ch_tryrecv(ch_t *c, void *elem)
{
    return try_recv(c, elem);
}

/*
 * Up to @p n elements in one call, exactly what @p n calls of try_recv() would take,
 * in the same order (a parked sender still fills each slot as it frees, behind what
 * was buffered): the buffered run is copied out in at most two moves, and the channel
 * is read and written back once, instead of a call, a test of every field and a
 * store of head and count per element.
 */
unsigned ch_tryrecv_burst(ch_t *c, void *elems, unsigned n)
{
    unsigned char *out = elems;
    unsigned got = 0;
    while (got < n) {
        uint32_t k = c->count < n - got ? c->count : n - got;
        if (k == 0) {
            /* unbuffered, or drained with senders parked: one straight from a sender */
            if (try_recv(c, out + (size_t)got * c->esz) != 0)
                break;
            got++;
            continue;
        }
        uint32_t first = c->cap - c->head < k ? c->cap - c->head : k;
        memcpy(out + (size_t)got * c->esz, CH_BUF(c) + (size_t)c->head * c->esz,
               (size_t)first * c->esz);
        if (k > first)
            memcpy(out + (size_t)(got + first) * c->esz, CH_BUF(c), (size_t)(k - first) * c->esz);
        c->head += k; /* head < cap and k <= cap: one subtraction wraps it */
        if (c->head >= c->cap)
            c->head -= c->cap;
        c->count -= k;
        got += k;
        /* parked senders fill the slots just freed, in their order */
        for (uint32_t i = 0; i < k && c->sendq.head; i++) {
            ch_waiter_t *w = queue_take(&c->sendq);
            if (!w)
                break;
            ring_put(c, w->elem);
            fire(w, 0);
        }
    }
    return got;
}

/* Abort hook of a plain wait: its context or deadline ended it, so leave the queue. */
static void plain_abort(co_t *co)
{
    ch_waiter_t *w = co_wait_area(co);
    ch_queue_unlink(w->q, w);
}

/*
 * Park the calling coroutine on one local channel until a peer completes its
 * operation, or the context ends the wait; returns the operation's result (0 or
 * EPIPE, handed over by the peer's co_wake()), ECANCELED or ETIMEDOUT. The waiter
 * lives in the coroutine's wait area and the park is the last act, so the
 * compiler makes it a tail call and the coroutine resumes straight in the caller of
 * ch_send()/ch_recv(): no frame is returned out of after the switch, so no return
 * is mispredicted (the return-stack predictor holds the other coroutine's frames).
 * @p w's elem (and val, for a pointer send) are set by the caller.
 */
static int park_plain(ch_t *c, ch_op_t op, ch_waiter_t *w, co_t *self, co_ctx_t *ctx)
{
    ch_queue_t *q = op == CH_SEND ? &c->sendq : &c->recvq;
    w->sel = NULL;
    w->co = self;
    w->q = q;
    ch_queue_push(q, w);
    if (op == CH_SEND)
        ch_poke(c); /* a receiver can take from this sender now */
    return co_park_hooked(ctx, UINT64_MAX, op == CH_SEND ? "chan send" : "chan recv", c,
                          plain_abort);
}

/* The general send: try, else park. */
static __attribute__((noinline)) int send_slow(ch_t *c, const void *elem, co_ctx_t *ctx)
{
    int r = try_send(c, elem);
    if (CH_LIKELY(r != EAGAIN))
        return r;
    co_t *self = co_self();
    if (!self)
        return EPERM; /* a thread cannot park */
    ch_waiter_t *w = co_wait_area(self);
    w->elem = (void *)elem;
    return park_plain(c, CH_SEND, w, self, ctx);
}

/* The general receive: try, else park. */
static __attribute__((noinline)) int recv_slow(ch_t *c, void *elem, co_ctx_t *ctx)
{
    int r = try_recv(c, elem);
    if (CH_LIKELY(r != EAGAIN))
        return r;
    co_t *self = co_self();
    if (!self)
        return EPERM;
    ch_waiter_t *w = co_wait_area(self);
    w->elem = elem;
    return park_plain(c, CH_RECV, w, self, ctx);
}

int ch_send(ch_t *c, const void *elem, co_ctx_t *ctx)
{
    return send_slow(c, elem, ctx);
}

int ch_recv(ch_t *c, void *elem, co_ctx_t *ctx)
{
    return recv_slow(c, elem, ctx);
}

/*
 * A pointer send the fast path could not settle. The pointer is kept in the wait
 * area from the start: a parked sender's element must outlive this frame, which
 * the tail-called park leaves.
 */
static __attribute__((noinline)) int send_ptr_slow(ch_t *c, void *p, co_ctx_t *ctx)
{
    co_t *self = co_self();
    if (!self) { /* a plain thread: never parks, so &p is enough */
        int r = try_send(c, &p);
        return r == EAGAIN ? EPERM : r;
    }
    ch_waiter_t *w = co_wait_area(self);
    w->val = p;
    w->elem = &w->val;
    int r = try_send(c, &w->val);
    if (CH_LIKELY(r != EAGAIN))
        return r;
    return park_plain(c, CH_SEND, w, self, ctx);
}

/* A pointer receive with nothing to take from an open channel: park at once. */
static __attribute__((noinline, hot)) int recv_ptr_park(ch_t *c, void **p, co_ctx_t *ctx)
{
    co_t *self = co_self_inline();
    if (CH_UNLIKELY(!self))
        return EPERM; /* a thread cannot park */
    ch_waiter_t *w = co_wait_area(self);
    w->elem = p;
    return park_plain(c, CH_RECV, w, self, ctx);
}

/*
 * Pointer-sized elements. A parked plain peer is the head of its queue and is
 * completed here: move the pointer, unlink it, wake it with the result (a tail
 * call). A channel with a parked receiver is never closed (closing wakes every
 * waiter and nobody parks on a closed channel), and one with a parked sender has
 * an empty buffer unless it is full. When the buffer alone settles it, an 8-byte
 * move. Everything else is a tail call, so these functions need no frame.
 */
__attribute__((hot)) int ch_send_ptr(ch_t *c, void *p, co_ctx_t *ctx)
{
    ch_waiter_t *w = c->recvq.head;
    if (CH_LIKELY(w && !w->sel)) {
        queue_pop_head(&c->recvq, w);
        *(void **)w->elem = p;
        return co_wake(w->co, 0); /* 0: it is parked */
    }
    if (CH_LIKELY(!w && c->count < c->cap && !c->closed)) {
        *(void **)slot(c, c->count) = p;
        c->count++;
        ch_poke(c);
        return 0;
    }
    return send_ptr_slow(c, p, ctx);
}

__attribute__((hot)) int ch_recv_ptr(ch_t *c, void **p, co_ctx_t *ctx)
{
    ch_waiter_t *w = c->sendq.head;
    if (CH_LIKELY(c->count && !w)) {
        *p = *(void **)slot(c, 0);
        if (++c->head == c->cap)
            c->head = 0;
        c->count--;
        return 0;
    }
    if (CH_LIKELY(w && !w->sel && !c->count)) { /* unbuffered: take from the sender */
        queue_pop_head(&c->sendq, w);
        *p = *(void **)w->elem;
        return co_wake(w->co, 0);
    }
    if (CH_LIKELY(!w && !c->closed))
        return recv_ptr_park(c, p, ctx);
    return recv_slow(c, p, ctx);
}

int ch_close(ch_t *c)
{
    if (c->closed)
        return EPIPE;
    c->closed = true;
    ch_poke(c);
    ch_waiter_t *w;
    while ((w = queue_take(&c->recvq)) != NULL) /* the buffer is empty if any wait */
        fire(w, EPIPE);
    while ((w = queue_take(&c->sendq)) != NULL)
        fire(w, EPIPE);
    return 0;
}

int ch_peek(const ch_t *c, void *elem)
{
    if (!c->count)
        return EAGAIN;
    ch_copy(elem, slot(c, 0), c->esz);
    return 0;
}

size_t ch_len(const ch_t *c)
{
    return c->count;
}

size_t ch_cap(const ch_t *c)
{
    return c->cap;
}

bool ch_closed(const ch_t *c)
{
    return c->closed;
}

size_t ch_elem_size(const ch_t *c)
{
    return c->esz;
}
