/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Channel sets (chan.h): a persistent receive select.
 *
 * State is one bit per member in `ready`: set when the member may be ready to
 * receive from, cleared when a look finds it is not. A local member sets its own bit
 * (ch_poke() in local.c and select.c, on every put, parked sender and close) and
 * wakes a parked owner; nothing else visits it, so a set of 50 quiet inputs costs
 * nothing to wait on. SPSC members cannot be told by their producers without a
 * shared write on every send, so they are polled instead: each ch_set_wait() sets
 * the bits of those that are ready, and a parked owner has one poll hook that does
 * the same and wakes it. Every bit found set is checked against its channel before
 * its member is returned, so a stale bit costs one look and is then cleared.
 *
 * Fairness: the search for a set bit starts at `cursor`, the member after the one
 * returned last, and wraps; so a member that stays ready is returned at least once
 * in every `n` calls, however busy the others are.
 */
#include "chan_internal.h"

#include <errno.h>

typedef struct ch_member {
    ch_t *local;
    chs_t *spsc;
} ch_member_t;

struct ch_set {
    co_t *waiter; /* the owner while parked in ch_set_wait(), else NULL */
    unsigned max; /* member slots */
    unsigned top; /* slots in use or freed: [0, top) */
    unsigned len; /* members */
    unsigned nwords;
    unsigned cursor; /* where the next search starts */
    unsigned nspsc;
    co_poll_t poll; /* registered while the owner is parked and there are SPSC members */
    bool polling;
    uint64_t *ready;     /* [nwords] */
    ch_member_t *m;      /* [max] */
    uint16_t *spsc_list; /* [nspsc] the SPSC members' indices */
};

