/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The pure sequencing / arbitration core (feed_core.h).
 */
#include "feed_core.h"

#include <errno.h>
#include <string.h>

#include "co.h"

/* Counters have one writer (the handler) and relaxed readers (feed_stats). */
#define ST_ADD(field, n) __atomic_store_n(&(field), (field) + (uint64_t)(n), __ATOMIC_RELAXED)
#define ST_SET(field, v) __atomic_store_n(&(field), (uint64_t)(v), __ATOMIC_RELAXED)

/* Recent winners kept for the skew histogram (by first sequence, direct-mapped). */
#define RECENT 256
/* Given-up ranges remembered to tell a late copy from a plain duplicate (a ring). */
#define FEED_FINALS 64

/* An open gap range (inclusive), waiting for a retransmission or a late copy. */
typedef struct hole {
    uint64_t from, to;
    uint64_t created_ns;
    uint64_t deadline_ns; /* sent: when to retry or give up */
    uint64_t req_to;      /* last sequence the outstanding request covers */
    unsigned retries;
    bool sent;
} hole_t;

typedef struct recent {
    uint64_t seq;
    uint64_t rx_tsc;
    uint8_t line;
} recent_t;

struct feed_core {
    feed_core_conf_t c;
    feed_core_ops_t ops;
    void *arg;
    feed_stats_t *st;
    bool have_session, have_prev, synced;
    bool eos_pending, eos_done, blocked;
    uint8_t session[MOLD_SESSION_LEN], prev[MOLD_SESSION_LEN];
    uint64_t next;    /* first sequence neither delivered nor declared missing */
    uint64_t high;    /* end (exclusive) of the highest sequence known to exist */
    uint64_t eos_seq; /* end of session: the first sequence never sent */
    uint64_t order;   /* arrival counter */
    uint64_t wait_since;
    feed_pkt_t *heap; /* the reorder window: min-heap by (seq, order) */
    unsigned nheap, heap_cap;
    unsigned held[FEED_LINES];
    hole_t holes[FEED_HOLES_MAX]; /* sorted by from, disjoint */
    unsigned nholes;
    uint64_t hole_due; /* earliest time a hole needs attention */
    uint64_t tat_ns;   /* rate limit: GCRA theoretical arrival time */
    uint64_t wall_ns;  /* request clock (feed_core_set_wall); arrival time until set */
    bool have_wall;
    /* recently given-up ranges: a copy arriving for them is counted as late */
    struct {
        uint64_t from, to;
    } finals[FEED_FINALS];
    unsigned nfinals;
    uint64_t last_rx[2];
    bool up[2], feed_up;
    recent_t recent[RECENT];
    feed_hist_t skew;
};

static void drain(feed_core_t *c, uint64_t now);
static void schedule(feed_core_t *c, uint64_t now);

/* ------------------------------------------------------------------------------ */
/* Histogram                                                                      */
/* ------------------------------------------------------------------------------ */

void feed_hist_init(feed_hist_t *h)
{
    memset(h, 0, sizeof(*h));
}

