/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * line.c: one multicast line (A or B) of a feed. It walks the feed's slots, applies
 * the line's fate to each (loss, reordering, duplicates, damage) and builds the
 * Ethernet/VLAN/IPv4/UDP frames, counting exactly what a classifier will see.
 */
#include <stdlib.h>
#include <string.h>

#include "gen.h"

#define DUP_GAP_NS     100u /* a duplicate follows its original almost at once */
#define ZERO_GAP_NS    200u
#define REORDER_GAP_NS 300u

const char *const bad_names[BAD_N] = {"eth_short", "vlan_short", "ip_short", "ip_len",
                                      "ip_checksum"};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

uint32_t csum_add(uint32_t sum, const uint8_t *p, unsigned len)
{
    unsigned i;
    for (i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (i < len)
        sum += (uint32_t)p[i] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static unsigned put_tag(uint8_t *p, uint16_t tpid, int vid)
{
    put16(p, tpid);
    put16(p + 2, (uint16_t)vid);
    return 4;
}

void line_template(uint8_t *hdr, unsigned *l3_off, uint32_t src, uint32_t dst, uint16_t sport,
                   uint16_t dport, uint8_t mac_last, const struct gen_opts *o)
{
    uint8_t *p = hdr;
    /* IPv4 multicast MAC: 01:00:5e + the low 23 bits of the group. */
    const uint8_t dmac[6] = {
        0x01, 0x00, 0x5e, (uint8_t)(dst >> 16 & 0x7f), (uint8_t)(dst >> 8), (uint8_t)dst};
    const uint8_t smac[6] = {0x02, 0, 0, 0, 0, mac_last};

    memcpy(p, dmac, 6);
    memcpy(p + 6, smac, 6);
    p += 12;
    if (o->qinq_outer >= 0) {
        p += put_tag(p, 0x88a8, o->qinq_outer);
        p += put_tag(p, 0x8100, o->qinq_inner);
    } else if (o->vlan >= 0) {
        p += put_tag(p, 0x8100, o->vlan);
    }
    put16(p, 0x0800);
    p += 2;
    *l3_off = (unsigned)(p - hdr);
    memset(p, 0, 28);
    p[0] = 0x45;
    put16(p + 6, 0x4000); /* DF, no fragments */
    p[8] = 32;            /* TTL */
    p[9] = 17;            /* UDP */
    put32(p + 12, src);
    put32(p + 16, dst);
    put16(p + 20, sport);
    put16(p + 22, dport);
}

unsigned frame_udp(uint8_t *buf, const uint8_t *hdr, unsigned l3_off, uint16_t ip_id,
                   const uint8_t *payload, unsigned len, uint32_t csum)
{
    uint8_t *ip = buf + l3_off, *udp = ip + 20;
    unsigned n = l3_off + 28 + len;

    memcpy(buf, hdr, l3_off + 28);
    put16(ip + 2, (uint16_t)(28 + len));
    put16(ip + 4, ip_id);
    put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
    put16(udp + 4, (uint16_t)(8 + len));
    /* Pseudo-header (addresses, protocol, length) + UDP header + payload. */
    uint32_t sum = csum_add(csum, ip + 12, 8) + 17 + 8 + len;
    sum = csum_add(sum, udp, 8);
    uint16_t c = csum_fold(sum);
    put16(udp + 6, c ? c : 0xffff);
    if (len)
        memcpy(udp + 8, payload, len);
    if (n < ETH_MIN_FRAME) {
        memset(buf + n, 0, ETH_MIN_FRAME - n);
        n = ETH_MIN_FRAME;
    }
    return n;
}

/* Groups 239.100.x.y (A) and 239.101.x.y (B), y = 1..254, then the next x. */
static uint32_t group_of(unsigned id, int which)
{
    return (239u << 24) | ((100u + (unsigned)which) << 16) | ((id / 254) << 8) | (id % 254 + 1);
}

void line_init(struct line *l, struct feed *f, int which, const struct gen_opts *o)
{
    memset(l, 0, sizeof(*l));
    l->feed = f;
    l->which = which;
    l->group = group_of(f->id, which);
    l->src = which ? 0x0a000101u : 0x0a000001u; /* 10.0.1.1 / 10.0.0.1 */
    l->port = (uint16_t)((which ? 31000 : 30000) + f->id);
    l->sport = (uint16_t)((which ? 41000 : 40000) + f->id);
    line_template(l->hdr, &l->l3_off, l->src, l->group, l->sport, l->port,
                  (uint8_t)(which ? 0x0b : 0x0a), o);
    l->hdr_len = l->l3_off + 28;
    prng_seed(&l->r, o->seed, 100000 + 2ull * f->id + (unsigned)which);
}

void line_free(struct line *l)
{
    free(l->sil);
    l->sil = NULL;
}

/* Slot @p s is not sent: the line is silent. Opens a silence where one begins. */
static void keep_silent(struct line *l, const struct slot *s)
{
    if (s->kind == SLOT_DATA)
        l->st.silenced++;
    else
        l->st.silenced_control++;
    if (!l->in_silence) {
        if (l->nsil == l->capsil) {
            l->capsil = l->capsil ? 2 * l->capsil : 8;
            l->sil = realloc(l->sil, l->capsil * sizeof(*l->sil));
            if (!l->sil)
                abort();
        }
        l->sil[l->nsil++] = (struct silence){.from = l->last_t, .first_slot_t = s->t[l->which]};
        l->in_silence = 1;
    }
    l->sil[l->nsil - 1].packets++;
}

/* ---- the line's frame queue ------------------------------------------------------ */

static void push(struct line *l, uint64_t t, uint64_t slot, uint8_t kind)
{
    /* Frames of one line leave in order: a later job never goes before an earlier one. */
    if (t <= l->last_t)
        t = l->last_t + 1;
    l->last_t = t;
    if (l->in_silence) { /* the line is heard again */
        l->sil[l->nsil - 1].to = t;
        l->in_silence = 0;
    }
    l->q[(l->qh + l->qn++) % LINE_JOBS] = (struct job){.t = t, .slot = slot, .kind = kind};
}

/* Queue slot @p n's content at time @p t, with its duplicate and zero-length companions. */
static void push_content(struct line *l, uint64_t t, uint64_t n)
{
    struct slot *s = feed_slot(l->feed, n);
    int w = l->which;

    push(l, t, n, JOB_SLOT);
    if (s->dup[w])
        push(l, t + DUP_GAP_NS, n, JOB_DUP);
    if (s->kind == SLOT_DATA && prng_chance(&l->r, l->feed->o->zero_udp))
        push(l, t + ZERO_GAP_NS, n, JOB_ZERO);
}

static int usable(struct feed *f, uint64_t n, int w)
{
    if (!feed_have(f, n))
        return 0;
    struct slot *s = feed_slot(f, n);
    return s->kind == SLOT_DATA && s->fate[w] == FATE_OK;
}

/* Refill the queue from the next slots; 0 when the line is finished. */
static int fill(struct line *l)
{
    struct feed *f = l->feed;
    int w = l->which;

    while (l->qn == 0) {
        if (!feed_have(f, l->cursor))
            return 0;
        uint64_t n = l->cursor++;
        struct slot *s = feed_slot(f, n);
        if (s->silent[w]) {
            keep_silent(l, s);
            continue;
        }
        if (s->kind == SLOT_DATA && s->fate[w] == FATE_LOST) {
            l->st.lost++;
            continue;
        }
        /* Reordering holds a packet back until just after the next one, as a path
         * that delays one packet does; nothing ever arrives before it was sent. */
        if (s->reorder[w] && usable(f, l->cursor, w)) {
            uint64_t m = l->cursor++;
            uint64_t tm = feed_slot(f, m)->t[w];
            push_content(l, tm, m);
            push_content(l, tm + REORDER_GAP_NS, n);
            l->st.reordered++;
            continue;
        }
        push_content(l, s->t[w], n);
    }
    return 1;
}

uint64_t line_peek(struct line *l)
{
    return fill(l) ? l->q[l->qh].t : 0;
}

uint64_t line_low(const struct line *l)
{
    uint64_t low = l->cursor;
    for (unsigned i = 0; i < l->qn; i++) {
        uint64_t n = l->q[(l->qh + i) % LINE_JOBS].slot;
        if (n < low)
            low = n;
    }
    return low;
}

/* ---- frames ---------------------------------------------------------------------- */

/* Cut a frame so the classifier rejects it for a reason we know in advance. */
static unsigned truncate_frame(struct line *l, unsigned full)
{
    unsigned ip_end = l->l3_off + 20;
    unsigned cut;
    enum bad_reason why;

    if (prng_chance(&l->r, 0.75)) {
        cut = (unsigned)prng_range(&l->r, ip_end, full - 1);
        why = BAD_IP_LEN; /* headers intact, IP total length > bytes present */
    } else {
        cut = (unsigned)prng_range(&l->r, 1, ip_end - 1);
        why = cut < 14 ? BAD_ETH_SHORT : cut < l->l3_off ? BAD_VLAN_SHORT : BAD_IP_SHORT;
    }
    l->st.bad[why]++;
    l->st.truncated++;
    l->st.malformed++;
    return cut;
}

/* Damage the MoldUDP64 framing but keep L2-L4 valid: the first block's length
 * overruns the packet, which a decoder must detect. */
static unsigned corrupt_payload(struct line *l, uint8_t *buf, const struct slot *s)
{
    uint8_t tmp[9000];
    memcpy(tmp, s->payload, s->len);
    tmp[MOLD_HDR] = 0xff;
    tmp[MOLD_HDR + 1] = 0xff;
    l->st.corrupt_payload++;
    return frame_udp(buf, l->hdr, l->l3_off, l->ip_id, tmp, s->len, csum_add(0, tmp, s->len));
}

static void count_accepted(struct line *l, unsigned payload_len)
{
    l->st.packets++;
    l->st.bytes += payload_len;
}

static unsigned slot_frame(struct line *l, const struct job *j, uint8_t *buf)
{
    const struct slot *s = feed_slot(l->feed, j->slot);
    uint8_t fate = s->kind == SLOT_DATA && j->kind == JOB_SLOT ? s->fate[l->which] : FATE_OK;
    unsigned n;

    if (s->kind == SLOT_HB)
        l->st.heartbeats++;
    if (s->kind == SLOT_EOS)
        l->st.end_session++;
    if (j->kind == JOB_DUP)
        l->st.duplicates++;
    if (fate == FATE_CORRUPT_PAYLOAD) {
        count_accepted(l, s->len);
        return corrupt_payload(l, buf, s);
    }
    n = frame_udp(buf, l->hdr, l->l3_off, l->ip_id, s->payload, s->len, s->csum);
    if (fate == FATE_TRUNC)
        return truncate_frame(l, n);
    if (fate == FATE_CORRUPT) {
        buf[l->l3_off + 10] ^= 0xa5; /* the header checksum no longer matches */
        l->st.corrupt++;
        l->st.malformed++;
        l->st.bad[BAD_IP_CHECKSUM]++;
        return n;
    }
    count_accepted(l, s->len);
    return n;
}

unsigned line_next(struct line *l, uint8_t *buf, uint64_t *t)
{
    struct job j = l->q[l->qh];
    unsigned n;

    l->qh = (l->qh + 1) % LINE_JOBS;
    l->qn--;
    *t = j.t;
    l->st.frames++;
    if (j.kind == JOB_ZERO) {
        l->st.zero_length++;
        count_accepted(l, 0);
        n = frame_udp(buf, l->hdr, l->l3_off, l->ip_id, NULL, 0, 0);
    } else {
        n = slot_frame(l, &j, buf);
    }
    /* A duplicate is the same datagram seen twice, so it keeps its IP id. */
    if (j.kind != JOB_SLOT || feed_slot(l->feed, j.slot)->dup[l->which] == 0)
        l->ip_id++;
    return n;
}
