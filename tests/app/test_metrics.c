/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Live observability of `mdmux replay`: during a paced replay the Prometheus endpoint
 * (--metrics) is scraped over loopback with a plain HTTP/1.0 GET, its series checked
 * and handed to `promtool check metrics`; the DPDK telemetry commands (--telemetry)
 * are queried with DPDK's own client, dpdk-telemetry.py, and its JSON answers
 * checked. Plus the configuration keys (metrics.listen, telemetry).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "apptest.h"
#include "config.h"

#define PROMTOOL      "/usr/bin/promtool"
#define TELEMETRY_CLI "/usr/bin/dpdk-telemetry.py"

/* A loopback TCP port free right now (the kernel picks it; mdmux binds it next). */
static unsigned free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_true(s >= 0);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

/*
 * METHOD http://127.0.0.1:PORT/PATH (no body); returns the body (malloc'd) or NULL
 * when nothing listens yet, the status in @p code and the headers (malloc'd, may be
 * NULL) in @p headers. HTTP/1.0, so the server closes after the body: read to EOF.
 */
static char *http_req(unsigned port, const char *method, const char *path, int *code,
                      char **headers)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (headers)
        *headers = NULL;
    if (s < 0)
        return NULL;
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(s);
        return NULL;
    }
    char req[256];
    int rl = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%s\r\n", method, path,
                      strcmp(method, "POST") == 0 ? "Content-Length: 0\r\n" : "");
    if (write(s, req, (size_t)rl) != (ssize_t)rl) {
        close(s);
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t n;
    while (buf && (n = read(s, buf + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (cap - len < 4096)
            buf = realloc(buf, cap *= 2);
    }
    close(s);
    if (buf == NULL)
        return NULL;
    buf[len] = '\0';
    *code = 0;
    sscanf(buf, "HTTP/%*s %d", code);
    char *body = strstr(buf, "\r\n\r\n");
    if (headers)
        *headers = strndup(buf, body ? (size_t)(body - buf) : len);
    char *out = strdup(body ? body + 4 : "");
    free(buf);
    return out;
}

/* GET /metrics. */
static char *http_get(unsigned port, int *code)
{
    return http_req(port, "GET", "/metrics", code, NULL);
}

/* Value of the sample line starting with @p series (name and labels); fails if absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    fail_msg("series %s not in the scrape:\n%.4000s", series, text);
    return 0;
}

/* The --file-prefix value of at_file_prefix() (for dpdk-telemetry.py -f). */
static const char *prefix_value(const char *arg)
{
    const char *eq = strchr(arg, '=');
    return eq ? eq + 1 : arg;
}

/* One telemetry answer: the JSON object on the line for @p cmd in the client's output. */
static json_t *telemetry_answer(const char *out, const char *cmd)
{
    char key[128];
    snprintf(key, sizeof(key), "{\"%s\":", cmd);
    for (const char *p = strstr(out, key); p; p = strstr(p + 1, key)) {
        const char *end = strchr(p, '\n');
        json_error_t e;
        json_t *j = json_loadb(p, end ? (size_t)(end - p) : strlen(p), 0, &e);
        if (j)
            return j;
    }
    fail_msg("no answer to %s in:\n%s", cmd, out);
    return NULL;
}

/* Sum of the samples of every line starting with @p prefix and containing @p with. */
static double sum_samples(const char *text, const char *prefix, const char *with, unsigned *n)
{
    double sum = 0;
    size_t pl = strlen(prefix);
    *n = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char line[512];
        if (strncmp(p, prefix, pl) != 0 || len >= sizeof(line))
            continue;
        memcpy(line, p, len);
        line[len] = '\0';
        char *sp = strrchr(line, ' ');
        if (strstr(line, with) == NULL || sp == NULL)
            continue;
        sum += strtod(sp + 1, NULL);
        (*n)++;
    }
    return sum;
}

/*
 * Per-feed stage histograms: a series per feed and stage, and in the same scrape the
 * feeds' counts, sums and shared buckets add up to the overall ones exactly.
 */
static void check_feed_latency(const char *text)
{
    assert_non_null(strstr(text, "# TYPE mdmux_feed_stage_latency_seconds histogram\n"));
    static const char *const stages[] = {"rx_to_dequeue", "dequeue_to_decode", "decode_to_publish",
                                         "rx_to_publish"};
    char with[128], series[256];
    for (unsigned s = 0; s < 4; s++) {
        unsigned n;
        snprintf(with, sizeof(with), "stage=\"%s\"}", stages[s]);
        double per_feed = sum_samples(text, "mdmux_feed_stage_latency_seconds_count{", with, &n);
        assert_int_equal(n, 2); /* feed00, feed01 */
        snprintf(series, sizeof(series), "mdmux_stage_latency_seconds_count{stage=\"%s\"}",
                 stages[s]);
        double overall = sample(text, series);
        if (per_feed != overall)
            fail_msg("%s: the feeds' counts sum to %.0f, the overall count is %.0f", stages[s],
                     per_feed, overall);
        /* a bucket both families have */
        snprintf(with, sizeof(with), "stage=\"%s\",le=\"5e-05\"}", stages[s]);
        per_feed = sum_samples(text, "mdmux_feed_stage_latency_seconds_bucket{", with, &n);
        assert_int_equal(n, 2);
        snprintf(series, sizeof(series),
                 "mdmux_stage_latency_seconds_bucket{stage=\"%s\",le=\"5e-05\"}", stages[s]);
        assert_true(per_feed == sample(text, series));
    }
    double c = sample(text, "mdmux_feed_stage_latency_seconds_count{feed=\"feed01\","
                            "stage=\"rx_to_publish\"}");
    assert_true(c > 0);
    assert_true(sample(text, "mdmux_feed_stage_latency_seconds_bucket{feed=\"feed01\","
                             "stage=\"rx_to_publish\",le=\"+Inf\"}") == c);
    /* cumulative: every bucket at most the next one */
    static const char *const le[] = {"1e-07", "5e-07",  "1e-06",  "5e-06", "1e-05",
                                     "5e-05", "0.0001", "0.0005", "0.001", "0.005",
                                     "0.01",  "0.05",   "0.1",    "+Inf"};
    double prev = 0;
    for (unsigned k = 0; k < sizeof(le) / sizeof(le[0]); k++) {
        snprintf(series, sizeof(series),
                 "mdmux_feed_stage_latency_seconds_bucket{feed=\"feed01\",stage=\"rx_to_publish\","
                 "le=\"%s\"}",
                 le[k]);
        double b = sample(text, series);
        if (b < prev)
            fail_msg("%s: %.0f below the bucket before it (%.0f)", series, b, prev);
        prev = b;
    }
    /* the per-feed ladder is the 1-5 subset: 13 bounds, then +Inf */
    unsigned n;
    sum_samples(text,
                "mdmux_feed_stage_latency_seconds_bucket{feed=\"feed00\","
                "stage=\"rx_to_publish\"",
                "", &n);
    assert_int_equal(n, 14);
    assert_null(strstr(text, "mdmux_feed_stage_latency_seconds_bucket{feed=\"feed00\","
                             "stage=\"rx_to_publish\",le=\"2e-06\"}"));
}

static void check_scrape(const char *dir, const char *text)
{
    assert_true(sample(text, "mdmux_up") == 1);
    assert_true(sample(text, "mdmux_line_rx_packets_total{feed=\"feed00\",line=\"A\"}") > 0);
    assert_true(sample(text, "mdmux_line_packets_total{feed=\"feed01\",line=\"B\"}") > 0);
    sample(text, "mdmux_line_wins_total{feed=\"feed00\",line=\"A\"}");
    double dups = sample(text, "mdmux_line_duplicates_total{feed=\"feed00\",line=\"B\"}");
    double copies = sample(text, "mdmux_line_rx_copies_total{feed=\"feed00\",line=\"B\"}");
    assert_true(copies <= dups); /* copies on RX (the default) are some of the duplicates */
    sample(text, "mdmux_line_channel_full_drops_total{feed=\"feed00\",line=\"A\"}");
    sample(text, "mdmux_line_malformed_total{feed=\"feed00\",line=\"A\",reason=\"short_header\"}");
    sample(text, "mdmux_rx_malformed_total{lcore=\"1\",reason=\"ip_checksum\"}");
    sample(text, "mdmux_feed_gaps_total{feed=\"feed00\"}");
    sample(text, "mdmux_feed_recovered_total{feed=\"feed00\"}");
    assert_true(sample(text, "mdmux_feed_up{feed=\"feed00\"}") == 1);
    assert_true(sample(text, "mdmux_line_up{feed=\"feed00\",line=\"A\"}") == 1);
    sample(text, "mdmux_channel_depth{feed=\"feed00\",line=\"A\"}");
    assert_true(sample(text, "mdmux_coroutines{kind=\"rx\"}") == 1);
    assert_true(sample(text, "mdmux_coroutines{kind=\"feed\"}") == 2);
    assert_true(sample(text, "mdmux_coroutines{kind=\"mux\"}") == 1);
    assert_true(sample(text, "mdmux_workers{role=\"rx\"}") == 1);
    /* a paced replay on two lcores: latency recorded beside RX, nothing lost */
    assert_true(sample(text, "mdmux_latency_recorder_lcore") == 1);
    assert_true(sample(text, "mdmux_coroutines{kind=\"recorder\"}") == 1);
    assert_true(sample(text, "mdmux_latency_recorder_dropped_total") == 0);
    sample(text, "mdmux_latency_recorder_waits_total");
    /* the schedulers' usage: the handler lcore's busy time within its run time */
    double busy = sample(text, "mdmux_sched_busy_seconds_total{sched=\"lcore0\"}");
    double run = sample(text, "mdmux_sched_seconds_total{sched=\"lcore0\"}");
    if (!(run > 0 && busy > 0 && busy <= run))
        fail_msg("lcore0's scheduler: busy %.6f s of %.6f s", busy, run);
    /* the RX poller's own busy time (lcore 1), which its scheduler's cannot show */
    double rx_busy = sample(text, "mdmux_rx_busy_seconds_total{lcore=\"1\"}");
    double run1 = sample(text, "mdmux_sched_seconds_total{sched=\"lcore1\"}");
    if (!(rx_busy > 0 && rx_busy < run1))
        fail_msg("RX on lcore 1: polls with packets %.6f s of %.6f s", rx_busy, run1);
    /* a real histogram: cumulative buckets ending in +Inf = _count */
    double cnt = sample(text, "mdmux_stage_latency_seconds_count{stage=\"rx_to_publish\"}");
    assert_true(cnt > 0);
    assert_true(sample(text, "mdmux_stage_latency_seconds_bucket{stage=\"rx_to_publish\","
                             "le=\"+Inf\"}") == cnt);
    assert_true(sample(text, "mdmux_stage_latency_seconds_bucket{stage=\"rx_to_publish\","
                             "le=\"0.001\"}") <= cnt);
    assert_true(sample(text, "mdmux_stage_latency_seconds_sum{stage=\"rx_to_publish\"}") > 0);
    assert_non_null(strstr(text, "# TYPE mdmux_stage_latency_seconds histogram\n"));
    check_feed_latency(text);
    assert_non_null(strstr(text, "# TYPE mdmux_line_packets_total counter\n"));

    char path[512], cmd[1200];
    snprintf(path, sizeof(path), "%s/scrape.txt", dir);
    at_write(path, text);
    if (access(PROMTOOL, X_OK) != 0) {
        print_message("promtool not installed (Debian package prometheus): "
                      "`promtool check metrics` skipped\n");
        return;
    }
    snprintf(cmd, sizeof(cmd), PROMTOOL " check metrics < '%s'", path);
    char *argv[] = {(char *)"/bin/sh", (char *)"-c", cmd, NULL};
    at_result_t r;
    int st = at_run(argv, 60, &r);
    if (st != 0)
        fail_msg("promtool check metrics: status %d\n%s%s", st, r.out, r.err);
    at_result_free(&r);
}

static void check_telemetry(const char *prefix)
{
    if (access(TELEMETRY_CLI, R_OK) != 0) {
        print_message(TELEMETRY_CLI " not installed (dpdk package): telemetry skipped\n");
        return;
    }
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "printf '/mdmux/feeds\\n/mdmux/feed,feed01\\n/mdmux/feed,nosuch\\n"
             "/mdmux/latency\\n/mdmux/latency,feed01\\n/mdmux/latency,nosuch\\n"
             "/mdmux/coroutines\\n/mdmux/lcores\\n' | python3 " TELEMETRY_CLI " -f '%s'",
             prefix);
    char *argv[] = {(char *)"/bin/sh", (char *)"-c", cmd, NULL};
    at_result_t r;
    int st = at_run(argv, 60, &r);
    if (st != 0)
        fail_msg("dpdk-telemetry.py: status %d\n%s%s", st, r.out, r.err);

    json_t *j = telemetry_answer(r.out, "/mdmux/feeds");
    json_t *f0 = json_object_get(json_object_get(j, "/mdmux/feeds"), "feed00");
    assert_non_null(f0);
    assert_string_equal(json_string_value(json_object_get(f0, "state")), "up");
    assert_true(json_integer_value(json_object_get(f0, "messages")) > 0);
    assert_true(json_integer_value(json_object_get(f0, "packets_A")) > 0);
    json_decref(j);

    /* the known feed first, then the unknown one: both answer /mdmux/feed */
    const char *p = strstr(r.out, "{\"/mdmux/feed\":");
    assert_non_null(p);
    j = telemetry_answer(p, "/mdmux/feed");
    json_t *f1 = json_object_get(j, "/mdmux/feed");
    assert_string_equal(json_string_value(json_object_get(f1, "name")), "feed01");
    assert_true(json_integer_value(json_object_get(json_object_get(f1, "B"), "packets")) > 0);
    json_decref(j);
    j = telemetry_answer(strstr(p + 1, "{\"/mdmux/feed\":"), "/mdmux/feed");
    const char *e = json_string_value(json_object_get(json_object_get(j, "/mdmux/feed"), "error"));
    assert_non_null(e);
    assert_non_null(strstr(e, "nosuch"));
    json_decref(j);

    j = telemetry_answer(r.out, "/mdmux/latency");
    json_t *lat = json_object_get(json_object_get(j, "/mdmux/latency"), "rx_to_publish");
    assert_true(json_integer_value(json_object_get(lat, "count")) > 0);
    assert_true(json_integer_value(json_object_get(lat, "p50")) <=
                json_integer_value(json_object_get(lat, "p99")));
    assert_true(json_integer_value(json_object_get(lat, "p99")) <=
                json_integer_value(json_object_get(lat, "max")));
    json_decref(j);

    /* per feed: the overall answer first, then feed01's, then the unknown feed's */
    p = strstr(r.out, "{\"/mdmux/latency\":");
    assert_non_null(p);
    p = strstr(p + 1, "{\"/mdmux/latency\":");
    assert_non_null(p);
    j = telemetry_answer(p, "/mdmux/latency");
    json_t *fl = json_object_get(j, "/mdmux/latency");
    assert_string_equal(json_string_value(json_object_get(fl, "name")), "feed01");
    assert_string_equal(json_string_value(json_object_get(fl, "unit")), "ns");
    assert_true(json_integer_value(json_object_get(fl, "precision_digits")) >= 2);
    static const char *const fstages[] = {"rx_to_dequeue", "dequeue_to_decode", "decode_to_publish",
                                          "rx_to_publish"};
    uint64_t fcount = 0;
    for (unsigned s = 0; s < 4; s++) {
        json_t *x = json_object_get(fl, fstages[s]);
        assert_non_null(x);
        uint64_t c = (uint64_t)json_integer_value(json_object_get(x, "count"));
        assert_true(c > 0);
        if (s == 0)
            fcount = c;
        assert_int_equal(c, fcount); /* every stage counts each message once */
        static const char *const order[] = {"min", "p50", "p90", "p99", "p999", "p9999", "max"};
        for (unsigned k = 1; k < 7; k++)
            assert_true(json_integer_value(json_object_get(x, order[k - 1])) <=
                        json_integer_value(json_object_get(x, order[k])));
    }
    json_decref(j);
    j = telemetry_answer(strstr(p + 1, "{\"/mdmux/latency\":"), "/mdmux/latency");
    e = json_string_value(json_object_get(json_object_get(j, "/mdmux/latency"), "error"));
    assert_non_null(e);
    assert_non_null(strstr(e, "nosuch"));
    json_decref(j);

    j = telemetry_answer(r.out, "/mdmux/coroutines");
    json_t *feed = json_object_get(json_object_get(j, "/mdmux/coroutines"), "feed");
    assert_int_equal(json_integer_value(json_object_get(feed, "live")), 2);
    /* kinds with characters DPDK refuses in keys are there, renamed */
    json_t *runner = json_object_get(json_object_get(j, "/mdmux/coroutines"), "feed_runner");
    assert_non_null(runner);
    json_decref(j);

    /* the handler lcore's scheduler (lcore0): busy within its run time, idle passes */
    j = telemetry_answer(r.out, "/mdmux/lcores");
    json_t *l0 = json_object_get(json_object_get(j, "/mdmux/lcores"), "lcore0");
    json_int_t busy = json_integer_value(json_object_get(l0, "busy_us"));
    json_int_t run = json_integer_value(json_object_get(l0, "run_us"));
    json_int_t pm = json_integer_value(json_object_get(l0, "busy_permille"));
    if (l0 == NULL || run <= 0 || busy > run || pm < 0 || pm > 1000)
        fail_msg("/mdmux/lcores: lcore0 busy %lld us of %lld us (%lld per mille)\n%s",
                 (long long)busy, (long long)run, (long long)pm, r.out);
    json_decref(j);
    at_result_free(&r);
}

