/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `mdmux jitter` (app/jitter.c): one second on CPU 0 with --json, and the JSON's
 * internal consistency (histogram counts sum to the iterations, percentiles ordered,
 * every listed interruption at or over the threshold, within the run). Nothing is
 * asserted on the timing values themselves: they depend on the machine and its load.
 * Bad options exit with status 2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "apptest.h"

/* Integer member @p key of @p obj; fails the test when absent or not an integer. */
static json_int_t jint(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        fail_msg("JSON: %s missing or not an integer", key);
    return json_integer_value(v);
}

static void test_one_second_json(void **state)
{
    (void)state;
    char dir[256], json[320];
    at_tmpdir(dir, sizeof(dir), "jitter");
    snprintf(json, sizeof(json), "%s/jitter.json", dir);
    char *argv[] = {MDMUX_BIN, "jitter", "--seconds", "1",  "--cpu", "0",
                    "--list",  "3",      "--json",    json, NULL};
    at_result_t r;
    int st = at_run(argv, AT_TIMEOUT_S, &r);
    if (st != 0)
        fail_msg("mdmux jitter exited %d:\n%s\n%s", st, r.out, r.err);
    at_contains(r.out, "CPU 0:");
    at_contains(r.out, "advisory: CPU 0:");

    json_t *root = at_json(json);
    json_t *j = json_object_get(root, "jitter");
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "unit")), "ns");
    json_int_t thr = jint(j, "threshold_ns");
    assert_int_equal(thr, 1000);
    assert_true(jint(j, "tsc_hz") > 0);
    json_t *cpus = json_object_get(j, "cpus");
    assert_int_equal(json_array_size(cpus), 1);
    json_t *c = json_array_get(cpus, 0);
    assert_int_equal(jint(c, "cpu"), 0);

    json_int_t iters = jint(c, "iterations"), elapsed = jint(c, "elapsed_ns");
    assert_true(iters > 0);
    /* the run lasts the asked second (give or take the last gap, and the rounding of
       1 s to TSC ticks and back) */
    assert_true(elapsed >= 1000000000 - 1000);
    json_int_t min = jint(c, "min"), p50 = jint(c, "p50"), p90 = jint(c, "p90");
    json_int_t p99 = jint(c, "p99"), p999 = jint(c, "p999"), p9999 = jint(c, "p9999");
    json_int_t max = jint(c, "max");
    assert_true(min <= p50 && p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= p9999 &&
                p9999 <= max);

    /* The histogram's buckets hold every gap once. */
    json_t *hist = json_object_get(c, "histogram");
    assert_true(json_is_array(hist));
    json_int_t sum = 0, over = 0, prev_v = -1;
    size_t i;
    json_t *b;
    json_array_foreach(hist, i, b)
    {
        json_int_t v = json_integer_value(json_array_get(b, 0));
        json_int_t n = json_integer_value(json_array_get(b, 1));
        assert_true(v > prev_v); /* ascending, each bucket once */
        assert_true(n > 0);
        prev_v = v;
        sum += n;
        if (v > thr)
            over += n;
    }
    assert_int_equal(sum, iters);

    /* Interruptions: counted, listed ones a prefix of them, each over the threshold. */
    json_t *ints = json_object_get(c, "interruptions");
    assert_non_null(ints);
    json_int_t count = jint(ints, "count"), listed = jint(ints, "listed");
    json_int_t lost = jint(ints, "lost_ns");
    assert_true(count >= 0 && listed >= 0 && listed <= count && listed <= 10000);
    assert_true(count <= iters);
    /* An interruption is a recorded gap over the threshold, and a bucket's top is at or
     * above every value in it: the buckets over the threshold hold at least them all. */
    assert_true(over >= count);
    assert_true(lost >= 0 && lost <= elapsed);
    assert_true(json_real_value(json_object_get(ints, "lost_pct")) >= 0);
    assert_true(json_real_value(json_object_get(ints, "lost_pct")) <= 100);
    json_t *list = json_object_get(ints, "list");
    assert_int_equal((json_int_t)json_array_size(list), listed);
    json_int_t listed_sum = 0, prev_t = -1;
    json_array_foreach(list, i, b)
    {
        json_int_t t = jint(b, "t_ns"), ns = jint(b, "ns");
        /* each one: over the threshold (the same ns value the histogram recorded),
         * no longer than the longest gap, in time order, within the run */
        assert_true(ns > thr);
        assert_true(ns <= max);
        assert_true(t > prev_t);
        assert_true(t + ns <= elapsed + 1);
        prev_t = t;
        listed_sum += ns;
    }
    assert_true(listed_sum <= lost + listed); /* per-entry rounding of at most 1 ns */
    if (count == 0)
        assert_int_equal(lost, 0);

    json_decref(root);
    at_result_free(&r);
    at_rmdir(dir);
}

/* @p args (NULL-terminated, after "jitter") must exit with status 2 and a message. */
static void rejects(const char *const *args, const char *msg)
{
    char *argv[16] = {MDMUX_BIN, "jitter"};
    unsigned n = 2;
    for (; *args != NULL && n < 15; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    at_result_t r;
    int st = at_run(argv, AT_TIMEOUT_S, &r);
    if (st != 2)
        fail_msg("%s %s: exit %d, expected 2:\n%s", argv[2], argv[3] ? argv[3] : "", st, r.err);
    at_contains(r.err, msg);
    at_result_free(&r);
}

static void test_bad_options(void **state)
{
    (void)state;
    rejects((const char *[]){"--cpu", "x", NULL}, "--cpu 'x'");
    rejects((const char *[]){"--cpu", "3-1", NULL}, "--cpu '3-1'");
    rejects((const char *[]){"--cpu", "0,", NULL}, "--cpu '0,'");
    rejects((const char *[]){"--cpu", "100000", NULL}, "--cpu '100000'");
    rejects((const char *[]){"--cpu", "1000", NULL}, "CPU 1000 is not one");
    rejects((const char *[]){"--seconds", "0", NULL}, "--seconds '0'");
    rejects((const char *[]){"--seconds", "-1", NULL}, "--seconds '-1'");
    rejects((const char *[]){"--seconds", "abc", NULL}, "--seconds 'abc'");
    rejects((const char *[]){"--seconds", NULL}, "missing value");
    rejects((const char *[]){"--threshold-ns", "0", NULL}, "--threshold-ns '0'");
    rejects((const char *[]){"--threshold-ns", "1.5", NULL}, "--threshold-ns '1.5'");
    rejects((const char *[]){"--list", "10001", NULL}, "--list '10001'");
    rejects((const char *[]){"--frobnicate", NULL}, "unknown option");
    rejects((const char *[]){"extra", NULL}, "unexpected argument 'extra'");
}

static void test_help(void **state)
{
    (void)state;
    char *argv[] = {MDMUX_BIN, "jitter", "--help", NULL};
    at_result_t r;
    assert_int_equal(at_run(argv, AT_TIMEOUT_S, &r), 0);
    at_contains(r.out, "--threshold-ns");
    at_result_free(&r);
    char *argv2[] = {MDMUX_BIN, "--help", NULL};
    assert_int_equal(at_run(argv2, AT_TIMEOUT_S, &r), 0);
    at_contains(r.out, "mdmux jitter");
    at_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_second_json),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
