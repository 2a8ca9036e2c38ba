/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-stage latency (latency.h). The mux calls lat_observe() once per published burst
 * on its lcore: the only writer of every histogram here, so recording is the inline
 * stats_hist_record() with no atomics. Each histogram is half of a stats_interval_t,
 * so the control lcore takes consistent copies while the mux keeps recording:
 *
 * - overall, per stage: swapped every interval (the time series), merged into totals;
 * - per feed, per stage: swapped only when a report is due (lat_sync), because a swap
 *   costs the reader a merge of every counter and there may be 128 feeds.
 *
 * TSC -> ns is one 64x64->128 multiply by a 32.32 fixed-point factor computed once,
 * per stage per message; stamps out of order (a NIC clock behind the TSC) count as 0.
 *
 * The time series has a fixed budget of points, allocated in lat_new() (the RRD
 * approach, docs/latency.md "Bounded memory"): a point spans 2^level base intervals;
 * when the budget is full, adjacent pairs are merged in place (counts and message
 * counts added, max of the maxima, p50/p99 the count-weighted mean of the halves') and
 * the level goes up by one, so the whole run stays covered at half the resolution.
 */
#include "latency.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "chan.h"
#include "co.h"
#include "html.h"

/* Range of every histogram: 1 ns .. 60 s (beyond: clamped, counted as overflow). */
#define LAT_LOWEST  1ull
#define LAT_HIGHEST 60000000000ull
/* Per-feed precision: 3 digits cost 220 KiB per histogram and a feed has 15 of them,
   so above a few feeds they keep 2 digits (1 %); the overall ones always keep 3. */
#define LAT_FEED_SIGFIGS_FEW_MAX 4u
#define LAT_FEED_SIGFIGS_MANY    2u
/* How long lat_sync() waits for the mux to take a swap, and its poll period. */
#define LAT_SYNC_WAIT_NS (100ull * 1000 * 1000)
#define LAT_SYNC_POLL_NS (50ull * 1000)
/*
 * Stamps the recorder coroutine records between yields. It shares its lcore with an
 * RX poller on two lcores, whose pacing waits while it records: 16 stamps are ~4800
 * instructions, a few µs at most. At a paced 1 Mpps (docs/latency.md, "Where the
 * recorder runs") the pacing error was p50 5.1-7.2 µs, p99 0.3-2.4 ms with bursts of
 * 64 and no yield; 2.2-4.0 µs and 35-73 µs with 16 (8 and 4: no better).
 */
#define LAT_RECORDER_CHUNK 16u
/* How often a quiet recorder coroutine wakes to take the reader's swaps. */
#define LAT_RECORDER_IDLE_NS (1000ull * 1000)
/* HdrHistogram's percentile output: 5 steps per half-distance to 100 %. */
#define LAT_TICKS_PER_HALF 5u

static const char *const stage_names[LAT_NSTAGES] = {
    [LAT_RX_TO_DEQUEUE] = "rx_to_dequeue",
    [LAT_DEQUEUE_TO_DECODE] = "dequeue_to_decode",
    [LAT_DECODE_TO_PUBLISH] = "decode_to_publish",
    [LAT_RX_TO_PUBLISH] = "rx_to_publish",
    [LAT_INTENDED_TO_PUBLISH] = "intended_to_publish",
};

/* One feed's histograms. */
typedef struct lat_feed {
    stats_interval_t iv[LAT_NSTAGES]; /* writer: the mux */
    stats_hist_t *cur[LAT_NSTAGES];   /* writer: iv's writer side, as of writer_sync() */
    stats_hist_t *tot[LAT_NSTAGES];   /* reader: merged intervals */
    uint64_t msgs;                    /* writer: messages recorded (relaxed stores) */
    uint64_t last_msgs;               /* reader: msgs at the previous series point */
} lat_feed_t;

struct lat {
    /* Writer (mux lcore). */
    stats_interval_t iv[LAT_NSTAGES];
    stats_hist_t *cur[LAT_NSTAGES]; /* iv's writer side, as of writer_sync() */
    uint64_t mult;                  /* ns per TSC tick, 32.32 fixed point */
    unsigned nst;                   /* stages recorded: LAT_NSTAGES, or one less without intended */
    unsigned nfeeds;
    uint32_t req_seen; /* req at the last writer_sync() that visited every interval */
    lat_feed_t *feeds;
    /* Forwarding (lat_conf_t.forward): the mux's lat_forward() sends each message's
       stamps down fwd, and the recorder coroutine (lat_recorder_main) is the writer. */
    chs_t *fwd;
    co_ctx_t *fwd_ctx;     /* the mux's wait for room observes it */
    uint64_t idle_tsc;     /* the recorder's idle period (writer_sync while quiet) */
    int recorder_lcore;    /* for the report: lat_conf_t.recorder_lcore */
    _Atomic bool rec_gone; /* the recorder will never run: lat_forward() drops */
    /* mux side of fwd, relaxed stores (read by the report) */
    uint64_t fwd_sent, fwd_waits, fwd_dropped;
    /* Reader -> writer: bumped after every batch of swap requests (own line). */
    _Alignas(64) _Atomic uint32_t req;
    /* Reader (control lcore). */
    stats_hist_t *tot[LAT_NSTAGES]; /* the control lcore's own running totals */
    stats_hist_t *pub[LAT_NSTAGES]; /* under lock: a copy of tot for other threads */
    pthread_mutex_t lock;           /* guards pub; the control lcore only trylocks */
    stats_hist_t *acc[LAT_NSTAGES]; /* the open series point's intervals (level > 0) */
    const char *const *names;
    uint64_t interval_ns, t0_ns, next_ns, req_ns;
    bool pending, final;
    unsigned feed_sigfigs;
    uint64_t hz;
    stats_clock_cost_t cc;
    /* The series, all of it allocated by lat_new() (one block, series_mem): at most
       cap points; point i spans (end_ns[i-1], end_ns[i]] since t0 (end_ns[-1] = 0),
       2^level base intervals (the last point of the run: up to that). Slot n is the
       open point, `open` base intervals so far. */
    size_t n, cap;
    unsigned level, open;
    void *series_mem;
    uint64_t *end_ns;            /* [cap] */
    uint64_t *msgs;              /* [cap * nfeeds] messages published per feed */
    uint64_t *cnt[LAT_NSTAGES];  /* [cap] values recorded per stage */
    uint64_t *q[LAT_NSTAGES][3]; /* [cap] p50, p99, max */
    /* lat_feed_summary(): any thread asks, the control lcore answers (lat_serve). */
    pthread_mutex_t svc_mu;
    pthread_cond_t svc_cv;        /* CLOCK_MONOTONIC */
    uint64_t svc_asked, svc_done; /* under svc_mu */
    bool svc_closed;              /* under svc_mu */
    stats_summary_t *svc_sum;     /* [nfeeds * LAT_NSTAGES], under svc_mu */
};

const char *lat_stage_name(unsigned s)
{
    return s < LAT_NSTAGES ? stage_names[s] : "?";
}

/* ------------------------------------------------------------------------------ */
/* Writer                                                                         */
/* ------------------------------------------------------------------------------ */

/* @p to - @p from in ns; 0 when the stamps are out of order (a cmov, no branch). */
static inline uint64_t span_ns(uint64_t mult, uint64_t from, uint64_t to)
{
    uint64_t d = to >= from ? to - from : 0;
    return (uint64_t)(((unsigned __int128)d * mult) >> 32);
}

/*
 * The start of a batch (a burst, an idle call): when the reader has asked for swaps
 * since the last visit (req moved), a batch boundary for every interval, overall and
 * per feed, which takes the swaps and refreshes the histograms the writer records
 * into. Otherwise one acquire load: every histogram is where it was. The reader bumps
 * req (release) after its stats_interval_request() calls, so a swap completes at the
 * writer's next batch, as stats_interval_writer() once per histogram and batch would
 * do, for ~1 instruction a batch instead of ~90 (15 intervals visited per burst, the
 * busy mux's sweep of one other feed included) and one cache line instead of 15. A
 * full visit (5 + 5 per feed intervals) happens once per series interval and report.
 */
static inline void writer_sync(lat_t *l)
{
    uint32_t q = atomic_load_explicit(&l->req, memory_order_acquire);
    if (__builtin_expect(q == l->req_seen, 1))
        return;
    l->req_seen = q;
    for (unsigned s = 0; s < l->nst; s++)
        l->cur[s] = stats_interval_writer(&l->iv[s]);
    for (unsigned i = 0; i < l->nfeeds; i++)
        for (unsigned s = 0; s < l->nst; s++)
            l->feeds[i].cur[s] = stats_interval_writer(&l->feeds[i].iv[s]);
}

/* Records lat_observe() converts in one go (the mux's bursts are at most 64). */
#define LAT_BURST_MAX 64u

/*
 * What the recorder needs of a message record: its stamps and its feed. lat_observe()
 * takes them from the records in place; lat_forward() copies them into fwd, because
 * the records themselves go on to their outputs and back to their pool.
 */
typedef struct lat_stamp {
    uint64_t rx, dequeue, decode, publish, intended;
    uint32_t feed;
    uint32_t pad;
} lat_stamp_t;

/* The message records of @p recs[0 .. n-1] as stamps into @p st; returns how many. */
static inline unsigned stamps_of(md_rec_t *const *recs, unsigned n, lat_stamp_t *st)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        const md_rec_t *r = recs[i];
        if (r->kind != MD_KIND_MSG)
            continue; /* events carry no packet stamps */
        st[k++] = (lat_stamp_t){.rx = r->tsc_rx,
                                .dequeue = r->tsc_dequeue,
                                .decode = r->tsc_decode,
                                .publish = r->tsc_publish,
                                .intended = r->tsc_intended,
                                .feed = r->feed};
    }
    return k;
}

