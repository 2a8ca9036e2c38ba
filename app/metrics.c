/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Prometheus endpoint (metrics.h): text exposition format 0.0.4, rendered on
 * each scrape from snapshots of the run's counters, served by libmicrohttpd from its
 * own internal thread so that no lcore (and no coroutine scheduler) ever blocks on a
 * socket. Rendering allocates (open_memstream): that is the scraper's thread, never
 * the data path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "co.h"
#include "feed.h"
#include "latency.h"
#include "metrics.h"
#include "proto.h"

const uint64_t metrics_le_ns[METRICS_LE_COUNT] = {
    100,    200,    500,     1000,    2000,    5000,     10000,    20000,    50000,     100000,
    200000, 500000, 1000000, 2000000, 5000000, 10000000, 20000000, 50000000, 100000000,
};

const char *metrics_stage_name(unsigned stage)
{
    return lat_stage_name(stage);
}

stats_hist_t *metrics_stage_snapshot(const pipe_t *p, unsigned stage)
{
    /* app/latency.c's merged overall histogram, copied under its lock (as of its
       last interval, 100 ms by default) */
    if (p == NULL || p->latency == NULL || stage >= LAT_NSTAGES)
        return NULL;
    return lat_stage_snapshot(p->latency, stage);
}

/* ------------------------------------------------------------------------------ */
/* Text format                                                                    */
/* ------------------------------------------------------------------------------ */

/* A label value, escaped as the text format wants (\\, \", \n). */
static void put_label(FILE *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', o);
        if (*s == '\n') {
            fputs("\\n", o);
            continue;
        }
        fputc(*s, o);
    }
}

