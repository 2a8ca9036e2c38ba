/* SPDX-License-Identifier: BSD-3-Clause */
/* book.c: a small, consistent order-book model that produces the ITCH 5.0 message mix. */
#include <stdlib.h>
#include <string.h>

#include "book.h"

#define TICK 100u /* $0.01 in ITCH price units (1e-4) */

static const char *const mpids[] = {"NSDQ", "GSCO", "MSCO", "VIRT", "CDRG", "UBSS", "JPMS", "CITD"};

/* Continuous-trading mix, in messages per 10000: adds and deletes dominate, as on Nasdaq. */
static const struct {
    char type;
    unsigned weight;
} mix[] = {
    {'A', 3300}, {'F', 400}, {'D', 2700}, {'X', 600}, {'U', 1200}, {'E', 850}, {'C', 100},
    {'P', 400},  {'I', 250}, {'Q', 10},   {'B', 10},  {'N', 40},   {'L', 30},  {'Y', 20},
    {'H', 20},   {'J', 10},  {'O', 5},    {'K', 5},   {'W', 2},
};

static unsigned mix_total(void)
{
    unsigned t = 0;
    for (size_t i = 0; i < sizeof(mix) / sizeof(mix[0]); i++)
        t += mix[i].weight;
    return t;
}

static char pick_type(struct book *b)
{
    static unsigned total;
    if (!total)
        total = mix_total();
    unsigned x = (unsigned)prng_below(&b->r, total);
    for (size_t i = 0; i < sizeof(mix) / sizeof(mix[0]); i++) {
        if (x < mix[i].weight)
            return mix[i].type;
        x -= mix[i].weight;
    }
    return 'A';
}

static int sym_taken(const struct book *b, unsigned n, uint64_t sym)
{
    for (unsigned i = 0; i < n; i++)
        if (b->stocks[i].sym == sym)
            return 1;
    return 0;
}

/* Random ticker of 2..5 capitals, unique within the feed. */
static uint64_t new_symbol(struct book *b, unsigned n)
{
    char s[8];
    uint64_t sym;
    do {
        unsigned len = (unsigned)prng_range(&b->r, 2, 5);
        for (unsigned i = 0; i < len; i++)
            s[i] = (char)('A' + prng_below(&b->r, 26));
        s[len] = 0;
        sym = itch_alpha(s, 8);
    } while (sym_taken(b, n, sym));
    return sym;
}

int book_init(struct book *b, unsigned feed, uint64_t seed, unsigned nstocks, unsigned max_live)
{
    memset(b, 0, sizeof(*b));
    prng_seed(&b->r, seed, 1000 + feed);
    b->stocks = calloc(nstocks, sizeof(*b->stocks));
    b->live = calloc(max_live, sizeof(*b->live));
    if (!b->stocks || !b->live)
        return -1;
    b->nstocks = nstocks;
    b->max_live = max_live;
    b->next_ref = 1 + prng_below(&b->r, 1000) * 1000;
    b->next_match = 1 + prng_below(&b->r, 1000) * 100;
    for (unsigned i = 0; i < nstocks; i++) {
        b->stocks[i].sym = new_symbol(b, i);
        b->stocks[i].locate = (uint16_t)(i + 1);
        b->stocks[i].ref_price = (uint32_t)prng_range(&b->r, 5, 500) * 10000u;
    }
    return 0;
}

void book_free(struct book *b)
{
    free(b->stocks);
    free(b->live);
    free(b->script);
    memset(b, 0, sizeof(*b));
}

/* ---- message builders ------------------------------------------------------------ */

static struct itch_msg msg(char type, uint16_t locate, struct book *b)
{
    struct itch_msg m = {.type = type, .locate = locate};
    /* Tracking numbers are Nasdaq-internal; small values like the real feed's. */
    m.tracking = (uint16_t)prng_below(&b->r, 4);
    return m;
}

static struct stock *any_stock(struct book *b)
{
    return &b->stocks[prng_below(&b->r, b->nstocks)];
}

static uint32_t near_price(struct book *b, const struct stock *s, unsigned ticks)
{
    int64_t d = (int64_t)prng_range(&b->r, 0, 2 * ticks) - ticks;
    int64_t p = (int64_t)s->ref_price + d * TICK;
    return p < TICK ? TICK : (uint32_t)p;
}

static uint32_t lot(struct book *b)
{
    unsigned x = (unsigned)prng_below(&b->r, 10);
    if (x < 7)
        return 100 * (uint32_t)prng_range(&b->r, 1, 5);
    if (x < 9)
        return (uint32_t)prng_range(&b->r, 1, 99); /* odd lot */
    return 100 * (uint32_t)prng_range(&b->r, 6, 50);
}

