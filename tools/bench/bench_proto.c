/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_proto: lib/proto's decoders.
 *
 *   itch.decode_ns   ns per message: itch_decode() (validate + decode + normalize into
 *                    an md_rec_t), over a synthetic stream with a TotalView-like mix
 *                    (mostly A D U E X, some F P C I, a few Q and administrative types),
 *                    in random order so the type switch cannot be learnt.
 *   mold.parse_ns    ns per packet: mold_parse() (header + every block length) and the
 *                    iteration over its blocks, packets of 1-40 messages (mean ~20).
 *
 * Usage: bench_proto [-r reps] [-n messages] [-p passes]
 *   -r N  repetitions, best taken (5)   -n N  messages in the stream (64k)
 *   -p N  passes over the stream per repetition (100)
 * The stream is ~2 MiB: it stays in L2/L3, as packets fresh from the NIC (DDIO) do.
 * Under callgrind, run with -r 1 -p 1 and divide Ir of itch_decode by -n.
 */
#include <getopt.h>

#include "bench.h"
#include "proto.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Message mix in per-mille, after published TotalView-ITCH daily statistics. */
static const struct {
    char type;
    unsigned permille;
} mix[] = {
    {'A', 380}, {'D', 340}, {'U', 90}, {'E', 50}, {'X', 30}, {'F', 20}, {'P', 20}, {'C', 10},
    {'I', 40},  {'Q', 2},   {'S', 1},  {'H', 5},  {'Y', 4},  {'L', 3},  {'R', 3},  {'J', 2},
};

static char pick_type(void)
{
    unsigned r = (unsigned)(rnd() % 1000), acc = 0;
    for (size_t i = 0; i < sizeof(mix) / sizeof(mix[0]); i++) {
        acc += mix[i].permille;
        if (r < acc)
            return mix[i].type;
    }
    return 'A';
}

/* A random valid message of type @p t into @p out; returns its length. */
static size_t make_msg(char t, uint8_t *out)
{
    const itch_desc_t *d = itch_desc((uint8_t)t);
    for (unsigned i = 0; i < d->len; i++)
        out[i] = (uint8_t)rnd();
    out[0] = (uint8_t)t;
    return d->len;
}

struct stream {
    uint8_t *pkts;   /* MoldUDP64 packets, back to back */
    size_t *pkt_off; /* start of each packet */
    size_t *pkt_len;
    size_t npkts;
    const uint8_t **msg; /* every message, in order */
    uint16_t *len;
    size_t nmsgs;
};

/* Packets of 1..40 messages (mean ~20) until @p n messages are written. */
static void build_stream(struct stream *s, size_t n)
{
    s->pkts = malloc(n * (ITCH_MAX_LEN + 2) + (n + 1) * MOLD_HDR_LEN);
    s->pkt_off = malloc(n * sizeof(size_t));
    s->pkt_len = malloc(n * sizeof(size_t));
    s->msg = malloc(n * sizeof(*s->msg));
    s->len = malloc(n * sizeof(*s->len));
    if (!s->pkts || !s->pkt_off || !s->pkt_len || !s->msg || !s->len)
        bench_die("out of memory");
    size_t off = 0, seq = 1;
    s->npkts = s->nmsgs = 0;
    while (s->nmsgs < n) {
        unsigned count = 1 + (unsigned)(rnd() % 40);
        if (count > n - s->nmsgs)
            count = (unsigned)(n - s->nmsgs);
        size_t start = off;
        off += mold_encode_hdr(s->pkts + off, "BENCH00001", seq, (uint16_t)count);
        for (unsigned i = 0; i < count; i++) {
            uint8_t m[ITCH_MAX_LEN];
            size_t len = make_msg(pick_type(), m);
            s->msg[s->nmsgs] = s->pkts + off + 2;
            s->len[s->nmsgs++] = (uint16_t)len;
            off += mold_encode_block(s->pkts + off, m, (uint16_t)len);
        }
        seq += count;
        s->pkt_off[s->npkts] = start;
        s->pkt_len[s->npkts++] = off - start;
    }
}

/* Records are written into a small ring, as into a per-core pool's hot objects. */
#define RING 64
static md_rec_t ring[RING];

static double bench_decode(const struct stream *s, unsigned passes)
{
    uint64_t t0 = co_tsc();
    unsigned bad = 0;
    for (unsigned p = 0; p < passes; p++) {
        for (size_t i = 0; i < s->nmsgs; i++)
            bad += itch_decode(s->msg[i], s->len[i], &ring[i % RING]) != ITCH_OK;
        BENCH_CLOBBER();
    }
    uint64_t t1 = co_tsc();
    if (bad)
        bench_die("%u messages failed to decode", bad);
    return bench_ticks_ns((double)(t1 - t0)) / ((double)passes * (double)s->nmsgs);
}

static double bench_mold(const struct stream *s, unsigned passes, uint64_t *sink)
{
    uint64_t t0 = co_tsc(), acc = 0;
    for (unsigned p = 0; p < passes; p++) {
        for (size_t i = 0; i < s->npkts; i++) {
            mold_pkt_t pkt;
            if (mold_parse(s->pkts + s->pkt_off[i], s->pkt_len[i], &pkt) != MOLD_OK)
                bench_die("packet %zu rejected", i);
            mold_iter_t it;
            mold_msg_t m;
            mold_iter_init(&it, &pkt);
            while (mold_iter_next(&it, &m))
                acc += m.len + m.data[0];
        }
        BENCH_CLOBBER();
    }
    uint64_t t1 = co_tsc();
    *sink = acc;
    return bench_ticks_ns((double)(t1 - t0)) / ((double)passes * (double)s->npkts);
}

int main(int argc, char **argv)
{
    unsigned reps = 5, passes = 100;
    uint64_t n = 1u << 16;
    int c;

    while ((c = getopt(argc, argv, "r:n:p:h")) != -1) {
        switch (c) {
        case 'r':
            reps = (unsigned)bench_count(optarg);
            break;
        case 'n':
            n = bench_count(optarg);
            break;
        case 'p':
            passes = (unsigned)bench_count(optarg);
            break;
        default:
            fprintf(stderr, "usage: bench_proto [-r reps] [-n messages] [-p passes]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    struct stream s;
    build_stream(&s, n);
    printf("bench_proto: %zu messages in %zu packets (%.1f per packet), %u passes, best of %u\n",
           s.nmsgs, s.npkts, (double)s.nmsgs / (double)s.npkts, passes, reps);

    double best_dec = 1e30, best_mold = 1e30;
    uint64_t sink = 0;
    for (unsigned r = 0; r < reps; r++) {
        double d = bench_decode(&s, passes), m = bench_mold(&s, passes, &sink);
        best_dec = d < best_dec ? d : best_dec;
        best_mold = m < best_mold ? m : best_mold;
    }
    printf("itch.decode: %.2f ns/msg (goal <= 12; CppTrader's published parse: 24)\n", best_dec);
    printf("mold.parse: %.2f ns/packet, %.2f ns/msg (checksum %llu)\n", best_mold,
           best_mold * (double)s.npkts / (double)s.nmsgs, (unsigned long long)(sink & 0xFF));
    bench_report("itch.decode_ns", best_dec, "ns");
    bench_report("mold.parse_ns", best_mold, "ns");
    return 0;
}
