/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tools/gen: the generator's ITCH 5.0 encoder. Its layout table is checked against
 * the spec's message lengths, against the independent table of gen_test.h, and
 * against real Nasdaq captures decoded by Wireshark (../shared/conformance), which
 * fixes the conventions: big-endian, 6-byte timestamps, prices in 1e-4 dollars.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <pcap/pcap.h>

#include "gen_test.h"
#include "itch.h"

/* Message lengths from the ITCH 5.0 specification. */
static const struct {
    char type;
    unsigned len;
} spec_len[] = {{'S', 12}, {'R', 39}, {'H', 25}, {'Y', 20}, {'L', 26}, {'V', 35},
                {'W', 12}, {'K', 28}, {'J', 35}, {'h', 21}, {'A', 36}, {'F', 40},
                {'E', 31}, {'C', 36}, {'X', 23}, {'D', 19}, {'U', 35}, {'P', 44},
                {'Q', 40}, {'B', 19}, {'I', 50}, {'N', 20}, {'O', 48}};

static void test_lengths(void **state)
{
    (void)state;
    unsigned n;
    itch_layouts(&n);
    assert_int_equal(n, sizeof(spec_len) / sizeof(spec_len[0]));
    for (size_t i = 0; i < sizeof(spec_len) / sizeof(spec_len[0]); i++) {
        const struct itch_layout *l = itch_layout(spec_len[i].type);
        assert_non_null(l);
        unsigned sum = 11;
        for (unsigned k = 0; k < l->nfields; k++)
            sum += l->f[k].width;
        assert_int_equal(l->len, spec_len[i].len);
        assert_int_equal(sum, spec_len[i].len);
    }
    assert_null(itch_layout('Z'));
    assert_null(itch_layout((char)0xff));
}

/* Encode a message of every type with distinctive values; both tables must agree. */
static void test_encode_matches_independent_table(void **state)
{
    (void)state;
    unsigned n;
    const struct itch_layout *all = itch_layouts(&n);
    for (unsigned i = 0; i < n; i++) {
        struct itch_msg m = {
            .type = all[i].type, .locate = 0x1234, .tracking = 7, .ts = 34200123456789ull};
        for (unsigned k = 0; k < all[i].nfields; k++) {
            const struct itch_field *f = &all[i].f[k];
            if (f->kind == ITCH_ALPHA)
                m.v[k] = itch_alpha("ABCDEFGH", f->width);
            else if (f->kind == ITCH_CHAR)
                m.v[k] = 'a' + k;
            else
                m.v[k] = (0x0102030405060708ull >> (8 * (8 - f->width))) + k;
        }
        uint8_t buf[ITCH_MAX_LEN];
        char js[2048];
        size_t len = itch_encode(&m, buf);
        assert_int_equal(len, all[i].len);
        assert_int_equal(buf[1], 0x12);
        assert_int_equal(buf[2], 0x34);
        size_t jn = itch_json_fields(buf, len, js + 1, sizeof(js) - 3);
        assert_true(jn > 0);
        js[0] = '{';
        js[jn + 1] = '}';
        js[jn + 2] = 0;
        json_error_t e;
        json_t *a = json_loads(js, 0, &e), *b = gt_decode(buf, (unsigned)len);
        assert_non_null(a);
        assert_non_null(b);
        if (!json_equal(a, b))
            fail_msg("%c: encoder JSON %s differs from the independent decoding", all[i].type, js);
        json_decref(a);
        json_decref(b);
        assert_int_equal(itch_json_fields(buf, len - 1, js, sizeof(js)), 0); /* short */
    }
}

/* ---- conformance ----------------------------------------------------------------- */

/* Wireshark's names are ours without the underscores; these are the header's. */
static const char *our_key(const char *ws)
{
    if (!strcmp(ws, "stocklocate") || !strcmp(ws, "locatecode"))
        return "locate";
    if (!strcmp(ws, "trackingnumber"))
        return "tracking";
    if (!strcmp(ws, "timestamp"))
        return "ts";
    return ws;
}

static const struct itch_field *field_named(const struct itch_layout *l, const char *ws)
{
    for (unsigned k = 0; k < l->nfields; k++) {
        char flat[64];
        size_t j = 0;
        for (const char *p = l->f[k].name; *p && j + 1 < sizeof(flat); p++)
            if (*p != '_')
                flat[j++] = *p;
        flat[j] = 0;
        if (!strcmp(flat, ws))
            return &l->f[k];
    }
    return NULL;
}

