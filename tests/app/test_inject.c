/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault injection (issue 7), end to end: captures with a fault made by mdmux-gen (or
 * cut by the test) go through the real `mdmux replay`, and every run ends with exact
 * accounting against the generator's truth (inject_check):
 *
 *   - rx frames, other, unknown flows, malformed by reason, per feed and line packets
 *     and bytes equal the truth, and handled + channel_full = packets on every line;
 *   - every sent message is published exactly once, with its fields, in feed order,
 *     unless it was lost: then it is inside a declared gap, and the gaps are exactly
 *     the truth's lost_both (where both lines lost it) when no channel dropped;
 *   - outputs.published is the dump's record count; line health events are counted.
 *
 * The faults: one line dead (from the start, and mid-session), both lines flapping, a
 * saturated channel, a stalled shm subscriber, capture clocks stepping back and an
 * hour forward, captures cut at several offsets (the file header included),
 * zero-length datagrams, 9000-byte jumbo frames and a 10x microburst.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "apptest.h"
#include "truth.h"

/* One feed beyond what tr_feed_t holds: the expected messages and the line events. */
typedef struct ifeed {
    uint8_t *expect;         /* [last + 1], or NULL: every message outside lost_both */
    unsigned down[2], up[2]; /* line_down / line_up events per line */
    bool eos;                /* an end_of_session event was published */
    unsigned after_eos;      /* line events after it (not counted in down / up) */
    uint64_t tail;           /* saturated: messages after `known`, never seen at all */
} ifeed_t;

typedef struct inj {
    tr_t tr;                 /* the truth and the dump, feed by feed */
    ifeed_t f[TR_MAX_FEEDS]; /* tr.f[i]'s line events and expectations */
    uint64_t channel_full;
} inj_t;

/* How a run is judged. */
typedef struct check_opts {
    bool lossless;          /* no channel_full drops allowed: the gaps are exactly lost_both */
    bool prefix;            /* a cut capture: lines counted by the test (expect bitmaps set) */
    bool saturated;         /* channel drops expected: losses only inside declared gaps */
    const char *truth_name; /* the generator's files are DIR/TRUTH.* (default NAME) */
} check_opts_t;

/* The line health events of the dump (tr_read_dump's callback). */
static void on_event(void *arg, unsigned feed, const char *ev, json_t *r)
{
    ifeed_t *x = &((inj_t *)arg)->f[feed];
    const char *l = json_string_value(json_object_get(r, "line"));
    int w = l && strcmp(l, "B") == 0;
    /* after the end of session the lines fall silent for good: a slow drain (ASan)
       outlasts the timeout; those events say nothing about the faults */
    bool down = strcmp(ev, "line_down") == 0, up = strcmp(ev, "line_up") == 0;
    if ((down || up) && x->eos)
        x->after_eos++;
    else
        x->down[w] += down, x->up[w] += up;
    x->eos |= strcmp(ev, "end_of_session") == 0;
}

/* One feed's messages and gaps against what it should have published. */
static void check_feed(const tr_feed_t *x, ifeed_t *y, const check_opts_t *o)
{
    uint64_t missing = 0, extra = 0, uncovered = 0;
    for (uint64_t s = 1; s <= x->last; s++) {
        bool want =
            y->expect ? y->expect[s] != 0 : !tr_in_ranges((uint64_t(*)[2])x->lost, x->nlost, s);
        if (o->saturated) {
            /* what RX dropped on both lines is inside a declared gap, except a tail
               after the last packet the handler got when the end of session was
               dropped too: no receiver can know those messages exist */
            if (!x->seen[s] && !tr_in_ranges((uint64_t(*)[2])x->gaps, x->ngaps, s)) {
                if (s > x->known && !y->eos)
                    y->tail++;
                else
                    uncovered++;
            }
            extra += !want && x->seen[s];
            continue;
        }
        missing += want && !x->seen[s];
        extra += !want && x->seen[s];
    }
    if (missing || extra || uncovered)
        fail_msg("%s: %lu messages never published, %lu published that should not be, %lu lost "
                 "outside every gap",
                 x->name, (unsigned long)missing, (unsigned long)extra, (unsigned long)uncovered);
    if (o->saturated || o->prefix)
        return;
    tr_check_gaps(x);
}

static void inj_free(inj_t *e)
{
    for (unsigned i = 0; i < e->tr.n; i++)
        free(e->f[i].expect);
    tr_free(&e->tr);
    free(e);
}

static void paths(const char *dir, const char *name, char *pcap, char *dump, char *stats,
                  char *truth, char *msgs)
{
    snprintf(pcap, 512, "%s/%s.pcap", dir, name);
    snprintf(dump, 512, "%s/%s.jsonl", dir, name);
    snprintf(stats, 512, "%s/%s.stats.json", dir, name);
    snprintf(truth, 512, "%s/%s.truth.json", dir, name);
    snprintf(msgs, 512, "%s/%s.messages.jsonl", dir, name);
}

static uint64_t sum_lines(json_t *st, const char *key)
{
    uint64_t n = 0;
    json_t *f;
    size_t i;
    json_array_foreach(json_object_get(st, "feeds"), i, f)
    {
        for (const char *l = "A"; l; l = (*l == 'A') ? "B" : NULL)
            n += (uint64_t)at_jint(json_object_get(json_object_get(f, "lines"), l), key);
    }
    return n;
}

