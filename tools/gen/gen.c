/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mdmux-gen: writes realistic MoldUDP64 / ITCH 5.0 captures (nanosecond pcap) with
 * their mdmux config, truth file and messages file. Deterministic for a seed.
 * See docs/generator.md.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen.h"

#define MAX_FEEDS   1000
#define MIDNIGHT_NS (1772427600ull * 1000000000ull) /* 2026-03-02 00:00 US/Eastern (EST) */
#define MAX_FRAME   9100

static const char usage[] =
    "usage: mdmux-gen -o OUT.pcap [options]\n"
    "\n"
    "Write a MoldUDP64/ITCH 5.0 capture (nanosecond pcap) of N feeds on A and B lines,\n"
    "plus OUT.yaml (mdmux config), OUT.truth.json (exact counts) and OUT.messages.jsonl.\n"
    "Same seed and options give byte-identical files.\n"
    "\n"
    "Output:\n"
    "  -o, --out PATH            capture file (required); OUT = PATH without .pcap\n"
    "      --config PATH         mdmux config to write (default OUT.yaml)\n"
    "      --truth PATH          truth file to write (default OUT.truth.json)\n"
    "      --messages PATH       messages file to write (default OUT.messages.jsonl)\n"
    "  -q, --quiet               no summary line\n"
    "      --bench               also print 'BENCH gen.mpps <value> Mpps'\n"
    "Session:\n"
    "      --feeds N             feeds, 1..1000 (default 50)\n"
    "      --seed S              random seed (default 1)\n"
    "      --stocks N            stocks (locate codes) per feed, 1..10000 (default 16)\n"
    "      --duration-ms D       continuous trading time (default 100)\n"
    "      --packets-per-feed P  instead: stop trading after P packets per feed\n"
    "      --rate PPS            steady packets/s per feed (default 10000)\n"
    "      --max-msgs N          messages per packet at most, 1..1000 (default 64; MTU caps)\n"
    "      --jumbo               9000-byte MTU instead of 1500\n"
    "      --preopen-ms D        idle time before the open, with heartbeats (default 5)\n"
    "      --postclose-ms D      idle time after the close (default 2)\n"
    "      --heartbeat-ms D      heartbeat after D ms without packets; 0 = none (default 1)\n"
    "      --no-end-session      stop after the close: no S E, S C, end-of-session packet\n"
    "Timing:\n"
    "      --skew-us U           line B lags line A by U us (default 20)\n"
    "      --jitter-us U         +- uniform jitter on the lag (default 5)\n"
    "      --burst-every-ms D    a microburst every D ms; 0 = none (default 20)\n"
    "      --burst-len-ms D      microburst length (default 2)\n"
    "      --burst-factor F      rate multiplier in a microburst (default 10)\n"
    "Impairments (probabilities per packet, 0..1):\n"
    "      --loss-a R            lost on line A only (default 0.001)\n"
    "      --loss-b R            lost on line B only (default 0.001)\n"
    "      --loss-both R         lost on both lines: a true gap (default 0.0002)\n"
    "      --reorder R           swapped with the next packet, per line (default 0.0005)\n"
    "      --dup R               sent twice, per line (default 0.0005)\n"
    "      --truncate R          frame cut short, per line (default 0.0002)\n"
    "      --corrupt R           IPv4 header checksum damaged, per line (default 0.0002)\n"
    "      --corrupt-payload R   MoldUDP64 block length damaged, L2-L4 valid (default 0)\n"
    "      --zero-udp R          zero-length UDP datagram after a packet, per line (default 0)\n"
    "      --unknown R           UDP noise to a flow of no feed, per frame (default 0)\n"
    "      --noise R             ARP noise frames, per frame (default 0)\n"
    "      --clean               all impairments 0 (later options still apply)\n"
    "Line faults and capture clock steps:\n"
    "      --dead-a, --dead-b    the line sends nothing (heartbeats included) ...\n"
    "      --dead-after-ms D     ... from D ms after the session start (default 0)\n"
    "      --flap-ms D           lines go silent in turn, period 4D: A in [D,2D), B in [3D,4D)\n"
    "      --flap-overlap        B silent in [1.5D,2.5D) instead: both silent half a window\n"
    "      --ts-jump-back-ms D   capture timestamps step back D ms once, mid-trading\n"
    "      --ts-jump-forward-s S capture timestamps step forward S s once, mid-trading\n"
    "Network:\n"
    "      --vlan ID             802.1Q tag, 0..4095\n"
    "      --qinq OUTER,INNER    802.1ad outer tag (0x88a8) then 802.1Q inner tag\n"
    "  -h, --help                this text\n";

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mdmux-gen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see mdmux-gen --help)\n", stderr);
    va_end(ap);
    exit(2);
}

