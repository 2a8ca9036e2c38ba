/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * feed.c: one feed's session timeline and MoldUDP64 packetizer. Packets are made
 * lazily, as the slower of the two lines needs them, so memory stays bounded by
 * the A/B skew rather than by the capture's length.
 */
#include <stdlib.h>
#include <string.h>

#include "gen.h"

#define WIRE_NS       500u  /* matching engine to the capture point on line A */
#define STAMP_LEAD_NS 2000u /* a message is stamped this long before its packet leaves */
#define SCRIPT_GAP_LO 2000u /* scripted packets (directory ...) are back to back */
#define SCRIPT_GAP_HI 6000u
#define MSG_MAX_BLOCK (2 + ITCH_MAX_LEN)
#define MAX_LIVE      4096 /* resting orders per feed: enough depth, bounded memory */

static uint64_t ms_ns(double ms)
{
    return (uint64_t)(ms * 1e6 + 0.5);
}

void ranges_add(struct ranges *r, uint64_t from, uint64_t to)
{
    if (r->n && r->r[r->n - 1][1] + 1 == from) {
        r->r[r->n - 1][1] = to;
        return;
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->r = realloc(r->r, r->cap * sizeof(*r->r));
        if (!r->r)
            abort();
    }
    r->r[r->n][0] = from;
    r->r[r->n][1] = to;
    r->n++;
}

int feed_init(struct feed *f, const struct gen_ctx *g, unsigned id, FILE *msgs)
{
    const struct gen_opts *o = g->o;

    memset(f, 0, sizeof(*f));
    f->o = o;
    f->id = id;
    f->msgs = msgs;
    snprintf(f->name, sizeof(f->name), "feed%02u", id);
    prng_seed(&f->r, o->seed, id);
    /* Like Nasdaq's "000010059B": digits, then the feed, so sessions never collide. */
    snprintf(f->session, sizeof(f->session), "%06u%04u", (unsigned)prng_below(&f->r, 1000000),
             id % 10000);
    if (book_init(&f->book, id, o->seed, o->stocks, MAX_LIVE) < 0)
        return -1;
    f->cap = 64;
    f->ring = calloc(f->cap, sizeof(*f->ring));
    f->paybuf = malloc((size_t)f->cap * g->max_payload);
    if (!f->ring || !f->paybuf)
        return -1;
    for (unsigned i = 0; i < f->cap; i++)
        f->ring[i].payload = f->paybuf + (size_t)i * g->max_payload;
    f->next_seq = 1;
    f->midnight = g->midnight_ns;
    f->t_open = 34200ull * 1000000000ull; /* 09:30:00 */
    f->t_exch = f->t_open - ms_ns(o->preopen_ms) - 1000000 + prng_below(&f->r, 100000);
    f->last_exch = f->t_exch;
    f->planned = 1;
    f->script_n = book_script(&f->book, BOOK_START, &f->script);
    line_init(&f->line[0], f, 0, o);
    line_init(&f->line[1], f, 1, o);
    return 0;
}

void feed_free(struct feed *f)
{
    book_free(&f->book);
    free(f->ring);
    free(f->paybuf);
    for (int i = 0; i < 3; i++)
        free(f->lost[i].r);
    line_free(&f->line[0]);
    line_free(&f->line[1]);
}

struct slot *feed_slot(struct feed *f, uint64_t n)
{
    return &f->ring[n & (f->cap - 1)];
}

/* Double the ring, keeping slots [tail, head) at their numbers. */
static void grow(struct feed *f, uint64_t tail, unsigned max_payload)
{
    unsigned cap = 2 * f->cap;
    struct slot *ring = calloc(cap, sizeof(*ring));
    uint8_t *buf = malloc((size_t)cap * max_payload);

    if (!ring || !buf)
        abort();
    for (unsigned i = 0; i < cap; i++)
        ring[i].payload = buf + (size_t)i * max_payload;
    for (uint64_t n = tail; n < f->head; n++) {
        struct slot *from = feed_slot(f, n), *to = &ring[n & (cap - 1)];
        uint8_t *p = to->payload;
        *to = *from;
        to->payload = p;
        memcpy(p, from->payload, from->len);
    }
    free(f->ring);
    free(f->paybuf);
    f->ring = ring;
    f->paybuf = buf;
    f->cap = cap;
}

