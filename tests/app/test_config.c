/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Configuration loader (app/config.c): defaults, every validation rule with the
 * exact file:line:col: field of its message, the host checks (lcores that do not
 * exist, the shm group) in-process and through the binary, `mdmux check-config` on
 * every file in configs/ and on a bad file, and the shm ring's group ownership.
 */
#include <dirent.h>
#include <grp.h>
#include <setjmp.h>
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
#include "config.h"

static char err[8192];

/* Parse @p yaml as "t.yaml"; the configuration or NULL (err holds the messages). */
static cfg_t *parse(const char *yaml)
{
    return cfg_parse(yaml, strlen(yaml), "t.yaml", err, sizeof(err));
}

/* @p yaml must be rejected with @p msg (a substring) among the messages. */
static void rejects(const char *yaml, const char *msg)
{
    cfg_t *c = parse(yaml);
    if (c != NULL) {
        cfg_free(c);
        fail_msg("accepted:\n%s", yaml);
    }
    at_contains(err, msg);
}

#define FEED0                                                                                      \
    "feeds:\n"                                                                                     \
    "  - name: f0\n"                                                                               \
    "    a: {group: 239.1.0.1, port: 100}\n"                                                       \
    "    b: {group: 239.2.0.1, port: 100}\n"

static void test_defaults(void **state)
{
    (void)state;
    cfg_t *c = parse("version: 1\n" FEED0);
    assert_non_null(c);
    assert_string_equal(c->eal.lcores, "0-1");
    assert_int_equal(c->eal.memory_mb, 256);
    assert_false(c->eal.hugepages);
    assert_int_equal(c->control, 0);
    assert_int_equal(c->nhandlers, 1);
    assert_int_equal(c->handlers[0], 0);
    assert_int_equal(c->channel_slots, 1024);
    assert_int_equal(c->replay.pace, CFG_PACE_MAX);
    assert_int_equal(c->replay.loop, 1);
    assert_int_equal(c->nfeeds, 1);
    assert_int_equal(c->feeds[0].handler, 0);
    assert_int_equal(c->feeds[0].line[CFG_LINE_B].port, 100);
    assert_string_equal(c->feeds[0].line[CFG_LINE_B].group, "239.2.0.1");
    assert_int_equal(c->nports, 0);
    assert_int_equal(c->latency.interval_ms, 100);
    assert_int_equal(c->latency.series_points, 4096);
    /* replay's port is polled by lcore 1, the first that is not control */
    cfg_port_t replay = {.name = CFG_REPLAY_PORT, .rx_queues = 1};
    assert_int_equal(cfg_default_rx(c, &replay, 1), 0);
    assert_int_equal(c->nrx, 1);
    assert_int_equal(c->rx[0].lcore, 1);
    cfg_free(c);
}

static void test_single_lcore_and_spread(void **state)
{
    (void)state;
    cfg_t *c = parse("version: 1\neal: {lcores: \"0\"}\n" FEED0);
    assert_non_null(c);
    cfg_port_t replay = {.name = CFG_REPLAY_PORT, .rx_queues = 1};
    assert_int_equal(cfg_default_rx(c, &replay, 1), 0);
    assert_int_equal(c->rx[0].lcore, 0); /* the only lcore does everything */
    cfg_free(c);

    c = parse("version: 1\neal: {lcores: \"0-3\"}\ncores: {control: 0, handlers: [2, 3]}\n"
              "replay: {speed: 2.5, loop: 3}\n" FEED0 "  - name: f1\n"
              "    a: {group: 239.1.0.2, port: 100}\n    b: {group: 239.2.0.2, port: 100}\n");
    assert_non_null(c);
    assert_int_equal(c->feeds[0].handler, 2);
    assert_int_equal(c->feeds[1].handler, 3);
    assert_int_equal(c->replay.pace, CFG_PACE_SPEED);
    assert_true(c->replay.speed == 2.5);
    assert_string_equal(c->replay.speed_text, "2.5");
    assert_int_equal(c->replay.loop, 3);
    cfg_free(c);
}