static void family(FILE *o, const char *name, const char *type, const char *help)
{
    fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Everything read once per scrape, so each family prints from the same snapshot. */
typedef struct snap {
    feed_stats_t *fs;                 /* [nfeeds] */
    io_line_stats_t (*rl)[CFG_LINES]; /* [nfeeds]: RX side, summed over RX lcores */
    uint64_t (*depth)[CFG_LINES];     /* [nfeeds]: elements queued in the line's channels */
} snap_t;

static int take(const metrics_view_t *v, snap_t *s)
{
    unsigned n = v->cfg->nfeeds;
    s->fs = calloc(n, sizeof(*s->fs));
    s->rl = calloc(n, sizeof(*s->rl));
    s->depth = calloc(n, sizeof(*s->depth));
    if (!s->fs || !s->rl || !s->depth)
        return -1;
    for (unsigned f = 0; f < n; f++) {
        const pipe_feed_t *pf = &v->pipe->feeds[f];
        if (pf->feed)
            feed_stats(pf->feed, &s->fs[f]);
        for (unsigned l = 0; l < v->cfg->feeds[f].nlines; l++) {
            for (unsigned i = 0; i < pf->conf.n_in[l]; i++)
                s->depth[f][l] += chs_len(pf->conf.in[l][i]);
            for (unsigned id = 0; id < CFG_MAX_LCORES; id++) {
                if (v->rx[id] == NULL)
                    continue;
                io_line_stats_t ls;
                io_rx_line_stats(v->rx[id], (uint16_t)f, (uint8_t)l, &ls);
                s->rl[f][l].packets += ls.packets;
                s->rl[f][l].bytes += ls.bytes;
                s->rl[f][l].channel_full += ls.channel_full;
            }
        }
    }
    return 0;
}

static void drop(snap_t *s)
{
    free(s->fs);
    free(s->rl);
    free(s->depth);
}

static void feed_label(FILE *o, const metrics_view_t *v, unsigned f)
{
    fputs("feed=\"", o);
    put_label(o, v->cfg->feeds[f].name);
    fputc('"', o);
}

/* One per-line family: value(f, l) for every (feed, line). */
typedef uint64_t (*line_fn)(const snap_t *s, unsigned f, unsigned l);

static void line_family(FILE *o, const metrics_view_t *v, const snap_t *s, const char *name,
                        const char *type, const char *help, line_fn fn)
{
    family(o, name, type, help);
    for (unsigned f = 0; f < v->cfg->nfeeds; f++) {
        for (unsigned l = 0; l < v->cfg->feeds[f].nlines; l++) {
            fprintf(o, "%s{", name);
            feed_label(o, v, f);
            fprintf(o, ",line=\"%s\"} %" PRIu64 "\n", cfg_line_name(l), fn(s, f, l));
        }
    }
}

#define LINE_FN(id, expr)                                                                          \
    static uint64_t id(const snap_t *s, unsigned f, unsigned l)                                    \
    {                                                                                              \
        (void)s, (void)f, (void)l;                                                                 \
        return (expr);                                                                             \
    }
LINE_FN(l_rx_packets, s->rl[f][l].packets)
LINE_FN(l_rx_bytes, s->rl[f][l].bytes)
LINE_FN(l_full, s->rl[f][l].channel_full)
LINE_FN(l_packets, s->fs[f].line[l].packets)
LINE_FN(l_bytes, s->fs[f].line[l].bytes)
LINE_FN(l_wins, s->fs[f].line[l].wins)
LINE_FN(l_dups, s->fs[f].line[l].duplicates)
LINE_FN(l_rx_copies, s->fs[f].line[l].rx_copies)
LINE_FN(l_fills, s->fs[f].line[l].fills)
LINE_FN(l_late, s->fs[f].line[l].late)
LINE_FN(l_hb, s->fs[f].line[l].heartbeats)
LINE_FN(l_up, s->fs[f].line[l].state == FEED_UP)
LINE_FN(l_depth, s->depth[f][l])

typedef uint64_t (*feed_fn)(const feed_stats_t *s);

static void feed_family(FILE *o, const metrics_view_t *v, const snap_t *s, const char *name,
                        const char *type, const char *help, feed_fn fn)
{
    family(o, name, type, help);
    for (unsigned f = 0; f < v->cfg->nfeeds; f++) {
        fprintf(o, "%s{", name);
        feed_label(o, v, f);
        fprintf(o, "} %" PRIu64 "\n", fn(&s->fs[f]));
    }
}

#define FEED_FN(id, expr)                                                                          \
    static uint64_t id(const feed_stats_t *s)                                                      \
    {                                                                                              \
        return (expr);                                                                             \
    }
FEED_FN(f_msgs, s->messages)
FEED_FN(f_gaps, s->gaps)
FEED_FN(f_gap_msgs, s->gap_msgs)
FEED_FN(f_recovered, s->recovered)
FEED_FN(f_lost, s->final_lost)
FEED_FN(f_itch, s->itch_errors)
FEED_FN(f_up, s->feed_state == FEED_UP)

static void lines(FILE *o, const metrics_view_t *v, const snap_t *s)
{
    line_family(o, v, s, "mdmux_line_rx_packets_total", "counter",
                "Packets the RX classifier accepted for the line.", l_rx_packets);
    line_family(o, v, s, "mdmux_line_rx_bytes_total", "counter",
                "UDP payload bytes of the accepted packets.", l_rx_bytes);
    line_family(o, v, s, "mdmux_line_channel_full_drops_total", "counter",
                "Accepted packets dropped because the line's channel was full.", l_full);
    line_family(o, v, s, "mdmux_line_packets_total", "counter",
                "Packets taken from the line: read by its feed handler, or dropped on RX "
                "as copies.",
                l_packets);
    line_family(o, v, s, "mdmux_line_bytes_total", "counter",
                "UDP payload bytes of the packets taken from the line.", l_bytes);
    line_family(o, v, s, "mdmux_line_wins_total", "counter",
                "Data packets that delivered new in-order messages first.", l_wins);
    line_family(o, v, s, "mdmux_line_duplicates_total", "counter",
                "Data packets with nothing new (the other line won).", l_dups);
    line_family(o, v, s, "mdmux_line_rx_copies_total", "counter",
                "Duplicates the RX lcore dropped as copies (copies_on_rx): never read by "
                "the feed handler.",
                l_rx_copies);
    line_family(o, v, s, "mdmux_line_recovered_total", "counter",
                "Data packets that only filled gaps.", l_fills);
    line_family(o, v, s, "mdmux_line_late_total", "counter",
                "Data packets only for ranges already given up.", l_late);
    line_family(o, v, s, "mdmux_line_heartbeats_total", "counter",
                "Heartbeat and end-of-session packets.", l_hb);

    family(o, "mdmux_line_malformed_total", "counter",
           "Packets the MoldUDP64 parser rejected, by reason.");
    for (unsigned f = 0; f < v->cfg->nfeeds; f++)
        for (unsigned l = 0; l < v->cfg->feeds[f].nlines; l++)
            for (unsigned r = 1; r < MOLD_ERR_COUNT; r++) {
                fputs("mdmux_line_malformed_total{", o);
                feed_label(o, v, f);
                fprintf(o, ",line=\"%s\",reason=\"%s\"} %" PRIu64 "\n", cfg_line_name(l),
                        mold_err_name(r), s->fs[f].line[l].malformed_by[r]);
            }

    line_family(o, v, s, "mdmux_line_up", "gauge", "1 while the line is up, 0 when down.", l_up);
    line_family(o, v, s, "mdmux_channel_depth", "gauge",
                "Packets queued in the line's RX-to-handler channels.", l_depth);
}

static void feeds(FILE *o, const metrics_view_t *v, const snap_t *s)
{
    feed_family(o, v, s, "mdmux_feed_messages_total", "counter",
                "Message records the feed published (recovered included).", f_msgs);
    feed_family(o, v, s, "mdmux_feed_gaps_total", "counter", "Sequence gaps declared.", f_gaps);
    feed_family(o, v, s, "mdmux_feed_gap_messages_total", "counter",
                "Messages inside the declared gaps.", f_gap_msgs);
    feed_family(o, v, s, "mdmux_feed_recovered_total", "counter",
                "Messages delivered inside a gap range (recovered).", f_recovered);
    feed_family(o, v, s, "mdmux_feed_lost_total", "counter",
                "Messages given up for good (final gaps).", f_lost);
    feed_family(o, v, s, "mdmux_feed_itch_errors_total", "counter",
                "Messages the ITCH decoder rejected.", f_itch);
    feed_family(o, v, s, "mdmux_feed_up", "gauge", "1 while the feed is up, 0 when down.", f_up);
}

static void rx(FILE *o, const metrics_view_t *v)
{
    io_rx_stats_t st[CFG_MAX_LCORES];
    for (unsigned id = 0; id < CFG_MAX_LCORES; id++)
        if (v->rx[id])
            io_rx_stats(v->rx[id], &st[id]);
    static const struct {
        const char *name, *help;
        size_t off;
    } fam[] = {
        {"mdmux_rx_frames_total", "Frames received by the RX lcore.",
         offsetof(io_rx_stats_t, frames)},
        {"mdmux_rx_other_total", "Frames that are not IPv4/UDP (ARP, IPv6, ...).",
         offsetof(io_rx_stats_t, other)},
        {"mdmux_rx_unknown_flow_total", "Valid UDP frames to no configured feed.",
         offsetof(io_rx_stats_t, unknown)},
    };
    for (size_t k = 0; k < sizeof(fam) / sizeof(fam[0]); k++) {
        family(o, fam[k].name, "counter", fam[k].help);
        for (unsigned id = 0; id < CFG_MAX_LCORES; id++)
            if (v->rx[id])
                fprintf(o, "%s{lcore=\"%u\"} %" PRIu64 "\n", fam[k].name, id,
                        *(const uint64_t *)((const char *)&st[id] + fam[k].off));
    }
    /* An RX poller never parks, so its scheduler reads 100 % busy: this is the time
       of its polls that found packets (app/run.c rx_main). */
    family(o, "mdmux_rx_busy_seconds_total", "counter",
           "Time the RX poller spent in polls that found packets.");
    for (unsigned id = 0; id < CFG_MAX_LCORES; id++)
        if (v->rx[id])
            fprintf(o, "mdmux_rx_busy_seconds_total{lcore=\"%u\"} %.9f\n", id,
                    (double)co_tsc_to_ns(__atomic_load_n(v->rx_busy_tsc[id], __ATOMIC_RELAXED)) /
                        1e9);
    /* L2-L4 rejects cannot be tied to a line (the headers are what is broken): per
       RX lcore and reason. */
    family(o, "mdmux_rx_malformed_total", "counter",
           "Frames the L2-L4 classifier rejected, by reason.");
    for (unsigned id = 0; id < CFG_MAX_LCORES; id++)
        if (v->rx[id])
            for (unsigned r = 0; r < IO_BAD_COUNT; r++)
                fprintf(o, "mdmux_rx_malformed_total{lcore=\"%u\",reason=\"%s\"} %" PRIu64 "\n", id,
                        io_bad_name((io_bad_t)r), st[id].malformed[r]);
}

/* One counter family of the schedulers' usage, in seconds: busy or all run time. */
static void sched_seconds(FILE *o, const char *name, const char *help, const co_sched_usage_of_t *u,
                          size_t n, bool busy)
{
    family(o, name, "counter", help);
    for (size_t i = 0; i < n; i++) {
        fprintf(o, "%s{sched=\"", name);
        put_label(o, u[i].name);
        uint64_t t = busy ? u[i].usage.busy_tsc : u[i].usage.run_tsc;
        fprintf(o, "\"} %.9f\n", (double)co_tsc_to_ns(t) / 1e9);
    }
}

/* The latency recorder's hand-over from the mux (docs/latency.md, "Where the recorder
   runs"): relaxed counters, readable from any thread. */
static void recorder(FILE *o, const metrics_view_t *v)
{
    if (v->pipe->latency == NULL)
        return;
    lat_recorder_stats_t rs;
    lat_recorder_stats(v->pipe->latency, &rs);
    family(o, "mdmux_latency_recorder_lcore", "gauge",
           "The lcore the latency histograms are updated on; -1: by the mux, inline.");
    fprintf(o, "mdmux_latency_recorder_lcore %d\n", rs.lcore);
    family(o, "mdmux_latency_recorder_waits_total", "counter",
           "Times the mux waited for room in the latency recorder's channel.");
    fprintf(o, "mdmux_latency_recorder_waits_total %" PRIu64 "\n", rs.waits);
    family(o, "mdmux_latency_recorder_dropped_total", "counter",
           "Messages whose latency was never recorded (the recorder's lcore did not start).");
    fprintf(o, "mdmux_latency_recorder_dropped_total %" PRIu64 "\n", rs.dropped);
}

static void runtime(FILE *o, const metrics_view_t *v)
{
    co_kind_stats_t k[64];
    size_t n = co_registry_snapshot(k, 64);
    if (n > 64)
        n = 64;
    family(o, "mdmux_coroutines", "gauge", "Live coroutines, by kind.");
    for (size_t i = 0; i < n; i++) {
        fputs("mdmux_coroutines{kind=\"", o);
        put_label(o, k[i].kind ? k[i].kind : "");
        fprintf(o, "\"} %" PRIu64 "\n", k[i].live);
    }
    family(o, "mdmux_coroutines_created_total", "counter", "Coroutines created, by kind.");
    for (size_t i = 0; i < n; i++) {
        fputs("mdmux_coroutines_created_total{kind=\"", o);
        put_label(o, k[i].kind ? k[i].kind : "");
        fprintf(o, "\"} %" PRIu64 "\n", k[i].created);
    }
    /* each lcore's scheduler (named lcoreN): busy / total over an interval is its load */
    co_sched_usage_of_t u[CFG_MAX_LCORES];
    size_t nu = co_sched_usage_snapshot(u, CFG_MAX_LCORES);
    if (nu > CFG_MAX_LCORES)
        nu = CFG_MAX_LCORES;
    sched_seconds(o, "mdmux_sched_busy_seconds_total",
                  "Time each lcore's scheduler spent in passes that found work, and in that work.",
                  u, nu, true);
    sched_seconds(
        o, "mdmux_sched_seconds_total",
        "Time each lcore's scheduler has run, busy or idle (rate(busy) / rate(this): load).", u, nu,
        false);
    family(o, "mdmux_workers", "gauge", "Lcores by role.");
    fprintf(o, "mdmux_workers{role=\"rx\"} %u\n", v->nrx);
    fprintf(o, "mdmux_workers{role=\"handler\"} %u\n", v->nhandlers);
    fprintf(o, "mdmux_workers{role=\"control\"} 1\n");

    mux_stats_t ms = {0};
    if (v->pipe->mux)
        mux_stats(v->pipe->mux, &ms);
    family(o, "mdmux_mux_published_total", "counter", "Records the mux published.");
    fprintf(o, "mdmux_mux_published_total %" PRIu64 "\n", ms.published);
    family(o, "mdmux_mux_inputs_open", "gauge", "Mux inputs not yet closed and drained.");
    fprintf(o, "mdmux_mux_inputs_open %u\n", ms.inputs_open);
    recorder(o, v);
}

/* A duration in ns as Prometheus seconds (shortest exact-enough form). */
static void seconds(FILE *o, uint64_t ns)
{
    fprintf(o, "%.9g", (double)ns / 1e9);
}

/* Is ladder bound @p b (metrics_le_ns) one of the per-feed family's (1-5 steps)? */
static bool feed_bound(unsigned b)
{
    uint64_t v = metrics_le_ns[b];
    while (v >= 10 && v % 10 == 0)
        v /= 10;
    return v != 2;
}

/* One histogram's series: the buckets of @p x (as lat_feed_buckets()), +Inf, sum,
   count; @p labels (e.g. `feed="f",stage="s"`) before le. */
static void histogram(FILE *o, const char *name, const char *labels, const uint64_t *x, bool feed)
{
    for (unsigned b = 0; b < METRICS_LE_COUNT; b++) {
        if (feed && !feed_bound(b))
            continue;
        fprintf(o, "%s_bucket{%s,le=\"", name, labels);
        seconds(o, metrics_le_ns[b]);
        fprintf(o, "\"} %" PRIu64 "\n", x[b]);
    }
    fprintf(o, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", name, labels, x[METRICS_LE_COUNT]);
    fprintf(o, "%s_sum{%s} ", name, labels);
    seconds(o, x[METRICS_LE_COUNT + 1]); /* the exact sum of the values */
    fprintf(o, "\n%s_count{%s} %" PRIu64 "\n", name, labels, x[METRICS_LE_COUNT]);
}

#define LE_STRIDE (METRICS_LE_COUNT + 2)

static void latency(FILE *o, const metrics_view_t *v, const metrics_lat_t *lat)
{
    if (lat == NULL || lat->nst == 0 || lat->b == NULL)
        return; /* not measured in this run */
    char labels[512];
    const char *name = "mdmux_stage_latency_seconds";
    family(o, name, "histogram",
           "Latency of each pipeline stage over all feeds (TSC stamps; docs/latency.md).");
    for (unsigned st = 0; st < lat->nst; st++) {
        uint64_t sum[LE_STRIDE] = {0};
        for (unsigned f = 0; f < lat->nfeeds; f++)
            for (unsigned k = 0; k < LE_STRIDE; k++)
                sum[k] += lat->b[((size_t)f * LAT_NSTAGES + st) * LE_STRIDE + k];
        snprintf(labels, sizeof(labels), "stage=\"%s\"", lat_stage_name(st));
        histogram(o, name, labels, sum, false);
    }
    name = "mdmux_feed_stage_latency_seconds";
    family(o, name, "histogram",
           "Latency of each pipeline stage per feed; sums to mdmux_stage_latency_seconds.");
    for (unsigned f = 0; f < lat->nfeeds && f < v->cfg->nfeeds; f++) {
        /* feed names are at most CFG_NAME_MAX characters: escaped, they fit */
        char feed[2 * CFG_NAME_MAX + 2];
        size_t n = 0;
        for (const char *c = v->cfg->feeds[f].name; *c && n + 3 < sizeof(feed); c++) {
            if (*c == '\\' || *c == '"' || *c == '\n')
                feed[n++] = '\\';
            feed[n++] = *c == '\n' ? 'n' : *c;
        }
        feed[n] = '\0';
        for (unsigned st = 0; st < lat->nst; st++) {
            snprintf(labels, sizeof(labels), "feed=\"%s\",stage=\"%s\"", feed, lat_stage_name(st));
            histogram(o, name, labels, &lat->b[((size_t)f * LAT_NSTAGES + st) * LE_STRIDE], true);
        }
    }
}

void metrics_render(const metrics_view_t *v, const metrics_lat_t *lat, FILE *out)
{
    snap_t s = {0};
    family(out, "mdmux_up", "gauge", "1: the mdmux process serves metrics.");
    fputs("mdmux_up 1\n", out);
    if (take(v, &s) == 0) {
        lines(out, v, &s);
        feeds(out, v, &s);
    }
    drop(&s);
    rx(out, v);
    runtime(out, v);
    latency(out, v, lat);
}

/* ------------------------------------------------------------------------------ */
/* Requests the control lcore carries out                                         */
/* ------------------------------------------------------------------------------ */

/*
 * The latency recorder's totals belong to the control lcore (latency.h), so the HTTP
 * thread never reads them: it posts a request (a ticket per kind), waits on the
 * condition variable with a deadline, and copies the answer out under the mutex. The
 * control coroutine takes every pending kind at its next tick (metrics_control()),
 * brings the feeds' totals up to date once (lat_sync(), which may co_sleep, never
 * under the mutex), does the work, then publishes the answers and wakes the waiters.
 * A request that times out stays asked: the answer is made anyway and the next one of
 * its kind is served from a newer one.
 */
enum { OP_SCRAPE, OP_LATENCY, OP_REPORT, OP_COUNT };

/* How long the HTTP thread waits for the control lcore, ms. A scrape falls back to
   the previous snapshot; the others answer 503. */
static const unsigned op_timeout_ms[OP_COUNT] = {
    [OP_SCRAPE] = 1000,
    [OP_LATENCY] = 5000,
    [OP_REPORT] = 10000,
};

struct metrics {
    struct MHD_Daemon *d;
    const metrics_view_t *v;
    lat_t *lat; /* the recorder, or NULL when latency is not measured */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    /* under mu */
    uint64_t asked[OP_COUNT], done[OP_COUNT];
    bool closed;             /* the control coroutine has ended */
    metrics_lat_t snap;      /* last latency snapshot (b: [nfeeds][LAT_NSTAGES][..]) */
    char *body[OP_COUNT];    /* last answer of OP_LATENCY, OP_REPORT (malloc'd) */
    unsigned code[OP_COUNT]; /* its HTTP status */
    /* control lcore only */
    uint64_t *work; /* the snapshot being made */
    size_t snap_len;
};

/*
 * Ask the control lcore for @p op and wait for it, at most op_timeout_ms[op]. Returns
 * 0 (done), -ETIMEDOUT or -ESHUTDOWN (the control coroutine has ended), with m->mu
 * held either way: the caller copies what it needs and unlocks.
 */
static int ask(metrics_t *m, unsigned op)
{
    pthread_mutex_lock(&m->mu);
    if (m->closed)
        return -ESHUTDOWN;
    uint64_t ticket = ++m->asked[op];
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += op_timeout_ms[op] / 1000;
    dl.tv_nsec += (long)(op_timeout_ms[op] % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    while (m->done[op] < ticket && !m->closed)
        if (pthread_cond_timedwait(&m->cv, &m->mu, &dl) == ETIMEDOUT)
            break;
    return m->done[op] >= ticket ? 0 : m->closed ? -ESHUTDOWN : -ETIMEDOUT;
}

/* A JSON body (malloc'd): jansson's dump of @p j, which is released. */
static char *dump(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    return s;
}

static char *error_body(const char *msg)
{
    return dump(json_pack("{s:s}", "error", msg));
}

/* Now, UTC, ISO 8601 with ms ("2026-12-01T14:05:06.123Z"), and in ms since the epoch. */
static void wall_time(char *buf, size_t n, int64_t *unix_ms)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + k, n - k, ".%03ldZ", ts.tv_nsec / 1000000L);
    *unix_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000L;
}

/* POST /report, on the control lcore (after lat_sync): the files, and the answer. */
static char *do_report(metrics_t *m, unsigned *code)
{
    const char *dir = m->v->report_dir;
    char err[4200], when[40];
    int64_t unix_ms;
    uint64_t t0 = co_now_ns();
    if (lat_write_report(m->lat, dir, m->v->mode, err, sizeof(err)) < 0) {
        fprintf(stderr, "mdmux: POST /report: %s\n", err);
        *code = MHD_HTTP_INTERNAL_SERVER_ERROR;
        return error_body(err);
    }
    uint64_t took_us = (co_now_ns() - t0) / 1000u;
    wall_time(when, sizeof(when), &unix_ms);
    char abs[PATH_MAX], path[PATH_MAX + 64];
    const char *base = realpath(dir, abs) ? abs : dir;
    json_t *files = json_array();
    for (const char *const *f = lat_report_files; *f; f++) {
        snprintf(path, sizeof(path), "%s/%s", base, *f);
        json_array_append_new(files, json_string(path));
    }
    fprintf(stderr, "mdmux: POST /report: latency report (on demand) in %s/latency.json\n", dir);
    *code = MHD_HTTP_OK;
    return dump(json_pack("{s:s, s:o, s:s, s:I, s:I, s:I}", "dir", base, "files", files, "time",
                          when, "unix_ms", (json_int_t)unix_ms, "messages",
                          (json_int_t)lat_count(m->lat), "took_us", (json_int_t)took_us));
}

void metrics_control(metrics_t *m)
{
    if (m == NULL)
        return;
    uint64_t want[OP_COUNT];
    bool any = false;
    pthread_mutex_lock(&m->mu);
    for (unsigned op = 0; op < OP_COUNT; op++) {
        want[op] = m->asked[op];
        any = any || want[op] > m->done[op];
    }
    pthread_mutex_unlock(&m->mu);
    if (!any)
        return;
    /* the feeds' totals up to date, once for everything asked (may co_sleep) */
    if (m->lat)
        lat_sync(m->lat, false);
    char *body[OP_COUNT] = {0};
    unsigned code[OP_COUNT] = {0};
    bool fresh = want[OP_SCRAPE] > m->done[OP_SCRAPE] && m->lat && m->work;
    if (fresh)
        lat_feed_buckets(m->lat, metrics_le_ns, METRICS_LE_COUNT, m->work);
    if (want[OP_LATENCY] > m->done[OP_LATENCY]) {
        code[OP_LATENCY] = MHD_HTTP_OK;
        body[OP_LATENCY] = dump(lat_json(m->lat));
    }
    if (want[OP_REPORT] > m->done[OP_REPORT])
        body[OP_REPORT] = do_report(m, &code[OP_REPORT]);
    pthread_mutex_lock(&m->mu);
    if (fresh)
        memcpy(m->snap.b, m->work, m->snap_len * sizeof(*m->work));
    for (unsigned op = 0; op < OP_COUNT; op++) {
        if (want[op] <= m->done[op])
            continue;
        if (op != OP_SCRAPE) {
            free(m->body[op]);
            m->body[op] = body[op];
            m->code[op] = body[op] ? code[op] : MHD_HTTP_INTERNAL_SERVER_ERROR;
        }
        m->done[op] = want[op];
    }
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

void metrics_control_end(metrics_t *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->closed = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* ------------------------------------------------------------------------------ */
/* HTTP                                                                           */
/* ------------------------------------------------------------------------------ */

static struct MHD_Response *text(const char *msg)
{
    return MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_PERSISTENT);
}

/* A malloc'd body (NULL: out of memory) as a response that frees it. */
static struct MHD_Response *owned(char *body, const char *type)
{
    if (body == NULL)
        return NULL;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    return r;
}

static struct MHD_Response *json_error(const char *msg)
{
    return owned(error_body(msg), "application/json");
}

/* GET /metrics: the latency snapshot of this scrape (fresh, or the last one if the
   control lcore does not answer in time), then the text. */
static struct MHD_Response *get_metrics(metrics_t *m)
{
    metrics_lat_t lat = {0};
    if (m->lat) {
        (void)ask(m, OP_SCRAPE); /* returns with mu held */
        lat = m->snap;
        lat.b = malloc(m->snap_len * sizeof(*lat.b) + 1);
        if (lat.b)
            memcpy(lat.b, m->snap.b, m->snap_len * sizeof(*lat.b));
        pthread_mutex_unlock(&m->mu);
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) {
        free(lat.b);
        return NULL;
    }
    metrics_render(m->v, lat.b ? &lat : NULL, f);
    fclose(f);
    free(lat.b);
    return owned(buf, "text/plain; version=0.0.4; charset=utf-8");
}

/* GET /latency and POST /report: the control lcore's answer. */
static struct MHD_Response *from_control(metrics_t *m, unsigned op, unsigned *code)
{
    int rc = ask(m, op);
    char *body = rc == 0 && m->body[op] ? strdup(m->body[op]) : NULL;
    *code = m->code[op];
    pthread_mutex_unlock(&m->mu);
    if (rc == -ESHUTDOWN) {
        *code = MHD_HTTP_SERVICE_UNAVAILABLE;
        return json_error("the run is ending: the final report is written at exit");
    }
    if (rc == -ETIMEDOUT) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "the control lcore did not answer within %u ms (the request stays queued)",
                 op_timeout_ms[op]);
        *code = MHD_HTTP_SERVICE_UNAVAILABLE;
        return json_error(msg);
    }
    if (body == NULL)
        *code = MHD_HTTP_INTERNAL_SERVER_ERROR;
    return body ? owned(body, "application/json") : json_error("out of memory");
}