/*
 * The accounting of one run of DIR/NAME (its dump, stats and the generator's truth and
 * messages). @p e may hold expect bitmaps already (o->prefix); it is filled and
 * returned (inj_free it). This is the one place a run's accounting is checked, the accounting
 * identity of --stats-json included (at_check_accounting).
 */
static inj_t *inject_check(const char *dir, const char *name, const check_opts_t *o, inj_t *e)
{
    char pcap[512], dump[512], stats[512], truth[512], msgs[512], x[512];
    paths(dir, name, pcap, dump, stats, truth, msgs);
    if (o->truth_name)
        paths(dir, o->truth_name, x, x, x, truth, msgs);
    if (!o->prefix)
        at_check_truth(stats, truth, o->lossless);
    if (e == NULL) {
        e = calloc(1, sizeof(*e));
        tr_load_truth(&e->tr, truth);
    }
    tr_load_sent(&e->tr, msgs);
    tr_read_dump(&e->tr, dump, on_event, e);
    for (unsigned i = 0; i < e->tr.n; i++)
        check_feed(&e->tr.f[i], &e->f[i], o);
    json_t *st = at_json(stats);
    assert_int_equal(at_jint(st, "outputs.published"), e->tr.published);
    /* the run drained completely: nothing left unfinished */
    assert_int_equal(at_check_accounting(st), 0);
    e->channel_full = sum_lines(st, "channel_full");
    /* what RX accepted, the handlers took or RX dropped on full channels */
    assert_int_equal(sum_lines(st, "packets"), sum_lines(st, "handled") + e->channel_full);
    if (o->lossless)
        assert_int_equal(e->channel_full, 0);
    json_decref(st);
    return e;
}

/* ---- running ---------------------------------------------------------------------- */

/*
 * The arbiter of the tests: one lcore (RX never outruns the handlers), gap waits and
 * windows wide enough that a descheduled test box never turns a late copy into a gap
 * (as tests/app/test_e2e.c), and @p line_timeout_ms for the health events.
 */
static void inject_gen(const char *dir, const char *name, const char *const *gen, const char *speed,
                       unsigned line_timeout_ms, const char *extra)
{
    char yaml[512], add[1024];
    at_gen(dir, name, gen);
    snprintf(yaml, sizeof(yaml), "%s/%s.yaml", dir, name);
    if (strcmp(speed, "max") != 0) {
        char sp[64];
        snprintf(sp, sizeof(sp), "  speed: %s\n", speed);
        at_edit(yaml, "  speed: max\n", sp);
    }
    /* These tests check what the impairments do, not capacity: channels that hold
       ~0.8 s of a line at 5000 pps (1024 slots) overflowed once under ASan on a loaded
       2-core VM (test_flapping_lines: 31 channel_full drops on feed01 A, when the
       single lcore was held up), so they get four times that. */
    at_edit(yaml, "slots: 1024", "slots: 4096");
    snprintf(add, sizeof(add),
             "eal:\n  lcores: \"0\"\nfeed_defaults: {gap_wait_us: 50000, window: 256, "
             "line_timeout_ms: %u}\n%s",
             line_timeout_ms, extra ? extra : "");
    at_edit(yaml, NULL, add);
}

/* `mdmux replay DIR/NAME.pcap --dump --stats-json [extra]`; returns the status. */
static int inject_replay(const char *dir, const char *name, const char *const *extra,
                         at_result_t *r)
{
    static char pcap[512], dump[512], stats[512], truth[512], msgs[512];
    char *argv[40];
    int n = 0;
    paths(dir, name, pcap, dump, stats, truth, msgs);
    argv[n++] = (char *)MDMUX_BIN;
    argv[n++] = (char *)"replay";
    argv[n++] = pcap;
    argv[n++] = (char *)"--dump";
    argv[n++] = dump;
    argv[n++] = (char *)"--stats-json";
    argv[n++] = stats;
    argv[n++] = (char *)"--no-progress";
    for (int i = 0; extra && extra[i] && n < 34; i++)
        argv[n++] = (char *)extra[i];
    argv[n++] = (char *)"--";
    argv[n++] = (char *)at_file_prefix();
    argv[n] = NULL;
    return at_run(argv, AT_TIMEOUT_S, r);
}

static void inject_ok(const char *dir, const char *name, const char *const *extra)
{
    at_result_t r;
    if (inject_replay(dir, name, extra, &r) != 0)
        fail_msg("mdmux replay %s: status %d\n%s\n%s", name, r.status, r.out, r.err);
    at_result_free(&r);
}

static json_t *truth_line(json_t *t, unsigned feed, int w)
{
    json_t *f = json_array_get(json_object_get(t, "feeds"), feed);
    return json_object_get(json_object_get(f, "lines"), w ? "B" : "A");
}

/*
 * Line health: for every silence of the truth, a line_down when the line stayed
 * silent longer than the timeout, and a line_up when it came back. The tests choose
 * silences far from the timeout (at least 2x either way); a silence still open at the
 * end of the capture (a dead line) is a line_down.
 *
 * Timers run on RX time, and at --speed 1 on a loaded 2-core box the whole process
 * (RX, handlers and mux share lcore 0) can be descheduled for longer than the timeout
 * (pacing errors of 120 ms seen beside five other builds): every input then looks
 * empty, the arrival clock moves on, and a live line goes down and comes up again at
 * once. Such extra down/up pairs are accepted only when the replay itself was late by
 * half the timeout or more (pacing.error_ns.max; the line's own quiet time before the
 * stall adds to it), and they always come in pairs.
 */