/* POST /report writes the on-demand set into --report DIR and names it; GET is refused
   (an action), GET /latency answers the running latency JSON. */
static void check_report_endpoint(unsigned port, const char *rep)
{
    int code = 0;
    char *hdr = NULL;
    char *body = http_req(port, "POST", "/report", &code, &hdr);
    assert_non_null(body);
    if (code != 200)
        fail_msg("POST /report: %d\n%s", code, body);
    at_contains(hdr, "application/json");
    json_error_t e;
    json_t *j = json_loads(body, 0, &e);
    if (j == NULL)
        fail_msg("POST /report: not JSON (%s):\n%s", e.text, body);
    json_t *files = json_object_get(j, "files");
    assert_int_equal(json_array_size(files), 3);
    static const char *const want[] = {"/latency.json", "/latency.txt", "/report.html"};
    for (size_t i = 0; i < 3; i++) {
        const char *f = json_string_value(json_array_get(files, i));
        assert_non_null(f);
        assert_true(f[0] == '/'); /* absolute */
        size_t fl = strlen(f), wl = strlen(want[i]);
        assert_true(fl > wl && strcmp(f + fl - wl, want[i]) == 0);
        assert_int_equal(access(f, R_OK), 0);
    }
    const char *when = json_string_value(json_object_get(j, "time"));
    assert_non_null(when);
    assert_int_equal(strlen(when), strlen("2026-12-01T14:05:06.123Z"));
    assert_true(when[strlen(when) - 1] == 'Z');
    assert_true(json_integer_value(json_object_get(j, "unix_ms")) > 0);
    assert_true(json_integer_value(json_object_get(j, "messages")) > 0);
    /* what it wrote is the running report: not final, and a page with plots */
    char path[600];
    snprintf(path, sizeof(path), "%s/latency.json", rep);
    json_t *lj = at_json(path);
    json_t *lat = json_object_get(lj, "latency");
    assert_true(json_is_false(json_object_get(lat, "final")));
    assert_true(json_integer_value(json_object_get(
                    json_object_get(json_object_get(lat, "overall"), "rx_to_publish"), "count")) >
                0);
    json_decref(lj);
    snprintf(path, sizeof(path), "%s/report.html", rep);
    char *html = at_slurp(path);
    assert_non_null(html);
    at_contains(html, "<svg");
    at_contains(html, "on-demand report");
    free(html);
    json_decref(j);
    free(body);
    free(hdr);

    body = http_req(port, "GET", "/report", &code, &hdr);
    assert_non_null(body);
    assert_int_equal(code, 405);
    at_contains(hdr, "Allow: POST");
    at_contains(body, "\"error\"");
    free(body);
    free(hdr);

    body = http_req(port, "GET", "/latency", &code, NULL);
    assert_non_null(body);
    assert_int_equal(code, 200);
    j = json_loads(body, 0, &e);
    assert_non_null(j);
    assert_true(json_is_false(json_object_get(j, "final")));
    assert_non_null(json_object_get(json_object_get(j, "feeds"), "feed01"));
    json_decref(j);
    free(body);
}

