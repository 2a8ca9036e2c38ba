/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The whole pipeline end to end: generated captures with every impairment go through
 * `mdmux replay --dump`, and the merged stream is compared with what the generator
 * sent (OUT.messages.jsonl) and lost (OUT.truth.json):
 *
 *   - every sent message outside lost_both is published exactly once, with the same
 *     type, locate, tracking, timestamp and body fields;
 *   - none inside lost_both is (no re-request server here);
 *   - each feed's messages outside its gap ranges come in strictly increasing feed_seq;
 *   - the gap events are exactly the lost_both ranges (adjacent ranges merged).
 *
 * Also: the no-configuration replay of the real conformance captures, the --report
 * directory, and the pcap / multicast / shm outputs.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "apptest.h"
#include "truth.h"

/* The dump's gap fill events, beside what tr_t counts. */
typedef struct exp {
    tr_t tr;
    uint64_t filled, final; /* gap_filled / gap_final events */
} exp_t;

static void on_event(void *arg, unsigned feed, const char *ev, json_t *rec)
{
    exp_t *e = arg;
    (void)feed;
    (void)rec;
    e->filled += strcmp(ev, "gap_filled") == 0;
    e->final += strcmp(ev, "gap_final") == 0;
}

/* Exactly once outside lost_both, never inside; gap events = lost_both (without a
   re-request server; with one, @p rereq, every gap is filled instead). */
static void check_feed(const tr_feed_t *x, bool rereq)
{
    uint64_t missing = 0, extra = 0;
    for (uint64_t s = 1; s <= x->last; s++) {
        bool lost = tr_in_ranges((uint64_t(*)[2])x->lost, x->nlost, s);
        missing += !lost && x->sent[s] && !x->seen[s];
        extra += lost && x->seen[s];
    }
    if (missing || extra)
        fail_msg("%s: %lu sent messages never published, %lu lost_both messages published", x->name,
                 (unsigned long)missing, (unsigned long)extra);
    if (!rereq)
        tr_check_gaps(x);
}

/* Remove every occurrence of @p what from @p s, in place. */
static void cut_all(char *s, const char *what)
{
    size_t n = strlen(what);
    for (char *p; (p = strstr(s, what)) != NULL;)
        memmove(p, p + n, strlen(p + n) + 1);
}

/*
 * The arbiter settings of the tests. The feed's gap timers run on RX time
 * (docs/feed.md, "Clocks"), so a handler that falls behind cannot turn a backlog into
 * a gap, and the default gap_wait (1 ms) passes here in a normal build. What RX time
 * cannot see is a late stamp: at --speed max on one lcore the replay stamps a burst
 * when the RX coroutine gets to run, and under ASan on a loaded machine the other
 * coroutines (handlers, mux, dump writer) delay it by milliseconds, so a B copy 20 us
 * behind A in the capture can be stamped > 1 ms later: a gap, then its fill (no loss,
 * but the test wants gap events = lost_both). 50 ms covers that with a wide margin
 * (the old workaround was 5 s of handler time). The window only has to cover the A/B
 * skew at the generator's burst rate (128 does, tests/feed/test_gen.c; mdmux's
 * default 64 does not).
 */
#define E2E_ARB "feed_defaults: {gap_wait_us: 50000, window: 256}"

/*
 * Generate DIR/NAME with @p gen and make its configuration lossless and deterministic:
 * E2E_ARB, and either one lcore (RX never outruns the handlers) or, with
 * @p two_lcores, feed handlers on lcores 0 and 1 (the mux on 0, so half the feeds
 * reach it over SPSC channels) with RX on lcore 1. @p extra_yaml is appended.
 */