static void check_health(inj_t *e, const char *truth_path, const char *stats_path,
                         uint64_t timeout_ns)
{
    json_t *t = at_json(truth_path), *st = at_json(stats_path);
    uint64_t late = (uint64_t)at_jint(st, "pacing.error_ns.max");
    json_decref(st);
    for (unsigned i = 0; i < e->tr.n; i++)
        for (int w = 0; w < 2; w++) {
            unsigned down = 0, up = 0;
            json_t *s;
            size_t k;
            json_array_foreach(json_object_get(truth_line(t, i, w), "silences"), k, s)
            {
                json_t *to = json_object_get(s, "to_ns");
                uint64_t from = (uint64_t)at_jint(s, "from_ns");
                if (json_is_null(to)) {
                    down++; /* the line never sends again: the tests' captures last long */
                    continue;
                }
                if (from == 0)
                    from = (uint64_t)at_jint(s, "first_ns");
                uint64_t len = (uint64_t)json_integer_value(to) - from;
                if (len > timeout_ns / 2 && len < 2 * timeout_ns)
                    fail_msg("test design: a %lu ns silence is too close to the %lu ns timeout",
                             (unsigned long)len, (unsigned long)timeout_ns);
                if (len >= 2 * timeout_ns) {
                    down++;
                    up++;
                }
            }
            ifeed_t *x = &e->f[i];
            unsigned extra = x->down[w] > down ? x->down[w] - down : 0;
            bool ok =
                x->down[w] >= down && x->up[w] == up + extra && (extra == 0 || late > timeout_ns);
            if (!ok)
                fail_msg("%s line %c: %u line_down / %u line_up events, the truth's silences "
                         "make %u / %u (replay at most %lu ns late)",
                         e->tr.f[i].name, w ? 'B' : 'A', x->down[w], x->up[w], down, up,
                         (unsigned long)late);
            if (extra)
                print_message("%s line %c: %u extra down/up pairs: the replay stalled %lu ns\n",
                              e->tr.f[i].name, w ? 'B' : 'A', extra, (unsigned long)late);
        }
    json_decref(t);
}

/* ---- one line dead, both flapping ----------------------------------------------- */

/* Line timeout of the health tests (check_health); the silences are 60 ms and more. */
#define LINE_TIMEOUT_MS 25u

static void dead_line(const char *dir, const char *name, const char *const *gen)
{
    char pcap[512], dump[512], stats[512], truth[512], msgs[512];
    paths(dir, name, pcap, dump, stats, truth, msgs);
    inject_gen(dir, name, gen, "1", LINE_TIMEOUT_MS, NULL);
    inject_ok(dir, name, NULL);
    check_opts_t o = {.lossless = true};
    inj_t *e = inject_check(dir, name, &o, NULL);
    check_health(e, truth, stats, LINE_TIMEOUT_MS * 1000000ull);
    uint64_t gaps = 0;
    for (unsigned i = 0; i < e->tr.n; i++)
        gaps += e->tr.f[i].ngaps;
    print_message("%s: %u feeds, %lu records, %lu gaps (the live line's own losses)\n", name,
                  e->tr.n, (unsigned long)e->tr.published, (unsigned long)gaps);
    inj_free(e);
}

/* Line A never sends: the feed runs on B alone; its losses are true gaps. The speed-1
   tests keep the rate modest and leave out microbursts: at 1x RX releases on time
   whatever the handlers' pace, and an ASan build's handlers sharing lcore 0 could not
   keep up with a 10x burst (test_microburst has them, at 1x and at top speed). */
static void test_dead_a_from_start(void **state)
{
    at_need_gen();
    static const char *const gen[] = {"--feeds",
                                      "3",
                                      "--duration-ms",
                                      "100",
                                      "--rate",
                                      "5000",
                                      "--burst-every-ms",
                                      "0",
                                      "--seed",
                                      "31",
                                      "--dead-a",
                                      "--loss-b",
                                      "0.01",
                                      "--dup",
                                      "0.01",
                                      "--reorder",
                                      "0.01",
                                      "--truncate",
                                      "0.005",
                                      NULL};
    dead_line(*state, "deada", gen);
}

/* Line B dies 40 ms into the session: one line_down per feed, nothing lost but what
   A lost itself after B was gone (and the few both lost before). */
static void test_dead_b_mid_session(void **state)
{
    at_need_gen();
    static const char *const gen[] = {
        "--feeds", "3",        "--rate", "5000",     "--burst-every-ms", "0",  "--duration-ms",
        "150",     "--seed",   "32",     "--dead-b", "--dead-after-ms",  "40", "--loss-a",
        "0.005",   "--loss-b", "0.005",  NULL};
    dead_line(*state, "deadb", gen);
}

/* feed_defaults.copies_on_rx: false in the configuration inject_gen() wrote for NAME:
   the handlers drop the A/B copies instead of the RX lcore */