static void test_scrape_and_telemetry_during_replay(void **state)
{
    if (!at_have_gen()) {
        print_message("mdmux-gen not built (tools/gen): skipped\n");
        skip();
    }
    const char *dir = *state;
    static const char *const gen[] = {"--feeds", "2", "--duration-ms", "50", NULL};
    at_gen(dir, "live", gen);
    char pcap[512], listen[32], rep[512];
    snprintf(pcap, sizeof(pcap), "%s/live.pcap", dir);
    snprintf(rep, sizeof(rep), "%s/rep", dir);
    unsigned port = free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    const char *fp = at_file_prefix();
    char *argv[] = {(char *)MDMUX_BIN,
                    (char *)"replay",
                    pcap,
                    (char *)"--rate",
                    (char *)"400",
                    (char *)"--loop",
                    (char *)"1000",
                    (char *)"--metrics",
                    listen,
                    (char *)"--telemetry",
                    (char *)"--report",
                    rep,
                    (char *)"--no-progress",
                    (char *)"--",
                    (char *)fp,
                    NULL};
    pid_t pid = at_start(argv, dir, "mdmux");
    assert_true(pid > 0);

    /* wait for the endpoint, then for traffic to reach both feeds (handler and RX counters) */
    char *text = NULL;
    int code = 0;
    for (int i = 0; i < 200; i++) {
        free(text);
        text = http_get(port, &code);
        if (text && strstr(text, "mdmux_line_packets_total{feed=\"feed01\",line=\"B\"} ") &&
            !strstr(text, "mdmux_line_packets_total{feed=\"feed01\",line=\"B\"} 0\n") &&
            /* RX publishes its counters on its own period: wait for them too */
            !strstr(text, "mdmux_line_rx_packets_total{feed=\"feed00\",line=\"A\"} 0\n") &&
            strstr(text, "mdmux_stage_latency_seconds_count{stage=\"rx_to_publish\"} ") &&
            !strstr(text, "mdmux_stage_latency_seconds_count{stage=\"rx_to_publish\"} 0\n"))
            break;
        usleep(100 * 1000);
    }
    if (text == NULL) {
        kill(pid, SIGKILL);
        at_wait(pid, 10);
        fail_msg("nothing listens on %s", listen);
    }
    assert_int_equal(code, 200);
    check_scrape(dir, text);
    double before = sample(text, "mdmux_line_rx_packets_total{feed=\"feed00\",line=\"A\"}");
    free(text);

    check_telemetry(prefix_value(fp));
    check_report_endpoint(port, rep);

    /* live counters: a later scrape has seen more packets */
    usleep(300 * 1000);
    text = http_get(port, &code);
    assert_non_null(text);
    assert_true(sample(text, "mdmux_line_rx_packets_total{feed=\"feed00\",line=\"A\"}") > before);
    free(text);

    kill(pid, SIGTERM);
    int st = at_wait(pid, AT_TIMEOUT_S);
    if (st != 0) {
        char errp[512];
        snprintf(errp, sizeof(errp), "%s/mdmux.err", dir);
        char *err = at_slurp(errp);
        print_error("%s", err ? err : "");
        free(err);
        fail_msg("mdmux: status %d after SIGTERM", st);
    }
}