static struct MHD_Response *not_allowed(const char *allow, const char *msg, unsigned *code)
{
    struct MHD_Response *r = json_error(msg);
    if (r)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    *code = MHD_HTTP_METHOD_NOT_ALLOWED;
    return r;
}

static struct MHD_Response *route(metrics_t *m, const char *url, const char *method, unsigned *code)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    *code = MHD_HTTP_OK;
    if (strcmp(url, "/metrics") == 0 || strcmp(url, "/") == 0) {
        if (!get)
            return not_allowed("GET, HEAD", "use GET /metrics", code);
        return get_metrics(m);
    }
    if (strcmp(url, "/latency") == 0) {
        if (!get)
            return not_allowed("GET, HEAD", "use GET /latency", code);
        if (m->lat == NULL) {
            *code = MHD_HTTP_SERVICE_UNAVAILABLE;
            return json_error("latency is not measured in this run");
        }
        return from_control(m, OP_LATENCY, code);
    }
    if (strcmp(url, "/report") == 0) {
        /* an action that writes files: POST only, so that no crawler, prefetch or
           mistyped scrape target triggers it */
        if (!post)
            return not_allowed("POST",
                               "POST /report writes the report set to --report DIR; GET "
                               "/latency reads the current latency JSON",
                               code);
        if (m->v->report_dir == NULL) {
            *code = MHD_HTTP_CONFLICT;
            return json_error("mdmux runs without --report DIR: there is nowhere to write "
                              "the report (GET /latency returns the latency JSON)");
        }
        if (m->lat == NULL) {
            *code = MHD_HTTP_SERVICE_UNAVAILABLE;
            return json_error("latency is not measured in this run");
        }
        return from_control(m, OP_REPORT, code);
    }
    *code = MHD_HTTP_NOT_FOUND;
    return text("not found: GET /metrics, GET /latency, POST /report\n");
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **state)
{
    metrics_t *m = cls;
    (void)version, (void)upload;
    /* A request with a body (POST) comes in several calls: the first only announces
       it, the middle ones carry the body (ignored: nothing takes parameters), the last
       has none left. Answer on the last. */
    static int started;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        if (*state == NULL) {
            *state = &started;
            return MHD_YES;
        }
        if (*upload_len != 0) {
            *upload_len = 0;
            return MHD_YES;
        }
    }
    unsigned code;
    struct MHD_Response *r = route(m, url, method, &code);
    if (r == NULL)
        return MHD_NO;
    enum MHD_Result rc = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return rc;
}