static unsigned max_payload(const struct feed *f)
{
    return (f->o->jumbo ? 9000u : 1500u) - 28u;
}

static struct slot *new_slot(struct feed *f, enum slot_kind kind, uint16_t count)
{
    uint64_t a = line_low(&f->line[0]), b = line_low(&f->line[1]);
    uint64_t tail = a < b ? a : b;
    if (f->head - tail >= f->cap)
        grow(f, tail, max_payload(f));

    struct slot *s = feed_slot(f, f->head++);
    uint8_t *p = s->payload;
    memset(s, 0, sizeof(*s));
    s->payload = p;
    s->kind = (uint8_t)kind;
    s->seq = f->next_seq;
    s->count = count;
    s->len = MOLD_HDR;
    memcpy(p, f->session, 10);
    for (int i = 0; i < 8; i++)
        p[10 + i] = (uint8_t)(s->seq >> (56 - 8 * i));
    return s;
}

/* Stamp the capture times: A after the wire delay, B later by the skew +- jitter. */
static void set_times(struct feed *f, struct slot *s, uint64_t midnight)
{
    const struct gen_opts *o = f->o;
    double j = o->jitter_us > 0 ? (prng_unit(&f->r) * 2 - 1) * o->jitter_us : 0;
    double lag = o->skew_us + j;

    s->t[0] = midnight + f->t_exch + WIRE_NS;
    s->t[1] = s->t[0] + (lag > 0 ? (uint64_t)(lag * 1000) : 0);
    for (int w = 0; w < 2; w++)
        s->silent[w] = (uint8_t)line_silent_at(f, w, f->t_exch);
}

/*
 * Line-level silence (--dead-a/--dead-b, --flap-ms), in exchange time from the
 * session's start (open - pre-open - 1 ms), the same instant on both lines, so a
 * packet is never silenced on both unless both lines are silent at its time.
 * Flapping, period 4 D: A is silent in [D, 2D), B in [3D, 4D) (with --flap-overlap
 * in [1.5D, 2.5D), so both are silent in [1.5D, 2D)).
 */
int line_silent_at(const struct feed *f, int w, uint64_t t_exch)
{
    const struct gen_opts *o = f->o;
    uint64_t origin = f->t_open - ms_ns(o->preopen_ms) - 1000000;
    uint64_t rel = t_exch > origin ? t_exch - origin : 0;

    if (o->dead[w])
        return rel >= ms_ns(o->dead_after_ms);
    if (o->flap_ms <= 0)
        return 0;
    uint64_t d = ms_ns(o->flap_ms), ph = rel % (4 * d);
    if (w == 0)
        return ph >= d && ph < 2 * d;
    if (o->flap_overlap)
        return ph >= d + d / 2 && ph < 2 * d + d / 2;
    return ph >= 3 * d;
}

static void finish(struct feed *f, struct slot *s)
{
    uint8_t *p = s->payload;
    p[18] = (uint8_t)(s->count >> 8);
    p[19] = (uint8_t)s->count;
    s->csum = csum_add(0, p, s->len);
    f->last_exch = f->t_exch;
    f->planned = 0;
}

static void write_json(struct feed *f, uint64_t seq, const uint8_t *msg, size_t len)
{
    char buf[1024];
    size_t n = itch_json_line(f->name, seq, msg, len, buf, sizeof(buf));
    fwrite(buf, 1, n, f->msgs);
}

/* Append message @p m, stamped for position @p i of @p k, to the packet. */
static void put_msg(struct feed *f, struct slot *s, struct itch_msg *m, unsigned i, unsigned k)
{
    uint64_t ts = f->t_exch - STAMP_LEAD_NS - 50ull * (k - 1 - i);
    uint8_t *p = s->payload + s->len;

    m->ts = ts > f->last_ts ? ts : f->last_ts;
    f->last_ts = m->ts;
    size_t n = itch_encode(m, p + 2);
    p[0] = (uint8_t)(n >> 8);
    p[1] = (uint8_t)n;
    s->len = (uint16_t)(s->len + 2 + n);
    s->count++;
    if (f->msgs)
        write_json(f, f->next_seq, p + 2, n);
    f->next_seq++;
}

