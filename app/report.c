/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * End-of-run report (report.h): tables for people, JSON (jansson) for tests and
 * tools.
 */
#include "report.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
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
    total->held += s->held;
    total->filtered += s->filtered;
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
    if (x->held)
        fprintf(f, "  lossless: %lu times a full channel held RX back (nothing dropped for it)\n",
                (unsigned long)x->held);
    if (x->filtered)
        fprintf(f,
                "  copies on RX: %lu A/B copies dropped by the RX lcores, counted as their "
                "lines' duplicates (feed_defaults.copies_on_rx)\n",
                (unsigned long)x->filtered);
    else if (!r->copies_on_rx && r->cfg->copies_on_rx && !r->cfg->copies_on_rx_set)
        fputs("  copies on RX: off, as several RX lcores poll the lines (set "
              "feed_defaults.copies_on_rx: true where both lines of each feed reach one)\n",
              f);
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

/* The RX -> handler accounting per line; with many feeds only the lines that dropped
   (or that a cancelled drain left packets in). */
static void print_lines(FILE *f, const rep_t *r)
{
    bool brief = r->cfg->nfeeds > 8;
    uint64_t full = 0, packets = 0, queued = 0;
    for (unsigned i = 0; i < r->cfg->nfeeds; i++)
        for (unsigned l = 0; l < r->cfg->feeds[i].nlines; l++) {
            full += r->lines[i][l].channel_full;
            packets += r->lines[i][l].packets;
            queued += r->lines[i][l].queued;
        }
    if (brief && full == 0 && queued == 0) {
        fprintf(f,
                "lines: %lu packets classified, all taken by the feed handlers (none dropped "
                "at RX)\n",
                (unsigned long)packets);
        return;
    }
    fprintf(f, "%-21s %-4s %12s %14s %12s %12s %10s\n", "feed", "line", "packets", "bytes",
            "handled", "channel_full", "unfinished");
    for (unsigned i = 0; i < r->cfg->nfeeds; i++) {
        for (unsigned l = 0; l < r->cfg->feeds[i].nlines; l++) {
            const rep_line_t *x = &r->lines[i][l];
            if (brief && x->channel_full == 0 && x->queued == 0)
                continue;
            fprintf(f, "%-21s %-4s %12lu %14lu %12lu %12lu %10lu\n", r->cfg->feeds[i].name,
                    cfg_line_name(l), (unsigned long)x->packets, (unsigned long)x->bytes,
                    (unsigned long)x->handled, (unsigned long)x->channel_full,
                    (unsigned long)x->queued);
        }
    }
    if (brief)
        fprintf(f,
                "(lines not listed dropped nothing; %lu packets dropped at RX in all, %lu left "
                "unfinished)\n",
                (unsigned long)full, (unsigned long)queued);
}

/* ------------------------------------------------------------------------------ */
/* Accounting                                                                     */
/* ------------------------------------------------------------------------------ */

/* One feed's packets into @p a; false (reason in a->why) when its balance is off. */
static bool account_feed(rep_acct_t *a, const rep_t *r, unsigned f)
{
    const feed_stats_t *s = &r->fs[f];
    const pipe_feed_t *pf = r->pipe ? &r->pipe->feeds[f] : NULL;
    uint64_t taken = 0, outcomes = 0, discarded = 0;
    for (unsigned l = 0; l < FEED_LINES; l++) {
        const feed_line_stats_t *x = &s->line[l];
        a->wins += x->wins;
        a->fills += x->fills;
        a->duplicate_packets += x->duplicates;
        a->late += x->late;
        a->stale += x->stale;
        a->feed_malformed += x->malformed;
        a->heartbeats += x->heartbeats;
        discarded += x->discarded;
        taken += x->packets;
        outcomes += x->wins + x->fills + x->duplicates + x->late + x->stale + x->malformed +
                    x->heartbeats + x->discarded;
        if (pf) {
            a->after_giveup += pf->after_giveup[l];
            a->queued += pf->queued[l];
        }
    }
    /* discards before the cancellation were restarts'; after it, the cancelled drain's */
    uint64_t before = discarded;
    if (pf && r->pipe->cancelled)
        before = pf->discarded_at_cancel < discarded ? pf->discarded_at_cancel : discarded;
    a->restart_discarded += before;
    a->held += discarded - before;
    /* lib/feed does not count the packet a handler held when it panicked (it leaks it
       rather than risk a double free): at most one a panic */
    unsigned panics = pf ? pf->sv.panics : 0;
    bool gave_up = pf && pf->sv.state == CO_SV_GAVE_UP;
    if (taken < outcomes || (!gave_up && taken - outcomes > panics)) {
        if (a->why[0] == '\0')
            snprintf(a->why, sizeof(a->why),
                     "feed %s: %" PRIu64 " packets taken, %" PRIu64 " accounted for, %u panics",
                     r->cfg->feeds[f].name, taken, outcomes, panics);
        return false;
    }
    a->panicked += taken - outcomes;
    return true;
}

