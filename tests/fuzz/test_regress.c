/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz regressions: every file of tests/fuzz/regress/TARGET/ (the reproducers of the
 * crashes the fuzzers found, each fixed) and of tests/fuzz/corpus/TARGET/ (the seeds)
 * through the target's entry function, with the same invariants as under libFuzzer.
 * Built in every tree, so the reproducers run without clang too; the targets that
 * need lib/io or the config loader are left out of the TSan tree (no DPDK there).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static char current[1024]; /* the input being replayed, for the failure message */

void fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fail_msg("%s: %s:%d: '%s' broken: %s", current, file, line, cond, msg);
    abort(); /* not reached: fail_msg() jumps out of the test */
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replay every regular file of FUZZ_DIR/@sub/@target; returns how many. */
static unsigned replay_dir(const char *sub, const char *target,
                           int (*entry)(const uint8_t *, size_t))
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/%s/%s", MDMUX_FUZZ_DIR, sub, target);
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "README.md") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof(*names));
            assert_non_null(names);
        }
        names[n] = strdup(de->d_name);
        assert_non_null(names[n]);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), name_cmp); /* a stable order for the messages */
    unsigned done = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(current, sizeof(current), "%s/%s", dir, names[i]);
        FILE *f = fopen(current, "rb");
        if (f == NULL)
            fail_msg("%s: cannot open", current);
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        assert_true(len >= 0);
        uint8_t *buf = malloc(len ? (size_t)len : 1);
        assert_non_null(buf);
        size_t got = fread(buf, 1, (size_t)len, f);
        fclose(f);
        assert_int_equal(got, (size_t)len);
        entry(buf, got);
        free(buf);
        free(names[i]);
        done++;
    }
    free(names);
    return done;
}

static void replay(const char *target, int (*entry)(const uint8_t *, size_t))
{
    unsigned seeds = replay_dir("corpus", target, entry);
    unsigned regress = replay_dir("regress", target, entry);
    print_message("%s: %u seeds, %u regression inputs\n", target, seeds, regress);
    assert_true(seeds > 0); /* the corpus is there: this test reads what it should */
}

static void test_proto(void **state)
{
    (void)state;
    replay("proto", fz_proto);
}

#ifdef FZ_HAVE_IO
static void test_classify(void **state)
{
    (void)state;
    replay("classify", fz_classify);
}

static void test_capture(void **state)
{
    (void)state;
    replay("capture", fz_capture);
}
#endif

#ifdef FZ_HAVE_CONFIG
static void test_config(void **state)
{
    (void)state;
    replay("config", fz_config);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proto),
#ifdef FZ_HAVE_IO
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_capture),
#endif
#ifdef FZ_HAVE_CONFIG
        cmocka_unit_test(test_config),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
