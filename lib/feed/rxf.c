/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The RX lcore's copy filter (feed.h, feed_rxf_*): A/B arbitration's easy half, done
 * where the packets arrive.
 *
 * Half the packets of an A/B feed are copies of what the other line already brought.
 * A feed handler reads each one (its mbuf header and payload: two misses on the cache
 * of the RX lcore that wrote them), finds nothing new, counts it and frees it. The RX
 * lcore has both lines in its cache, so it drops a packet whose every sequence number
 * it has already forwarded for that feed and session, and counts it for the handler.
 *
 * What it forwards is marked in a window of FEEDRXF_BITS sequence numbers per feed
 * (one bit each); a packet is a copy when all of its range is marked. Only
 * well-formed MoldUDP64 data packets are marked (mold_parse): a packet the handler
 * will reject must not make its good copy on the other line look like a copy. A range
 * below the window, another session, a heartbeat or an end of session always goes
 * through: what the filter does not know it forwards, and the handler arbitrates
 * everything it gets as before. A forwarded packet that then found its channel full
 * is unmarked (feed_rxf_unsent), so the other line's copy still gets through.
 *
 * Line health stays the handler's: a line whose packets are all copies would look
 * silent to it, so one copy per line is forwarded at least every keepalive period.
 * The A/B skew of a dropped copy is sampled here, from the RX time of the packet that
 * first brought the same sequence on the other line, into a histogram feed_stats()
 * merges with the handler's.
 *
 * One writer: the RX lcore that calls feed_rxf_keep() and feed_rxf_unsent(). The
 * counters are read with relaxed loads by feed_stats() on any thread; a handler asks
 * for a reset (feed_rxf_reset, at each start: a restarted handler may have lost what
 * was forwarded to it) through a word the filter compares on each packet.
 */
#include <errno.h>
#include <string.h>

#include "co.h"
#include "feed.h"

#define FEEDRXF_WORDS  16
#define FEEDRXF_BITS   (FEEDRXF_WORDS * 64u)
#define FEEDRXF_RECENT 64u

#define RELAXED_ADD(field, n) __atomic_store_n(&(field), (field) + (uint64_t)(n), __ATOMIC_RELAXED)

typedef struct rxf_feed {
    /* the RX lcore's */
    uint8_t session[MOLD_SESSION_LEN], prev[MOLD_SESSION_LEN];
    bool have_session, have_prev;
    uint64_t reset_seen;
    uint64_t keepalive_tsc; /* 0: never forward a copy for line health */
    uint64_t base;          /* bit i of w: sequence base + i was forwarded */
    uint64_t w[FEEDRXF_WORDS];
    uint64_t last_fwd[2]; /* per line: RX time of its last forwarded packet */
    struct {
        uint64_t seq, tsc;
        uint8_t line;
    } recent[FEEDRXF_RECENT];
    /* read by feed_stats() */
    uint64_t packets[2], bytes[2];
    feed_hist_t skew;
    /* the handler's: on its own line */
    uint64_t reset_req __attribute__((aligned(64)));
} __attribute__((aligned(64))) rxf_feed_t;

struct feed_rxf {
    unsigned n_feeds;
    rxf_feed_t f[];
};