void rep_account(rep_t *r)
{
    rep_acct_t *a = &r->acct;
    bool ok = true;
    memset(a, 0, sizeof(*a));
    a->rx_frames = r->rx.frames;
    a->rx_unknown = r->rx.unknown;
    a->rx_other = r->rx.other;
    a->rx_malformed = r->rx.malformed_total;
    if (r->retx) {
        a->retx_frames = r->retx->frames;
        a->retx_other = r->retx->other;
        a->retx_channel_full = r->retx->channel_full;
    }
    for (unsigned f = 0; f < r->cfg->nfeeds; f++) {
        for (unsigned l = 0; l < r->cfg->feeds[f].nlines; l++)
            a->channel_full += r->lines[f][l].channel_full;
        ok &= account_feed(a, r, f);
        a->rec_sent += r->fs[f].messages + r->fs[f].events;
        a->rec_not_sent += r->fs[f].out_dropped;
        if (r->pipe)
            a->rec_queued += r->pipe->feeds[f].out_queued;
    }
    a->received = a->rx_frames + a->retx_frames;
    a->published = a->wins + a->fills;
    a->duplicates = a->duplicate_packets + a->late + a->stale;
    a->malformed = a->rx_malformed + a->feed_malformed;
    a->dropped = a->channel_full + a->retx_channel_full;
    a->unfinished = a->queued + a->held;
    a->unknown = a->rx_unknown + a->rx_other + a->retx_other;
    a->control = a->heartbeats;
    a->discarded = a->restart_discarded + a->panicked + a->after_giveup;
    uint64_t sum = a->published + a->duplicates + a->malformed + a->dropped + a->unfinished +
                   a->unknown + a->control + a->discarded;
    if (ok && sum != a->received)
        snprintf(a->why, sizeof(a->why), "received %" PRIu64 " != %" PRIu64 " (the sum)",
                 a->received, sum);
    a->holds = ok && sum == a->received;

    a->rec_published = r->mux.published;
    uint64_t out = 0;
    if (r->has_dump) {
        a->dump_written = r->dump.items;
        out = r->dump.items + r->dump.errors + r->dump.drops;
        a->dump_unfinished = a->rec_published > out ? a->rec_published - out : 0;
    }
    a->rec_unfinished = a->rec_queued + a->rec_not_sent + a->dump_unfinished;
    a->records_hold = a->rec_sent == a->rec_published + a->rec_queued &&
                      (!r->has_dump || out <= a->rec_published) &&
                      (r->timed_out || a->rec_unfinished == 0);
}

static void print_shutdown(FILE *f, const rep_t *r)
{
    const rep_acct_t *a = &r->acct;
    if (r->stop) {
        if (r->timed_out)
            fprintf(f, "shutdown: %s; the drain was cancelled after %.3f s (timeout %u ms)\n",
                    r->stop, r->drain_s, r->drain_timeout_ms);
        else
            fprintf(f, "shutdown: %s; drained in %.3f s (timeout %u ms)\n", r->stop, r->drain_s,
                    r->drain_timeout_ms);
    }
    fprintf(f,
            "accounting: received %" PRIu64 " = published %" PRIu64 " + duplicates %" PRIu64
            " + malformed %" PRIu64 " + dropped %" PRIu64 " + unfinished %" PRIu64
            " + unknown %" PRIu64 " + control %" PRIu64 " + discarded %" PRIu64 " (packets): %s\n",
            a->received, a->published, a->duplicates, a->malformed, a->dropped, a->unfinished,
            a->unknown, a->control, a->discarded, a->holds ? "holds" : "FAILED");
    fprintf(f,
            "  records: %" PRIu64 " sent by the feeds = %" PRIu64 " published + %" PRIu64
            " left for the mux; %" PRIu64 " not sent (cancelled)",
            a->rec_sent, a->rec_published, a->rec_queued, a->rec_not_sent);
    if (r->has_dump)
        fprintf(f, "; dump %" PRIu64 " written, %" PRIu64 " unfinished", a->dump_written,
                a->dump_unfinished);
    fprintf(f, ": %s\n", a->records_hold ? "holds" : "FAILED");
    if (r->leaked == 0)
        fprintf(f, "coroutines: none leaked\n");
    else
        fprintf(f, "coroutines: %zu leaked: %s\n", r->leaked, r->leaks ? r->leaks : "");
}