static double num(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        fail("--%s: expected a number in [%g, %g], got '%s'", opt, lo, hi, s);
    return v;
}

static uint64_t uint_arg(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v < lo || v > hi)
        fail("--%s: expected an integer in [%llu, %llu], got '%s'", opt, (unsigned long long)lo,
             (unsigned long long)hi, s);
    return v;
}

static void qinq_arg(struct gen_opts *o, const char *s)
{
    char outer[32];
    const char *comma = strchr(s, ',');
    if (!comma || (size_t)(comma - s) >= sizeof(outer))
        fail("--qinq: expected OUTER,INNER VLAN ids, got '%s'", s);
    memcpy(outer, s, (size_t)(comma - s));
    outer[comma - s] = 0;
    o->qinq_outer = (int)uint_arg("qinq", outer, 0, 4095);
    o->qinq_inner = (int)uint_arg("qinq", comma + 1, 0, 4095);
}

static void set_clean(struct gen_opts *o)
{
    o->loss_a = o->loss_b = o->loss_both = o->reorder = o->dup = 0;
    o->truncate = o->corrupt = o->corrupt_payload = o->zero_udp = o->unknown = o->noise = 0;
}

static void defaults(struct gen_opts *o)
{
    *o = (struct gen_opts){.feeds = 50,
                           .stocks = 16,
                           .max_msgs = 64,
                           .seed = 1,
                           .duration_ms = 100,
                           .rate = 10000,
                           .skew_us = 20,
                           .jitter_us = 5,
                           .loss_a = 0.001,
                           .loss_b = 0.001,
                           .loss_both = 0.0002,
                           .reorder = 0.0005,
                           .dup = 0.0005,
                           .truncate = 0.0002,
                           .corrupt = 0.0002,
                           .heartbeat_ms = 1,
                           .preopen_ms = 5,
                           .postclose_ms = 2,
                           .burst_every_ms = 20,
                           .burst_len_ms = 2,
                           .burst_factor = 10,
                           .vlan = -1,
                           .qinq_outer = -1,
                           .qinq_inner = -1,
                           .end_session = 1};
}

enum {
    O_CONFIG = 256,
    O_TRUTH,
    O_MESSAGES,
    O_BENCH,
    O_FEEDS,
    O_SEED,
    O_STOCKS,
    O_DURATION,
    O_PACKETS,
    O_RATE,
    O_MAXMSGS,
    O_JUMBO,
    O_PREOPEN,
    O_POSTCLOSE,
    O_HEARTBEAT,
    O_NOEND,
    O_SKEW,
    O_JITTER,
    O_BEVERY,
    O_BLEN,
    O_BFACTOR,
    O_LOSSA,
    O_LOSSB,
    O_LOSSBOTH,
    O_REORDER,
    O_DUP,
    O_TRUNC,
    O_CORRUPT,
    O_CPAYLOAD,
    O_ZERO,
    O_UNKNOWN,
    O_NOISE,
    O_CLEAN,
    O_VLAN,
    O_QINQ,
    O_DEADA,
    O_DEADB,
    O_DEADAFTER,
    O_FLAP,
    O_FLAPOVER,
    O_TSBACK,
    O_TSFWD,
};

