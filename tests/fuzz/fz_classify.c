/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the L2-L4 classifier on raw Ethernet frames.
 *
 * Each input is one frame. It is classified from a heap copy of exactly its length
 * (ASan sees any read past the end) with every checksum flag combination, once as a
 * whole frame (wire = len) and once as the first segment of a longer one (wire = len
 * + 1500, what io_classify_mbuf() passes for a multi-segment mbuf), and each time:
 *  - the fast path (classify()) and the full parse (classify_slow()) agree: verdict,
 *    reason, and every field of an accepted or unknown frame (a differential check);
 *  - io_classify_ex() and io_classify_mbuf() on a stack mbuf agree with them;
 *  - the reason is in range, the UDP payload lies inside the wire length and its
 *    offset inside the first segment, the flow matches io_flow_table_lookup().
 * The flow table holds mdmux-gen's default flows of feeds 0-3 (lines A and B).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "classify_inline.h"
#include "fuzz.h"
#include "io.h"

static io_flow_table_t *fz_table(void)
{
    static io_flow_table_t *t;
    if (t == NULL) {
        t = io_flow_table_new(16, -1);
        FZ_CHECK(t != NULL, "io_flow_table_new");
        for (unsigned f = 0; f < 4; f++) {
            FZ_CHECK(io_flow_table_add(t, htonl(0xef640001u + f), htons((uint16_t)(30000 + f)),
                                       (uint16_t)f, 0) == 0,
                     "add A %u", f);
            FZ_CHECK(io_flow_table_add(t, htonl(0xef650001u + f), htons((uint16_t)(31000 + f)),
                                       (uint16_t)f, 1) == 0,
                     "add B %u", f);
        }
    }
    return t;
}

static bool same_info(io_verdict_t v, const io_pkt_info_t *a, const io_pkt_info_t *b)
{
    if (v == IO_MALFORMED)
        return a->bad == b->bad;
    if (v == IO_ACCEPT || v == IO_UNKNOWN)
        return memcmp(a, b, sizeof(*a)) == 0;
    return true;
}

static void check_one(const io_flow_table_t *t, const uint8_t *f, uint32_t len, uint32_t wire,
                      unsigned flags)
{
    io_pkt_info_t fast, full;
    memset(&fast, 0, sizeof(fast));
    memset(&full, 0, sizeof(full));
    io_verdict_t vf = classify(t, f, len, wire, flags, &fast);
    /* what classify() passes on: GOOD wins over BAD */
    unsigned sflags = (flags & IO_CLS_IP_CKSUM_GOOD) ? IO_CLS_IP_CKSUM_GOOD : flags;
    io_verdict_t vs = classify_slow(t, f, len, wire, sflags, &full);
    FZ_CHECK(vf == vs && same_info(vf, &fast, &full),
             "len %u wire %u flags %u: fast %d/%u, full %d/%u", len, wire, flags, vf, fast.bad, vs,
             full.bad);
    FZ_CHECK(vf <= IO_MALFORMED, "verdict %d", vf);
    if (vf == IO_MALFORMED)
        FZ_CHECK(fast.bad < IO_BAD_COUNT, "reason %u", fast.bad);
    if (vf == IO_ACCEPT || vf == IO_UNKNOWN) {
        FZ_CHECK(len >= 14 + 20 + 8, "accepted %u bytes", len);
        FZ_CHECK(fast.l4_payload_off <= len, "payload offset %u, len %u", fast.l4_payload_off, len);
        FZ_CHECK((uint32_t)fast.l4_payload_off + fast.l4_payload_len <= wire,
                 "payload %u+%u, wire %u", fast.l4_payload_off, fast.l4_payload_len, wire);
        uint16_t feed = 0xffff;
        uint8_t line = 0xff;
        bool found = io_flow_table_lookup(t, fast.dst_ip_be, fast.dst_port_be, &feed, &line);
        FZ_CHECK(found == (vf == IO_ACCEPT), "lookup %d, verdict %d", found, vf);
        if (found)
            FZ_CHECK(feed == fast.feed && line == fast.line, "feed %u/%u line %u/%u", feed,
                     fast.feed, line, fast.line);
    }
    if (wire == len) {
        io_pkt_info_t ex;
        memset(&ex, 0, sizeof(ex));
        io_verdict_t ve = io_classify_ex(t, f, len, flags, &ex);
        FZ_CHECK(ve == vf && same_info(vf, &ex, &fast), "io_classify_ex %d, fast %d", ve, vf);
        if (flags == 0) {
            memset(&ex, 0, sizeof(ex));
            ve = io_classify(t, f, len, &ex);
            FZ_CHECK(ve == vf && same_info(vf, &ex, &fast), "io_classify %d, fast %d", ve, vf);
        }
    }
    /* the mbuf entry point: a stack mbuf over the same bytes (no EAL, no pool) */
    struct rte_mbuf m;
    memset(&m, 0, sizeof(m));
    m.buf_addr = (void *)(uintptr_t)f;
    m.data_off = 0;
    m.data_len = (uint16_t)len;
    m.pkt_len = wire;
    m.nb_segs = 1;
    m.ol_flags = (flags & IO_CLS_IP_CKSUM_GOOD)  ? RTE_MBUF_F_RX_IP_CKSUM_GOOD
                 : (flags & IO_CLS_IP_CKSUM_BAD) ? RTE_MBUF_F_RX_IP_CKSUM_BAD
                                                 : RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN;
    if (len <= UINT16_MAX) {
        io_pkt_info_t mb;
        memset(&mb, 0, sizeof(mb));
        io_verdict_t vm = io_classify_mbuf(t, &m, &mb);
        FZ_CHECK(vm == vf && same_info(vf, &mb, &fast), "io_classify_mbuf %d, fast %d", vm, vf);
    }
}

int fz_classify(const uint8_t *data, size_t size)
{
    if (size > UINT16_MAX) /* an mbuf segment holds at most 64 KiB */
        return 0;
    const io_flow_table_t *t = fz_table();
    uint32_t len = (uint32_t)size;
    uint8_t *f = malloc(len ? len : 1); /* exactly len bytes: ASan guards the end */
    FZ_CHECK(f != NULL, "malloc");
    memcpy(f, data, len);
    static const unsigned flag_sets[] = {0, IO_CLS_IP_CKSUM_GOOD, IO_CLS_IP_CKSUM_BAD,
                                         IO_CLS_IP_CKSUM_GOOD | IO_CLS_IP_CKSUM_BAD};
    for (unsigned i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
        check_one(t, f, len, len, flag_sets[i]);
        check_one(t, f, len, len + 1500, flag_sets[i]);
        check_one(io_flow_none, f, len, len, flag_sets[i]); /* the "no table" table */
    }
    free(f);
    return 0;
}
