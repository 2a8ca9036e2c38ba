/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers of the mdmux integration tests (apptest.h). */
#include "apptest.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef MDMUX_GEN_BIN
#define MDMUX_GEN_BIN ""
#endif

/* Exit status from a wait status. */
static int decode(int ws)
{
    if (WIFEXITED(ws))
        return WEXITSTATUS(ws);
    if (WIFSIGNALED(ws))
        return 128 + WTERMSIG(ws);
    return -1;
}

int at_wait(pid_t pid, unsigned timeout_s)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int ws;
        pid_t w = waitpid(pid, &ws, WNOHANG);
        if (w == pid)
            return decode(ws);
        if (w < 0 && errno != EINTR)
            return -1;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec >= (time_t)timeout_s) {
            fprintf(stderr, "apptest: pid %d still running after %u s: killed\n", (int)pid,
                    timeout_s);
            kill(pid, SIGKILL);
            waitpid(pid, &ws, 0);
            return 128 + SIGKILL;
        }
        usleep(10 * 1000);
    }
}

pid_t at_start(char *const argv[], const char *dir, const char *name)
{
    char out[512], err[512];
    snprintf(out, sizeof(out), "%s/%s.out", dir, name);
    snprintf(err, sizeof(err), "%s/%s.err", dir, name);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fo < 0 || fe < 0)
        _exit(126);
    dup2(fo, STDOUT_FILENO);
    dup2(fe, STDERR_FILENO);
    /* cmocka traps these; the child should die of them instead */
    signal(SIGSEGV, SIG_DFL);
    signal(SIGABRT, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int at_run(char *const argv[], unsigned timeout_s, at_result_t *r)
{
    char dir[256], out[300], err[300];
    at_tmpdir(dir, sizeof(dir), "run");
    pid_t pid = at_start(argv, dir, "cmd");
    r->status = pid < 0 ? -1 : at_wait(pid, timeout_s);
    snprintf(out, sizeof(out), "%s/cmd.out", dir);
    snprintf(err, sizeof(err), "%s/cmd.err", dir);
    r->out = at_slurp(out);
    r->err = at_slurp(err);
    if (r->out == NULL)
        r->out = strdup("");
    if (r->err == NULL)
        r->err = strdup("");
    at_rmdir(dir);
    return r->status;
}

void at_result_free(at_result_t *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

void at_tmpdir(char *buf, size_t n, const char *tag)
{
    const char *t = getenv("TMPDIR");
    snprintf(buf, n, "%s/mdmux-%s-XXXXXX", t && *t ? t : "/tmp", tag);
    if (mkdtemp(buf) == NULL)
        fail_msg("mkdtemp %s: %s", buf, strerror(errno));
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void at_rmdir(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *at_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        char *nb = realloc(b, cap *= 2);
        if (nb == NULL) {
            free(b);
            b = NULL;
        }
        b = nb;
    }
    fclose(f);
    if (b)
        b[n] = '\0';
    return b;
}

void at_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fail_msg("cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

void at_edit(const char *path, const char *from, const char *to)
{
    char *y = at_slurp(path);
    assert_non_null(y);
    size_t cap = strlen(y) + strlen(to) + 2;
    char *out = malloc(cap);
    char *at = from ? strstr(y, from) : NULL;
    if (from && at == NULL)
        fail_msg("%s has no '%s'", path, from);
    if (at) {
        *at = '\0';
        snprintf(out, cap, "%s%s%s", y, to, at + strlen(from));
    } else {
        snprintf(out, cap, "%s%s", y, to);
    }
    at_write(path, out);
    free(out);
    free(y);
}

json_t *at_json(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (j == NULL)
        fail_msg("%s: %s (line %d)", path, e.text, e.line);
    return j;
}

json_int_t at_jint(json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *j = root;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
        j = json_object_get(j, k);
    if (!json_is_integer(j))
        fail_msg("JSON field %s missing or not an integer", path);
    return json_integer_value(j);
}

const char *at_file_prefix(void)
{
    static char buf[64];
    static unsigned k;
    snprintf(buf, sizeof(buf), "--file-prefix=mdmuxt%d_%u", (int)getpid(), k++);
    return buf;
}

bool at_have_gen(void)
{
    return MDMUX_GEN_BIN[0] != '\0' && access(MDMUX_GEN_BIN, X_OK) == 0;
}

void at_gen(const char *dir, const char *name, const char *const *opts)
{
    char out[512];
    char *argv[64];
    int n = 0;
    snprintf(out, sizeof(out), "%s/%s.pcap", dir, name);
    argv[n++] = (char *)MDMUX_GEN_BIN;
    argv[n++] = (char *)"-q";
    argv[n++] = (char *)"-o";
    argv[n++] = out;
    for (int i = 0; opts && opts[i] && n < 62; i++)
        argv[n++] = (char *)opts[i];
    argv[n] = NULL;
    at_result_t r;
    if (at_run(argv, AT_TIMEOUT_S, &r) != 0)
        fail_msg("mdmux-gen failed (%d): %s", r.status, r.err);
    at_result_free(&r);
}

void at_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

/* One feed line: exact counts, and the accounting identity. */
static void check_line(json_t *tl, json_t *sl, const char *feed, const char *line, bool lossless)
{
    json_int_t tp = at_jint(tl, "packets"), tb = at_jint(tl, "bytes");
    json_int_t sp = at_jint(sl, "packets"), sb = at_jint(sl, "bytes");
    json_int_t full = at_jint(sl, "channel_full"), handled = at_jint(sl, "handled");
    if (tp != sp || tb != sb)
        fail_msg("%s %s: truth %lld packets / %lld bytes, mdmux %lld / %lld", feed, line,
                 (long long)tp, (long long)tb, (long long)sp, (long long)sb);
    if (handled + full != sp)
        fail_msg("%s %s: handled %lld + channel_full %lld != packets %lld", feed, line,
                 (long long)handled, (long long)full, (long long)sp);
    if (lossless && full != 0)
        fail_msg("%s %s: %lld channel_full drops", feed, line, (long long)full);
}

/* Every reason in the truth equals mdmux's; reasons absent from the truth are 0. */
static void check_malformed(json_t *truth_mal, json_t *stats_mal)
{
    const char *k;
    json_t *v;
    json_object_foreach(stats_mal, k, v)
    {
        json_t *t = json_object_get(truth_mal, k);
        json_int_t want = t ? json_integer_value(t) : 0;
        if (json_integer_value(v) != want)
            fail_msg("malformed %s: truth %lld, mdmux %lld", k, (long long)want,
                     (long long)json_integer_value(v));
    }
    json_object_foreach(truth_mal, k, v)
    {
        if (json_integer_value(v) != 0 && json_object_get(stats_mal, k) == NULL)
            fail_msg("malformed %s: truth %lld, mdmux has no such reason", k,
                     (long long)json_integer_value(v));
    }
}

void at_check_truth(const char *stats_path, const char *truth_path, bool lossless)
{
    json_t *s = at_json(stats_path), *t = at_json(truth_path);
    assert_int_equal(at_jint(s, "rx.frames"), at_jint(t, "frames"));
    assert_int_equal(at_jint(s, "rx.other"), at_jint(t, "classifier.other"));
    json_decref(s);
    json_decref(t);
    at_check_lines(stats_path, truth_path, lossless);
}

void at_check_lines(const char *stats_path, const char *truth_path, bool lossless)
{
    json_t *s = at_json(stats_path), *t = at_json(truth_path);
    assert_int_equal(at_jint(s, "rx.unknown_flow"), at_jint(t, "classifier.unknown_flow"));
    check_malformed(json_object_get(json_object_get(t, "classifier"), "malformed"),
                    json_object_get(json_object_get(s, "rx"), "malformed"));
    json_t *tf = json_object_get(t, "feeds"), *sf = json_object_get(s, "feeds");
    assert_int_equal(json_array_size(tf), json_array_size(sf));
    for (size_t i = 0; i < json_array_size(tf); i++) {
        json_t *a = json_array_get(tf, i), *b = json_array_get(sf, i);
        const char *name = json_string_value(json_object_get(a, "name"));
        assert_string_equal(name, json_string_value(json_object_get(b, "name")));
        for (const char *l = "A"; l; l = (*l == 'A') ? "B" : NULL) {
            json_t *tl = json_object_get(json_object_get(a, "lines"), l);
            json_t *sl = json_object_get(json_object_get(b, "lines"), l);
            if (tl == NULL || sl == NULL)
                fail_msg("%s: no line %s", name, l);
            check_line(tl, sl, name, l, lossless);
        }
    }
    json_decref(s);
    json_decref(t);
}

int at_dir_setup(void **state)
{
    char *dir = malloc(256);
    if (dir == NULL)
        return -1;
    at_tmpdir(dir, 256, "app");
    *state = dir;
    return 0;
}

int at_dir_teardown(void **state)
{
    if (getenv("MDMUX_TEST_KEEP") == NULL)
        at_rmdir(*state);
    free(*state);
    return 0;
}

void at_need_gen(void)
{
    if (!at_have_gen()) {
        print_message("mdmux-gen not built (tools/gen): skipped\n");
        skip();
    }
}

void at_mdmux_ok(const char *const *args, at_result_t *r)
{
    char *argv[48];
    int n = 0;
    argv[n++] = (char *)MDMUX_BIN;
    for (int i = 0; args[i] && n < 44; i++)
        argv[n++] = (char *)args[i];
    argv[n++] = (char *)"--";
    argv[n++] = (char *)at_file_prefix();
    argv[n] = NULL;
    if (at_run(argv, AT_TIMEOUT_S, r) != 0)
        fail_msg("mdmux failed (%d):\n%s\n%s", r->status, r->out, r->err);
}

json_int_t at_sum_lines(json_t *s, const char *key)
{
    json_t *feeds = json_object_get(s, "feeds");
    json_int_t n = 0;
    assert_true(json_is_array(feeds));
    for (size_t i = 0; i < json_array_size(feeds); i++) {
        json_t *lines = json_object_get(json_array_get(feeds, i), "lines");
        const char *name;
        json_t *x;
        json_object_foreach(lines, name, x)
        {
            n += at_jint(x, key);
        }
    }
    return n;
}

/*
 * The run's clock: elapsed_s ends at the data path's end, drain_s from the input's end
 * (as the control loop saw it) to there, so 0 <= drain_s <= elapsed_s; the start gate
 * opened (start_ms) within the run, or never (-1).
 */
static void check_run_times(json_t *s)
{
    double elapsed = json_number_value(json_object_get(s, "elapsed_s"));
    double drain = json_number_value(json_object_get(json_object_get(s, "shutdown"), "drain_s"));
    double start_ms = json_number_value(json_object_get(s, "start_ms"));
    if (!(elapsed > 0 && drain >= 0 && drain <= elapsed &&
          (start_ms == -1 || (start_ms >= 0 && start_ms <= elapsed * 1e3))))
        fail_msg("run times: elapsed_s %g, drain_s %g, start_ms %g", elapsed, drain, start_ms);
}

json_int_t at_check_accounting(json_t *s)
{
    json_t *acc = json_object_get(s, "accounting");
    assert_non_null(acc);
    check_run_times(s);
    /* frames on the re-request port count too (terms.retx_*: 0 without re-requests) */
    json_int_t received = at_jint(s, "rx.frames") + at_jint(acc, "terms.retx_frames");
    json_int_t published = at_sum_lines(s, "wins") + at_sum_lines(s, "fills");
    json_int_t duplicates =
        at_sum_lines(s, "duplicates") + at_sum_lines(s, "late") + at_sum_lines(s, "stale");
    json_int_t malformed = at_jint(s, "rx.malformed_total") + at_sum_lines(s, "malformed");
    json_int_t dropped = at_sum_lines(s, "channel_full") + at_jint(acc, "terms.retx_channel_full");
    json_int_t held = at_jint(acc, "terms.held");
    json_int_t unfinished = at_sum_lines(s, "unfinished") + held;
    json_int_t unknown =
        at_jint(s, "rx.unknown_flow") + at_jint(s, "rx.other") + at_jint(acc, "terms.retx_other");
    json_int_t control = at_sum_lines(s, "heartbeats");
    /* restarts, panics and give-ups discard; a cancellation's discards are "held" */
    json_int_t discarded = at_sum_lines(s, "discarded") - held + at_jint(acc, "terms.panicked") +
                           at_jint(acc, "terms.after_giveup");

    assert_int_equal(at_jint(acc, "received"), received);
    assert_int_equal(at_jint(acc, "published"), published);
    assert_int_equal(at_jint(acc, "duplicates"), duplicates);
    assert_int_equal(at_jint(acc, "malformed"), malformed);
    assert_int_equal(at_jint(acc, "dropped"), dropped);
    assert_int_equal(at_jint(acc, "unfinished"), unfinished);
    assert_int_equal(at_jint(acc, "unknown"), unknown);
    assert_int_equal(at_jint(acc, "control"), control);
    assert_int_equal(at_jint(acc, "discarded"), discarded);
    assert_int_equal(received, published + duplicates + malformed + dropped + unfinished + unknown +
                                   control + discarded);
    assert_true(json_is_true(json_object_get(acc, "holds")));
    /* the records: sent by the feeds = published by the mux + left for it */
    assert_int_equal(at_jint(acc, "records.sent"),
                     at_jint(acc, "records.published") + at_jint(acc, "records.queued"));
    assert_int_equal(at_jint(acc, "records.published"), at_jint(s, "outputs.published"));
    assert_true(json_is_true(json_object_get(json_object_get(acc, "records"), "holds")));
    return unfinished;
}

int at_sh(char *const argv[])
{
    at_result_t r;
    int st = at_run(argv, 60, &r);
    if (st != 0)
        print_message("'%s %s %s ...' failed (%d): %s", argv[0], argv[1] ? argv[1] : "",
                      argv[1] && argv[2] ? argv[2] : "", st, r.err);
    at_result_free(&r);
    return st;
}

at_ns_t *at_ns_new(const char *tag, const char *prefix)
{
    at_ns_t *k = calloc(1, sizeof(*k));
    assert_non_null(k);
    at_tmpdir(k->dir, sizeof(k->dir), tag);
    snprintf(k->ns, sizeof(k->ns), "%s%d", prefix, (int)getpid());
    return k;
}

void at_ns_free(at_ns_t *k)
{
    if (k->mdmux > 0) {
        kill(k->mdmux, SIGKILL);
        at_wait(k->mdmux, 30);
    }
    if (k->ns_made) {
        char *del[] = {(char *)"/usr/sbin/ip", (char *)"netns", (char *)"del", k->ns, NULL};
        at_sh(del);
    }
    if (getenv("MDMUX_TEST_KEEP") == NULL)
        at_rmdir(k->dir);
    free(k);
}

void at_ns_make(at_ns_t *k, const char *what)
{
    if (geteuid() != 0) {
        print_message("%s: not root, cannot make a network namespace: skipped\n", what);
        skip();
    }
    if (access("/usr/sbin/ip", X_OK) != 0 || access("/usr/bin/tcpreplay", X_OK) != 0) {
        print_message("%s: needs ip (iproute2) and tcpreplay: skipped\n", what);
        skip();
    }
    char *add[] = {(char *)"/usr/sbin/ip", (char *)"netns", (char *)"add", k->ns, NULL};
    if (at_sh(add) != 0) {
        print_message("%s: cannot create network namespace %s: skipped\n", what, k->ns);
        skip();
    }
    k->ns_made = true;
}
