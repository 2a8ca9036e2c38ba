/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The classifier's inline core and the flow table's layout, shared by classify.c (the
 * public functions) and rx.c (which inlines the parse into its burst loop: no call per
 * packet, and the compiler keeps the table pointer and burst state in registers).
 */
#ifndef MDMUX_IO_CLASSIFY_INLINE_H
#define MDMUX_IO_CLASSIFY_INLINE_H

#include <string.h>

#include "io_internal.h"

/* One slot: the key packed in 64 bits so a probe is one compare; key 0 is empty. */
typedef struct flow_ent {
    uint64_t key; /* flow_key(): used bit | address | port, 0 when empty */
    uint16_t feed;
    uint8_t line;
    uint8_t pad[5];
} flow_ent_t;

/* Bit 48 marks a used slot, so (0.0.0.0, port 0) is a valid key too. */
static inline uint64_t flow_key(uint32_t ip, uint16_t port)
{
    return (1ull << 48) | ((uint64_t)ip << 16) | port;
}

struct io_flow_table {
    uint32_t mask; /* slots - 1 */
    uint32_t n;
    uint32_t max;
    int node;
    flow_ent_t e[];
};

static inline uint32_t flow_hash(uint64_t key)
{
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32);
}

/* The slot holding @key, or the empty slot where it would go (the table is never full). */
static inline const flow_ent_t *flow_find(const io_flow_table_t *t, uint64_t key)
{
    uint32_t i = flow_hash(key) & t->mask;
    for (;;) {
        const flow_ent_t *e = &t->e[i];
        if (e->key == key || e->key == 0)
            return e;
        i = (i + 1) & t->mask;
    }
}

static inline uint16_t be16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return __builtin_bswap16(v); /* one load and a rotate, not two loads and a shift */
}

static inline uint32_t ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint16_t ld16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/*
 * True when the IPv4 header of @hlen bytes (a multiple of 4, >= 20) sums to 0xffff.
 * Summing 32-bit words and folding gives the 16-bit one's-complement sum in either
 * byte order, and "all ones" reads the same in both.
 */
static inline bool ip_cksum_ok(const uint8_t *ip, unsigned hlen)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < hlen; i += 4)
        sum += ld32(ip + i);
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
}

static inline io_verdict_t bad(io_pkt_info_t *out, io_bad_t r)
{
    out->bad = (uint8_t)r;
    return IO_MALFORMED;
}

/* Skip up to two VLAN tags; *off and *type advance. Returns false when a tag is cut. */
static inline bool skip_vlan(const uint8_t *f, uint32_t len, uint32_t *off, uint16_t *type)
{
    for (int i = 0; i < 2 && (*type == 0x8100 || *type == 0x88a8); i++) {
        if (len - *off < 4)
            return false;
        *type = be16(f + *off + 2);
        *off += 4;
    }
    return true;
}

/* UDP and lookup, once the IPv4 header is known good. */
static inline io_verdict_t classify_udp(const io_flow_table_t *t, const uint8_t *ip, uint32_t hlen,
                                        uint32_t tot, uint32_t avail, uint32_t ip_off,
                                        io_pkt_info_t *out)
{
    uint32_t room = tot - hlen;
    if (room < 8 || avail - hlen < 8) /* the second: multi-segment, header not in seg 1 */
        return bad(out, IO_BAD_UDP_SHORT);
    const uint8_t *udp = ip + hlen;
    uint32_t ulen = be16(udp + 4);
    if (ulen < 8 || ulen > room)
        return bad(out, IO_BAD_UDP_LEN);
    out->dst_ip_be = ld32(ip + 16);
    out->dst_port_be = ld16(udp + 2);
    out->l4_payload_off = (uint16_t)(ip_off + hlen + 8);
    out->l4_payload_len = (uint16_t)(ulen - 8);
    if (t == NULL)
        return IO_UNKNOWN;
    const flow_ent_t *e = flow_find(t, flow_key(out->dst_ip_be, out->dst_port_be));
    if (e->key == 0)
        return IO_UNKNOWN;
    out->feed = e->feed;
    out->line = e->line;
    return IO_ACCEPT;
}

/*
 * The full parse, which names the reason of a rejection: headers must lie within the first @len bytes; the IP total length is
 * checked against @wire (>= len: the whole frame, for multi-segment mbufs).
 */
