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
    uint64_t key; /* flow_key(): (address << 16 | port) + 1, 0 when empty */
    uint16_t feed;
    uint8_t line;
    uint8_t pad[5];
} flow_ent_t;

/* (address, port) + 1: never 0 (the sum is below 2^48), so (0.0.0.0, port 0) is a valid
   key too; `+ port + 1` is one lea where a used bit would take a 64-bit constant. */
static inline uint64_t flow_key(uint32_t ip, uint16_t port)
{
    return ((uint64_t)ip << 16) + port + 1;
}

struct io_flow_table {
    uint32_t mask;  /* slots - 1 */
    uint32_t shift; /* 64 - log2(slots): flow_slot() keeps the product's top bits */
    uint32_t n;
    uint32_t max;
    int node;
    /* 16-byte aligned (offset 32): no slot straddles a cache line, and &e[i] is one
       scaled add (at offset 24, every fourth slot crossed a line) */
    flow_ent_t e[] __attribute__((aligned(16)));
};

/*
 * Multiply-shift (Dietzfelbinger): the top log2(slots) bits of key * odd constant. The
 * top bits depend on every key bit; the middle bits the table used to take mixed the
 * port and the address's low byte poorly (a quarter of the bench's 100 lines sat one
 * slot off home, so their lookups took a second probe).
 */
static inline uint32_t flow_slot(const io_flow_table_t *t, uint64_t key)
{
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> t->shift);
}

/* Linear probing from @i on (out of line: only keys that collided at home get here). */
static __attribute__((noinline, unused)) const flow_ent_t *flow_probe(const io_flow_table_t *t,
                                                                      uint64_t key, uint32_t i)
{
    for (;;) {
        const flow_ent_t *e = &t->e[i];
        if (e->key == key || e->key == 0)
            return e;
        i = (i + 1) & t->mask;
    }
}

/*
 * The slot holding @key, or the empty slot where it would go (the table is never full).
 * The common case, a key at its home slot, is one multiply, one shift and one compare.
 */
static inline const flow_ent_t *flow_find(const io_flow_table_t *t, uint64_t key)
{
    uint32_t i = flow_slot(t, key);
    const flow_ent_t *e = &t->e[i];
    if (likely(e->key == key))
        return e;
    return flow_probe(t, key, i);
}

/* The table io_classify() and the RX loop use for "no table": two empty slots (a
   one-slot table would need a shift by 64), so every key misses and the lookup needs
   no NULL test. */
extern const io_flow_table_t *const io_flow_none;

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
 * classify_slow() into a copy: the caller's *out never has its address taken, so once
 * classify_ck() is inlined into a loop its fields stay in registers (an escaping out
 * would be written to and reread from the stack on the fast path too). Fields the full
 * parse does not set come back zero.
 */
static inline io_verdict_t classify_slow_copy(const io_flow_table_t *t, const uint8_t *f,
                                              uint32_t len, uint32_t wire, unsigned flags,
                                              io_pkt_info_t *out)
{
    io_pkt_info_t tmp = {0};
    io_verdict_t v = classify_slow(t, f, len, wire, flags, &tmp);
    *out = tmp;
    return v;
}

/*
 * The classifier. The common frame (0, 1 or 2 VLAN tags, IPv4 without options,
 * unfragmented UDP, lengths consistent, checksum right) is validated here with one
 * compare-and-branch per rule, each read straight from the frame (cmp byte/word with
 * memory: one fused uop); every branch goes the same way for every good frame, so they
 * cost an instruction each and no mispredictions, which is cheaper than folding the
 * rules into one flag first. Anything else takes classify_slow(), which walks the rules
 * in header order to find the reason. Both read only what they checked. A test holds
 * them equal field for field.
 *
 * The checksum: a one's-complement sum of 16-bit words is all ones exactly when the
 * plain sum of the words is a nonzero multiple of 65535 (2^16 = 1 mod 65535), and a
 * 32-bit word is congruent to the sum of its halves, in either byte order (byte swap
 * multiplies by 256, a unit mod 65535). So the five header words are added into 64 bits
 * (no carries to fold) and tested with `% 65535 == 0`, which compilers turn into a
 * multiply by the inverse and a compare. The sum is nonzero because byte 0 is 0x45.
 *
 * @ck_good: the NIC verified the header checksum (skip it); @ck_bad: the NIC found it
 * wrong (the full parse reports ip_checksum once the earlier rules pass).
 */