static void gen_capture2(const char *dir, const char *name, const char *const *gen,
                         const char *extra_yaml, bool two_lcores)
{
    char path[512];
    at_gen(dir, name, gen);
    snprintf(path, sizeof(path), "%s/%s.yaml", dir, name);
    char *y = at_slurp(path);
    assert_non_null(y);
    size_t cap = strlen(y) + 512 + (extra_yaml ? strlen(extra_yaml) : 0);
    char *out = malloc(cap);
    if (two_lcores) {
        /* the generator's layout: everything on lcore 0; paced, so RX cannot outrun */
        static const char layout[] = "cores:\n  control: 0\n  handlers: [0]\n";
        assert_non_null(strstr(y, layout));
        cut_all(y, layout);
        cut_all(y, "    handler: 0\n");
        char *sp = strstr(y, "  speed: max\n");
        assert_non_null(sp);
        memcpy(sp, "  speed: 1  \n", 13);
        /* twice a line's packets: lcore 1 may be off its CPU for a while on a loaded
           2-core machine, and what this test checks is exactness, not capacity */
        char *sl = strstr(y, "  slots: 1024\n");
        assert_non_null(sl);
        memcpy(sl, "  slots: 2048\n", 14);
    }
    snprintf(out, cap, "%s%s\n" E2E_ARB "\n%s", y,
             two_lcores ? "eal:\n  lcores: \"0-1\"\ncores: {control: 0, handlers: [0, 1]}"
                        : "eal:\n  lcores: \"0\"",
             extra_yaml ? extra_yaml : "");
    at_write(path, out);
    free(out);
    free(y);
}

static void gen_capture(const char *dir, const char *name, const char *const *gen,
                        const char *extra_yaml)
{
    gen_capture2(dir, name, gen, extra_yaml, false);
}

/*
 * Replay DIR/NAME with --dump and check the dump against the generator's files
 * (DIR/TRUTH.truth.json and .messages.jsonl; TRUTH is NAME unless the capture was
 * filtered from another). @p rereq: a re-request server fills every gap.
 */
static void replay_and_compare2(const char *dir, const char *name, const char *tname, bool rereq)
{
    char pcap[512], dump[512], stats[512], truth[512], msgs[512];
    snprintf(pcap, sizeof(pcap), "%s/%s.pcap", dir, name);
    snprintf(dump, sizeof(dump), "%s/%s.jsonl", dir, name);
    snprintf(stats, sizeof(stats), "%s/%s.stats.json", dir, name);
    snprintf(truth, sizeof(truth), "%s/%s.truth.json", dir, tname);
    snprintf(msgs, sizeof(msgs), "%s/%s.messages.jsonl", dir, tname);
    const char *args[] = {"replay",       pcap,  "--dump",        dump,
                          "--stats-json", stats, "--no-progress", NULL};
    at_result_t r;
    at_mdmux_ok(args, &r);
    at_contains(r.out, "packets A");
    at_contains(r.out, "latency per stage");
    at_result_free(&r);
    if (!rereq)
        at_check_truth(stats, truth, true);

    exp_t *e = calloc(1, sizeof(*e));
    tr_load_truth(&e->tr, truth);
    tr_load_sent(&e->tr, msgs);
    tr_read_dump(&e->tr, dump, on_event, e);
    uint64_t gaps = 0;
    for (unsigned i = 0; i < e->tr.n; i++) {
        check_feed(&e->tr.f[i], rereq);
        gaps += e->tr.f[i].ngaps;
    }
    json_t *st = at_json(stats);
    assert_int_equal(at_jint(st, "outputs.published"), e->tr.published);
    json_decref(st);
    if (rereq && (gaps == 0 || e->final != 0 || e->filled < gaps))
        fail_msg("%s: %lu gaps, %lu filled, %lu final: the server should fill every gap", name,
                 (unsigned long)gaps, (unsigned long)e->filled, (unsigned long)e->final);
    print_message("%s: %u feeds, %lu records (%lu events), %lu gaps, all as sent\n", name, e->tr.n,
                  (unsigned long)e->tr.published, (unsigned long)e->tr.events, (unsigned long)gaps);
    tr_free(&e->tr);
    free(e);
}

static void replay_and_compare(const char *dir, const char *name)
{
    replay_and_compare2(dir, name, name, false);
}

/* Every impairment the generator has, on 4 feeds. */
static const char *const every_impairment[] = {"--feeds",   "4",           "--duration-ms",
                                               "80",        "--seed",      "3",
                                               "--loss-a",  "0.01",        "--loss-b",
                                               "0.01",      "--loss-both", "0.005",
                                               "--reorder", "0.01",        "--dup",
                                               "0.01",      "--truncate",  "0.005",
                                               "--corrupt", "0.005",       "--corrupt-payload",
                                               "0.005",     "--zero-udp",  "0.005",
                                               "--unknown", "0.005",       "--noise",
                                               "0.005",     NULL};

