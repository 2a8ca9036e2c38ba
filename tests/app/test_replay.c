/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `mdmux replay` end to end: the real binary replays captures written by mdmux-gen
 * through net_pcap, and its --stats-json must match the generator's truth file
 * exactly (frames, other, unknown flows, malformed by reason, per feed and line
 * packets and bytes), with handled + channel_full = packets on every line.
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

/*
 * Run `mdmux replay DIR/NAME.pcap [extra...] --stats-json DIR/NAME.stats.json
 * --no-progress -- --file-prefix=...`. Returns the exit status; @p r keeps the output.
 */
static int replay(const char *dir, const char *name, const char *const *extra, at_result_t *r)
{
    static char pcap[512], stats[512];
    char *argv[48];
    int n = 0;
    snprintf(pcap, sizeof(pcap), "%s/%s.pcap", dir, name);
    snprintf(stats, sizeof(stats), "%s/%s.stats.json", dir, name);
    argv[n++] = (char *)MDMUX_BIN;
    argv[n++] = (char *)"replay";
    argv[n++] = pcap;
    for (int i = 0; extra && extra[i] && n < 40; i++)
        argv[n++] = (char *)extra[i];
    argv[n++] = (char *)"--stats-json";
    argv[n++] = stats;
    argv[n++] = (char *)"--no-progress";
    argv[n++] = (char *)"--";
    argv[n++] = (char *)at_file_prefix();
    argv[n] = NULL;
    return at_run(argv, AT_TIMEOUT_S, r);
}

static void path_of(char *buf, size_t n, const char *dir, const char *name, const char *ext)
{
    snprintf(buf, n, "%s/%s%s", dir, name, ext);
}

/* Replay DIR/NAME.pcap (sibling config) and compare with its truth. */
static void replay_and_check(const char *dir, const char *name, const char *const *extra,
                             bool lossless)
{
    at_result_t r;
    char stats[512], truth[512];
    if (replay(dir, name, extra, &r) != 0)
        fail_msg("mdmux replay %s: status %d\n%s\n%s", name, r.status, r.out, r.err);
    at_contains(r.out, "feed00");
    at_result_free(&r);
    path_of(stats, sizeof(stats), dir, name, ".stats.json");
    path_of(truth, sizeof(truth), dir, name, ".truth.json");
    at_check_truth(stats, truth, lossless);
}

static void test_replay_matches_truth(void **state)
{
    at_need_gen();
    const char *dir = *state;
    static const char *const gen[] = {
        "--feeds",   "8",     "--duration-ms", "60",    "--seed",     "3",
        "--unknown", "0.005", "--noise",       "0.005", "--truncate", "0.002",
        "--corrupt", "0.002", "--zero-udp",    "0.002", NULL};
    at_gen(dir, "cap", gen);
    replay_and_check(dir, "cap", NULL, false);
}

static void test_replay_vlan_and_qinq(void **state)
{
    at_need_gen();
    const char *dir = *state;
    static const char *const vlan[] = {"--feeds", "4",          "--duration-ms", "30", "--vlan",
                                       "100",     "--truncate", "0.01",          NULL};
    static const char *const qinq[] = {"--feeds", "4", "--duration-ms", "30",   "--qinq", "10,20",
                                       "--seed",  "9", "--corrupt",     "0.01", NULL};
    at_gen(dir, "vlan", vlan);
    replay_and_check(dir, "vlan", NULL, false);
    at_gen(dir, "qinq", qinq);
    replay_and_check(dir, "qinq", NULL, false);
}

/* Append @p text to DIR/NAME.yaml, or replace @p from by @p to in it. */
static void edit_config(const char *dir, const char *name, const char *from, const char *to)
{
    char path[512];
    path_of(path, sizeof(path), dir, name, ".yaml");
    at_edit(path, from, to);
}

static void test_replay_one_lcore(void **state)
{
    at_need_gen();
    const char *dir = *state;
    static const char *const gen[] = {"--feeds", "6", "--duration-ms", "30", "--seed", "5", NULL};
    at_gen(dir, "one", gen);
    /* RX, six feed handlers, the mux and control all on lcore 0's scheduler */
    edit_config(dir, "one", NULL, "eal:\n  lcores: \"0\"\n");
    replay_and_check(dir, "one", NULL, true);
}

