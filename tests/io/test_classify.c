/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/io classifier: VLAN/QinQ, IP options, fragments, every truncation of valid frames,
 * non-UDP/non-IP, checksum, IHL/version, UDP lengths, unknown flows and top-k, the flow
 * table. Truncated frames are copied into buffers of exactly their length, so ASan
 * reports any read past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classify_inline.h" /* internal: the fast path is checked against the full parse */
#include "io.h"
#include "frames.h"
#include "testutil.h"

#define GROUP_A 0xef640001u /* 239.100.0.1 */
#define GROUP_B 0xef650001u /* 239.101.0.1 */

static io_flow_table_t *table(void)
{
    io_flow_table_t *t = io_flow_table_new(8, -1);
    assert_non_null(t);
    assert_int_equal(io_flow_table_add(t, htonl(GROUP_A), htons(30000), 0, 0), 0);
    assert_int_equal(io_flow_table_add(t, htonl(GROUP_B), htons(31000), 0, 1), 0);
    assert_int_equal(io_flow_table_add(t, htonl(GROUP_A + 1), htons(30001), 1, 0), 0);
    return t;
}

/* Classify @len bytes of @f from a heap copy of exactly that size. */
static io_verdict_t classify_exact(const io_flow_table_t *t, const uint8_t *f, unsigned len,
                                   io_pkt_info_t *info)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, f, len);
    io_verdict_t v = io_classify(t, copy, len, info);
    free(copy);
    return v;
}

static void test_accept_plain_vlan_qinq(void **state)
{
    (void)state;
    io_flow_table_t *t = table();
    uint8_t f[2048];
    for (int tags = 0; tags <= 2; tags++) {
        frame_spec_t s = {
            .tags = tags, .dst_ip = GROUP_B, .dst_port = 31000, .payload = 100, .frag = 0x4000};
        unsigned len = frame_build(f, &s);
        io_pkt_info_t info = {0};
        assert_int_equal(classify_exact(t, f, len, &info), IO_ACCEPT);
        assert_int_equal(info.feed, 0);
        assert_int_equal(info.line, 1);
        assert_int_equal(info.l4_payload_off, 14 + 4 * tags + 20 + 8);
        assert_int_equal(info.l4_payload_len, 100);
        assert_int_equal(info.dst_ip_be, htonl(GROUP_B));
        assert_int_equal(info.dst_port_be, htons(31000));
    }
    /* two 0x8100 tags are accepted too; a third tag is not parsed: other */
    frame_spec_t s = {.tags = 2, .dst_ip = GROUP_A, .dst_port = 30000, .payload = 10};
    unsigned len = frame_build(f, &s);
    put16(f + 12, 0x8100);
    io_pkt_info_t info;
    assert_int_equal(classify_exact(t, f, len, &info), IO_ACCEPT);
    put16(f + 20, 0x8100); /* inner type: a third tag */
    assert_int_equal(classify_exact(t, f, len, &info), IO_OTHER);
    io_flow_table_free(t);
}

static void test_ip_options_and_padding(void **state)
{
    (void)state;
    io_flow_table_t *t = table();
    uint8_t f[2048];
    for (int ihl = 5; ihl <= 15; ihl++) {
        frame_spec_t s = {.tags = ihl & 1,
                          .ihl = ihl,
                          .dst_ip = GROUP_A + 1,
                          .dst_port = 30001,
                          .payload = 7,
                          .pad = 20};
        unsigned len = frame_build(f, &s);
        io_pkt_info_t info;
        assert_int_equal(classify_exact(t, f, len, &info), IO_ACCEPT);
        assert_int_equal(info.feed, 1);
        assert_int_equal(info.line, 0);
        assert_int_equal(info.l4_payload_off, frame_ip_off(&s) + 4 * ihl + 8);
        assert_int_equal(info.l4_payload_len, 7); /* padding is not payload */
    }
    io_flow_table_free(t);
}