static void expect_filtered(const char *dir, const char *name, bool on_rx);

/* The default: the RX lcore drops the A/B copies (copies_on_rx). */
static void test_every_impairment(void **state)
{
    at_need_gen();
    gen_capture(*state, "imp", every_impairment, NULL);
    replay_and_compare(*state, "imp");
    expect_filtered(*state, "imp", true);
}

/* Feed handlers on two lcores, at recorded pace: half of the feeds reach the mux over
   SPSC channels. Lcore 1 is set up 200 ms late (a test knob of app/run.c), longer
   than the whole capture: RX must wait at the start gate (start_ms), or the capture
   would be sent before lcore 1's handlers exist. */
static void test_two_handler_lcores(void **state)
{
    at_need_gen();
    static const char *const gen[] = {
        "--feeds",  "6",    "--duration-ms", "60",   "--seed",      "21",
        "--loss-a", "0.01", "--loss-b",      "0.01", "--loss-both", "0.005",
        "--dup",    "0.01", "--reorder",     "0.01", NULL};
    gen_capture2(*state, "two", gen, NULL, true);
    setenv("MDMUX_TEST_ARM_DELAY_MS", "200", 1);
    replay_and_compare(*state, "two");
    unsetenv("MDMUX_TEST_ARM_DELAY_MS");
    char stats[512];
    snprintf(stats, sizeof(stats), "%s/two.stats.json", (const char *)*state);
    json_t *st = at_json(stats);
    double start_ms = json_real_value(json_object_get(st, "start_ms"));
    /* every lcore's scheduler usage: the handler lcores idle between paced packets */
    json_t *lcs = json_object_get(st, "lcores");
    unsigned handler_lcores = 0, rx_lcores = 0, handlers_idle = 0;
    for (size_t i = 0; i < json_array_size(lcs); i++) {
        json_t *x = json_array_get(lcs, i);
        const char *roles = json_string_value(json_object_get(x, "roles"));
        double busy = json_real_value(json_object_get(x, "busy_pct"));
        double busy_s = json_real_value(json_object_get(x, "busy_s"));
        double run_s = json_real_value(json_object_get(x, "run_s"));
        json_int_t passes = json_integer_value(json_object_get(x, "passes"));
        json_int_t idle = json_integer_value(json_object_get(x, "idle_passes"));
        if (roles == NULL || run_s <= 0 || busy_s > run_s || idle > passes)
            fail_msg("lcores[%zu]: roles %s run %.3f s busy %.3f s passes %lld idle %lld", i,
                     roles ? roles : "(none)", run_s, busy_s, (long long)passes, (long long)idle);
        json_t *rx = json_object_get(x, "rx");
        if (strstr(roles, "rx")) {
            /* the poller's own figure: at recorded pace most of its polls find nothing */
            double rb = json_real_value(json_object_get(rx, "busy_pct"));
            double rb_s = json_real_value(json_object_get(rx, "busy_s"));
            double rr_s = json_real_value(json_object_get(rx, "run_s"));
            rx_lcores++;
            if (rx == NULL || !(rb > 0 && rb < 100) || rb_s > rr_s || rr_s <= 0 || rr_s > run_s)
                fail_msg("RX lcore %zu: polls with packets %.1f %% (%.3f of %.3f s, lcore %.3f s)",
                         i, rb, rb_s, rr_s, run_s);
        } else if (rx != NULL) {
            fail_msg("lcore %zu (%s) has an RX figure", i, roles);
        }
        if (strstr(roles, "handlers")) {
            handler_lcores++;
            if (!(busy > 0 && busy <= 100))
                fail_msg("handler lcore %zu: busy %.1f %%", i, busy);
            /* Paced, a handler lcore idles between packets. Lcore 1 also runs the RX
               poller, which never parks (its own figure is "rx" above): its idle passes
               come only before the start gate and after RX ends, and on a loaded
               machine there were none (0 idle of 9641, once). Lcore 0 must show its
               idle time. */
            if (busy < 100 && idle > 0)
                handlers_idle++;
            else
                print_message("handler lcore %zu: busy %.1f %%, %lld idle passes of %lld\n", i,
                              busy, (long long)idle, (long long)passes);
        }
    }
    json_decref(st);
    if (handler_lcores != 2 || rx_lcores != 1)
        fail_msg("%u lcores with handlers and %u with RX in the stats JSON, not 2 and 1",
                 handler_lcores, rx_lcores);
    if (handlers_idle == 0)
        fail_msg("neither handler lcore idled between paced packets");
    if (start_ms < 200)
        fail_msg("the start gate opened %.1f ms after launch, before lcore 1 was set up", start_ms);
}