/* Busy share of each lcore's scheduler: passes that found work, and the work. */
static double busy_pct(const co_sched_usage_t *u)
{
    return u->run_tsc ? 100.0 * (double)u->busy_tsc / (double)u->run_tsc : 0.0;
}

/* An RX poller's share of time in polls that found packets. */
static double rx_busy_pct(const rep_lcore_t *x)
{
    return x->rx_run_tsc ? 100.0 * (double)x->rx_busy_tsc / (double)x->rx_run_tsc : 0.0;
}

static void print_lcores(FILE *f, const rep_t *r)
{
    for (unsigned i = 0; i < r->nlcores; i++) {
        const rep_lcore_t *x = &r->lcores[i];
        fprintf(f, "%s lcore %u (%s) busy %.1f %% of %.3f s, %" PRIu64 " passes (%" PRIu64 " idle)",
                i == 0 ? "lcores:" : "       ", x->lcore, x->roles, busy_pct(&x->usage),
                (double)co_tsc_to_ns(x->usage.run_tsc) / 1e9, x->usage.passes,
                x->usage.idle_passes);
        if (strstr(x->roles, "rx"))
            fputs(": an RX poller never parks, so its lcore is never idle", f);
        if (x->rx_run_tsc > 0)
            fprintf(f, "; its polls that found packets took %.1f %% of its %.3f s", rx_busy_pct(x),
                    (double)co_tsc_to_ns(x->rx_run_tsc) / 1e9);
        fputc('\n', f);
    }
}

void rep_print(FILE *f, const rep_t *r)
{
    print_rx(f, r);
    print_lines(f, r);
    print_lcores(f, r);
    fputc('\n', f);
    print_feeds(f, r);
    fputc('\n', f);
    print_outputs(f, r);
    print_latency(f, r);
    print_shutdown(f, r);
}

unsigned rep_check(FILE *f, const rep_t *r)
{
    unsigned bad = 0;
    const rep_acct_t *a = &r->acct;
    for (unsigned i = 0; i < r->cfg->nfeeds; i++) {
        for (unsigned l = 0; l < r->cfg->feeds[i].nlines; l++) {
            const rep_line_t *x = &r->lines[i][l];
            if (x->packets == x->handled + x->channel_full + x->queued)
                continue;
            fprintf(f,
                    "mdmux: accounting: %s line %s: %lu classified != %lu handled + %lu "
                    "channel_full + %lu unfinished\n",
                    r->cfg->feeds[i].name, cfg_line_name(l), (unsigned long)x->packets,
                    (unsigned long)x->handled, (unsigned long)x->channel_full,
                    (unsigned long)x->queued);
            bad++;
        }
    }
    if (!a->holds) {
        fprintf(f, "mdmux: accounting identity FAILED: %s\n", a->why);
        bad++;
    }
    if (!a->records_hold) {
        fprintf(f,
                "mdmux: accounting identity FAILED: records: %" PRIu64 " sent != %" PRIu64
                " published + %" PRIu64 " left for the mux, or %" PRIu64
                " unfinished after a complete drain\n",
                a->rec_sent, a->rec_published, a->rec_queued, a->rec_unfinished);
        bad++;
    }
    if (r->leaked) {
        fprintf(f, "mdmux: %zu coroutines leaked: %s\n", r->leaked, r->leaks ? r->leaks : "");
        bad++;
    }
    return bad;
}

static json_t *rx_json(const io_rx_stats_t *x, bool copies_on_rx)
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
    return json_pack("{s:I, s:I, s:I, s:I, s:o, s:I, s:o, s:I, s:b, s:I}", "frames",
                     (json_int_t)x->frames, "accepted", (json_int_t)x->accepted, "other",
                     (json_int_t)x->other, "unknown_flow", (json_int_t)x->unknown, "unknown_top",
                     top, "malformed_total", (json_int_t)x->malformed_total, "malformed", mal,
                     "held", (json_int_t)x->held, "copies_on_rx", copies_on_rx, "filtered",
                     (json_int_t)x->filtered);
}