static void test_fragments(void **state)
{
    (void)state;
    io_flow_table_t *t = table();
    uint8_t f[2048];
    static const uint16_t frags[] = {0x2000, 0x0001, 0x2010, 0x6000, 0x1fff};
    for (unsigned i = 0; i < sizeof(frags) / sizeof(frags[0]); i++) {
        frame_spec_t s = {.dst_ip = GROUP_A, .dst_port = 30000, .payload = 40, .frag = frags[i]};
        unsigned len = frame_build(f, &s);
        io_pkt_info_t info;
        assert_int_equal(classify_exact(t, f, len, &info), IO_MALFORMED);
        assert_int_equal(info.bad, IO_BAD_IP_FRAGMENT);
    }
    io_flow_table_free(t);
}

/* The reason a valid frame of spec @s cut to @len bytes must get. */
static io_bad_t expected_cut_reason(const frame_spec_t *s, unsigned len)
{
    unsigned ip = frame_ip_off(s), hl = 4u * (unsigned)(s->ihl ? s->ihl : 5);
    if (len < 14)
        return IO_BAD_ETH_SHORT;
    if (len < ip)
        return IO_BAD_VLAN_SHORT;
    if (len < ip + hl)
        return IO_BAD_IP_SHORT;
    return IO_BAD_IP_LEN;
}

static void test_truncated_at_every_byte(void **state)
{
    (void)state;
    io_flow_table_t *t = table();
    uint8_t f[2048];
    const frame_spec_t specs[] = {
        {.tags = 0, .dst_ip = GROUP_A, .dst_port = 30000, .payload = 30},
        {.tags = 1, .dst_ip = GROUP_A, .dst_port = 30000, .payload = 30},
        {.tags = 2, .dst_ip = GROUP_B, .dst_port = 31000, .payload = 30},
        {.tags = 2, .ihl = 15, .dst_ip = GROUP_B, .dst_port = 31000, .payload = 30},
        {.tags = 1, .ihl = 7, .dst_ip = 0x0a0a0a0a, .dst_port = 9, .payload = 0},
    };
    unsigned checked = 0;
    for (unsigned k = 0; k < sizeof(specs) / sizeof(specs[0]); k++) {
        unsigned full = frame_build(f, &specs[k]);
        io_pkt_info_t info;
        io_verdict_t whole = classify_exact(t, f, full, &info);
        assert_true(whole == IO_ACCEPT || whole == IO_UNKNOWN);
        for (unsigned len = 0; len < full; len++) {
            memset(&info, 0xee, sizeof(info));
            io_verdict_t v = classify_exact(t, f, len, &info);
            if (v != IO_MALFORMED || info.bad != expected_cut_reason(&specs[k], len))
                fail_msg("spec %u cut to %u of %u bytes: verdict %d reason %s, want %s", k, len,
                         full, v, io_bad_name(info.bad),
                         io_bad_name(expected_cut_reason(&specs[k], len)));
            checked++;
        }
    }
    assert_true(checked > 300);
    io_flow_table_free(t);
}

static void test_other_non_ip_non_udp(void **state)
{
    (void)state;
    io_flow_table_t *t = table();
    uint8_t f[2048];
    frame_spec_t s = {.tags = 1, .dst_ip = GROUP_A, .dst_port = 30000, .payload = 20, .proto = 6};
    unsigned len = frame_build(f, &s);
    io_pkt_info_t info;
    assert_int_equal(classify_exact(t, f, len, &info), IO_OTHER); /* TCP */
    s.proto = 0;
    len = frame_build(f, &s);
    put16(f + 16, 0x0806); /* ARP after the tag */
    assert_int_equal(classify_exact(t, f, len, &info), IO_OTHER);
    put16(f + 16, 0x86dd); /* IPv6 */
    assert_int_equal(classify_exact(t, f, len, &info), IO_OTHER);
    /* a bare Ethernet header of an unknown type is "other", not short */
    assert_int_equal(classify_exact(t, f, 18, &info), IO_OTHER);
    io_flow_table_free(t);
}

