/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: MoldUDP64 framing and ITCH 5.0 decoding, on one UDP payload.
 *
 *  - mold_parse() against a reference validator written here from the spec (same
 *    verdict, same reason), the header fields it reports, and the block walk
 *    (mold_iter_next()) of an accepted packet: every block inside the packet, the
 *    blocks exactly covering it, the sequence numbers consecutive;
 *  - every block through itch_decode() and itch_decode_table() (the fast decoder is
 *    differential-checked against the table-driven one, record byte for byte), and an
 *    accepted message through md_rec_to_itch() (the bytes come back exactly),
 *    itch_json() with every flag and md_rec_json(), whose output jansson must parse;
 *  - the whole input also as one ITCH message and as a re-request (mold_parse_request).
 */
#include <jansson.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The spec's rules, in the order proto.h documents them. */
static mold_err_t ref_mold(const uint8_t *b, size_t len)
{
    if (len < MOLD_HDR_LEN)
        return MOLD_ERR_SHORT_HEADER;
    uint64_t seq = rd64(b + 10);
    unsigned count = rd16(b + 18);
    if (count == 0 || count == MOLD_COUNT_EOS)
        return len == MOLD_HDR_LEN ? MOLD_OK : MOLD_ERR_TRAILING_BYTES;
    if (seq + count < seq)
        return MOLD_ERR_SEQ_OVERFLOW;
    size_t off = MOLD_HDR_LEN;
    for (unsigned i = 0; i < count; i++) {
        if (off == len)
            return MOLD_ERR_COUNT_MISMATCH;
        if (off + 2 > len)
            return MOLD_ERR_SHORT_BLOCK;
        size_t bl = rd16(b + off);
        if (off + 2 + bl > len)
            return MOLD_ERR_BLOCK_OVERRUN;
        off += 2 + bl;
    }
    return off == len ? MOLD_OK : MOLD_ERR_TRAILING_BYTES;
}

/* jansson must read @p n bytes of @p s as one JSON object. */
static void check_json(const char *what, const char *s, int n)
{
    json_error_t je;
    FZ_CHECK(n >= 0 && (size_t)n == strlen(s), "%s: length %d", what, n);
    json_t *j = json_loadb(s, (size_t)n, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        /* jansson's integers are signed 64-bit; a u64 above that is still JSON */
        FZ_CHECK(strstr(je.text, "too big") != NULL, "%s: not JSON (%s at %d): %s", what, je.text,
                 je.position, s);
        return;
    }
    FZ_CHECK(json_is_object(j), "%s: not an object: %s", what, s);
    json_decref(j);
}

/* One ITCH message (a block, or the whole input). */
static void check_msg(const uint8_t *msg, size_t len, uint64_t seq)
{
    md_rec_t a, b;
    memset(&a, 0xa5, sizeof(a));
    memset(&b, 0xa5, sizeof(b));
    a.seq = b.seq = 7;
    a.feed_seq = b.feed_seq = seq;
    a.feed = b.feed = 3;
    a.line = b.line = MD_LINE_B;
    int ra = itch_decode(msg, len, &a);
    int rb = itch_decode_table(msg, len, &b);
    FZ_CHECK(ra == rb, "itch_decode %d, itch_decode_table %d (len %zu, type 0x%02x)", ra, rb, len,
             len ? msg[0] : 0);
    FZ_CHECK(ra >= ITCH_OK && ra < ITCH_ERR_COUNT, "itch_decode %d", ra);
    const itch_desc_t *d = len ? itch_desc(msg[0]) : NULL;
    FZ_CHECK((ra == ITCH_OK) == (d != NULL && d->len == len), "verdict %d, descriptor %p", ra,
             (const void *)d);
    char js[ITCH_JSON_MAX];
    if (ra != ITCH_OK) {
        FZ_CHECK(ra == (d ? ITCH_ERR_BAD_LENGTH : ITCH_ERR_UNKNOWN_TYPE), "reason %d", ra);
        FZ_CHECK(itch_json(msg, len, 0, js, sizeof(js)) == -1, "itch_json of a bad message");
        return;
    }
    FZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0, "type %c: fast and table decoders differ", msg[0]);
    FZ_CHECK(a.kind == MD_KIND_MSG && a.type == msg[0], "kind %u type %u", a.kind, a.type);
    FZ_CHECK(a.seq == 7 && a.feed_seq == seq && a.feed == 3 && a.line == MD_LINE_B,
             "caller-owned fields written");
    uint8_t back[ITCH_MAX_LEN];
    memset(back, 0, sizeof(back));
    size_t n = md_rec_to_itch(&a, back);
    FZ_CHECK(n == len && memcmp(back, msg, len) == 0, "type %c: re-encoded %zu of %zu bytes",
             msg[0], n, len);
    for (unsigned fl = 0; fl < 4; fl++) {
        int k = itch_json(msg, len, fl, js, sizeof(js));
        FZ_CHECK(k > 0 && (size_t)k < sizeof(js), "itch_json flags %u: %d", fl, k);
        if (fl & ITCH_JSON_MEMBERS) {
            char obj[ITCH_JSON_MAX + 2];
            snprintf(obj, sizeof(obj), "{%s}", js);
            check_json("itch_json members", obj, k + 2);
        } else {
            check_json("itch_json", js, k);
        }
        /* one byte too few must fail cleanly, never overrun */
        char small[ITCH_JSON_MAX];
        FZ_CHECK(itch_json(msg, len, fl, small, (size_t)k) == -1, "itch_json in %d bytes", k);
    }
    char rj[MD_JSON_MAX];
    int k = md_rec_json(&a, NULL, rj, sizeof(rj));
    FZ_CHECK(k > 0, "md_rec_json %d", k);
    check_json("md_rec_json", rj, k);
    k = md_rec_json(&a, "fz\"feed\\\x01", rj, sizeof(rj));
    FZ_CHECK(k > 0, "md_rec_json with a name %d", k);
    check_json("md_rec_json (name)", rj, k);
}

