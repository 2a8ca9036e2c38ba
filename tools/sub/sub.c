/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mdmux-sub: tail mdmux's shared-memory ring.
 *
 *   mdmux-sub [PATH] [--json|--text|--count] [--from-oldest] [--max N]
 *             [--idle-exit MS] [--slow-ns N] [--wait-ms MS] [--check]
 *
 * PATH defaults to /dev/shm/mdmux. --json prints each record as md_rec_json() (one
 * object a line, the dump's format), --text as one short line, --count (default)
 * prints nothing per record. At exit (ring closed, SIGINT/SIGTERM, --max records, or
 * --idle-exit ms without a record) it prints to stderr: records, lost (exact, from
 * laps), laps, breaches, from (records published before it started reading: so
 * from + records + lost is every record it could have read) and the publish_to_consume
 * latency (now - tsc_publish, TSC at the
 * publisher's calibration, in a lib/stats histogram) p50/p99/max in ns. --slow-ns spins that long per record
 * (a deliberately slow subscriber). --wait-ms waits that long for the ring to appear.
 * --check verifies the stream: every record's seq is the previous one's + 1, plus
 * exactly the records counted lost in between (breaches are reported).
 * Exit status: 0; 1 on a usage or ring error; 2 when --check found a breach.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "co.h"
#include "mdmux_sub.h"
#include "stats.h"

enum mode { MODE_COUNT, MODE_JSON, MODE_TEXT };

struct opts {
    const char *path;
    enum mode mode;
    int from;
    uint64_t max;
    uint64_t idle_exit_ms;
    uint64_t slow_ns;
    uint64_t wait_ms;
    bool check;
};

/* publish_to_consume: 1 ns .. 60 s at 3 significant digits (lib/stats, as mdmux's
   stages), recorded in ns with the publisher's TSC calibration. */
#define LAT_HIGHEST 60000000000ull

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void usage(FILE *f)
{
    fputs("usage: mdmux-sub [PATH] [--json|--text|--count] [--from-oldest] [--max N]\n"
          "                 [--idle-exit MS] [--slow-ns N] [--wait-ms MS] [--check]\n",
          f);
}

static uint64_t num(const char *s, const char *opt)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || *end || end == s) {
        fprintf(stderr, "mdmux-sub: %s: bad number '%s'\n", opt, s);
        exit(1);
    }
    return v;
}

static void parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"json", no_argument, 0, 'j'},
        {"text", no_argument, 0, 't'},
        {"count", no_argument, 0, 'c'},
        {"from-oldest", no_argument, 0, 'o'},
        {"max", required_argument, 0, 'm'},
        {"idle-exit", required_argument, 0, 'i'},
        {"slow-ns", required_argument, 0, 's'},
        {"wait-ms", required_argument, 0, 'w'},
        {"check", no_argument, 0, 'k'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    *o = (struct opts){.path = MDMUX_SHM_PATH_DEFAULT, .from = MDMUX_SUB_FROM_NOW};
    int c;
    while ((c = getopt_long(argc, argv, "jtcokm:i:s:w:h", lo, NULL)) != -1) {
        switch (c) {
        case 'j':
            o->mode = MODE_JSON;
            break;
        case 't':
            o->mode = MODE_TEXT;
            break;
        case 'c':
            o->mode = MODE_COUNT;
            break;
        case 'o':
            o->from = MDMUX_SUB_FROM_OLDEST;
            break;
        case 'm':
            o->max = num(optarg, "--max");
            break;
        case 'i':
            o->idle_exit_ms = num(optarg, "--idle-exit");
            break;
        case 's':
            o->slow_ns = num(optarg, "--slow-ns");
            break;
        case 'w':
            o->wait_ms = num(optarg, "--wait-ms");
            break;
        case 'k':
            o->check = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(1);
        }
    }
    if (optind < argc)
        o->path = argv[optind++];
    if (optind < argc) {
        usage(stderr);
        exit(1);
    }
}

/* One line: seq, feed (name or id), then the message's key fields or the event. */
static void print_text(const mdmux_sub_t *s, const md_rec_t *r)
{
    char id[8];
    const char *feed = mdmux_sub_feed_name(s, r->feed);
    if (!feed) {
        snprintf(id, sizeof(id), "%u", r->feed);
        feed = id;
    }
    if (r->kind == MD_KIND_EVENT) {
        printf("%" PRIu64 " %s event %s from %" PRIu64 " to %" PRIu64 "\n", r->seq, feed,
               md_event_name(r->type), r->ev.from, r->ev.to);
        return;
    }
    printf("%" PRIu64 " %s %" PRIu64 " %s %c locate %u ts %" PRIu64 " shares %u price %" PRId64
           "\n",
           r->seq, feed, r->feed_seq, md_line_name(r->line), r->type, r->locate, r->ts, r->shares,
           r->price);
}