static const struct option longopts[] = {
    {"out", 1, 0, 'o'},
    {"config", 1, 0, O_CONFIG},
    {"truth", 1, 0, O_TRUTH},
    {"messages", 1, 0, O_MESSAGES},
    {"quiet", 0, 0, 'q'},
    {"bench", 0, 0, O_BENCH},
    {"feeds", 1, 0, O_FEEDS},
    {"seed", 1, 0, O_SEED},
    {"stocks", 1, 0, O_STOCKS},
    {"duration-ms", 1, 0, O_DURATION},
    {"packets-per-feed", 1, 0, O_PACKETS},
    {"rate", 1, 0, O_RATE},
    {"max-msgs", 1, 0, O_MAXMSGS},
    {"jumbo", 0, 0, O_JUMBO},
    {"preopen-ms", 1, 0, O_PREOPEN},
    {"postclose-ms", 1, 0, O_POSTCLOSE},
    {"heartbeat-ms", 1, 0, O_HEARTBEAT},
    {"no-end-session", 0, 0, O_NOEND},
    {"skew-us", 1, 0, O_SKEW},
    {"jitter-us", 1, 0, O_JITTER},
    {"burst-every-ms", 1, 0, O_BEVERY},
    {"burst-len-ms", 1, 0, O_BLEN},
    {"burst-factor", 1, 0, O_BFACTOR},
    {"loss-a", 1, 0, O_LOSSA},
    {"loss-b", 1, 0, O_LOSSB},
    {"loss-both", 1, 0, O_LOSSBOTH},
    {"reorder", 1, 0, O_REORDER},
    {"dup", 1, 0, O_DUP},
    {"truncate", 1, 0, O_TRUNC},
    {"corrupt", 1, 0, O_CORRUPT},
    {"corrupt-payload", 1, 0, O_CPAYLOAD},
    {"zero-udp", 1, 0, O_ZERO},
    {"unknown", 1, 0, O_UNKNOWN},
    {"noise", 1, 0, O_NOISE},
    {"clean", 0, 0, O_CLEAN},
    {"vlan", 1, 0, O_VLAN},
    {"qinq", 1, 0, O_QINQ},
    {"dead-a", 0, 0, O_DEADA},
    {"dead-b", 0, 0, O_DEADB},
    {"dead-after-ms", 1, 0, O_DEADAFTER},
    {"flap-ms", 1, 0, O_FLAP},
    {"flap-overlap", 0, 0, O_FLAPOVER},
    {"ts-jump-back-ms", 1, 0, O_TSBACK},
    {"ts-jump-forward-s", 1, 0, O_TSFWD},
    {"help", 0, 0, 'h'},
    {0, 0, 0, 0},
};

/* The option's long name, for error messages. */
static const char *name_of(int c)
{
    for (const struct option *p = longopts; p->name; p++)
        if (p->val == c)
            return p->name;
    return "?";
}

/* Options that take a probability, and where it goes. */
static double *rate_field(struct gen_opts *o, int c)
{
    switch (c) {
    case O_LOSSA:
        return &o->loss_a;
    case O_LOSSB:
        return &o->loss_b;
    case O_LOSSBOTH:
        return &o->loss_both;
    case O_REORDER:
        return &o->reorder;
    case O_DUP:
        return &o->dup;
    case O_TRUNC:
        return &o->truncate;
    case O_CORRUPT:
        return &o->corrupt;
    case O_CPAYLOAD:
        return &o->corrupt_payload;
    case O_ZERO:
        return &o->zero_udp;
    case O_UNKNOWN:
        return &o->unknown;
    case O_NOISE:
        return &o->noise;
    default:
        return NULL;
    }
}

/* Options that take a duration or other non-negative number. */
static double *num_field(struct gen_opts *o, int c, double *lo, double *hi)
{
    *lo = 0;
    *hi = 1e6;
    switch (c) {
    case O_DURATION:
        *lo = 0.001;
        return &o->duration_ms;
    case O_RATE:
        *lo = 1;
        *hi = 1e8;
        return &o->rate;
    case O_PREOPEN:
        return &o->preopen_ms;
    case O_POSTCLOSE:
        return &o->postclose_ms;
    case O_HEARTBEAT:
        return &o->heartbeat_ms;
    case O_SKEW:
        return &o->skew_us;
    case O_JITTER:
        return &o->jitter_us;
    case O_BEVERY:
        return &o->burst_every_ms;
    case O_BLEN:
        return &o->burst_len_ms;
    case O_BFACTOR:
        *lo = 1;
        *hi = 1000;
        return &o->burst_factor;
    case O_DEADAFTER:
        return &o->dead_after_ms;
    case O_FLAP:
        *lo = 0.001;
        return &o->flap_ms;
    case O_TSBACK:
        *lo = 0.001;
        return &o->ts_back_ms;
    case O_TSFWD:
        *lo = 0.001;
        return &o->ts_fwd_s;
    default:
        return NULL;
    }
}