static void observe_chunk(lat_t *l, lat_feed_t *f, const lat_stamp_t *st, unsigned n);

void lat_observe(void *arg, md_rec_t *const *recs, unsigned n)
{
    lat_t *l = arg;
    /* A batch boundary, a burst's or the idle call's (so a quiet mux still hands over;
       it idles once per scheduler round, so this must stay cheap). */
    writer_sync(l);
    if (n == 0)
        return;
    /* A burst comes from one input, so from one feed. */
    unsigned fid = recs[0]->feed;
    if (__builtin_expect(fid >= l->nfeeds, 0))
        return;
    lat_feed_t *f = &l->feeds[fid];
    lat_stamp_t st[LAT_BURST_MAX];
    for (unsigned done = 0; done < n; done += LAT_BURST_MAX) {
        unsigned k =
            stamps_of(recs + done, n - done < LAT_BURST_MAX ? n - done : LAT_BURST_MAX, st);
        observe_chunk(l, f, st, k);
    }
}

/* The recorder's side of fwd: runs of one feed, each into its histograms. */
static void observe_stamps(lat_t *l, const lat_stamp_t *st, unsigned n)
{
    for (unsigned i = 0, j; i < n; i = j) {
        uint32_t fid = st[i].feed;
        for (j = i + 1; j < n && st[j].feed == fid; j++)
            ;
        if (__builtin_expect(fid < l->nfeeds, 1))
            observe_chunk(l, &l->feeds[fid], st + i, j - i);
    }
}

/*
 * Wait for room in fwd, a stamp at a time: the recorder is behind (or not started
 * yet). Lossless on purpose, so that the histograms count every message: the mux
 * parks, its inputs fill, and the pipeline's own backpressure takes over. Only a
 * recorder that will never run, or a cancelled run, drops (fwd_dropped, reported).
 */
static void forward_wait(lat_t *l, const lat_stamp_t *st, unsigned n)
{
    __atomic_store_n(&l->fwd_waits, l->fwd_waits + 1, __ATOMIC_RELAXED);
    unsigned i = 0;
    while (i < n && !atomic_load_explicit(&l->rec_gone, memory_order_relaxed) &&
           chs_send(l->fwd, &st[i], l->fwd_ctx) == 0)
        i++;
    __atomic_store_n(&l->fwd_sent, l->fwd_sent + i, __ATOMIC_RELAXED);
    if (i < n)
        __atomic_store_n(&l->fwd_dropped, l->fwd_dropped + (n - i), __ATOMIC_RELAXED);
}

