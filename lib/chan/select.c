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
#include <pthread.h>

/* Per-thread xorshift64*: the random start of each scan. */
static CH_TLS uint64_t rng_state;

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

static inline bool case_valid(const ch_case_t *k)
{
    return (k->local != NULL) != (k->spsc != NULL) && (unsigned)k->op <= CH_SEND;
}

/* Try one case: 0 or EPIPE when done, EAGAIN when it must wait, -EINVAL if bad. */
static inline int try_case(ch_case_t *k)
{
    if (CH_UNLIKELY(!case_valid(k)))
        return -EINVAL;
    if (k->local) {
        if (!ch_local_maybe_ready(k->local, k->op))
            return EAGAIN;
        return ch_try_op(k->local, k->op, k->elem);
    }
    if (k->op == CH_RECV) /* a line of a feed handler: inline, no call */
        return chs_try_recv(k->spsc, k->elem);
    if (!chs_maybe_ready(k->spsc, k->op))
        return EAGAIN;
    return chs_try_op(k->spsc, k->op, k->elem);
}

/*
 * Scan cases [from, to): the index of the case done, -1 if none could proceed, or
 * -EINVAL at the first bad case met. The common case, a receive on a local channel
 * that has nothing for it, is tested inline with one combined test (count, closed
 * and a parked sender share one cache line of the channel); a case of that shape is
 * valid by construction. Everything else takes try_case(), which validates it.
 */
static inline int scan_range(ch_case_t *cases, int from, int to)
{
    for (int k = from; k < to; k++) {
        ch_case_t *cs = &cases[k];
        ch_t *lc = cs->local;
        /* no SPSC channel and op CH_RECV (0): one or-ed test; then the channel's word */
        if (CH_LIKELY(((uintptr_t)cs->spsc | (unsigned)cs->op) == 0 && lc != NULL) &&
            ch_recv_word(lc) == 0)
            continue;
        int r = try_case(cs);
        if (r != EAGAIN) {
            if (CH_UNLIKELY(r < 0))
                return r;
            cs->result = r;
            return k;
        }
    }
    return -1;
}

/*
 * One pass over the cases from a random start: the index of the case done, -1 if
 * none could proceed, or -EINVAL at the first bad case met. Cases are validated as
 * they are visited, so a ready case found early costs nothing for the rest. Two
 * ranges, [start, n) then [0, start), so the loop needs no wrap-around test.
 */
static int scan(ch_case_t *cases, int n)
{
    int start = n > 1 ? (int)rng_below((uint32_t)n) : 0;
    int r = scan_range(cases, start, n);
    if (r != -1)
        return r;
    return scan_range(cases, 0, start);
}

/*
 * Waiter storage for a blocking select. Up to STACK_WAITERS cases keep their waiters
 * on the coroutine's stack; bigger selects take a block from a per-thread free list
 * (allocated the first time a select of that size blocks, then reused), so a
 * coroutine on a 2 KiB small stack can select over CH_SELECT_MAX cases.
 */
#define STACK_WAITERS 4

struct wblock {
    struct wblock *next;
    ch_waiter_t w[];
};

static CH_TLS struct wblock *wfree[8]; /* by size class: 8 << class waiters */

static int wclass(int n)
{
    int cls = 0;
    while ((8 << cls) < n)
        cls++;
    return cls;
}

static struct wblock *wblock_take(int n)
{
    int cls = wclass(n);
    struct wblock *b = wfree[cls];
    if (b) {
        wfree[cls] = b->next;
        return b;
    }
    return co_mem_alloc(sizeof(*b) + ((size_t)8 << cls) * sizeof(ch_waiter_t), CH_CACHE_LINE);
}

static void wblock_give(struct wblock *b, int n)
{
    int cls = wclass(n);
    b->next = wfree[cls];
    wfree[cls] = b;
}

/* Poll hook of a parked select: wake it when any SPSC case can proceed. */
static unsigned sel_poll(co_poll_t *p)
{
    ch_sel_t *sel = (ch_sel_t *)((char *)p - offsetof(ch_sel_t, poll));
    for (int i = 0; i < sel->ncases; i++) {
        ch_case_t *k = &sel->cases[i];
        if (k->spsc &&
            (k->op == CH_RECV ? chs_recv_ready(k->spsc) : chs_maybe_ready(k->spsc, k->op))) {
            co_poll_del(p);
            sel->polling = false;
            return co_ready(sel->co) ? 1 : 0;
        }
    }
    return 0;
}

