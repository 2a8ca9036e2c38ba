/* SPDX-License-Identifier: BSD-3-Clause */
/* tools/sub (mdmux-sub) against a live ring: two subscriber processes, one of them
 * deliberately slow, both check the stream (--check) and report exact loss; a missing
 * ring or a bad header is a clear error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mux.h"
#include "testutil.h"

extern char **environ;

static char shm_path[128];

/* Start mdmux-sub with @p args (NULL-terminated), stderr to @p err_path. */
static pid_t spawn_sub(const char *const *args, const char *err_path)
{
    const char *argv[16] = {MDMUX_SUB_BIN};
    unsigned n = 1;
    while (*args && n < 15)
        argv[n++] = *args++;
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, MDMUX_SUB_BIN, &fa, NULL, (char **)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

/* The summary line of a finished mdmux-sub: records, lost, breaches, and start (the
   records published before its first one: got + lost + start is the publisher's count). */
static void summary(const char *err_path, unsigned long long *got, unsigned long long *lost,
                    unsigned long long *breaches, unsigned long long *start)
{
    FILE *f = fopen(err_path, "r");
    assert_non_null(f);
    char line[512];
    bool found = false;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "mdmux-sub: records %llu lost %llu laps %*u breaches %llu", got, lost,
                   breaches) == 3) {
            const char *st = strstr(line, " start ");
            found = st && sscanf(st, " start %llu", start) == 1;
        }
    fclose(f);
    if (!found)
        fail_msg("no summary in %s", err_path);
}

static void test_two_subscribers_one_slow(void **state)
{
    (void)state;
    snprintf(shm_path, sizeof(shm_path), "/dev/shm/mdmux-test-sub-%d", (int)getpid());
    char e_fast[128], e_slow[128];
    snprintf(e_fast, sizeof(e_fast), "/tmp/mdmux-test-sub-%d.fast", (int)getpid());
    snprintf(e_slow, sizeof(e_slow), "/tmp/mdmux-test-sub-%d.slow", (int)getpid());
    char err[256];
    mux_shm_t *s =
        mux_shm_new(&(mux_shm_conf_t){.path = shm_path, .slots = 4096}, err, sizeof(err));
    assert_non_null(s);
    const char *fast[] = {shm_path,    "--count", "--check", "--from-oldest",
                          "--wait-ms", "5000",    NULL};
    const char *slow[] = {shm_path,    "--json", "--check", "--from-oldest",
                          "--slow-ns", "20000",  NULL};
    pid_t pf = spawn_sub(fast, e_fast), ps = spawn_sub(slow, e_slow);
    usleep(300 * 1000); /* both mapped: --from-oldest then starts at record 1 */
    enum { N = 200000 };
    md_rec_t r;
    memset(&r, 0, sizeof(r));
    r.kind = MD_KIND_MSG;
    r.type = 'D';
    for (uint64_t q = 1; q <= N; q++) {
        r.seq = q;
        r.feed_seq = q;
        r.tsc_publish = co_tsc();
        mux_shm_publish(s, &r);
        if (q % 1024 == 0)
            usleep(200); /* a paced feed: the fast subscriber keeps up, the slow one not */
    }
    mux_shm_close(s);
    int st;
    assert_int_equal(waitpid(pf, &st, 0), pf);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(waitpid(ps, &st, 0), ps);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unsigned long long got, lost, breaches, start;
    /* a subscriber slow to start (sanitizers, a loaded box) may attach after the ring has
       wrapped: what it never could read is its start, not a loss */
    summary(e_fast, &got, &lost, &breaches, &start);
    print_message("fast: records %llu lost %llu start %llu\n", got, lost, start);
    assert_int_equal(got + lost + start, N);
    assert_int_equal(breaches, 0);
    summary(e_slow, &got, &lost, &breaches, &start);
    print_message("slow: records %llu lost %llu start %llu\n", got, lost, start);
    assert_int_equal(got + lost + start, N);
    assert_int_equal(breaches, 0);
    assert_true(lost > 0); /* 20 us a record cannot keep up with ~5 records/us bursts */
    mux_shm_free(s);
    unlink(e_fast);
    unlink(e_slow);
}

static void test_bad_ring_is_an_error(void **state)
{
    (void)state;
    char path[128], e[128];
    snprintf(path, sizeof(path), "/tmp/mdmux-test-sub-bad-%d", (int)getpid());
    snprintf(e, sizeof(e), "/tmp/mdmux-test-sub-bad-%d.err", (int)getpid());
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 20000; i++) /* longer than a header */
        fputc('x', f);
    fclose(f);
    const char *args[] = {path, NULL};
    int st;
    pid_t p = spawn_sub(args, e);
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    f = fopen(e, "r");
    char line[512] = "";
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_non_null(strstr(line, "bad magic"));
    unlink(path);
    const char *missing[] = {path, NULL};
    p = spawn_sub(missing, e);
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    unlink(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_subscribers_one_slow),
        cmocka_unit_test(test_bad_ring_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
