/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The L2-L4 classifier and the flow table.
 *
 * The classifier is a straight-line parse with a length check before every read, so
 * any prefix of any frame is safe to give it. The order of the checks is the order of
 * the headers, which makes the malformed reason of a truncated frame the header it is
 * cut in (eth_short, vlan_short, ip_short), or ip_len once the IPv4 header is whole
 * but the total length reaches past the end.
 *
 * The flow table is open addressing with linear probing, kept at most 1/4 full: a
 * multiplicative hash of (address, port) lands on the right entry at the first probe
 * for nearly every key, and a miss usually ends at the first empty slot. Entries are
 * 16 bytes with the key packed in one 64-bit word, so a probe is one compare and four
 * probes share a cache line. The key is compared on every hit. The home slot is the top
 * bits of a multiply-shift hash; a lookup whose key sits at home (nearly all, at this
 * load) is one multiply, one shift and one compare, and only the rest probe on, out of
 * line.
 */
#include <errno.h>
#include <string.h>

#include "classify_inline.h"

static const char *const bad_names[IO_BAD_COUNT] = {
    [IO_BAD_ETH_SHORT] = "eth_short",     [IO_BAD_VLAN_SHORT] = "vlan_short",
    [IO_BAD_IP_SHORT] = "ip_short",       [IO_BAD_IP_VERSION] = "ip_version",
    [IO_BAD_IP_IHL] = "ip_ihl",           [IO_BAD_IP_LEN] = "ip_len",
    [IO_BAD_IP_CHECKSUM] = "ip_checksum", [IO_BAD_IP_FRAGMENT] = "ip_fragment",
    [IO_BAD_UDP_SHORT] = "udp_short",     [IO_BAD_UDP_LEN] = "udp_len",
};

/* Two empty slots (a one-slot table would need a shift by 64): every key misses. */
static const union {
    io_flow_table_t t;
    unsigned char bytes[sizeof(io_flow_table_t) + 2 * sizeof(flow_ent_t)];
} flow_none __attribute__((aligned(64))) = {.t = {.mask = 1, .shift = 63}};

const io_flow_table_t *const io_flow_none = &flow_none.t;

const char *io_bad_name(io_bad_t r)
{
    return (unsigned)r < IO_BAD_COUNT ? bad_names[r] : "?";
}

io_flow_table_t *io_flow_table_new(unsigned max_flows, int numa_node)
{
    if (max_flows == 0 || max_flows > 2 * IO_FEEDS_MAX) {
        errno = EINVAL;
        return NULL;
    }
    uint32_t slots = 64, shift = 64 - 6;
    while (slots < 4u * max_flows) {
        slots <<= 1;
        shift--;
    }
    io_flow_table_t *t = io_alloc(sizeof(*t) + slots * sizeof(flow_ent_t), numa_node);
    if (t == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    t->mask = slots - 1;
    t->shift = shift;
    t->max = max_flows;
    t->node = numa_node;
    return t;
}

void io_flow_table_free(io_flow_table_t *t)
{
    io_free(t);
}

int io_flow_table_add(io_flow_table_t *t, uint32_t group_be, uint16_t port_be, uint16_t feed,
                      uint8_t line)
{
    if (t == NULL || feed >= IO_FEEDS_MAX || line >= IO_LINES)
        return -EINVAL;
    uint64_t key = flow_key(group_be, port_be);
    flow_ent_t *e = (flow_ent_t *)flow_find(t, key);
    if (e->key == key)
        return -EEXIST;
    if (t->n >= t->max)
        return -ENOSPC; /* the table never fills: max is at most 1/4 of the slots */
    *e = (flow_ent_t){.key = key, .feed = feed, .line = line};
    t->n++;
    return 0;
}

bool io_flow_table_lookup(const io_flow_table_t *t, uint32_t group_be, uint16_t port_be,
                          uint16_t *feed, uint8_t *line)
{
    if (t == NULL)
        return false;
    const flow_ent_t *e = flow_find(t, flow_key(group_be, port_be));
    if (e->key == 0)
        return false;
    *feed = e->feed;
    *line = e->line;
    return true;
}

unsigned io_flow_table_count(const io_flow_table_t *t)
{
    return t ? t->n : 0;
}

io_verdict_t io_classify_ex(const io_flow_table_t *t, const uint8_t *frame, uint32_t len,
                            unsigned flags, io_pkt_info_t *out)
{
    return classify(t ? t : io_flow_none, frame, len, len, flags, out);
}

io_verdict_t io_classify(const io_flow_table_t *t, const uint8_t *frame, uint32_t len,
                         io_pkt_info_t *out)
{
    return classify(t ? t : io_flow_none, frame, len, len, 0, out);
}

io_verdict_t io_classify_mbuf(const io_flow_table_t *t, const struct rte_mbuf *m,
                              io_pkt_info_t *out)
{
    return io_classify_mbuf_inline(t ? t : io_flow_none, m, out);
}
