/* SPDX-License-Identifier: BSD-3-Clause */
/* mold.c: MoldUDP64 packet validation, header and re-request encoding. */
#include "proto.h"
#include "proto_internal.h"

static const char *const mold_err_names[MOLD_ERR_COUNT] = {
    [MOLD_OK] = "ok",
    [MOLD_ERR_SHORT_HEADER] = "short_header",
    [MOLD_ERR_SHORT_BLOCK] = "short_block",
    [MOLD_ERR_BLOCK_OVERRUN] = "block_overrun",
    [MOLD_ERR_COUNT_MISMATCH] = "count_mismatch",
    [MOLD_ERR_TRAILING_BYTES] = "trailing_bytes",
    [MOLD_ERR_SEQ_OVERFLOW] = "seq_overflow",
};

const char *mold_err_name(unsigned e)
{
    return e < MOLD_ERR_COUNT ? mold_err_names[e] : "unknown";
}

/*
 * Walk the block lengths. Every length is checked against the bytes left before it
 * is used, so no read ever leaves the packet, whatever the input.
 */
static mold_err_t mold_check_blocks(const uint8_t *p, const uint8_t *end, unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        size_t left = (size_t)(end - p);
        if (left == 0)
            return MOLD_ERR_COUNT_MISMATCH;
        if (left < 2)
            return MOLD_ERR_SHORT_BLOCK;
        size_t len = proto_be16(p);
        if (len > left - 2)
            return MOLD_ERR_BLOCK_OVERRUN;
        p += 2 + len;
    }
    return p == end ? MOLD_OK : MOLD_ERR_TRAILING_BYTES;
}

mold_err_t mold_parse(const uint8_t *buf, size_t len, mold_pkt_t *pkt)
{
    if (len < MOLD_HDR_LEN)
        return MOLD_ERR_SHORT_HEADER;
    pkt->session = buf;
    pkt->seq = proto_be64(buf + 10);
    pkt->count = proto_be16(buf + 18);
    pkt->blocks = buf + MOLD_HDR_LEN;
    pkt->end = buf + len;
    if (pkt->count == 0 || pkt->count == MOLD_COUNT_EOS) {
        /* Heartbeats and end of session carry no blocks. */
        pkt->kind = pkt->count == 0 ? MOLD_HEARTBEAT : MOLD_END_OF_SESSION;
        pkt->count = 0;
        return len == MOLD_HDR_LEN ? MOLD_OK : MOLD_ERR_TRAILING_BYTES;
    }
    pkt->kind = MOLD_DATA;
    if (pkt->seq > UINT64_MAX - pkt->count)
        return MOLD_ERR_SEQ_OVERFLOW;
    return mold_check_blocks(pkt->blocks, pkt->end, pkt->count);
}

size_t mold_encode_hdr(uint8_t *out, const void *session, uint64_t seq, uint16_t count)
{
    memcpy(out, session, MOLD_SESSION_LEN);
    proto_put_be64(out + 10, seq);
    proto_put_be16(out + 18, count);
    return MOLD_HDR_LEN;
}

size_t mold_encode_block(uint8_t *out, const void *msg, uint16_t len)
{
    proto_put_be16(out, len);
    memcpy(out + 2, msg, len);
    return 2 + (size_t)len;
}

size_t mold_encode_request(uint8_t *out, const void *session, uint64_t seq, uint16_t count)
{
    /* A re-request has the layout of a packet header: session, sequence, count. */
    return mold_encode_hdr(out, session, seq, count);
}

mold_err_t mold_parse_request(const uint8_t *buf, size_t len, mold_req_t *req)
{
    if (len < MOLD_REQ_LEN)
        return MOLD_ERR_SHORT_HEADER;
    if (len > MOLD_REQ_LEN)
        return MOLD_ERR_TRAILING_BYTES;
    memcpy(req->session, buf, MOLD_SESSION_LEN);
    req->seq = proto_be64(buf + 10);
    req->count = proto_be16(buf + 18);
    if (req->seq > UINT64_MAX - req->count)
        return MOLD_ERR_SEQ_OVERFLOW;
    return MOLD_OK;
}