static void test_replay_tiny_channel(void **state)
{
    at_need_gen();
    const char *dir = *state;
    static const char *const gen[] = {
        "--feeds", "2", "--duration-ms", "300", "--rate", "40000", "--seed", "7", NULL};
    at_gen(dir, "tiny", gen);
    edit_config(dir, "tiny", "slots: 1024", "slots: 4");
    replay_and_check(dir, "tiny", NULL, false);

    char stats[512];
    path_of(stats, sizeof(stats), dir, "tiny", ".stats.json");
    json_t *s = at_json(stats);
    json_int_t full = 0, handled = 0, packets = 0;
    json_t *feeds = json_object_get(s, "feeds");
    for (size_t i = 0; i < json_array_size(feeds); i++) {
        json_t *lines = json_object_get(json_array_get(feeds, i), "lines");
        for (const char *l = "A"; l; l = (*l == 'A') ? "B" : NULL) {
            json_t *x = json_object_get(lines, l);
            full += at_jint(x, "channel_full");
            handled += at_jint(x, "handled");
            packets += at_jint(x, "packets");
        }
    }
    print_message("tiny channel: %lld packets, %lld handled, %lld channel_full\n",
                  (long long)packets, (long long)handled, (long long)full);
    assert_int_equal(packets, handled + full);
    assert_true(full > 0);
    json_decref(s);
}

static void test_replay_loop_and_rate(void **state)
{
    at_need_gen();
    const char *dir = *state;
    static const char *const gen[] = {"--feeds", "2", "--duration-ms", "20", NULL};
    static const char *const extra[] = {"--loop", "3", "--rate", "20000", NULL};
    at_result_t r;
    char stats[512], truth[512];
    at_gen(dir, "loop", gen);
    if (replay(dir, "loop", extra, &r) != 0)
        fail_msg("status %d\n%s", r.status, r.err);
    at_result_free(&r);
    path_of(stats, sizeof(stats), dir, "loop", ".stats.json");
    path_of(truth, sizeof(truth), dir, "loop", ".truth.json");
    json_t *s = at_json(stats), *t = at_json(truth);
    assert_int_equal(at_jint(s, "rx.frames"), 3 * at_jint(t, "frames"));
    json_t *sa = json_object_get(
        json_object_get(json_array_get(json_object_get(s, "feeds"), 0), "lines"), "A");
    json_t *ta = json_object_get(
        json_object_get(json_array_get(json_object_get(t, "feeds"), 0), "lines"), "A");
    assert_int_equal(at_jint(sa, "packets"), 3 * at_jint(ta, "packets"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(s, "pacing"), "mode")),
                        "rate");
    json_decref(s);
    json_decref(t);
}

static void test_truncated_capture(void **state)
{
    at_need_gen();
    const char *dir = *state;
    static const char *const gen[] = {"--feeds", "3", "--duration-ms", "20", "--clean", NULL};
    char pcap[512], stats[512], truth[512];
    struct stat st;
    at_result_t r;
    at_gen(dir, "cut", gen);
    path_of(pcap, sizeof(pcap), dir, "cut", ".pcap");
    assert_int_equal(stat(pcap, &st), 0);
    /* cut the last record short: every record is longer than 5 bytes */
    assert_int_equal(truncate(pcap, st.st_size - 5), 0);
    assert_int_equal(replay(dir, "cut", NULL, &r), 1);
    at_contains(r.err, pcap);
    at_contains(r.err, "byte");
    at_result_free(&r);
    /* the valid prefix was replayed and reported */
    path_of(stats, sizeof(stats), dir, "cut", ".stats.json");
    path_of(truth, sizeof(truth), dir, "cut", ".truth.json");
    json_t *s = at_json(stats), *t = at_json(truth);
    assert_int_equal(at_jint(s, "rx.frames"), at_jint(t, "frames") - 1);
    assert_true(json_is_string(json_object_get(s, "capture_error")));
    json_decref(s);
    json_decref(t);
}

static void test_bad_capture_and_missing_config(void **state)
{
    const char *dir = *state;
    char path[512], yaml[512];
    at_result_t r;

    /* no sibling configuration: the capture's own feeds, but it is not a capture */
    path_of(path, sizeof(path), dir, "lonely", ".pcap");
    at_write(path, "not a capture");
    assert_int_equal(replay(dir, "lonely", NULL, &r), 1);
    at_contains(r.err, path);
    at_result_free(&r);

    /* a configuration, but the file is not a pcap */
    path_of(yaml, sizeof(yaml), dir, "lonely", ".yaml");
    at_write(yaml, "version: 1\nfeeds:\n  - name: f0\n    a: {group: 239.1.0.1, port: 1}\n"
                   "    b: {group: 239.2.0.1, port: 1}\n");
    assert_int_equal(replay(dir, "lonely", NULL, &r), 1);
    at_contains(r.err, path);
    at_result_free(&r);

    /* a bad configuration stops before the EAL, with its position */
    at_write(yaml, "version: 1\nspeed: 3\nfeeds: []\n");
    assert_int_equal(replay(dir, "lonely", NULL, &r), 2);
    at_contains(r.err, "lonely.yaml:2:1: speed: unknown key 'speed'");
    at_result_free(&r);
}