static void test_schema_errors(void **state)
{
    (void)state;
    rejects("version: 1\neal:\n  lcores: \"0-1\"\n  bogus: 3\n" FEED0,
            "t.yaml:4:3: eal.bogus: unknown key 'bogus'");
    /* b is optional (a single-line feed); a is not */
    rejects("version: 1\nfeeds:\n  - name: f0\n    b: {group: 1.2.3.4, port: 1}\n",
            "t.yaml:3:5: feeds[0]: missing required field 'a'");
    rejects("version: 1\nfeed_defaults: {window: 5000}\n" FEED0,
            "feed_defaults.window: 5000: expected 1 to 1024 packets");
    rejects("version: 1\neal: {lcores: \"0-1\"}\ncores: {handlers: [0, 1]}\n"
            "rereq: {device: net_null0, server: \"10.0.0.1:9\", source: \"10.0.0.2:40000\"}\n"
            "feeds:\n  - {name: f0, a: {group: 239.1.0.1, port: 1}}\n"
            "  - {name: f1, a: {group: 239.1.0.2, port: 1}}\n",
            "feeds that re-request must share one handler lcore");
    rejects("version: 1\nrereq: {device: d, server: \"10.0.0.1\", source: \"10.0.0.2:4\"}\n" FEED0,
            "rereq.server: '10.0.0.1': expected address:port");
    rejects("version: 1\noutputs:\n  shm: {mode: \"0044\"}\n" FEED0,
            "outputs.shm.mode: '0044': expected an octal file mode");
    rejects("version: 1\noutputs:\n  multicast: {device: net_null0, group: \"10.0.0.1:5\"}\n" FEED0,
            "outputs.multicast.group: '10.0.0.1:5': expected a multicast group:port");
    rejects("version: 1\n" FEED0 "    colour: red\n", "t.yaml:6:5: feeds[0].colour: unknown key");
    rejects("version: x\n" FEED0, "t.yaml:1:1: version: ");
    rejects("version: 1\nfeeds: [\n", "t.yaml:3:1: YAML syntax error");
    rejects("", "t.yaml:1:1: empty configuration");
    rejects("version: 2\n" FEED0, "t.yaml:1:1: version: version 2 is not supported");
    rejects("feeds: []\n", "t.yaml:");
}

static void test_flow_and_name_errors(void **state)
{
    (void)state;
    rejects("version: 1\n" FEED0 "  - name: f1\n"
            "    a: {group: 239.1.0.2, port: 100}\n"
            "    b:\n      group: 239.1.0.1\n      port: 100\n",
            "t.yaml:8:5: feeds[1].b: flow 239.1.0.1:100 is also feeds[0].a (line 4)");
    rejects("version: 1\nfeeds:\n  - name: f0\n    a: {group: 239.1.0.1, port: 100}\n"
            "    b: {group: 239.1.0.1, port: 100}\n",
            "t.yaml:5:5: feeds[0].b: flow 239.1.0.1:100 is also feeds[0].a (line 4)");
    rejects("version: 1\n" FEED0 "  - name: f0\n"
            "    a: {group: 239.1.0.2, port: 100}\n    b: {group: 239.2.0.2, port: 100}\n",
            "t.yaml:6:5: feeds[1].name: feed name 'f0' is also feeds[0] (line 3)");
    rejects("version: 1\nfeeds:\n  - name: f0\n    a: {group: 239.1.0, port: 100}\n"
            "    b: {group: 239.2.0.1, port: 0}\n",
            "t.yaml:4:9: feeds[0].a.group: '239.1.0' is not an IPv4 address");
    rejects("version: 1\nfeeds:\n  - name: f0\n    a: {group: 239.1.0.1, port: 100}\n"
            "    b: {group: 239.2.0.1, port: 0}\n",
            "t.yaml:5:27: feeds[0].b.port: 0: expected a UDP port");
    rejects("version: 1\nfeeds:\n  - name: \"f 0\"\n    a: {group: 239.1.0.1, port: 100}\n"
            "    b: {group: 239.2.0.1, port: 1}\n",
            "t.yaml:3:5: feeds[0].name: 'f 0': names use");
}