feed_rxf_t *feed_rxf_new(unsigned n_feeds)
{
    if (n_feeds == 0 || n_feeds > 65535) {
        errno = EINVAL;
        return NULL;
    }
    size_t sz = sizeof(feed_rxf_t) + (size_t)n_feeds * sizeof(rxf_feed_t);
    feed_rxf_t *x = co_mem_alloc(sz, 64);
    if (x == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    memset(x, 0, sz);
    x->n_feeds = n_feeds;
    return x;
}

void feed_rxf_free(feed_rxf_t *x)
{
    co_mem_free(x);
}

void feed_rxf_set_keepalive(feed_rxf_t *x, unsigned feed, uint64_t ns)
{
    if (x != NULL && feed < x->n_feeds)
        x->f[feed].keepalive_tsc = ns ? co_ns_to_tsc(ns) : 0;
}

void feed_rxf_reset(feed_rxf_t *x, unsigned feed)
{
    if (x != NULL && feed < x->n_feeds)
        __atomic_fetch_add(&x->f[feed].reset_req, 1, __ATOMIC_RELEASE);
}

/* Forget every mark and the session (a reset asked for, or a new session). */
static void forget(rxf_feed_t *f)
{
    memset(f->w, 0, sizeof(f->w));
    f->have_session = f->have_prev = false;
    f->base = 0;
}

/* Bits [lo, hi) of word i of the window (0 <= lo < hi <= 64). */
static inline uint64_t word_mask(unsigned lo, unsigned hi)
{
    uint64_t m = hi == 64 ? ~0ull : (1ull << hi) - 1;
    return m & ~((1ull << lo) - 1);
}

/* True when every sequence of [from, to) is marked (an empty range is not). */
static bool all_marked(const rxf_feed_t *f, uint64_t from, uint64_t to)
{
    if (from < f->base || to > f->base + FEEDRXF_BITS || from >= to)
        return false;
    uint64_t a = from - f->base, b = to - f->base;
    for (uint64_t i = a / 64; i <= (b - 1) / 64; i++) {
        unsigned lo = i == a / 64 ? (unsigned)(a % 64) : 0;
        unsigned hi = i == (b - 1) / 64 ? (unsigned)((b - 1) % 64) + 1 : 64;
        uint64_t m = word_mask(lo, hi);
        if ((f->w[i] & m) != m)
            return false;
    }
    return true;
}

/* Set (or clear) the marks of [from, to) that fall in the window. */
static void mark(rxf_feed_t *f, uint64_t from, uint64_t to, bool set)
{
    if (from < f->base)
        from = f->base;
    if (to > f->base + FEEDRXF_BITS)
        to = f->base + FEEDRXF_BITS;
    if (from >= to)
        return;
    uint64_t a = from - f->base, b = to - f->base;
    for (uint64_t i = a / 64; i <= (b - 1) / 64; i++) {
        unsigned lo = i == a / 64 ? (unsigned)(a % 64) : 0;
        unsigned hi = i == (b - 1) / 64 ? (unsigned)((b - 1) % 64) + 1 : 64;
        if (set)
            f->w[i] |= word_mask(lo, hi);
        else
            f->w[i] &= ~word_mask(lo, hi);
    }
}

/* Slide the window forward, a word at a time, until @p to fits (what slides out is
   forgotten: its copies go through). */
static void make_room(rxf_feed_t *f, uint64_t to)
{
    if (to <= f->base + FEEDRXF_BITS)
        return;
    uint64_t words = (to - f->base - FEEDRXF_BITS + 63) / 64;
    if (words >= FEEDRXF_WORDS) {
        memset(f->w, 0, sizeof(f->w));
    } else {
        memmove(f->w, f->w + words, (FEEDRXF_WORDS - words) * sizeof(f->w[0]));
        memset(f->w + (FEEDRXF_WORDS - words), 0, words * sizeof(f->w[0]));
    }
    f->base += words * 64;
}

/* The session of a data packet: false to let it through unmarked (the previous
   session's stale packets: the handler counts those). A new one restarts the window
   at the packet. */
static bool in_session(rxf_feed_t *f, const uint8_t *session, uint64_t seq)
{
    if (f->have_session && memcmp(session, f->session, MOLD_SESSION_LEN) == 0)
        return true;
    if (f->have_prev && memcmp(session, f->prev, MOLD_SESSION_LEN) == 0)
        return false;
    if (f->have_session) {
        memcpy(f->prev, f->session, MOLD_SESSION_LEN);
        f->have_prev = true;
    }
    memcpy(f->session, session, MOLD_SESSION_LEN);
    f->have_session = true;
    memset(f->w, 0, sizeof(f->w));
    f->base = seq & ~63ull;
    return true;
}

/* Mark [from, to) forwarded, sliding the window first so that it fits. */
static void mark_forwarded(rxf_feed_t *f, uint64_t from, uint64_t to)
{
    make_room(f, to);
    mark(f, from, to, true);
}

/* Parse @p payload into @p p: true for a well-formed data packet of @p f's session. */
static bool current_data(const rxf_feed_t *f, const uint8_t *payload, uint32_t len, mold_pkt_t *p)
{
    return mold_parse(payload, len, p) == MOLD_OK && p->kind == MOLD_DATA && f->have_session &&
           memcmp(p->session, f->session, MOLD_SESSION_LEN) == 0;
}

/* A dropped copy: counted for its line, and its skew to the first arrival sampled. */
static void count_copy(rxf_feed_t *f, unsigned line, uint64_t seq, uint32_t len, uint64_t tsc)
{
    RELAXED_ADD(f->packets[line], 1);
    RELAXED_ADD(f->bytes[line], len);
    const __typeof__(f->recent[0]) *r = &f->recent[seq % FEEDRXF_RECENT];
    if (r->seq == seq && r->line != line)
        feed_hist_record(&f->skew, tsc > r->tsc ? tsc - r->tsc : r->tsc - tsc);
}

bool feed_rxf_keep(feed_rxf_t *x, unsigned feed, unsigned line, const uint8_t *payload,
                   uint32_t len, uint64_t rx_tsc)
{
    if (feed >= x->n_feeds || line >= 2)
        return true;
    rxf_feed_t *f = &x->f[feed];
    uint64_t req = __atomic_load_n(&f->reset_req, __ATOMIC_ACQUIRE);
    if (__builtin_expect(req != f->reset_seen, 0)) {
        forget(f);
        f->reset_seen = req;
    }
    mold_pkt_t p;
    if (mold_parse(payload, len, &p) != MOLD_OK || p.kind != MOLD_DATA ||
        !in_session(f, p.session, p.seq)) {
        f->last_fwd[line] = rx_tsc; /* traffic: the handler sees the line alive */
        return true;
    }
    uint64_t end = p.seq + p.count;
    if (all_marked(f, p.seq, end)) { /* a copy: dropped, unless line health needs it */
        if (f->keepalive_tsc == 0 || rx_tsc - f->last_fwd[line] < f->keepalive_tsc) {
            count_copy(f, line, p.seq, len, rx_tsc);
            return false;
        }
    } else { /* the first to bring something: its arrival, for the copies' skew */
        f->recent[p.seq % FEEDRXF_RECENT].seq = p.seq;
        f->recent[p.seq % FEEDRXF_RECENT].tsc = rx_tsc;
        f->recent[p.seq % FEEDRXF_RECENT].line = (uint8_t)line;
        mark_forwarded(f, p.seq, end);
    }
    f->last_fwd[line] = rx_tsc;
    return true;
}

bool feed_rxf_again(feed_rxf_t *x, unsigned feed, unsigned line, const uint8_t *payload,
                    uint32_t len, uint64_t rx_tsc)
{
    if (feed >= x->n_feeds || line >= 2)
        return false;
    rxf_feed_t *f = &x->f[feed];
    mold_pkt_t p;
    if (!current_data(f, payload, len, &p) || all_marked(f, p.seq, p.seq + p.count))
        return false;
    /* no longer a copy: forwarded after all (its skew sample stays: it is one) */
    RELAXED_ADD(f->packets[line], -1);
    RELAXED_ADD(f->bytes[line], -(uint64_t)len);
    mark_forwarded(f, p.seq, p.seq + p.count);
    f->last_fwd[line] = rx_tsc;
    return true;
}

void feed_rxf_unsent(feed_rxf_t *x, unsigned feed, const uint8_t *payload, uint32_t len)
{
    if (feed >= x->n_feeds)
        return;
    rxf_feed_t *f = &x->f[feed];
    mold_pkt_t p;
    if (current_data(f, payload, len, &p))
        mark(f, p.seq, p.seq + p.count, false);
}

void feed_rxf_add_stats(const feed_rxf_t *x, unsigned feed, feed_stats_t *out, feed_hist_t *skew)
{
    if (x == NULL || feed >= x->n_feeds)
        return;
    const rxf_feed_t *f = &x->f[feed];
    for (unsigned l = 0; l < 2; l++) {
        uint64_t n = __atomic_load_n(&f->packets[l], __ATOMIC_RELAXED);
        out->line[l].packets += n;
        out->line[l].duplicates += n;
        out->line[l].rx_copies += n;
        out->line[l].bytes += __atomic_load_n(&f->bytes[l], __ATOMIC_RELAXED);
    }
    if (skew == NULL)
        return;
    for (unsigned b = 0; b < FEED_HIST_BUCKETS; b++)
        skew->b[b] += __atomic_load_n(&f->skew.b[b], __ATOMIC_RELAXED);
    skew->count += __atomic_load_n(&f->skew.count, __ATOMIC_RELAXED);
    skew->sum += __atomic_load_n(&f->skew.sum, __ATOMIC_RELAXED);
    uint64_t mx = __atomic_load_n(&f->skew.max, __ATOMIC_RELAXED);
    if (mx > skew->max)
        skew->max = mx;
}