static int meta_key(const char *k)
{
    static const char *const meta[] = {"file", "frame",   "count",       "messageindex",
                                       "seq",  "session", "messagetype", "messagelength"};
    for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++)
        if (!strcmp(k, meta[i]))
            return 1;
    return 0;
}

/* Compare Wireshark's decoded value (a string) with ours. */
static void check_value(const char *file, const char *key, const char *want, json_t *got,
                        const struct itch_field *f)
{
    if (json_is_string(got)) {
        if (strcmp(json_string_value(got), want) != 0)
            fail_msg("%s %s: got '%s', Wireshark '%s'", file, key, json_string_value(got), want);
        return;
    }
    assert_true(json_is_integer(got));
    double v = (double)json_integer_value(got);
    double w = strtod(want, NULL);
    if (f && f->kind == ITCH_PRICE4)
        w = round(w * 1e4); /* "87.39" is 873900 in ITCH units */
    if (v != w)
        fail_msg("%s %s: got %.0f, Wireshark %s", file, key, v, want);
}

/* The @p index-th (1-based) message of frame @p frame of @p path, or 0 bytes. */
static size_t conformance_msg(const char *path, int frame, int index, uint8_t *out)
{
    char err[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *h;
    const u_char *d;
    size_t n = 0;
    pcap_t *p = pcap_open_offline(path, err);
    assert_non_null(p);
    for (int k = 1; pcap_next_ex(p, &h, &d) == 1; k++) {
        if (k != frame)
            continue;
        unsigned off = 12;
        while (gt_be(d + off, 2) == 0x8100 || gt_be(d + off, 2) == 0x88a8)
            off += 4;
        off += 2;
        off += (d[off] & 15u) * 4 + 8 + 20; /* IPv4, UDP, MoldUDP64 header */
        for (int i = 1; off + 2 <= h->caplen; i++) {
            unsigned len = (unsigned)gt_be(d + off, 2);
            if (i == index) {
                memcpy(out, d + off + 2, len);
                n = len;
                break;
            }
            off += 2 + len;
        }
        break;
    }
    pcap_close(p);
    return n;
}

static void check_one(json_t *exp)
{
    char path[1024], js[4096];
    uint8_t msg[256];
    const char *file = json_string_value(json_object_get(exp, "file"));
    snprintf(path, sizeof(path), "%s/%s", MDMUX_CONFORMANCE_DIR, file);
    int frame = (int)json_integer_value(json_object_get(exp, "frame"));
    int index = atoi(json_string_value(json_object_get(exp, "messageindex")));
    size_t len = conformance_msg(path, frame, index, msg);
    assert_int_equal(len, atoi(json_string_value(json_object_get(exp, "messagelength"))));

    const struct itch_layout *l = itch_layout((char)msg[0]);
    assert_non_null(l);
    js[0] = '{';
    size_t n = itch_json_fields(msg, len, js + 1, sizeof(js) - 3);
    assert_true(n > 0);
    strcpy(js + 1 + n, "}");
    json_error_t e;
    json_t *ours = json_loads(js, 0, &e);
    assert_non_null(ours);
    const char *key;
    json_t *v;
    json_object_foreach(exp, key, v)
    {
        if (meta_key(key))
            continue;
        const struct itch_field *fd = field_named(l, key);
        const char *ours_key = fd ? fd->name : our_key(key);
        json_t *got = json_object_get(ours, ours_key);
        if (!got)
            fail_msg("%s: no field for Wireshark's '%s' in %s", file, key, js);
        check_value(file, key, json_string_value(v), got, fd);
    }
    json_decref(ours);
}

static void test_conformance(void **state)
{
    (void)state;
    char path[1024], *line = NULL;
    size_t cap = 0;
    unsigned n = 0;
    snprintf(path, sizeof(path), "%s/expected.jsonl", MDMUX_CONFORMANCE_DIR);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "SKIP: no conformance data at %s\n", MDMUX_CONFORMANCE_DIR);
        skip();
    }
    while (getline(&line, &cap, f) > 0) {
        json_error_t e;
        json_t *exp = json_loads(line, 0, &e);
        assert_non_null(exp);
        check_one(exp);
        json_decref(exp);
        n++;
    }
    free(line);
    fclose(f);
    assert_true(n > 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_encode_matches_independent_table),
        cmocka_unit_test(test_conformance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
