/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Cancellation contexts (Go's context.Context).
 *
 * A context points at its parent; nothing points down. "Is it done?" walks the
 * chain of (usually two or three) ancestors reading one atomic each, so cancelling
 * a parent cancels every descendant at once, from any thread, without locks or
 * child lists. Deadlines are folded into each context at creation (the earlier of
 * its own and its parent's), so one TSC read settles them.
 *
 * Parked coroutines learn about a cancellation through rt_cancel_epoch: cancel
 * bumps it, and each scheduler rescans its parked cancellable waiters when it moves.
 * Deadlines need no scan: parking arms a timer at the context's deadline.
 */
#include "rt_internal.h"

#include <errno.h>

struct co_ctx {
    co_ctx_t *parent;
    _Atomic int err;       /* 0, ECANCELED or ETIMEDOUT once observed */
    _Atomic long children; /* live derived contexts, checked by co_ctx_free */
    uint64_t deadline_ns;  /* effective; UINT64_MAX = none */
    uint64_t deadline_tsc; /* the same in TSC ticks */
};

_Atomic uint64_t rt_cancel_epoch;

static co_ctx_t *ctx_new(co_ctx_t *parent, uint64_t deadline_ns)
{
    co_ctx_t *c = rt_calloc(1, sizeof(*c));
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    if (parent) {
        if (parent->deadline_ns < deadline_ns)
            deadline_ns = parent->deadline_ns;
        atomic_fetch_add_explicit(&parent->children, 1, memory_order_relaxed);
    }
    c->parent = parent;
    c->deadline_ns = deadline_ns;
    c->deadline_tsc = deadline_ns == UINT64_MAX ? UINT64_MAX : co_ns_to_tsc(deadline_ns);
    return c;
}

co_ctx_t *co_ctx_with_cancel(co_ctx_t *parent)
{
    return ctx_new(parent, UINT64_MAX);
}

co_ctx_t *co_ctx_with_deadline(co_ctx_t *parent, uint64_t deadline_ns)
{
    return ctx_new(parent, deadline_ns);
}

co_ctx_t *co_ctx_with_timeout(co_ctx_t *parent, uint64_t timeout_ns)
{
    uint64_t now = co_now_ns();
    uint64_t deadline = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
    return ctx_new(parent, deadline);
}

static void ctx_latch(co_ctx_t *c, int err)
{
    int expected = 0;
    atomic_compare_exchange_strong_explicit(&c->err, &expected, err, memory_order_release,
                                            memory_order_relaxed);
}

void co_ctx_cancel(co_ctx_t *ctx)
{
    if (!ctx)
        return;
    ctx_latch(ctx, ECANCELED);
    /* Release: a scheduler that sees the new epoch also sees the latched error. */
    atomic_fetch_add_explicit(&rt_cancel_epoch, 1, memory_order_release);
}

int co_ctx_err(co_ctx_t *ctx)
{
    if (!ctx)
        return 0;
    int err = atomic_load_explicit(&ctx->err, memory_order_acquire);
    if (RT_LIKELY(err == 0)) {
        for (co_ctx_t *p = ctx->parent; p && !err; p = p->parent)
            err = atomic_load_explicit(&p->err, memory_order_acquire);
        if (!err && ctx->deadline_tsc != UINT64_MAX && co_tsc() >= ctx->deadline_tsc)
            err = ETIMEDOUT;
        if (!err)
            return 0;
        ctx_latch(ctx, err);
        err = atomic_load_explicit(&ctx->err, memory_order_acquire);
    }
    return err;
}

uint64_t co_ctx_deadline(const co_ctx_t *ctx)
{
    return ctx ? ctx->deadline_ns : UINT64_MAX;
}

void co_ctx_free(co_ctx_t *ctx)
{
    if (!ctx)
        return;
    long children = atomic_load_explicit(&ctx->children, memory_order_acquire);
    if (children != 0)
        rt_die("co_ctx_free: context %p still has %ld derived context(s)", (void *)ctx, children);
    if (ctx->parent)
        atomic_fetch_sub_explicit(&ctx->parent->children, 1, memory_order_release);
    rt_free(ctx);
}

bool rt_ctx_cancellable(const co_ctx_t *ctx)
{
    return ctx != NULL;
}

uint64_t rt_ctx_deadline_tsc(const co_ctx_t *ctx)
{
    return ctx ? ctx->deadline_tsc : UINT64_MAX;
}