ch_set_t *ch_set_new(unsigned max)
{
    if (max == 0 || max > CH_SET_MAX) {
        errno = EINVAL;
        return NULL;
    }
    unsigned nwords = (max + 63) / 64;
    size_t head = (sizeof(ch_set_t) + 63) & ~(size_t)63;
    size_t bytes =
        head + nwords * sizeof(uint64_t) + max * sizeof(ch_member_t) + max * sizeof(uint16_t);
    unsigned char *p = co_mem_alloc(bytes, CH_CACHE_LINE);
    if (p == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    memset(p, 0, bytes);
    ch_set_t *s = (ch_set_t *)p;
    s->max = max;
    s->nwords = nwords;
    s->ready = (uint64_t *)(p + head);
    s->m = (ch_member_t *)(s->ready + nwords);
    s->spsc_list = (uint16_t *)(s->m + max);
    return s;
}

void ch_set_free(ch_set_t *s)
{
    if (s == NULL)
        return;
    for (unsigned i = 0; i < s->top; i++)
        if (s->m[i].local)
            s->m[i].local->set = NULL;
    co_mem_free(s);
}

static inline void bit_set(ch_set_t *s, unsigned i)
{
    s->ready[i >> 6] |= 1ull << (i & 63);
}

static inline void bit_clear(ch_set_t *s, unsigned i)
{
    s->ready[i >> 6] &= ~(1ull << (i & 63));
}

int ch_set_add(ch_set_t *s, ch_t *local, chs_t *spsc)
{
    if ((local == NULL) == (spsc == NULL) || (local && local->set))
        return -EINVAL;
    unsigned i = 0;
    while (i < s->top && (s->m[i].local || s->m[i].spsc))
        i++; /* the first freed slot, else the next new one */
    if (i == s->max)
        return -ENOSPC;
    if (i == s->top)
        s->top++;
    s->m[i] = (ch_member_t){.local = local, .spsc = spsc};
    if (local) {
        local->set = s;
        local->set_idx = (uint16_t)i;
    } else {
        s->spsc_list[s->nspsc++] = (uint16_t)i;
    }
    s->len++;
    bit_set(s, i); /* it may hold elements already: the first look tells */
    return (int)i;
}

void ch_set_remove(ch_set_t *s, int idx)
{
    if (idx < 0 || (unsigned)idx >= s->top)
        return;
    ch_member_t *mb = &s->m[idx];
    if (mb->local) {
        mb->local->set = NULL;
    } else if (mb->spsc) {
        for (unsigned k = 0; k < s->nspsc; k++) {
            if (s->spsc_list[k] == (uint16_t)idx) {
                s->spsc_list[k] = s->spsc_list[--s->nspsc];
                break;
            }
        }
    } else {
        return; /* not a member */
    }
    *mb = (ch_member_t){0};
    bit_clear(s, (unsigned)idx);
    s->len--;
}

unsigned ch_set_len(const ch_set_t *s)
{
    return s->len;
}

void ch_set__poke(ch_set_t *s, unsigned idx)
{
    bit_set(s, idx);
    co_t *w = s->waiter;
    if (w != NULL) {
        s->waiter = NULL; /* one wake-up per park */
        co_ready_next(w); /* runs once the sender parks or yields (chan.h) */
    }
}

/* Set the bits of the SPSC members that are ready; true if any. */
static bool poll_spsc(ch_set_t *s)
{
    bool any = false;
    for (unsigned k = 0; k < s->nspsc; k++) {
        unsigned i = s->spsc_list[k];
        if (chs_recv_ready(s->m[i].spsc)) {
            bit_set(s, i);
            any = true;
        }
    }
    return any;
}

/* Poll hook of a parked owner with SPSC members. */
static unsigned set_poll(co_poll_t *p)
{
    ch_set_t *s = (ch_set_t *)((char *)p - offsetof(ch_set_t, poll));
    if (!poll_spsc(s) || s->waiter == NULL)
        return 0;
    co_t *w = s->waiter;
    s->waiter = NULL;
    return co_ready(w) ? 1 : 0;
}

static inline bool member_ready(const ch_member_t *mb)
{
    if (mb->local)
        return ch_local_maybe_ready(mb->local, CH_RECV);
    return mb->spsc != NULL && chs_recv_ready(mb->spsc);
}

/* The first member in [from, to) whose bit is set and that is ready, clearing the
   bits of those that are not; -1 if none. */
static int pick_range(ch_set_t *s, unsigned from, unsigned to)
{
    while (from < to) {
        unsigned w = from >> 6;
        uint64_t bits = s->ready[w] & (~0ull << (from & 63));
        if (bits == 0) {
            from = (w + 1) << 6;
            continue;
        }
        unsigned i = (w << 6) + (unsigned)__builtin_ctzll(bits);
        if (i >= to)
            return -1;
        if (member_ready(&s->m[i]))
            return (int)i;
        bit_clear(s, i);
        from = i + 1;
    }
    return -1;
}

/* Round robin from the cursor: the member to return, or -1. */
static int pick(ch_set_t *s)
{
    unsigned start = s->cursor < s->top ? s->cursor : 0;
    int i = pick_range(s, start, s->top);
    if (i < 0)
        i = pick_range(s, 0, start);
    if (i >= 0)
        s->cursor = (unsigned)i + 1;
    return i;
}

/* Park the owner until a member pokes, a poll finds an SPSC member ready, or the
   context or deadline ends the wait: 0 or an errno value. */
static int park(ch_set_t *s, co_t *self, uint64_t deadline_tsc, co_ctx_t *ctx)
{
    s->waiter = self;
    if (s->nspsc > 0) {
        s->poll.fn = set_poll;
        co_poll_add(&s->poll);
        s->polling = true;
    }
    int r = co_park(ctx, deadline_tsc, "chan set", s);
    s->waiter = NULL;
    if (s->polling) {
        co_poll_del(&s->poll);
        s->polling = false;
    }
    return r;
}

int ch_set_wait(ch_set_t *s, unsigned flags, uint64_t deadline_tsc, co_ctx_t *ctx)
{
    if (s->waiter != NULL)
        return -EBUSY;
    for (;;) {
        if (s->nspsc > 0)
            poll_spsc(s);
        int i = pick(s);
        if (i >= 0)
            return i;
        if (flags & CH_NONBLOCK)
            return CH_DEFAULT;
        int err = co_ctx_err(ctx);
        if (err)
            return -err;
        if (deadline_tsc != UINT64_MAX && co_tsc() >= deadline_tsc)
            return -ETIMEDOUT;
        co_t *self = co_self();
        if (self == NULL) { /* a plain thread: poll until something moves */
            for (int k = 0; k < 64; k++)
                __builtin_ia32_pause();
            continue;
        }
        err = park(s, self, deadline_tsc, ctx);
        if (err)
            return -err;
    }
}