static __attribute__((noinline, unused)) io_verdict_t classify_slow(const io_flow_table_t *t,
                                                                    const uint8_t *f, uint32_t len,
                                                                    uint32_t wire, unsigned flags,
                                                                    io_pkt_info_t *out)
{
    if (len < 14)
        return bad(out, IO_BAD_ETH_SHORT);
    uint32_t off = 14;
    uint16_t type = be16(f + 12);
    if (!skip_vlan(f, len, &off, &type))
        return bad(out, IO_BAD_VLAN_SHORT);
    if (type != 0x0800)
        return IO_OTHER;
    const uint8_t *ip = f + off;
    uint32_t avail = len - off;
    if (avail < 20)
        return bad(out, IO_BAD_IP_SHORT);
    if ((ip[0] >> 4) != 4)
        return bad(out, IO_BAD_IP_VERSION);
    uint32_t hlen = (ip[0] & 0x0fu) * 4u;
    if (hlen < 20)
        return bad(out, IO_BAD_IP_IHL);
    if (avail < hlen)
        return bad(out, IO_BAD_IP_SHORT);
    uint32_t tot = be16(ip + 2);
    if (tot > wire - off || tot < hlen)
        return bad(out, IO_BAD_IP_LEN);
    if (!(flags & IO_CLS_IP_CKSUM_GOOD) &&
        ((flags & IO_CLS_IP_CKSUM_BAD) || !ip_cksum_ok(ip, hlen)))
        return bad(out, IO_BAD_IP_CHECKSUM);
    if (be16(ip + 6) & 0x3fffu) /* MF or a fragment offset; DF allowed */
        return bad(out, IO_BAD_IP_FRAGMENT);
    if (ip[9] != 17)
        return IO_OTHER;
    return classify_udp(t, ip, hlen, tot, avail, off, out);
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the fast path reads words LE");

/* A 16-bit constant in network byte order, as a little-endian load sees it. */
#define NET16(x) ((uint16_t)((((x)&0xffu) << 8) | ((x) >> 8)))

/*
 * The classifier. The common frame (IPv4 without options, unfragmented UDP, lengths
 * consistent, checksum right) is validated from six word loads, the checksum reusing
 * the header words, with one predictable branch per rule; anything else takes
 * classify_slow(), which walks the rules in header order
 * to find the reason. Both read only what they checked. A test holds them equal.
 */
static inline io_verdict_t classify(const io_flow_table_t *t, const uint8_t *f, uint32_t len,
                                    uint32_t wire, unsigned flags, io_pkt_info_t *out)
{
    if (unlikely(len < 14 + 28))
        return classify_slow(t, f, len, wire, flags, out);
    uint32_t off = 14;
    uint16_t type = ld16(f + 12);
    if (type == NET16(0x8100) || type == NET16(0x88a8)) {
        type = ld16(f + 16);
        off = 18;
        if (type == NET16(0x8100)) {
            type = ld16(f + 20);
            off = 22;
        }
    }
    const uint8_t *ip = f + off, *udp = ip + 20;
    if (unlikely(len - off < 28 || type != NET16(0x0800) || (flags & IO_CLS_IP_CKSUM_BAD)))
        return classify_slow(t, f, len, wire, flags, out);
    uint32_t w0 = ld32(ip), w1 = ld32(ip + 4), w2 = ld32(ip + 8), w3 = ld32(ip + 12);
    uint32_t w4 = ld32(ip + 16), u1 = ld32(udp + 4);
    uint32_t tot = __builtin_bswap16((uint16_t)(w0 >> 16)), ulen = __builtin_bswap16((uint16_t)u1);
    /* each test is a predictable branch: cheaper than combining them into one flag */
    if (unlikely((w0 & 0xffu) != 0x45 ||      /* version 4, IHL 5 */
                 (w1 & 0xff3f0000u) != 0 ||   /* no MF, offset 0 */
                 ((w2 >> 8) & 0xffu) != 17 || /* UDP */
                 tot > wire - off || tot < 28 || ulen < 8 || ulen > tot - 20))
        return classify_slow(t, f, len, wire, flags, out);
    if (!(flags & IO_CLS_IP_CKSUM_GOOD)) {
        uint64_t sum = (uint64_t)w0 + w1 + w2 + w3 + w4;
        sum = (sum & 0xffffffffu) + (sum >> 32);
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        if (unlikely((sum & 0xffff) != 0xffff))
            return classify_slow(t, f, len, wire, flags, out);
    }
    out->dst_ip_be = w4;
    out->dst_port_be = ld16(udp + 2);
    out->l4_payload_off = (uint16_t)(off + 28);
    out->l4_payload_len = (uint16_t)(ulen - 8);
    const flow_ent_t *e = t ? flow_find(t, flow_key(w4, out->dst_port_be)) : NULL;
    if (e == NULL || e->key == 0)
        return IO_UNKNOWN;
    out->feed = e->feed;
    out->line = e->line;
    return IO_ACCEPT;
}

/* io_classify_mbuf(), inline. */
static inline io_verdict_t io_classify_mbuf_inline(const io_flow_table_t *t,
                                                   const struct rte_mbuf *m, io_pkt_info_t *out)
{
    uint64_t ck = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    unsigned flags = (unsigned)(ck == RTE_MBUF_F_RX_IP_CKSUM_GOOD) * IO_CLS_IP_CKSUM_GOOD |
                     (unsigned)(ck == RTE_MBUF_F_RX_IP_CKSUM_BAD) * IO_CLS_IP_CKSUM_BAD;
    /* pkt_len >= data_len in any mbuf a PMD hands out; the max guards a broken one */
    uint32_t wire = m->pkt_len > m->data_len ? m->pkt_len : m->data_len;
    return classify(t, rte_pktmbuf_mtod(m, const uint8_t *), m->data_len, wire, flags, out);
}

#endif /* MDMUX_IO_CLASSIFY_INLINE_H */