static void copies_in_handler(const char *dir, const char *name, unsigned line_timeout_ms)
{
    char yaml[512], from[64], to[96];
    snprintf(yaml, sizeof(yaml), "%s/%s.yaml", dir, name);
    snprintf(from, sizeof(from), "line_timeout_ms: %u}", line_timeout_ms);
    snprintf(to, sizeof(to), "line_timeout_ms: %u, copies_on_rx: false}", line_timeout_ms);
    at_edit(yaml, from, to);
}

/* The RX lcores dropped copies (rx.filtered) exactly when they were meant to. */
static void expect_filtered(const char *stats, bool on_rx)
{
    json_t *st = at_json(stats);
    json_int_t filtered = at_jint(st, "rx.filtered");
    if (on_rx ? filtered <= 0 : filtered != 0)
        fail_msg("%s: rx.filtered %lld with copies_on_rx %s", stats, (long long)filtered,
                 on_rx ? "on" : "off");
    json_decref(st);
}

/* Both lines flap (60 ms silences in turn, A twice and B once): line_down/line_up
   events, and nothing lost where one line had the data. By default the RX lcore drops
   the copies: the line events come from the copies it still forwards for line health
   (a quarter of the line timeout), and must be the same as with @p in_handler, where
   every copy reaches the handler. */
static void flapping_lines(const char *dir, const char *name, bool in_handler)
{
    at_need_gen();
    static const char *const gen[] = {
        "--feeds",  "2",     "--duration-ms", "950",   "--seed", "33",   "--flap-ms", "150",
        "--loss-a", "0.002", "--loss-b",      "0.002", "--rate", "5000", NULL};
    char pcap[512], dump[512], stats[512], truth[512], msgs[512];
    paths(dir, name, pcap, dump, stats, truth, msgs);
    inject_gen(dir, name, gen, "1", LINE_TIMEOUT_MS, NULL);
    if (in_handler)
        copies_in_handler(dir, name, LINE_TIMEOUT_MS);
    inject_ok(dir, name, NULL);
    check_opts_t o = {.lossless = true};
    inj_t *e = inject_check(dir, name, &o, NULL);
    check_health(e, truth, stats, LINE_TIMEOUT_MS * 1000000ull);
    for (unsigned i = 0; i < e->tr.n; i++) { /* A twice, B once (plus any stall's pairs) */
        assert_true(e->f[i].down[0] >= 2 && e->f[i].up[0] >= 2);
        assert_true(e->f[i].down[1] >= 1 && e->f[i].up[1] >= 1);
    }
    expect_filtered(stats, !in_handler);
    inj_free(e);
}

static void test_flapping_lines(void **state)
{
    flapping_lines(*state, "flap", false);
}

static void test_flapping_lines_copies_in_handler(void **state)
{
    flapping_lines(*state, "flaph", true);
}

/* ---- a saturated channel -------------------------------------------------------- */

/* Four-slot channels at top speed. A copy the RX lcore dropped must still go out when
   the packet it copied found its channel full (feed_rxf_unsent and feed_rxf_again):
   the same rule holds as with @p in_handler (every copy reaches the handler), a
   message is lost only where both went. */
static void saturated_channel(const char *dir, const char *name, bool in_handler)
{
    at_need_gen();
    static const char *const gen[] = {"--feeds", "2",  "--duration-ms", "150", "--rate", "40000",
                                      "--seed",  "34", "--clean",       NULL};
    char yaml[512];
    at_gen(dir, name, gen);
    snprintf(yaml, sizeof(yaml), "%s/%s.yaml", dir, name);
    /* four slots per channel, RX on its own lcore at top speed: RX outruns the handlers */
    at_edit(yaml, "slots: 1024", "slots: 4");
    at_edit(yaml, NULL,
            in_handler ? "feed_defaults: {gap_wait_us: 50000, window: 256, copies_on_rx: false}\n"
                       : "feed_defaults: {gap_wait_us: 50000, window: 256}\n");
    inject_ok(dir, name, NULL);
    check_opts_t o = {.saturated = true};
    inj_t *e = inject_check(dir, name, &o, NULL);
    uint64_t gaps = 0, lost = 0, tail = 0;
    for (unsigned i = 0; i < e->tr.n; i++) {
        gaps += e->tr.f[i].ngaps;
        tail += e->f[i].tail;
        for (uint64_t s = 1; s <= e->tr.f[i].last; s++)
            lost += !e->tr.f[i].seen[s];
    }
    print_message("saturated: %lu channel_full drops, %lu gaps, %lu messages lost (%lu of them "
                  "after the last packet the handlers got)\n",
                  (unsigned long)e->channel_full, (unsigned long)gaps, (unsigned long)lost,
                  (unsigned long)tail);
    if (e->channel_full == 0)
        fail_msg("a 4-slot channel at top speed never filled: the test tests nothing");
    char pcap[512], dump[512], stats[512], truth[512], msgs[512];
    paths(dir, name, pcap, dump, stats, truth, msgs);
    expect_filtered(stats, !in_handler);
    /* a message is lost only where both copies were dropped: then there is a gap,
       unless it is in the tail no packet of which reached a handler */
    assert_true(lost == tail || gaps > 0);
    inj_free(e);
}

static void test_saturated_channel(void **state)
{
    saturated_channel(*state, "sat", false);
}

static void test_saturated_channel_copies_in_handler(void **state)
{
    saturated_channel(*state, "sath", true);
}

/* ---- a stalled subscriber ------------------------------------------------------- */