static void test_lcore_errors(void **state)
{
    (void)state;
    rejects("version: 1\ncores:\n  handlers: [0, 1, 1]\n" FEED0,
            "t.yaml:3:20: cores.handlers[2]: lcore 1 is listed twice");
    rejects("version: 1\neal: {lcores: \"0-1\"}\ncores:\n  handlers: [0, 5]\n" FEED0,
            "t.yaml:4:17: cores.handlers[1]: lcore 5 is not in eal.lcores \"0-1\" (line 2)");
    rejects("version: 1\ncores: {control: 7}\n" FEED0,
            "t.yaml:2:9: cores.control: lcore 7 is not in the default eal.lcores");
    rejects("version: 1\ncores: {handlers: [1]}\nfeeds:\n  - name: f0\n    handler: 0\n"
            "    a: {group: 239.1.0.1, port: 100}\n    b: {group: 239.2.0.1, port: 100}\n",
            "t.yaml:5:5: feeds[0].handler: lcore 0 is not in cores.handlers (line 2)");
    rejects("version: 1\neal: {lcores: \"0-1x\"}\n" FEED0, "t.yaml:2:7: eal.lcores: '0-1x'");
    rejects("version: 1\neal: {args: [\"--main-lcore=1\"]}\n" FEED0,
            "t.yaml:2:14: eal.args[0]: '--main-lcore=1': the lcore map comes from");
    rejects("version: 1\nrx:\n  - {lcore: 2, port: replay}\n" FEED0,
            "t.yaml:3:6: rx[0].lcore: lcore 2 is not in the default eal.lcores");
    /* one lcore, one EAL thread: listing it twice is a mistake, not a no-op */
    rejects("version: 1\neal: {lcores: \"0-3,2\"}\n" FEED0,
            "t.yaml:2:7: eal.lcores: '0-3,2': lcore 2 is listed twice");
    rejects("version: 1\neal: {lcores: \"1,0-1\"}\n" FEED0, "lcore 1 is listed twice");
    rejects("version: 1\neal: {lcores: \"0-128\"}\n" FEED0, "beyond 127");
}

/* The lcores must exist on the host the file is checked for (cfg_check_host). */
static void test_host_lcores(void **state)
{
    (void)state;
    bool target[CFG_MAX_LCORES];
    cfg_t *c = parse("version: 1\neal: {lcores: \"0,126-127\"}\ncores: {control: 0}\n" FEED0);
    assert_non_null(c);
    if (sysconf(_SC_NPROCESSORS_CONF) >= 127) {
        cfg_free(c);
        print_message("this host has CPU 126: the missing-CPU case is not testable here\n");
        skip();
    }
    assert_int_equal(cfg_check_host(c, NULL, err, sizeof(err)), -1);
    at_contains(err, "t.yaml:2:7: eal.lcores: lcores 126-127: no such CPU on this host "
                     "(online CPUs: 0");
    at_contains(err, "check-config --target-cpus N");
    /* for a target host with 128 CPUs it is fine; with 4 it is not */
    assert_int_equal(cfg_parse_cpus("128", target), 0);
    assert_int_equal(cfg_check_host(c, target, err, sizeof(err)), 0);
    assert_int_equal(cfg_parse_cpus("0-3,64-126", target), 0);
    assert_int_equal(cfg_check_host(c, target, err, sizeof(err)), -1);
    at_contains(err, "t.yaml:2:7: eal.lcores: lcore 127: not a CPU of the target host "
                     "(--target-cpus: 0-3,64-126)");
    cfg_free(c);

    /* CPU 0 always exists and may be used; the default eal.lcores is named as such */
    c = parse("version: 1\neal: {lcores: \"0\"}\n" FEED0);
    assert_non_null(c);
    assert_int_equal(cfg_check_host(c, NULL, err, sizeof(err)), 0);
    cfg_free(c);
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        c = parse("version: 1\n" FEED0);
        assert_int_equal(cfg_check_host(c, NULL, err, sizeof(err)), -1);
        at_contains(err, "t.yaml:1:1: eal.lcores (default): lcore 1: no such CPU");
        cfg_free(c);
    }

    /* --target-cpus: a count or a kernel CPU list */
    assert_int_equal(cfg_parse_cpus("4", target), 0);
    assert_true(target[0] && target[3] && !target[4]);
    assert_int_equal(cfg_parse_cpus("0-15,32-47", target), 0);
    assert_true(target[15] && !target[16] && target[32] && target[47] && !target[48]);
    assert_int_equal(cfg_parse_cpus("0-255", target), 0); /* ids beyond 127 left out */
    assert_true(target[127]);
    assert_int_equal(cfg_parse_cpus("0", target), -1);
    assert_int_equal(cfg_parse_cpus("", target), -1);
    assert_int_equal(cfg_parse_cpus("2-1", target), -1);
    assert_int_equal(cfg_parse_cpus("all", target), -1);
}