static void test_checksum_version_ihl(void **state)
{
    (void)state;
    io_flow_table_t *t = table();
    uint8_t f[2048];
    frame_spec_t s = {.dst_ip = GROUP_A, .dst_port = 30000, .payload = 20};
    unsigned len = frame_build(f, &s);
    io_pkt_info_t info;
    f[14 + 8] ^= 1; /* TTL changed, checksum not */
    assert_int_equal(classify_exact(t, f, len, &info), IO_MALFORMED);
    assert_int_equal(info.bad, IO_BAD_IP_CHECKSUM);
    /* the NIC's verdict is trusted both ways */
    assert_int_equal(io_classify_ex(t, f, len, IO_CLS_IP_CKSUM_GOOD, &info), IO_ACCEPT);
    f[14 + 8] ^= 1;
    assert_int_equal(io_classify_ex(t, f, len, IO_CLS_IP_CKSUM_BAD, &info), IO_MALFORMED);
    assert_int_equal(info.bad, IO_BAD_IP_CHECKSUM);
    /* version 6 under ethertype IPv4 */
    f[14] = 0x65;
    assert_int_equal(classify_exact(t, f, len, &info), IO_MALFORMED);
    assert_int_equal(info.bad, IO_BAD_IP_VERSION);
    for (uint8_t ihl = 0; ihl < 5; ihl++) {
        f[14] = (uint8_t)(0x40 | ihl);
        assert_int_equal(classify_exact(t, f, len, &info), IO_MALFORMED);
        assert_int_equal(info.bad, IO_BAD_IP_IHL);
    }
    /* total length below the header length */
    len = frame_build(f, &s);
    put16(f + 16, 19);
    frame_fix_cksum(f, &s);
    assert_int_equal(classify_exact(t, f, len, &info), IO_MALFORMED);
    assert_int_equal(info.bad, IO_BAD_IP_LEN);
    /* total length one above the bytes present */
    put16(f + 16, (uint16_t)(len - 14 + 1));
    frame_fix_cksum(f, &s);
    assert_int_equal(classify_exact(t, f, len, &info), IO_MALFORMED);
    assert_int_equal(info.bad, IO_BAD_IP_LEN);
    io_flow_table_free(t);
}

static void test_udp_lengths(void **state)
{
    (void)state;
    io_flow_table_t *t = table();
    uint8_t f[2048];
    frame_spec_t s = {.dst_ip = GROUP_A, .dst_port = 30000, .payload = 20};
    unsigned len = frame_build(f, &s);
    io_pkt_info_t info;
    uint8_t *udp = f + 14 + 20;
    put16(udp + 4, 29); /* one above the IP payload */
    assert_int_equal(classify_exact(t, f, len, &info), IO_MALFORMED);
    assert_int_equal(info.bad, IO_BAD_UDP_LEN);
    put16(udp + 4, 7);
    assert_int_equal(classify_exact(t, f, len, &info), IO_MALFORMED);
    assert_int_equal(info.bad, IO_BAD_UDP_LEN);
    put16(udp + 4, 8); /* shorter than the IP payload is allowed: empty payload */
    assert_int_equal(classify_exact(t, f, len, &info), IO_ACCEPT);
    assert_int_equal(info.l4_payload_len, 0);
    /* IP payload too short for a UDP header */
    put16(f + 16, 20 + 7);
    frame_fix_cksum(f, &s);
    assert_int_equal(classify_exact(t, f, len, &info), IO_MALFORMED);
    assert_int_equal(info.bad, IO_BAD_UDP_SHORT);
    io_flow_table_free(t);
}