void lat_forward(void *arg, md_rec_t *const *recs, unsigned n)
{
    lat_t *l = arg;
    lat_stamp_t st[LAT_BURST_MAX];
    for (unsigned done = 0; done < n; done += LAT_BURST_MAX) {
        unsigned k =
            stamps_of(recs + done, n - done < LAT_BURST_MAX ? n - done : LAT_BURST_MAX, st);
        unsigned sent = chs_send_burst(l->fwd, st, k);
        __atomic_store_n(&l->fwd_sent, l->fwd_sent + sent, __ATOMIC_RELAXED);
        if (__builtin_expect(sent < k, 0))
            forward_wait(l, st + sent, k - sent);
    }
}

void lat_forward_close(lat_t *l)
{
    if (l != NULL && l->fwd != NULL)
        chs_close(l->fwd);
}

void lat_recorder_gone(lat_t *l)
{
    if (l != NULL)
        atomic_store_explicit(&l->rec_gone, true, memory_order_relaxed);
}

void lat_recorder_main(lat_t *l)
{
    lat_stamp_t st[LAT_BURST_MAX];
    for (;;) {
        writer_sync(l); /* a batch boundary: takes the reader's swaps */
        unsigned n = chs_recv_burst(l->fwd, st, LAT_RECORDER_CHUNK);
        if (n > 0) {
            observe_stamps(l, st, n);
            co_yield(); /* a chunk at a time: an RX poller may share this lcore */
            continue;
        }
        /* Quiet: park until stamps come, waking every idle period so that the
           reader's swaps are still taken (lat_sync waits for them). */
        ch_case_t c = {.op = CH_RECV, .spsc = l->fwd, .elem = &st[0]};
        int k = ch_select(&c, 1, 0, co_tsc() + l->idle_tsc, CO_BACKGROUND);
        if (k == 0 && c.result != 0)
            return; /* closed by the mux and drained: every stamp is recorded */
        if (k == 0)
            observe_stamps(l, st, 1 + chs_recv_burst(l->fwd, &st[1], LAT_RECORDER_CHUNK - 1));
    }
}

void lat_recorder_stats(const lat_t *l, lat_recorder_stats_t *out)
{
    *out = (lat_recorder_stats_t){
        .lcore = l->recorder_lcore,
        .forwarded = l->fwd != NULL,
        .sent = __atomic_load_n(&l->fwd_sent, __ATOMIC_RELAXED),
        .waits = __atomic_load_n(&l->fwd_waits, __ATOMIC_RELAXED),
        .dropped = __atomic_load_n(&l->fwd_dropped, __ATOMIC_RELAXED),
        .slots = l->fwd ? chs_cap(l->fwd) : 0,
    };
}

/*
 * Up to LAT_BURST_MAX records of feed @p f: the spans of the whole chunk first, then
 * each stage's values go into its overall and its feed histogram in one pass
 * (stats_hist_record_burst2: headers in registers, clamp, min, max and total shared).
 *
 * The first two stages go in as runs (stats_hist_record_runs2): a message with the
 * same two stamps as the one before it has the same span, so it only adds one to that
 * run's weight. The messages of a packet share tsc_rx and tsc_dequeue, and its decode
 * group tsc_decode (lib/feed); with RX's one stamp per burst, so do whole channel
 * bursts for rx_to_dequeue. The later stages end at tsc_publish, one per record, and
 * have no runs. The histograms hold exactly what one record per value would give.
 */
