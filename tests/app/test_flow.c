/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Steering (ports[].steering, rx[].feeds): `mdmux run` with rte_flow rules.
 *
 * - net_null, steering flow: the PMD has no rte_flow support, so the first rule is
 *   refused; mdmux must exit 1 naming the port, the feed line and the PMD's message
 *   (never run mis-steered). Needs nothing but the binary.
 * - net_null, steering rss: the port starts with RSS on the hash types it offers.
 * - net_tap (root): a network namespace of the test's own (IPv6 off, nothing routed:
 *   traffic never leaves it), mdmux inside on `net_tap0,iface=mdt0` with 2 RX queues
 *   and steering flow, feeds 0 and 1 steered to queue 1 (RX lcore 1), feeds 2 and 3
 *   to the default queue 0 (RX lcore 0); tcpreplay plays a generated capture into the
 *   tap from the kernel side, and --stats-json's rx_lcores must show each RX lcore
 *   classifying exactly the packets of its feeds. net_tap implements rte_flow with TC
 *   (multiq qdisc, flower, skbedit); on a kernel without them the PMD refuses the
 *   rules: then the test checks that refusal (exit 1, the PMD named) and skips the
 *   steering part, saying so.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "apptest.h"

#define TELEMETRY_CLI "/usr/bin/dpdk-telemetry.py"

#define TWO_FEEDS                                                                                  \
    "feeds:\n"                                                                                     \
    "  - name: f0\n"                                                                               \
    "    a: {group: 239.1.0.1, port: 30001}\n"                                                     \
    "    b: {group: 239.2.0.1, port: 30001}\n"                                                     \
    "  - name: f1\n"                                                                               \
    "    a: {group: 239.1.0.2, port: 30002}\n"

static void test_null_flow_rejected(void **state)
{
    const char *dir = *state;
    char cfg[512];
    snprintf(cfg, sizeof(cfg), "%s/n.yaml", dir);
    at_write(cfg, "version: 1\n"
                  "ports:\n"
                  "  - {name: nul, device: net_null0, rx_queues: 2, steering: flow}\n"
                  "rx:\n"
                  "  - {lcore: 1, port: nul, queue: 1, feeds: [f1]}\n" TWO_FEEDS);
    char *run[] = {(char *)MDMUX_BIN,        (char *)"run", (char *)"-c", cfg, (char *)"--",
                   (char *)at_file_prefix(), NULL};
    at_result_t r;
    int st = at_run(run, AT_TIMEOUT_S, &r);
    if (st != 1)
        fail_msg("status %d, want 1\n%s", st, r.err);
    at_contains(r.err, "mdmux: port nul (net_null0): nul: steering: flow rule 0 for feed f0 "
                       "line A (ipv4 dst 239.1.0.1 udp dst 30001 -> queue 0) rejected by "
                       "net_null (rte_flow_validate): ");
    assert_null(strstr(r.out, "mdmux: running"));
    at_result_free(&r);
}

/* Start @p argv in @p dir as "mdmux"; wait for "mdmux: running" in its stdout. Returns
   the pid, or 0 when it exited first (its status in *@p st). */
static pid_t start_running(char *const argv[], const char *dir, int *st)
{
    char out[512];
    snprintf(out, sizeof(out), "%s/mdmux.out", dir);
    pid_t pid = at_start(argv, dir, "mdmux");
    assert_true(pid > 0);
    for (int i = 0; i < 600; i++) {
        char *o = at_slurp(out);
        bool up = o && strstr(o, "mdmux: running");
        free(o);
        if (up)
            return pid;
        int ws;
        if (waitpid(pid, &ws, WNOHANG) == pid) { /* exited (kill(pid, 0) works on a zombie) */
            *st = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
            return 0;
        }
        if (i == 599)
            break;
        usleep(100 * 1000);
    }
    *st = at_wait(pid, 30);
    return 0;
}

static char *slurp2(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    char *s = at_slurp(p);
    return s ? s : strdup("");
}

