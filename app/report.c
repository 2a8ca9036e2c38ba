/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * End-of-run report (report.h): tables for people, JSON (jansson) for tests and
 * tools.
 */
#include "report.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "html.h"

/* Merge one unknown flow into @p t's list (kept busiest first, IO_TOPK long). */
static void merge_flow(io_rx_stats_t *t, const io_flow_count_t *f)
{
    unsigned i;
    for (i = 0; i < t->n_top; i++) {
        if (t->top[i].dst_ip_be == f->dst_ip_be && t->top[i].dst_port_be == f->dst_port_be) {
            t->top[i].frames += f->frames;
            t->top[i].error += f->error;
            break;
        }
    }
    if (i == t->n_top) {
        if (t->n_top < IO_TOPK)
            t->top[t->n_top++] = *f;
        else if (t->top[IO_TOPK - 1].frames < f->frames)
            t->top[i = IO_TOPK - 1] = *f;
        else
            return;
    }
    /* bubble the entry up to its place */
    while (i > 0 && t->top[i - 1].frames < t->top[i].frames) {
        io_flow_count_t x = t->top[i - 1];
        t->top[i - 1] = t->top[i];
        t->top[i] = x;
        i--;
    }
}

void rep_add_rx(io_rx_stats_t *total, const io_rx_stats_t *s)
{
    total->frames += s->frames;
    total->bursts += s->bursts;
    total->accepted += s->accepted;
    total->other += s->other;
    total->unknown += s->unknown;
    total->malformed_total += s->malformed_total;
    for (unsigned i = 0; i < IO_BAD_COUNT; i++)
        total->malformed[i] += s->malformed[i];
    for (unsigned i = 0; i < s->n_top; i++)
        merge_flow(total, &s->top[i]);
}

static void print_rx(FILE *f, const rep_t *r)
{
    const io_rx_stats_t *x = &r->rx;
    double pps = r->elapsed_s > 0 ? (double)x->frames / r->elapsed_s : 0;
    fprintf(f,
            "rx: %lu frames in %.3f s (%.0f/s): %lu accepted, %lu other, %lu unknown flow, "
            "%lu malformed\n",
            (unsigned long)x->frames, r->elapsed_s, pps, (unsigned long)x->accepted,
            (unsigned long)x->other, (unsigned long)x->unknown, (unsigned long)x->malformed_total);
    for (unsigned i = 0; i < IO_BAD_COUNT; i++)
        if (x->malformed[i])
            fprintf(f, "  malformed %-12s %lu\n", io_bad_name((io_bad_t)i),
                    (unsigned long)x->malformed[i]);
    for (unsigned i = 0; i < x->n_top && i < 5; i++) {
        struct in_addr a = {.s_addr = x->top[i].dst_ip_be};
        fprintf(f, "  unknown flow %s:%u  %lu frames\n", inet_ntoa(a), ntohs(x->top[i].dst_port_be),
                (unsigned long)x->top[i].frames);
    }
    for (unsigned i = 0; i < r->nports; i++) {
        const rep_port_t *p = &r->ports[i];
        fprintf(f, "port %s: %lu received, %lu missed (RX too slow), %lu errors, %lu no mbuf\n",
                p->name, (unsigned long)p->ipackets, (unsigned long)p->imissed,
                (unsigned long)p->ierrors, (unsigned long)p->rx_nombuf);
    }
    if (r->pacing)
        fprintf(f, "pacing: %s, error p50 %lu ns, p99 %lu ns, max %lu ns, %lu early\n",
                r->pace_mode, (unsigned long)r->err_p50, (unsigned long)r->err_p99,
                (unsigned long)r->err_max, (unsigned long)r->early);
    if (r->undelivered)
        fprintf(f,
                "replay: %lu capture records not delivered by the port (no mbuf in time, "
                "or a length mismatch): lost before RX\n",
                (unsigned long)r->undelivered);
}

/* Sum of a feed's malformed packets (both lines) and ITCH decode errors. */
static uint64_t feed_bad(const feed_stats_t *s)
{
    uint64_t n = s->itch_errors;
    for (unsigned l = 0; l < FEED_LINES; l++)
        n += s->line[l].malformed;
    return n;
}