/* outputs.shm.group: a gid, or a name looked up on this host. */
static void test_shm_group(void **state)
{
    (void)state;
    cfg_t *c = parse("version: 1\noutputs:\n  shm: {group: 12345}\n" FEED0);
    assert_non_null(c);
    assert_true(c->outputs.shm.has_gid);
    assert_int_equal(c->outputs.shm.gid, 12345);
    assert_int_equal(c->outputs.shm.mode, 0640);
    cfg_free(c);
    c = parse("version: 1\noutputs:\n  shm: {group: root}\n" FEED0);
    assert_non_null(c);
    assert_false(c->outputs.shm.has_gid);
    assert_int_equal(cfg_check_host(c, NULL, err, sizeof(err)), 0);
    assert_true(c->outputs.shm.has_gid);
    assert_int_equal(c->outputs.shm.gid, 0);
    cfg_free(c);

    c = parse("version: 1\noutputs:\n  shm:\n    group: no_such_group_mdmux\n" FEED0);
    assert_non_null(c);
    assert_int_equal(cfg_check_host(c, NULL, err, sizeof(err)), -1);
    at_contains(err, "t.yaml:4:5: outputs.shm.group: no group 'no_such_group_mdmux' on this host");
    bool target[CFG_MAX_LCORES];
    assert_int_equal(cfg_parse_cpus("2", target), 0);
    assert_int_equal(cfg_check_host(c, target, err, sizeof(err)), 0); /* another host's */
    cfg_free(c);

    rejects("version: 1\noutputs:\n  shm: {group: \"md mux\"}\n" FEED0,
            "t.yaml:3:9: outputs.shm.group: 'md mux': expected a group name");
    rejects("version: 1\noutputs:\n  shm: {group: \"-x\"}\n" FEED0, "expected a group name");
    rejects("version: 1\noutputs:\n  shm: {group: 99999999999}\n" FEED0,
            "outputs.shm.group: 99999999999: not a valid gid");
}

static void test_port_and_rx_errors(void **state)
{
    (void)state;
    const char *ports = "version: 1\n"
                        "ports:\n"
                        "  - {name: p0, device: net_null0, rx_queues: 2}\n"
                        "  - {name: p0, device: net_null1}\n"
                        "  - {name: p2, device: net_null0}\n"
                        "rx:\n"
                        "  - {lcore: 1, port: p0, queue: 0}\n"
                        "  - {lcore: 0, port: p0, queue: 0}\n"
                        "  - {lcore: 1, port: p0, queue: 2}\n"
                        "  - {lcore: 1, port: nic9}\n" FEED0;
    rejects(ports, "t.yaml:4:6: ports[1].name: port name 'p0' is also ports[0] (line 3)");
    rejects(ports, "t.yaml:5:16: ports[2].device: device 'net_null0' is also ports[0]");
    rejects(ports, "t.yaml:8:26: rx[1].queue: port 'p0' queue 0 is already polled by rx[0] "
                   "(lcore 1, line 7)");
    rejects(ports, "t.yaml:9:26: rx[2].queue: queue 2 but port 'p0' has 2 rx_queues");
    rejects("version: 1\nports:\n  - {name: p0, device: net_null0, mbufs: 100}\n" FEED0,
            "ports[0].mbufs: 100: expected 1023 to 16777215");
    rejects(
        "version: 1\nports:\n  - {name: p0, device: net_null0, rx_queues: 2, mbufs: 2000}\n" FEED0,
        "ports[0].mbufs: 2000 mbufs cannot fill the 2048 RX descriptors of 2 queues");
    cfg_t *mb = parse("version: 1\nports:\n  - {name: p0, device: net_null0, mbufs: 100000}\n"
                      "  - {name: p1, device: net_null1}\n" FEED0);
    if (mb == NULL)
        fail_msg("%s", err);
    assert_int_equal(mb->ports[0].mbufs, 100000);
    assert_int_equal(mb->ports[1].mbufs, 0);             /* lib/io's default */
    assert_true(mb->replay.max_gap_ns == 1000000000ull); /* replay.max_gap_ms: 1 s */
    cfg_free(mb);
    static const struct {
        const char *yaml;
        uint64_t ns;
    } gaps[] = {{"version: 1\nreplay: {max_gap_ms: 250}\n" FEED0, 250000000ull},
                {"version: 1\nreplay: {max_gap_ms: 0}\n" FEED0, UINT64_MAX}};
    for (unsigned i = 0; i < 2; i++) {
        cfg_t *g = parse(gaps[i].yaml);
        if (g == NULL)
            fail_msg("%s", err);
        assert_true(g->replay.max_gap_ns == gaps[i].ns);
        cfg_free(g);
    }
    rejects(ports, "t.yaml:10:16: rx[3].port: no port named 'nic9' in ports");
    rejects("version: 1\nports:\n  - {name: replay, device: net_null0}\n" FEED0,
            "ports[0].name: 'replay' is reserved");
    rejects("version: 1\nchannels: {slots: 1000}\n" FEED0,
            "t.yaml:2:12: channels.slots: 1000: expected a power of two");
    rejects("version: 1\nreplay: {speed: fast}\n" FEED0, "t.yaml:2:10: replay.speed: 'fast'");
    rejects("version: 1\nlatency: {series_points: 5}\n" FEED0,
            "latency.series_points: 5: expected an even number from 4 to 1048576");
    rejects("version: 1\nlatency: {series_points: 2}\n" FEED0, "latency.series_points: 2");
    rejects("version: 1\nlatency: {interval_ms: 10}\n" FEED0,
            "latency.interval_ms: 10: expected 20 to 3600000 ms");
    cfg_t *lc = parse("version: 1\nlatency: {interval_ms: 250, series_points: 64}\n" FEED0);
    assert_non_null(lc);
    assert_int_equal(lc->latency.interval_ms, 250);
    assert_int_equal(lc->latency.series_points, 64);
    assert_int_equal(lc->latency.recorder, CFG_RECORDER_AUTO);
    cfg_free(lc);
    rejects("version: 1\nlatency: {recorder: spare}\n" FEED0,
            "latency.recorder: 'spare': expected auto, mux or an lcore number");
    rejects("version: 1\nlatency: {recorder: -1}\n" FEED0, "latency.recorder: '-1'");
    rejects("version: 1\nlatency: {recorder: 1x}\n" FEED0, "latency.recorder: '1x'");
    rejects("version: 1\nlatency: {recorder: 5}\n" FEED0,
            "latency.recorder: lcore 5 is not in the default eal.lcores \"0-1\"");
    static const struct {
        const char *text;
        int want;
    } rec[] = {{"auto", CFG_RECORDER_AUTO}, {"mux", CFG_RECORDER_MUX}, {"1", 1}, {"0", 0}};
    for (unsigned i = 0; i < sizeof(rec) / sizeof(rec[0]); i++) {
        char y[512];
        snprintf(y, sizeof(y), "version: 1\nlatency: {recorder: %s}\n" FEED0, rec[i].text);
        lc = parse(y);
        assert_non_null(lc);
        assert_int_equal(lc->latency.recorder, rec[i].want);
        cfg_free(lc);
    }
    rejects("version: 1\nreplay: {speed: 2, rate: 100}\n" FEED0,
            "replay.rate: set either speed (a multiplier) or rate, not both");
}