/* replay.lossless on two handler lcores at top speed, through 8-slot channels: RX
   outruns lcore 1 all the time, and every packet still reaches its handler (no
   channel_full on any line: at_check_truth's lossless check), every message once. */
static void test_two_lcores_lossless_at_top_speed(void **state)
{
    at_need_gen();
    static const char *const gen[] = {
        "--feeds",     "6",     "--duration-ms", "60",   "--seed", "23",
        "--loss-both", "0.005", "--reorder",     "0.01", NULL};
    gen_capture2(*state, "tight", gen, NULL, true);
    char path[512];
    snprintf(path, sizeof(path), "%s/tight.yaml", (const char *)*state);
    at_edit(path, "  speed: 1  \n", "  speed: max\n  lossless: true\n");
    at_edit(path, "  slots: 2048\n", "  slots: 8\n");
    replay_and_compare(*state, "tight");
    expect_filtered(*state, "tight", true);
}

/*
 * feed_defaults.copies_on_rx: false: the feed handlers drop the A/B copies instead of
 * the RX lcore (the default). The stream must be the same (every message once, gaps
 * exactly where both lines lost) and the accounting hold, with every copy counted
 * either way (rx.filtered, and as the lines' duplicates), on one lcore, on two
 * handler lcores at recorded pace, and at top speed through 8-slot lossless channels
 * (RX holds instead of dropping).
 */
static void copies_in_handler(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.yaml", dir, name);
    at_edit(path, E2E_ARB, "feed_defaults: {gap_wait_us: 50000, window: 256, copies_on_rx: false}");
}

/* The RX lcores dropped copies (rx.filtered, at most the duplicates) exactly when they
   were meant to. */
static void expect_filtered(const char *dir, const char *name, bool on_rx)
{
    char stats[512];
    snprintf(stats, sizeof(stats), "%s/%s.stats.json", dir, name);
    json_t *st = at_json(stats);
    json_int_t filtered = at_jint(st, "rx.filtered");
    json_int_t dups = at_sum_lines(st, "duplicates");
    json_int_t rx_copies = at_sum_lines(st, "copies_on_rx");
    json_t *on = json_object_get(json_object_get(st, "rx"), "copies_on_rx");
    if (!json_is_boolean(on) || json_is_true(on) != on_rx)
        fail_msg("%s: rx.copies_on_rx is not %s", name, on_rx ? "true" : "false");
    print_message("%s: %lld copies dropped on RX, %lld duplicates in all\n", name,
                  (long long)filtered, (long long)dups);
    if (on_rx ? filtered <= 0 || filtered > dups : filtered != 0)
        fail_msg("%s: rx.filtered %lld, duplicates %lld", name, (long long)filtered,
                 (long long)dups);
    if (rx_copies != filtered) /* the lines' share of them adds up to the RX total */
        fail_msg("%s: lines' copies_on_rx %lld, rx.filtered %lld", name, (long long)rx_copies,
                 (long long)filtered);
    json_decref(st);
}

/* Turn the filter off in DIR/NAME.yaml, replay, compare with the truth, and check no
   copy was dropped on RX. */
static void replay_and_compare_in_handler(const char *dir, const char *name)
{
    copies_in_handler(dir, name);
    replay_and_compare(dir, name);
    expect_filtered(dir, name, false);
}