metrics_t *metrics_start(const metrics_view_t *v, uint32_t addr_be, uint16_t port, char *err,
                         size_t errlen)
{
    metrics_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->v = v;
    m->lat = v->pipe->latency;
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (m->lat) {
        /* all zero until the first scrape the control lcore answers */
        m->snap.nfeeds = lat_nfeeds(m->lat);
        m->snap.nst = lat_nstages(m->lat);
        m->snap_len = (size_t)m->snap.nfeeds * LAT_NSTAGES * LE_STRIDE;
        m->snap.b = calloc(m->snap_len + 1, sizeof(*m->snap.b));
        m->work = calloc(m->snap_len + 1, sizeof(*m->work));
        if (m->snap.b == NULL || m->work == NULL) {
            snprintf(err, errlen, "out of memory");
            metrics_stop(m);
            return NULL;
        }
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = addr_be;
    /* One internal polling thread (not thread-per-connection): requests are rare and
       small, and one thread keeps the footprint off the lcores predictable. A scrape
       that arrives while a report is being written waits for it (bounded). */
    m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, port, NULL, NULL,
                            answer, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (m->d == NULL) {
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &addr_be, a, sizeof(a));
        snprintf(err, errlen, "cannot listen on %s:%u (address in use, or not local?)", a, port);
        metrics_stop(m);
        return NULL;
    }
    return m;
}

void metrics_stop(metrics_t *m)
{
    if (m == NULL)
        return;
    /* no waiter may outlive the daemon's thread: closed makes them return at once */
    metrics_control_end(m);
    if (m->d)
        MHD_stop_daemon(m->d);
    for (unsigned op = 0; op < OP_COUNT; op++)
        free(m->body[op]);
    free(m->snap.b);
    free(m->work);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