static void test_errors_sorted_and_all_reported(void **state)
{
    (void)state;
    rejects("version: 1\nchannels: {slots: 3}\nreplay: {loop: 0}\n" FEED0, "channels.slots");
    const char *a = strstr(err, "channels.slots"), *b = strstr(err, "replay.loop");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
}

/* Run `mdmux check-config FILE [OPTION ARG]`. */
static int check_config_with(const char *path, const char *opt, const char *arg, at_result_t *r)
{
    char *argv[] = {
        (char *)MDMUX_BIN, (char *)"check-config", (char *)path, (char *)opt, (char *)arg, NULL};
    return at_run(argv, AT_TIMEOUT_S, r);
}

static int check_config(const char *path, at_result_t *r)
{
    return check_config_with(path, NULL, NULL, r);
}

/* True when every line of @p text is a host-specific problem: CPUs or a group this
   host lacks (what --target-cpus checks a file for another host without). */
static bool only_host_problems(const char *text)
{
    bool any = false;
    for (const char *l = text; *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1), l);
        if (strstr(line, "no such CPU on this host") == NULL &&
            strstr(line, "outputs.shm.group: no group '") == NULL)
            return false;
        any = true;
        l += n + (nl != NULL);
    }
    return any;
}

/* Every example in configs/ passes check-config: for a 16-CPU target, and on this host
   unless it names CPUs or a group this host lacks (and then for that reason only). The
   2-core ones (demo, replay) must pass here as they are. */
