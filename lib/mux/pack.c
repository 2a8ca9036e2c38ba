/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/mux: records packed into Ethernet/IPv4/UDP frames under the mdmux header, and
 * the parser that takes them apart again. Byte buffers only: the DPDK TX sink copies a
 * finished frame into an mbuf, the pcap writer copies it into its ring. */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mux.h"

#define ETH_LEN     14u
#define VLAN_LEN    4u
#define IP_LEN      20u
#define UDP_LEN     8u
#define OFF_IP      ETH_LEN
#define OFF_UDP     (OFF_IP + IP_LEN)
#define OFF_MUX     (OFF_UDP + UDP_LEN)
#define OFF_RECS    (OFF_MUX + sizeof(mux_dgram_hdr_t))
#define MTU_MIN     576u
#define MTU_MAX     9000u
#define MTU_DEFAULT 1500u
#define TTL_DEFAULT 16u
#define ETH_P_IPV4  0x0800u
#define ETH_P_VLAN  0x8100u

struct mux_pack {
    mux_frame_fn emit;
    void *arg;
    unsigned per_frame; /* records a frame holds */
    unsigned count;     /* records in the frame under construction */
    uint64_t first_seq;
    uint16_t ip_id;
    uint64_t frames;
    uint8_t frame[MUX_FRAME_MAX] __attribute__((aligned(64)));
};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* RFC 1071 sum of the 20-byte IPv4 header (its checksum field zero or not). */
static uint16_t ip_sum(const uint8_t *ip)
{
    uint32_t sum = 0;
    for (unsigned i = 0; i < IP_LEN; i += 2)
        sum += get16(ip + i);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* The parts of the headers that never change, written once. */
static void write_template(mux_pack_t *p, const mux_udp_conf_t *c)
{
    uint8_t *f = p->frame;
    static const uint8_t zero[6];
    if (memcmp(c->dst_mac, zero, 6) == 0) {
        uint32_t g = ntohl(c->group_be); /* RFC 1112: 01:00:5e + low 23 bits */
        const uint8_t mac[6] = {0x01,      0x00, 0x5e, (uint8_t)(g >> 16 & 0x7f), (uint8_t)(g >> 8),
                                (uint8_t)g};
        memcpy(f, mac, 6);
    } else {
        memcpy(f, c->dst_mac, 6);
    }
    memcpy(f + 6, c->src_mac, 6);
    put16(f + 12, ETH_P_IPV4);
    uint8_t *ip = f + OFF_IP;
    ip[0] = 0x45;          /* v4, 20-byte header */
    put16(ip + 6, 0x4000); /* DF */
    ip[8] = c->ttl ? c->ttl : TTL_DEFAULT;
    ip[9] = 17; /* UDP */
    memcpy(ip + 12, &c->src_ip_be, 4);
    memcpy(ip + 16, &c->group_be, 4);
    uint8_t *udp = f + OFF_UDP;
    memcpy(udp, &c->src_port_be, 2);
    memcpy(udp + 2, &c->dst_port_be, 2);
    /* UDP checksum 0 (none; allowed over IPv4): the frame stays a single pass of copies. */
    mux_dgram_hdr_t h = {.magic = htonl(MUX_DGRAM_MAGIC),
                         .version = htons(MUX_DGRAM_VERSION),
                         .hdr_len = htons(sizeof(mux_dgram_hdr_t)),
                         .rec_size = htons(sizeof(md_rec_t))};
    memcpy(f + OFF_MUX, &h, sizeof(h));
}

mux_pack_t *mux_pack_new(const mux_udp_conf_t *c, mux_frame_fn emit, void *arg)
{
    unsigned mtu = c->mtu ? c->mtu : MTU_DEFAULT;
    if (mtu < MTU_MIN || mtu > MTU_MAX || !emit) {
        errno = EINVAL;
        return NULL;
    }
    mux_pack_t *p = co_mem_alloc(sizeof(*p), 64);
    if (!p)
        return NULL;
    p->emit = emit;
    p->arg = arg;
    p->per_frame =
        (unsigned)((mtu - IP_LEN - UDP_LEN - sizeof(mux_dgram_hdr_t)) / sizeof(md_rec_t));
    write_template(p, c);
    return p;
}

void mux_pack_free(mux_pack_t *p)
{
    co_mem_free(p);
}

/* Lengths, id, checksum, first seq and count of the finished frame; then emit it. */
static void pack_finish(mux_pack_t *p)
{
    uint8_t *f = p->frame;
    uint32_t udp_len = (uint32_t)(UDP_LEN + sizeof(mux_dgram_hdr_t) + p->count * sizeof(md_rec_t));
    uint8_t *ip = f + OFF_IP;
    put16(ip + 2, (uint16_t)(IP_LEN + udp_len));
    put16(ip + 4, p->ip_id++);
    put16(ip + 10, 0);
    put16(ip + 10, ip_sum(ip));
    put16(f + OFF_UDP + 4, (uint16_t)udp_len);
    mux_dgram_hdr_t *h = (mux_dgram_hdr_t *)(f + OFF_MUX); /* packed: any alignment */
    h->first_seq = htobe64(p->first_seq);
    h->count = htons((uint16_t)p->count);
    p->frames++;
    p->emit(p->arg, f, OFF_IP + IP_LEN + udp_len);
    p->count = 0;
}

void mux_pack_add(mux_pack_t *p, const md_rec_t *r)
{
    if (p->count == 0)
        p->first_seq = r->seq;
    memcpy(p->frame + OFF_RECS + p->count * sizeof(md_rec_t), r, sizeof(*r));
    if (++p->count == p->per_frame)
        pack_finish(p);
}

void mux_pack_flush(mux_pack_t *p)
{
    if (p->count)
        pack_finish(p);
}

unsigned mux_pack_per_frame(const mux_pack_t *p)
{
    return p->per_frame;
}

uint64_t mux_pack_frames(const mux_pack_t *p)
{
    return __atomic_load_n(&p->frames, __ATOMIC_RELAXED);
}

/* Ethernet (+ one 802.1Q tag) and IPv4 checks; the UDP header's offset, or 0. */
static uint32_t parse_l2l3(const uint8_t *f, uint32_t len, uint32_t *ip_end)
{
    uint32_t off = ETH_LEN;
    if (len < ETH_LEN + IP_LEN)
        return 0;
    uint16_t et = get16(f + 12);
    if (et == ETH_P_VLAN) {
        et = get16(f + 16);
        off += VLAN_LEN;
    }
    if (et != ETH_P_IPV4 || len < off + IP_LEN + UDP_LEN)
        return 0;
    const uint8_t *ip = f + off;
    unsigned ihl = (ip[0] & 0xfu) * 4u;
    uint32_t tot = get16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl != IP_LEN || ip[9] != 17 || tot > len - off ||
        tot < IP_LEN + UDP_LEN || ip_sum(ip) != 0)
        return 0;
    *ip_end = off + tot;
    return off + IP_LEN;
}

