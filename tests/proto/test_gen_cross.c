/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/proto against mdmux-gen's ITCH encoder (tools/gen/itch.c, written independently):
 * the same types and lengths, every generated message decodes, re-encodes to the same
 * bytes, and itch_json() writes exactly the members of the generator's messages file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <string.h>

#include "itch.h" /* tools/gen's private encoder */
#include "proto.h"

static uint64_t rng = 0xD1B54A32D192ED03ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A random value for a field of the generator's table. */
static uint64_t gen_value(const struct itch_field *f)
{
    char s[9] = {0};
    switch (f->kind) {
    case ITCH_ALPHA:
        for (unsigned i = 0; i < f->width; i++)
            s[i] = (char)('A' + rnd() % 26);
        s[1 + rnd() % f->width] = 0; /* 1..width letters: the rest is space padding */
        return itch_alpha(s, f->width);
    case ITCH_CHAR:
        return 0x20 + rnd() % 95;
    default:
        return f->width == 8 ? rnd() >> 1 : rnd() & ((1ull << (8 * f->width)) - 1);
    }
}

static void test_same_types(void **state)
{
    (void)state;
    unsigned n;
    const struct itch_layout *l = itch_layouts(&n);

    assert_int_equal(n, ITCH_NTYPES);
    for (unsigned i = 0; i < n; i++) {
        const itch_desc_t *d = itch_desc((uint8_t)l[i].type);
        if (!d)
            fail_msg("generator type %c unknown to lib/proto", l[i].type);
        assert_int_equal(d->len, l[i].len);
        assert_int_equal(d->nfields, l[i].nfields + 4);
        for (unsigned j = 0; j < l[i].nfields; j++)
            assert_string_equal(d->fields[j + 4].name, l[i].f[j].name);
    }
}

static void test_generated_messages(void **state)
{
    (void)state;
    unsigned n;
    const struct itch_layout *l = itch_layouts(&n);

    for (unsigned i = 0; i < n; i++) {
        for (int k = 0; k < 2000; k++) {
            struct itch_msg m = {.type = l[i].type,
                                 .locate = (uint16_t)rnd(),
                                 .tracking = (uint16_t)rnd(),
                                 .ts = rnd() & 0xFFFFFFFFFFFFull};
            for (unsigned j = 0; j < l[i].nfields; j++)
                m.v[j] = gen_value(&l[i].f[j]);
            uint8_t msg[ITCH_MAX_LEN], back[ITCH_MAX_LEN];
            size_t len = itch_encode(&m, msg);
            md_rec_t r;
            assert_int_equal(itch_decode(msg, len, &r), ITCH_OK);
            assert_int_equal(r.locate, m.locate);
            assert_true(r.ts == m.ts);
            assert_int_equal(md_rec_to_itch(&r, back), len);
            assert_memory_equal(back, msg, len);

            char ours[ITCH_JSON_MAX], theirs[ITCH_JSON_MAX];
            assert_true(itch_json(msg, len, ITCH_JSON_MEMBERS, ours, sizeof(ours)) > 0);
            assert_true(itch_json_fields(msg, len, theirs, sizeof(theirs)) > 0);
            if (strcmp(ours, theirs) != 0)
                fail_msg("%c: lib/proto %s\nmdmux-gen %s", m.type, ours, theirs);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_types),
        cmocka_unit_test(test_generated_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