/* Without --report DIR, POST /report says why (409) and writes nothing. */
static void test_report_without_dir(void **state)
{
    at_need_gen();
    const char *dir = *state;
    static const char *const gen[] = {"--feeds", "1", "--duration-ms", "50", NULL};
    at_gen(dir, "nodir", gen);
    char pcap[512], listen[32];
    snprintf(pcap, sizeof(pcap), "%s/nodir.pcap", dir);
    unsigned port = free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    char *argv[] = {(char *)MDMUX_BIN,
                    (char *)"replay",
                    pcap,
                    (char *)"--rate",
                    (char *)"400",
                    (char *)"--loop",
                    (char *)"1000",
                    (char *)"--metrics",
                    listen,
                    (char *)"--no-progress",
                    (char *)"--",
                    (char *)at_file_prefix(),
                    NULL};
    pid_t pid = at_start(argv, dir, "nodir");
    assert_true(pid > 0);
    char *body = NULL;
    int code = 0;
    for (int i = 0; i < 200 && body == NULL; i++) {
        body = http_req(port, "POST", "/report", &code, NULL);
        if (body == NULL)
            usleep(100 * 1000);
    }
    kill(pid, SIGTERM);
    assert_int_equal(at_wait(pid, AT_TIMEOUT_S), 0);
    assert_non_null(body);
    assert_int_equal(code, 409);
    at_contains(body, "--report DIR");
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(json_string_value(json_object_get(j, "error")));
    json_decref(j);
    free(body);
}