static struct itch_msg sys_event(struct book *b, char code)
{
    struct itch_msg m = msg('S', 0, b);
    m.v[0] = (uint8_t)code;
    return m;
}

static struct itch_msg directory(struct book *b, const struct stock *s)
{
    static const char cats[] = "QQQGSNAPZ";
    struct itch_msg m = msg('R', s->locate, b);
    int etf = prng_chance(&b->r, 0.1);
    uint64_t v[] = {s->sym,
                    (uint8_t)cats[prng_below(&b->r, sizeof(cats) - 1)],
                    'N',
                    100,
                    'N',
                    etf ? 'Q' : 'C',
                    itch_alpha(etf ? "Q" : "Z", 2),
                    'P',
                    'N',
                    'N',
                    prng_chance(&b->r, 0.3) ? '1' : '2',
                    etf ? 'Y' : 'N',
                    etf ? 1 : 0,
                    'N'};
    memcpy(m.v, v, sizeof(v));
    return m;
}

static struct itch_msg trading_action(struct book *b, const struct stock *s)
{
    struct itch_msg m = msg('H', s->locate, b);
    m.v[0] = s->sym;
    m.v[1] = 'T';
    m.v[2] = ' ';
    m.v[3] = itch_alpha("", 4);
    return m;
}

static struct itch_msg reg_sho(struct book *b, const struct stock *s)
{
    struct itch_msg m = msg('Y', s->locate, b);
    m.v[0] = s->sym;
    m.v[1] = (uint8_t) "0012"[prng_below(&b->r, 4)];
    return m;
}

static struct itch_msg participant(struct book *b, const struct stock *s)
{
    struct itch_msg m = msg('L', s->locate, b);
    m.v[0] = itch_alpha(mpids[prng_below(&b->r, 8)], 4);
    m.v[1] = s->sym;
    m.v[2] = prng_chance(&b->r, 0.3) ? 'Y' : 'N';
    m.v[3] = (uint8_t) "NNNPS"[prng_below(&b->r, 5)];
    m.v[4] = 'A';
    return m;
}

static struct itch_msg imbalance(struct book *b, const struct stock *s, char cross)
{
    struct itch_msg m = msg('I', s->locate, b);
    uint32_t p = near_price(b, s, 5);
    m.v[0] = 100 * prng_range(&b->r, 0, 500);
    m.v[1] = 100 * prng_range(&b->r, 0, 100);
    m.v[2] = m.v[1] ? (uint8_t) "BS"[prng_below(&b->r, 2)] : 'N';
    m.v[3] = s->sym;
    m.v[4] = p;
    m.v[5] = p;
    m.v[6] = s->ref_price;
    m.v[7] = (uint8_t)cross;
    m.v[8] = (uint8_t) "L12 "[prng_below(&b->r, 4)];
    return m;
}

static struct itch_msg mwcb_levels(struct book *b)
{
    struct itch_msg m = msg('V', 0, b);
    uint64_t base = prng_range(&b->r, 3000, 6000) * 100000000ull; /* S&P 500 close */
    m.v[0] = base * 93 / 100;
    m.v[1] = base * 87 / 100;
    m.v[2] = base * 80 / 100;
    return m;
}

static struct itch_msg ipo_update(struct book *b, const struct stock *s)
{
    struct itch_msg m = msg('K', s->locate, b);
    m.v[0] = s->sym;
    m.v[1] = 34200 + 3600 * prng_range(&b->r, 1, 5); /* seconds since midnight */
    m.v[2] = 'A';
    m.v[3] = s->ref_price;
    return m;
}

static struct itch_msg op_halt(struct book *b, const struct stock *s)
{
    struct itch_msg m = msg('h', s->locate, b);
    m.v[0] = s->sym;
    m.v[1] = (uint8_t) "QBX"[prng_below(&b->r, 3)];
    m.v[2] = 'T'; /* resumed: a standing halt would have to be lifted again */
    return m;
}

static struct itch_msg luld_collar(struct book *b, const struct stock *s)
{
    struct itch_msg m = msg('J', s->locate, b);
    m.v[0] = s->sym;
    m.v[1] = s->ref_price;
    m.v[2] = s->ref_price / 100 * 105;
    m.v[3] = s->ref_price / 100 * 95;
    m.v[4] = prng_below(&b->r, 2);
    return m;
}

static struct itch_msg cross_trade(struct book *b, const struct stock *s, char type)
{
    struct itch_msg m = msg('Q', s->locate, b);
    m.v[0] = 100 * prng_range(&b->r, 0, 2000);
    m.v[1] = s->sym;
    m.v[2] = m.v[0] ? s->ref_price : 0;
    m.v[3] = b->next_match++;
    m.v[4] = (uint8_t)type;
    return m;
}