static bool wait_file(const char *path, const char *needle, unsigned seconds)
{
    for (unsigned i = 0; i < seconds * 50; i++) {
        char *s = at_slurp(path);
        bool ok = s && strstr(s, needle);
        free(s);
        if (ok)
            return true;
        usleep(20 * 1000);
    }
    return false;
}

/* The dump's record @p seq (1-based: line seq) as JSON, or NULL. */
static json_t **load_dump(const char *path, size_t *n)
{
    char *text = at_slurp(path);
    assert_non_null(text);
    size_t cap = 1024, k = 0;
    json_t **v = calloc(cap, sizeof(*v));
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (k == cap)
            v = realloc(v, (cap *= 2) * sizeof(*v));
        v[k++] = json_loads(l, 0, NULL);
        assert_non_null(v[k - 1]);
    }
    free(text);
    *n = k;
    return v;
}

/* mdmux-sub is stopped (SIGSTOP) while mdmux publishes many rings' worth: mdmux is
   unaffected (exact accounting), and the resumed subscriber reports exactly what it
   lost to the laps and a stream that matches the dump. */
static void test_stalled_subscriber(void **state)
{
    at_need_gen();
    const char *dir = *state;
    char shm[256], extra[512], subout[512], suberr[512], dump[512];
    snprintf(shm, sizeof(shm), "/dev/shm/mdmux-inject-%d", (int)getpid());
    snprintf(extra, sizeof(extra), "outputs:\n  shm: {path: %s, slots: 64, mode: \"0600\"}\n", shm);
    static const char *const gen[] = {"--feeds", "2", "--duration-ms", "200", "--seed", "35", NULL};
    inject_gen(dir, "stall", gen, "1", 2000, extra);
    char *sargv[] = {(char *)MDMUX_SUB_BIN, shm,
                     (char *)"--json",      (char *)"--from-oldest",
                     (char *)"--check",     (char *)"--wait-ms",
                     (char *)"30000",       (char *)"--idle-exit",
                     (char *)"5000",        NULL};
    unlink(shm);
    pid_t sub = at_start(sargv, dir, "sub");
    assert_true(sub > 0);
    char pcap[512], dmp[512], stats[512], truth[512], msgs[512];
    paths(dir, "stall", pcap, dmp, stats, truth, msgs);
    char *margv[] = {(char *)MDMUX_BIN,
                     (char *)"replay",
                     pcap,
                     (char *)"--dump",
                     dmp,
                     (char *)"--stats-json",
                     stats,
                     (char *)"--no-progress",
                     (char *)"--",
                     (char *)at_file_prefix(),
                     NULL};
    pid_t mdmux = at_start(margv, dir, "mdmux");
    assert_true(mdmux > 0);
    snprintf(subout, sizeof(subout), "%s/sub.out", dir);
    snprintf(suberr, sizeof(suberr), "%s/sub.err", dir);
    if (!wait_file(subout, "\"seq\"", 60)) {
        kill(sub, SIGKILL);
        at_wait(sub, 10);
        at_wait(mdmux, AT_TIMEOUT_S);
        fail_msg("mdmux-sub never read a record");
    }
    kill(sub, SIGSTOP); /* it stops reading, mid-stream */
    int st = at_wait(mdmux, AT_TIMEOUT_S);
    kill(sub, SIGCONT);
    int sst = at_wait(sub, 60);
    if (st != 0)
        fail_msg("mdmux with a stalled subscriber: status %d", st);
    check_opts_t o = {.lossless = true};
    inj_free(inject_check(dir, "stall", &o, NULL)); /* the publisher lost nothing */

    char *err = at_slurp(suberr);
    assert_non_null(err);
    if (sst != 0)
        fail_msg("mdmux-sub: status %d (2: --check found a breach)\n%s", sst, err);
    unsigned long long got = 0, lost = 0, start = 0;
    const char *p = strstr(err, "records ");
    const char *q = p ? strstr(p, " start ") : NULL;
    if (p == NULL || sscanf(p, "records %llu lost %llu", &got, &lost) != 2 || q == NULL ||
        sscanf(q, " start %llu", &start) != 1)
        fail_msg("mdmux-sub summary not found:\n%s", err);
    free(err);
    /* every record the subscriber got is the dump's record of that seq; seqs rise */
    snprintf(dump, sizeof(dump), "%s", dmp);
    size_t nd, ns;
    json_t **d = load_dump(dump, &nd), **s = load_dump(subout, &ns);
    assert_int_equal(ns, got);
    uint64_t prev = 0, first = 0;
    for (size_t i = 0; i < ns; i++) {
        uint64_t seq = (uint64_t)at_jint(s[i], "seq");
        if (i == 0)
            first = seq;
        assert_true(seq > prev && seq <= nd);
        prev = seq;
        json_t *want = d[seq - 1];
        assert_int_equal(at_jint(want, "seq"), seq);
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v)
        {
            if (strcmp(k, "feed") == 0) /* the dump names feeds, the ring numbers them */
                continue;
            if (!json_equal(v, json_object_get(s[i], k)))
                fail_msg("subscriber record %lu: %s differs from the dump", (unsigned long)seq, k);
        }
    }
    /* exact loss: what it got plus what it lost is everything published */
    print_message("stalled subscriber: %llu records, %llu lost to laps, of %zu published\n", got,
                  lost, nd);
    assert_true(lost > 0);
    assert_int_equal(got + lost + start, nd);
    assert_true(first > start);
    assert_int_equal(prev, nd); /* and it read to the end once resumed */
    for (size_t i = 0; i < nd; i++)
        json_decref(d[i]);
    for (size_t i = 0; i < ns; i++)
        json_decref(s[i]);
    free(d);
    free(s);
    unlink(shm);
}