static void test_unknown_flows_and_topk(void **state)
{
    (void)state;
    io_flow_table_t *t = table();
    uint8_t f[2048];
    frame_spec_t s = {.dst_ip = GROUP_A, .dst_port = 30001, .payload = 20}; /* wrong port */
    unsigned len = frame_build(f, &s);
    io_pkt_info_t info;
    assert_int_equal(classify_exact(t, f, len, &info), IO_UNKNOWN);
    assert_int_equal(info.dst_ip_be, htonl(GROUP_A));
    assert_int_equal(info.dst_port_be, htons(30001));
    assert_int_equal(io_classify(NULL, f, len, &info), IO_UNKNOWN);

    /* Three heavy flows among 200 light ones: the heavy ones lead the list with their
       true counts inside the space-saving bound. */
    io_topk_t k;
    io_topk_init(&k);
    uint64_t heavy[3] = {0};
    for (int i = 0; i < 3000; i++) {
        int h = i % 5;
        if (h < 3) {
            io_topk_add(&k, htonl(0xef000000u + (uint32_t)h), htons(1000));
            heavy[h]++;
        } else {
            io_topk_add(&k, htonl(0x0a000000u + (uint32_t)(i % 200)), htons(2000));
        }
    }
    io_flow_count_t top[IO_TOPK];
    unsigned n = io_topk_list(&k, top, IO_TOPK);
    assert_int_equal(n, IO_TOPK);
    for (unsigned i = 0; i < 3; i++) {
        uint32_t ip = ntohl(top[i].dst_ip_be);
        assert_true(ip >= 0xef000000u && ip <= 0xef000002u);
        uint64_t truth = heavy[ip - 0xef000000u];
        assert_true(top[i].frames >= truth);
        assert_true(top[i].frames - top[i].error <= truth);
        if (i > 0)
            assert_true(top[i].frames <= top[i - 1].frames);
    }
    /* exact while there are at most IO_TOPK flows */
    io_topk_init(&k);
    for (uint32_t i = 0; i < 10; i++)
        for (uint32_t j = 0; j <= i; j++)
            io_topk_add(&k, i, 7);
    n = io_topk_list(&k, top, 4);
    assert_int_equal(n, 4);
    assert_int_equal(top[0].dst_ip_be, 9);
    assert_int_equal(top[0].frames, 10);
    assert_int_equal(top[0].error, 0);
    assert_int_equal(top[3].frames, 7);
    io_flow_table_free(t);
}

static void test_flow_table(void **state)
{
    (void)state;
    io_flow_table_t *t = table();
    assert_int_equal(io_flow_table_count(t), 3);
    assert_int_equal(io_flow_table_add(t, htonl(GROUP_A), htons(30000), 5, 1), -EEXIST);
    assert_int_equal(io_flow_table_add(t, htonl(GROUP_A), htons(30000), 0, 0), -EEXIST);
    assert_int_equal(io_flow_table_add(t, 1, 2, IO_FEEDS_MAX, 0), -EINVAL);
    assert_int_equal(io_flow_table_add(t, 1, 2, 0, 2), -EINVAL);
    uint16_t feed;
    uint8_t line;
    assert_true(io_flow_table_lookup(t, htonl(GROUP_B), htons(31000), &feed, &line));
    assert_int_equal(feed, 0);
    assert_int_equal(line, 1);
    assert_false(io_flow_table_lookup(t, htonl(GROUP_B), htons(31001), &feed, &line));
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(io_flow_table_add(t, i + 1, 9, (uint16_t)(10 + i), 0), 0);
    assert_int_equal(io_flow_table_add(t, 99, 9, 20, 0), -ENOSPC);
    io_flow_table_free(t);
    assert_null(io_flow_table_new(0, -1));
    /* a full-size table: every feed of IO_FEEDS_MAX on two lines, all found */
    t = io_flow_table_new(2 * IO_FEEDS_MAX, -1);
    assert_non_null(t);
    for (uint32_t i = 0; i < IO_FEEDS_MAX; i++) {
        assert_int_equal(io_flow_table_add(t, htonl(0xef640000u + i), htons(30000), (uint16_t)i, 0),
                         0);
        assert_int_equal(io_flow_table_add(t, htonl(0xef650000u + i), htons(31000), (uint16_t)i, 1),
                         0);
    }
    for (uint32_t i = 0; i < IO_FEEDS_MAX; i++) {
        assert_true(io_flow_table_lookup(t, htonl(0xef650000u + i), htons(31000), &feed, &line));
        assert_int_equal(feed, i);
        assert_int_equal(line, 1);
    }
    io_flow_table_free(t);
}

static void test_bad_names(void **state)
{
    (void)state;
    static const char *const want[IO_BAD_COUNT] = {
        "eth_short", "vlan_short",  "ip_short",    "ip_version", "ip_ihl",
        "ip_len",    "ip_checksum", "ip_fragment", "udp_short",  "udp_len"};
    for (int r = 0; r < IO_BAD_COUNT; r++)
        assert_string_equal(io_bad_name((io_bad_t)r), want[r]);
    assert_string_equal(io_bad_name(IO_BAD_COUNT), "?");
}