/* ---- scripts --------------------------------------------------------------------- */

static void script_room(struct book *b, unsigned n)
{
    if (n <= b->script_cap)
        return;
    struct itch_msg *s = realloc(b->script, n * sizeof(*s));
    if (!s)
        abort(); /* a few KB for a tool: running out here is not recoverable */
    b->script = s;
    b->script_cap = n;
}

static unsigned script_start(struct book *b, struct itch_msg *o)
{
    unsigned n = 0;
    o[n++] = sys_event(b, 'O');
    for (unsigned i = 0; i < b->nstocks; i++) {
        struct stock *s = &b->stocks[i];
        o[n++] = directory(b, s);
        o[n++] = trading_action(b, s);
        o[n++] = reg_sho(b, s);
        if (prng_chance(&b->r, 0.5))
            o[n++] = participant(b, s);
    }
    o[n++] = mwcb_levels(b);
    o[n++] = ipo_update(b, &b->stocks[0]);
    o[n++] = op_halt(b, &b->stocks[b->nstocks - 1]);
    o[n++] = sys_event(b, 'S');
    for (unsigned i = 0; i < b->nstocks; i++)
        o[n++] = imbalance(b, &b->stocks[i], 'O');
    return n;
}

static unsigned script_cross(struct book *b, struct itch_msg *o, char cross)
{
    unsigned n = 0;
    if (cross == 'O')
        o[n++] = sys_event(b, 'Q');
    for (unsigned i = 0; i < b->nstocks; i++)
        o[n++] = cross_trade(b, &b->stocks[i], cross);
    if (cross == 'C')
        o[n++] = sys_event(b, 'M');
    return n;
}

unsigned book_script(struct book *b, enum book_script which, struct itch_msg **out)
{
    unsigned n = 0;
    script_room(b, 8 + 6 * b->nstocks);
    switch (which) {
    case BOOK_START:
        n = script_start(b, b->script);
        break;
    case BOOK_OPEN:
        n = script_cross(b, b->script, 'O');
        break;
    case BOOK_CLOSE:
        n = script_cross(b, b->script, 'C');
        break;
    case BOOK_END:
        b->script[n++] = sys_event(b, 'E');
        b->script[n++] = sys_event(b, 'C');
        break;
    }
    *out = b->script;
    return n;
}

/* ---- continuous trading ---------------------------------------------------------- */

static void add_order(struct book *b, struct itch_msg *m, int mpid)
{
    struct stock *s = any_stock(b);
    struct order *o = &b->live[b->nlive++];
    char side = prng_chance(&b->r, 0.5) ? 'B' : 'S';
    int64_t off = (int64_t)prng_range(&b->r, 0, 20) * TICK;
    int64_t p = side == 'B' ? (int64_t)s->ref_price - off : (int64_t)s->ref_price + off;

    *o = (struct order){.ref = b->next_ref++,
                        .shares = lot(b),
                        .price = p < TICK ? TICK : (uint32_t)p,
                        .locate = s->locate,
                        .side = side};
    *m = msg(mpid ? 'F' : 'A', s->locate, b);
    uint64_t v[] = {o->ref, (uint8_t)side, o->shares,
                    s->sym, o->price,      itch_alpha(mpids[prng_below(&b->r, 8)], 4)};
    memcpy(m->v, v, sizeof(v));
}

static void remove_order(struct book *b, unsigned i)
{
    b->live[i] = b->live[--b->nlive];
}

/* Execute part or all of a live order, with (C) or without (E) a price. */
static void execute(struct book *b, struct itch_msg *m, unsigned i, int with_price)
{
    struct order *o = &b->live[i];
    uint32_t n = o->shares > 1 && prng_chance(&b->r, 0.5)
                     ? (uint32_t)prng_range(&b->r, 1, o->shares - 1)
                     : o->shares;

    *m = msg(with_price ? 'C' : 'E', o->locate, b);
    m->v[0] = o->ref;
    m->v[1] = n;
    m->v[2] = b->next_match++;
    if (with_price) {
        m->v[3] = prng_chance(&b->r, 0.8) ? 'Y' : 'N';
        m->v[4] = o->price + (uint32_t)prng_below(&b->r, 3) * TICK;
    }
    b->stocks[o->locate - 1].ref_price = o->price; /* the last trade moves the market */
    o->shares -= n;
    if (o->shares == 0)
        remove_order(b, i);
}