/* ---- capture clock steps -------------------------------------------------------- */

static uint64_t rec_ts(const uint8_t *b, uint64_t off)
{
    const uint8_t *h = b + off;
    uint64_t sec =
        (uint64_t)h[0] | (uint64_t)h[1] << 8 | (uint64_t)h[2] << 16 | (uint64_t)h[3] << 24;
    uint64_t ns =
        (uint64_t)h[4] | (uint64_t)h[5] << 8 | (uint64_t)h[6] << 16 | (uint64_t)h[7] << 24;
    return sec * 1000000000ull + ns;
}

static uint32_t rec_len(const uint8_t *b, uint64_t off)
{
    const uint8_t *h = b + off + 8;
    return (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
}

/* Offset of every record of a capture (malloc'd, *n of them). */
static uint64_t *record_offsets(const uint8_t *b, size_t size, size_t *n)
{
    size_t cap = 4096, k = 0;
    uint64_t *v = malloc(cap * sizeof(*v));
    for (uint64_t off = 24; off + 16 <= size; off += 16 + rec_len(b, off)) {
        if (k == cap)
            v = realloc(v, (cap *= 2) * sizeof(*v));
        v[k++] = off;
    }
    *n = k;
    return v;
}

/* A capture whose clock steps (mdmux-gen OPT VAL), replayed with @p extra options;
   @p limit_ns: the forward gap limit those options give (replay.max_gap_ms). */
static void clock_step(const char *dir, const char *name, const char *opt, const char *val,
                       const char *const *extra, int64_t limit_ns)
{
    const char *const gen[] = {"--feeds", "3", "--duration-ms", "60", "--seed", "36", opt,
                               val,       NULL};
    char pcap[512], dump[512], stats[512], truth[512], msgs[512];
    paths(dir, name, pcap, dump, stats, truth, msgs);
    inject_gen(dir, name, gen, "1", 2000, NULL);
    at_result_t r;
    if (inject_replay(dir, name, extra, &r) != 0)
        fail_msg("mdmux replay %s: status %d\n%s", name, r.status, r.err);
    /* where the step is, from the truth, and what it was in the file */
    json_t *t = at_json(truth), *j = json_object_get(t, "ts_jump");
    assert_true(json_is_object(j));
    uint64_t frame = (uint64_t)at_jint(j, "frame"), off = (uint64_t)at_jint(j, "offset");
    int64_t delta = at_jint(j, "delta_ns");
    json_decref(t);
    size_t size = 0, n;
    uint8_t *b = (uint8_t *)at_slurp(pcap);
    struct stat sb;
    assert_int_equal(stat(pcap, &sb), 0);
    size = (size_t)sb.st_size;
    uint64_t *offs = record_offsets(b, size, &n);
    assert_int_equal(offs[frame], off);
    int64_t step = (int64_t)(rec_ts(b, off) - rec_ts(b, offs[frame - 1]));
    free(offs);
    free(b);
    char want[256];
    snprintf(want, sizeof(want), "first at packet %lu, byte offset %lu", (unsigned long)frame,
             (unsigned long)off);
    at_contains(r.err, want);
    at_contains(r.err, pcap);
    at_result_free(&r);

    json_t *st = at_json(stats);
    json_t *cs = json_object_get(json_object_get(st, "pacing"), "clock_steps");
    if (delta < 0) {
        /* sent at once, counted once, the step's size exact; later gaps kept */
        assert_int_equal(at_jint(cs, "backward"), 1);
        assert_int_equal(at_jint(cs, "backward_ns"), -step);
        assert_int_equal(at_jint(cs, "first_backward.packet"), frame);
        assert_int_equal(at_jint(cs, "first_backward.offset"), off);
        assert_int_equal(at_jint(cs, "forward"), 0);
    } else {
        /* clamped to the limit: the replay did not wait an hour (AT_TIMEOUT_S would
           kill it) */
        assert_int_equal(at_jint(cs, "forward"), 1);
        assert_int_equal(at_jint(cs, "clamped_ns"), step - limit_ns);
        assert_int_equal(at_jint(cs, "max_gap_ns"), limit_ns);
        assert_int_equal(at_jint(cs, "first_forward.packet"), frame);
        assert_int_equal(at_jint(cs, "first_forward.offset"), off);
        assert_int_equal(at_jint(cs, "backward"), 0);
        assert_true(step > delta);
    }
    json_decref(st);
    check_opts_t o = {.lossless = true};
    inj_free(inject_check(dir, name, &o, NULL));
}

static void test_clock_steps_back(void **state)
{
    at_need_gen();
    clock_step(*state, "back", "--ts-jump-back-ms", "20", NULL, 1000000000);
}

static void test_clock_steps_forward_an_hour(void **state)
{
    at_need_gen();
    clock_step(*state, "fwd", "--ts-jump-forward-s", "3600", NULL, 1000000000);
}

/* The same with replay.max_gap_ms lowered from the command line: the hour is replayed
   as 50 ms. */
static void test_clock_steps_forward_max_gap(void **state)
{
    at_need_gen();
    static const char *const extra[] = {"--max-gap-ms", "50", NULL};
    clock_step(*state, "fwdgap", "--ts-jump-forward-s", "3600", extra, 50000000);
}

/* ---- truncated captures --------------------------------------------------------- */

/*
 * Cut DIR/cut.pcap at @p at bytes into DIR/NAME.pcap (with the config), replay it: status
 * 1, an error naming the file and the offset of the bad record, and the complete records
 * before it processed and accounted: per line packets and bytes counted here, every
 * message they carried published once, nothing else.
 */
static void cut_at(const char *dir, const char *name, const uint8_t *b, size_t size, uint64_t at)
{
    char pcap[512], dump[512], stats[512], truth[512], msgs[512], src[512];
    paths(dir, name, pcap, dump, stats, truth, msgs);
    assert_true(at < size);
    FILE *f = fopen(pcap, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, at, f), at);
    fclose(f);
    snprintf(src, sizeof(src), "%s/cut.yaml", dir);
    char *y = at_slurp(src);
    snprintf(src, sizeof(src), "%s/%s.yaml", dir, name);
    at_write(src, y);
    free(y);
    at_result_t r;
    int st = inject_replay(dir, name, NULL, &r);
    if (st != 1)
        fail_msg("%s cut at %lu: status %d, expected 1\n%s", name, (unsigned long)at, st, r.err);
    at_contains(r.err, pcap);
    /* the bad record's offset: the last record start at or before the cut */
    uint64_t bad = 24, frames = 0;
    if (at < 24) {
        at_contains(r.err, "header");
        at_result_free(&r);
        print_message("cut at %lu (file header): status 1, %s\n", (unsigned long)at, pcap);
        return;
    }
    while (bad + 16 <= at && bad + 16 + rec_len(b, bad) <= at) {
        bad += 16 + rec_len(b, bad);
        frames++;
    }
    char want[64];
    snprintf(want, sizeof(want), "byte %lu", (unsigned long)bad);
    at_contains(r.err, want);
    at_result_free(&r);
    if (frames == 0)
        return; /* nothing to replay: no stats to check */

    /* what the complete records carried, line by line */
    snprintf(src, sizeof(src), "%s/cut.truth.json", dir);
    inj_t *e = calloc(1, sizeof(*e));
    tr_load_truth(&e->tr, src);
    json_t *t = at_json(src);
    for (unsigned i = 0; i < e->tr.n; i++)
        e->f[i].expect = calloc(e->tr.f[i].last + 1, 1);
    uint64_t pk[TR_MAX_FEEDS][2] = {{0}}, by[TR_MAX_FEEDS][2] = {{0}};
    for (uint64_t off = 24, k = 0; k < frames; k++, off += 16 + rec_len(b, off)) {
        const uint8_t *fr = b + off + 16;
        uint32_t len = rec_len(b, off);
        if (len < 42 || fr[12] != 0x08 || fr[13] != 0 || fr[23] != 17)
            continue;
        char grp[32];
        snprintf(grp, sizeof(grp), "%u.%u.%u.%u", fr[30], fr[31], fr[32], fr[33]);
        unsigned port = (unsigned)fr[36] << 8 | fr[37];
        for (unsigned i = 0; i < e->tr.n; i++)
            for (int w = 0; w < 2; w++) {
                json_t *tl = truth_line(t, i, w);
                if (strcmp(json_string_value(json_object_get(tl, "group")), grp) != 0 ||
                    at_jint(tl, "port") != port)
                    continue;
                unsigned ulen = ((unsigned)fr[38] << 8 | fr[39]) - 8;
                pk[i][w]++;
                by[i][w] += ulen;
                if (ulen < 20)
                    continue;
                const uint8_t *m = fr + 42;
                uint64_t seq = 0;
                for (int q = 0; q < 8; q++)
                    seq = seq << 8 | m[10 + q];
                unsigned cnt = (unsigned)m[18] << 8 | m[19];
                for (unsigned q = 0; cnt != 0xffff && q < cnt; q++)
                    e->f[i].expect[seq + q] = 1;
            }
    }
    json_decref(t);
    json_t *s = at_json(stats);
    assert_int_equal(at_jint(s, "rx.frames"), frames);
    assert_true(json_is_string(json_object_get(s, "capture_error")));
    for (unsigned i = 0; i < e->tr.n; i++)
        for (int w = 0; w < 2; w++) {
            json_t *sl = json_object_get(
                json_object_get(json_array_get(json_object_get(s, "feeds"), i), "lines"),
                w ? "B" : "A");
            assert_int_equal(at_jint(sl, "packets"), pk[i][w]);
            assert_int_equal(at_jint(sl, "bytes"), by[i][w]);
        }
    json_decref(s);
    check_opts_t o = {.lossless = true, .prefix = true, .truth_name = "cut"};
    e = inject_check(dir, name, &o, e);
    print_message("cut at %lu: status 1 at byte %lu, %lu frames and %lu records accounted\n",
                  (unsigned long)at, (unsigned long)bad, (unsigned long)frames,
                  (unsigned long)e->tr.published);
    inj_free(e);
}

