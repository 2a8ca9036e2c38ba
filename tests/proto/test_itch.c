/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/proto ITCH 5.0: every type from hand-built bytes (itch_vectors.h), the table's
 * self-consistency, the fast decoders against the table-driven one on random bytes,
 * malformed input (unknown types, every wrong length), the JSON writers (bounded at
 * every capacity), the re-encoder and event records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <ctype.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "testutil.h"
#include "itch_vectors.h"

#define HDR_LOCATE   0x1234
#define HDR_TRACKING 0x0A0B
#define HDR_TS       0x00001F1E1D1C1B1Aull /* 48 bits */

/* Big-endian store, independent of lib/proto. */
static void put_be(uint8_t *p, unsigned width, uint64_t v)
{
    for (unsigned i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

/* Encode vector @p v into @p msg; returns its length. */
static size_t encode(const struct vec *v, uint8_t *msg)
{
    memset(msg, 0xEE, ITCH_MAX_LEN);
    msg[0] = (uint8_t)v->type;
    put_be(msg + 1, 2, HDR_LOCATE);
    put_be(msg + 3, 2, HDR_TRACKING);
    put_be(msg + 5, 6, HDR_TS);
    for (const struct vfield *f = v->f; f->name; f++) {
        if (f->str) {
            memset(msg + f->off, ' ', f->width);
            memcpy(msg + f->off, f->str, strlen(f->str));
        } else {
            put_be(msg + f->off, f->width, f->num);
        }
    }
    return v->len;
}

static void test_lengths(void **state)
{
    (void)state;
    static const char types[] = "SRHYLVWKJhAFECXDUPQBINO";
    static const uint8_t lens[] = {12, 39, 25, 20, 26, 35, 12, 28, 35, 21, 36, 40,
                                   31, 36, 23, 19, 35, 44, 40, 19, 50, 20, 48};
    const itch_desc_t *all = itch_descs();

    for (int i = 0; i < ITCH_NTYPES; i++) {
        const itch_desc_t *d = itch_desc((uint8_t)types[i]);
        assert_non_null(d);
        assert_ptr_equal(d, &all[i]);
        assert_int_equal(d->type, types[i]);
        assert_int_equal(d->len, lens[i]);
    }
    assert_int_equal(NVECTORS, ITCH_NTYPES);
}

static unsigned kind_width(unsigned kind)
{
    static const unsigned w[] = {
        [ITCH_K_CHAR] = 1, [ITCH_K_U16] = 2,    [ITCH_K_U32] = 4,   [ITCH_K_TS48] = 6,
        [ITCH_K_U64] = 8,  [ITCH_K_PRICE4] = 4, [ITCH_K_PRICE8] = 8};
    return kind < sizeof(w) / sizeof(w[0]) ? w[kind] : 0;
}

static bool snake_case(const char *s)
{
    if (!islower((unsigned char)s[0]))
        return false;
    for (; *s; s++)
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

/* Header of four fields, then contiguous fields that end at len; kinds, names, roles. */
static void check_desc(const itch_desc_t *d)
{
    static const char *const hdr[] = {"message_type", "stock_locate", "tracking_number",
                                      "timestamp"};
    unsigned off = 0;

    assert_true(d->nfields >= 5 && d->nfields <= ITCH_NFIELDS_MAX);
    assert_true(snake_case(d->name));
    for (unsigned i = 0; i < d->nfields; i++) {
        const itch_field_t *f = &d->fields[i];
        if (i < 4)
            assert_string_equal(f->name, hdr[i]);
        if (f->off != off)
            fail_msg("%c.%s at %u, expected %u (gap or overlap)", d->type, f->name, f->off, off);
        assert_true(snake_case(f->name));
        if (f->kind == ITCH_K_ALPHA)
            assert_true(f->width >= 2 && f->width <= 8);
        else
            assert_int_equal(f->width, kind_width(f->kind));
        for (unsigned j = 0; j < i; j++)
            assert_string_not_equal(d->fields[j].name, f->name);
        /* Order-view types put every field in the record; body-view types only the
         * fields outside the union (stock, cross_type). */
        bool in_union = f->role == ITCH_R_REF || f->role == ITCH_R_NEW_REF ||
                        f->role == ITCH_R_PRICE || f->role == ITCH_R_MATCH ||
                        f->role == ITCH_R_MPID;
        if (d->view == ITCH_VIEW_ORDER)
            assert_int_not_equal(f->role, ITCH_R_NONE);
        else
            assert_false(in_union);
        if (f->role == ITCH_R_STOCK)
            assert_string_equal(f->name, "stock");
        off += f->width;
    }
    assert_int_equal(off, d->len);
    if (d->view == ITCH_VIEW_BODY)
        assert_true((size_t)(d->len - ITCH_HDR_LEN) <= sizeof(((md_rec_t *)0)->body));
}

static void test_table_consistency(void **state)
{
    (void)state;
    unsigned n = 0;
    for (unsigned t = 0; t < 256; t++) {
        const itch_desc_t *d = itch_desc((uint8_t)t);
        if (!d)
            continue;
        n++;
        assert_int_equal((uint8_t)d->type, t);
        check_desc(d);
    }
    assert_int_equal(n, ITCH_NTYPES);
}

/* The vector's fields are exactly the table's body fields, same offsets and widths. */
static void check_vector_fields(const struct vec *v, const itch_desc_t *d, const uint8_t *msg)
{
    unsigned nv = 0;
    for (const struct vfield *vf = v->f; vf->name; vf++, nv++) {
        const itch_field_t *f = itch_field_find(d, vf->name);
        if (!f)
            fail_msg("%c: no field %s", v->type, vf->name);
        assert_int_equal(f->off, vf->off);
        assert_int_equal(f->width, vf->width);
        if (!vf->str)
            assert_true(itch_field_u64(msg, f) == vf->num);
    }
    assert_int_equal(nv + 4, d->nfields);
}

/* itch_json() of the message: parse it back and compare every member. */
static void check_vector_json(const struct vec *v, const uint8_t *msg)
{
    char buf[ITCH_JSON_MAX];
    json_error_t jerr;

    assert_true(itch_json(msg, v->len, 0, buf, sizeof(buf)) > 0);
    json_t *o = json_loads(buf, 0, &jerr);
    if (!o)
        fail_msg("%c: bad JSON %s: %s", v->type, buf, jerr.text);
    char t[2] = {v->type, 0};
    assert_string_equal(json_string_value(json_object_get(o, "type")), t);
    assert_int_equal(json_integer_value(json_object_get(o, "locate")), HDR_LOCATE);
    assert_int_equal(json_integer_value(json_object_get(o, "tracking")), HDR_TRACKING);
    assert_true((uint64_t)json_integer_value(json_object_get(o, "ts")) == HDR_TS);
    size_t n = 4;
    for (const struct vfield *vf = v->f; vf->name; vf++, n++) {
        json_t *m = json_object_get(o, vf->name);
        if (!m)
            fail_msg("%c: no member %s in %s", v->type, vf->name, buf);
        if (vf->str) {
            assert_string_equal(json_string_value(m), vf->str);
        } else if (vf->width == 1) {
            char c[2] = {(char)vf->num, 0};
            assert_string_equal(json_string_value(m), c);
        } else {
            /* (jansson's integers are signed: the vectors stay below 2^63.) */
            assert_true(json_is_integer(m));
            assert_true((uint64_t)json_integer_value(m) == vf->num);
        }
    }
    assert_int_equal(json_object_size(o), n);
    json_decref(o);
}

static void test_every_type_hand_built(void **state)
{
    (void)state;
    for (size_t i = 0; i < NVECTORS; i++) {
        const struct vec *v = &vectors[i];
        const itch_desc_t *d = itch_desc((uint8_t)v->type);
        uint8_t msg[ITCH_MAX_LEN], back[ITCH_MAX_LEN];
        md_rec_t r;

        assert_non_null(d);
        size_t len = encode(v, msg);
        assert_int_equal(len, d->len);
        memset(&r, 0x5A, sizeof(r));
        assert_int_equal(itch_decode(msg, len, &r), ITCH_OK);
        assert_int_equal(r.kind, MD_KIND_MSG);
        assert_int_equal(r.type, (uint8_t)v->type);
        assert_int_equal(r.locate, HDR_LOCATE);
        assert_int_equal(r.tracking, HDR_TRACKING);
        assert_true(r.ts == HDR_TS);
        check_vector_fields(v, d, msg);
        check_vector_json(v, msg);
        /* The record holds the whole message. */
        assert_int_equal(md_rec_to_itch(&r, back), len);
        assert_memory_equal(back, msg, len);
    }
}

/* Decode vector @p type and return the record. */
static md_rec_t decode_vector(char type)
{
    for (size_t i = 0; i < NVECTORS; i++) {
        if (vectors[i].type != type)
            continue;
        uint8_t msg[ITCH_MAX_LEN];
        md_rec_t r;
        size_t len = encode(&vectors[i], msg);
        memset(&r, 0, sizeof(r));
        assert_int_equal(itch_decode(msg, len, &r), ITCH_OK);
        return r;
    }
    fail_msg("no vector %c", type);
    abort(); /* not reached: fail_msg() does not return */
}

/* The normalized fields of the order types, against the vectors' values. */
static void test_order_record_fields(void **state)
{
    (void)state;
    md_rec_t r = decode_vector('A');
    assert_true(r.ref == 0x0102030405060708ull);
    assert_int_equal(r.side, 'B');
    assert_int_equal(r.shares, 1600);
    assert_memory_equal(r.stock, "IVOO    ", 8);
    assert_int_equal(r.price, 873900);
    assert_true(r.match == 0 && r.new_ref == 0 && r.printable == 0);

    r = decode_vector('F');
    assert_int_equal(r.side, 'S');
    assert_true(r.shares == 0xFFFFFFFFu);
    assert_int_equal(r.price, 0x7FFFFFFF);
    assert_memory_equal(r.stock, "ABCDEFGH", 8);
    assert_memory_equal(r.mpid, "GSCO", 4);

    r = decode_vector('E');
    assert_int_equal(r.ref, 23508286);
    assert_int_equal(r.shares, 300);
    assert_true(r.match == 0x21B2C3D4E5F60718ull);
    assert_int_equal(r.price, 0);

    r = decode_vector('C');
    assert_true(r.ref == 11 && r.shares == 22 && r.match == 33 && r.price == 440000);
    assert_int_equal(r.printable, 'Y');

    r = decode_vector('X');
    assert_true(r.ref == INT64_MAX && r.shares == 7);

    r = decode_vector('D');
    assert_true(r.ref == 23485802 && r.shares == 0);

    r = decode_vector('U');
    assert_true(r.ref == 555 && r.new_ref == 556 && r.shares == 900 && r.price == 1234567);

    r = decode_vector('P');
    assert_true(r.ref == 0 && r.side == 'B' && r.shares == 50 && r.price == 4501234);
    assert_true(r.match == 424242);
    assert_memory_equal(r.stock, "SPY     ", 8);

    r = decode_vector('B');
    assert_true(r.match == 99 && r.ref == 0);
}

/* Body-view types: stock and cross_type decoded, the body verbatim. */
static void test_body_record_fields(void **state)
{
    (void)state;
    md_rec_t r = decode_vector('Q');
    assert_memory_equal(r.stock, "QQQ     ", 8);
    assert_int_equal(r.cross_type, 'O');
    assert_int_equal(r.body[0], 0x00);
    assert_int_equal(r.body[3], 0x01); /* cross_shares 0x100000000, big-endian */

    r = decode_vector('I');
    assert_memory_equal(r.stock, "NOII    ", 8);
    assert_int_equal(r.cross_type, 'C');
    assert_int_equal(r.body[50 - 1 - ITCH_HDR_LEN], 'L');
    assert_int_equal(r.body[39], 0);

    r = decode_vector('L');
    assert_memory_equal(r.stock, "FGMC    ", 8);
    assert_memory_equal(r.body, "MAXM", 4);

    r = decode_vector('S');
    assert_memory_equal(r.stock, "\0\0\0\0\0\0\0\0", 8);
    assert_int_equal(r.body[0], 'O');
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Fast and table-driven decoders write the same 128 bytes, for every type. */
static void test_fast_matches_table(void **state)
{
    (void)state;
    rng_state = tu_seed_from_env("MDMUX_PROTO_SEED", 0x2545F4914F6CDD1Dull) | 1;
    for (size_t i = 0; i < NVECTORS; i++) {
        const itch_desc_t *d = itch_desc((uint8_t)vectors[i].type);
        for (int n = 0; n < 5000; n++) {
            uint8_t msg[ITCH_MAX_LEN];
            md_rec_t a, b;
            for (int j = 0; j < ITCH_MAX_LEN; j++)
                msg[j] = (uint8_t)rnd();
            msg[0] = (uint8_t)d->type;
            uint8_t fill = (uint8_t)rnd();
            memset(&a, fill, sizeof(a));
            memset(&b, fill, sizeof(b));
            assert_int_equal(itch_decode(msg, d->len, &a), ITCH_OK);
            assert_int_equal(itch_decode_table(msg, d->len, &b), ITCH_OK);
            if (memcmp(&a, &b, sizeof(a)) != 0)
                fail_msg("type %c: fast and table decoders differ", d->type);
            uint8_t back[ITCH_MAX_LEN];
            assert_int_equal(md_rec_to_itch(&a, back), d->len);
            assert_memory_equal(back, msg, d->len);
        }
    }
}

/* Caller-owned fields survive a decode. */
static void test_decode_keeps_caller_fields(void **state)
{
    (void)state;
    for (size_t i = 0; i < NVECTORS; i++) {
        uint8_t msg[ITCH_MAX_LEN];
        md_rec_t r;
        size_t len = encode(&vectors[i], msg);
        memset(&r, 0x77, sizeof(r));
        assert_int_equal(itch_decode(msg, len, &r), ITCH_OK);
        assert_true(r.seq == 0x7777777777777777ull && r.feed_seq == 0x7777777777777777ull);
        assert_true(r.feed == 0x7777 && r.line == 0x77);
        for (int s = 0; s < MD_TSC_COUNT; s++)
            assert_true(r.tsc[s] == 0x7777777777777777ull);
    }
}

/* Unknown types at every length; every wrong length of every type; never a read past
 * the block (heap copies of exactly the block's size). */
static void test_malformed(void **state)
{
    (void)state;
    md_rec_t r;

    assert_int_equal(itch_decode((const uint8_t *)"", 0, &r), ITCH_ERR_UNKNOWN_TYPE);
    assert_int_equal(itch_decode_table((const uint8_t *)"", 0, &r), ITCH_ERR_UNKNOWN_TYPE);
    for (unsigned t = 0; t < 256; t++) {
        const itch_desc_t *d = itch_desc((uint8_t)t);
        for (size_t len = 1; len <= 64; len++) {
            uint8_t *msg = calloc(1, len);
            msg[0] = (uint8_t)t;
            int want = !d ? ITCH_ERR_UNKNOWN_TYPE : len == d->len ? ITCH_OK : ITCH_ERR_BAD_LENGTH;
            assert_int_equal(itch_decode(msg, len, &r), want);
            assert_int_equal(itch_decode_table(msg, len, &r), want);
            char json[ITCH_JSON_MAX];
            assert_true((itch_json(msg, len, 0, json, sizeof(json)) > 0) == (want == ITCH_OK));
            free(msg);
        }
    }
    assert_string_equal(itch_err_name(ITCH_OK), "ok");
    assert_string_equal(itch_err_name(ITCH_ERR_UNKNOWN_TYPE), "unknown_type");
    assert_string_equal(itch_err_name(ITCH_ERR_BAD_LENGTH), "bad_length");
    assert_string_equal(itch_err_name(99), "unknown");
}

/* Every capacity below the needed one fails cleanly, from an exact-size heap buffer. */
static void test_json_bounded(void **state)
{
    (void)state;
    for (size_t i = 0; i < NVECTORS; i++) {
        uint8_t msg[ITCH_MAX_LEN];
        char full[ITCH_JSON_MAX];
        size_t len = encode(&vectors[i], msg);
        int n = itch_json(msg, len, 0, full, sizeof(full));
        assert_true(n > 0 && (size_t)n == strlen(full));
        for (size_t cap = 0; cap <= (size_t)n + 1; cap++) {
            char *b = malloc(cap ? cap : 1);
            int got = itch_json(msg, len, 0, b, cap);
            if (cap > (size_t)n) {
                assert_int_equal(got, n);
                assert_string_equal(b, full);
            } else {
                assert_int_equal(got, -1);
            }
            free(b);
        }
    }
    /* Full 64-bit range, as text (jansson stops at 2^63 - 1). */
    uint8_t d[19] = {'D'};
    char text[ITCH_JSON_MAX];
    memset(d + 11, 0xFF, 8);
    assert_true(itch_json(d, sizeof(d), 0, text, sizeof(text)) > 0);
    assert_non_null(strstr(text, "\"order_reference_number\":18446744073709551615}"));

    /* The worst case fits ITCH_JSON_MAX: an I message of non-printable bytes. */
    uint8_t msg[ITCH_MAX_LEN];
    char buf[ITCH_JSON_MAX];
    memset(msg, 0x01, sizeof(msg));
    msg[0] = 'I';
    assert_true(itch_json(msg, 50, 0, buf, sizeof(buf)) > 0);
}

static void test_rec_json_messages(void **state)
{
    (void)state;
    char buf[MD_JSON_MAX];
    md_rec_t r = decode_vector('A');
    r.seq = 42;
    r.feed = 3;
    r.feed_seq = 1000;
    r.line = MD_LINE_B;
    assert_true(md_rec_json(&r, NULL, buf, sizeof(buf)) > 0);
    assert_string_equal(buf,
                        "{\"seq\":42,\"feed\":3,\"feed_seq\":1000,\"line\":\"B\",\"type\":\"A\","
                        "\"locate\":4660,\"tracking\":2571,\"ts\":34214197861146,"
                        "\"ref\":72623859790382856,\"side\":\"B\",\"shares\":1600,"
                        "\"stock\":\"IVOO\",\"price\":873900}");
    r = decode_vector('U');
    r.line = MD_LINE_RETX;
    assert_true(md_rec_json(&r, "feed07", buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "\"feed\":\"feed07\""));
    assert_non_null(strstr(buf, "\"line\":\"R\""));
    assert_non_null(strstr(buf, "\"ref\":555,\"new_ref\":556,\"shares\":900,\"price\":1234567}"));
    r = decode_vector('C');
    assert_true(md_rec_json(&r, NULL, buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "\"ref\":11,\"shares\":22,\"match\":33,\"printable\":\"Y\","
                                "\"price\":440000}"));
    r = decode_vector('F');
    assert_true(md_rec_json(&r, NULL, buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "\"mpid\":\"GSCO\"}"));
    /* Other types keep the spec names. */
    r = decode_vector('H');
    assert_true(md_rec_json(&r, NULL, buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "\"stock\":\"MSFT\",\"trading_state\":\"T\",\"reserved\":\" \","
                                "\"reason\":\"MWC1\"}"));
    /* Every type's dump is valid JSON and fits MD_JSON_MAX with a long feed name. */
    char name[65];
    memset(name, 'n', 64);
    name[64] = 0;
    for (size_t i = 0; i < NVECTORS; i++) {
        r = decode_vector(vectors[i].type);
        assert_true(md_rec_json(&r, name, buf, sizeof(buf)) > 0);
        json_error_t jerr;
        json_t *o = json_loads(buf, 0, &jerr);
        assert_non_null(o);
        json_decref(o);
    }
    memset(&r, 0, sizeof(r));
    assert_int_equal(md_rec_json(&r, NULL, buf, sizeof(buf)), -1);
}

static void test_rec_json_events(void **state)
{
    (void)state;
    char buf[MD_JSON_MAX];
    md_rec_t r;

    memset(&r, 0xCC, sizeof(r));
    md_rec_event(&r, MD_EV_GAP, 5, MD_LINE_NONE, 100, 120, 0);
    assert_true(r.tsc_rx == 0xCCCCCCCCCCCCCCCCull); /* stamps are the caller's */
    r.seq = 9;
    assert_int_equal(r.kind, MD_KIND_EVENT);
    assert_true(md_rec_json(&r, NULL, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "{\"seq\":9,\"event\":\"gap\",\"feed\":5,\"from\":100,\"to\":120}");

    md_rec_event(&r, MD_EV_LINE_DOWN, 5, MD_LINE_A, 0, 0, 0);
    r.seq = 10;
    assert_true(md_rec_json(&r, "f", buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "{\"seq\":10,\"event\":\"line_down\",\"feed\":\"f\",\"line\":\"A\"}");

    md_rec_event(&r, MD_EV_SESSION_CHANGE, 1, MD_LINE_NONE, 1, 0, 0);
    memcpy(r.ev.session, "000010059C", MOLD_SESSION_LEN);
    r.seq = 11;
    assert_true(md_rec_json(&r, NULL, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "{\"seq\":11,\"event\":\"session_change\",\"feed\":1,"
                             "\"session\":\"000010059C\",\"from\":1}");

    md_rec_event(&r, MD_EV_HANDLER_RESTART, 2, MD_LINE_NONE, 0, 0, 3);
    r.seq = 12;
    assert_true(md_rec_json(&r, NULL, buf, sizeof(buf)) > 0);
    assert_string_equal(buf,
                        "{\"seq\":12,\"event\":\"handler_restart\",\"feed\":2,\"restarts\":3}");

    for (unsigned ev = MD_EV_GAP; ev < MD_EV_COUNT; ev++) {
        assert_string_not_equal(md_event_name(ev), "unknown");
        md_rec_event(&r, (md_event_t)ev, 1, MD_LINE_B, 1, 2, 3);
        assert_true(md_rec_json(&r, NULL, buf, sizeof(buf)) > 0);
        assert_non_null(strstr(buf, md_event_name(ev)));
    }
    assert_string_equal(md_event_name(0), "unknown");
    assert_string_equal(md_event_name(MD_EV_COUNT), "unknown");
    r.type = MD_EV_COUNT;
    assert_int_equal(md_rec_json(&r, NULL, buf, sizeof(buf)), -1);
    uint8_t msg[ITCH_MAX_LEN];
    assert_int_equal(md_rec_to_itch(&r, msg), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_table_consistency),
        cmocka_unit_test(test_every_type_hand_built),
        cmocka_unit_test(test_order_record_fields),
        cmocka_unit_test(test_body_record_fields),
        cmocka_unit_test(test_fast_matches_table),
        cmocka_unit_test(test_decode_keeps_caller_fields),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_json_bounded),
        cmocka_unit_test(test_rec_json_messages),
        cmocka_unit_test(test_rec_json_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