/* One row of the per-feed table; @p s may be a sum (name "total"). */
static void feed_row(FILE *f, const char *name, const feed_stats_t *s)
{
    const feed_line_stats_t *a = &s->line[FEED_LINE_A], *b = &s->line[FEED_LINE_B];
    fprintf(f, "%-21s %9lu %9lu %9lu %9lu %6lu %5lu %9lu %6lu %5lu %10lu\n", name,
            (unsigned long)a->packets, (unsigned long)b->packets, (unsigned long)a->wins,
            (unsigned long)b->wins, (unsigned long)(a->duplicates + b->duplicates),
            (unsigned long)s->gaps, (unsigned long)s->recovered, (unsigned long)s->final_lost,
            (unsigned long)feed_bad(s), (unsigned long)s->messages);
}

static void sum_feed(feed_stats_t *t, const feed_stats_t *s)
{
    for (unsigned l = 0; l < FEED_LINES; l++) {
        t->line[l].packets += s->line[l].packets;
        t->line[l].wins += s->line[l].wins;
        t->line[l].duplicates += s->line[l].duplicates;
        t->line[l].malformed += s->line[l].malformed;
    }
    t->gaps += s->gaps;
    t->recovered += s->recovered;
    t->final_lost += s->final_lost;
    t->itch_errors += s->itch_errors;
    t->messages += s->messages;
}

static void print_feeds(FILE *f, const rep_t *r)
{
    feed_stats_t total;
    memset(&total, 0, sizeof(total));
    fprintf(f, "%-21s %9s %9s %9s %9s %6s %5s %9s %6s %5s %10s\n", "feed", "packets A", "packets B",
            "wins A", "wins B", "dups", "gaps", "recovered", "lost", "bad", "messages");
    for (unsigned i = 0; i < r->cfg->nfeeds; i++) {
        feed_row(f, r->cfg->feeds[i].name, &r->fs[i]);
        sum_feed(&total, &r->fs[i]);
    }
    if (r->cfg->nfeeds > 1)
        feed_row(f, "total", &total);
    fprintf(f, "(wins: packets that delivered new messages first; lost: messages of gaps "
               "given up; bad: malformed packets + ITCH decode errors)\n");
}

static void print_outputs(FILE *f, const rep_t *r)
{
    fprintf(f, "merged: %lu records (%lu events) in %.3f s\n", (unsigned long)r->mux.published,
            (unsigned long)r->mux.events, r->elapsed_s);
    if (r->has_dump)
        fprintf(f, "  dump %s: %lu records, %lu waits, %lu errors\n", r->dump_path,
                (unsigned long)r->dump.items, (unsigned long)r->dump.waits,
                (unsigned long)r->dump.errors);
    if (r->has_tx)
        fprintf(f, "  multicast %s: %lu datagrams sent, %lu TX failures, %lu no mbuf\n", r->mcast,
                (unsigned long)r->tx.frames, (unsigned long)r->tx.tx_fail,
                (unsigned long)r->tx.alloc_fail);
    if (r->has_pcap)
        fprintf(f, "  pcap %s: %lu datagrams, %lu errors\n", r->pcap_path,
                (unsigned long)r->pcap.items, (unsigned long)r->pcap.errors);
    if (r->shm_path)
        fprintf(f, "  shm ring %s\n", r->shm_path);
    if (r->retx) {
        uint64_t req = 0, failed = 0;
        for (unsigned i = 0; i < r->cfg->nfeeds; i++) {
            req += r->fs[i].requests;
            failed += r->fs[i].req_failed;
        }
        fprintf(f,
                "re-requests: %lu sent (%lu failed); %lu frames back: %lu to feeds, %lu "
                "other, %lu dropped (RETX channel full)\n",
                (unsigned long)req, (unsigned long)failed, (unsigned long)r->retx->frames,
                (unsigned long)r->retx->accepted, (unsigned long)r->retx->other,
                (unsigned long)r->retx->channel_full);
    }
}

static void print_latency(FILE *f, const rep_t *r)
{
    if (r->lat == NULL)
        fprintf(f, "latency: not measured\n");
    else
        lat_print(f, r->lat, r->lat_feeds);
}