/* Per lcore: its roles and its scheduler's usage. */
static json_t *lcores_json(const rep_t *r)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < r->nlcores; i++) {
        const rep_lcore_t *x = &r->lcores[i];
        const co_sched_usage_t *u = &x->usage;
        json_t *o = json_pack("{s:i, s:s, s:f, s:f, s:f, s:I, s:I}", "lcore", (int)x->lcore,
                              "roles", x->roles, "busy_pct", busy_pct(u), "busy_s",
                              (double)co_tsc_to_ns(u->busy_tsc) / 1e9, "run_s",
                              (double)co_tsc_to_ns(u->run_tsc) / 1e9, "passes",
                              (json_int_t)u->passes, "idle_passes", (json_int_t)u->idle_passes);
        if (x->rx_run_tsc > 0) /* an RX poller's own figure (its scheduler reads 100 %) */
            json_object_set_new(o, "rx",
                                json_pack("{s:f, s:f, s:f}", "busy_pct", rx_busy_pct(x), "busy_s",
                                          (double)co_tsc_to_ns(x->rx_busy_tsc) / 1e9, "run_s",
                                          (double)co_tsc_to_ns(x->rx_run_tsc) / 1e9));
        json_array_append_new(a, o);
    }
    return a;
}

/* Per RX lcore: its totals and the lines it classified (only those with packets). */
static json_t *rx_lcores_json(const rep_t *r)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < r->nrxl; i++) {
        const rep_rx_lcore_t *x = &r->rxl[i];
        json_t *lines = json_object();
        for (unsigned f = 0; x->packets && f < r->cfg->nfeeds; f++) {
            json_t *fl = NULL;
            for (unsigned l = 0; l < r->cfg->feeds[f].nlines; l++) {
                if (x->packets[f][l] == 0)
                    continue;
                if (fl == NULL)
                    fl = json_object();
                json_object_set_new(fl, cfg_line_name(l),
                                    json_integer((json_int_t)x->packets[f][l]));
            }
            if (fl)
                json_object_set_new(lines, r->cfg->feeds[f].name, fl);
        }
        json_array_append_new(
            a, json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:o}", "lcore", (int)x->lcore, "frames",
                         (json_int_t)x->st.frames, "accepted", (json_int_t)x->st.accepted, "other",
                         (json_int_t)x->st.other, "unknown_flow", (json_int_t)x->st.unknown,
                         "malformed_total", (json_int_t)x->st.malformed_total, "lines", lines));
    }
    return a;
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
                json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                          "s:I}",
                          "packets", (json_int_t)x->packets, "bytes", (json_int_t)x->bytes,
                          "channel_full", (json_int_t)x->channel_full, "handled",
                          (json_int_t)x->handled, "unfinished", (json_int_t)x->queued, "wins",
                          (json_int_t)fl->wins, "fills", (json_int_t)fl->fills, "duplicates",
                          (json_int_t)fl->duplicates, "copies_on_rx", (json_int_t)fl->rx_copies,
                          "late", (json_int_t)fl->late, "heartbeats", (json_int_t)fl->heartbeats,
                          "malformed", (json_int_t)fl->malformed, "stale", (json_int_t)fl->stale,
                          "discarded", (json_int_t)fl->discarded, "state", (json_int_t)fl->state));
        }
        if (r->retx && r->cfg->feeds[i].rereq) {
            const feed_line_stats_t *fl = &s->line[FEED_LINE_RETX];
            json_object_set_new(
                lines, "RETX",
                json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "packets",
                          (json_int_t)fl->packets, "wins", (json_int_t)fl->wins, "fills",
                          (json_int_t)fl->fills, "duplicates", (json_int_t)fl->duplicates, "late",
                          (json_int_t)fl->late, "stale", (json_int_t)fl->stale, "heartbeats",
                          (json_int_t)fl->heartbeats, "discarded", (json_int_t)fl->discarded,
                          "malformed", (json_int_t)fl->malformed, "unfinished",
                          (json_int_t)(r->pipe ? r->pipe->feeds[i].queued[FEED_LINE_RETX] : 0)));
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

/* Members in order from parallel arrays of names and values. */
static json_t *int_object(const char *const *names, const uint64_t *vals, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, names[i], json_integer((json_int_t)vals[i]));
    return o;
}