static void test_truncated_captures(void **state)
{
    at_need_gen();
    const char *dir = *state;
    static const char *const gen[] = {"--feeds", "2", "--duration-ms", "20", "--clean", "--seed",
                                      "37",      NULL};
    char pcap[512];
    inject_gen(dir, "cut", gen, "max", 2000, NULL);
    snprintf(pcap, sizeof(pcap), "%s/cut.pcap", dir);
    struct stat sb;
    assert_int_equal(stat(pcap, &sb), 0);
    size_t size = (size_t)sb.st_size, n;
    uint8_t *b = (uint8_t *)at_slurp(pcap);
    uint64_t *offs = record_offsets(b, size, &n);
    assert_true(n > 1000);
    /* inside the file header; a record header; a record's data; the last record */
    cut_at(dir, "h10", b, size, 10);
    cut_at(dir, "r5", b, size, offs[n / 3] + 5);
    cut_at(dir, "d30", b, size, offs[n / 2] + 16 + 30);
    cut_at(dir, "end", b, size, size - 3);
    free(offs);
    free(b);
}

/* ---- zero-length datagrams, jumbo frames, a 10x microburst ---------------------- */

/* The feed handler counts each zero-length datagram (and corrupt payload) as a
   malformed MoldUDP64 packet of its line, exactly. */