/*
 * The watch list: every SPSC receive case of this thread's parked selects, in one
 * dense array scanned by one poll hook. With a poll hook per select, every scheduler
 * pass made an indirect call per parked select and walked its cases (~57
 * instructions per select; 50 feed handlers parked made ~2800 a pass, and a pass runs
 * on every wake-up). Entry i is the channel watch_c[i], the consumer's index when the
 * select parked watch_h[i] (and "not closed") and the case's waiter watch_w[i]; the
 * waiter's idx (unused for an SPSC case: no peer completes it) is the entry's
 * position, so a select removes its entries in O(1) each when it wakes. Selects with
 * an SPSC send case keep a hook of their own (sel_poll).
 *
 * The three columns are separate arrays so that watch_poll() can look at four
 * entries with four loads of channel words, four XORs against the heads and one test
 * (~4 instructions an entry instead of ~13: a pass with 100 parked lines, 50 feeds,
 * runs on every wake-up of a handler lcore; callgrind, docs/architecture.md).
 */
_Static_assert(offsetof(chs_t, prod) == 0 && offsetof(struct chs_side, pos) == 0 &&
                   offsetof(struct chs_side, closed) == 4 && sizeof(_Atomic bool) == 1,
               "watch_poll() reads the tail and the close as one word");

/* The tail and the close flag of @p c in one acquire load (CHS_WATCH_MASK: the
   caller masks). x86 keeps an aligned 8-byte load single-copy atomic; both fields
   are atomics too. */
static inline uint64_t watch_word(const chs_t *c)
{
    return __atomic_load_n((const uint64_t *)(const void *)c, __ATOMIC_ACQUIRE);
}

static CH_TLS chs_t **watch_c;
static CH_TLS uint64_t *watch_h;
static CH_TLS ch_waiter_t **watch_w;
static CH_TLS unsigned watch_n, watch_cap;
static CH_TLS co_poll_t watch_hook;

/* The list lives as long as its thread: a key's destructor frees it at thread exit. */
static pthread_key_t watch_key;
static pthread_once_t watch_once = PTHREAD_ONCE_INIT;

static void watch_free(void *v)
{
    co_mem_free(v);
}

static void watch_key_init(void)
{
    (void)pthread_key_create(&watch_key, watch_free);
}

static void watch_drop(ch_waiter_t *w)
{
    unsigned i = (unsigned)w->idx, last = --watch_n;
    if (i != last) {
        watch_c[i] = watch_c[last];
        watch_h[i] = watch_h[last];
        watch_w[i] = watch_w[last];
        watch_w[i]->idx = (int)i;
    }
    if (watch_n == 0)
        co_poll_del(&watch_hook);
}

/*
 * Arm @p w's case on its channel's doorbell instead of the watch list; false when the
 * channel has none, or another select of this thread is armed on it already (two
 * coroutines receiving from one channel: the second goes on the watch list).
 */
static bool bell_arm(chs_t *c, ch_waiter_t *w)
{
    chs_bell_t *b = c->bell;
    if (b == NULL || b->w[c->bell_idx] != NULL)
        return false;
#ifndef NDEBUG
    chs__check_bell_owner(b);
#endif
    unsigned i = c->bell_idx;
    b->w[i] = w;
    b->armed[i / 64] |= 1ull << (i % 64);
    if (b->n_armed++ == 0)
        co_poll_add(&b->poll);
    w->belled = true;
    return true;
}

static void bell_disarm(chs_t *c, ch_waiter_t *w)
{
    chs_bell_t *b = c->bell;
    unsigned i = c->bell_idx;
    b->w[i] = NULL;
    b->armed[i / 64] &= ~(1ull << (i % 64));
    if (--b->n_armed == 0)
        co_poll_del(&b->poll);
    w->belled = false;
}

/* Remove every entry of @p sel (it is no longer parked, or is about to wake). */
static void watch_drop_sel(ch_sel_t *sel, ch_waiter_t *w)
{
    for (int i = 0; i < sel->ncases; i++) {
        chs_t *c = sel->cases[i].spsc;
        if (c == NULL)
            continue;
        if (w[i].belled)
            bell_disarm(c, &w[i]);
        else
            watch_drop(&w[i]);
    }
    sel->polling = false;
}

/*
 * A doorbell's poll hook: the words with an armed bit that were rung are exchanged
 * for zero, and each armed channel among the rung ones that can be received from
 * (data, or the close) wakes its select. A word is read before it is exchanged, so a
 * pass with nothing rung makes no atomic read-modify-write (and never writes the line
 * the producers write). Bits of channels that nobody is parked on are cleared with the
 * rest: their consumer looks at them before it parks (chan.h, "Doorbells").
 */