static void test_null_rss(void **state)
{
    const char *dir = *state;
    char cfg[512];
    snprintf(cfg, sizeof(cfg), "%s/r.yaml", dir);
    at_write(cfg, "version: 1\n"
                  "ports:\n"
                  "  - {name: nul, device: \"net_null0,size=64\", rx_queues: 2, steering: rss,\n"
                  "     mbufs: 5000}\n"
                  "rx:\n"
                  "  - {lcore: 0, port: nul, queue: 0}\n"
                  "  - {lcore: 1, port: nul, queue: 1}\n"
                  "telemetry: true\n" TWO_FEEDS);
    const char *prefix = at_file_prefix();
    char *run[] = {(char *)MDMUX_BIN, (char *)"run",  (char *)"-c", cfg,
                   (char *)"--",      (char *)prefix, NULL};
    int st = -1;
    pid_t pid = start_running(run, dir, &st);
    char *e = slurp2(dir, "mdmux.err");
    if (pid == 0)
        fail_msg("mdmux run (rss) did not come up: %d\n%s", st, e);
    if (access(TELEMETRY_CLI, R_OK) == 0) {
        const char *pre = strchr(prefix, '=') + 1;
        char cmd[512];
        snprintf(cmd, sizeof(cmd),
                 "printf '/mdmux/flows\\n/mdmux/flows,nosuch\\n' | python3 " TELEMETRY_CLI
                 " -f '%s'",
                 pre);
        char *argv[] = {(char *)"/bin/sh", (char *)"-c", cmd, NULL};
        at_result_t r;
        int ts = at_run(argv, 60, &r);
        if (ts != 0)
            fail_msg("dpdk-telemetry.py: status %d\n%s%s", ts, r.out, r.err);
        at_contains(r.out, "{\"/mdmux/flows\": {\"nul\": {\"steering\": \"rss\", "
                           "\"rx_queues\": 2, \"mbufs\": 5000, \"rules\": 0}}}");
        at_contains(r.out, "{\"/mdmux/flows\": {\"error\": \"unknown port\"}}");
        at_result_free(&r);
    } else
        print_message(TELEMETRY_CLI " not installed: /mdmux/flows not checked\n");
    kill(pid, SIGTERM);
    st = at_wait(pid, 60);
    free(e);
    e = slurp2(dir, "mdmux.err");
    char *o = slurp2(dir, "mdmux.out");
    at_contains(o, "mdmux: port nul: steering rss");
    /* two RX lcores and feed_defaults.copies_on_rx unset: no copy filters (a feed's
       lines may reach different RX lcores) */
    at_contains(o, "copies on RX: off, as several RX lcores poll the lines");
    free(o);
    if (st != 0)
        fail_msg("mdmux run (rss): status %d\n%s", st, e);
    free(e);
}

/* ------------------------------------------------------------------------------ */
/* net_tap in a namespace                                                          */
/* ------------------------------------------------------------------------------ */

typedef at_ns_t tt_t;

static int tap_setup(void **state)
{
    *state = at_ns_new("flow", "mdmuxf");
    return 0;
}

static int tap_teardown(void **state)
{
    at_ns_free(*state);
    return 0;
}

static void make_namespace(tt_t *k)
{
    at_ns_make(k, "net_tap steering");
    /* IPv6 off before the tap exists: the kernel then sends nothing of its own on it */
    char *v6[] = {(char *)"/usr/sbin/ip",
                  (char *)"netns",
                  (char *)"exec",
                  k->ns,
                  (char *)"sysctl",
                  (char *)"-qw",
                  (char *)"net.ipv6.conf.all.disable_ipv6=1",
                  (char *)"net.ipv6.conf.default.disable_ipv6=1",
                  NULL};
    assert_int_equal(at_sh(v6), 0);
}

