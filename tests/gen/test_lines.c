/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tools/gen line faults and clock steps: --dead-a/--dead-b (with --dead-after-ms),
 * --flap-ms (with --flap-overlap), --ts-jump-back-ms and --ts-jump-forward-s.
 *
 * Each capture is compared frame by frame with the same seed and options without the
 * fault: a silent line's frames are exactly the unfaulted line's frames outside its
 * silences, the other line is byte-identical, and a clock step moves every frame from
 * the truth's `ts_jump.frame` on by exactly `delta_ns` and nothing else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "gen_test.h"

/* One frame of a capture: time, bytes, and the line it belongs to (-1: noise). */
struct fr {
    uint64_t t, off;
    const uint8_t *p;
    uint32_t len;
    int feed, line;
};

struct cap {
    char dir[256];
    char *buf;
    size_t size;
    struct fr *f;
    size_t n;
    json_t *truth;
};

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Line of a frame from its destination group 239.10w.x.y (plain Ethernet, IPv4). */
static void line_of(struct fr *f)
{
    f->feed = f->line = -1;
    if (f->len < 34 || f->p[12] != 0x08 || f->p[13] != 0x00)
        return;
    const uint8_t *ip = f->p + 14;
    if (ip[16] != 239 || (ip[17] != 100 && ip[17] != 101))
        return;
    f->line = ip[17] - 100;
    f->feed = ip[18] * 254 + ip[19] - 1;
}

static void load(struct cap *c, const char *args)
{
    char cmd[2048];
    memset(c, 0, sizeof(*c));
    gt_tmpdir(c->dir, sizeof(c->dir));
    snprintf(cmd, sizeof(cmd), "-o cap.pcap -q %s", args);
    if (gt_run(c->dir, cmd) != 0) {
        char *e = gt_slurp_in(c->dir, "err", NULL);
        fail_msg("mdmux-gen %s: %s", cmd, e ? e : "?");
    }
    c->buf = gt_slurp_in(c->dir, "cap.pcap", &c->size);
    assert_non_null(c->buf);
    assert_true(c->size >= 24);
    size_t off = 24, cap = 0;
    while (off + 16 <= c->size) {
        const uint8_t *h = (const uint8_t *)c->buf + off;
        if (c->n == cap) {
            cap = cap ? 2 * cap : 4096;
            c->f = realloc(c->f, cap * sizeof(*c->f));
        }
        struct fr *f = &c->f[c->n++];
        f->t = (uint64_t)le32(h) * 1000000000u + le32(h + 4);
        f->off = off;
        f->len = le32(h + 8);
        f->p = h + 16;
        assert_true(off + 16 + f->len <= c->size);
        line_of(f);
        off += 16 + f->len;
    }
    assert_int_equal(off, c->size);
    json_error_t e;
    char path[512];
    snprintf(path, sizeof(path), "%s/cap.truth.json", c->dir);
    c->truth = json_load_file(path, 0, &e);
    assert_non_null(c->truth);
    assert_int_equal(json_integer_value(json_object_get(c->truth, "frames")), c->n);
}

static void unload(struct cap *c)
{
    json_decref(c->truth);
    free(c->buf);
    free(c->f);
    gt_rmdir(c->dir);
}

static json_t *tline(const struct cap *c, int feed, int w)
{
    json_t *f = json_array_get(json_object_get(c->truth, "feeds"), (size_t)feed);
    return json_object_get(json_object_get(f, "lines"), w ? "B" : "A");
}

static uint64_t jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        fail_msg("truth: no integer '%s'", k);
    return (uint64_t)json_integer_value(v);
}

/* The same frame at the same time, but for the IPv4 id and header checksum (a line
   numbers only the datagrams it sends, so its ids differ after a silence). */
