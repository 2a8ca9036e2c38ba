/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Re-request frames (feed.h: feed_build_request): Ethernet / IPv4 / UDP + MoldUDP64.
 * Pure byte building, so it is tested without the EAL.
 */
#include <string.h>

#include "feed.h"

#define ETH_LEN 14
#define IP_LEN  20
#define UDP_LEN 8
#define REQ_LEN (ETH_LEN + IP_LEN + UDP_LEN + MOLD_REQ_LEN)
#define IP_TTL  64
#define IP_DF   0x4000 /* don't fragment */

/* One's-complement sum of @p len bytes (even) at @p p, added to @p sum. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* IPv4 header at @p ip for a UDP datagram of @p udp_len bytes. */
static void build_ip(const feed_rereq_conf_t *r, uint8_t *ip, uint16_t udp_len)
{
    memset(ip, 0, IP_LEN);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(IP_LEN + udp_len));
    put16(ip + 6, IP_DF);
    ip[8] = IP_TTL;
    ip[9] = 17;
    memcpy(ip + 12, &r->src_ip_be, 4);
    memcpy(ip + 16, &r->dst_ip_be, 4);
    put16(ip + 10, csum_fold(csum_add(0, ip, IP_LEN)));
}

/* UDP header + payload at @p udp (payload already written); checksum included. */
static void build_udp(const feed_rereq_conf_t *r, uint8_t *udp, const uint8_t *ip, uint16_t udp_len)
{
    memcpy(udp, &r->src_port_be, 2);
    memcpy(udp + 2, &r->dst_port_be, 2);
    put16(udp + 4, udp_len);
    put16(udp + 6, 0);
    uint32_t sum = csum_add(0, ip + 12, 8); /* pseudo header: addresses */
    sum += 17 + udp_len;
    sum = csum_add(sum, udp, udp_len); /* udp_len is even here (28) */
    uint16_t c = csum_fold(sum);
    put16(udp + 6, c == 0 ? 0xFFFF : c);
}

size_t feed_build_request(const feed_rereq_conf_t *r, const uint8_t *session, uint64_t seq,
                          uint16_t count, uint8_t *buf, size_t cap)
{
    if (cap < REQ_LEN)
        return 0;
    memcpy(buf, r->dst_mac, 6);
    memcpy(buf + 6, r->src_mac, 6);
    put16(buf + 12, 0x0800);
    uint8_t *ip = buf + ETH_LEN, *udp = ip + IP_LEN;
    uint16_t udp_len = UDP_LEN + MOLD_REQ_LEN;
    mold_encode_request(udp + UDP_LEN, session, seq, count);
    build_ip(r, ip, udp_len);
    build_udp(r, udp, ip, udp_len);
    return REQ_LEN;
}