int fz_proto(const uint8_t *data, size_t size)
{
    mold_pkt_t pkt;
    mold_err_t e = mold_parse(data, size, &pkt);
    mold_err_t want = ref_mold(data, size);
    FZ_CHECK(e == want, "mold_parse %s, reference %s (len %zu)", mold_err_name(e),
             mold_err_name(want), size);
    if (e == MOLD_OK) {
        FZ_CHECK(pkt.session == data && pkt.seq == rd64(data + 10), "header fields");
        FZ_CHECK(pkt.blocks == data + MOLD_HDR_LEN && pkt.end == data + size, "packet bounds");
        unsigned count = rd16(data + 18);
        if (count == 0 || count == MOLD_COUNT_EOS) {
            FZ_CHECK(pkt.kind == (count ? MOLD_END_OF_SESSION : MOLD_HEARTBEAT) && pkt.count == 0 &&
                         size == MOLD_HDR_LEN,
                     "heartbeat/EOS kind %u count %u", pkt.kind, pkt.count);
        } else {
            FZ_CHECK(pkt.kind == MOLD_DATA && pkt.count == count, "data kind %u count %u", pkt.kind,
                     pkt.count);
        }
        mold_iter_t it;
        mold_msg_t m;
        unsigned n = 0;
        const uint8_t *p = pkt.blocks;
        mold_iter_init(&it, &pkt);
        while (mold_iter_next(&it, &m)) {
            FZ_CHECK(m.data == p + 2 && m.data + m.len <= pkt.end, "block %u out of bounds", n);
            FZ_CHECK(m.seq == pkt.seq + n, "block %u: seq %llu", n, (unsigned long long)m.seq);
            p = m.data + m.len;
            n++;
            FZ_CHECK(n <= pkt.count, "more blocks than the count");
            check_msg(m.data, m.len, m.seq);
        }
        FZ_CHECK(n == pkt.count && p == pkt.end, "walked %u of %u blocks, %td bytes short", n,
                 pkt.count, pkt.end - p);
    }
    mold_req_t req;
    mold_err_t re = mold_parse_request(data, size, &req);
    FZ_CHECK(re < MOLD_ERR_COUNT, "mold_parse_request %d", re);
    if (re == MOLD_OK)
        FZ_CHECK(size == MOLD_REQ_LEN && req.seq == rd64(data + 10) && req.count == rd16(data + 18),
                 "request fields");
    else
        FZ_CHECK(size != MOLD_REQ_LEN || re == MOLD_ERR_SEQ_OVERFLOW, "request %d", re);
    if (size <= ITCH_MAX_LEN + 1)
        check_msg(data, size, 1);
    return 0;
}
