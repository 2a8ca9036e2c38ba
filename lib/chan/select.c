/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * select across local and SPSC channels.
 *
 * Unlike Go's selectgo, nothing is locked and nothing is sorted. A select first
 * scans its cases from a random start and performs the first one that can proceed:
 * when a case is ready early the scan stops there, so the cost is O(1) in the cases
 * after it, and under constant readiness every case is equally likely to be picked.
 *
 * Only if no case is ready does it block: it queues one waiter per local case (on
 * its own stack), registers one poll hook that watches all its SPSC cases, and
 * parks. A local peer completes a case directly (copying the element and recording
 * which case fired); the poll hook only wakes the select, which then scans again.
 */
#include "chan_internal.h"

#include <errno.h>

/* Per-thread xorshift64*: the random start of each scan. */
static _Thread_local uint64_t rng_state;

static inline uint32_t rng_below(uint32_t n)
{
    uint64_t x = rng_state;
    if (CH_UNLIKELY(x == 0))
        x = co_tsc() | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return (uint32_t)(((x * 0x2545F4914F6CDD1Dull) >> 32) * n >> 32);
}

static bool case_valid(const ch_case_t *k)
{
    return (k->local != NULL) != (k->spsc != NULL) && (k->op == CH_SEND || k->op == CH_RECV);
}

static inline int try_case(ch_case_t *k)
{
    if (k->local) {
        if (!ch_local_maybe_ready(k->local, k->op))
            return EAGAIN;
        return ch_try_op(k->local, k->op, k->elem);
    }
    if (!chs_maybe_ready(k->spsc, k->op))
        return EAGAIN;
    return chs_try_op(k->spsc, k->op, k->elem);
}

/* One pass over the cases from a random start; the index done, or -1. */
static int scan(ch_case_t *cases, int n)
{
    int start = n > 1 ? (int)rng_below((uint32_t)n) : 0;
    for (int i = 0, k = start; i < n; i++) {
        int r = try_case(&cases[k]);
        if (r != EAGAIN) {
            cases[k].result = r;
            return k;
        }
        if (++k == n)
            k = 0;
    }
    return -1;
}

/* Poll hook of a parked select: wake it when any SPSC case can proceed. */
static unsigned sel_poll(co_poll_t *p)
{
    ch_sel_t *sel = (ch_sel_t *)((char *)p - offsetof(ch_sel_t, poll));
    for (int i = 0; i < sel->ncases; i++) {
        ch_case_t *k = &sel->cases[i];
        if (k->spsc && chs_maybe_ready(k->spsc, k->op)) {
            co_poll_del(p);
            sel->polling = false;
            return co_ready(sel->co) ? 1 : 0;
        }
    }
    return 0;
}

static ch_queue_t *queue_of(ch_case_t *k)
{
    return k->op == CH_SEND ? &k->local->sendq : &k->local->recvq;
}

/*
 * Park until a case is done (its index), or the context / deadline ends the wait
 * (-errno). Scans again after every wake-up, so it also serves a select whose scan
 * just failed.
 */
int ch_block(ch_case_t *cases, int n, uint64_t deadline_tsc, co_ctx_t *ctx)
{
    ch_waiter_t w[n > 0 ? n : 1];
    for (;;) {
        ch_sel_t sel = {.co = co_self(), .fired = -1, .cases = cases, .ncases = n};
        bool any_spsc = false;
        for (int i = 0; i < n; i++) {
            w[i].linked = false;
            if (cases[i].local) {
                w[i] = (ch_waiter_t){.sel = &sel, .elem = cases[i].elem, .idx = i};
                ch_queue_push(queue_of(&cases[i]), &w[i]);
            } else {
                any_spsc = true;
            }
        }
        if (any_spsc) {
            sel.poll.fn = sel_poll;
            sel.polling = true;
            co_poll_add(&sel.poll);
        }
        int r = co_park(ctx, deadline_tsc, n == 1 ? "chan" : "select", cases);
        for (int i = 0; i < n; i++)
            if (cases[i].local)
                ch_queue_unlink(queue_of(&cases[i]), &w[i]);
        if (sel.polling)
            co_poll_del(&sel.poll);
        if (sel.fired >= 0) {
            cases[sel.fired].result = sel.result;
            return sel.fired;
        }
        if (r != 0)
            return -r;
        int done = scan(cases, n); /* an SPSC case moved, or a stray wake-up */
        if (done >= 0)
            return done;
    }
}

int ch_select(ch_case_t *cases, int n, unsigned flags, uint64_t deadline_tsc, co_ctx_t *ctx)
{
    if (n < 0 || n > CH_SELECT_MAX || (n > 0 && !cases))
        return -EINVAL;
    for (int i = 0; i < n; i++)
        if (!case_valid(&cases[i]))
            return -EINVAL;
    int done = scan(cases, n);
    if (done >= 0)
        return done;
    if (flags & CH_NONBLOCK)
        return CH_DEFAULT;
    if (!co_self()) {
        /* A plain thread has nothing to switch to: poll until something moves. */
        for (;;) {
            int err = co_ctx_err(ctx);
            if (err)
                return -err;
            if (co_tsc() >= deadline_tsc)
                return -ETIMEDOUT;
            for (int i = 0; i < 64; i++)
                __builtin_ia32_pause();
            if ((done = scan(cases, n)) >= 0)
                return done;
        }
    }
    return ch_block(cases, n, deadline_tsc, ctx);
}
