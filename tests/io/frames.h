/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Frame and pcap builders for lib/io's tests: Ethernet / VLAN / QinQ / IPv4 (with
 * options) / UDP frames with correct checksums, and pcap files in memory.
 */
#ifndef MDMUX_TEST_IO_FRAMES_H
#define MDMUX_TEST_IO_FRAMES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct frame_spec {
    int tags;          /* 0, 1 (0x8100) or 2 (0x88a8 then 0x8100) */
    int ihl;           /* 0: 5 */
    uint32_t dst_ip;   /* host order */
    uint16_t dst_port; /* host order */
    uint16_t payload;  /* UDP payload bytes */
    uint8_t proto;     /* 0: 17 */
    uint16_t frag;     /* flags/offset field (host order); 0x4000 = DF */
    int pad;           /* bytes of Ethernet padding after the IP datagram */
} frame_spec_t;

static inline void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static inline uint16_t ip_checksum(const uint8_t *h, unsigned len)
{
    uint32_t s = 0;
    for (unsigned i = 0; i < len; i += 2)
        s += (uint32_t)(h[i] << 8 | h[i + 1]);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* Offset of the IPv4 header for @s. */
static inline unsigned frame_ip_off(const frame_spec_t *s)
{
    return 14u + 4u * (unsigned)s->tags;
}

/* Write the frame into @buf (large enough); returns its length. */
static inline unsigned frame_build(uint8_t *buf, const frame_spec_t *s)
{
    unsigned ihl = s->ihl ? (unsigned)s->ihl : 5u, hl = ihl * 4;
    unsigned off = 12;
    memset(buf, 0, 14 + 8 + 60 + 8 + s->payload + (unsigned)s->pad);
    buf[0] = 0x01, buf[1] = 0x00, buf[2] = 0x5e;
    buf[6] = 0x02, buf[11] = 0x0a;
    if (s->tags == 2) {
        put16(buf + off, 0x88a8), put16(buf + off + 2, 100), off += 4;
        put16(buf + off, 0x8100), put16(buf + off + 2, 200), off += 4;
    } else if (s->tags == 1) {
        put16(buf + off, 0x8100), put16(buf + off + 2, 100), off += 4;
    }
    put16(buf + off, 0x0800);
    uint8_t *ip = buf + off + 2;
    unsigned tot = hl + 8 + s->payload;
    ip[0] = (uint8_t)(0x40 | ihl);
    put16(ip + 2, (uint16_t)tot);
    put16(ip + 4, 0x1234);
    put16(ip + 6, s->frag);
    ip[8] = 32;
    ip[9] = s->proto ? s->proto : 17;
    put32(ip + 12, 0x0a000001);
    put32(ip + 16, s->dst_ip);
    for (unsigned i = 20; i < hl; i++)
        ip[i] = 1; /* NOP options */
    put16(ip + 10, ip_checksum(ip, hl));
    uint8_t *udp = ip + hl;
    put16(udp, 40000);
    put16(udp + 2, s->dst_port);
    put16(udp + 4, (uint16_t)(8 + s->payload));
    for (unsigned i = 0; i < s->payload; i++)
        udp[8 + i] = (uint8_t)i;
    return off + 2 + tot + (unsigned)s->pad;
}

/* Re-checksum the IPv4 header of a frame after a test changed it. */
static inline void frame_fix_cksum(uint8_t *buf, const frame_spec_t *s)
{
    uint8_t *ip = buf + frame_ip_off(s);
    unsigned hl = (ip[0] & 15u) * 4u;
    put16(ip + 10, 0);
    put16(ip + 10, ip_checksum(ip, hl));
}

/* A pcap in memory. */
typedef struct pcap_buf {
    uint8_t *b;
    size_t len, cap;
    int ns, swap;
} pcap_buf_t;

static inline void pb_raw(pcap_buf_t *p, const void *d, size_t n)
{
    if (p->len + n > p->cap) {
        p->cap = (p->len + n) * 2 + 64;
        p->b = realloc(p->b, p->cap);
    }
    memcpy(p->b + p->len, d, n);
    p->len += n;
}

static inline void pb_u32(pcap_buf_t *p, uint32_t v)
{
    if (p->swap)
        v = __builtin_bswap32(v);
    pb_raw(p, &v, 4);
}

static inline void pb_u16(pcap_buf_t *p, uint16_t v)
{
    if (p->swap)
        v = __builtin_bswap16(v);
    pb_raw(p, &v, 2);
}

static inline void pb_header(pcap_buf_t *p, int ns, int swap, uint32_t snaplen)
{
    p->ns = ns;
    p->swap = swap;
    pb_u32(p, ns ? 0xa1b23c4du : 0xa1b2c3d4u);
    pb_u16(p, 2);
    pb_u16(p, 4);
    pb_u32(p, 0);
    pb_u32(p, 0);
    pb_u32(p, snaplen);
    pb_u32(p, 1);
}

/* Append a record with timestamp @ts_ns (truncated to us for a us file). */
static inline void pb_record(pcap_buf_t *p, uint64_t ts_ns, const void *d, uint32_t caplen,
                             uint32_t origlen)
{
    pb_u32(p, (uint32_t)(ts_ns / 1000000000u));
    uint32_t frac = (uint32_t)(ts_ns % 1000000000u);
    pb_u32(p, p->ns ? frac : frac / 1000u);
    pb_u32(p, caplen);
    pb_u32(p, origlen);
    pb_raw(p, d, caplen);
}

#endif /* MDMUX_TEST_IO_FRAMES_H */