static void observe_chunk(lat_t *l, lat_feed_t *f, const lat_stamp_t *st, unsigned n)
{
    const uint64_t mult = l->mult;
    const bool intended = l->nst > LAT_INTENDED_TO_PUBLISH;
    uint64_t v[LAT_NSTAGES][LAT_BURST_MAX];
    uint32_t w0[LAT_BURST_MAX], w1[LAT_BURST_MAX];
    unsigned msgs = 0, nint = 0, r0 = 0, r1 = 0;
    uint64_t rx0 = 0, dq0 = 0, dq1 = 0, dc1 = 0; /* the stamps of runs r0 - 1, r1 - 1 */
    for (unsigned i = 0; i < n; i++) {
        const lat_stamp_t *r = &st[i];
        if (r0 > 0 && r->rx == rx0 && r->dequeue == dq0) {
            w0[r0 - 1]++;
        } else {
            rx0 = r->rx;
            dq0 = r->dequeue;
            v[LAT_RX_TO_DEQUEUE][r0] = span_ns(mult, rx0, dq0);
            w0[r0++] = 1;
        }
        if (r1 > 0 && r->dequeue == dq1 && r->decode == dc1) {
            w1[r1 - 1]++;
        } else {
            dq1 = r->dequeue;
            dc1 = r->decode;
            v[LAT_DEQUEUE_TO_DECODE][r1] = span_ns(mult, dq1, dc1);
            w1[r1++] = 1;
        }
        v[LAT_DECODE_TO_PUBLISH][msgs] = span_ns(mult, r->decode, r->publish);
        v[LAT_RX_TO_PUBLISH][msgs] = span_ns(mult, r->rx, r->publish);
        msgs++;
        if (intended && r->intended != 0)
            v[LAT_INTENDED_TO_PUBLISH][nint++] = span_ns(mult, r->intended, r->publish);
    }
    stats_hist_record_runs2(l->cur[LAT_RX_TO_DEQUEUE], f->cur[LAT_RX_TO_DEQUEUE],
                            v[LAT_RX_TO_DEQUEUE], w0, r0);
    stats_hist_record_runs2(l->cur[LAT_DEQUEUE_TO_DECODE], f->cur[LAT_DEQUEUE_TO_DECODE],
                            v[LAT_DEQUEUE_TO_DECODE], w1, r1);
    for (unsigned s = LAT_DECODE_TO_PUBLISH; s < l->nst; s++)
        stats_hist_record_burst2(l->cur[s], f->cur[s], v[s],
                                 s == LAT_INTENDED_TO_PUBLISH ? nint : msgs);
    __atomic_store_n(&f->msgs, f->msgs + msgs, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------------ */
/* Set-up                                                                         */
/* ------------------------------------------------------------------------------ */

static stats_hist_t *new_hist(unsigned sigfigs)
{
    return stats_hist_create(LAT_LOWEST, LAT_HIGHEST, sigfigs);
}

static int new_interval(stats_interval_t *iv, unsigned sigfigs)
{
    stats_hist_t *a = new_hist(sigfigs), *b = new_hist(sigfigs);
    if (a && b && stats_interval_init(iv, a, b) == 0)
        return 0;
    stats_hist_free(a);
    stats_hist_free(b);
    iv->h[0] = iv->h[1] = NULL;
    return -1;
}

/* The whole series, in one block: cap * (8 + 8 * nfeeds + 32 * nst) bytes. */
static int series_alloc(lat_t *l, unsigned points)
{
    if (points < LAT_SERIES_POINTS_MIN)
        points = LAT_SERIES_POINTS_MIN;
    if (points > LAT_SERIES_POINTS_MAX)
        points = LAT_SERIES_POINTS_MAX;
    size_t cap = points & ~1u, nf = l->nfeeds ? l->nfeeds : 1;
    size_t words = cap * (1 + nf + 4 * (size_t)l->nst);
    uint64_t *m = calloc(words ? words : 1, sizeof(*m));
    if (m == NULL)
        return -1;
    l->series_mem = m;
    l->cap = cap;
    l->end_ns = m;
    m += cap;
    l->msgs = m;
    m += cap * nf;
    for (unsigned s = 0; s < l->nst; s++) {
        l->cnt[s] = m;
        m += cap;
        for (unsigned k = 0; k < 3; k++) {
            l->q[s][k] = m;
            m += cap;
        }
    }
    return 0;
}

lat_t *lat_new(const lat_conf_t *c)
{
    size_t sz = (sizeof(lat_t) + 63) & ~(size_t)63;
    lat_t *l = aligned_alloc(64, sz);
    if (l == NULL)
        goto nomem;
    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->lock, NULL);
    pthread_mutex_init(&l->svc_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->svc_cv, &ca);
    pthread_condattr_destroy(&ca);
    /* One calibration for the whole process (lib/rt's), then the clock read cost. */
    l->hz = co_tsc_hz();
    stats_clock_set_hz(l->hz);
    stats_clock_cost(&l->cc, 0);
    l->mult = (uint64_t)(((unsigned __int128)1000000000u << 32) / (l->hz ? l->hz : 1));
    l->nst = c->intended ? LAT_NSTAGES : LAT_INTENDED_TO_PUBLISH;
    l->nfeeds = c->nfeeds;
    l->names = c->names;
    l->interval_ns =
        (uint64_t)(c->interval_ms ? c->interval_ms : LAT_INTERVAL_MS_DEFAULT) * 1000000u;
    l->feed_sigfigs =
        c->nfeeds <= LAT_FEED_SIGFIGS_FEW_MAX ? STATS_HIST_SIGFIGS_DEFAULT : LAT_FEED_SIGFIGS_MANY;
    size_t fsz = ((size_t)(c->nfeeds ? c->nfeeds : 1) * sizeof(lat_feed_t) + 63) & ~(size_t)63;
    l->feeds = aligned_alloc(64, fsz);
    if (l->feeds == NULL)
        goto nomem;
    memset(l->feeds, 0, fsz);
    for (unsigned s = 0; s < l->nst; s++) {
        if (new_interval(&l->iv[s], STATS_HIST_SIGFIGS_DEFAULT) < 0 ||
            !(l->tot[s] = new_hist(STATS_HIST_SIGFIGS_DEFAULT)) ||
            !(l->pub[s] = new_hist(STATS_HIST_SIGFIGS_DEFAULT)) ||
            !(l->acc[s] = new_hist(STATS_HIST_SIGFIGS_DEFAULT)))
            goto nomem;
        for (unsigned i = 0; i < l->nfeeds; i++)
            if (new_interval(&l->feeds[i].iv[s], l->feed_sigfigs) < 0 ||
                !(l->feeds[i].tot[s] = new_hist(l->feed_sigfigs)))
                goto nomem;
    }
    /* The writer's histograms until the first swap (req_seen == req == 0); lat_new
       happens-before the mux's first call. */
    for (unsigned s = 0; s < l->nst; s++) {
        l->cur[s] = stats_interval_writer(&l->iv[s]);
        for (unsigned i = 0; i < l->nfeeds; i++)
            l->feeds[i].cur[s] = stats_interval_writer(&l->feeds[i].iv[s]);
    }
    if (series_alloc(l, c->series_points ? c->series_points : LAT_SERIES_POINTS_DEFAULT) < 0)
        goto nomem;
    l->recorder_lcore = c->forward ? c->recorder_lcore : -1;
    if (c->forward) {
        l->fwd = chs_new(sizeof(lat_stamp_t),
                         c->forward_slots ? c->forward_slots : LAT_FORWARD_SLOTS_DEFAULT,
                         c->forward_node);
        if (l->fwd == NULL)
            goto nomem;
        l->fwd_ctx = c->ctx;
        l->idle_tsc = co_ns_to_tsc(LAT_RECORDER_IDLE_NS);
    }
    l->svc_sum = calloc((size_t)(l->nfeeds ? l->nfeeds : 1) * LAT_NSTAGES, sizeof(*l->svc_sum));
    if (l->svc_sum == NULL)
        goto nomem;
    return l; /* the series starts at the first lat_tick(): when the run does */
nomem:
    fprintf(stderr, "mdmux: latency: cannot allocate the histograms (%u feeds)\n", c->nfeeds);
    lat_free(l);
    return NULL;
}

void lat_free(lat_t *l)
{
    if (l == NULL)
        return;
    for (unsigned s = 0; s < LAT_NSTAGES; s++) {
        stats_hist_free(l->iv[s].h[0]);
        stats_hist_free(l->iv[s].h[1]);
        stats_hist_free(l->tot[s]);
        stats_hist_free(l->pub[s]);
        stats_hist_free(l->acc[s]);
        for (unsigned i = 0; l->feeds && i < l->nfeeds; i++) {
            stats_hist_free(l->feeds[i].iv[s].h[0]);
            stats_hist_free(l->feeds[i].iv[s].h[1]);
            stats_hist_free(l->feeds[i].tot[s]);
        }
    }
    chs_free(l->fwd);
    free(l->series_mem);
    free(l->svc_sum);
    free(l->feeds);
    pthread_mutex_destroy(&l->lock);
    pthread_mutex_destroy(&l->svc_mu);
    pthread_cond_destroy(&l->svc_cv);
    free(l);
}

stats_hist_t *lat_stage_snapshot(lat_t *l, unsigned stage)
{
    if (l == NULL || stage >= l->nst)
        return NULL;
    stats_hist_t *h = new_hist(STATS_HIST_SIGFIGS_DEFAULT);
    if (h == NULL)
        return NULL;
    pthread_mutex_lock(&l->lock);
    stats_hist_copy(h, l->pub[stage]);
    pthread_mutex_unlock(&l->lock);
    return h;
}

/* ------------------------------------------------------------------------------ */
/* Reader                                                                         */
/* ------------------------------------------------------------------------------ */

/*
 * Copy the totals for lat_stage_snapshot() (metrics and telemetry threads). The
 * control lcore may share its core with feed handlers and the mux, so it never waits
 * for a scrape: when a reader holds the copy, this tick's update is skipped and the
 * next one (an interval later) catches up.
 */
static void publish_totals(lat_t *l)
{
    if (pthread_mutex_trylock(&l->lock) != 0)
        return;
    for (unsigned s = 0; s < l->nst; s++)
        stats_hist_copy(l->pub[s], l->tot[s]);
    pthread_mutex_unlock(&l->lock);
}

/* The count-weighted mean of @p a (@p na values) and @p b (@p nb), rounded. */
static uint64_t wmean(uint64_t a, uint64_t na, uint64_t b, uint64_t nb)
{
    uint64_t n = na + nb;
    if (n == 0)
        return 0;
    unsigned __int128 sum = (unsigned __int128)a * na + (unsigned __int128)b * nb;
    return (uint64_t)((sum + n / 2) / n);
}

/*
 * The series is full: merge points 2i and 2i+1 into point i, in place, for every i
 * (cap is even), and double the resolution. Counts and message counts add up, the
 * max is the larger max, p50 and p99 are the count-weighted means of the two halves'
 * (each lies between the halves' values, as the merged span's true percentile does).
 */
static void compact(lat_t *l)
{
    const size_t nf = l->nfeeds;
    for (size_t i = 0; 2 * i + 1 < l->n; i++) {
        size_t a = 2 * i, b = a + 1;
        l->end_ns[i] = l->end_ns[b];
        for (size_t f = 0; f < nf; f++)
            l->msgs[i * nf + f] = l->msgs[a * nf + f] + l->msgs[b * nf + f];
        for (unsigned s = 0; s < l->nst; s++) {
            uint64_t na = l->cnt[s][a], nb = l->cnt[s][b];
            for (unsigned k = 0; k < 2; k++)
                l->q[s][k][i] = wmean(l->q[s][k][a], na, l->q[s][k][b], nb);
            uint64_t ma = l->q[s][2][a], mb = l->q[s][2][b];
            l->q[s][2][i] = ma > mb ? ma : mb;
            l->cnt[s][i] = na + nb;
        }
    }
    l->n /= 2;
    l->level++;
}

/* The figures of a point from the histograms of its whole span, @p h[stage]. */
static void point_figures(const lat_t *l, size_t i, stats_hist_t *const *h)
{
    static const double q[] = {0.5, 0.99};
    for (unsigned s = 0; s < l->nst; s++) {
        uint64_t v[2];
        stats_hist_quantiles(h[s], q, 2, v);
        l->q[s][0][i] = v[0];
        l->q[s][1][i] = v[1];
        l->q[s][2][i] = stats_hist_max(h[s]);
        l->cnt[s][i] = stats_hist_count(h[s]);
    }
}

/* A base interval ended at @p now: into the open point (slot n), its message counts
   and its end. */
static void open_interval(lat_t *l, uint64_t now)
{
    const size_t nf = l->nfeeds, i = l->n;
    if (l->open == 0)
        memset(&l->msgs[i * nf], 0, nf * sizeof(*l->msgs));
    for (size_t f = 0; f < nf; f++) {
        uint64_t m = __atomic_load_n(&l->feeds[f].msgs, __ATOMIC_RELAXED);
        l->msgs[i * nf + f] += m - l->feeds[f].last_msgs;
        l->feeds[f].last_msgs = m;
    }
    l->end_ns[i] = now - l->t0_ns;
    l->open++;
}

/* Close the open point with the histograms of its whole span, @p src[stage]. No
   allocation: a full series is compacted in place (not after the run's last point). */
static void close_point(lat_t *l, stats_hist_t *const *src, bool last)
{
    point_figures(l, l->n, src);
    if (src == l->acc)
        for (unsigned s = 0; s < l->nst; s++)
            stats_hist_reset(l->acc[s]);
    l->open = 0;
    l->n++;
    if (l->n == l->cap && !last) /* full: keep the whole run, at half the resolution */
        compact(l);
}

/*
 * A base interval ended at @p now, with histograms @p h[stage]: merged into the totals
 * and into the open point. At level 0 it is the whole point; above, it is merged into
 * acc until the point spans 2^level intervals.
 */
static void add_interval(lat_t *l, uint64_t now, stats_hist_t *const *h)
{
    for (unsigned s = 0; s < l->nst; s++)
        stats_hist_merge(l->tot[s], h[s]);
    publish_totals(l);
    open_interval(l, now);
    if (l->level == 0) {
        close_point(l, h, false);
        return;
    }
    for (unsigned s = 0; s < l->nst; s++)
        stats_hist_merge(l->acc[s], h[s]);
    if (l->open == (1u << l->level))
        close_point(l, l->acc, false);
}

/* Start the series clock (first tick, or a report before any tick). */
static void start(lat_t *l, uint64_t now)
{
    if (l->t0_ns != 0)
        return;
    l->t0_ns = now;
    l->next_ns = now + l->interval_ns;
}

uint64_t lat_sleep_ns(const lat_t *l, uint64_t max_ns)
{
    if (l->final || l->t0_ns == 0)
        return max_ns;
    if (l->pending) /* the mux takes a swap within ~1 ms: poll soon */
        return max_ns < 1000000u ? max_ns : 1000000u;
    uint64_t now = co_now_ns();
    uint64_t left = l->next_ns > now ? l->next_ns - now : 0;
    return left < max_ns ? left : max_ns;
}

void lat_tick(lat_t *l)
{
    if (l->final)
        return;
    uint64_t now = co_now_ns();
    start(l, now);
    if (!l->pending) {
        if (now < l->next_ns)
            return;
        for (unsigned s = 0; s < l->nst; s++)
            stats_interval_request(&l->iv[s]);
        /* release: the requests above are seen by the mux's next writer_sync() */
        atomic_fetch_add_explicit(&l->req, 1, memory_order_release);
        l->pending = true;
        /* the interval ends at the request: the mux switches at its next burst */
        l->req_ns = now;
        l->next_ns += l->interval_ns;
        if (l->next_ns <= now) /* the control lcore was late: do not catch up in bursts */
            l->next_ns = now + l->interval_ns;
        return; /* the mux takes the swap at its next burst or idle call */
    }
    /* Poll every stage; the first poll that succeeds keeps its histogram (valid until
       the next request), so a stage may finish before the others. */
    stats_hist_t *h[LAT_NSTAGES];
    unsigned got = 0;
    for (unsigned s = 0; s < l->nst; s++) {
        uint32_t req = atomic_load_explicit(&l->iv[s].request, memory_order_relaxed);
        if (l->iv[s].pending)
            (void)stats_interval_poll(&l->iv[s]);
        if (!l->iv[s].pending) {
            h[s] = l->iv[s].h[(req & 1u) ^ 1u];
            got++;
        }
    }
    if (got < l->nst)
        return;
    l->pending = false;
    add_interval(l, l->req_ns, h);
}

/* Feed intervals: request a swap of each, wait for the mux to take them, merge. */
static void sync_feeds(lat_t *l)
{
    for (unsigned i = 0; i < l->nfeeds; i++)
        for (unsigned s = 0; s < l->nst; s++)
            if (!l->feeds[i].iv[s].pending)
                stats_interval_request(&l->feeds[i].iv[s]);
    /* release: the requests above are seen by the mux's next writer_sync() */
    atomic_fetch_add_explicit(&l->req, 1, memory_order_release);
    uint64_t t0 = co_now_ns();
    for (;;) {
        unsigned left = 0;
        for (unsigned i = 0; i < l->nfeeds; i++)
            for (unsigned s = 0; s < l->nst; s++) {
                stats_interval_t *iv = &l->feeds[i].iv[s];
                if (!iv->pending)
                    continue;
                stats_hist_t *h = stats_interval_poll(iv);
                if (h)
                    stats_hist_merge(l->feeds[i].tot[s], h);
                else
                    left++;
            }
        if (left == 0 || co_now_ns() - t0 > LAT_SYNC_WAIT_NS)
            return; /* a swap still pending is merged by the next sync */
        co_sleep(LAT_SYNC_POLL_NS, CO_BACKGROUND);
    }
}

/* The writer has ended: whatever it last recorded into, and a swap it took that was
   not polled yet, belongs to the totals @p into (and to @p also, when not NULL). */
static void drain(stats_interval_t *iv, stats_hist_t *into, stats_hist_t *also,
                  bool handed_unmerged)
{
    uint32_t req = atomic_load_explicit(&iv->request, memory_order_relaxed);
    stats_hist_t *h = stats_interval_poll(iv);
    if (h == NULL && handed_unmerged)
        h = iv->h[(req & 1u) ^ 1u]; /* polled by lat_tick, its other stages pending */
    uint32_t ack = atomic_load_explicit(&iv->ack, memory_order_acquire);
    stats_hist_t *const left[2] = {h, iv->h[ack & 1u]};
    for (unsigned k = 0; k < 2; k++) {
        if (left[k] == NULL)
            continue;
        stats_hist_merge(into, left[k]);
        if (also)
            stats_hist_merge(also, left[k]);
    }
}

void lat_sync(lat_t *l, bool writer_done)
{
    if (l->final)
        return;
    start(l, co_now_ns());
    if (!writer_done) {
        sync_feeds(l);
        return;
    }
    /* the last, partial interval: into the totals and the open point (acc holds the
       open point's earlier intervals, or nothing at level 0), which it closes */
    for (unsigned s = 0; s < l->nst; s++)
        drain(&l->iv[s], l->tot[s], l->acc[s], l->pending && !l->iv[s].pending);
    l->pending = false;
    publish_totals(l);
    open_interval(l, co_now_ns());
    close_point(l, l->acc, true);
    for (unsigned i = 0; i < l->nfeeds; i++)
        for (unsigned s = 0; s < l->nst; s++)
            drain(&l->feeds[i].iv[s], l->feeds[i].tot[s], NULL, false);
    l->final = true;
}

uint64_t lat_count(const lat_t *l)
{
    return stats_hist_count(l->tot[LAT_RX_TO_PUBLISH]);
}

/* ------------------------------------------------------------------------------ */
/* JSON                                                                           */
/* ------------------------------------------------------------------------------ */

static json_t *summary_json(const stats_hist_t *h, bool distribution)
{
    stats_summary_t s;
    stats_hist_summary(h, &s);
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I}", "count",
                          (json_int_t)s.count, "min", (json_int_t)s.min, "p50", (json_int_t)s.p50,
                          "p90", (json_int_t)s.p90, "p99", (json_int_t)s.p99, "p999",
                          (json_int_t)s.p999, "p9999", (json_int_t)s.p9999, "max",
                          (json_int_t)s.max, "mean", s.mean, "overflow", (json_int_t)s.overflow);
    if (!distribution)
        return o;
    json_t *d = json_array();
    if (s.count) {
        stats_iter_t it;
        stats_iter_percentiles(&it, h, LAT_TICKS_PER_HALF);
        while (stats_iter_next(&it))
            json_array_append_new(d, json_pack("[I, f, I]", (json_int_t)it.value, it.percentile,
                                               (json_int_t)it.cumulative));
    }
    json_object_set_new(o, "distribution", d);
    return o;
}