static inline __attribute__((always_inline)) io_verdict_t
classify_ck(const io_flow_table_t *t, const uint8_t *f, uint32_t len, uint32_t wire, bool ck_good,
            bool ck_bad, io_pkt_info_t *out)
{
/* the flags word is built only on the way to the full parse */
#define SLOW()                                                                                     \
    classify_slow_copy(                                                                            \
        t, f, len, wire,                                                                           \
        (ck_good ? IO_CLS_IP_CKSUM_GOOD : 0u) | (ck_bad ? IO_CLS_IP_CKSUM_BAD : 0u), out)
    if (unlikely(len < 14 + 28 || ck_bad))
        return SLOW();
    uint32_t off = 14;
    uint16_t type = ld16(f + 12);
    if (type != NET16(0x0800)) {
        if (unlikely(type != NET16(0x8100) && type != NET16(0x88a8)))
            return SLOW();
        off = 18;
        type = ld16(f + 16);
        if (type != NET16(0x0800)) {
            if (unlikely(type != NET16(0x8100) || len < 22 + 28 || ld16(f + 20) != NET16(0x0800)))
                return SLOW();
            off = 22;
        } else if (unlikely(len < 18 + 28)) {
            return SLOW();
        }
    }
    const uint8_t *ip = f + off, *udp = ip + 20;
    if (unlikely(ip[0] != 0x45)) /* version 4, IHL 5 */
        return SLOW();
    if (unlikely(ld16(ip + 6) & NET16(0x3fff))) /* MF or an offset; DF allowed */
        return SLOW();
    if (unlikely(ip[9] != 17))
        return SLOW();
    /* 28 <= tot <= wire - off (wire - off >= len - off >= 28); 8 <= ulen <= tot - 20 */
    uint32_t tot = be16(ip + 2), ulen = be16(udp + 4);
    if (unlikely(tot - 28 > wire - off - 28 || ulen - 8 > tot - 28))
        return SLOW();
    uint32_t dst = ld32(ip + 16);
    if (!ck_good) {
        uint64_t sum = (uint64_t)ld32(ip) + ld32(ip + 4) + ld32(ip + 8) + ld32(ip + 12) + dst;
        if (unlikely(sum % 0xffff != 0))
            return SLOW();
    }
#undef SLOW
    uint16_t port = ld16(udp + 2);
    out->dst_ip_be = dst;
    out->dst_port_be = port;
    out->l4_payload_off = (uint16_t)(off + 28);
    out->l4_payload_len = (uint16_t)(ulen - 8);
    uint64_t key = flow_key(dst, port);
    uint32_t i = flow_slot(t, key);
    const flow_ent_t *e = &t->e[i];
    if (unlikely(e->key != key)) { /* displaced or absent: probe on */
        e = flow_probe(t, key, i);
        if (e->key == 0)
            return IO_UNKNOWN;
    }
    out->feed = e->feed;
    out->line = e->line;
    return IO_ACCEPT;
}

/* classify_ck() with the IO_CLS_* flags of io_classify_ex(). */
static inline io_verdict_t classify(const io_flow_table_t *t, const uint8_t *f, uint32_t len,
                                    uint32_t wire, unsigned flags, io_pkt_info_t *out)
{
    return classify_ck(t, f, len, wire, flags & IO_CLS_IP_CKSUM_GOOD,
                       (flags & IO_CLS_IP_CKSUM_BAD) && !(flags & IO_CLS_IP_CKSUM_GOOD), out);
}

/* io_classify_mbuf(), inline. */
static inline __attribute__((always_inline)) io_verdict_t
io_classify_mbuf_inline(const io_flow_table_t *t, const struct rte_mbuf *m, io_pkt_info_t *out)
{
    uint64_t ck = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    /* pkt_len >= data_len in any mbuf a PMD hands out; the max guards a broken one */
    uint32_t wire = m->pkt_len > m->data_len ? m->pkt_len : m->data_len;
    return classify_ck(t, rte_pktmbuf_mtod(m, const uint8_t *), m->data_len, wire,
                       ck == RTE_MBUF_F_RX_IP_CKSUM_GOOD, ck == RTE_MBUF_F_RX_IP_CKSUM_BAD, out);
}

#endif /* MDMUX_IO_CLASSIFY_INLINE_H */
