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
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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
                "Packets the feed handler took off the line's channels.", l_packets);
    line_family(o, v, s, "mdmux_line_bytes_total", "counter",
                "UDP payload bytes of the packets the feed handler took.", l_bytes);
    line_family(o, v, s, "mdmux_line_wins_total", "counter",
                "Data packets that delivered new in-order messages first.", l_wins);
    line_family(o, v, s, "mdmux_line_duplicates_total", "counter",
                "Data packets with nothing new (the other line won).", l_dups);
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
}

/* A duration in ns as Prometheus seconds (shortest exact-enough form). */
static void seconds(FILE *o, uint64_t ns)
{
    fprintf(o, "%.9g", (double)ns / 1e9);
}

static void latency(FILE *o, const metrics_view_t *v)
{
    const char *name = "mdmux_stage_latency_seconds";
    family(o, name, "histogram",
           "Latency of each pipeline stage (TSC stamps; docs/latency.md), overall.");
    for (unsigned st = 0; st < LAT_NSTAGES; st++) {
        stats_hist_t *h = metrics_stage_snapshot(v->pipe, st);
        if (h == NULL)
            continue; /* not recorded in this run (intended_to_publish outside replay) */
        uint64_t count = stats_hist_count(h), sum = h->total; /* exact sum of the values */
        for (unsigned b = 0; b < METRICS_LE_COUNT; b++) {
            fprintf(o, "%s_bucket{stage=\"%s\",le=\"", name, lat_stage_name(st));
            seconds(o, metrics_le_ns[b]);
            fprintf(o, "\"} %" PRIu64 "\n", stats_hist_count_le(h, metrics_le_ns[b]));
        }
        fprintf(o, "%s_bucket{stage=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", name, lat_stage_name(st),
                count);
        fprintf(o, "%s_sum{stage=\"%s\"} ", name, lat_stage_name(st));
        seconds(o, sum);
        fprintf(o, "\n%s_count{stage=\"%s\"} %" PRIu64 "\n", name, lat_stage_name(st), count);
        stats_hist_free(h);
    }
}

void metrics_render(const metrics_view_t *v, FILE *out)
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
    latency(out, v);
}

/* ------------------------------------------------------------------------------ */
/* HTTP                                                                           */
/* ------------------------------------------------------------------------------ */

struct metrics {
    struct MHD_Daemon *d;
    const metrics_view_t *v;
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **state)
{
    metrics_t *m = cls;
    (void)version, (void)upload, (void)upload_len, (void)state;
    struct MHD_Response *r;
    unsigned code = MHD_HTTP_OK;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char msg[] = "only GET\n";
        r = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        code = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else if (strcmp(url, "/metrics") != 0 && strcmp(url, "/") != 0) {
        static const char msg[] = "not found: try /metrics\n";
        r = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        code = MHD_HTTP_NOT_FOUND;
    } else {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (f == NULL)
            return MHD_NO;
        metrics_render(m->v, f);
        fclose(f);
        /* MHD frees buf with free() once sent */
        r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
        if (r)
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                    "text/plain; version=0.0.4; charset=utf-8");
        else
            free(buf);
    }
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
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = addr_be;
    /* One internal polling thread (not thread-per-connection): scrapes are rare and
       small, and one thread keeps the footprint off the lcores predictable. */
    m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, port, NULL, NULL,
                            answer, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (m->d == NULL) {
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &addr_be, a, sizeof(a));
        snprintf(err, errlen, "cannot listen on %s:%u (address in use, or not local?)", a, port);
        free(m);
        return NULL;
    }
    return m;
}

void metrics_stop(metrics_t *m)
{
    if (m == NULL)
        return;
    MHD_stop_daemon(m->d);
    free(m);
}
