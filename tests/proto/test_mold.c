/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/proto MoldUDP64: data packets, heartbeat, end of session, every truncation, block
 * overruns at every byte, zero-length blocks, count mismatch, trailing bytes, sequence
 * overflow, re-request round trip. Packets are parsed from heap copies of exactly their
 * length, so ASan reports any read past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static const char session[MOLD_SESSION_LEN + 1] = "000010059B";

/* Build a packet of @p n blocks of lengths @p lens (contents: bytes i+1); returns its length. */
static size_t build(uint8_t *out, uint64_t seq, uint16_t count, const uint16_t *lens, unsigned n)
{
    size_t off = mold_encode_hdr(out, session, seq, count);
    uint8_t msg[300];

    for (unsigned i = 0; i < n; i++) {
        memset(msg, (int)(i + 1), lens[i]);
        off += mold_encode_block(out + off, msg, lens[i]);
    }
    return off;
}

/* Parse @p len bytes of @p pkt from a heap copy of exactly that size. */
static mold_err_t parse_exact(const uint8_t *pkt, size_t len, mold_pkt_t *out, uint8_t **copy)
{
    *copy = malloc(len ? len : 1);
    memcpy(*copy, pkt, len);
    return mold_parse(*copy, len, out);
}

static void test_data_packet(void **state)
{
    (void)state;
    uint8_t buf[1024];
    const uint16_t lens[] = {36, 19, 50, 0, 23};
    size_t len = build(buf, 1000, 5, lens, 5);
    mold_pkt_t pkt;
    uint8_t *copy;

    assert_int_equal(parse_exact(buf, len, &pkt, &copy), MOLD_OK);
    assert_int_equal(pkt.kind, MOLD_DATA);
    assert_int_equal(pkt.seq, 1000);
    assert_int_equal(pkt.count, 5);
    assert_memory_equal(pkt.session, session, MOLD_SESSION_LEN);

    mold_iter_t it;
    mold_msg_t m;
    unsigned i = 0;
    mold_iter_init(&it, &pkt);
    while (mold_iter_next(&it, &m)) {
        assert_true(i < 5);
        assert_int_equal(m.len, lens[i]);
        assert_int_equal(m.seq, 1000 + i);
        for (unsigned j = 0; j < m.len; j++)
            assert_int_equal(m.data[j], i + 1);
        i++;
    }
    assert_int_equal(i, 5);
    free(copy);
}

static void test_heartbeat_and_eos(void **state)
{
    (void)state;
    uint8_t buf[64];
    mold_pkt_t pkt;
    uint8_t *copy;
    mold_iter_t it;
    mold_msg_t m;

    size_t len = build(buf, 77, 0, NULL, 0);
    assert_int_equal(len, MOLD_HDR_LEN);
    assert_int_equal(parse_exact(buf, len, &pkt, &copy), MOLD_OK);
    assert_int_equal(pkt.kind, MOLD_HEARTBEAT);
    assert_int_equal(pkt.seq, 77);
    assert_int_equal(pkt.count, 0);
    mold_iter_init(&it, &pkt);
    assert_false(mold_iter_next(&it, &m));
    free(copy);

    len = build(buf, 78, MOLD_COUNT_EOS, NULL, 0);
    assert_int_equal(parse_exact(buf, len, &pkt, &copy), MOLD_OK);
    assert_int_equal(pkt.kind, MOLD_END_OF_SESSION);
    assert_int_equal(pkt.seq, 78);
    assert_int_equal(pkt.count, 0);
    mold_iter_init(&it, &pkt);
    assert_false(mold_iter_next(&it, &m));
    free(copy);

    /* Neither may carry bytes after the header. */
    len = build(buf, 1, 0, NULL, 0);
    buf[len++] = 0;
    assert_int_equal(parse_exact(buf, len, &pkt, &copy), MOLD_ERR_TRAILING_BYTES);
    free(copy);
    len = build(buf, 1, MOLD_COUNT_EOS, NULL, 0);
    buf[len++] = 0;
    buf[len++] = 0;
    assert_int_equal(parse_exact(buf, len, &pkt, &copy), MOLD_ERR_TRAILING_BYTES);
    free(copy);
}

static void test_short_header(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t full = build(buf, 5, 0, NULL, 0);
    mold_pkt_t pkt;
    uint8_t *copy;

    for (size_t len = 0; len < full; len++) {
        assert_int_equal(parse_exact(buf, len, &pkt, &copy), MOLD_ERR_SHORT_HEADER);
        free(copy);
    }
}

/*
 * Every truncation of a 3-block packet: inside a length prefix is short_block (one
 * byte of it), inside a message is block_overrun, at a block boundary count_mismatch.
 */
