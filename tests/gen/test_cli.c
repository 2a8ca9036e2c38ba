/* SPDX-License-Identifier: BSD-3-Clause */
/* tools/gen: determinism (same seed, same bytes), side-file names, and the CLI's errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "gen_test.h"

static const char *const files[] = {"x.pcap", "x.yaml", "x.messages.jsonl", "x.truth.json"};

static int same_file(const char *d1, const char *d2, const char *name)
{
    size_t n1, n2;
    char *a = gt_slurp_in(d1, name, &n1), *b = gt_slurp_in(d2, name, &n2);
    assert_non_null(a);
    assert_non_null(b);
    int same = n1 == n2 && memcmp(a, b, n1) == 0;
    free(a);
    free(b);
    return same;
}

static void test_determinism(void **state)
{
    (void)state;
    char d1[256], d2[256], d3[256];
    const char *args = "-o x.pcap -q --feeds 5 --duration-ms 30 --loss-a 0.01 --dup 0.01 "
                       "--reorder 0.01 --truncate 0.01 --corrupt 0.01 --unknown 0.01 --vlan 7";
    char a1[512], a3[512];
    snprintf(a1, sizeof(a1), "%s --seed 42", args);
    snprintf(a3, sizeof(a3), "%s --seed 43", args);
    gt_tmpdir(d1, sizeof(d1));
    gt_tmpdir(d2, sizeof(d2));
    gt_tmpdir(d3, sizeof(d3));
    assert_int_equal(gt_run(d1, a1), 0);
    assert_int_equal(gt_run(d2, a1), 0);
    assert_int_equal(gt_run(d3, a3), 0);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (!same_file(d1, d2, files[i]))
            fail_msg("%s differs between two runs with the same seed", files[i]);
    assert_false(same_file(d1, d3, "x.pcap"));
    assert_false(same_file(d1, d3, "x.messages.jsonl"));
    gt_rmdir(d1);
    gt_rmdir(d2);
    gt_rmdir(d3);
}

/* Explicit side-file paths, the summary line and the bench line. */
static void test_paths_and_summary(void **state)
{
    (void)state;
    char d[256];
    gt_tmpdir(d, sizeof(d));
    assert_int_equal(gt_run(d, "-o cap --feeds 2 --duration-ms 5 --config c.yml --truth t.json "
                               "--messages m.jsonl --bench"),
                     0);
    const char *want[] = {"cap", "c.yml", "t.json", "m.jsonl"};
    for (int i = 0; i < 4; i++) {
        char *b = gt_slurp_in(d, want[i], NULL);
        if (!b)
            fail_msg("%s not written", want[i]);
        free(b);
    }
    char *out = gt_slurp_in(d, "outlog", NULL);
    assert_non_null(out);
    assert_non_null(strstr(out, "frames"));
    assert_non_null(strstr(out, "Mpps"));
    assert_non_null(strstr(out, "BENCH gen.mpps "));
    char *cfg = gt_slurp_in(d, "c.yml", NULL);
    assert_non_null(strstr(cfg, "version: 1"));
    assert_non_null(strstr(cfg, "a: {group: 239.100.0.2, port: 30001}"));
    assert_non_null(strstr(cfg, "b: {group: 239.101.0.2, port: 31001}"));
    free(cfg);
    free(out);
    gt_rmdir(d);
}

static void test_help(void **state)
{
    (void)state;
    char d[256];
    gt_tmpdir(d, sizeof(d));
    assert_int_equal(gt_run(d, "--help"), 0);
    char *out = gt_slurp_in(d, "outlog", NULL);
    static const char *const opts[] = {"--feeds",
                                       "--seed",
                                       "--duration-ms",
                                       "--packets-per-feed",
                                       "--rate",
                                       "--skew-us",
                                       "--jitter-us",
                                       "--loss-a",
                                       "--loss-b",
                                       "--loss-both",
                                       "--reorder",
                                       "--dup",
                                       "--truncate",
                                       "--corrupt",
                                       "--corrupt-payload",
                                       "--heartbeat-ms",
                                       "--no-end-session",
                                       "--vlan",
                                       "--qinq",
                                       "--burst-every-ms",
                                       "--burst-len-ms",
                                       "--burst-factor",
                                       "--unknown",
                                       "--noise",
                                       "--config",
                                       "--truth",
                                       "--messages",
                                       "--quiet",
                                       "--bench",
                                       "--jumbo",
                                       "--zero-udp"};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        if (!strstr(out, opts[i]))
            fail_msg("--help does not document %s", opts[i]);
    free(out);
    gt_rmdir(d);
}

static void test_bad_options(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", /* no -o */
        "-o x.pcap --feeds 0",
        "-o x.pcap --feeds abc",
        "-o x.pcap --feeds 1001",
        "-o x.pcap --feeds -3",
        "-o x.pcap --loss-a 1.5",
        "-o x.pcap --loss-b -0.1",
        "-o x.pcap --dup nan",
        "-o x.pcap --rate 0",
        "-o x.pcap --vlan 4096",
        "-o x.pcap --qinq 5",
        "-o x.pcap --qinq 5,x",
        "-o x.pcap --vlan 1 --qinq 2,3",
        "-o x.pcap --duration-ms 5 --packets-per-feed 9",
        "-o x.pcap --loss-a 0.5 --loss-b 0.4 --loss-both 0.2",
        "-o x.pcap --bogus",
        "-o x.pcap --seed",
        "-o x.pcap extra",
        "-o x.pcap --burst-factor 0.5",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char d[256];
        gt_tmpdir(d, sizeof(d));
        int rc = gt_run(d, bad[i]);
        char *err = gt_slurp_in(d, "err", NULL);
        if (rc != 2 || !err || !strstr(err, "mdmux-gen: "))
            fail_msg("'%s': exit %d, stderr '%s' (want 2 and a message)", bad[i], rc,
                     err ? err : "");
        free(err);
        char *pcap = gt_slurp_in(d, "x.pcap", NULL);
        assert_null(pcap); /* nothing written */
        gt_rmdir(d);
    }
}

static void test_unwritable(void **state)
{
    (void)state;
    char d[256];
    gt_tmpdir(d, sizeof(d));
    int rc = gt_run(d, "-o /nonexistent-dir/x.pcap --feeds 1 --duration-ms 1");
    assert_int_not_equal(rc, 0);
    char *err = gt_slurp_in(d, "err", NULL);
    assert_non_null(strstr(err, "/nonexistent-dir/x.pcap"));
    free(err);
    gt_rmdir(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism), cmocka_unit_test(test_paths_and_summary),
        cmocka_unit_test(test_help),        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_unwritable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