static void test_shipped_configs(void **state)
{
    (void)state;
    char dir[512];
    unsigned n = 0;
    snprintf(dir, sizeof(dir), "%s/configs", MDMUX_SRC_DIR);
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0)
            continue;
        char path[1024];
        at_result_t r;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (check_config_with(path, "--target-cpus", "16", &r) != 0)
            fail_msg("check-config --target-cpus 16 %s: status %d\n%s", path, r.status, r.err);
        at_contains(r.out, ": ok: ");
        at_result_free(&r);

        int st = check_config(path, &r);
        bool two_core =
            strcmp(e->d_name, "demo.yaml") == 0 || strcmp(e->d_name, "replay.yaml") == 0;
        if (st != 0 && (two_core || st != 2 || !only_host_problems(r.err)))
            fail_msg("check-config %s: status %d\n%s", path, st, r.err);
        if (st == 0)
            at_contains(r.out, ": ok: ");
        at_result_free(&r);
        n++;
    }
    closedir(d);
    assert_true(n >= 3); /* demo, replay, bare-metal at least */
}

/* A file whose lcores this host lacks: check-config and replay and run all say so
   (exit 2) before anything starts; --target-cpus checks it for its own host. */
static void test_host_check_binary(void **state)
{
    (void)state;
    char dir[256], path[300], cap[300];
    at_result_t r;
    if (sysconf(_SC_NPROCESSORS_CONF) >= 127) {
        print_message("this host has CPU 126: skipped\n");
        skip();
    }
    at_tmpdir(dir, sizeof(dir), "cfg");
    snprintf(path, sizeof(path), "%s/big.yaml", dir);
    snprintf(cap, sizeof(cap), "%s/none.pcap", dir);
    at_write(path, "version: 1\neal:\n  lcores: \"0,126\"\n" FEED0);
    char want[400];
    snprintf(want, sizeof(want), "%s:3:3: eal.lcores: lcore 126: no such CPU on this host", path);

    assert_int_equal(check_config(path, &r), 2);
    at_contains(r.err, want);
    at_result_free(&r);
    assert_int_equal(check_config_with(path, "--target-cpus", "0-126", &r), 0);
    at_contains(r.out, "checked for a host with --target-cpus");
    at_result_free(&r);
    assert_int_equal(check_config_with(path, "--target-cpus", "64", &r), 2);
    at_contains(r.err, "lcore 126: not a CPU of the target host (--target-cpus: 0-63)");
    at_result_free(&r);
    assert_int_equal(check_config_with(path, "--target-cpus", "zero", &r), 2);
    at_contains(r.err, "--target-cpus 'zero'");
    at_result_free(&r);

    char *replay[] = {(char *)MDMUX_BIN, (char *)"replay", cap, (char *)"-c", path, NULL};
    assert_int_equal(at_run(replay, AT_TIMEOUT_S, &r), 2);
    at_contains(r.err, want);
    at_result_free(&r);
    char *run[] = {(char *)MDMUX_BIN, (char *)"run", (char *)"-c", path, NULL};
    assert_int_equal(at_run(run, AT_TIMEOUT_S, &r), 2);
    at_contains(r.err, want);
    at_result_free(&r);
    char *bad[] = {(char *)MDMUX_BIN,       (char *)"run", (char *)"-c", path,
                   (char *)"--target-cpus", (char *)"4",   NULL};
    assert_int_equal(at_run(bad, AT_TIMEOUT_S, &r), 2);
    at_contains(r.err, "--target-cpus is a check-config option");
    at_result_free(&r);
    at_rmdir(dir);
}

/* outputs.shm.group by name: the ring file of a replay belongs to that group, mode
   0640. Needs root (groupadd); an unknown group fails the run before it starts. */