int mux_dgram_parse(const uint8_t *frame, uint32_t len, mux_dgram_hdr_t *hdr, const uint8_t **recs)
{
    uint32_t ip_end = 0, udp = parse_l2l3(frame, len, &ip_end);
    if (!udp)
        return -EINVAL;
    uint32_t ulen = get16(frame + udp + 4);
    if (ulen < UDP_LEN + sizeof(mux_dgram_hdr_t) || udp + ulen > ip_end)
        return -EINVAL;
    mux_dgram_hdr_t h;
    memcpy(&h, frame + udp + UDP_LEN, sizeof(h));
    h.magic = ntohl(h.magic);
    h.version = ntohs(h.version);
    h.hdr_len = ntohs(h.hdr_len);
    h.first_seq = be64toh(h.first_seq);
    h.count = ntohs(h.count);
    h.rec_size = ntohs(h.rec_size);
    h.reserved = ntohl(h.reserved);
    if (h.magic != MUX_DGRAM_MAGIC || h.version != MUX_DGRAM_VERSION || h.hdr_len < sizeof(h) ||
        h.rec_size != sizeof(md_rec_t) ||
        (uint64_t)h.hdr_len + (uint64_t)h.count * h.rec_size != ulen - UDP_LEN)
        return -EINVAL;
    *hdr = h;
    *recs = frame + udp + UDP_LEN + h.hdr_len;
    return h.count;
}

int mux_udp_parse_dest(const char *s, mux_udp_conf_t *c)
{
    char buf[64];
    const char *colon = s ? strrchr(s, ':') : NULL;
    if (!colon || (size_t)(colon - s) >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, (size_t)(colon - s));
    buf[colon - s] = '\0';
    struct in_addr a;
    char *end = NULL;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (inet_pton(AF_INET, buf, &a) != 1 || !end || *end || end == colon + 1 || port == 0 ||
        port > 65535)
        return -EINVAL;
    c->group_be = a.s_addr;
    c->dst_port_be = htons((uint16_t)port);
    return 0;
}