static json_t *accounting_json(const rep_t *r)
{
    const rep_acct_t *a = &r->acct;
    static const char *const tn[] = {"received",  "published", "duplicates",
                                     "malformed", "dropped",   "unfinished",
                                     "unknown",   "control",   "discarded"};
    const uint64_t tv[] = {a->received,   a->published, a->duplicates, a->malformed, a->dropped,
                           a->unfinished, a->unknown,   a->control,    a->discarded};
    static const char *const fn[] = {"rx_frames",
                                     "retx_frames",
                                     "wins",
                                     "fills",
                                     "duplicate_packets",
                                     "late",
                                     "stale",
                                     "rx_malformed",
                                     "feed_malformed",
                                     "channel_full",
                                     "retx_channel_full",
                                     "rx_unknown",
                                     "rx_other",
                                     "retx_other",
                                     "heartbeats",
                                     "restart_discarded",
                                     "panicked",
                                     "after_giveup",
                                     "queued",
                                     "held"};
    const uint64_t fv[] = {a->rx_frames,
                           a->retx_frames,
                           a->wins,
                           a->fills,
                           a->duplicate_packets,
                           a->late,
                           a->stale,
                           a->rx_malformed,
                           a->feed_malformed,
                           a->channel_full,
                           a->retx_channel_full,
                           a->rx_unknown,
                           a->rx_other,
                           a->retx_other,
                           a->heartbeats,
                           a->restart_discarded,
                           a->panicked,
                           a->after_giveup,
                           a->queued,
                           a->held};
    static const char *const rn[] = {"sent",         "published",       "queued",    "not_sent",
                                     "dump_written", "dump_unfinished", "unfinished"};
    const uint64_t rv[] = {a->rec_sent,     a->rec_published,   a->rec_queued,    a->rec_not_sent,
                           a->dump_written, a->dump_unfinished, a->rec_unfinished};
    json_t *o = int_object(tn, tv, sizeof(tn) / sizeof(tn[0]));
    json_object_set_new(o, "unit", json_string("packets"));
    json_object_set_new(o, "holds", json_boolean(a->holds));
    json_object_set_new(o, "terms", int_object(fn, fv, sizeof(fn) / sizeof(fn[0])));
    json_t *rec = int_object(rn, rv, sizeof(rn) / sizeof(rn[0]));
    json_object_set_new(rec, "holds", json_boolean(a->records_hold));
    json_object_set_new(o, "records", rec);
    return o;
}

static json_t *shutdown_json(const rep_t *r)
{
    return json_pack("{s:s?, s:I, s:f, s:b, s:I, s:s}", "reason", r->stop, "drain_timeout_ms",
                     (json_int_t)r->drain_timeout_ms, "drain_s", r->drain_s, "timed_out",
                     r->timed_out, "coroutines_leaked", (json_int_t)r->leaked, "leaks",
                     r->leaks ? r->leaks : "");
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
        json_pack("{s:I, s:I, s:o, s:I, s:I, s:o, s:o}", "backward", (json_int_t)r->ts_back,
                  "backward_ns", (json_int_t)r->ts_back_ns, "first_backward",
                  step_json(steps ? r->ts_back_pkt : UINT64_MAX, r->ts_back_off), "forward",
                  (json_int_t)r->ts_fwd, "clamped_ns", (json_int_t)r->ts_clamped_ns,
                  "first_forward", step_json(steps ? r->ts_fwd_pkt : UINT64_MAX, r->ts_fwd_off),
                  "max_gap_ns",
                  r->ts_fwd_limit_ns && r->ts_fwd_limit_ns != UINT64_MAX
                      ? json_integer((json_int_t)r->ts_fwd_limit_ns)
                      : json_null()));
    json_t *root = json_pack(
        "{s:s, s:s?, s:s?, s:b, s:f, s:f, s:o, s:o, s:o, s:o}", "mode", r->mode, "capture",
        r->capture, "capture_error", r->capture_error, "interrupted", r->interrupted, "elapsed_s",
        r->elapsed_s, "start_ms", r->start_ms, "ports", ports_json(r), "rx",
        rx_json(&r->rx, r->copies_on_rx), "pacing", pacing, "feeds", feeds_json(r));
    json_object_set_new(root, "rx_lcores", rx_lcores_json(r));
    json_object_set_new(root, "lcores", lcores_json(r));
    json_object_set_new(root, "outputs", outputs_json(r));
    json_object_set_new(root, "accounting", accounting_json(r));
    json_object_set_new(root, "shutdown", shutdown_json(r));
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