static void test_every_impairment_copies_in_handler(void **state)
{
    at_need_gen();
    gen_capture(*state, "imph", every_impairment, NULL);
    replay_and_compare_in_handler(*state, "imph");
}

static void test_two_handler_lcores_copies_in_handler(void **state)
{
    at_need_gen();
    static const char *const gen[] = {
        "--feeds",  "6",    "--duration-ms", "60",   "--seed",      "22",
        "--loss-a", "0.01", "--loss-b",      "0.01", "--loss-both", "0.005",
        "--dup",    "0.01", "--reorder",     "0.01", NULL};
    gen_capture2(*state, "twoh", gen, NULL, true);
    replay_and_compare_in_handler(*state, "twoh");
}

static void test_lossless_top_speed_copies_in_handler(void **state)
{
    at_need_gen();
    static const char *const gen[] = {
        "--feeds",  "6",    "--duration-ms", "60",    "--seed",    "24",   "--loss-a", "0.01",
        "--loss-b", "0.01", "--loss-both",   "0.005", "--reorder", "0.01", NULL};
    gen_capture2(*state, "tighth", gen, NULL, true);
    char path[512];
    snprintf(path, sizeof(path), "%s/tighth.yaml", (const char *)*state);
    at_edit(path, "  speed: 1  \n", "  speed: max\n  lossless: true\n");
    at_edit(path, "  slots: 2048\n", "  slots: 8\n");
    replay_and_compare_in_handler(*state, "tighth");
}

static void test_vlan_heavy_loss(void **state)
{
    at_need_gen();
    static const char *const gen[] = {
        "--feeds",     "3",    "--duration-ms", "50",   "--seed",   "11",
        "--vlan",      "7",    "--loss-a",      "0.05", "--loss-b", "0.05",
        "--loss-both", "0.02", "--reorder",     "0.03", NULL};
    gen_capture(*state, "vlan", gen, NULL);
    replay_and_compare(*state, "vlan");
}

/*
 * Copy capture @p src to @p dst without the data packets (on both lines) whose first
 * sequence number is a multiple of @p every (beyond 200, after the opening): gaps only
 * a re-request can fill. Generator frames: Ethernet, IPv4 (20 bytes), UDP, MoldUDP64.
 */
static unsigned drop_packets(const char *src, const char *dst, unsigned every)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    uint8_t hdr[24], rh[16], fr[65536];
    unsigned dropped = 0;
    assert_int_equal(fread(hdr, 1, 24, in), 24);
    fwrite(hdr, 1, 24, out);
    while (fread(rh, 1, 16, in) == 16) {
        uint32_t cl = (uint32_t)rh[8] | (uint32_t)rh[9] << 8 | (uint32_t)rh[10] << 16 |
                      (uint32_t)rh[11] << 24;
        assert_true(cl <= sizeof(fr));
        assert_int_equal(fread(fr, 1, cl, in), cl);
        if (cl >= 62 && fr[12] == 0x08 && fr[13] == 0 && fr[23] == 17) {
            uint64_t seq = 0;
            for (unsigned i = 0; i < 8; i++)
                seq = seq << 8 | fr[52 + i];
            unsigned cnt = (unsigned)fr[60] << 8 | fr[61];
            if (cnt > 0 && cnt < 0xffff && seq > 200 && seq % every == 0) {
                dropped++;
                continue;
            }
        }
        fwrite(rh, 1, 16, out);
        fwrite(fr, 1, cl, out);
    }
    fclose(in);
    fclose(out);
    return dropped;
}

/* Wait until @p path holds @p needle (a child's output file). */
static bool wait_for(const char *path, const char *needle, unsigned seconds)
{
    for (unsigned i = 0; i < seconds * 10; i++) {
        char *s = at_slurp(path);
        bool ok = s && strstr(s, needle);
        free(s);
        if (ok)
            return true;
        usleep(100 * 1000);
    }
    return false;
}