static void print_rec(const struct opts *o, const mdmux_sub_t *s, const md_rec_t *r)
{
    char buf[MD_JSON_MAX];
    if (o->mode == MODE_TEXT) {
        print_text(s, r);
    } else if (o->mode == MODE_JSON) {
        if (md_rec_json(r, mdmux_sub_feed_name(s, r->feed), buf, sizeof(buf)) >= 0)
            puts(buf);
        else
            printf("{\"seq\":%" PRIu64 ",\"invalid\":true}\n", r->seq);
    }
}

static void spin_ns(uint64_t ns, uint64_t hz)
{
    uint64_t end = co_tsc() + ns * hz / 1000000000ull;
    while (co_tsc() < end)
        __builtin_ia32_pause();
}

static int open_ring(const struct opts *o, mdmux_sub_t *s)
{
    char err[512];
    struct timespec t = {0, 10 * 1000 * 1000};
    for (uint64_t waited = 0;; waited += 10) {
        if (mdmux_sub_open(s, o->path, o->from, err, sizeof(err)) == 0)
            return 0;
        if (waited >= o->wait_ms || stop)
            break;
        nanosleep(&t, NULL);
    }
    fprintf(stderr, "mdmux-sub: %s\n", err);
    return -1;
}

static void report(const mdmux_sub_t *s, const stats_hist_t *h, uint64_t breaches, uint64_t from)
{
    fprintf(stderr,
            "mdmux-sub: records %" PRIu64 " lost %" PRIu64 " laps %" PRIu64 " breaches %" PRIu64
            " from %" PRIu64 " latency_ns p50 %" PRIu64 " p99 %" PRIu64 " max %" PRIu64 "\n",
            s->got, mdmux_sub_lost(s), s->laps, breaches, from, stats_hist_quantile(h, 0.50),
            stats_hist_quantile(h, 0.99), stats_hist_max(h));
}

/* --check: the seq follows the last one, after exactly the records counted lost. */
static uint64_t check_rec(const mdmux_sub_t *s, const md_rec_t *r, uint64_t *expect,
                          uint64_t *lost_before)
{
    uint64_t skipped = mdmux_sub_lost(s) - *lost_before;
    uint64_t bad = r->seq != *expect + skipped;
    if (bad)
        fprintf(stderr, "mdmux-sub: breach: seq %" PRIu64 ", expected %" PRIu64 "\n", r->seq,
                *expect + skipped);
    *lost_before = mdmux_sub_lost(s);
    *expect = r->seq + 1;
    return bad;
}

static int run(const struct opts *o, mdmux_sub_t *s, stats_hist_t *h)
{
    uint64_t hz = mdmux_sub_tsc_hz(s) ? mdmux_sub_tsc_hz(s) : co_tsc_hz();
    /* TSC -> ns: one multiply by a 32.32 factor per record, computed once */
    uint64_t mult = (uint64_t)(((unsigned __int128)1000000000u << 32) / (hz ? hz : 1));
    uint64_t idle_ticks = o->idle_exit_ms * (hz / 1000), last = co_tsc();
    uint64_t from = s->cursor, expect = s->cursor + 1, lost_before = 0, breaches = 0;
    md_rec_t r;
    while (!stop) {
        int rc = mdmux_sub_next(s, &r);
        uint64_t now = co_tsc();
        if (rc < 0)
            break; /* publisher closed the ring */
        if (rc == 0) {
            if (o->idle_exit_ms && now - last > idle_ticks)
                break;
            __builtin_ia32_pause();
            continue;
        }
        last = now;
        uint64_t d = now > r.tsc_publish ? now - r.tsc_publish : 0;
        stats_hist_record(h, (uint64_t)(((unsigned __int128)d * mult) >> 32));
        if (o->check)
            breaches += check_rec(s, &r, &expect, &lost_before);
        print_rec(o, s, &r);
        if (o->max && s->got >= o->max)
            break;
        if (o->slow_ns)
            spin_ns(o->slow_ns, hz);
    }
    fflush(stdout);
    report(s, h, breaches, from);
    return breaches ? 2 : 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    parse(argc, argv, &o);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    mdmux_sub_t s;
    if (open_ring(&o, &s) < 0)
        return 1;
    stats_hist_t *h = stats_hist_create(1, LAT_HIGHEST, STATS_HIST_SIGFIGS_DEFAULT);
    if (h == NULL) {
        fprintf(stderr, "mdmux-sub: cannot allocate the latency histogram\n");
        mdmux_sub_close(&s);
        return 1;
    }
    int rc = run(&o, &s, h);
    mdmux_sub_close(&s);
    stats_hist_free(h);
    return rc;
}