static void check_feed_malformed(const char *dir, const char *name)
{
    char pcap[512], dump[512], stats[512], truth[512], msgs[512];
    paths(dir, name, pcap, dump, stats, truth, msgs);
    json_t *s = at_json(stats), *t = at_json(truth);
    uint64_t zero = 0;
    for (unsigned i = 0; i < json_array_size(json_object_get(t, "feeds")); i++)
        for (int w = 0; w < 2; w++) {
            json_t *tl = truth_line(t, i, w);
            json_t *sl = json_object_get(
                json_object_get(json_array_get(json_object_get(s, "feeds"), i), "lines"),
                w ? "B" : "A");
            assert_int_equal(at_jint(sl, "malformed"),
                             at_jint(tl, "zero_length") + at_jint(tl, "corrupt_payload"));
            zero += (uint64_t)at_jint(tl, "zero_length");
        }
    assert_true(zero > 0);
    json_decref(s);
    json_decref(t);
}

static void test_zero_length_udp(void **state)
{
    at_need_gen();
    const char *dir = *state;
    static const char *const gen[] = {"--feeds", "3",          "--duration-ms", "40", "--seed",
                                      "38",      "--zero-udp", "0.05",          NULL};
    inject_gen(dir, "zero", gen, "max", 2000, NULL);
    inject_ok(dir, "zero", NULL);
    check_opts_t o = {.lossless = true};
    inj_free(inject_check(dir, "zero", &o, NULL));
    check_feed_malformed(dir, "zero");
}

/* A 9000-byte MTU feed: the stock directory fills jumbo packets. */
static void test_jumbo_frames(void **state)
{
    at_need_gen();
    const char *dir = *state;
    static const char *const gen[] = {"--feeds", "2",          "--duration-ms", "30",
                                      "--seed",  "39",         "--jumbo",       "--stocks",
                                      "400",     "--max-msgs", "400",           NULL};
    char pcap[512];
    inject_gen(dir, "jumbo", gen, "max", 2000, NULL);
    snprintf(pcap, sizeof(pcap), "%s/jumbo.pcap", dir);
    struct stat sb;
    assert_int_equal(stat(pcap, &sb), 0);
    size_t n;
    uint8_t *b = (uint8_t *)at_slurp(pcap);
    uint64_t *offs = record_offsets(b, (size_t)sb.st_size, &n);
    uint32_t big = 0, max = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t l = rec_len(b, offs[i]);
        big += l > 2048;
        max = l > max ? l : max;
    }
    free(offs);
    free(b);
    print_message("jumbo: %u frames above 2048 bytes, the largest %u\n", big, max);
    assert_true(big > 10 && max > 8000 && max <= 9014);
    inject_ok(dir, "jumbo", NULL);
    check_opts_t o = {.lossless = true};
    inj_free(inject_check(dir, "jumbo", &o, NULL));
}

static void test_microburst(void **state)
{
    at_need_gen();
    const char *dir = *state;
    static const char *const gen[] = {
        "--feeds",          "3",  "--duration-ms",  "60", "--seed", "40", "--burst-factor", "10",
        "--burst-every-ms", "20", "--burst-len-ms", "5",  NULL};
    check_opts_t o = {.lossless = true};
    inject_gen(dir, "burst1", gen, "1", 2000, NULL);
    inject_ok(dir, "burst1", NULL);
    inj_free(inject_check(dir, "burst1", &o, NULL));
    inject_gen(dir, "burstmax", gen, "max", 2000, NULL);
    inject_ok(dir, "burstmax", NULL);
    inj_free(inject_check(dir, "burstmax", &o, NULL));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, at_dir_setup, at_dir_teardown)
    const struct CMUnitTest tests[] = {
        T(test_dead_a_from_start),
        T(test_dead_b_mid_session),
        T(test_flapping_lines),
        T(test_flapping_lines_copies_in_handler),
        T(test_saturated_channel),
        T(test_saturated_channel_copies_in_handler),
        T(test_stalled_subscriber),
        T(test_clock_steps_back),
        T(test_clock_steps_forward_an_hour),
        T(test_clock_steps_forward_max_gap),
        T(test_truncated_captures),
        T(test_zero_length_udp),
        T(test_jumbo_frames),
        T(test_microburst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