/* The RX -> handler accounting per line; with many feeds only the lines that dropped. */
static void print_lines(FILE *f, const rep_t *r)
{
    bool brief = r->cfg->nfeeds > 8;
    uint64_t full = 0, packets = 0;
    for (unsigned i = 0; i < r->cfg->nfeeds; i++)
        for (unsigned l = 0; l < r->cfg->feeds[i].nlines; l++) {
            full += r->lines[i][l].channel_full;
            packets += r->lines[i][l].packets;
        }
    if (brief && full == 0) {
        fprintf(f,
                "lines: %lu packets classified, all taken by the feed handlers (none dropped "
                "at RX)\n",
                (unsigned long)packets);
        return;
    }
    fprintf(f, "%-21s %-4s %12s %14s %12s %12s\n", "feed", "line", "packets", "bytes", "handled",
            "channel_full");
    for (unsigned i = 0; i < r->cfg->nfeeds; i++) {
        for (unsigned l = 0; l < r->cfg->feeds[i].nlines; l++) {
            const rep_line_t *x = &r->lines[i][l];
            if (brief && x->channel_full == 0)
                continue;
            fprintf(f, "%-21s %-4s %12lu %14lu %12lu %12lu\n", r->cfg->feeds[i].name,
                    cfg_line_name(l), (unsigned long)x->packets, (unsigned long)x->bytes,
                    (unsigned long)x->handled, (unsigned long)x->channel_full);
        }
    }
    if (brief)
        fprintf(f, "(lines not listed dropped nothing; %lu packets dropped at RX in all)\n",
                (unsigned long)full);
}

void rep_print(FILE *f, const rep_t *r)
{
    print_rx(f, r);
    print_lines(f, r);
    fputc('\n', f);
    print_feeds(f, r);
    fputc('\n', f);
    print_outputs(f, r);
    print_latency(f, r);
}

unsigned rep_check(FILE *f, const rep_t *r)
{
    unsigned bad = 0;
    for (unsigned i = 0; i < r->cfg->nfeeds; i++) {
        for (unsigned l = 0; l < r->cfg->feeds[i].nlines; l++) {
            const rep_line_t *x = &r->lines[i][l];
            if (x->packets == x->handled + x->channel_full)
                continue;
            fprintf(f,
                    "mdmux: accounting: %s line %s: %lu classified != %lu handled + %lu "
                    "channel_full\n",
                    r->cfg->feeds[i].name, cfg_line_name(l), (unsigned long)x->packets,
                    (unsigned long)x->handled, (unsigned long)x->channel_full);
            bad++;
        }
    }
    return bad;
}

static json_t *rx_json(const io_rx_stats_t *x)
{
    json_t *mal = json_object(), *top = json_array();
    for (unsigned i = 0; i < IO_BAD_COUNT; i++)
        json_object_set_new(mal, io_bad_name((io_bad_t)i),
                            json_integer((json_int_t)x->malformed[i]));
    for (unsigned i = 0; i < x->n_top; i++) {
        struct in_addr a = {.s_addr = x->top[i].dst_ip_be};
        json_array_append_new(top, json_pack("{s:s, s:i, s:I}", "group", inet_ntoa(a), "port",
                                             (int)ntohs(x->top[i].dst_port_be), "frames",
                                             (json_int_t)x->top[i].frames));
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:o, s:I, s:o}", "frames", (json_int_t)x->frames,
                     "accepted", (json_int_t)x->accepted, "other", (json_int_t)x->other,
                     "unknown_flow", (json_int_t)x->unknown, "unknown_top", top, "malformed_total",
                     (json_int_t)x->malformed_total, "malformed", mal);
}

