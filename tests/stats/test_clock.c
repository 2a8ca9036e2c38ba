/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/stats clock (calibration, conversions, the cost of reading it) and the text
 * summaries of histograms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stats.h"
#include "testutil.h"

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_calibration(void **state)
{
    (void)state;
    uint64_t hz = stats_tsc_hz();
    assert_true(hz > 100000000ull && hz < 10000000000ull); /* 0.1 .. 10 GHz */
    assert_int_equal(stats_tsc_hz(), hz);                  /* once per process */
    uint64_t one = stats_tsc_to_ns(hz);
    assert_true(one >= 999999999ull && one <= 1000000000ull);
    assert_true(stats_ns_to_tsc(1000000000ull) >= hz - 1);
    /* 20 ms of wall time measured both ways agree within 2 %. */
    uint64_t t0 = mono_ns(), c0 = stats_tsc();
    while (mono_ns() - t0 < 20000000ull)
        ;
    uint64_t c1 = stats_tsc(), t1 = mono_ns();
    double ratio = (double)stats_tsc_to_ns(c1 - c0) / (double)(t1 - t0);
    assert_true(ratio > 0.98 && ratio < 1.02);
}

static void test_clock_cost(void **state)
{
    (void)state;
    stats_clock_cost_t c;
    stats_clock_cost(&c, 0);
    assert_true(c.rdtsc_min <= c.rdtsc_ticks);
    assert_true(c.rdtscp_min <= c.rdtscp_ticks);
    assert_true(c.rdtsc_ticks < 1023 && c.rdtscp_ticks < 1023); /* not trapping */
    double per_tick = 1e9 / (double)stats_tsc_hz();
    assert_true(c.rdtsc_ns >= (double)c.rdtsc_ticks * per_tick * 0.999999);
    assert_true(c.rdtsc_ns <= (double)c.rdtsc_ticks * per_tick * 1.000001);
    print_message("clock cost: rdtsc %llu ticks (%.1f ns), rdtscp %llu ticks (%.1f ns)\n",
                  (unsigned long long)c.rdtsc_ticks, c.rdtsc_ns, (unsigned long long)c.rdtscp_ticks,
                  c.rdtscp_ns);
}

static void test_set_hz(void **state)
{
    (void)state;
    stats_clock_set_hz(0); /* ignored */
    assert_true(stats_tsc_hz() > 0);
    stats_clock_set_hz(2000000000ull);
    assert_int_equal(stats_tsc_hz(), 2000000000ull);
    assert_int_equal(stats_tsc_to_ns(2000000000ull), 1000000000ull);
    assert_int_equal(stats_tsc_to_ns(3), 1);
    assert_int_equal(stats_ns_to_tsc(1000), 2000);
    assert_int_equal(stats_tsc_to_ns(UINT64_MAX), UINT64_MAX / 2);
}

static void test_format(void **state)
{
    (void)state;
    stats_hist_t *h = stats_hist_create(1, 1000000, 3);
    assert_non_null(h);
    char line[256];
    assert_true(stats_hist_format(h, line, sizeof(line)) > 0);
    assert_string_equal(line, "count=0 min=0 p50=0 p90=0 p99=0 p99.9=0 p99.99=0 max=0");
    for (uint64_t v = 1; v <= 10000; v++)
        stats_hist_record(h, v);
    int n = stats_hist_format(h, line, sizeof(line));
    /* 1..10000 at 3 digits: values above 2047 sit in buckets of 2, 4 or 8. */
    assert_string_equal(
        line, "count=10000 min=1 p50=5003 p90=9007 p99=9903 p99.9=9991 p99.99=9999 max=10000");
    assert_int_equal(n, (int)strlen(line));
    /* Truncation is reported as snprintf does and the buffer stays terminated. */
    char small[10];
    assert_int_equal(stats_hist_format(h, small, sizeof(small)), n);
    assert_string_equal(small, "count=100");
    stats_hist_record(h, 5000000); /* overflow */
    n = stats_hist_format(h, line, sizeof(line));
    assert_non_null(strstr(line, " max=5000000 overflow=1"));
    assert_int_equal(stats_hist_format(h, small, sizeof(small)), n);
    assert_int_equal(stats_hist_format(h, NULL, 0), n);
    /* Table: header and rows line up. */
    char hdr[256], row[256];
    int hn = stats_hist_format_header(hdr, sizeof(hdr));
    int rn = stats_hist_format_row(h, "rx_to_publish", row, sizeof(row));
    assert_int_equal(hn, rn);
    assert_int_equal(strncmp(row, "rx_to_publish ", 14), 0);
    assert_non_null(strstr(row, " 5000000"));
    stats_summary_t s;
    stats_hist_summary(h, &s);
    assert_int_equal(s.count, 10001);
    assert_int_equal(s.overflow, 1);
    assert_int_equal(s.p50, stats_hist_quantile(h, 0.5));
    stats_hist_free(h);
}

static void test_distribution(void **state)
{
    (void)state;
    stats_hist_t *h = stats_hist_create(1, 1000000, 3);
    assert_non_null(h);
    for (uint64_t v = 1; v <= 1000; v++)
        stats_hist_record(h, v * 1000);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    assert_int_equal(stats_hist_write_distribution(h, f, 5, 1000.0), 0);
    fclose(f);
    /* Header, blank line, steps ascending, a last step at 1.0 with 1000 values, footer. */
    static const char head[] = "       Value     Percentile TotalCount 1/(1-Percentile)\n\n";
    assert_int_equal(strncmp(text, head, sizeof(head) - 1), 0);
    unsigned steps = 0;
    double last_p = -1, value = 0;
    unsigned long long cum = 0;
    for (char *line = text + sizeof(head) - 1; *line && *line != '#';
         line = strchr(line, '\n') + 1) {
        double p;
        assert_true(sscanf(line, "%lf %lf %llu", &value, &p, &cum) == 3);
        assert_true(p > last_p);
        last_p = p;
        steps++;
    }
    assert_true(steps > 20);
    assert_true(last_p == 1.0);
    assert_int_equal(cum, 1000);
    assert_true(value == 1000.0); /* max, in us */
    assert_non_null(strstr(text, "#[Max     =     1000.000, Total count    =         1000]"));
    free(text);
    stats_hist_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calibration),  cmocka_unit_test(test_clock_cost),
        cmocka_unit_test(test_set_hz),       cmocka_unit_test(test_format),
        cmocka_unit_test(test_distribution),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
