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
    c->buf = (unsigned char *)(c + 1);
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
    co_mem_free(c);
}

/* ---- waiter queues --------------------------------------------------------------- */

void ch_queue_push(ch_queue_t *q, ch_waiter_t *w)
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
 * if none. Waiters of coroutines woken otherwise (another select case, a context)
 * are dropped on the way.
 */
static ch_waiter_t *queue_take(ch_queue_t *q)
{
    ch_waiter_t *w;
    while ((w = q->head) != NULL) {
        ch_queue_unlink(q, w);
        if (w->sel->fired < 0 && co_is_parked(w->sel->co))
            return w;
    }
    return NULL;
}

/* Complete @p w's case with @p result and wake its coroutine. */
static void fire(ch_waiter_t *w, int result)
{
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
    return c->buf + (size_t)at * c->esz;
}

static void ring_put(ch_t *c, const void *elem)
{
    ch_copy(slot(c, c->count), elem, c->esz);
    c->count++;
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
 * Park the calling coroutine on one local channel until a peer completes its
 * operation (the result: 0 or EPIPE), or the context ends the wait. A plain send or
 * receive needs none of select's machinery: one waiter on the stack.
 */
static int block_one(ch_t *c, ch_op_t op, void *elem, co_ctx_t *ctx)
{
    co_t *self = co_self();
    if (!self)
        return EPERM; /* a thread cannot park */
    ch_queue_t *q = op == CH_SEND ? &c->sendq : &c->recvq;
    for (;;) {
        ch_sel_t sel = {.co = self, .fired = -1};
        ch_waiter_t w = {.sel = &sel, .elem = elem};
        ch_queue_push(q, &w);
        int r = co_park(ctx, UINT64_MAX, op == CH_SEND ? "chan send" : "chan recv", c);
        ch_queue_unlink(q, &w);
        if (sel.fired >= 0)
            return sel.result;
        if (r)
            return r;
        r = ch_try_op(c, op, elem); /* a stray wake-up: try again */
        if (r != EAGAIN)
            return r;
    }
}

int ch_send(ch_t *c, const void *elem, co_ctx_t *ctx)
{
    int r = try_send(c, elem);
    if (CH_LIKELY(r != EAGAIN))
        return r;
    return block_one(c, CH_SEND, (void *)elem, ctx);
}

int ch_recv(ch_t *c, void *elem, co_ctx_t *ctx)
{
    int r = try_recv(c, elem);
    if (CH_LIKELY(r != EAGAIN))
        return r;
    return block_one(c, CH_RECV, elem, ctx);
}

/* Pointer-sized elements: when the buffer alone settles it, an 8-byte move. */
int ch_send_ptr(ch_t *c, void *p, co_ctx_t *ctx)
{
    if (CH_LIKELY(c->count < c->cap && !c->recvq.head && !c->closed)) {
        *(void **)slot(c, c->count) = p;
        c->count++;
        return 0;
    }
    return ch_send(c, &p, ctx);
}

int ch_recv_ptr(ch_t *c, void **p, co_ctx_t *ctx)
{
    if (CH_LIKELY(c->count && !c->sendq.head)) {
        *p = *(void **)slot(c, 0);
        if (++c->head == c->cap)
            c->head = 0;
        c->count--;
        return 0;
    }
    return ch_recv(c, p, ctx);
}

int ch_close(ch_t *c)
{
    if (c->closed)
        return EPIPE;
    c->closed = true;
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
