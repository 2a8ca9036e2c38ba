/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault isolation (issue 7), end to end: a generated 50-feed capture without
 * impairments (so the generator's OUT.messages.jsonl is exactly what must come out)
 * goes through `mdmux replay --dump` with one feed's handler made to panic, stall or
 * run slow (faults: in the configuration, or --fault), and the dump is checked
 * against what the generator sent:
 *
 *   - the other 49 feeds lose nothing: every message they sent is in the dump exactly
 *     once, in order, with no gap, no restart, and nothing dropped on their lines;
 *   - the faulted feed publishes each message at most once, in order outside its gap
 *     ranges, and what it publishes plus its gap events accounts for every message up
 *     to the last one it could know of (everything, once it saw the end of session; a
 *     tail it never heard of only when its lines dropped packets);
 *   - a panic restarts the handler with the configured backoff, doubling (the
 *     supervisor's log, handler_restart events, feeds[].restarts); past the restart
 *     budget the feed is given up and its input freed, counted;
 *   - every line: classified = handled + channel_full (exact against the truth file).
 *
 * And a deliberately slow shared-memory subscriber (mdmux-sub --slow-ns) never slows
 * the publisher: the same records are published as without it, nothing upstream ever
 * waited (no channel_full, no pool wait), and the subscriber's lapped loss is exact.
 * Also: the configuration and --fault errors.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "apptest.h"

#define NFEEDS    50
#define MAX_GAPS  4096
#define FEED_NAME 16

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* Arbiter settings as in app_e2e (a 50 ms gap wait: no gap from scheduling delays),
   and the restart policy of the tests: a backoff_max no run outlasts (a run longer
   than it would start the doubling over) and a window no test outlasts. */
#define ARB                                                                                        \
    "feed_defaults: {gap_wait_us: 50000, window: 256,%s restart: {backoff_ms: 1, "                 \
    "backoff_max_ms: 60000, max_restarts: %u, window_ms: 60000}}\n"

/* What the generator sent, per feed (loaded once). */
typedef struct sent {
    char name[FEED_NAME];
    uint64_t last;
    uint8_t *sent; /* [last + 1] */
    uint64_t messages;
} sent_t;

static struct {
    char dir[256];
    char pcap[512], truth[512];
    char *yaml; /* the generator's configuration */
    sent_t f[NFEEDS];
    uint64_t messages;
    bool health_ok; /* check_clean() lets line and feed health events through */
} T;

/* What the dump showed of one feed. */
typedef struct seen {
    uint8_t *seen; /* [last + 1]: times published */
    uint64_t gaps[MAX_GAPS][2];
    unsigned ngaps;
    uint64_t last_inorder;
    unsigned restarts, eos, other_events, finals;
    unsigned health; /* of other_events: a line or the feed went down or up */
    uint64_t messages, dups, disorder, unsent;
} seen_t;

/* The number after @p key in @p line, or UINT64_MAX. */
static uint64_t num_after(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    if (p == NULL)
        return UINT64_MAX;
    return strtoull(p + strlen(key), NULL, 10);
}

/* The string after @p key (up to the closing quote) into @p out; false if absent. */
static bool str_after(const char *line, const char *key, char *out, size_t n)
{
    const char *p = strstr(line, key);
    if (p == NULL)
        return false;
    p += strlen(key);
    size_t k = strcspn(p, "\"");
    if (k >= n)
        return false;
    memcpy(out, p, k);
    out[k] = '\0';
    return true;
}

/* Index of feed @p name ("feedNN", the generator's names). */
static int feed_idx(const char *name)
{
    for (int i = 0; i < NFEEDS; i++)
        if (strcmp(T.f[i].name, name) == 0)
            return i;
    return -1;
}

static int group_setup(void **state)
{
    (void)state;
    if (!at_have_gen())
        return 0; /* every test skips */
    at_tmpdir(T.dir, sizeof(T.dir), "faults");
    static const char *const gen[] = {"--feeds", "50", "--clean", "--seed", "7", NULL};
    at_gen(T.dir, "day", gen);
    snprintf(T.pcap, sizeof(T.pcap), "%s/day.pcap", T.dir);
    snprintf(T.truth, sizeof(T.truth), "%s/day.truth.json", T.dir);
    char path[600];
    snprintf(path, sizeof(path), "%s/day.yaml", T.dir);
    T.yaml = at_slurp(path);
    assert_non_null(T.yaml);
    json_t *t = at_json(T.truth), *feeds = json_object_get(t, "feeds"), *f;
    size_t i;
    assert_int_equal(json_array_size(feeds), NFEEDS);
    json_array_foreach(feeds, i, f)
    {
        sent_t *x = &T.f[i];
        snprintf(x->name, sizeof(x->name), "%s", json_string_value(json_object_get(f, "name")));
        x->last = (uint64_t)at_jint(f, "last_seq");
        x->sent = calloc(x->last + 1, 1);
        assert_int_equal(json_array_size(json_object_get(f, "lost_both")), 0); /* --clean */
    }
    json_decref(t);
    /* every message the generator sent, by feed and sequence */
    snprintf(path, sizeof(path), "%s/day.messages.jsonl", T.dir);
    FILE *m = fopen(path, "r");
    assert_non_null(m);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, m) > 0) {
        char name[FEED_NAME];
        assert_true(str_after(line, "\"feed\":\"", name, sizeof(name)));
        int k = feed_idx(name);
        uint64_t seq = num_after(line, "\"seq\":");
        assert_true(k >= 0 && seq >= 1 && seq <= T.f[k].last);
        T.f[k].sent[seq] = 1;
        T.f[k].messages++;
        T.messages++;
    }
    free(line);
    fclose(m);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (unsigned i = 0; i < NFEEDS; i++)
        free(T.f[i].sent);
    free(T.yaml);
    if (T.dir[0] && getenv("MDMUX_TEST_KEEP") == NULL)
        at_rmdir(T.dir);
    return 0;
}