static void test_truncation_at_every_byte(void **state)
{
    (void)state;
    uint8_t buf[256];
    const uint16_t lens[] = {12, 0, 36};
    size_t full = build(buf, 1, 3, lens, 3);
    size_t bounds[4] = {MOLD_HDR_LEN};
    mold_pkt_t pkt;
    uint8_t *copy;

    for (int i = 0; i < 3; i++)
        bounds[i + 1] = bounds[i] + 2 + lens[i];
    assert_int_equal(bounds[3], full);
    for (size_t len = MOLD_HDR_LEN; len < full; len++) {
        mold_err_t want = MOLD_ERR_BLOCK_OVERRUN;
        for (int i = 0; i < 3; i++) {
            if (len == bounds[i])
                want = MOLD_ERR_COUNT_MISMATCH;
            else if (len == bounds[i] + 1)
                want = MOLD_ERR_SHORT_BLOCK;
        }
        mold_err_t got = parse_exact(buf, len, &pkt, &copy);
        if (got != want)
            fail_msg("length %zu: got %s, want %s", len, mold_err_name(got), mold_err_name(want));
        free(copy);
    }
    assert_int_equal(parse_exact(buf, full, &pkt, &copy), MOLD_OK);
    free(copy);
}

/* A block length that claims one byte more than is left, for every block and size. */
static void test_block_overrun_lengths(void **state)
{
    (void)state;
    uint8_t buf[256];
    const uint16_t lens[] = {19, 36, 23};
    size_t full = build(buf, 1, 3, lens, 3);
    mold_pkt_t pkt;
    uint8_t *copy;
    size_t off = MOLD_HDR_LEN;

    for (int i = 0; i < 3; i++) {
        uint8_t bad[256];
        size_t left = full - off - 2;
        for (uint32_t claim = (uint32_t)left + 1; claim <= 0xFFFF; claim = claim * 2 + 1) {
            memcpy(bad, buf, full);
            bad[off] = (uint8_t)(claim >> 8);
            bad[off + 1] = (uint8_t)claim;
            assert_int_equal(parse_exact(bad, full, &pkt, &copy), MOLD_ERR_BLOCK_OVERRUN);
            free(copy);
        }
        off += 2 + lens[i];
    }
}

static void test_count_mismatch_and_trailing(void **state)
{
    (void)state;
    uint8_t buf[256];
    const uint16_t lens[] = {19, 19};
    mold_pkt_t pkt;
    uint8_t *copy;

    /* Count says 3, the packet holds 2 blocks. */
    size_t len = build(buf, 1, 3, lens, 2);
    assert_int_equal(parse_exact(buf, len, &pkt, &copy), MOLD_ERR_COUNT_MISMATCH);
    free(copy);
    /* Count says 1, the packet holds 2: the second is trailing. */
    len = build(buf, 1, 1, lens, 2);
    assert_int_equal(parse_exact(buf, len, &pkt, &copy), MOLD_ERR_TRAILING_BYTES);
    free(copy);
    /* One stray byte after the last block. */
    len = build(buf, 1, 2, lens, 2);
    buf[len++] = 0x41;
    assert_int_equal(parse_exact(buf, len, &pkt, &copy), MOLD_ERR_TRAILING_BYTES);
    free(copy);
    /* Count 0xFFFE blocks of which there are two. */
    len = build(buf, 1, 0xFFFE, lens, 2);
    assert_int_equal(parse_exact(buf, len, &pkt, &copy), MOLD_ERR_COUNT_MISMATCH);
    free(copy);
}

static void test_zero_length_blocks(void **state)
{
    (void)state;
    uint8_t buf[64];
    const uint16_t lens[] = {0, 0, 0};
    size_t len = build(buf, 10, 3, lens, 3);
    mold_pkt_t pkt;
    uint8_t *copy;
    mold_iter_t it;
    mold_msg_t m;
    unsigned n = 0;

    /* Legal framing; the ITCH decoder rejects the empty messages. */
    assert_int_equal(parse_exact(buf, len, &pkt, &copy), MOLD_OK);
    mold_iter_init(&it, &pkt);
    while (mold_iter_next(&it, &m)) {
        assert_int_equal(m.len, 0);
        assert_int_equal(m.seq, 10 + n++);
        md_rec_t r;
        assert_int_equal(itch_decode(m.data, m.len, &r), ITCH_ERR_UNKNOWN_TYPE);
    }
    assert_int_equal(n, 3);
    free(copy);
}