/* One line's fate for a data packet: lost is decided jointly, damage per line. */
static uint8_t damage(struct feed *f)
{
    const struct gen_opts *o = f->o;
    if (prng_chance(&f->r, o->truncate))
        return FATE_TRUNC;
    if (prng_chance(&f->r, o->corrupt))
        return FATE_CORRUPT;
    if (prng_chance(&f->r, o->corrupt_payload))
        return FATE_CORRUPT_PAYLOAD;
    return FATE_OK;
}

static void decide_fates(struct feed *f, struct slot *s)
{
    const struct gen_opts *o = f->o;
    double u = prng_unit(&f->r);
    uint64_t last = s->seq + s->count - 1;

    s->fate[0] = u < o->loss_both + o->loss_a ? FATE_LOST : damage(f);
    s->fate[1] = u < o->loss_both ||
                         (u >= o->loss_both + o->loss_a && u < o->loss_both + o->loss_a + o->loss_b)
                     ? FATE_LOST
                     : damage(f);
    for (int w = 0; w < 2; w++) {
        if (s->fate[w] != FATE_OK) {
            if (s->silent[w])
                s->fate[w] = FATE_LOST; /* never sent: the line is silent */
            ranges_add(&f->lost[w], s->seq, last);
            continue;
        }
        /* drawn even for a silent line, so silence changes nothing else in the capture */
        s->dup[w] = (uint8_t)prng_chance(&f->r, o->dup);
        s->reorder[w] = (uint8_t)prng_chance(&f->r, o->reorder);
        if (s->silent[w]) {
            s->fate[w] = FATE_LOST;
            s->dup[w] = s->reorder[w] = 0;
            ranges_add(&f->lost[w], s->seq, last);
        }
    }
    if (s->fate[0] != FATE_OK && s->fate[1] != FATE_OK)
        ranges_add(&f->lost[2], s->seq, last);
}

/* Emit a data slot: lines, fates and times. */
static void data_done(struct feed *f, struct slot *s, uint64_t midnight)
{
    finish(f, s);
    set_times(f, s, midnight);
    decide_fates(f, s);
}

static unsigned script_fit(const struct feed *f, unsigned room)
{
    unsigned k = 0;
    for (unsigned i = f->script_i; i < f->script_n && k < f->o->max_msgs; i++, k++) {
        unsigned need = 2u + itch_layout(f->script[i].type)->len;
        if (need > room)
            break;
        room -= need;
    }
    return k;
}

static void script_packet(struct feed *f, uint64_t midnight)
{
    unsigned k = script_fit(f, max_payload(f) - MOLD_HDR);
    struct slot *s = new_slot(f, SLOT_DATA, 0);

    for (unsigned i = 0; i < k; i++)
        put_msg(f, s, &f->script[f->script_i++], i, k);
    data_done(f, s, midnight);
}

static int in_burst(const struct feed *f, uint64_t t)
{
    const struct gen_opts *o = f->o;
    if (o->burst_every_ms <= 0 || o->burst_len_ms <= 0 || t < f->t_open)
        return 0;
    uint64_t every = ms_ns(o->burst_every_ms);
    uint64_t at = (t - f->t_open) % every;
    return at >= every / 2 && at < every / 2 + ms_ns(o->burst_len_ms);
}

static void trade_packet(struct feed *f, uint64_t midnight)
{
    int burst = in_burst(f, f->t_exch);
    /* Busy moments pack more messages per packet, as a real feed does. */
    unsigned k = 1 + prng_geom(&f->r, burst ? 0.15 : 0.45, f->o->max_msgs - 1);
    struct slot *s = new_slot(f, SLOT_DATA, 0);
    unsigned room = max_payload(f);

    for (unsigned i = 0; i < k && (unsigned)s->len + MSG_MAX_BLOCK <= room; i++) {
        struct itch_msg m;
        book_trade(&f->book, &m);
        put_msg(f, s, &m, i, k);
    }
    f->trade_pkts++;
    data_done(f, s, midnight);
}