static json_t *u64_array(const uint64_t *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer((json_int_t)v[i]));
    return a;
}

/* ns since t0 -> ms, rounded (so a point's start is its predecessor's end, exactly). */
static json_int_t ms_of(uint64_t ns)
{
    return (json_int_t)((ns + 500000u) / 1000000u);
}

/*
 * The series: every closed point, then (in an on-demand report, above level 0) the
 * open one so far, from acc. t_start_ms / t_ms are each point's real start and end.
 */
static json_t *series_json(const lat_t *l)
{
    bool open = !l->final && l->open > 0;
    size_t m = l->n + open, nf = l->nfeeds;
    uint64_t oq[LAT_NSTAGES][4] = {{0}}; /* the open point: p50, p99, max, count */
    static const double qq[] = {0.5, 0.99};
    for (unsigned s = 0; open && s < l->nst; s++) {
        stats_hist_quantiles(l->acc[s], qq, 2, oq[s]);
        oq[s][2] = stats_hist_max(l->acc[s]);
        oq[s][3] = stats_hist_count(l->acc[s]);
    }
    json_t *t0 = json_array(), *t1 = json_array(), *rates = json_object(), *stages = json_object();
    for (size_t i = 0; i < m; i++) {
        json_array_append_new(t0, json_integer(i ? ms_of(l->end_ns[i - 1]) : 0));
        json_array_append_new(t1, json_integer(ms_of(l->end_ns[i])));
    }
    for (size_t f = 0; f < nf; f++) {
        json_t *a = json_array();
        for (size_t i = 0; i < m; i++) {
            uint64_t from = i ? l->end_ns[i - 1] : 0, dt = l->end_ns[i] - from;
            json_array_append_new(
                a, json_real(dt ? (double)l->msgs[i * nf + f] * 1e9 / (double)dt : 0.0));
        }
        json_object_set_new(rates, l->names[f], a);
    }
    static const char *const keys[] = {"p50", "p99", "max", "count"};
    for (unsigned s = 0; s < l->nst; s++) {
        json_t *o = json_object();
        for (unsigned k = 0; k < 4; k++) {
            const uint64_t *v = k < 3 ? l->q[s][k] : l->cnt[s];
            json_t *a = u64_array(v, l->n);
            if (open)
                json_array_append_new(a, json_integer((json_int_t)oq[s][k]));
            json_object_set_new(o, keys[k], a);
        }
        json_object_set_new(stages, stage_names[s], o);
    }
    uint64_t base_ms = l->interval_ns / 1000000u;
    return json_pack("{s:I, s:I, s:I, s:i, s:I, s:b, s:o, s:o, s:o, s:o}", "interval_ms",
                     (json_int_t)(base_ms << l->level), "base_interval_ms", (json_int_t)base_ms,
                     "points_max", (json_int_t)l->cap, "downsampled", (int)l->level,
                     "merged_points", (json_int_t)(l->level ? l->cap / 2 : 0), "open", open,
                     "t_start_ms", t0, "t_ms", t1, "rates", rates, "stages", stages);
}