static void test_shm_group_replay(void **state)
{
    const char *dir = *state;
    char yaml[512], ring[512], cmd[512], group[32];
    at_result_t r;
    at_need_gen();
    static const char *const gen[] = {"--feeds", "2", "--duration-ms", "20", "--seed", "4", NULL};
    at_gen(dir, "g", gen);
    snprintf(yaml, sizeof(yaml), "%s/g.yaml", dir);
    snprintf(ring, sizeof(ring), "%s/ring", dir);
    char *base = at_slurp(yaml);
    assert_non_null(base);
    size_t blen = strlen(base) + 512;
    char *y = malloc(blen);
    assert_non_null(y);

    /* unknown group: exit 2 naming the field, no ring made */
    snprintf(y, blen, "%soutputs:\n  shm: {path: %s, group: no_such_group_mdmux}\n", base, ring);
    at_write(yaml, y);
    char cap[512];
    snprintf(cap, sizeof(cap), "%s/g.pcap", dir);
    char *argv[] = {(char *)MDMUX_BIN, (char *)"replay", cap, (char *)"--no-progress", NULL};
    assert_int_equal(at_run(argv, AT_TIMEOUT_S, &r), 2);
    at_contains(r.err, "outputs.shm.group: no group 'no_such_group_mdmux' on this host");
    at_result_free(&r);
    struct stat st;
    assert_int_equal(stat(ring, &st), -1);

    if (geteuid() != 0) {
        free(y);
        free(base);
        print_message("not root: groupadd is not possible, the chown by name is not tested\n");
        skip();
    }
    snprintf(group, sizeof(group), "mdmuxt%ld", (long)getpid());
    snprintf(cmd, sizeof(cmd), "groupadd %s 2>&1", group);
    if (system(cmd) != 0) {
        free(y);
        free(base);
        print_message("groupadd %s failed: skipped\n", group);
        skip();
    }
    struct group *g = getgrnam(group);
    assert_non_null(g);
    gid_t gid = g->gr_gid;
    snprintf(y, blen, "%soutputs:\n  shm: {path: %s, group: %s}\n", base, ring, group);
    at_write(yaml, y);
    int rc = at_run(argv, AT_TIMEOUT_S, &r);
    int serr = stat(ring, &st);
    snprintf(cmd, sizeof(cmd), "groupdel %s", group);
    if (system(cmd) != 0)
        print_message("groupdel %s failed\n", group);
    if (rc != 0)
        fail_msg("replay with outputs.shm.group: status %d\n%s", rc, r.err);
    at_result_free(&r);
    assert_int_equal(serr, 0);
    assert_int_equal(st.st_gid, gid);
    assert_int_equal(st.st_mode & 07777, 0640);
    free(y);
    free(base);
}

static void test_check_config_binary(void **state)
{
    (void)state;
    char dir[256], path[300];
    at_result_t r;
    at_tmpdir(dir, sizeof(dir), "cfg");
    snprintf(path, sizeof(path), "%s/bad.yaml", dir);
    at_write(path, "version: 1\neal:\n  lcores: \"0-1\"\n  bogus: 3\n" FEED0);
    assert_int_equal(check_config(path, &r), 2);
    char want[400];
    snprintf(want, sizeof(want), "%s:4:3: eal.bogus: unknown key 'bogus'", path);
    at_contains(r.err, want);
    at_result_free(&r);

    assert_int_equal(check_config("/nonexistent/x.yaml", &r), 2);
    at_contains(r.err, "/nonexistent/x.yaml: cannot open");
    at_result_free(&r);

    char *usage[] = {(char *)MDMUX_BIN, (char *)"frobnicate", NULL};
    assert_int_equal(at_run(usage, AT_TIMEOUT_S, &r), 2);
    at_contains(r.err, "unknown command 'frobnicate'");
    at_result_free(&r);
    char *help[] = {(char *)MDMUX_BIN, (char *)"--help", NULL};
    assert_int_equal(at_run(help, AT_TIMEOUT_S, &r), 0);
    at_contains(r.out, "mdmux replay CAPTURE");
    at_result_free(&r);
    char *ver[] = {(char *)MDMUX_BIN, (char *)"--version", NULL};
    assert_int_equal(at_run(ver, AT_TIMEOUT_S, &r), 0);
    at_contains(r.out, "mdmux ");
    at_result_free(&r);
    at_rmdir(dir);
}