static void control_packet(struct feed *f, enum slot_kind kind, uint64_t t, uint64_t midnight)
{
    struct slot *s = new_slot(f, kind, kind == SLOT_EOS ? MOLD_EOS : MOLD_HB);
    uint64_t keep = f->t_exch;

    f->t_exch = t;
    s->count = kind == SLOT_EOS ? MOLD_EOS : MOLD_HB;
    finish(f, s);
    set_times(f, s, midnight);
    f->t_exch = keep;
    f->planned = kind == SLOT_HB; /* a heartbeat leaves the planned packet pending */
}

static void load_script(struct feed *f, enum book_script which, enum phase next)
{
    f->script_n = book_script(&f->book, which, &f->script);
    f->script_i = 0;
    f->phase = next;
}

static int trading_over(const struct feed *f, uint64_t t)
{
    if (f->o->packets_per_feed)
        return f->trade_pkts >= f->o->packets_per_feed;
    return t >= f->t_open + ms_ns(f->o->duration_ms);
}

static uint64_t next_trade_time(struct feed *f)
{
    double rate = f->o->rate * (in_burst(f, f->last_exch) ? f->o->burst_factor : 1);
    return f->last_exch + 1 + (uint64_t)prng_exp(&f->r, 1e9 / rate);
}

/* Decide when the next packet goes and which phase makes it; 0 once the session is over. */
static int plan(struct feed *f)
{
    while (!f->planned) {
        switch (f->phase) {
        case PH_START:
        case PH_OPEN:
        case PH_CLOSE:
        case PH_END:
            if (f->script_i == f->script_n) {
                f->phase++;
                break;
            }
            f->t_exch = f->last_exch + prng_range(&f->r, SCRIPT_GAP_LO, SCRIPT_GAP_HI);
            f->planned = 1;
            break;
        case PH_PREOPEN:
            load_script(f, BOOK_OPEN, PH_OPEN);
            f->t_exch = f->t_open > f->last_exch ? f->t_open : f->last_exch + 1;
            f->planned = 1;
            break;
        case PH_TRADE:
            f->t_exch = next_trade_time(f);
            if (trading_over(f, f->t_exch))
                load_script(f, BOOK_CLOSE, PH_CLOSE);
            f->planned = 1;
            break;
        case PH_POSTCLOSE:
            if (!f->o->end_session) {
                f->phase = PH_DONE;
                break;
            }
            load_script(f, BOOK_END, PH_END);
            f->t_exch = f->last_exch + ms_ns(f->o->postclose_ms);
            f->planned = 1;
            break;
        case PH_EOS:
            f->t_exch = f->last_exch + 1000;
            f->planned = 1;
            break;
        case PH_DONE:
            return 0;
        }
    }
    return 1;
}

static void make_packet(struct feed *f, uint64_t midnight)
{
    switch (f->phase) {
    case PH_TRADE:
        trade_packet(f, midnight);
        break;
    case PH_EOS:
        control_packet(f, SLOT_EOS, f->t_exch, midnight);
        f->phase = PH_DONE;
        break;
    default:
        script_packet(f, midnight);
        break;
    }
}

/* Make the next slot: a heartbeat when the feed has been idle too long, else the packet. */
static int feed_make(struct feed *f, uint64_t midnight)
{
    uint64_t hb = ms_ns(f->o->heartbeat_ms);

    if (!plan(f))
        return 0;
    if (hb && f->t_exch > f->last_exch + hb) {
        control_packet(f, SLOT_HB, f->last_exch + hb, midnight);
        return 1;
    }
    make_packet(f, midnight);
    return 1;
}

int feed_have(struct feed *f, uint64_t n)
{
    while (f->head <= n)
        if (!feed_make(f, f->midnight))
            return 0;
    return 1;
}