/* Gaps on both lines, filled by mdmux-rereq over net_memif (a second process). */
static void test_rereq_fills_gaps(void **state)
{
    at_need_gen();
    if (MDMUX_REREQ_BIN[0] == '\0') {
        print_message("mdmux-rereq not built (tools/rereq): skipped\n");
        skip();
    }
    const char *dir = *state;
    char full[512], filt[512], sock[512], dev[600], extra[1024], srv_out[600];
    static const char *const gen[] = {"--feeds", "2", "--duration-ms", "40", "--clean", "--seed",
                                      "5",       NULL};
    snprintf(sock, sizeof(sock), "%s/rereq.sock", dir);
    snprintf(extra, sizeof(extra),
             "rereq:\n  device: \"net_memif0,role=client,socket=%s\"\n"
             "  server: \"10.0.0.100:9000\"\n  source: \"10.0.0.2:42000\"\n"
             "  retry_us: 100000\n  max_retries: 20\n  max_outstanding: 64\n"
             "  rate_per_s: 100000\n",
             sock);
    gen_capture(dir, "full", gen, NULL);
    snprintf(full, sizeof(full), "%s/full.pcap", dir);
    snprintf(filt, sizeof(filt), "%s/filt.pcap", dir);
    unsigned dropped = drop_packets(full, filt, 37);
    assert_true(dropped > 10);
    /* the filtered capture's configuration: the full one's, plus the server */
    char y[512];
    snprintf(y, sizeof(y), "%s/full.yaml", dir);
    char *base = at_slurp(y);
    size_t cap = strlen(base) + strlen(extra) + 64;
    char *cfg = malloc(cap);
    /* the same arbiter settings (the server is asked while RX still runs) */
    snprintf(cfg, cap, "%s%s", base, extra);
    /* feed01 asks a server of its own (the test server answers any address) */
    char *f1 = strstr(cfg, "  - name: feed01\n");
    assert_non_null(f1);
    static const char own[] = "    rereq_server: \"10.0.0.101:9001\"\n";
    size_t at = (size_t)(f1 - cfg) + strlen("  - name: feed01\n");
    char *cfg2 = malloc(strlen(cfg) + sizeof(own));
    memcpy(cfg2, cfg, at);
    strcpy(cfg2 + at, own);
    strcat(cfg2, cfg + at);
    free(cfg);
    cfg = cfg2;
    snprintf(y, sizeof(y), "%s/filt.yaml", dir);
    at_write(y, cfg);
    free(cfg);
    free(base);

    snprintf(dev, sizeof(dev), "net_memif0,role=server,socket=%s", sock);
    char *sargv[] = {(char *)MDMUX_REREQ_BIN,
                     (char *)"--capture",
                     full,
                     (char *)"--port",
                     dev,
                     (char *)"--idle-exit-ms",
                     (char *)"60000",
                     (char *)"--",
                     (char *)at_file_prefix(),
                     NULL};
    pid_t srv = at_start(sargv, dir, "rereq");
    assert_true(srv > 0);
    snprintf(srv_out, sizeof(srv_out), "%s/rereq.out", dir);
    if (!wait_for(srv_out, "serving on port", 30)) {
        kill(srv, SIGKILL);
        at_wait(srv, 10);
        fail_msg("mdmux-rereq did not start");
    }
    replay_and_compare2(dir, "filt", "full", true);
    kill(srv, SIGTERM);
    at_wait(srv, 30);
    print_message("%u packets dropped on both lines, every gap filled by re-requests\n", dropped);
}