static void test_tap_flow(void **state)
{
    tt_t *k = *state;
    if (!at_have_gen()) {
        print_message("mdmux-gen not built (tools/gen): skipped\n");
        skip();
    }
    make_namespace(k);
    static const char *const gen[] = {"--feeds", "4", "--duration-ms", "30",
                                      "--seed",  "5", "--clean",       NULL};
    at_gen(k->dir, "t", gen);
    char cfg[512], pcap[512], stats[512], truth[512];
    snprintf(cfg, sizeof(cfg), "%s/t.yaml", k->dir);
    snprintf(pcap, sizeof(pcap), "%s/t.pcap", k->dir);
    snprintf(stats, sizeof(stats), "%s/t.stats.json", k->dir);
    snprintf(truth, sizeof(truth), "%s/t.truth.json", k->dir);
    char *y = at_slurp(cfg);
    assert_non_null(y);
    char *y2 = malloc(strlen(y) + 512);
    sprintf(y2,
            "%sports:\n"
            "  - {name: tap, device: \"net_tap0,iface=mdt0\", rx_queues: 2, steering: flow}\n"
            "rx:\n"
            "  - {lcore: 0, port: tap, queue: 0}\n"
            "  - {lcore: 1, port: tap, queue: 1, feeds: [feed00, feed01]}\n",
            y);
    at_write(cfg, y2);
    free(y);
    free(y2);

    char *run[] = {(char *)"/usr/sbin/ip",
                   (char *)"netns",
                   (char *)"exec",
                   k->ns,
                   (char *)MDMUX_BIN,
                   (char *)"run",
                   (char *)"-c",
                   cfg,
                   (char *)"--verbose",
                   (char *)"--stats-json",
                   stats,
                   (char *)"--",
                   (char *)at_file_prefix(),
                   NULL};
    int st = -1;
    k->mdmux = start_running(run, k->dir, &st);
    if (k->mdmux == 0) {
        char *e = slurp2(k->dir, "mdmux.err");
        if (st == 1 && strstr(e, "steering: flow rule 0 for feed feed00 line A") &&
            strstr(e, "rejected by net_tap")) {
            print_message("net_tap refused the rules (this kernel lacks what net_tap's "
                          "rte_flow needs: TC multiq, flower, skbedit); the refusal was "
                          "checked (exit 1, port, line and PMD named), the steering is "
                          "skipped:\n%s",
                          e);
            free(e);
            skip();
        }
        fail_msg("mdmux run (net_tap) did not come up: status %d\n%s", st, e);
    }
    char *o = slurp2(k->dir, "mdmux.out");
    at_contains(o, "mdmux: port tap: steering flow, 8 rte_flow rules");
    free(o);

    char *play[] = {(char *)"/usr/sbin/ip",
                    (char *)"netns",
                    (char *)"exec",
                    k->ns,
                    (char *)"/usr/bin/tcpreplay",
                    (char *)"-q",
                    (char *)"-i",
                    (char *)"mdt0",
                    (char *)"--pps=10000",
                    pcap,
                    NULL};
    assert_int_equal(at_sh(play), 0);
    sleep(1);
    kill(k->mdmux, SIGTERM);
    st = at_wait(k->mdmux, 60);
    k->mdmux = 0;
    if (st != 0) {
        char *e = slurp2(k->dir, "mdmux.err");
        fail_msg("mdmux run: status %d\n%s", st, e);
    }
    at_check_lines(stats, truth, false);

    /* each RX lcore classified exactly the lines of its feeds */
    json_t *s = at_json(stats), *t = at_json(truth);
    json_t *rxl = json_object_get(s, "rx_lcores");
    assert_int_equal(json_array_size(rxl), 2);
    json_t *tf = json_object_get(t, "feeds");
    for (size_t i = 0; i < json_array_size(rxl); i++) {
        json_t *x = json_array_get(rxl, i);
        json_int_t lc = json_integer_value(json_object_get(x, "lcore"));
        json_t *lines = json_object_get(x, "lines");
        for (size_t f = 0; f < json_array_size(tf); f++) {
            json_t *tfe = json_array_get(tf, f);
            const char *name = json_string_value(json_object_get(tfe, "name"));
            bool mine = (lc == 1) == (f < 2);
            for (const char *l = "A"; l; l = (*l == 'A') ? "B" : NULL) {
                json_int_t want =
                    mine ? json_integer_value(json_object_get(
                               json_object_get(json_object_get(tfe, "lines"), l), "packets"))
                         : 0;
                json_t *got = json_object_get(json_object_get(lines, name), l);
                json_int_t g = got ? json_integer_value(got) : 0;
                if (g != want)
                    fail_msg("RX lcore %lld: %s line %s: %lld packets, want %lld", (long long)lc,
                             name, l, (long long)g, (long long)want);
            }
        }
    }
    json_decref(s);
    json_decref(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_null_flow_rejected, at_dir_setup, at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_null_rss, at_dir_setup, at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_tap_flow, tap_setup, tap_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
