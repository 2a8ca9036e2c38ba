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
 * GET http://127.0.0.1:PORT/metrics; returns the body (malloc'd) or NULL when nothing
 * listens yet. HTTP/1.0, so the server closes after the body: read to EOF.
 */
static char *http_get(unsigned port, int *code)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (s < 0)
        return NULL;
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(s);
        return NULL;
    }
    static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(s, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
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
    char *out = strdup(body ? body + 4 : "");
    free(buf);
    return out;
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

static void check_scrape(const char *dir, const char *text)
{
    assert_true(sample(text, "mdmux_up") == 1);
    assert_true(sample(text, "mdmux_line_rx_packets_total{feed=\"feed00\",line=\"A\"}") > 0);
    assert_true(sample(text, "mdmux_line_packets_total{feed=\"feed01\",line=\"B\"}") > 0);
    sample(text, "mdmux_line_wins_total{feed=\"feed00\",line=\"A\"}");
    sample(text, "mdmux_line_duplicates_total{feed=\"feed00\",line=\"B\"}");
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
    /* a real histogram: cumulative buckets ending in +Inf = _count */
    double cnt = sample(text, "mdmux_stage_latency_seconds_count{stage=\"rx_to_publish\"}");
    assert_true(cnt > 0);
    assert_true(sample(text, "mdmux_stage_latency_seconds_bucket{stage=\"rx_to_publish\","
                             "le=\"+Inf\"}") == cnt);
    assert_true(sample(text, "mdmux_stage_latency_seconds_bucket{stage=\"rx_to_publish\","
                             "le=\"0.001\"}") <= cnt);
    assert_true(sample(text, "mdmux_stage_latency_seconds_sum{stage=\"rx_to_publish\"}") > 0);
    assert_non_null(strstr(text, "# TYPE mdmux_stage_latency_seconds histogram\n"));
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
             "/mdmux/latency\\n/mdmux/coroutines\\n' | python3 " TELEMETRY_CLI " -f '%s'",
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

    j = telemetry_answer(r.out, "/mdmux/coroutines");
    json_t *feed = json_object_get(json_object_get(j, "/mdmux/coroutines"), "feed");
    assert_int_equal(json_integer_value(json_object_get(feed, "live")), 2);
    /* kinds with characters DPDK refuses in keys are there, renamed */
    json_t *runner = json_object_get(json_object_get(j, "/mdmux/coroutines"), "feed_runner");
    assert_non_null(runner);
    json_decref(j);
    at_result_free(&r);
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
    char pcap[512], listen[32];
    snprintf(pcap, sizeof(pcap), "%s/live.pcap", dir);
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
                    (char *)"--no-progress",
                    (char *)"--",
                    (char *)fp,
                    NULL};
    pid_t pid = at_start(argv, dir, "mdmux");
    assert_true(pid > 0);

    /* wait for the endpoint, then for traffic to reach both feeds */
    char *text = NULL;
    int code = 0;
    for (int i = 0; i < 200; i++) {
        free(text);
        text = http_get(port, &code);
        if (text && strstr(text, "mdmux_line_packets_total{feed=\"feed01\",line=\"B\"} ") &&
            !strstr(text, "mdmux_line_packets_total{feed=\"feed01\",line=\"B\"} 0\n") &&
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