unsigned chs__bell_poll(co_poll_t *p)
{
    chs_bell_t *b = (chs_bell_t *)(void *)((char *)p - offsetof(chs_bell_t, poll));
    unsigned woke = 0;
    for (unsigned k = 0; k < b->n_words; k++) {
        if (b->armed[k] == 0 || atomic_load_explicit(&b->bits[k], memory_order_relaxed) == 0)
            continue;
        /* acquire: pairs with chs_ring()'s release, so the tails below are current */
        uint64_t rung = atomic_exchange_explicit(&b->bits[k], 0, memory_order_acquire);
        for (rung &= b->armed[k]; rung != 0; rung &= rung - 1) {
            unsigned i = k * 64 + (unsigned)__builtin_ctzll(rung);
            ch_waiter_t *w = b->w[i]; /* NULL: its select woke by another of its lines */
            if (w == NULL || b->chan[i] == NULL || !chs_recv_ready(b->chan[i]))
                continue;
            ch_sel_t *sel = w->sel;
            sel->moved = (int)(w - sel->w); /* its case: the select takes it first */
            watch_drop_sel(sel, sel->w);    /* disarms its bits, this one included */
            woke += co_ready(sel->co) ? 1u : 0u;
        }
    }
    return woke;
}

/* Entry @p i moved (data or a close): true when that is so. */
static inline bool watch_moved(unsigned i)
{
    return ((watch_word(watch_c[i]) ^ watch_h[i]) & CHS_WATCH_MASK) != 0;
}

/*
 * Entries [lo, hi), one by one from the top: each moved one wakes its select, which
 * drops all of that select's entries by moving the last ones into their places. Those
 * have been looked at already in this pass (or are looked at again, which is
 * harmless). Returns where the scan goes on below: lo, or watch_n if that fell lower.
 */
static unsigned watch_wake_range(unsigned lo, unsigned hi, unsigned *woke)
{
    for (unsigned i = hi; i-- > lo;) {
        /* The consumer's index is the one taken at park time: the consumer is parked,
           and should another coroutine of this thread consume meanwhile, the stale
           copy only causes a wake-up that finds nothing and parks again. */
        if (CH_LIKELY(!watch_moved(i)))
            continue;
        ch_sel_t *sel = watch_w[i]->sel;
        sel->moved = (int)(watch_w[i] - sel->w);
        watch_drop_sel(sel, sel->w);
        *woke += co_ready(sel->co) ? 1u : 0u;
        if (i > watch_n)
            i = watch_n; /* entries from watch_n on are gone; go on below them */
    }
    return lo < watch_n ? lo : watch_n;
}

/* Scanned from the end, four entries a test; a block that moved is gone through one
   entry at a time. Nothing in here grows the list: the arrays stay put. */
static unsigned watch_poll(co_poll_t *p)
{
    (void)p;
    unsigned woke = 0, i = watch_n;
    /* in locals: after each acquire load the compiler would reload the TLS ones */
    chs_t *const *c = watch_c;
    const uint64_t *h = watch_h;
    while (i >= 4) {
        size_t b = i - 4; /* size_t: c[b + 1] is then a displacement, not another index */
        uint64_t d = (watch_word(c[b]) ^ h[b]) | (watch_word(c[b + 1]) ^ h[b + 1]) |
                     (watch_word(c[b + 2]) ^ h[b + 2]) | (watch_word(c[b + 3]) ^ h[b + 3]);
        i = CH_LIKELY((d & CHS_WATCH_MASK) == 0) ? (unsigned)b
                                                 : watch_wake_range((unsigned)b, i, &woke);
    }
    watch_wake_range(0, i, &woke);
    return woke;
}

/* Room for @p need entries: the three columns in one block (a key frees it). */
static bool watch_reserve(unsigned need)
{
    if (need <= watch_cap)
        return true;
    unsigned cap = watch_cap ? watch_cap : 64;
    while (cap < need)
        cap *= 2;
    /* like the waiter blocks: allocated once, as the thread's selects first need it */
    char *m = co_mem_alloc((size_t)cap * (sizeof(chs_t *) + sizeof(uint64_t) + sizeof(void *)),
                           CH_CACHE_LINE);
    if (m == NULL)
        return false;
    chs_t **c = (chs_t **)(void *)m;
    uint64_t *h = (uint64_t *)(void *)(m + (size_t)cap * sizeof(chs_t *));
    ch_waiter_t **w = (ch_waiter_t **)(void *)(m + (size_t)cap * (sizeof(chs_t *) + 8));
    if (watch_n > 0) {
        memcpy(c, watch_c, watch_n * sizeof(*c));
        memcpy(h, watch_h, watch_n * sizeof(*h));
        memcpy(w, watch_w, watch_n * sizeof(*w));
    }
    co_mem_free(watch_c);
    watch_c = c;
    watch_h = h;
    watch_w = w;
    (void)pthread_once(&watch_once, watch_key_init);
    (void)pthread_setspecific(watch_key, m);
    watch_cap = cap;
    return true;
}

/* Arm @p sel's SPSC cases (all receives) on their doorbells, or add them to the watch
   list; false if out of memory (nothing armed or added then). */