/* Bucket of @p v: exact below FEED_HIST_SUB, then FEED_HIST_SUB per power of two. */
static unsigned hist_bucket(uint64_t v)
{
    if (v < FEED_HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - 3u; /* FEED_HIST_SUB = 8 = 2^3 */
    return (msb - 2u) * FEED_HIST_SUB + (unsigned)((v >> shift) & (FEED_HIST_SUB - 1));
}

/* Largest value that lands in bucket @p b. */
static uint64_t hist_upper(unsigned b)
{
    if (b < FEED_HIST_SUB)
        return b;
    unsigned msb = b / FEED_HIST_SUB + 2u;
    unsigned shift = msb - 3u;
    uint64_t lo = ((uint64_t)(FEED_HIST_SUB + b % FEED_HIST_SUB)) << shift;
    return lo + ((1ull << shift) - 1);
}

void feed_hist_record(feed_hist_t *h, uint64_t v)
{
    unsigned b = hist_bucket(v);
    ST_ADD(h->b[b], 1);
    ST_ADD(h->count, 1);
    ST_ADD(h->sum, v);
    if (v > h->max)
        ST_SET(h->max, v);
}

uint64_t feed_hist_quantile(const feed_hist_t *h, double q)
{
    uint64_t n = __atomic_load_n(&h->count, __ATOMIC_RELAXED);
    uint64_t max = __atomic_load_n(&h->max, __ATOMIC_RELAXED);
    if (n == 0)
        return 0;
    if (q >= 1.0)
        return max;
    uint64_t want = (uint64_t)(q * (double)n) + 1, seen = 0;
    for (unsigned b = 0; b < FEED_HIST_BUCKETS; b++) {
        seen += __atomic_load_n(&h->b[b], __ATOMIC_RELAXED);
        if (seen >= want) {
            uint64_t u = hist_upper(b);
            return u < max ? u : max;
        }
    }
    return max;
}

/* ------------------------------------------------------------------------------ */
/* The reorder window: a binary min-heap                                          */
/* ------------------------------------------------------------------------------ */

static bool pkt_less(const feed_pkt_t *a, const feed_pkt_t *b)
{
    return a->seq < b->seq || (a->seq == b->seq && a->order < b->order);
}

static void heap_swap(feed_pkt_t *a, feed_pkt_t *b)
{
    feed_pkt_t t = *a;
    *a = *b;
    *b = t;
}

static void heap_push(feed_core_t *c, const feed_pkt_t *p)
{
    unsigned i = c->nheap++;
    c->heap[i] = *p;
    while (i > 0 && pkt_less(&c->heap[i], &c->heap[(i - 1) / 2])) {
        heap_swap(&c->heap[i], &c->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
}

static feed_pkt_t heap_pop(feed_core_t *c)
{
    feed_pkt_t top = c->heap[0];
    c->heap[0] = c->heap[--c->nheap];
    for (unsigned i = 0;;) {
        unsigned l = 2 * i + 1, r = l + 1, m = i;
        if (l < c->nheap && pkt_less(&c->heap[l], &c->heap[m]))
            m = l;
        if (r < c->nheap && pkt_less(&c->heap[r], &c->heap[m]))
            m = r;
        if (m == i)
            break;
        heap_swap(&c->heap[i], &c->heap[m]);
        i = m;
    }
    return top;
}

/* ------------------------------------------------------------------------------ */
/* Events and health                                                              */
/* ------------------------------------------------------------------------------ */

static void event(feed_core_t *c, md_event_t ev, uint8_t line, uint64_t from, uint64_t to,
                  uint64_t value, const uint8_t *session)
{
    c->ops.event(c->arg, ev, line, from, to, value, session);
}

static bool monitored(const feed_core_t *c, unsigned line)
{
    return line < 2 && (c->c.monitored & (1u << line));
}

/* Traffic on @p line (heartbeats count): it is up; the feed is up. */
static void touch(feed_core_t *c, uint8_t line, uint64_t now)
{
    if (!monitored(c, line))
        return;
    c->last_rx[line] = now;
    if (c->up[line])
        return;
    c->up[line] = true;
    ST_SET(c->st->line[line].state, FEED_UP);
    event(c, MD_EV_LINE_UP, line, 0, 0, 0, NULL);
    if (!c->feed_up) {
        c->feed_up = true;
        ST_SET(c->st->feed_state, FEED_UP);
        event(c, MD_EV_FEED_UP, MD_LINE_NONE, 0, 0, 0, NULL);
    }
}

/* Lines silent for line_timeout_ns go down; the feed when every watched line is. */
static void check_lines(feed_core_t *c, uint64_t now)
{
    bool any_up = false;
    for (uint8_t l = 0; l < 2; l++) {
        if (!monitored(c, l))
            continue;
        /* additive: a line's last stamp may be ahead of the arrival clock */
        if (c->up[l] && now >= c->last_rx[l] + c->c.line_timeout_ns) {
            c->up[l] = false;
            ST_SET(c->st->line[l].state, FEED_DOWN);
            event(c, MD_EV_LINE_DOWN, l, 0, 0, now - c->last_rx[l], NULL);
        }
        any_up |= c->up[l];
    }
    if (!any_up && c->feed_up) {
        c->feed_up = false;
        ST_SET(c->st->feed_state, FEED_DOWN);
        event(c, MD_EV_FEED_DOWN, MD_LINE_NONE, 0, 0, 0, NULL);
    }
}

/* End of session reached once every message before it is resolved. */
static void check_eos(feed_core_t *c)
{
    if (!c->eos_pending || c->next < c->eos_seq)
        return;
    c->eos_pending = false;
    c->eos_done = true;
    ST_ADD(c->st->end_of_session, 1);
    event(c, MD_EV_END_OF_SESSION, MD_LINE_NONE, c->eos_seq, c->eos_seq, 0, c->session);
}

/* ------------------------------------------------------------------------------ */
/* Holes: declared gaps still open for recovery                                   */
/* ------------------------------------------------------------------------------ */

static void hole_remove(feed_core_t *c, unsigned i)
{
    memmove(&c->holes[i], &c->holes[i + 1], (c->nholes - i - 1) * sizeof(hole_t));
    c->nholes--;
}

/* Keep [from, to] (given up) in the ring of recent finals. */
static void remember_final(feed_core_t *c, uint64_t from, uint64_t to)
{
    unsigned i = c->nfinals++ % FEED_FINALS; /* 2^32 is a multiple of FEED_FINALS */
    c->finals[i].from = from;
    c->finals[i].to = to;
}

/* Give up hole @p i: its messages are lost for good. */
static void hole_final(feed_core_t *c, unsigned i)
{
    hole_t h = c->holes[i];
    hole_remove(c, i);
    remember_final(c, h.from, h.to);
    ST_ADD(c->st->final_lost, h.to - h.from + 1);
    event(c, MD_EV_GAP_FINAL, MD_LINE_NONE, h.from, h.to, h.to - h.from + 1, NULL);
}

/* Declare [next, to_excl) missing on every line: a gap event and a new hole. */
static void declare_gap(feed_core_t *c, uint64_t to_excl, uint64_t now, bool window)
{
    if (to_excl <= c->next)
        return;
    uint64_t from = c->next, to = to_excl - 1;
    c->next = to_excl;
    ST_ADD(c->st->gaps, 1);
    ST_ADD(c->st->gap_msgs, to - from + 1);
    if (window)
        ST_ADD(c->st->gaps_window, 1);
    event(c, MD_EV_GAP, MD_LINE_NONE, from, to, to - from + 1, NULL);
    if (c->nholes == FEED_HOLES_MAX) {
        /* bounded bookkeeping: the oldest gap is the least likely to be filled */
        ST_ADD(c->st->holes_evicted, 1);
        hole_final(c, 0);
    }
    c->holes[c->nholes++] = (hole_t){.from = from, .to = to, .created_ns = now};
    schedule(c, now);
}

/*
 * The re-request clock: real time (the server answers in real time), held back by the
 * adapter to what the retransmission inputs have delivered, so an answer that came in
 * time but still waits in a channel never counts as missing. Arrival time until set.
 */
static uint64_t req_now(const feed_core_t *c, uint64_t now)
{
    return c->have_wall ? c->wall_ns : now;
}

/* Rate limit (GCRA): a burst of max_outstanding, then rate_per_s. */
static uint64_t rate_interval(const feed_core_t *c)
{
    return 1000000000ull / c->c.rate_per_s;
}

static uint64_t rate_next_ok(const feed_core_t *c)
{
    uint64_t tol = rate_interval(c) * (c->c.max_outstanding - 1);
    return c->tat_ns > tol ? c->tat_ns - tol : 0;
}

static bool rate_take(feed_core_t *c, uint64_t now)
{
    if (now < rate_next_ok(c))
        return false;
    c->tat_ns = (c->tat_ns > now ? c->tat_ns : now) + rate_interval(c);
    return true;
}

/* Send (or resend) the request for the head chunk of hole @p h. */
static void hole_request(feed_core_t *c, hole_t *h, uint64_t now)
{
    uint64_t n = h->to - h->from + 1;
    if (n > c->c.max_msgs)
        n = c->c.max_msgs;
    ST_ADD(c->st->requests, 1);
    if (h->retries > 0)
        ST_ADD(c->st->req_retries, 1);
    if (c->ops.request(c->arg, c->session, h->from, (uint16_t)n) != 0)
        ST_ADD(c->st->req_failed, 1); /* a lost request: the retry timer covers it */
    h->sent = true;
    h->req_to = h->from + n - 1;
    h->deadline_ns = now + c->c.retry_ns;
}

/* Without re-requests a hole only waits final_wait_ns for late copies. */
static void schedule_passive(feed_core_t *c, uint64_t now)
{
    c->hole_due = UINT64_MAX;
    for (unsigned i = 0; i < c->nholes;) {
        uint64_t due = c->holes[i].created_ns + c->c.final_wait_ns;
        if (now >= due) {
            hole_final(c, i);
            continue;
        }
        if (due < c->hole_due)
            c->hole_due = due;
        i++;
    }
}

/* Time out, retry, give up and (rate and outstanding permitting) send requests. */
static void schedule(feed_core_t *c, uint64_t now)
{
    if (!c->c.rereq) {
        schedule_passive(c, now);
        return;
    }
    now = req_now(c, now);
    unsigned outstanding = 0;
    c->hole_due = UINT64_MAX;
    for (unsigned i = 0; i < c->nholes;) {
        hole_t *h = &c->holes[i];
        if (h->sent && now >= h->deadline_ns) {
            if (h->retries >= c->c.max_retries) {
                hole_final(c, i);
                continue;
            }
            h->sent = false;
            h->retries++;
        }
        outstanding += h->sent;
        i++;
    }
    bool limited = false;
    for (unsigned i = 0; i < c->nholes; i++) {
        hole_t *h = &c->holes[i];
        if (!h->sent && outstanding < c->c.max_outstanding && !limited) {
            if (!rate_take(c, now)) {
                limited = true; /* counted once per pass; retried when the bucket allows */
                ST_ADD(c->st->req_limited, 1);
                uint64_t ok = rate_next_ok(c);
                c->hole_due = ok < c->hole_due ? ok : c->hole_due;
            } else {
                hole_request(c, h, now);
                outstanding++;
            }
        }
        if (h->sent && h->deadline_ns < c->hole_due)
            c->hole_due = h->deadline_ns;
    }
}

/* A piece left after a fill: if no outstanding request covers it, ask again now. */
static void hole_progress(hole_t *h)
{
    if (h->from > h->req_to) {
        h->sent = false;
        h->retries = 0;
    }
}

/* Cut [a, b] out of hole @p i; returns the index to continue the scan from. */
static unsigned hole_cut(feed_core_t *c, unsigned i, uint64_t a, uint64_t b)
{
    hole_t *h = &c->holes[i];
    if (a > h->from && b < h->to) {
        if (c->nholes == FEED_HOLES_MAX) {
            /* no room to split: give the upper piece up (counted as evicted) */
            hole_t up = *h;
            up.from = b + 1;
            h->to = a - 1;
            ST_ADD(c->st->holes_evicted, 1);
            ST_ADD(c->st->final_lost, up.to - up.from + 1);
            remember_final(c, up.from, up.to);
            event(c, MD_EV_GAP_FINAL, MD_LINE_NONE, up.from, up.to, up.to - up.from + 1, NULL);
            return i + 1;
        }
        memmove(&c->holes[i + 2], &c->holes[i + 1], (c->nholes - i - 1) * sizeof(hole_t));
        c->nholes++;
        c->holes[i + 1] = *h;
        c->holes[i + 1].from = b + 1;
        h->to = a - 1;
        hole_progress(&c->holes[i + 1]);
        return i + 2;
    }
    if (a > h->from) {
        h->to = a - 1;
        return i + 1;
    }
    if (b < h->to) {
        h->from = b + 1;
        hole_progress(h);
        return i + 1;
    }
    hole_remove(c, i);
    return i;
}

/* Deliver what packet @p p has of the holes within [lo, hi). True if anything. */
static bool fill(feed_core_t *c, const feed_pkt_t *p, uint64_t lo, uint64_t hi, uint64_t now)
{
    bool any = false;
    for (unsigned i = 0; i < c->nholes;) {
        const hole_t *h = &c->holes[i];
        if (h->from >= hi)
            break;
        if (h->to < lo) {
            i++;
            continue;
        }
        uint64_t a = lo > h->from ? lo : h->from;
        uint64_t b = hi - 1 < h->to ? hi - 1 : h->to;
        c->ops.deliver(c->arg, p, a, b + 1);
        ST_ADD(c->st->recovered, b - a + 1);
        event(c, MD_EV_GAP_FILLED, p->line, a, b, b - a + 1, NULL);
        i = hole_cut(c, i, a, b);
        any = true;
    }
    if (any)
        schedule(c, now);
    return any;
}

/* ------------------------------------------------------------------------------ */
/* Sequencing                                                                     */
/* ------------------------------------------------------------------------------ */

/* A duplicate of the other line's winner: how much later it came. */
static void skew_sample(feed_core_t *c, const feed_pkt_t *p)
{
    const recent_t *r = &c->recent[p->seq % RECENT];
    if (p->line >= 2 || r->seq != p->seq || r->line == p->line || r->line >= 2)
        return;
    uint64_t d = p->rx_tsc > r->rx_tsc ? p->rx_tsc - r->rx_tsc : r->rx_tsc - p->rx_tsc;
    feed_hist_record(&c->skew, d);
}

/* Does [from, to) overlap a range given up recently? */
static bool in_final(const feed_core_t *c, uint64_t from, uint64_t to)
{
    unsigned n = c->nfinals < FEED_FINALS ? c->nfinals : FEED_FINALS;
    for (unsigned i = 0; i < n; i++) {
        if (from <= c->finals[i].to && to > c->finals[i].from)
            return true;
    }
    return false;
}

/* Resolve packet @p p, which starts at or before next: fill, win, late, or duplicate. */
static void resolve(feed_core_t *c, const feed_pkt_t *p, uint64_t now)
{
    uint64_t end = p->seq + p->count;
    feed_line_stats_t *ls = &c->st->line[p->line];
    bool filled = false;

    if (p->count > 0) {
        if (p->seq < c->next && c->nholes > 0)
            filled = fill(c, p, p->seq, end < c->next ? end : c->next, now);
        if (end > c->next) {
            c->ops.deliver(c->arg, p, c->next, end);
            c->next = end;
            c->recent[p->seq % RECENT] = (recent_t){p->seq, p->rx_tsc, p->line};
            ST_ADD(ls->wins, 1);
        } else if (filled) {
            ST_ADD(ls->fills, 1);
        } else if (in_final(c, p->seq, end)) {
            ST_ADD(ls->late, 1); /* its range was given up already: too late to help */
        } else {
            ST_ADD(ls->duplicates, 1);
            skew_sample(c, p);
        }
    }
    c->ops.release(c->arg, p);
}

/* Earliest time a held packet entered the window: since then next was visibly missing. */
static uint64_t held_since(const feed_core_t *c)
{
    uint64_t t = UINT64_MAX;
    for (unsigned i = 0; i < c->nheap; i++)
        t = c->heap[i].held_ns < t ? c->heap[i].held_ns : t;
    return t;
}

/* Release held packets that are now in order. */
static void drain(feed_core_t *c, uint64_t now)
{
    uint64_t before = c->next;
    while (c->nheap > 0 && c->heap[0].seq <= c->next) {
        feed_pkt_t p = heap_pop(c);
        c->held[p.line]--;
        resolve(c, &p, now);
    }
    check_eos(c);
    if (c->nheap == 0)
        c->blocked = false;
    else if (!c->blocked || c->next != before)
        c->wait_since = held_since(c);
    c->blocked = c->nheap > 0;
}

/* Give up waiting for next: declare everything up to the first held packet missing. */
static void force_gap(feed_core_t *c, uint64_t now, bool window)
{
    declare_gap(c, c->heap[0].seq, now, window);
    drain(c, now);
}

/* Put @p p (ahead of next) in the window. */
static void hold(feed_core_t *c, const feed_pkt_t *p, uint64_t now)
{
    feed_pkt_t h = *p;
    h.held_ns = now;
    h.order = c->order++;
    heap_push(c, &h);
    c->held[p->line]++;
    if (!c->blocked) {
        c->blocked = true;
        c->wait_since = now;
    }
}

/* Make room in @p line's window while @p seq is still ahead of next. */
static void make_room(feed_core_t *c, uint8_t line, uint64_t seq, uint64_t now)
{
    while (seq > c->next && c->held[line] >= c->c.window)
        force_gap(c, now, true);
}

/* Flush the window in order (gaps declared) and give up every open gap. */
static void flush_all(feed_core_t *c, uint64_t now)
{
    while (c->nheap > 0)
        force_gap(c, now, false);
    while (c->nholes > 0)
        hole_final(c, 0);
    c->hole_due = UINT64_MAX;
}

/* Session check: 0 to go on, 1 for a stale packet of the previous session. */
static int session_check(feed_core_t *c, uint8_t line, const uint8_t *s, uint64_t seq, uint64_t now)
{
    if (!c->have_session) {
        memcpy(c->session, s, MOLD_SESSION_LEN);
        c->have_session = true;
        return 0;
    }
    if (memcmp(s, c->session, MOLD_SESSION_LEN) == 0)
        return 0;
    if (c->have_prev && memcmp(s, c->prev, MOLD_SESSION_LEN) == 0) {
        ST_ADD(c->st->line[line].stale, 1);
        return 1;
    }
    /* a new session: the old one is over, whatever it still owed us */
    flush_all(c, now);
    memcpy(c->prev, c->session, MOLD_SESSION_LEN);
    memcpy(c->session, s, MOLD_SESSION_LEN);
    c->have_prev = true;
    c->synced = c->eos_pending = c->eos_done = false;
    c->nfinals = 0; /* sequences restart: old ranges mean nothing now */
    ST_ADD(c->st->session_changes, 1);
    event(c, MD_EV_SESSION_CHANGE, line, seq, seq, 0, c->session);
    return 0;
}

/* First packet of a session: where the sequence stands. */
static void sync_on(feed_core_t *c, uint64_t seq)
{
    if (c->synced)
        return;
    c->next = c->c.first_seq == FEED_SYNC_FIRST ? seq : c->c.first_seq;
    c->high = c->next > seq ? c->next : seq;
    c->synced = true;
}

void feed_core_packet(feed_core_t *c, const feed_pkt_t *p, const uint8_t *session, uint64_t now_ns)
{
    touch(c, p->line, now_ns);
    if (session_check(c, p->line, session, p->seq, now_ns)) {
        c->ops.release(c->arg, p);
        return;
    }
    sync_on(c, p->seq);
    uint64_t end = p->seq + p->count;
    if (end > c->high)
        c->high = end;
    make_room(c, p->line, p->seq, now_ns);
    if (p->seq > c->next) {
        hold(c, p, now_ns);
        return;
    }
    resolve(c, p, now_ns);
    drain(c, now_ns);
}

void feed_core_heartbeat(feed_core_t *c, uint8_t line, const uint8_t *session, uint64_t seq,
                         bool eos, uint64_t now_ns)
{
    touch(c, line, now_ns);
    ST_ADD(c->st->line[line].heartbeats, 1);
    if (session_check(c, line, session, seq, now_ns))
        return;
    sync_on(c, seq);
    if (eos && !c->eos_done && !c->eos_pending) {
        c->eos_pending = true;
        c->eos_seq = seq;
    }
    if (seq > c->high && seq > c->next) {
        /* everything below seq was sent: a marker makes the tail's loss visible */
        c->high = seq;
        make_room(c, line, seq, now_ns);
        if (seq > c->next) {
            feed_pkt_t m = {.seq = seq, .line = line};
            hold(c, &m, now_ns);
        }
    }
    check_eos(c);
}

void feed_core_rx(feed_core_t *c, uint8_t line, uint64_t bytes)
{
    ST_ADD(c->st->line[line].packets, 1);
    ST_ADD(c->st->line[line].bytes, bytes);
}

void feed_core_malformed(feed_core_t *c, uint8_t line, unsigned err)
{
    if (err >= MOLD_ERR_COUNT)
        err = 0;
    ST_ADD(c->st->line[line].malformed, 1);
    ST_ADD(c->st->line[line].malformed_by[err], 1);
}

void feed_core_tick(feed_core_t *c, uint64_t now_ns)
{
    check_lines(c, now_ns);
    /* additive: wait_since is a packet's stamp, which may be ahead of now_ns */
    while (c->blocked && now_ns >= c->wait_since + c->c.gap_wait_ns)
        force_gap(c, now_ns, false);
    if (c->nholes > 0)
        schedule(c, now_ns);
    else
        c->hole_due = UINT64_MAX;
}

void feed_core_set_wall(feed_core_t *c, uint64_t wall_ns)
{
    c->have_wall = true;
    if (wall_ns > c->wall_ns)
        c->wall_ns = wall_ns; /* monotone: a request's stamps never go back */
}

bool feed_core_due(const feed_core_t *c, uint64_t now_ns)
{
    uint64_t hole_now = c->c.rereq ? req_now(c, now_ns) : now_ns;
    if (c->hole_due <= hole_now)
        return true;
    if (c->blocked && c->wait_since + c->c.gap_wait_ns <= now_ns)
        return true;
    for (unsigned l = 0; l < 2; l++) {
        if (monitored(c, l) && c->up[l] && c->last_rx[l] + c->c.line_timeout_ns <= now_ns)
            return true;
    }
    return false;
}

uint64_t feed_core_deadline(const feed_core_t *c)
{
    uint64_t d = c->hole_due;
    if (c->blocked && c->wait_since + c->c.gap_wait_ns < d)
        d = c->wait_since + c->c.gap_wait_ns;
    for (unsigned l = 0; l < 2; l++) {
        if (monitored(c, l) && c->up[l] && c->last_rx[l] + c->c.line_timeout_ns < d)
            d = c->last_rx[l] + c->c.line_timeout_ns;
    }
    return d;
}

void feed_core_flush(feed_core_t *c, uint64_t now_ns)
{
    flush_all(c, now_ns);
    check_eos(c);
}

void feed_core_discard(feed_core_t *c)
{
    while (c->nheap > 0) {
        feed_pkt_t p = heap_pop(c);
        c->held[p.line]--;
        if (p.handle != NULL)
            ST_ADD(c->st->line[p.line].discarded, 1);
        c->ops.release(c->arg, &p);
    }
    c->blocked = false;
}

void feed_core_restart(feed_core_t *c, uint64_t now_ns)
{
    (void)now_ns;
    ST_ADD(c->st->restarts, 1);
    event(c, MD_EV_HANDLER_RESTART, MD_LINE_NONE, c->next, c->next, c->st->restarts, NULL);
    /*
     * What was held is dropped (the run that held it broke an invariant); the sequence
     * goes on from next. Whatever is missing now (the dropped packets, what RX dropped
     * while the handler was down) is a gap only if no line brings it within the gap
     * wait or the window: the other line usually still has it queued.
     */
    feed_core_discard(c);
}

uint64_t feed_core_next(const feed_core_t *c)
{
    return c->synced ? c->next : 0;
}

unsigned feed_core_held(const feed_core_t *c)
{
    return c->nheap;
}

unsigned feed_core_holes(const feed_core_t *c)
{
    return c->nholes;
}

const feed_hist_t *feed_core_skew(const feed_core_t *c)
{
    return &c->skew;
}

/* Fill zero settings with the documented defaults; false if out of range. */
static bool conf_defaults(feed_core_conf_t *k)
{
    if (k->gap_wait_ns == 0)
        k->gap_wait_ns = 1000000;
    if (k->window == 0)
        k->window = 256; /* 500 us of B skew at burst rates needs > 64 (tests/feed/test_gen.c) */
    if (k->line_timeout_ns == 0)
        k->line_timeout_ns = 2000000000ull;
    if (k->final_wait_ns == 0)
        k->final_wait_ns = k->gap_wait_ns;
    if (k->max_outstanding == 0)
        k->max_outstanding = 8;
    if (k->retry_ns == 0)
        k->retry_ns = 5000000;
    if (k->max_retries == 0)
        k->max_retries = 3;
    else if (k->max_retries == FEED_RETRIES_NONE)
        k->max_retries = 0; /* zero means "default" in a zeroed config */
    if (k->rate_per_s == 0)
        k->rate_per_s = 1000;
    if (k->max_msgs == 0)
        k->max_msgs = 1024;
    if (k->monitored == 0)
        k->monitored = 3;
    if (k->first_seq == 0)
        k->first_seq = 1;
    return k->window <= FEED_WINDOW_MAX && k->max_msgs <= 0xFFFF && k->rate_per_s <= 1000000000u;
}

feed_core_t *feed_core_new(const feed_core_conf_t *conf, const feed_core_ops_t *ops, void *arg,
                           feed_stats_t *stats, uint64_t now_ns, int numa_node)
{
    (void)numa_node; /* co_mem_alloc has no node argument; the caller runs on it */
    feed_core_conf_t k = *conf;
    if (!conf_defaults(&k) || ops == NULL || ops->deliver == NULL || ops->release == NULL ||
        ops->event == NULL || (k.rereq && ops->request == NULL) || stats == NULL) {
        errno = EINVAL;
        return NULL;
    }
    feed_core_t *c = co_mem_alloc(sizeof(*c), 64);
    if (c == NULL)
        return NULL;
    c->heap_cap = FEED_LINES * k.window;
    c->heap = co_mem_alloc(c->heap_cap * sizeof(feed_pkt_t), 64);
    if (c->heap == NULL) {
        co_mem_free(c);
        return NULL;
    }
    c->c = k;
    c->ops = *ops;
    c->arg = arg;
    c->st = stats;
    c->hole_due = UINT64_MAX;
    feed_hist_init(&c->skew);
    for (unsigned l = 0; l < 2; l++) {
        c->up[l] = monitored(c, l);
        c->last_rx[l] = now_ns;
        ST_SET(stats->line[l].state, c->up[l] ? FEED_UP : FEED_DOWN);
    }
    c->feed_up = true;
    ST_SET(stats->feed_state, FEED_UP);
    for (unsigned i = 0; i < RECENT; i++)
        c->recent[i].seq = UINT64_MAX;
    return c;
}

void feed_core_start(feed_core_t *c, uint64_t now_ns)
{
    for (unsigned l = 0; l < 2; l++) {
        if (c->up[l])
            c->last_rx[l] = now_ns;
    }
}

void feed_core_free(feed_core_t *c)
{
    if (c == NULL)
        return;
    feed_core_discard(c);
    co_mem_free(c->heap);
    co_mem_free(c);
}