static json_t *feeds_json(const rep_t *r)
{
    json_t *feeds = json_array();
    for (unsigned i = 0; i < r->cfg->nfeeds; i++) {
        json_t *lines = json_object();
        const feed_stats_t *s = &r->fs[i];
        for (unsigned l = 0; l < r->cfg->feeds[i].nlines; l++) {
            const rep_line_t *x = &r->lines[i][l];
            const feed_line_stats_t *fl = &s->line[l];
            json_object_set_new(
                lines, cfg_line_name(l),
                json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "packets",
                          (json_int_t)x->packets, "bytes", (json_int_t)x->bytes, "channel_full",
                          (json_int_t)x->channel_full, "handled", (json_int_t)x->handled, "wins",
                          (json_int_t)fl->wins, "fills", (json_int_t)fl->fills, "duplicates",
                          (json_int_t)fl->duplicates, "late", (json_int_t)fl->late, "heartbeats",
                          (json_int_t)fl->heartbeats, "malformed", (json_int_t)fl->malformed,
                          "state", (json_int_t)fl->state));
        }
        if (r->retx && r->cfg->feeds[i].rereq) {
            const feed_line_stats_t *fl = &s->line[FEED_LINE_RETX];
            json_object_set_new(
                lines, "RETX",
                json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "packets", (json_int_t)fl->packets,
                          "wins", (json_int_t)fl->wins, "fills", (json_int_t)fl->fills,
                          "duplicates", (json_int_t)fl->duplicates, "stale", (json_int_t)fl->stale,
                          "malformed", (json_int_t)fl->malformed));
        }
        json_t *fj = json_pack("{s:s, s:i, s:o}", "name", r->cfg->feeds[i].name, "id", (int)i,
                               "lines", lines);
        json_object_update_new(
            fj, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                          "gaps_window", (json_int_t)s->gaps_window, "holes_evicted",
                          (json_int_t)s->holes_evicted, "messages", (json_int_t)s->messages,
                          "events", (json_int_t)s->events, "gaps", (json_int_t)s->gaps,
                          "gap_messages", (json_int_t)s->gap_msgs, "recovered",
                          (json_int_t)s->recovered, "final_lost", (json_int_t)s->final_lost,
                          "itch_errors", (json_int_t)s->itch_errors, "session_changes",
                          (json_int_t)s->session_changes, "restarts", (json_int_t)s->restarts,
                          "retx_packets", (json_int_t)s->line[FEED_LINE_RETX].packets, "pool_waits",
                          (json_int_t)s->pool_waits, "skew_p99_ns", (json_int_t)s->skew_p99_ns));
        json_object_update_new(
            fj, json_pack("{s:I, s:I, s:I, s:I}", "requests", (json_int_t)s->requests,
                          "req_retries", (json_int_t)s->req_retries, "req_failed",
                          (json_int_t)s->req_failed, "req_limited", (json_int_t)s->req_limited));
        json_array_append_new(feeds, fj);
    }
    return feeds;
}

static json_t *ports_json(const rep_t *r)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < r->nports; i++) {
        const rep_port_t *p = &r->ports[i];
        json_array_append_new(
            a, json_pack("{s:s, s:I, s:I, s:I, s:I}", "name", p->name, "ipackets",
                         (json_int_t)p->ipackets, "imissed", (json_int_t)p->imissed, "ierrors",
                         (json_int_t)p->ierrors, "rx_nombuf", (json_int_t)p->rx_nombuf));
    }
    return a;
}

static json_t *outputs_json(const rep_t *r)
{
    json_t *o = json_pack("{s:I, s:I, s:I}", "published", (json_int_t)r->mux.published, "events",
                          (json_int_t)r->mux.events, "datagrams", (json_int_t)r->mux.frames);
    if (r->has_dump)
        json_object_set_new(o, "dump",
                            json_pack("{s:s, s:I, s:I, s:I}", "path", r->dump_path, "records",
                                      (json_int_t)r->dump.items, "waits", (json_int_t)r->dump.waits,
                                      "errors", (json_int_t)r->dump.errors));
    if (r->has_pcap)
        json_object_set_new(o, "pcap",
                            json_pack("{s:s, s:I, s:I}", "path", r->pcap_path, "datagrams",
                                      (json_int_t)r->pcap.items, "errors",
                                      (json_int_t)r->pcap.errors));
    if (r->has_tx)
        json_object_set_new(o, "multicast",
                            json_pack("{s:s, s:I, s:I, s:I}", "group", r->mcast, "sent",
                                      (json_int_t)r->tx.frames, "tx_fail",
                                      (json_int_t)r->tx.tx_fail, "alloc_fail",
                                      (json_int_t)r->tx.alloc_fail));
    if (r->shm_path)
        json_object_set_new(o, "shm", json_pack("{s:s}", "path", r->shm_path));
    if (r->retx)
        json_object_set_new(o, "rereq",
                            json_pack("{s:I, s:I, s:I, s:I}", "frames", (json_int_t)r->retx->frames,
                                      "accepted", (json_int_t)r->retx->accepted, "other",
                                      (json_int_t)r->retx->other, "channel_full",
                                      (json_int_t)r->retx->channel_full));
    return o;
}