static void other_opt(struct gen_opts *o, int c, const char *arg)
{
    switch (c) {
    case 'o':
        o->out = arg;
        break;
    case O_CONFIG:
        o->config = arg;
        break;
    case O_TRUTH:
        o->truth = arg;
        break;
    case O_MESSAGES:
        o->messages = arg;
        break;
    case 'q':
        o->quiet = 1;
        break;
    case O_BENCH:
        o->bench = 1;
        break;
    case O_FEEDS:
        o->feeds = (unsigned)uint_arg("feeds", arg, 1, MAX_FEEDS);
        break;
    case O_SEED:
        o->seed = uint_arg("seed", arg, 0, UINT64_MAX);
        break;
    case O_STOCKS:
        o->stocks = (unsigned)uint_arg("stocks", arg, 1, 10000);
        break;
    case O_PACKETS:
        o->packets_per_feed = uint_arg("packets-per-feed", arg, 1, 100000000);
        break;
    case O_MAXMSGS:
        o->max_msgs = (unsigned)uint_arg("max-msgs", arg, 1, 1000);
        break;
    case O_JUMBO:
        o->jumbo = 1;
        break;
    case O_NOEND:
        o->end_session = 0;
        break;
    case O_CLEAN:
        set_clean(o);
        break;
    case O_VLAN:
        o->vlan = (int)uint_arg("vlan", arg, 0, 4095);
        break;
    case O_QINQ:
        qinq_arg(o, arg);
        break;
    case O_DEADA:
    case O_DEADB:
        o->dead[c == O_DEADB] = 1;
        break;
    case O_FLAPOVER:
        o->flap_overlap = 1;
        break;
    case 'h':
        fputs(usage, stdout);
        exit(0);
    default:
        fail("unknown option or missing argument");
    }
}

static void check(const struct gen_opts *o, int have_duration, int have_dead_after)
{
    if (o->flap_ms > 0 && (o->dead[0] || o->dead[1]))
        fail("--flap-ms and --dead-a/--dead-b exclude each other");
    if (o->flap_overlap && o->flap_ms <= 0)
        fail("--flap-overlap needs --flap-ms");
    if (have_dead_after && !o->dead[0] && !o->dead[1])
        fail("--dead-after-ms needs --dead-a or --dead-b");
    if (o->ts_back_ms > 0 && o->ts_fwd_s > 0)
        fail("--ts-jump-back-ms and --ts-jump-forward-s exclude each other");
    if (!o->out)
        fail("-o OUT.pcap is required");
    if (have_duration && o->packets_per_feed)
        fail("--duration-ms and --packets-per-feed exclude each other");
    if (o->loss_a + o->loss_b + o->loss_both > 1)
        fail("--loss-a + --loss-b + --loss-both must not exceed 1");
    if (o->vlan >= 0 && o->qinq_outer >= 0)
        fail("--vlan and --qinq exclude each other");
}

static void parse(struct gen_opts *o, int argc, char **argv)
{
    int c, have_duration = 0, have_dead_after = 0;
    double lo, hi, *d;

    defaults(o);
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
        if (c == '?' || c == ':')
            fail("unknown option or missing argument: '%s'", argv[optind - 1]);
        if ((d = rate_field(o, c)))
            *d = num(name_of(c), optarg, 0, 1);
        else if ((d = num_field(o, c, &lo, &hi)))
            *d = num(name_of(c), optarg, lo, hi);
        else
            other_opt(o, c, optarg);
        have_duration |= c == O_DURATION;
        have_dead_after |= c == O_DEADAFTER;
    }
    if (optind < argc)
        fail("unexpected argument '%s'", argv[optind]);
    check(o, have_duration, have_dead_after);
}

/* OUT.pcap -> OUT + suffix, in @p buf (it must live as long as the run). */
static const char *side_path(char *buf, size_t n, const char *out, const char *suffix)
{
    size_t k = strlen(out);
    if (k > 5 && strcmp(out + k - 5, ".pcap") == 0)
        k -= 5;
    if (snprintf(buf, n, "%.*s%s", (int)k, out, suffix) >= (int)n)
        fail("-o: path too long");
    return buf;
}

/* ---- the merge of all lines by time ---------------------------------------------- */

struct heap {
    struct line **l;
    uint64_t *key;
    unsigned n;
};

static int before(const struct heap *h, unsigned a, unsigned b)
{
    if (h->key[a] != h->key[b])
        return h->key[a] < h->key[b];
    return h->l[a] < h->l[b]; /* lines live in one array: a stable, seed-independent tie-break */
}

static void swap(struct heap *h, unsigned a, unsigned b)
{
    struct line *l = h->l[a];
    uint64_t k = h->key[a];
    h->l[a] = h->l[b];
    h->key[a] = h->key[b];
    h->l[b] = l;
    h->key[b] = k;
}

