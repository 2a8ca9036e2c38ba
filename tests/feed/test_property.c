/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Property test of the pure feed core against a model: random A/B streams with loss
 * (single and burst), duplication, adjacent reordering, skew and jitter, heartbeats,
 * an end of session, a re-request server that answers late or not at all, and
 * handler restarts. After each run:
 *   - every message is published at most once, and every message is either published
 *     or inside an MD_EV_GAP_FINAL range (exactly one of the two);
 *   - messages outside gap ranges are in strictly increasing order; a message inside
 *     a gap range comes after that gap's event;
 *   - every gap sequence ends in exactly one GAP_FILLED or GAP_FINAL range;
 *   - the gap set contains every message lost on both lines, and (when the window and
 *     the wait cover the skew, and nothing restarts) is exactly that set;
 *   - per line: packets = wins + fills + duplicates + late + discarded; counters match;
 *   - every packet is released exactly once;
 *   - with a server that always answers, nothing is lost for good;
 *   - "backlog" modes drive the core as feed_main does, through the arrival clock
 *     (feed_clock_t), with a handler that stalls for up to 5 gap waits while the
 *     packets queue per line: the same properties hold, exactness included, i.e. a
 *     backlog at the handler never turns into a gap.
 * Seed: FEED_PROP_SEED (printed); runs: FEED_PROP_RUNS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

enum { EV_DATA, EV_HB, EV_EOS, EV_RESTART, EV_RETX };

typedef struct pev {
    uint64_t t;
    uint32_t order;
    uint8_t kind, line;
    uint16_t count;
    uint64_t seq;
} pev_t;

typedef struct mode {
    const char *name;
    unsigned window;
    uint64_t gap_wait_ns;
    bool rereq;
    double ignore; /* share of requests the server ignores */
    double restart;
    bool exact;   /* gap set == lost on both */
    bool backlog; /* drive through the arrival clock with handler stalls */
} pmode_t;

static uint64_t rng_s;