/* metrics: and telemetry: in the configuration; --metrics on the command line. */
static void test_config_keys(void **state)
{
    (void)state;
    static const char base[] = "version: 1\n"
                               "feeds:\n"
                               "  - name: f\n"
                               "    a: {group: 239.1.1.1, port: 30000}\n";
    char y[1024], err[2048];
    cfg_t *c = cfg_parse(base, sizeof(base) - 1, "t.yaml", err, sizeof(err));
    assert_non_null(c);
    assert_null(c->metrics.listen); /* off unless asked */
    assert_false(c->telemetry);
    cfg_free(c);

    snprintf(y, sizeof(y), "%smetrics: {}\ntelemetry: true\n", base);
    c = cfg_parse(y, strlen(y), "t.yaml", err, sizeof(err));
    assert_non_null(c);
    assert_string_equal(c->metrics.listen, "127.0.0.1:9101");
    assert_int_equal(c->metrics.port, 9101);
    assert_int_equal(c->metrics.addr_be, htonl(INADDR_LOOPBACK));
    assert_true(c->telemetry);
    cfg_free(c);

    snprintf(y, sizeof(y), "%smetrics: {listen: \"0.0.0.0:9200\"}\n", base);
    c = cfg_parse(y, strlen(y), "t.yaml", err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(c->metrics.port, 9200);
    assert_int_equal(c->metrics.addr_be, htonl(INADDR_ANY));
    cfg_free(c);

    snprintf(y, sizeof(y), "%smetrics: {listen: \"localhost:x\"}\n", base);
    c = cfg_parse(y, strlen(y), "t.yaml", err, sizeof(err));
    assert_null(c);
    at_contains(err, "metrics.listen");

    uint32_t a;
    uint16_t p;
    assert_int_equal(cfg_parse_listen("9300", &a, &p), 0);
    assert_int_equal(p, 9300);
    assert_int_equal(a, htonl(INADDR_LOOPBACK));
    assert_int_equal(cfg_parse_listen(":9301", &a, &p), 0);
    assert_int_equal(p, 9301);
    assert_int_equal(cfg_parse_listen("1.2.3.4:0", &a, &p), -1);
    assert_int_equal(cfg_parse_listen("", &a, &p), -1);

    char *argv[] = {(char *)MDMUX_BIN,   (char *)"replay", (char *)"x.pcap",
                    (char *)"--metrics", (char *)"nope",   NULL};
    at_result_t r;
    assert_int_equal(at_run(argv, 30, &r), 2);
    at_contains(r.err, "--metrics");
    at_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_keys),
        cmocka_unit_test_setup_teardown(test_scrape_and_telemetry_during_replay, at_dir_setup,
                                        at_dir_teardown),
        cmocka_unit_test_setup_teardown(test_report_without_dir, at_dir_setup, at_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