/* ports[].steering, default_queue and rx[].feeds / rx[].lines (rte_flow steering). */
static void test_steering(void **state)
{
    (void)state;
    const char *good =
        "version: 1\n"
        "ports:\n"
        "  - {name: p0, device: net_null0, rx_queues: 2}\n"
        "  - {name: p1, device: net_null1}\n"
        "  - {name: p2, device: net_null2, rx_queues: 4, steering: rss}\n"
        "  - {name: p3, device: net_null3, rx_queues: 3, default_queue: 2}\n"
        "rx:\n"
        "  - {lcore: 1, port: p0, queue: 1, feeds: [f1]}\n"
        "  - {lcore: 0, port: p3, queue: 0, lines: [{feed: f0, line: b}]}\n"
        "  - {lcore: 1, port: p3, queue: 1, lines: [{feed: f1, line: A}]}\n" FEED0 "  - name: f1\n"
        "    a: {group: 239.1.0.2, port: 100}\n";
    cfg_t *c = parse(good);
    if (c == NULL)
        fail_msg("%s", err);
    assert_int_equal(c->ports[0].steering, CFG_STEER_FLOW); /* rx_queues > 1 */
    assert_int_equal(c->ports[1].steering, CFG_STEER_NONE);
    assert_null(c->ports[1].line_queue);
    assert_int_equal(c->ports[2].steering, CFG_STEER_RSS);
    assert_null(c->ports[2].line_queue);
    assert_int_equal(c->ports[3].steering, CFG_STEER_FLOW);
    assert_string_equal(cfg_steering_name(c->ports[2].steering), "rss");
    /* p0: f1 to queue 1, f0 (not listed) to queue 0 */
    assert_non_null(c->ports[0].line_queue);
    assert_int_equal(c->ports[0].line_queue[0][0], 0);
    assert_int_equal(c->ports[0].line_queue[0][1], 0);
    assert_int_equal(c->ports[0].line_queue[1][0], 1);
    /* p3: default queue 2, f0.b to 0, f1.a to 1 */
    assert_int_equal(c->ports[3].line_queue[0][0], 2);
    assert_int_equal(c->ports[3].line_queue[0][1], 0);
    assert_int_equal(c->ports[3].line_queue[1][0], 1);
    cfg_free(c);

    const char *bad =
        "version: 1\n"
        "ports:\n"
        "  - {name: p0, device: net_null0, rx_queues: 2}\n"
        "  - {name: p1, device: net_null1, rx_queues: 2, steering: rss}\n"
        "  - {name: p2, device: net_null2, rx_queues: 2, default_queue: 2}\n"
        "  - {name: p3, device: net_null3, steering: sideways}\n"
        "rx:\n"
        "  - {lcore: 1, port: p0, queue: 1, feeds: [f0, nope]}\n"
        "  - {lcore: 1, port: p0, queue: 0, lines: [{feed: f0, line: a}]}\n"
        "  - {lcore: 1, port: p1, queue: 1, feeds: [f0]}\n"
        "  - {lcore: 1, port: p0, queue: 5}\n"
        "  - {lcore: 1, port: p2, queue: 1, lines: [{feed: f1, line: b}]}\n"
        "  - {lcore: 1, port: p2, queue: 0, lines: [{feed: f1, line: c}]}\n" FEED0 "  - name: f1\n"
        "    a: {group: 239.1.0.2, port: 100}\n";
    rejects(bad, "t.yaml:5:49: ports[2].default_queue: queue 2 but the port has 2 rx_queues");
    rejects(bad, "t.yaml:6:35: ports[3].steering: 'sideways': expected flow, rss or none");
    rejects(bad, "t.yaml:8:48: rx[0].feeds[1]: 'nope': no such feed in feeds (line 14)");
    rejects(bad, "t.yaml:9:55: rx[1].lines[0].line: feed 'f0' line A is already steered to "
                 "port 'p0' queue 1 by rx[0] (line 8)");
    rejects(bad, "t.yaml:10:36: rx[2].feeds: port 'p1' has steering: rss; feeds and lines "
                 "need steering: flow");
    rejects(bad, "t.yaml:11:26: rx[3].queue: queue 5 but port 'p0' has 2 rx_queues");
    rejects(bad, "t.yaml:12:55: rx[4].lines[0].line: feed 'f1' has no line b");
    rejects(bad, "t.yaml:13:55: rx[5].lines[0].line: 'c': expected a or b");
    rejects("version: 1\nports:\n  - {name: p0, device: net_null0, steering: rss, "
            "default_queue: 0}\n" FEED0,
            "ports[0].default_queue: only with steering: flow (this port's is rss)");
    rejects("version: 1\nrx:\n  - {lcore: 1, port: replay, feeds: [f0]}\n" FEED0,
            "rx[0].feeds: the replay port has one queue: nothing to steer");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_single_lcore_and_spread),
        cmocka_unit_test(test_schema_errors),
        cmocka_unit_test(test_flow_and_name_errors),
        cmocka_unit_test(test_lcore_errors),
        cmocka_unit_test(test_port_and_rx_errors),
        cmocka_unit_test(test_errors_sorted_and_all_reported),
        cmocka_unit_test(test_host_lcores),
        cmocka_unit_test(test_shm_group),
        cmocka_unit_test(test_shipped_configs),
        cmocka_unit_test(test_host_check_binary),
        cmocka_unit_test_setup_teardown(test_shm_group_replay, at_dir_setup, at_dir_teardown),
        cmocka_unit_test(test_check_config_binary),
        cmocka_unit_test(test_steering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