void *lat_json(const lat_t *l)
{
    json_t *stages = json_array(), *overall = json_object(), *feeds = json_object();
    for (unsigned s = 0; s < l->nst; s++) {
        json_array_append_new(stages, json_string(stage_names[s]));
        json_object_set_new(overall, stage_names[s], summary_json(l->tot[s], true));
    }
    for (unsigned i = 0; i < l->nfeeds; i++) {
        json_t *f = json_object();
        for (unsigned s = 0; s < l->nst; s++)
            json_object_set_new(f, stage_names[s], summary_json(l->feeds[i].tot[s], false));
        json_object_set_new(feeds, l->names[i], f);
    }
    json_t *clock = json_pack("{s:I, s:f, s:f}", "tsc_hz", (json_int_t)l->hz, "read_cost_ns",
                              l->cc.rdtsc_ns, "read_cost_rdtscp_ns", l->cc.rdtscp_ns);
    json_t *o = json_pack("{s:s, s:o, s:i, s:i, s:b, s:o, s:o, s:o}", "unit", "ns", "clock", clock,
                          "precision_digits", STATS_HIST_SIGFIGS_DEFAULT, "feed_precision_digits",
                          (int)l->feed_sigfigs, "final", l->final, "stages", stages, "overall",
                          overall, "feeds", feeds);
    json_object_set_new(o, "series", series_json(l));
    lat_recorder_stats_t rs;
    lat_recorder_stats(l, &rs);
    json_object_set_new(o, "recorder",
                        json_pack("{s:i, s:b, s:I, s:I, s:I, s:I}", "lcore", rs.lcore, "forwarded",
                                  rs.forwarded, "sent", (json_int_t)rs.sent, "waits",
                                  (json_int_t)rs.waits, "dropped", (json_int_t)rs.dropped, "slots",
                                  (json_int_t)rs.slots));
    return o;
}