/* Write DIR/NAME.yaml: the generator's configuration on one lcore, the tests' arbiter
   and restart settings (budget @p max_restarts) and @p extra; returns its path. */
/* write_config() with @p arb added to feed_defaults ("" or " key: value,"). */
static void write_config_arb(const char *name, unsigned max_restarts, const char *arb,
                             const char *extra, char *path, size_t n)
{
    size_t cap = strlen(T.yaml) + 1024 + strlen(arb) + (extra ? strlen(extra) : 0);
    char *y = malloc(cap);
    int k = snprintf(y, cap, "%seal:\n  lcores: \"0\"\n", T.yaml);
    k += snprintf(y + k, cap - (size_t)k, ARB, arb, max_restarts);
    snprintf(y + k, cap - (size_t)k, "%s", extra ? extra : "");
    snprintf(path, n, "%s/%s.yaml", T.dir, name);
    at_write(path, y);
    free(y);
}

static void write_config(const char *name, unsigned max_restarts, const char *extra, char *path,
                         size_t n)
{
    write_config_arb(name, max_restarts, "", extra, path, n);
}

/* The dump, per feed. */
static seen_t *load_dump(const char *path)
{
    seen_t *s = calloc(NFEEDS, sizeof(*s));
    for (unsigned i = 0; i < NFEEDS; i++)
        s[i].seen = calloc(T.f[i].last + 1, 1);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        char name[FEED_NAME], ev[32];
        if (!str_after(line, "\"feed\":\"", name, sizeof(name)))
            fail_msg("%s: a record without a feed: %s", path, line);
        int k = feed_idx(name);
        if (k < 0)
            fail_msg("%s: unknown feed %s", path, name);
        seen_t *x = &s[k];
        if (str_after(line, "\"event\":\"", ev, sizeof(ev))) {
            if (strcmp(ev, "gap") == 0) {
                assert_true(x->ngaps < MAX_GAPS);
                x->gaps[x->ngaps][0] = num_after(line, "\"from\":");
                x->gaps[x->ngaps++][1] = num_after(line, "\"to\":");
            } else if (strcmp(ev, "handler_restart") == 0) {
                x->restarts++;
            } else if (strcmp(ev, "end_of_session") == 0) {
                x->eos++;
            } else {
                x->finals += strcmp(ev, "gap_final") == 0;
                x->health += strncmp(ev, "line_", 5) == 0 || strncmp(ev, "feed_", 5) == 0;
                x->other_events++;
            }
            continue;
        }
        uint64_t seq = num_after(line, "\"feed_seq\":");
        x->messages++;
        if (seq < 1 || seq > T.f[k].last || !T.f[k].sent[seq]) {
            x->unsent++;
            continue;
        }
        if (x->seen[seq]++)
            x->dups++;
        bool in_gap = false;
        for (unsigned g = 0; g < x->ngaps && !in_gap; g++)
            in_gap = seq >= x->gaps[g][0] && seq <= x->gaps[g][1];
        if (!in_gap) { /* recovered messages come after their gap, in any order */
            if (seq <= x->last_inorder)
                x->disorder++;
            x->last_inorder = seq;
        }
    }
    free(line);
    fclose(f);
    return s;
}