static void cancel(struct book *b, struct itch_msg *m, unsigned i)
{
    struct order *o = &b->live[i];
    uint32_t n = (uint32_t)prng_range(&b->r, 1, o->shares - 1);

    *m = msg('X', o->locate, b);
    m->v[0] = o->ref;
    m->v[1] = n;
    o->shares -= n;
}

static void delete (struct book *b, struct itch_msg *m, unsigned i)
{
    *m = msg('D', b->live[i].locate, b);
    m->v[0] = b->live[i].ref;
    remove_order(b, i);
}

static void replace(struct book *b, struct itch_msg *m, unsigned i)
{
    struct order *o = &b->live[i];
    int64_t p = (int64_t)o->price + ((int64_t)prng_range(&b->r, 0, 4) - 2) * TICK;

    *m = msg('U', o->locate, b);
    m->v[0] = o->ref;
    o->ref = b->next_ref++;
    o->shares = lot(b);
    o->price = p < TICK ? TICK : (uint32_t)p;
    m->v[1] = o->ref;
    m->v[2] = o->shares;
    m->v[3] = o->price;
}

static void hidden_trade(struct book *b, struct itch_msg *m)
{
    struct stock *s = any_stock(b);
    *m = msg('P', s->locate, b);
    uint64_t v[] = {0,
                    prng_chance(&b->r, 0.5) ? 'B' : 'S',
                    lot(b),
                    s->sym,
                    near_price(b, s, 3),
                    b->next_match++};
    memcpy(m->v, v, sizeof(v));
}

static void broken_trade(struct book *b, struct itch_msg *m)
{
    *m = msg('B', any_stock(b)->locate, b);
    m->v[0] = b->next_match - 1 - prng_below(&b->r, 10);
}

static void direct_listing(struct book *b, struct itch_msg *m)
{
    struct stock *s = any_stock(b);
    *m = msg('O', s->locate, b);
    uint64_t v[] = {s->sym,
                    'Y',
                    s->ref_price / 100 * 80,
                    s->ref_price / 100 * 120,
                    s->ref_price,
                    34200000000000ull + prng_below(&b->r, 3600) * 1000000000ull,
                    s->ref_price / 100 * 90,
                    s->ref_price / 100 * 110};
    memcpy(m->v, v, sizeof(v));
}

static void rpii(struct book *b, struct itch_msg *m)
{
    struct stock *s = any_stock(b);
    *m = msg('N', s->locate, b);
    m->v[0] = s->sym;
    m->v[1] = (uint8_t) "BSAN"[prng_below(&b->r, 4)];
}

static void mwcb_status(struct book *b, struct itch_msg *m)
{
    *m = msg('W', 0, b);
    m->v[0] = '1';
}

/* Map the drawn type to what the book allows now: no orders, no executions. */
static char feasible(const struct book *b, char t)
{
    int order_ref = strchr("EXDUC", t) != NULL;
    if (order_ref && b->nlive == 0)
        return 'A';
    if ((t == 'A' || t == 'F') && b->nlive == b->max_live)
        return 'D';
    if (t == 'B' && b->next_match < 12)
        return 'P';
    return t;
}

static void order_msg(struct book *b, struct itch_msg *m, char t)
{
    unsigned i = (unsigned)prng_below(&b->r, b->nlive);
    if (t == 'X' && b->live[i].shares < 2)
        t = 'D';
    switch (t) {
    case 'E':
    case 'C':
        execute(b, m, i, t == 'C');
        break;
    case 'X':
        cancel(b, m, i);
        break;
    case 'D':
        delete (b, m, i);
        break;
    default:
        replace(b, m, i);
        break;
    }
}

void book_trade(struct book *b, struct itch_msg *m)
{
    char t = feasible(b, pick_type(b));
    switch (t) {
    case 'A':
    case 'F':
        add_order(b, m, t == 'F');
        break;
    case 'E':
    case 'C':
    case 'X':
    case 'D':
    case 'U':
        order_msg(b, m, t);
        break;
    case 'P':
        hidden_trade(b, m);
        break;
    case 'Q':
        *m = cross_trade(b, any_stock(b), 'H');
        break;
    case 'B':
        broken_trade(b, m);
        break;
    case 'I':
        *m = imbalance(b, any_stock(b), 'C');
        break;
    case 'N':
        rpii(b, m);
        break;
    case 'L':
        *m = participant(b, any_stock(b));
        break;
    case 'Y':
        *m = reg_sho(b, any_stock(b));
        break;
    case 'H':
        *m = trading_action(b, any_stock(b));
        break;
    case 'J':
        *m = luld_collar(b, any_stock(b));
        break;
    case 'O':
        direct_listing(b, m);
        break;
    case 'K':
        *m = ipo_update(b, any_stock(b));
        break;
    default:
        mwcb_status(b, m);
        break;
    }
}