static void test_seq_overflow(void **state)
{
    (void)state;
    uint8_t buf[64];
    const uint16_t lens[] = {1, 1};
    mold_pkt_t pkt;
    uint8_t *copy;

    size_t len = build(buf, UINT64_MAX - 1, 2, lens, 2);
    assert_int_equal(parse_exact(buf, len, &pkt, &copy), MOLD_ERR_SEQ_OVERFLOW);
    free(copy);
    len = build(buf, UINT64_MAX - 2, 2, lens, 2);
    assert_int_equal(parse_exact(buf, len, &pkt, &copy), MOLD_OK);
    free(copy);
}

static void test_request_round_trip(void **state)
{
    (void)state;
    uint8_t buf[MOLD_REQ_LEN + 1];
    const uint64_t seqs[] = {0, 1, 0x0102030405060708ull, UINT64_MAX - 0xFFFF};
    const uint16_t counts[] = {0, 1, 500, 0xFFFF};
    mold_req_t req;

    for (int i = 0; i < 4; i++) {
        assert_int_equal(mold_encode_request(buf, session, seqs[i], counts[i]), MOLD_REQ_LEN);
        assert_int_equal(mold_parse_request(buf, MOLD_REQ_LEN, &req), MOLD_OK);
        assert_memory_equal(req.session, session, MOLD_SESSION_LEN);
        assert_true(req.seq == seqs[i]);
        assert_int_equal(req.count, counts[i]);
    }
    /* Wire layout: big-endian sequence at 10, count at 18. */
    mold_encode_request(buf, session, 0x0102030405060708ull, 0x0A0B);
    const uint8_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 0x0A, 0x0B};
    assert_memory_equal(buf + 10, want, sizeof(want));
    for (size_t len = 0; len < MOLD_REQ_LEN; len++)
        assert_int_equal(mold_parse_request(buf, len, &req), MOLD_ERR_SHORT_HEADER);
    assert_int_equal(mold_parse_request(buf, MOLD_REQ_LEN + 1, &req), MOLD_ERR_TRAILING_BYTES);
    mold_encode_request(buf, session, UINT64_MAX, 1);
    assert_int_equal(mold_parse_request(buf, MOLD_REQ_LEN, &req), MOLD_ERR_SEQ_OVERFLOW);
}

static void test_err_names(void **state)
{
    (void)state;
    assert_string_equal(mold_err_name(MOLD_OK), "ok");
    assert_string_equal(mold_err_name(MOLD_ERR_SHORT_HEADER), "short_header");
    assert_string_equal(mold_err_name(MOLD_ERR_SHORT_BLOCK), "short_block");
    assert_string_equal(mold_err_name(MOLD_ERR_BLOCK_OVERRUN), "block_overrun");
    assert_string_equal(mold_err_name(MOLD_ERR_COUNT_MISMATCH), "count_mismatch");
    assert_string_equal(mold_err_name(MOLD_ERR_TRAILING_BYTES), "trailing_bytes");
    assert_string_equal(mold_err_name(MOLD_ERR_SEQ_OVERFLOW), "seq_overflow");
    assert_string_equal(mold_err_name(MOLD_ERR_COUNT), "unknown");
}

/* Random bytes never crash the parser, and an accepted packet iterates inside itself. */
static void test_random_packets(void **state)
{
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int n = 0; n < 20000; n++) {
        uint8_t buf[128];
        size_t len = MOLD_HDR_LEN + (size_t)(n % 100);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = (uint8_t)x;
        }
        /* Small counts and lengths so that some packets are valid. */
        buf[18] = 0;
        buf[19] = (uint8_t)(x >> 40) % 4;
        for (size_t off = MOLD_HDR_LEN; off + 1 < len; off += 2 + buf[off + 1]) {
            buf[off] = 0;
            buf[off + 1] %= 16;
        }
        mold_pkt_t pkt;
        uint8_t *copy;
        if (parse_exact(buf, len, &pkt, &copy) == MOLD_OK) {
            mold_iter_t it;
            mold_msg_t m;
            mold_iter_init(&it, &pkt);
            while (mold_iter_next(&it, &m))
                assert_true(m.data + m.len <= pkt.end);
        }
        free(copy);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_packet),
        cmocka_unit_test(test_heartbeat_and_eos),
        cmocka_unit_test(test_short_header),
        cmocka_unit_test(test_truncation_at_every_byte),
        cmocka_unit_test(test_block_overrun_lengths),
        cmocka_unit_test(test_count_mismatch_and_trailing),
        cmocka_unit_test(test_zero_length_blocks),
        cmocka_unit_test(test_seq_overflow),
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_err_names),
        cmocka_unit_test(test_random_packets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