/* ------------------------------------------------------------------------------ */
/* Text                                                                           */
/* ------------------------------------------------------------------------------ */

static void print_row(FILE *f, const stats_hist_t *h, const char *name)
{
    char row[256];
    stats_hist_format_row(h, name, row, sizeof(row));
    fprintf(f, "  %s", row);
    if (stats_hist_overflow(h))
        fprintf(f, "  (%" PRIu64 " over 60 s)", stats_hist_overflow(h));
    fputc('\n', f);
}

/* Where the histograms were recorded, and whether the hand-over lost anything. */
static void print_recorder(FILE *f, const lat_t *l)
{
    lat_recorder_stats_t rs;
    lat_recorder_stats(l, &rs);
    if (!rs.forwarded) {
        fprintf(f, "  (recorded by the mux, on its lcore)\n");
        return;
    }
    fprintf(f, "  (recorded on lcore %d: the mux waited for room %" PRIu64 " times", rs.lcore,
            rs.waits);
    if (rs.dropped > 0)
        fprintf(f, "; %" PRIu64 " messages NOT recorded: the recorder did not run", rs.dropped);
    fprintf(f, ")\n");
}

int lat_print(FILE *f, const lat_t *l, bool feeds)
{
    char hdr[256];
    stats_hist_format_header(hdr, sizeof(hdr));
    fprintf(f,
            "latency per stage, ns (%" PRIu64 " messages; clock read %.1f ns rdtsc, %.1f ns "
            "rdtscp, not charged to the stages)%s:\n",
            lat_count(l), l->cc.rdtsc_ns, l->cc.rdtscp_ns, l->final ? "" : " [running]");
    fprintf(f, "  %s\n", hdr);
    for (unsigned s = 0; s < l->nst; s++)
        print_row(f, l->tot[s], stage_names[s]);
    if (l->nst <= LAT_INTENDED_TO_PUBLISH)
        fprintf(f, "  (intended_to_publish: paced replay only)\n");
    print_recorder(f, l);
    for (unsigned i = 0; feeds && i < l->nfeeds; i++) {
        fprintf(f, "feed %s:\n", l->names[i]);
        for (unsigned s = 0; s < l->nst; s++)
            print_row(f, l->feeds[i].tot[s], stage_names[s]);
    }
    return ferror(f) ? -EIO : 0;
}