static uint64_t rnd(void)
{
    uint64_t z = (rng_s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rndf(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

static uint64_t rndn(uint64_t n)
{
    return n ? rnd() % n : 0;
}

#define NPKT_MAX 1200
#define NMSG_MAX (NPKT_MAX * 5 + 2)
#define NEV_MAX  (NPKT_MAX * 6 + 64)

typedef struct world {
    uint64_t pseq[NPKT_MAX];
    uint16_t pcnt[NPKT_MAX];
    unsigned npkt;
    uint64_t nmsg;
    bool seen[NMSG_MAX]; /* on some line, intact */
    pev_t ev[NEV_MAX];
    unsigned nev;
    pev_t retx[8192];
    unsigned nretx;
} world_t;

static int pev_cmp(const void *a, const void *b)
{
    const pev_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void add_ev(world_t *w, pev_t e)
{
    e.order = w->nev;
    w->ev[w->nev++] = e;
}

/* One line's arrivals: loss (single, bursts), duplicates, adjacent swaps. */
static void gen_line(world_t *w, uint8_t line, uint64_t skew, double loss)
{
    unsigned burst = 0;
    uint64_t tprev_swap = 0;
    bool swapped = false;
    for (unsigned i = 0; i < w->npkt; i++) {
        uint64_t t = (uint64_t)i * 1000 + skew + rndn(200) + 10000;
        if (burst == 0 && rndf() < 0.01)
            burst = 1 + (unsigned)rndn(5);
        bool lost = burst > 0 || rndf() < loss;
        if (burst > 0)
            burst--;
        if (!swapped && rndf() < 0.03 && i + 1 < w->npkt) {
            t += 1100; /* after the next packet */
            swapped = true;
            tprev_swap = t;
        } else {
            swapped = false;
        }
        (void)tprev_swap;
        if (i % 100 == 99)
            add_ev(w, (pev_t){
                          .t = t + 1, .kind = EV_HB, .line = line, .seq = w->pseq[i] + w->pcnt[i]});
        if (lost)
            continue;
        for (unsigned k = 0; k < w->pcnt[i]; k++)
            w->seen[w->pseq[i] + k] = true;
        add_ev(
            w,
            (pev_t){.t = t, .kind = EV_DATA, .line = line, .seq = w->pseq[i], .count = w->pcnt[i]});
        if (rndf() < 0.02)
            add_ev(w, (pev_t){.t = t + 100,
                              .kind = EV_DATA,
                              .line = line,
                              .seq = w->pseq[i],
                              .count = w->pcnt[i]});
    }
    add_ev(w, (pev_t){.t = (uint64_t)w->npkt * 1000 + skew + 20000,
                      .kind = EV_EOS,
                      .line = line,
                      .seq = w->nmsg + 1});
}

static void gen_world(world_t *w, const pmode_t *m)
{
    memset(w, 0, sizeof(*w));
    w->npkt = 200 + (unsigned)rndn(NPKT_MAX - 200);
    uint64_t s = 1;
    for (unsigned i = 0; i < w->npkt; i++) {
        w->pseq[i] = s;
        w->pcnt[i] = (uint16_t)(1 + rndn(5));
        s += w->pcnt[i];
    }
    w->nmsg = s - 1;
    double la = rndf() * 0.1, lb = rndf() * 0.1;
    uint64_t skew_b = rndn(3000);
    gen_line(w, FEED_LINE_A, 0, la);
    gen_line(w, FEED_LINE_B, skew_b, lb);
    if (rndf() < m->restart)
        add_ev(w, (pev_t){.t = 10000 + rndn((uint64_t)w->npkt * 1000), .kind = EV_RESTART});
    qsort(w->ev, w->nev, sizeof(pev_t), pev_cmp);
}

/* The wall clock of a backlog run (requests go out at it); 0 in plain runs. */
static uint64_t g_wall;

/* The server's answer to new requests: split in chunks, late, maybe ignored. */
static void serve(world_t *w, harness_t *h, unsigned *served, const pmode_t *m)
{
    for (; *served < h->nreq; (*served)++) {
        const h_req_t *q = &h->req[*served];
        if (rndf() < m->ignore)
            continue;
        uint64_t t = (g_wall > q->at ? g_wall : q->at) + 2000 + rndn(20000);
        for (uint64_t s = q->seq; s < q->seq + q->count && w->nretx < 8192;) {
            uint16_t n = (uint16_t)(1 + rndn(7));
            if (s + n > q->seq + q->count)
                n = (uint16_t)(q->seq + q->count - s);
            if (s + n > w->nmsg + 1)
                n = (uint16_t)(w->nmsg + 1 - s);
            if (n == 0)
                break;
            w->retx[w->nretx++] =
                (pev_t){.t = t++, .kind = EV_RETX, .line = FEED_LINE_RETX, .seq = s, .count = n};
            s += n;
        }
    }
}

/* Index of the earliest pending retransmission, or -1. */
static int next_retx(const world_t *w)
{
    int best = -1;
    for (unsigned i = 0; i < w->nretx; i++) {
        if (best < 0 || w->retx[i].t < w->retx[best].t)
            best = (int)i;
    }
    return best;
}

static void inject(harness_t *h, const pev_t *e)
{
    switch (e->kind) {
    case EV_DATA:
    case EV_RETX:
        h_pkt_s(h, H_S1, e->line, e->seq, e->count, e->t);
        break;
    case EV_HB:
    case EV_EOS:
        feed_core_heartbeat(h->core, e->line, H_S1, e->seq, e->kind == EV_EOS, h->now);
        break;
    case EV_RESTART:
        feed_core_restart(h->core, h->now);
        break;
    }
}

/* Feed every event (and the server's answers) in time order, then flush. */
static void drive(world_t *w, harness_t *h, const pmode_t *m)
{
    unsigned i = 0, served = 0;
    for (int idle = 0; idle < 1000;) {
        int r = next_retx(w);
        pev_t cur;
        if (r >= 0 && (i >= w->nev || w->retx[r].t < w->ev[i].t)) {
            cur = w->retx[r];
            w->retx[r] = w->retx[--w->nretx];
        } else if (i < w->nev) {
            cur = w->ev[i++];
        } else if (feed_core_holes(h->core) > 0 || feed_core_held(h->core) > 0) {
            /* input over, gaps open: let retries and final waits run */
            h_advance(h, h->now + 5000);
            if (h->bad)
                return;
            serve(w, h, &served, m);
            idle++;
            continue;
        } else {
            break;
        }
        h_advance(h, cur.t);
        if (h->bad)
            return;
        inject(h, &cur);
        serve(w, h, &served, m);
    }
    feed_core_flush(h->core, h->now);
}

/* Per-line FIFOs of a backlog run: what arrived and the handler has not read yet. */
typedef struct bq {
    pev_t q[FEED_LINES][NEV_MAX];
    unsigned head[FEED_LINES], tail[FEED_LINES];
} bq_t;

/*
 * Like drive(), but as feed_main sees it: arrivals queue per line while the handler
 * is busy or stalled; the handler reads the non-empty line furthest behind in bursts,
 * each packet through feed_clock_packet() (its stamp is the core's time), and ticks
 * at the wall clock only once every queue is empty.
 */
static void drive_backlog(world_t *w, harness_t *h, const pmode_t *m)
{
    static bq_t b;
    memset(b.head, 0, sizeof(b.head));
    memset(b.tail, 0, sizeof(b.tail));
    feed_clock_t k;
    const unsigned n_in[FEED_LINES] = {1, 1, m->rereq ? 1 : 0};
    uint64_t wall = h->now;
    feed_clock_init(&k, n_in);
    unsigned i = 0, served = 0;
    for (unsigned steps = 0; steps < 10 * NEV_MAX; steps++) {
        /* arrivals up to now join their line's queue */
        for (; i < w->nev && w->ev[i].t <= wall; i++)
            b.q[w->ev[i].line][b.tail[w->ev[i].line]++] = w->ev[i];
        for (int r; (r = next_retx(w)) >= 0 && w->retx[r].t <= wall;) {
            b.q[FEED_LINE_RETX][b.tail[FEED_LINE_RETX]++] = w->retx[r];
            w->retx[r] = w->retx[--w->nretx];
        }
        int pick = -1;
        for (uint8_t l = 0; l < FEED_LINES; l++) {
            if (b.head[l] == b.tail[l]) {
                if (n_in[l])
                    feed_clock_empty(&k, l, 0, wall);
            } else if (pick < 0 ||
                       feed_clock_known(&k, l, 0) < feed_clock_known(&k, (uint8_t)pick, 0)) {
                pick = l;
            }
        }
        if (pick < 0) {
            /* every queue empty: real time is the clock */
            h->now = g_wall = wall;
            feed_clock_tick(&k, h->core, wall);
            if (h->bad)
                return;
            serve(w, h, &served, m);
            int r = next_retx(w);
            uint64_t next = feed_core_deadline(h->core);
            if (i < w->nev && w->ev[i].t < next)
                next = w->ev[i].t;
            if (r >= 0 && w->retx[r].t < next)
                next = w->retx[r].t;
            if (next == UINT64_MAX)
                break; /* nothing left to arrive, nothing open */
            wall = next > wall ? next : wall + 1;
            if (rndf() < 0.02)
                wall += rndn(5 * m->gap_wait_ns); /* the handler stalls: a backlog builds */
            continue;
        }
        for (unsigned n = 1 + (unsigned)rndn(32); n > 0 && b.head[pick] < b.tail[pick]; n--) {
            const pev_t *e = &b.q[pick][b.head[pick]++];
            h->now = feed_clock_packet(&k, h->core, (uint8_t)pick, 0, e->t, wall);
            g_wall = wall;
            if (e->kind == EV_DATA || e->kind == EV_RETX)
                h_pkt_s(h, H_S1, e->line, e->seq, e->count, e->t);
            else
                inject(h, e);
            if (h->bad)
                return;
            serve(w, h, &served, m);
            wall += rndn(100); /* the handler's own time per packet */
        }
    }
    h->now = g_wall = wall;
    feed_core_flush(h->core, h->now);
}

typedef struct marks {
    uint8_t delivered[NMSG_MAX];
    bool gap[NMSG_MAX], filled[NMSG_MAX], final[NMSG_MAX], inorder[NMSG_MAX];
} marks_t;

/* Mark [from, to] in @p set; fail on an already marked or out-of-range sequence. */
static void mark(bool *set, uint64_t from, uint64_t to, uint64_t nmsg, const char *what)
{
    if (from > to || to > nmsg + 1) {
        fail_msg("%s range [%lu, %lu] out of 1..%lu", what, (unsigned long)from, (unsigned long)to,
                 (unsigned long)nmsg);
    }
    for (uint64_t s = from; s <= to; s++) {
        if (set[s])
            fail_msg("%s twice at %lu", what, (unsigned long)s);
        set[s] = true;
    }
}

/* Walk the log: exactly-once and ordering. */
static void check_log(const harness_t *h, const world_t *w, marks_t *k)
{
    uint64_t last = 0;
    for (unsigned i = 0; i < h->nlog; i++) {
        const h_item_t *it = &h->log[i];
        if (it->kind == H_KIND_EV) {
            if (it->ev == MD_EV_GAP)
                mark(k->gap, it->seq, it->to, w->nmsg, "gap");
            else if (it->ev == MD_EV_GAP_FILLED)
                mark(k->filled, it->seq, it->to, w->nmsg, "filled");
            else if (it->ev == MD_EV_GAP_FINAL)
                mark(k->final, it->seq, it->to, w->nmsg, "final");
            continue;
        }
        uint64_t s = it->seq;
        assert_true(s >= 1 && s <= w->nmsg);
        if (k->delivered[s]++)
            fail_msg("message %lu published twice", (unsigned long)s);
        if (!k->gap[s]) {
            if (s <= last)
                fail_msg("message %lu after %lu out of order", (unsigned long)s,
                         (unsigned long)last);
            last = s;
            k->inorder[s] = true;
        } else if (it->line < FEED_LINES && k->filled[s]) {
            fail_msg("message %lu after its GAP_FILLED", (unsigned long)s);
        }
    }
}

/* Set relations between delivered, gap, filled, final and lost-on-both. */
static void check_sets(const world_t *w, const marks_t *k, const pmode_t *m)
{
    for (uint64_t s = 1; s <= w->nmsg; s++) {
        if (!!k->delivered[s] == k->final[s])
            fail_msg("message %lu: delivered %d, final %d", (unsigned long)s, k->delivered[s],
                     k->final[s]);
        if (k->gap[s] != (k->filled[s] || k->final[s]) || (k->filled[s] && k->final[s]))
            fail_msg("message %lu: gap %d filled %d final %d", (unsigned long)s, k->gap[s],
                     k->filled[s], k->final[s]);
        if (k->filled[s] && !k->delivered[s])
            fail_msg("message %lu filled but not published", (unsigned long)s);
        if (k->inorder[s] && k->gap[s])
            fail_msg("message %lu in order, then in a gap", (unsigned long)s);
        if (!w->seen[s] && !k->gap[s])
            fail_msg("message %lu lost on both lines but in no gap", (unsigned long)s);
        if (m->exact && w->seen[s] && k->gap[s])
            fail_msg("message %lu seen on a line but in a gap", (unsigned long)s);
    }
}

/* Counters agree with the log. */
static void check_counters(const harness_t *h, const world_t *w, const marks_t *k)
{
    uint64_t gapn = 0, finaln = 0, rec = 0;
    for (uint64_t s = 1; s <= w->nmsg; s++) {
        gapn += k->gap[s];
        finaln += k->final[s];
        rec += k->gap[s] && k->delivered[s];
    }
    assert_int_equal(h->st.gap_msgs, gapn);
    assert_int_equal(h->st.final_lost, finaln);
    assert_int_equal(h->st.recovered, rec);
    for (unsigned l = 0; l < FEED_LINES; l++) {
        const feed_line_stats_t *ls = &h->st.line[l];
        assert_int_equal(ls->packets,
                         ls->wins + ls->fills + ls->duplicates + ls->late + ls->discarded);
    }
    assert_int_equal(feed_core_held(h->core), 0);
    assert_int_equal(feed_core_holes(h->core), 0);
    assert_true(h_all_released(h));
}

static void run_mode(const pmode_t *m, uint64_t seed, unsigned runs)
{
    static world_t w;
    static marks_t k;
    uint64_t tot[7] = {0};
    for (unsigned r = 0; r < runs; r++) {
        rng_s = seed + r * 7919u;
        gen_world(&w, m);
        feed_core_conf_t c = {.gap_wait_ns = m->gap_wait_ns,
                              .window = m->window,
                              .line_timeout_ns = 1000000000ull,
                              .final_wait_ns = 50000,
                              .rereq = m->rereq,
                              .retry_ns = 40000,
                              .max_retries = 3,
                              .max_outstanding = 8,
                              .rate_per_s = 1000000,
                              .max_msgs = 1 + (unsigned)rndn(40)};
        harness_t *h = h_new(&c);
        g_wall = 0;
        if (m->backlog)
            drive_backlog(&w, h, m);
        else
            drive(&w, h, m);
        if (h->bad)
            fail_msg("mode %s run %u: %s", m->name, r, h->why);
        memset(&k, 0, sizeof(k));
        check_log(h, &w, &k);
        check_sets(&w, &k, m);
        check_counters(h, &w, &k);
        if (m->rereq && m->ignore == 0 && m->restart == 0 && h->st.final_lost != 0)
            fail_msg("mode %s run %u: a reliable server, yet %lu lost", m->name, r,
                     (unsigned long)h->st.final_lost);
        uint64_t v[7] = {w.nmsg,           h->st.gaps,     h->st.gap_msgs, h->st.recovered,
                         h->st.final_lost, h->st.restarts, h->st.requests};
        for (unsigned i = 0; i < 7; i++)
            tot[i] += v[i];
        h_free(h);
    }
    /* show that each mode exercises what it claims */
    fprintf(stderr,
            "%s: %u runs, %lu msgs, %lu gaps (%lu msgs), %lu recovered, %lu final, "
            "%lu restarts, %lu requests\n",
            m->name, runs, (unsigned long)tot[0], (unsigned long)tot[1], (unsigned long)tot[2],
            (unsigned long)tot[3], (unsigned long)tot[4], (unsigned long)tot[5],
            (unsigned long)tot[6]);
}

static uint64_t seed;
static unsigned runs;

static void test_backlog_passive(void **state)
{
    (void)state;
    pmode_t m = {"backlog-passive", 64, 20000, false, 0, 0, true, true};
    run_mode(&m, seed + 5, runs);
}

static void test_backlog_rereq(void **state)
{
    (void)state;
    pmode_t m = {"backlog-rereq", 64, 20000, true, 0, 0, true, true};
    run_mode(&m, seed + 6, runs);
}

static void test_backlog_lossy_server(void **state)
{
    (void)state;
    pmode_t m = {"backlog-lossy-server", 64, 20000, true, 0.4, 0, true, true};
    run_mode(&m, seed + 7, runs);
}

static void test_exact_passive(void **state)
{
    (void)state;
    pmode_t m = {"exact-passive", 64, 20000, false, 0, 0, true};
    run_mode(&m, seed, runs);
}

static void test_exact_rereq(void **state)
{
    (void)state;
    pmode_t m = {"exact-rereq", 64, 20000, true, 0, 0, true};
    run_mode(&m, seed + 1, runs);
}

static void test_lossy_server(void **state)
{
    (void)state;
    pmode_t m = {"lossy-server", 64, 20000, true, 0.4, 0, true};
    run_mode(&m, seed + 2, runs);
}

static void test_stress(void **state)
{
    (void)state;
    pmode_t m = {"stress", 2, 500, true, 0.3, 0.5, false};
    run_mode(&m, seed + 3, runs);
}

static void test_stress_passive(void **state)
{
    (void)state;
    pmode_t m = {"stress-passive", 1, 300, false, 0, 0.5, false};
    run_mode(&m, seed + 4, runs);
}

int main(void)
{
    seed = tu_seed_from_env("FEED_PROP_SEED", 20261201);
    runs = (unsigned)tu_env_u64("FEED_PROP_RUNS", 500);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_passive),  cmocka_unit_test(test_exact_rereq),
        cmocka_unit_test(test_lossy_server),   cmocka_unit_test(test_stress),
        cmocka_unit_test(test_stress_passive), cmocka_unit_test(test_backlog_passive),
        cmocka_unit_test(test_backlog_rereq),  cmocka_unit_test(test_backlog_lossy_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