static void test_sigterm_stops_cleanly(void **state)
{
    at_need_gen();
    const char *dir = *state;
    static const char *const gen[] = {"--feeds", "4", "--duration-ms", "50", NULL};
    char pcap[512], stats[512];
    at_gen(dir, "term", gen);
    path_of(pcap, sizeof(pcap), dir, "term", ".pcap");
    path_of(stats, sizeof(stats), dir, "term", ".stats.json");
    char *argv[] = {(char *)MDMUX_BIN,
                    (char *)"replay",
                    pcap,
                    (char *)"--rate",
                    (char *)"5000",
                    (char *)"--loop",
                    (char *)"1000",
                    (char *)"--stats-json",
                    stats,
                    (char *)"--no-progress",
                    (char *)"--",
                    (char *)at_file_prefix(),
                    NULL};
    pid_t pid = at_start(argv, dir, "term");
    assert_true(pid > 0);
    sleep(2);
    kill(pid, SIGTERM);
    int st = at_wait(pid, AT_TIMEOUT_S);
    char errp[512];
    path_of(errp, sizeof(errp), dir, "term", ".err");
    char *err = at_slurp(errp);
    if (st != 0)
        fail_msg("status %d after SIGTERM\n%s", st, err ? err : "");
    at_contains(err, "signal");
    free(err);
    json_t *s = at_json(stats);
    assert_true(json_is_true(json_object_get(s, "interrupted")));
    assert_true(at_jint(s, "rx.frames") > 0);
    json_t *feeds = json_object_get(s, "feeds");
    for (size_t i = 0; i < json_array_size(feeds); i++) {
        json_t *lines = json_object_get(json_array_get(feeds, i), "lines");
        for (const char *l = "A"; l; l = (*l == 'A') ? "B" : NULL) {
            json_t *x = json_object_get(lines, l);
            assert_int_equal(at_jint(x, "packets"),
                             at_jint(x, "handled") + at_jint(x, "channel_full"));
        }
    }
    json_decref(s);
}

/* `mdmux run` on a configured net_pcap port (no root needed): until SIGTERM. */
static void test_run_on_pcap_port(void **state)
{
    at_need_gen();
    const char *dir = *state;
    static const char *const gen[] = {"--feeds", "3", "--duration-ms", "30", "--seed", "13", NULL};
    char pcap[512], stats[512], truth[512], port[700], outp[512];
    at_gen(dir, "run", gen);
    path_of(pcap, sizeof(pcap), dir, "run", ".pcap");
    path_of(stats, sizeof(stats), dir, "run", ".stats.json");
    path_of(truth, sizeof(truth), dir, "run", ".truth.json");
    path_of(outp, sizeof(outp), dir, "mdmux", ".out");
    snprintf(port, sizeof(port), "ports:\n  - name: cap\n    device: \"net_pcap0,rx_pcap=%s\"\n",
             pcap);
    edit_config(dir, "run", NULL, port);
    char cfg[512];
    path_of(cfg, sizeof(cfg), dir, "run", ".yaml");
    char *argv[] = {(char *)MDMUX_BIN,
                    (char *)"run",
                    (char *)"-c",
                    cfg,
                    (char *)"--stats-json",
                    stats,
                    (char *)"--",
                    (char *)at_file_prefix(),
                    NULL};
    pid_t pid = at_start(argv, dir, "mdmux");
    assert_true(pid > 0);
    /* net_pcap reads the whole file at once; wait for the frames to be counted */
    for (int i = 0; i < 100; i++) {
        char *o = at_slurp(outp);
        bool up = o && strstr(o, "mdmux: running");
        free(o);
        if (up)
            break;
        usleep(100 * 1000);
    }
    sleep(2);
    kill(pid, SIGTERM);
    assert_int_equal(at_wait(pid, AT_TIMEOUT_S), 0);
    at_check_truth(stats, truth, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replay_matches_truth, at_dir_setup, at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_replay_vlan_and_qinq, at_dir_setup, at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_replay_one_lcore, at_dir_setup, at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_replay_tiny_channel, at_dir_setup, at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_replay_loop_and_rate, at_dir_setup, at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_truncated_capture, at_dir_setup, at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_bad_capture_and_missing_config, at_dir_setup,
                                        at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_stops_cleanly, at_dir_setup, at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_run_on_pcap_port, at_dir_setup, at_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