/* DIR/latency.json ({"latency": @p lat}) and DIR/latency.txt; @p lat is borrowed. */
static int write_json_txt(const lat_t *l, const char *dir, json_t *lat, char *err, size_t errlen)
{
    char path[4096];
    json_t *root = json_pack("{s:O}", "latency", lat);
    snprintf(path, sizeof(path), "%s/latency.json", dir);
    int bad = root == NULL || json_dump_file(root, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0;
    json_decref(root);
    if (bad) {
        snprintf(err, errlen, "cannot write %s", path);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/latency.txt", dir);
    FILE *f = fopen(path, "w");
    int wr = f ? lat_print(f, l, true) : -1;
    if (f == NULL || fclose(f) != 0 || wr < 0) {
        snprintf(err, errlen, "cannot write %s", path);
        return -1;
    }
    return 0;
}

int lat_write_dir(const lat_t *l, const char *dir)
{
    char err[4200];
    json_t *lat = lat_json(l);
    int rc = lat ? write_json_txt(l, dir, lat, err, sizeof(err)) : -1;
    if (lat == NULL)
        snprintf(err, sizeof(err), "cannot build the latency JSON");
    if (rc < 0)
        fprintf(stderr, "mdmux: --report: %s\n", err);
    json_decref(lat);
    return rc;
}

const char *const lat_report_files[] = {"latency.json", "latency.txt", "report.html", NULL};

int lat_write_report(const lat_t *l, const char *dir, const char *mode, char *err, size_t errlen)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    json_t *lat = lat_json(l);
    if (lat == NULL) {
        snprintf(err, errlen, "cannot build the latency JSON");
        return -1;
    }
    int rc = write_json_txt(l, dir, lat, err, errlen);
    /* the page from the latency section alone: no counters, marked "final": false */
    json_t *page =
        rc == 0 ? json_pack("{s:s, s:O}", "mode", mode ? mode : "run", "latency", lat) : NULL;
    char path[4096];
    snprintf(path, sizeof(path), "%s/report.html", dir);
    if (rc == 0 && (page == NULL || report_html_write_file(page, path) != 0)) {
        snprintf(err, errlen, "cannot write %s", path);
        rc = -1;
    }
    json_decref(page);
    json_decref(lat);
    return rc;
}

unsigned lat_nstages(const lat_t *l)
{
    return l ? l->nst : 0;
}

unsigned lat_nfeeds(const lat_t *l)
{
    return l ? l->nfeeds : 0;
}

unsigned lat_feed_sigfigs(const lat_t *l)
{
    return l ? l->feed_sigfigs : 0;
}

/* Cumulative counts of @p h at @p le (as stats_hist_count_le()), count and sum, in
   one walk over its buckets: a bucket counts under le[k] when its highest value
   (clamped to max) is <= le[k]. */
static void le_counts(const stats_hist_t *h, const uint64_t *le, unsigned nle, uint64_t *out)
{
    memset(out, 0, (nle + 2) * sizeof(*out));
    stats_iter_t it;
    stats_iter_buckets(&it, h);
    unsigned k = 0;
    uint64_t cum = 0;
    while (stats_iter_next(&it)) {
        for (; k < nle && it.value > le[k]; k++)
            out[k] = cum;
        cum += it.count;
    }
    for (; k < nle; k++)
        out[k] = cum;
    out[nle] = stats_hist_count(h);
    out[nle + 1] = h->total;
}

void lat_feed_buckets(const lat_t *l, const uint64_t *le, unsigned nle, uint64_t *out)
{
    for (unsigned i = 0; i < l->nfeeds; i++)
        for (unsigned s = 0; s < l->nst; s++)
            le_counts(l->feeds[i].tot[s], le, nle, out + ((size_t)i * LAT_NSTAGES + s) * (nle + 2));
}

/* ------------------------------------------------------------------------------ */
/* Per-feed summaries for other threads (DPDK telemetry)                          */
/* ------------------------------------------------------------------------------ */

int lat_feed_summary(lat_t *l, unsigned feed, unsigned timeout_ms, stats_summary_t *out)
{
    if (l == NULL || feed >= l->nfeeds)
        return -EINVAL;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&l->svc_mu);
    uint64_t ticket = ++l->svc_asked;
    while (l->svc_done < ticket && !l->svc_closed)
        if (pthread_cond_timedwait(&l->svc_cv, &l->svc_mu, &dl) == ETIMEDOUT)
            break;
    int rc = l->svc_done >= ticket ? (int)l->nst : l->svc_closed ? -ESHUTDOWN : -ETIMEDOUT;
    if (rc > 0)
        memcpy(out, &l->svc_sum[(size_t)feed * LAT_NSTAGES], l->nst * sizeof(*out));
    pthread_mutex_unlock(&l->svc_mu);
    return rc;
}

void lat_serve(lat_t *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->svc_mu);
    uint64_t want = l->svc_asked;
    pthread_mutex_unlock(&l->svc_mu);
    if (want <= __atomic_load_n(&l->svc_done, __ATOMIC_RELAXED))
        return;
    lat_sync(l, false); /* may co_sleep: never under svc_mu */
    pthread_mutex_lock(&l->svc_mu);
    for (unsigned i = 0; i < l->nfeeds; i++)
        for (unsigned s = 0; s < l->nst; s++)
            stats_hist_summary(l->feeds[i].tot[s], &l->svc_sum[(size_t)i * LAT_NSTAGES + s]);
    l->svc_done = want;
    pthread_cond_broadcast(&l->svc_cv);
    pthread_mutex_unlock(&l->svc_mu);
}

void lat_serve_end(lat_t *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->svc_mu);
    l->svc_closed = true;
    pthread_cond_broadcast(&l->svc_cv);
    pthread_mutex_unlock(&l->svc_mu);
}