static void sift_down(struct heap *h, unsigned i)
{
    for (;;) {
        unsigned m = i, a = 2 * i + 1, b = a + 1;
        if (a < h->n && before(h, a, m))
            m = a;
        if (b < h->n && before(h, b, m))
            m = b;
        if (m == i)
            return;
        swap(h, i, m);
        i = m;
    }
}

static void sift_up(struct heap *h, unsigned i)
{
    while (i > 0 && before(h, i, (i - 1) / 2)) {
        swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_push(struct heap *h, struct line *l, uint64_t key)
{
    h->l[h->n] = l;
    h->key[h->n] = key;
    sift_up(h, h->n++);
}

/* ---- noise ----------------------------------------------------------------------- */

struct noise {
    struct prng r;
    uint8_t hdr[64];
    unsigned l3_off;
    uint16_t ip_id;
};

static unsigned arp_frame(uint8_t *buf)
{
    static const uint8_t arp[42] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2,  0, 0, 0,   0,
                                    0x0c, 0x08, 0x06, 0,    1,    0x08, 0,  6, 4, 0,   1,
                                    2,    0,    0,    0,    0,    0x0c, 10, 0, 0, 254, 0,
                                    0,    0,    0,    0,    0,    10,   0,  0, 1};
    memset(buf, 0, ETH_MIN_FRAME);
    memcpy(buf, arp, sizeof(arp));
    return ETH_MIN_FRAME;
}

static unsigned unknown_frame(struct noise *n, uint8_t *buf, const struct gen_opts *o)
{
    uint8_t payload[64];
    unsigned k = (unsigned)prng_below(&n->r, 4);
    uint32_t dst = (239u << 24) | (200u << 16) | (k + 1);

    memset(payload, 0, sizeof(payload));
    line_template(n->hdr, &n->l3_off, 0x0a000201u, dst, 45000, (uint16_t)(50000 + k), 0x0c, o);
    return frame_udp(buf, n->hdr, n->l3_off, n->ip_id++, payload, sizeof(payload),
                     csum_add(0, payload, sizeof(payload)));
}

/* Write one frame, stepping its time by --ts-jump-* from the jump on. */
static void put_frame(struct gen_ctx *g, struct pcap_out *p, uint64_t t, const uint8_t *buf,
                      unsigned len, const struct gen_totals *tot)
{
    if (g->jump_delta_ns && !g->jumped && t >= g->jump_at) {
        g->jumped = 1;
        g->jump_frame = tot->frames; /* 0-based index of the first stepped frame */
        g->jump_offset = tot->bytes; /* byte offset of its record */
    }
    if (g->jumped)
        t = (uint64_t)((int64_t)t + g->jump_delta_ns);
    pcap_out_write(p, t, buf, len);
}

/* After each line frame, maybe a noise frame at the same time. */
static void add_noise(struct gen_ctx *g, struct noise *n, struct pcap_out *p, uint64_t t,
                      struct gen_totals *tot, const struct gen_opts *o)
{
    uint8_t buf[128];
    if (prng_chance(&n->r, o->unknown)) {
        unsigned len = unknown_frame(n, buf, o);
        put_frame(g, p, t, buf, len, tot);
        tot->unknown++;
        tot->frames++;
        tot->bytes += 16 + len;
    }
    if (prng_chance(&n->r, o->noise)) {
        put_frame(g, p, t, buf, arp_frame(buf), tot);
        tot->other++;
        tot->frames++;
        tot->bytes += 16 + ETH_MIN_FRAME;
    }
}

/* ---- run ------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void merge(struct gen_ctx *g, struct pcap_out *p, struct gen_totals *tot)
{
    unsigned nl = 2 * g->o->feeds;
    struct heap h = {malloc(nl * sizeof(*h.l)), malloc(nl * sizeof(*h.key)), 0};
    struct noise nz = {0};
    static uint8_t buf[MAX_FRAME];
    uint64_t t;

    if (!h.l || !h.key)
        abort();
    prng_seed(&nz.r, g->o->seed, 999999);
    for (unsigned i = 0; i < g->o->feeds; i++)
        for (int w = 0; w < 2; w++)
            if ((t = line_peek(&g->feeds[i].line[w])))
                heap_push(&h, &g->feeds[i].line[w], t);
    while (h.n) {
        unsigned len = line_next(h.l[0], buf, &t);
        put_frame(g, p, t, buf, len, tot);
        tot->frames++;
        tot->bytes += 16 + len;
        add_noise(g, &nz, p, t, tot, g->o);
        if ((h.key[0] = line_peek(h.l[0])) == 0)
            swap(&h, 0, --h.n);
        sift_down(&h, 0);
    }
    free(h.l);
    free(h.key);
}

static int open_outputs(struct gen_ctx *g, struct pcap_out **p, FILE **msgs)
{
    const struct gen_opts *o = g->o;
    *p = pcap_out_open(o->out);
    if (!*p) {
        fprintf(stderr, "mdmux-gen: cannot write %s: %s\n", o->out, strerror(errno));
        return -1;
    }
    *msgs = fopen(o->messages, "w");
    if (!*msgs) {
        fprintf(stderr, "mdmux-gen: cannot write %s: %s\n", o->messages, strerror(errno));
        return -1;
    }
    setvbuf(*msgs, NULL, _IOFBF, 1 << 20);
    return 0;
}

static int write_side_files(struct gen_ctx *g, const struct gen_totals *tot)
{
    if (truth_write(g, tot, g->o->truth) < 0) {
        fprintf(stderr, "mdmux-gen: cannot write %s\n", g->o->truth);
        return -1;
    }
    if (config_write(g, g->o->config) < 0) {
        fprintf(stderr, "mdmux-gen: cannot write %s\n", g->o->config);
        return -1;
    }
    return 0;
}

static void summary(const struct gen_ctx *g, const struct gen_totals *t)
{
    double mpps = t->elapsed > 0 ? t->frames / t->elapsed / 1e6 : 0;
    if (!g->o->quiet)
        printf("mdmux-gen: %s: %u feeds, %llu frames, %llu messages, %.1f MB in %.3f s "
               "(%.2f Mpps)\n",
               g->o->out, g->o->feeds, (unsigned long long)t->frames,
               (unsigned long long)t->messages, t->bytes / 1e6, t->elapsed, mpps);
    if (g->o->bench)
        printf("BENCH gen.mpps %.3f Mpps\n", mpps);
}

static int run(struct gen_ctx *g)
{
    struct gen_totals tot = {0};
    struct pcap_out *p = NULL;
    FILE *msgs = NULL;
    double t0 = now_s();
    int rc = 0;

    if (open_outputs(g, &p, &msgs) < 0)
        return 1;
    for (unsigned i = 0; i < g->o->feeds; i++)
        if (feed_init(&g->feeds[i], g, i, msgs) < 0)
            abort();
    tot.bytes = 24;
    merge(g, p, &tot);
    for (unsigned i = 0; i < g->o->feeds; i++)
        tot.messages += g->feeds[i].next_seq - 1;
    if (pcap_out_close(p) < 0 || fclose(msgs) != 0) {
        fprintf(stderr, "mdmux-gen: write error on %s or %s\n", g->o->out, g->o->messages);
        rc = 1;
    }
    if (write_side_files(g, &tot) < 0)
        rc = 1;
    tot.elapsed = now_s() - t0;
    summary(g, &tot);
    return rc;
}

int main(int argc, char **argv)
{
    struct gen_opts o;
    struct gen_ctx g = {.o = &o, .midnight_ns = MIDNIGHT_NS};

    static char paths[3][4096];

    parse(&o, argc, argv);
    if (!o.config)
        o.config = side_path(paths[0], sizeof(paths[0]), o.out, ".yaml");
    if (!o.truth)
        o.truth = side_path(paths[1], sizeof(paths[1]), o.out, ".truth.json");
    if (!o.messages)
        o.messages = side_path(paths[2], sizeof(paths[2]), o.out, ".messages.jsonl");
    g.max_payload = (o.jumbo ? 9000u : 1500u) - 28u;
    /* the clock steps in the middle of continuous trading */
    double mid_ms =
        o.packets_per_feed ? (double)o.packets_per_feed / o.rate * 500.0 : o.duration_ms / 2;
    g.jump_at = g.midnight_ns + 34200ull * 1000000000ull + (uint64_t)(mid_ms * 1e6);
    if (o.ts_back_ms > 0)
        g.jump_delta_ns = -(int64_t)(o.ts_back_ms * 1e6 + 0.5);
    else if (o.ts_fwd_s > 0)
        g.jump_delta_ns = (int64_t)(o.ts_fwd_s * 1e9 + 0.5);
    g.feeds = calloc(o.feeds, sizeof(*g.feeds));
    if (!g.feeds)
        abort();
    int rc = run(&g);
    for (unsigned i = 0; i < o.feeds; i++)
        feed_free(&g.feeds[i]);
    free(g.feeds);
    return rc;
}