/* Random bytes and random mutations of valid frames: never a crash, never an
   out-of-bounds read (ASan), and an accepted frame's payload lies inside it. */
static void test_random_frames(void **state)
{
    (void)state;
    io_flow_table_t *t = table();
    uint64_t seed = tu_seed_from_env("MDMUX_IO_SEED", 4);
    srand((unsigned)seed);
    uint8_t f[256];
    for (int i = 0; i < 200000; i++) {
        frame_spec_t s = {.tags = rand() % 3,
                          .ihl = 5 + rand() % 3,
                          .dst_ip = GROUP_A,
                          .dst_port = 30000,
                          .payload = (uint16_t)(rand() % 64)};
        unsigned len = frame_build(f, &s);
        int flips = rand() % 4;
        for (int j = 0; j < flips; j++)
            f[rand() % len] ^= (uint8_t)(1u << (rand() % 8));
        if (rand() % 4 == 0)
            len = (unsigned)rand() % (len + 1);
        io_pkt_info_t info;
        io_verdict_t v = classify_exact(t, f, len, &info);
        if (v == IO_ACCEPT || v == IO_UNKNOWN)
            assert_true((unsigned)info.l4_payload_off + info.l4_payload_len <= len);
        if (v == IO_MALFORMED)
            assert_true(info.bad < IO_BAD_COUNT);
    }
    io_flow_table_free(t);
}

/* The fast path and the full parse agree on every frame, field for field. */
static void test_fast_path_matches_full_parse(void **state)
{
    (void)state;
    io_flow_table_t *t = table();
    srand((unsigned)tu_seed_from_env("MDMUX_IO_SEED", 5));
    uint8_t f[256];
    unsigned fast_accepts = 0;
    for (int i = 0; i < 300000; i++) {
        frame_spec_t s = {.tags = rand() % 3,
                          .ihl = rand() % 4 ? 5 : 6,
                          .dst_ip = GROUP_A,
                          .dst_port = (uint16_t)(30000 + rand() % 2),
                          .payload = (uint16_t)(rand() % 64),
                          .pad = rand() % 3 ? 0 : 10};
        unsigned len = frame_build(f, &s);
        int flips = rand() % 3;
        for (int j = 0; j < flips; j++)
            f[rand() % (len < 60 ? len : 60)] ^= (uint8_t)(1u << (rand() % 8));
        if (rand() % 8 == 0)
            len = (unsigned)rand() % (len + 1);
        unsigned flags = rand() % 5 == 0 ? (unsigned)(rand() % 3) : 0;
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, f, len);
        io_pkt_info_t a, b;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        io_verdict_t va = classify(t, copy, len, len, flags, &a);
        io_verdict_t vb = classify_slow(t, copy, len, len, flags, &b);
        free(copy);
        if (va != vb || (va == IO_MALFORMED && a.bad != b.bad) ||
            ((va == IO_ACCEPT || va == IO_UNKNOWN) && memcmp(&a, &b, sizeof(a)) != 0))
            fail_msg("frame %d (len %u, flags %u): fast %d/%d, full %d/%d", i, len, flags, va,
                     a.bad, vb, b.bad);
        fast_accepts += va == IO_ACCEPT;
    }
    assert_true(fast_accepts > 1000);
    io_flow_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_plain_vlan_qinq),
        cmocka_unit_test(test_ip_options_and_padding),
        cmocka_unit_test(test_fragments),
        cmocka_unit_test(test_truncated_at_every_byte),
        cmocka_unit_test(test_other_non_ip_non_udp),
        cmocka_unit_test(test_checksum_version_ihl),
        cmocka_unit_test(test_udp_lengths),
        cmocka_unit_test(test_unknown_flows_and_topk),
        cmocka_unit_test(test_flow_table),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_random_frames),
        cmocka_unit_test(test_fast_path_matches_full_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