static int same_frame(const struct fr *a, const struct fr *b)
{
    if (a->t != b->t || a->len != b->len || a->len < 34)
        return 0;
    return memcmp(a->p, b->p, 18) == 0 && memcmp(a->p + 20, b->p + 20, 4) == 0 &&
           memcmp(a->p + 26, b->p + 26, a->len - 26) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of file DIR/NAME, sorted (malloc'd array, *n lines; free the text too). */
static char **sorted_lines(const char *dir, const char *name, size_t *n, char **text)
{
    *text = gt_slurp_in(dir, name, NULL);
    assert_non_null(*text);
    size_t cap = 1024, k = 0;
    char **v = malloc(cap * sizeof(*v)), *save = NULL;
    for (char *l = strtok_r(*text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (k == cap)
            v = realloc(v, (cap *= 2) * sizeof(*v));
        v[k++] = l;
    }
    qsort(v, k, sizeof(*v), cmp_str);
    *n = k;
    return v;
}

/* The frames of (feed, line) in @p c, in order; returns how many. */
static size_t line_frames(const struct cap *c, int feed, int w, const struct fr **out)
{
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->f[i].feed == feed && c->f[i].line == w)
            out[k++] = &c->f[i];
    return k;
}

/* Is time @p t inside one of the line's silences (between its last and next frame)? */
static int in_silence(json_t *sil, uint64_t t)
{
    size_t i;
    json_t *s;
    json_array_foreach(sil, i, s)
    {
        uint64_t from = jint(s, "from_ns");
        json_t *to = json_object_get(s, "to_ns");
        if (t > from && (json_is_null(to) || t < (uint64_t)json_integer_value(to)))
            return 1;
    }
    return 0;
}

/*
 * Line (feed, w) of @p f (faulted) against @p ref (same seed, no fault): its frames are
 * exactly ref's frames outside the truth's silences; returns how many ref frames fell
 * inside them.
 */
static size_t check_line(const struct cap *f, const struct cap *ref, int feed, int w)
{
    const struct fr **a = calloc(f->n, sizeof(*a)), **b = calloc(ref->n, sizeof(*b));
    size_t na = line_frames(f, feed, w, a), nb = line_frames(ref, feed, w, b), j = 0, kept = 0;
    json_t *sil = json_object_get(tline(f, feed, w), "silences");
    for (size_t i = 0; i < nb; i++) {
        if (in_silence(sil, b[i]->t)) {
            kept++;
            continue;
        }
        if (j >= na || !same_frame(a[j], b[i]))
            fail_msg("feed %d line %c: frame %zu of the reference (t %llu) missing or different",
                     feed, w ? 'B' : 'A', i, (unsigned long long)b[i]->t);
        j++;
    }
    assert_int_equal(j, na);
    /* every silenced packet of the truth is one the reference sent (no duplicates,
       zero-length companions or noise here: --clean) */
    json_t *t = tline(f, feed, w);
    assert_int_equal(kept, jint(t, "silenced") + jint(t, "silenced_control"));
    uint64_t sum = 0;
    size_t i;
    json_t *s;
    json_array_foreach(sil, i, s) sum += jint(s, "packets");
    assert_int_equal(sum, kept);
    free(a);
    free(b);
    return kept;
}

#define BASE "--clean --feeds 3 --seed 17 --duration-ms 40"

static void test_dead_b_mid_session(void **state)
{
    (void)state;
    struct cap ref, f;
    load(&ref, BASE);
    load(&f, BASE " --dead-b --dead-after-ms 20");
    for (int feed = 0; feed < 3; feed++) {
        assert_int_equal(check_line(&f, &ref, feed, 0), 0); /* A untouched */
        assert_true(check_line(&f, &ref, feed, 1) > 10);
        json_t *sil = json_object_get(tline(&f, feed, 1), "silences");
        assert_int_equal(json_array_size(sil), 1); /* B dies once, never comes back */
        assert_true(json_is_null(json_object_get(json_array_get(sil, 0), "to_ns")));
        assert_int_equal(jint(tline(&f, feed, 1), "end_session"), 0);
        assert_int_equal(jint(tline(&f, feed, 0), "end_session"), 1);
        /* B lost everything from its death to the end; nothing was lost on both */
        json_t *fd = json_array_get(json_object_get(f.truth, "feeds"), (size_t)feed);
        json_t *lb = json_object_get(fd, "lost_b");
        assert_int_equal(json_array_size(lb), 1);
        assert_int_equal(json_integer_value(json_array_get(json_array_get(lb, 0), 1)),
                         jint(fd, "last_seq"));
        assert_int_equal(json_array_size(json_object_get(fd, "lost_both")), 0);
        assert_int_equal(json_array_size(json_object_get(fd, "lost_a")), 0);
    }
    /* the same messages: the session does not depend on its lines (the feeds may
       interleave differently: packets are made as the lines need them) */
    size_t n1, n2;
    char *t1, *t2, **m1 = sorted_lines(ref.dir, "cap.messages.jsonl", &n1, &t1);
    char **m2 = sorted_lines(f.dir, "cap.messages.jsonl", &n2, &t2);
    assert_int_equal(n1, n2);
    for (size_t i = 0; i < n1; i++)
        assert_string_equal(m1[i], m2[i]);
    free(m1);
    free(m2);
    free(t1);
    free(t2);
    unload(&f);
    unload(&ref);
}

static void test_dead_a_from_start(void **state)
{
    (void)state;
    struct cap ref, f;
    load(&ref, BASE);
    load(&f, BASE " --dead-a");
    for (int feed = 0; feed < 3; feed++) {
        assert_int_equal(jint(tline(&f, feed, 0), "frames"), 0);
        assert_int_equal(jint(tline(&f, feed, 0), "packets"), 0);
        check_line(&f, &ref, feed, 0);
        assert_int_equal(check_line(&f, &ref, feed, 1), 0);
        json_t *sil = json_object_get(tline(&f, feed, 0), "silences");
        assert_int_equal(json_array_size(sil), 1);
        assert_int_equal(jint(json_array_get(sil, 0), "from_ns"), 0); /* no frame before */
    }
    unload(&f);
    unload(&ref);
}

/* Flapping: alternating silences, never both at once; with the overlap, true gaps. */
static void test_flap(void **state)
{
    (void)state;
    struct cap ref, f, o;
    load(&ref, BASE);
    load(&f, BASE " --flap-ms 5");
    load(&o, BASE " --flap-ms 5 --flap-overlap");
    for (int feed = 0; feed < 3; feed++) {
        json_t *fd = json_array_get(json_object_get(f.truth, "feeds"), (size_t)feed);
        for (int w = 0; w < 2; w++) {
            assert_true(check_line(&f, &ref, feed, w) > 0);
            check_line(&o, &ref, feed, w);
            json_t *sil = json_object_get(tline(&f, feed, w), "silences");
            /* session ~ 40 + 5 + 1 + 2 ms: one silence of each line per 20 ms */
            assert_true(json_array_size(sil) >= 2 && json_array_size(sil) <= 3);
            size_t i;
            json_t *s;
            json_array_foreach(sil, i, s)
            {
                json_t *to = json_object_get(s, "to_ns");
                if (json_is_null(to) || jint(s, "from_ns") == 0)
                    continue;
                /* a whole window without a frame: at least its 5 ms */
                assert_true((uint64_t)json_integer_value(to) - jint(s, "from_ns") >= 5000000);
            }
        }
        assert_int_equal(json_array_size(json_object_get(fd, "lost_both")), 0);
        json_t *od = json_array_get(json_object_get(o.truth, "feeds"), (size_t)feed);
        assert_true(json_array_size(json_object_get(od, "lost_both")) > 0);
    }
    unload(&o);
    unload(&f);
    unload(&ref);
}

/* A clock step moves every frame from ts_jump.frame on by delta_ns, nothing else. */
static void check_jump(const char *opt, int64_t delta)
{
    struct cap ref, f;
    char args[256];
    load(&ref, BASE " --unknown 0.01");
    snprintf(args, sizeof(args), BASE " --unknown 0.01 %s", opt);
    load(&f, args);
    json_t *j = json_object_get(f.truth, "ts_jump");
    assert_true(json_is_object(j));
    uint64_t at = jint(j, "frame"), off = jint(j, "offset");
    assert_int_equal(json_integer_value(json_object_get(j, "delta_ns")), delta);
    assert_int_equal(f.n, ref.n);
    assert_true(at > f.n / 4 && at < 3 * f.n / 4); /* in the middle */
    assert_int_equal(f.f[at].off, off);
    for (size_t i = 0; i < f.n; i++) {
        const struct fr *a = &f.f[i], *b = &ref.f[i];
        assert_int_equal(a->len, b->len);
        assert_memory_equal(a->p, b->p, a->len);
        assert_int_equal(a->t, b->t + (i >= at ? (uint64_t)delta : 0));
    }
    if (delta < 0) /* the only step back in the file */
        assert_true(f.f[at].t < f.f[at - 1].t);
    unload(&f);
    unload(&ref);
}

static void test_ts_jumps(void **state)
{
    (void)state;
    check_jump("--ts-jump-back-ms 7", -7000000);
    check_jump("--ts-jump-forward-s 3600", 3600000000000ll);
    struct cap c;
    load(&c, BASE);
    assert_true(json_is_null(json_object_get(c.truth, "ts_jump")));
    unload(&c);
}

static void test_bad_options(void **state)
{
    (void)state;
    char d[256];
    static const char *const bad[] = {
        "--dead-after-ms 3",    "--flap-overlap",
        "--flap-ms 2 --dead-a", "--ts-jump-back-ms 1 --ts-jump-forward-s 1",
        "--flap-ms 0",          "--ts-jump-forward-s -1",
    };
    gt_tmpdir(d, sizeof(d));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char a[256];
        snprintf(a, sizeof(a), "-o x.pcap %s", bad[i]);
        if (gt_run(d, a) != 2)
            fail_msg("mdmux-gen %s: expected exit status 2", a);
    }
    gt_rmdir(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dead_b_mid_session),
        cmocka_unit_test(test_dead_a_from_start),
        cmocka_unit_test(test_flap),
        cmocka_unit_test(test_ts_jumps),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
