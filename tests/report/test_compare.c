/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mdmux-compare (tools/compare): B/A ratios, the regression marker and exit status,
 * the threshold, and bad input (exit 2 with a message).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "sample.h"

static char dir[64];
static char a_path[128], b_path[128], out[1 << 16];

/* Run mdmux-compare with @p args; its stdout+stderr into out. Returns its status. */
static int compare(const char *fmt, ...)
{
    char args[1024], cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "%s %s 2>&1", MDMUX_COMPARE_BIN, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The line of out that starts with @p head (after spaces), or NULL. */
static const char *line_of(const char *stage, const char *figure)
{
    const char *p = strstr(out, stage);
    if (p == NULL)
        return NULL;
    char pat[32];
    snprintf(pat, sizeof(pat), "\n%-22s %-7s", "", figure);
    return strstr(p, pat);
}

/* Multiply latency.overall.STAGE.KEY of @p j by @p f. */
static void scale(json_t *j, const char *stage, const char *key, double f)
{
    json_t *s = json_object_get(json_object_get(json_object_get(j, "latency"), "overall"), stage);
    double v = json_number_value(json_object_get(s, key));
    json_object_set_new(s, key, json_integer((json_int_t)(v * f)));
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/mdmux-compare.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(a_path, sizeof(a_path), "%s/a.json", dir);
    snprintf(b_path, sizeof(b_path), "%s/b.json", dir);
    json_t *a = sample_stats(4, 5, 1.0, 7);
    json_t *b = json_deep_copy(a);
    scale(b, "rx_to_publish", "p99", 1.5);
    scale(b, "rx_to_dequeue", "p50", 0.5);
    json_t *f = json_object_get(
        json_object_get(json_object_get(json_object_get(b, "latency"), "feeds"), "feed02"),
        "rx_to_publish");
    json_object_set_new(f, "p50", json_integer(json_integer_value(json_object_get(f, "p50")) * 2));
    int rc = sample_write(a, a_path) | sample_write(b, b_path);
    json_decref(a);
    json_decref(b);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The line at @p p (without its leading newline) copied into @p buf; "" when NULL. */
static const char *line_at(const char *p, char *buf, size_t n)
{
    buf[0] = '\0';
    if (p == NULL)
        return buf;
    p += *p == '\n';
    size_t len = strcspn(p, "\n");
    snprintf(buf, n, "%.*s", (int)(len < n ? len : n - 1), p);
    return buf;
}

static void test_ratios(void **state)
{
    (void)state;
    char l[256];
    assert_int_equal(compare("%s %s", a_path, b_path), 0);
    line_at(line_of("rx_to_publish", "p99"), l, sizeof(l));
    assert_non_null(strstr(l, " 1.50  << REGRESSION"));
    line_at(line_of("rx_to_publish", "p50"), l, sizeof(l));
    assert_true(strlen(l) > 5 && strcmp(l + strlen(l) - 5, " 1.00") == 0);
    line_at(line_of("rx_to_dequeue", "p50"), l, sizeof(l));
    assert_non_null(strstr(l, " 0.50  improved"));
    /* per feed: feed02's p50 doubled */
    line_at(strstr(out, "\nfeed02"), l, sizeof(l));
    assert_non_null(strstr(l, " 2.00"));
    assert_non_null(strstr(l, "<< REGRESSION"));
    assert_non_null(strstr(out, "2 regressions beyond x1.10"));
}

static void test_exit_status(void **state)
{
    (void)state;
    assert_int_equal(compare("%s %s --fail-on-regression", a_path, b_path), 3);
    assert_int_equal(compare("--fail-on-regression %s %s", a_path, a_path), 0);
    assert_non_null(strstr(out, "no regression beyond x1.10"));
    assert_null(strstr(out, "REGRESSION"));
    /* a threshold above the changes: none */
    assert_int_equal(compare("%s %s --threshold 2.5 --fail-on-regression", a_path, b_path), 0);
    assert_non_null(strstr(out, "no regression beyond x2.50"));
    /* and below: more */
    assert_int_equal(compare("%s %s --threshold 1.4 --fail-on-regression", a_path, b_path), 3);
}

static void test_bad_input(void **state)
{
    (void)state;
    char cmd[512];
    assert_int_equal(compare("%s %s/none.json", a_path, dir), 2);
    assert_non_null(strstr(out, "none.json"));
    snprintf(cmd, sizeof(cmd),
             "echo '{\"latency\": [' > %s/bad.json; echo '{\"rx\": {}}' > "
             "%s/nolat.json",
             dir, dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(compare("%s/bad.json %s", dir, b_path), 2);
    assert_non_null(strstr(out, "bad.json:"));
    assert_int_equal(compare("%s %s/nolat.json", a_path, dir), 2);
    assert_non_null(strstr(out, "no latency section"));
    assert_int_equal(compare("%s %s --threshold x", a_path, b_path), 2);
    assert_int_equal(compare("%s %s --threshold -1", a_path, b_path), 2);
    assert_int_equal(compare("%s", a_path), 2);
    assert_int_equal(compare("%s %s --bogus", a_path, b_path), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratios),
        cmocka_unit_test(test_exit_status),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