static void free_dump(seen_t *s)
{
    for (unsigned i = 0; i < NFEEDS; i++)
        free(s[i].seen);
    free(s);
}

static json_t *feed_stats(json_t *st, unsigned i)
{
    json_t *f = json_array_get(json_object_get(st, "feeds"), i);
    assert_non_null(f);
    return f;
}

static json_int_t line_int(json_t *feed, const char *line, const char *key)
{
    char path[64];
    snprintf(path, sizeof(path), "lines.%s.%s", line, key);
    return at_jint(feed, path);
}

/* An unfaulted feed: everything it sent, exactly once, in order, nothing dropped. */
static void check_clean(const seen_t *x, json_t *st, unsigned i)
{
    const sent_t *t = &T.f[i];
    uint64_t missing = 0;
    for (uint64_t q = 1; q <= t->last; q++)
        missing += t->sent[q] && x->seen[q] != 1;
    if (missing || x->dups || x->disorder || x->unsent || x->ngaps || x->restarts ||
        x->other_events > (T.health_ok ? x->health : 0) || x->eos != 1 ||
        x->messages != t->messages)
        fail_msg("%s (not faulted) lost something: %lu missing, %lu duplicates, %lu out of "
                 "order, %lu never sent, %u gaps, %u restarts, %u other events, %u eos, %lu of "
                 "%lu messages",
                 t->name, (unsigned long)missing, (unsigned long)x->dups,
                 (unsigned long)x->disorder, (unsigned long)x->unsent, x->ngaps, x->restarts,
                 x->other_events, x->eos, (unsigned long)x->messages, (unsigned long)t->messages);
    json_t *f = feed_stats(st, i);
    assert_int_equal(line_int(f, "A", "channel_full"), 0);
    assert_int_equal(line_int(f, "B", "channel_full"), 0);
    assert_int_equal(at_jint(f, "restarts"), 0);
    assert_int_equal(at_jint(f, "gaps"), 0);
}

/* What the faulted feed accounted for. */
typedef struct faulted {
    uint64_t published, in_gaps, tail; /* messages */
    unsigned ngaps;                    /* gap events */
    json_int_t dropped;                /* channel_full, both lines */
    json_int_t discarded;              /* taken but neither delivered nor a duplicate */
} faulted_t;

/*
 * The faulted feed: at most once, in order outside gaps; published + gaps account for
 * every message up to the last it could know of. @p complete: it must have seen the
 * end of session (it was never given up).
 */
static faulted_t check_faulted(const seen_t *x, json_t *st, unsigned i, bool complete)
{
    const sent_t *t = &T.f[i];
    faulted_t r = {0};
    if (x->dups || x->disorder || x->unsent)
        fail_msg("%s (faulted): %lu duplicates, %lu out of order, %lu never sent", t->name,
                 (unsigned long)x->dups, (unsigned long)x->disorder, (unsigned long)x->unsent);
    uint64_t covered_to = 0;
    for (uint64_t q = 1; q <= t->last; q++) {
        bool in_gap = false;
        for (unsigned g = 0; g < x->ngaps && !in_gap; g++)
            in_gap = q >= x->gaps[g][0] && q <= x->gaps[g][1];
        if (x->seen[q] || in_gap)
            covered_to = q;
        r.published += x->seen[q] != 0;
        r.in_gaps += in_gap && !x->seen[q];
    }
    /* no hole below the last covered message */
    for (uint64_t q = 1; q <= covered_to; q++) {
        bool in_gap = false;
        for (unsigned g = 0; g < x->ngaps && !in_gap; g++)
            in_gap = q >= x->gaps[g][0] && q <= x->gaps[g][1];
        if (t->sent[q] && !x->seen[q] && !in_gap)
            fail_msg("%s (faulted): seq %lu neither published nor in a gap", t->name,
                     (unsigned long)q);
    }
    r.tail = t->last - covered_to;
    r.ngaps = x->ngaps;
    json_t *f = feed_stats(st, i);
    r.dropped = line_int(f, "A", "channel_full") + line_int(f, "B", "channel_full");
    json_int_t taken = 0;
    static const char *const kinds[] = {"wins", "fills",      "duplicates",
                                        "late", "heartbeats", "malformed"};
    for (unsigned l = 0; l < 2; l++)
        for (unsigned k = 0; k < 6; k++)
            taken += line_int(f, l ? "B" : "A", kinds[k]);
    r.discarded = line_int(f, "A", "handled") + line_int(f, "B", "handled") - taken;
    if (x->eos == 1) {
        assert_int_equal(r.tail, 0); /* it knew of everything */
    } else {
        /* it never heard of its tail: only possible when both lines dropped packets */
        if (complete &&
            (line_int(f, "A", "channel_full") == 0 || line_int(f, "B", "channel_full") == 0))
            fail_msg("%s (faulted): no end of session, %lu messages unaccounted, yet its lines "
                     "dropped nothing",
                     t->name, (unsigned long)r.tail);
    }
    print_message("%s: %lu published, %lu in %u gaps, %lu in an unseen tail, %u restarts, %ld "
                  "packets dropped on its lines, %ld discarded or freed after a give-up\n",
                  t->name, (unsigned long)r.published, (unsigned long)r.in_gaps, x->ngaps,
                  (unsigned long)r.tail, x->restarts, (long)r.dropped, (long)r.discarded);
    return r;
}