/* --report DIR and the pcap / multicast / shm outputs, counted against each other. */
static void test_outputs_and_report(void **state)
{
    at_need_gen();
    const char *dir = *state;
    char extra[1024], pcap[512], rep[512], path[600], shm[256];
    snprintf(shm, sizeof(shm), "/dev/shm/mdmux-test-%d", (int)getpid());
    snprintf(extra, sizeof(extra),
             "outputs:\n  shm: {path: %s, slots: 1024, mode: \"0600\"}\n  pcap: %s/merged.pcap\n"
             "  multicast: {device: \"net_null_tx0\", group: \"239.255.1.2:6000\", mtu: 1500}\n",
             shm, dir);
    static const char *const gen[] = {"--feeds", "2", "--duration-ms", "30", NULL};
    gen_capture(dir, "out", gen, extra);
    snprintf(pcap, sizeof(pcap), "%s/out.pcap", dir);
    snprintf(rep, sizeof(rep), "%s/report", dir);
    const char *args[] = {"replay", pcap, "--report", rep, "--no-progress", NULL};
    at_result_t r;
    at_mdmux_ok(args, &r);
    at_contains(r.out, "summary.txt");
    at_result_free(&r);

    snprintf(path, sizeof(path), "%s/summary.txt", rep);
    char *sum = at_slurp(path);
    assert_non_null(sum);
    at_contains(sum, "packets A");
    at_contains(sum, "rx_to_publish");
    free(sum);
    snprintf(path, sizeof(path), "%s/stats.json", rep);
    json_t *st = at_json(path);
    json_int_t dgrams = at_jint(st, "outputs.datagrams");
    assert_true(dgrams > 0);
    assert_int_equal(at_jint(st, "outputs.pcap.datagrams"), dgrams);
    assert_int_equal(at_jint(st, "outputs.multicast.sent"), dgrams);
    assert_true(at_jint(st, "latency.overall.rx_to_publish.count") > 0);
    json_decref(st);
    struct stat sb;
    assert_int_equal(stat(shm, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    unlink(shm);
}

/* Real captures with no configuration: each UDP destination becomes a feed. */
static void test_conformance_auto_feeds(void **state)
{
    const char *dir = *state, *cdir = MDMUX_SRC_DIR "/../shared/conformance/nasdaq-itch50";
    char exp[512];
    snprintf(exp, sizeof(exp), "%s/expected.jsonl", cdir);
    char *expected = at_slurp(exp);
    DIR *d = opendir(cdir);
    if (d == NULL || expected == NULL) {
        print_message("%s absent: skipped\n", cdir);
        if (d)
            closedir(d);
        free(expected);
        skip();
    }
    struct dirent *de;
    unsigned files = 0, replayed = 0;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 5, ".pcap") != 0)
            continue;
        char pcap[1024], dump[512], key[600];
        snprintf(pcap, sizeof(pcap), "%s/%s", cdir, de->d_name);
        snprintf(dump, sizeof(dump), "%s/conf.jsonl", dir);
        snprintf(key, sizeof(key), "\"file\": \"%s\"", de->d_name);
        unsigned want = 0;
        for (const char *p = expected; (p = strstr(p, key)) != NULL; p += strlen(key))
            want++;
        char *argv[] = {(char *)MDMUX_BIN,
                        (char *)"replay",
                        pcap,
                        (char *)"--dump",
                        dump,
                        (char *)"--no-progress",
                        (char *)"--",
                        (char *)at_file_prefix(),
                        NULL};
        at_result_t r;
        int rc = at_run(argv, AT_TIMEOUT_S, &r);
        files++;
        if (rc != 0 && strstr(r.err, "no valid UDP datagram") != NULL) {
            /* anonymised captures (addresses, ports and checksums zeroed): the
               classifier rightly rejects every frame (proto_conformance decodes them) */
            at_result_free(&r);
            continue;
        }
        if (rc != 0)
            fail_msg("%s: status %d\n%s", de->d_name, rc, r.err);
        at_contains(r.err, "single-line feeds");
        at_result_free(&r);
        char *out = at_slurp(dump);
        unsigned got = 0;
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
            got += strstr(line, "\"event\"") == NULL;
        free(out);
        if (got != want)
            fail_msg("%s: %u messages published, expected.jsonl has %u", de->d_name, got, want);
        replayed++;
    }
    closedir(d);
    free(expected);
    print_message("%u conformance captures, %u replayed with automatic feeds\n", files, replayed);
    assert_true(replayed > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_impairment, at_dir_setup, at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_vlan_heavy_loss, at_dir_setup, at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_every_impairment_copies_in_handler, at_dir_setup,
                                        at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_two_handler_lcores_copies_in_handler, at_dir_setup,
                                        at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_lossless_top_speed_copies_in_handler, at_dir_setup,
                                        at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_two_handler_lcores, at_dir_setup, at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_two_lcores_lossless_at_top_speed, at_dir_setup,
                                        at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_rereq_fills_gaps, at_dir_setup, at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_outputs_and_report, at_dir_setup, at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_conformance_auto_feeds, at_dir_setup, at_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