static bool watch_add_sel(ch_sel_t *sel, ch_case_t *cases, int n, ch_waiter_t *w, int nspsc)
{
    if (!watch_reserve(watch_n + (unsigned)nspsc))
        return false;
    for (int i = 0; i < n; i++) {
        if (!cases[i].spsc)
            continue;
        chs_t *c = cases[i].spsc;
        if (bell_arm(c, &w[i]))
            continue;
        if (watch_n == 0) {
            watch_hook.fn = watch_poll;
            co_poll_add(&watch_hook);
        }
        w[i].idx = (int)watch_n;
        watch_c[watch_n] = c;
        watch_h[watch_n] = atomic_load_explicit(&c->cons.pos, memory_order_relaxed);
        watch_w[watch_n] = &w[i];
        watch_n++;
    }
    sel->polling = true;
    return true;
}

static ch_queue_t *queue_of(ch_case_t *k)
{
    return k->op == CH_SEND ? &k->local->sendq : &k->local->recvq;
}

/* Queue one waiter per local case, watch the SPSC cases, park; the index done or
 * -errno, or CH_DEFAULT after a wake-up that completed nothing. */
static int park_once(ch_case_t *cases, int n, ch_waiter_t *w, uint64_t deadline_tsc, co_ctx_t *ctx,
                     int *moved)
{
    ch_sel_t sel = {.co = co_self(), .fired = -1, .cases = cases, .ncases = n, .moved = -1, .w = w};
    int nspsc = 0;
    bool spsc_send = false;
    for (int i = 0; i < n; i++) {
        w[i] = (ch_waiter_t){.sel = &sel, .elem = cases[i].elem, .idx = i};
        if (cases[i].local) {
            ch_queue_push(queue_of(&cases[i]), &w[i]);
            if (cases[i].op == CH_SEND)
                ch_poke(cases[i].local); /* its receivers can take from this select */
        } else {
            nspsc++;
            spsc_send |= cases[i].op != CH_RECV;
        }
    }
    bool watched = nspsc > 0 && !spsc_send && watch_add_sel(&sel, cases, n, w, nspsc);
    if (nspsc > 0 && !watched) {
        sel.poll.fn = sel_poll;
        sel.polling = true;
        co_poll_add(&sel.poll);
    }
    int r = co_park(ctx, deadline_tsc, n == 1 ? "chan" : "select", cases);
    for (int i = 0; i < n; i++)
        if (cases[i].local)
            ch_queue_unlink(queue_of(&cases[i]), &w[i]);
    if (sel.polling) {
        if (watched)
            watch_drop_sel(&sel, w);
        else
            co_poll_del(&sel.poll);
    }
    if (sel.fired >= 0) {
        cases[sel.fired].result = sel.result;
        return sel.fired;
    }
    *moved = sel.moved;
    return r ? -r : CH_DEFAULT;
}

/*
 * Park until a case is done (its index), or the context / deadline ends the wait
 * (-errno). Scans again after every wake-up that a local peer did not complete.
 */
int ch_block(ch_case_t *cases, int n, uint64_t deadline_tsc, co_ctx_t *ctx)
{
    ch_waiter_t stack_w[STACK_WAITERS];
    struct wblock *b = NULL;
    ch_waiter_t *w = stack_w;
    if (n > STACK_WAITERS) {
        b = wblock_take(n);
        if (!b)
            return -ENOMEM;
        w = b->w;
    }
    int done, moved;
    for (;;) {
        done = park_once(cases, n, w, deadline_tsc, ctx, &moved);
        if (done != CH_DEFAULT)
            break;
        /* An SPSC case moved: the one whose move woke us first, without a scan (its
           poll hook saw it ready; another case can still have taken its turn since) */
        if (moved >= 0 && (done = try_case(&cases[moved])) != EAGAIN) {
            if (done >= 0) {
                cases[moved].result = done;
                done = moved;
            }
            break;
        }
        done = scan(cases, n); /* nothing there after all, or a stray wake-up */
        if (done >= 0)
            break;
    }
    if (b)
        wblock_give(b, n);
    return done;
}

int ch_select(ch_case_t *cases, int n, unsigned flags, uint64_t deadline_tsc, co_ctx_t *ctx)
{
    if (n < 0 || n > CH_SELECT_MAX || (n > 0 && !cases))
        return -EINVAL;
#ifndef NDEBUG
    for (int i = 0; i < n; i++) /* debug builds: every case, up front */
        if (!case_valid(&cases[i]))
            return -EINVAL;
#endif
    int done = scan(cases, n);
    if (done >= 0 || done == -EINVAL)
        return done;
    /* Nothing ready: every case was visited, so every case is valid. */
    if (flags & CH_NONBLOCK)
        return CH_DEFAULT;
    if (deadline_tsc != UINT64_MAX && co_tsc() >= deadline_tsc)
        return -ETIMEDOUT; /* already past: do not park at all */
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