/* Where a clock step first happened: {"packet", "offset"} or null. */
static json_t *step_json(uint64_t pkt, uint64_t off)
{
    if (pkt == UINT64_MAX)
        return json_null();
    return json_pack("{s:I, s:I}", "packet", (json_int_t)pkt, "offset",
                     off == UINT64_MAX ? (json_int_t)-1 : (json_int_t)off);
}

int rep_write_json(const char *path, const rep_t *r)
{
    json_t *pacing = json_pack(
        "{s:s, s:{s:I, s:I, s:I}, s:I, s:I}", "mode", r->pacing ? r->pace_mode : "none", "error_ns",
        "p50", (json_int_t)r->err_p50, "p99", (json_int_t)r->err_p99, "max", (json_int_t)r->err_max,
        "early", (json_int_t)r->early, "undelivered", (json_int_t)r->undelivered);
    bool steps = r->pacing && (r->ts_back || r->ts_fwd);
    json_object_set_new(
        pacing, "clock_steps",
        json_pack("{s:I, s:I, s:o, s:I, s:I, s:o}", "backward", (json_int_t)r->ts_back,
                  "backward_ns", (json_int_t)r->ts_back_ns, "first_backward",
                  step_json(steps ? r->ts_back_pkt : UINT64_MAX, r->ts_back_off), "forward",
                  (json_int_t)r->ts_fwd, "clamped_ns", (json_int_t)r->ts_clamped_ns,
                  "first_forward", step_json(steps ? r->ts_fwd_pkt : UINT64_MAX, r->ts_fwd_off)));
    json_t *root = json_pack(
        "{s:s, s:s?, s:s?, s:b, s:f, s:o, s:o, s:o, s:o}", "mode", r->mode, "capture", r->capture,
        "capture_error", r->capture_error, "interrupted", r->interrupted, "elapsed_s", r->elapsed_s,
        "ports", ports_json(r), "rx", rx_json(&r->rx), "pacing", pacing, "feeds", feeds_json(r));
    json_object_set_new(root, "outputs", outputs_json(r));
    if (r->lat)
        json_object_set_new(root, "latency", lat_json(r->lat));
    int rc = -1;
    if (root == NULL)
        fprintf(stderr, "mdmux: --stats-json %s: cannot build the JSON report\n", path);
    else if (json_dump_file(root, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0)
        fprintf(stderr, "mdmux: --stats-json %s: cannot write it\n", path);
    else
        rc = 0;
    json_decref(root);
    return rc;
}

/* DIR/report.html from DIR/stats.json (tools/report, html.h). */
static int rep_write_html(const char *dir)
{
    char path[4096];
    json_error_t e;
    snprintf(path, sizeof(path), "%s/stats.json", dir);
    json_t *stats = json_load_file(path, 0, &e);
    if (stats == NULL) {
        fprintf(stderr, "mdmux: --report: %s: %s\n", path, e.text);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/report.html", dir);
    int rc = report_html_write_file(stats, path);
    json_decref(stats);
    return rc;
}

int rep_write_dir(const char *dir, const rep_t *r)
{
    char path[4096];
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "mdmux: --report %s: cannot create it: %s\n", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/stats.json", dir);
    if (rep_write_json(path, r) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/summary.txt", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "mdmux: --report: %s: %s\n", path, strerror(errno));
        return -1;
    }
    rep_print(f, r);
    if (fclose(f) != 0) {
        fprintf(stderr, "mdmux: --report: %s: write error\n", path);
        return -1;
    }
    if (r->lat && lat_write_dir(r->lat, dir) < 0)
        return -1;
    return rep_write_html(dir);
}