/* Replay with config @p cfg (and @p extra args), then check every feed; @p faulted is
   the faulted feed's index. Returns the faulted feed's account; *@p err gets stderr. */
static faulted_t replay_check(const char *name, const char *cfg, const char *const *extra,
                              int faulted, bool complete, json_t **stats_out, char **err)
{
    char dump[600], stats[600];
    snprintf(dump, sizeof(dump), "%s/%s.jsonl", T.dir, name);
    snprintf(stats, sizeof(stats), "%s/%s.stats.json", T.dir, name);
    const char *args[32] = {"replay",       T.pcap, "-c",           cfg, "--dump", dump,
                            "--stats-json", stats,  "--no-progress"};
    unsigned n = 9;
    for (unsigned i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    at_result_t r;
    at_mdmux_ok(args, &r);
    at_check_truth(stats, T.truth, false); /* per line: classified = handled + channel_full */
    json_t *st = at_json(stats);
    seen_t *s = load_dump(dump);
    faulted_t fr = {0};
    uint64_t published = 0;
    for (unsigned i = 0; i < NFEEDS; i++) {
        published += s[i].messages + s[i].ngaps + s[i].restarts + s[i].eos + s[i].other_events;
        if ((int)i == faulted)
            fr = check_faulted(&s[i], st, i, complete);
        else
            check_clean(&s[i], st, i);
    }
    assert_int_equal(at_jint(st, "outputs.published"), published);
    if (faulted >= 0) {
        json_t *f = feed_stats(st, (unsigned)faulted);
        assert_int_equal(at_jint(f, "restarts"), s[faulted].restarts);
    }
    free_dump(s);
    *stats_out = st;
    *err = strdup(r.err);
    at_result_free(&r);
    return fr;
}

/* The restart lines of the supervisor's log for @p feed: their backoffs in ms. */
static unsigned restart_backoffs(const char *err, const char *feed, double *ms, unsigned max)
{
    char key[64];
    snprintf(key, sizeof(key), "mdmux: feed %s: handler restart ", feed);
    unsigned n = 0;
    for (const char *p = err; (p = strstr(p, key)) != NULL && n < max; p += strlen(key)) {
        unsigned k;
        double b;
        if (sscanf(p + strlen(key), "%u after %lf ms backoff", &k, &b) != 2 || k != n + 1)
            fail_msg("bad restart line: %.120s", p);
        ms[n++] = b;
    }
    return n;
}

static void expect_fired(const char *err, const char *feed, const char *kind, unsigned long n)
{
    char want[128];
    snprintf(want, sizeof(want), "mdmux: feed %s: injected fault %s fired %lu times", feed, kind,
             n);
    at_contains(err, want);
}

/* (a) one panic, from the configuration's faults: */
static void test_panic_once(void **state)
{
    (void)state;
    at_need_gen();
    char cfg[600];
    write_config("panic1", 10,
                 "faults:\n  - feed: feed07\n    kind: panic\n    after_packets: 500\n", cfg,
                 sizeof(cfg));
    json_t *st;
    char *err;
    faulted_t f = replay_check("panic1", cfg, NULL, 7, true, &st, &err);
    double ms[8];
    assert_int_equal(restart_backoffs(err, "feed07", ms, 8), 1);
    assert_true(ms[0] == 1.0); /* backoff_ms */
    expect_fired(err, "feed07", "panic", 1);
    assert_int_equal(at_jint(feed_stats(st, 7), "restarts"), 1);
    assert_true(f.discarded >= 1); /* the packet it panicked on, at least */
    assert_int_equal(f.tail, 0);
    /* one copy of one packet lost, nothing dropped: the other line fills in, and the
       restart declares no gap (it must not: nothing is missing for good) */
    assert_int_equal(f.dropped, 0);
    assert_int_equal(f.ngaps, 0);
    json_decref(st);
    free(err);
}

/* (a) three panics in a row, from --fault: backoff 1, 2, 4 ms */
static void test_panic_three_cli(void **state)
{
    (void)state;
    at_need_gen();
    char cfg[600];
    write_config("panic3", 10, NULL, cfg, sizeof(cfg));
    static const char *const extra[] = {"--fault", "feed=feed23,kind=panic,after=300,count=3",
                                        NULL};
    json_t *st;
    char *err;
    faulted_t f = replay_check("panic3", cfg, extra, 23, true, &st, &err);
    double ms[8];
    assert_int_equal(restart_backoffs(err, "feed23", ms, 8), 3);
    assert_true(ms[0] == 1.0 && ms[1] == 2.0 && ms[2] == 4.0); /* doubling */
    expect_fired(err, "feed23", "panic", 3);
    assert_int_equal(at_jint(feed_stats(st, 23), "restarts"), 3);
    assert_true(f.discarded >= 3);
    json_decref(st);
    free(err);
}

/* (a) more panics than the budget: given up, its input freed and counted */
static void test_panic_past_budget(void **state)
{
    (void)state;
    at_need_gen();
    char cfg[600];
    write_config("budget", 2,
                 "faults:\n  - {feed: feed42, kind: panic, after_packets: 200, count: 5}\n", cfg,
                 sizeof(cfg));
    json_t *st;
    char *err;
    faulted_t f = replay_check("budget", cfg, NULL, 42, false, &st, &err);
    double ms[8];
    assert_int_equal(restart_backoffs(err, "feed42", ms, 8), 2);
    at_contains(err, "mdmux: feed feed42: handler gave up after 2 restarts");
    expect_fired(err, "feed42", "panic", 3); /* the third was one too many */
    assert_int_equal(at_jint(feed_stats(st, 42), "restarts"), 2);
    assert_true(f.tail > 0); /* nothing after the give-up */
    json_decref(st);
    free(err);
}

/* feed10 stalls 3 s (8 under a sanitizer) after 50 packets, with feed_defaults @p arb:
   long enough for its 1024-slot channels to overflow while the replay goes on. */
static void replay_stall(const char *name, const char *arb, json_t **st, char **err)
{
    char cfg[600], spec[128];
    write_config_arb(name, 10, arb, NULL, cfg, sizeof(cfg));
    snprintf(spec, sizeof(spec), "feed=feed10,kind=stall,after=50,ms=%u", SANITIZED ? 8000 : 3000);
    const char *const extra[] = {"--fault", spec, NULL};
    faulted_t f = replay_check(name, cfg, extra, 10, true, st, err);
    expect_fired(*err, "feed10", "stall", 1);
    assert_int_equal(at_jint(feed_stats(*st, 10), "restarts"), 0);
    assert_true(f.published > 0);
}

/*
 * (b) a stall: the stalled feed's lines drop (counted), the others lose nothing. With
 * the handlers dropping the A/B copies (copies_on_rx: false) both lines carry every
 * packet, so both channels overflow.
 */
static void test_stall(void **state)
{
    (void)state;
    at_need_gen();
    json_t *st;
    char *err;
    replay_stall("stall", " copies_on_rx: false,", &st, &err);
    json_t *fs = feed_stats(st, 10);
    assert_true(line_int(fs, "A", "channel_full") > 0);
    assert_true(line_int(fs, "B", "channel_full") > 0);
    json_decref(st);
    free(err);
}

/*
 * (b) the stall with the RX lcore dropping the copies (the default): line A's channel
 * fills with the originals, and once it refuses them their copies on line B are
 * forwarded instead (feed_rxf_unsent), so B, which otherwise carries nearly nothing
 * but its keepalive copies, takes over.
 */
static void test_stall_copies_on_rx(void **state)
{
    (void)state;
    at_need_gen();
    json_t *st;
    char *err;
    replay_stall("stall-rx", "", &st, &err);
    json_t *fs = feed_stats(st, 10);
    json_int_t a_full = line_int(fs, "A", "channel_full");
    json_int_t b_full = line_int(fs, "B", "channel_full");
    json_int_t b_sent = line_int(fs, "B", "handled") - line_int(fs, "B", "copies_on_rx");
    fprintf(stderr, "feed10: A channel_full %lld, B forwarded %lld, B channel_full %lld\n",
            (long long)a_full, (long long)b_sent, (long long)b_full);
    assert_true(a_full > 0);
    /* B's channel took copies of what A's refused: up to its 1024 slots of them */
    assert_true(b_sent + b_full >= (a_full < 1024 ? a_full : 1024) / 2);
    json_decref(st);
    free(err);
}

/*
 * (b') the same stall under --lossless: RX holds what the stalled feed's full channels
 * do not take and takes nothing new until they do, so the whole replay waits for the
 * handler instead of dropping (`rx.held` counts it). Nothing is lost anywhere, the
 * stalled feed included. The other feeds' lines fall silent meanwhile: a stall longer
 * than the line timeout (2 s; the whole wait can stretch past it on a loaded machine
 * under a sanitizer) gives them line and feed health events, and nothing else.
 */
static void test_stall_lossless(void **state)
{
    (void)state;
    at_need_gen();
    char cfg[600], spec[128];
    write_config("stall-lossless", 10, NULL, cfg, sizeof(cfg));
    snprintf(spec, sizeof(spec), "feed=feed10,kind=stall,after=50,ms=%u", 1500);
    const char *const extra[] = {"--fault", spec, "--lossless", NULL};
    json_t *st;
    char *err;
    T.health_ok = true;
    faulted_t f = replay_check("stall-lossless", cfg, extra, 10, true, &st, &err);
    T.health_ok = false;
    assert_true(at_jint(st, "rx.held") > 0); /* the channels did fill: RX held, not dropped */
    expect_fired(err, "feed10", "stall", 1);
    json_t *fs = feed_stats(st, 10);
    assert_int_equal(line_int(fs, "A", "channel_full"), 0);
    assert_int_equal(line_int(fs, "B", "channel_full"), 0);
    assert_int_equal(at_jint(fs, "restarts"), 0);
    assert_int_equal(f.ngaps, 0);
    assert_int_equal(f.tail, 0);
    assert_int_equal(f.published, T.f[10].messages); /* every message, once, in order */
    assert_int_equal(at_jint(st, "accounting.dropped"), 0);
    assert_true(json_is_true(json_object_get(json_object_get(st, "accounting"), "holds")));
    json_decref(st);
    free(err);
}

/* (c) a slow handler: its own lines may drop (counted), the others lose nothing */
static void test_slow(void **state)
{
    (void)state;
    at_need_gen();
    char cfg[600];
    write_config("slow", 10, "faults:\n  - {feed: feed33, kind: slow, slow_ns: 500000}\n", cfg,
                 sizeof(cfg));
    json_t *st;
    char *err;
    faulted_t f = replay_check("slow", cfg, NULL, 33, true, &st, &err);
    json_t *fs = feed_stats(st, 33);
    /* every packet it took was slowed: what its lines handed over, less the copies the
       RX lcore dropped for it (copies_on_rx), which it never read */
    json_int_t handled = line_int(fs, "A", "handled") + line_int(fs, "B", "handled");
    json_int_t copies = line_int(fs, "A", "copies_on_rx") + line_int(fs, "B", "copies_on_rx");
    assert_true(copies > 0 && copies < handled);
    expect_fired(err, "feed33", "slow", (unsigned long)(handled - copies));
    assert_int_equal(at_jint(fs, "restarts"), 0);
    assert_int_equal(f.discarded, 0);
    json_decref(st);
    free(err);
}

/* The summary line of mdmux-sub: records, lost, breaches, and (at its end) start: the
   records published before its first. */
static void sub_summary(const char *path, unsigned long long *got, unsigned long long *lost,
                        unsigned long long *breaches, unsigned long long *from)
{
    char *s = at_slurp(path);
    assert_non_null(s);
    const char *p = strstr(s, "mdmux-sub: records ");
    const char *st = p ? strstr(p, " start ") : NULL;
    if (p == NULL || st == NULL ||
        sscanf(p, "mdmux-sub: records %llu lost %llu laps %*u breaches %llu", got, lost,
               breaches) != 3 ||
        sscanf(st, " start %llu", from) != 1)
        fail_msg("no summary in %s:\n%s", path, s);
    free(s);
}

/* Run with the shm ring at @p shm (1024 slots); the stats. */
static json_t *replay_shm(const char *name, const char *shm)
{
    char cfg[600], stats[600];
    write_config(name, 10, "outputs:\n  shm: {slots: 1024}\n", cfg, sizeof(cfg));
    snprintf(stats, sizeof(stats), "%s/%s.stats.json", T.dir, name);
    const char *args[] = {"replay", T.pcap,          "-c", cfg, "--shm", shm, "--stats-json",
                          stats,    "--no-progress", NULL};
    at_result_t r;
    at_mdmux_ok(args, &r);
    at_result_free(&r);
    at_check_truth(stats, T.truth, true);
    return at_json(stats);
}

/* Nothing upstream of the publisher ever waited: no drop, no record-pool wait. */
static void never_waited(json_t *st)
{
    for (unsigned i = 0; i < NFEEDS; i++) {
        json_t *f = feed_stats(st, i);
        assert_int_equal(line_int(f, "A", "channel_full"), 0);
        assert_int_equal(line_int(f, "B", "channel_full"), 0);
        assert_int_equal(at_jint(f, "pool_waits"), 0);
    }
}

/* (d) a slow shared-memory subscriber never slows the publisher */
static void test_slow_subscriber(void **state)
{
    (void)state;
    at_need_gen();
    char shm0[128], shm1[128], errf[600];
    snprintf(shm0, sizeof(shm0), "/dev/shm/mdmux-test-faults-%d-0", (int)getpid());
    snprintf(shm1, sizeof(shm1), "/dev/shm/mdmux-test-faults-%d-1", (int)getpid());
    /* every message plus one end_of_session per feed */
    json_int_t expect = (json_int_t)T.messages + NFEEDS;

    json_t *alone = replay_shm("shm-alone", shm0);
    assert_int_equal(at_jint(alone, "outputs.published"), expect);
    never_waited(alone);

    /* 100 us per record: at most 10000 records/s, far behind the publisher */
    char *sargv[] = {(char *)MDMUX_SUB_BIN,   shm1,
                     (char *)"--count",       (char *)"--check",
                     (char *)"--from-oldest", (char *)"--wait-ms",
                     (char *)"60000",         (char *)"--slow-ns",
                     (char *)"100000",        NULL};
    pid_t sub = at_start(sargv, T.dir, "sub");
    assert_true(sub > 0);
    json_t *with = replay_shm("shm-sub", shm1);
    int rc = at_wait(sub, 60);
    snprintf(errf, sizeof(errf), "%s/sub.err", T.dir);
    unsigned long long got, lost, breaches, from;
    sub_summary(errf, &got, &lost, &breaches, &from);
    assert_int_equal(rc, 0);
    /* the publisher: the same records as alone, and it never waited */
    assert_int_equal(at_jint(with, "outputs.published"), expect);
    never_waited(with);
    /* the subscriber: lapped, its loss exact */
    assert_int_equal(breaches, 0);
    assert_true(lost > 0);
    assert_int_equal(from + got + lost, (unsigned long long)expect);
    print_message("slow subscriber: %llu records read, %llu lost (lapped), from %llu; the "
                  "publisher published %ld, as alone\n",
                  got, lost, from, (long)expect);
    json_decref(alone);
    json_decref(with);
    unlink(shm0);
    unlink(shm1);
}

/* check-config on the generator's configuration plus @p extra: fails with @p want. */
static void bad_config(const char *extra, const char *want)
{
    char path[600];
    size_t cap = strlen(T.yaml) + strlen(extra) + 1;
    char *y = malloc(cap);
    snprintf(y, cap, "%s%s", T.yaml, extra);
    snprintf(path, sizeof(path), "%s/bad.yaml", T.dir);
    at_write(path, y);
    free(y);
    char *argv[] = {(char *)MDMUX_BIN, (char *)"check-config", path, NULL};
    at_result_t r;
    int rc = at_run(argv, AT_TIMEOUT_S, &r);
    if (rc != 2)
        fail_msg("check-config: status %d for:\n%s\n%s", rc, extra, r.err);
    at_contains(r.err, want);
    at_result_free(&r);
}

/* Line number (1-based) the generator's configuration plus @p n more lines ends at. */
static unsigned line_after(unsigned n)
{
    unsigned lines = 0;
    for (const char *p = T.yaml; *p; p++)
        lines += *p == '\n';
    return lines + n;
}

static void test_config_errors(void **state)
{
    (void)state;
    at_need_gen();
    char want[256];
    snprintf(want, sizeof(want), "bad.yaml:%u:5: faults[0].feed: 'nofeed': no such feed",
             line_after(2));
    bad_config("faults:\n  - feed: nofeed\n    kind: panic\n", want);
    snprintf(want, sizeof(want),
             "bad.yaml:%u:5: faults[0].kind: 'crash': expected panic, stall "
             "or slow",
             line_after(3));
    bad_config("faults:\n  - feed: feed01\n    kind: crash\n", want);
    bad_config("faults:\n  - {feed: feed01, kind: panic, stall_ms: 5}\n",
               "faults[0].stall_ms: applies to kind stall only");
    bad_config("faults:\n  - {feed: feed01, kind: stall, slow_ns: 5}\n",
               "faults[0].slow_ns: applies to kind slow only");
    bad_config("faults:\n  - {feed: feed01, kind: slow, count: 2}\n", "faults[0].count: applies");
    bad_config("faults:\n  - {feed: feed01, kind: panic, count: 0}\n",
               "faults[0].count: expected at least 1");
    bad_config("faults:\n  - {feed: feed01, kind: panic}\n  - {feed: feed01, kind: slow}\n",
               "faults[1].feed: 'feed01' already has a fault (faults[0], line");
    bad_config("faults:\n  - {feed: feed01, kind: panic, bogus: 1}\n",
               "faults[0].bogus: unknown key 'bogus'");
    bad_config("faults:\n  - {kind: panic}\n", "missing required field 'feed'");
    bad_config("feed_defaults:\n  restart: {max_restarts: 33}\n",
               "feed_defaults.restart.max_restarts: 33: expected 1 to 32");
    bad_config("feed_defaults:\n  restart: {max_restarts: 0}\n",
               "feed_defaults.restart.max_restarts: 0: expected 1 to 32");
    bad_config("feed_defaults:\n  restart: {backoff_ms: 50, backoff_max_ms: 10}\n",
               "feed_defaults.restart.backoff_max_ms: backoff_max_ms 10 is below backoff_ms 50");
    bad_config("feed_defaults:\n  restart: {window_ms: 0}\n",
               "feed_defaults.restart.window_ms: 0: expected 1 to 86400000 milliseconds");
    bad_config("feed_defaults:\n  restart: {tries: 3}\n",
               "feed_defaults.restart.tries: unknown key 'tries'");
    /* and a good one */
    char path[600];
    size_t cap = strlen(T.yaml) + 512;
    char *y = malloc(cap);
    snprintf(y, cap,
             "%sfeed_defaults:\n  restart: {backoff_ms: 2, backoff_max_ms: 50, max_restarts: 32, "
             "window_ms: 1000}\nfaults:\n  - {feed: feed01, kind: stall, after_packets: 9, "
             "count: 2, stall_ms: 10}\n  - {feed: feed02, kind: slow, slow_ns: 1}\n",
             T.yaml);
    snprintf(path, sizeof(path), "%s/good.yaml", T.dir);
    at_write(path, y);
    free(y);
    char *argv[] = {(char *)MDMUX_BIN, (char *)"check-config", path, NULL};
    at_result_t r;
    if (at_run(argv, AT_TIMEOUT_S, &r) != 0)
        fail_msg("check-config good.yaml: %s", r.err);
    at_result_free(&r);
}

/* --fault errors: exit 2 before anything starts. */
static void bad_cli(const char *spec, const char *want)
{
    char *argv[] = {(char *)MDMUX_BIN,
                    (char *)"replay",
                    T.pcap,
                    (char *)"--fault",
                    (char *)spec,
                    (char *)"--no-progress",
                    (char *)"--",
                    (char *)at_file_prefix(),
                    NULL};
    at_result_t r;
    int rc = at_run(argv, AT_TIMEOUT_S, &r);
    if (rc != 2)
        fail_msg("--fault %s: status %d\n%s", spec, rc, r.err);
    at_contains(r.err, want);
    at_result_free(&r);
}

static void test_cli_errors(void **state)
{
    (void)state;
    at_need_gen();
    bad_cli("feed=nofeed,kind=panic", "--fault 'feed=nofeed,kind=panic': no feed named 'nofeed'");
    bad_cli("feed=feed01,kind=boom", "kind 'boom': expected panic, stall or slow");
    bad_cli("feed=feed01", "needs feed=NAME and kind=panic|stall|slow");
    bad_cli("feed=feed01,kind=slow,count=2", "count: applies");
    bad_cli("feed=feed01,kind=panic,ms=5", "ms: applies to kind stall only");
    bad_cli("feed=feed01,kind=stall,after=x", "after 'x': expected a whole number");
    bad_cli("feed=feed01,kind=stall,when=3", "unknown key 'when'");
    bad_cli("feed01", "'feed01': expected KEY=VALUE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_cli_errors),
        cmocka_unit_test(test_panic_once),
        cmocka_unit_test(test_panic_three_cli),
        cmocka_unit_test(test_panic_past_budget),
        cmocka_unit_test(test_stall),
        cmocka_unit_test(test_stall_copies_on_rx),
        cmocka_unit_test(test_stall_lossless),
        cmocka_unit_test(test_slow),
        cmocka_unit_test(test_slow_subscriber),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
