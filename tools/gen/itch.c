/* SPDX-License-Identifier: BSD-3-Clause */
/* itch.c: ITCH 5.0 layouts (Nasdaq TotalView-ITCH 5.0 specification), encoder, JSON. */
#include <string.h>

#include "itch.h"

/* Table shorthands. clang-format would turn these one-liners into towers of braces. */
// clang-format off
#define U(n, w)      {n, w, ITCH_UINT}
#define A(n, w)      {n, w, ITCH_ALPHA}
#define C(n)         {n, 1, ITCH_CHAR}
#define P4(n)        {n, 4, ITCH_PRICE4}
#define P8(n)        {n, 8, ITCH_PRICE8}
#define STOCK        A("stock", 8)
#define ORDER        U("order_reference_number", 8)
#define MATCH        U("match_number", 8)
#define NF(...)      (sizeof((struct itch_field[]){__VA_ARGS__}) / sizeof(struct itch_field))
#define L(t, l, ...) {t, l, NF(__VA_ARGS__), {__VA_ARGS__}}
// clang-format on

/* Header: type (1) + stock locate (2) + tracking number (2) + timestamp (6). */
#define HDR_LEN 11

static const struct itch_layout layouts[] = {
    L('S', 12, C("event_code")),
    L('R', 39, STOCK, C("market_category"), C("financial_status_indicator"), U("round_lot_size", 4),
      C("round_lots_only"), C("issue_classification"), A("issue_sub_type", 2), C("authenticity"),
      C("short_sale_threshold_indicator"), C("ipo_flag"), C("luld_reference_price_tier"),
      C("etp_flag"), U("etp_leverage_factor", 4), C("inverse_indicator")),
    L('H', 25, STOCK, C("trading_state"), C("reserved"), A("reason", 4)),
    L('Y', 20, STOCK, C("reg_sho_action")),
    L('L', 26, A("mpid", 4), STOCK, C("primary_market_maker"), C("market_maker_mode"),
      C("market_participant_state")),
    L('V', 35, P8("level_1"), P8("level_2"), P8("level_3")),
    L('W', 12, C("breached_level")),
    L('K', 28, STOCK, U("ipo_quotation_release_time", 4), C("ipo_quotation_release_qualifier"),
      P4("ipo_price")),
    L('J', 35, STOCK, P4("auction_collar_reference_price"), P4("upper_auction_collar_price"),
      P4("lower_auction_collar_price"), U("auction_collar_extension", 4)),
    L('h', 21, STOCK, C("market_code"), C("operational_halt_action")),
    L('A', 36, ORDER, C("buy_sell_indicator"), U("shares", 4), STOCK, P4("price")),
    L('F', 40, ORDER, C("buy_sell_indicator"), U("shares", 4), STOCK, P4("price"),
      A("attribution", 4)),
    L('E', 31, ORDER, U("executed_shares", 4), MATCH),
    L('C', 36, ORDER, U("executed_shares", 4), MATCH, C("printable"), P4("execution_price")),
    L('X', 23, ORDER, U("canceled_shares", 4)),
    L('D', 19, ORDER),
    L('U', 35, U("original_order_reference_number", 8), U("new_order_reference_number", 8),
      U("shares", 4), P4("price")),
    L('P', 44, ORDER, C("buy_sell_indicator"), U("shares", 4), STOCK, P4("price"), MATCH),
    L('Q', 40, U("cross_shares", 8), STOCK, P4("cross_price"), MATCH, C("cross_type")),
    L('B', 19, MATCH),
    L('I', 50, U("paired_shares", 8), U("imbalance_shares", 8), C("imbalance_direction"), STOCK,
      P4("far_price"), P4("near_price"), P4("current_reference_price"), C("cross_type"),
      C("price_variation_indicator")),
    L('N', 20, STOCK, C("interest_flag")),
    L('O', 48, STOCK, C("open_eligibility_status"), P4("minimum_allowable_price"),
      P4("maximum_allowable_price"), P4("near_execution_price"), U("near_execution_time", 8),
      P4("lower_price_range_collar"), P4("upper_price_range_collar")),
};

#define NLAYOUTS (sizeof(layouts) / sizeof(layouts[0]))

/* Message types are ASCII letters: a direct index beats a search per message. */
static const struct itch_layout *by_type[128];

static void index_layouts(void)
{
    for (unsigned i = 0; i < NLAYOUTS; i++)
        by_type[(unsigned char)layouts[i].type] = &layouts[i];
}

const struct itch_layout *itch_layout(char type)
{
    if (!by_type['S'])
        index_layouts();
    if ((unsigned char)type >= 128)
        return NULL;
    return by_type[(unsigned char)type];
}

const struct itch_layout *itch_layouts(unsigned *n)
{
    *n = NLAYOUTS;
    return layouts;
}

uint64_t itch_alpha(const char *s, unsigned width)
{
    char b[8];
    uint64_t v = 0;
    size_t n = strnlen(s, width);

    memset(b, ' ', sizeof(b));
    memcpy(b, s, n);
    memcpy(&v, b, width);
    return v;
}

static void put_be(uint8_t *p, uint64_t v, unsigned width)
{
    for (unsigned i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, unsigned width)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++)
        v = v << 8 | p[i];
    return v;
}

size_t itch_encode(const struct itch_msg *m, uint8_t *out)
{
    const struct itch_layout *l = itch_layout(m->type);
    uint8_t *p = out + HDR_LEN;

    out[0] = (uint8_t)m->type;
    put_be(out + 1, m->locate, 2);
    put_be(out + 3, m->tracking, 2);
    put_be(out + 5, m->ts, 6);
    for (unsigned i = 0; i < l->nfields; i++) {
        const struct itch_field *f = &l->f[i];
        if (f->kind == ITCH_ALPHA)
            memcpy(p, &m->v[i], f->width);
        else
            put_be(p, m->v[i], f->width);
        p += f->width;
    }
    return l->len;
}

/*
 * A bounded output buffer. The messages file has a line per message, so this is
 * the generator's hottest path: plain appends, no printf.
 */
struct out {
    char *p, *end;
    int full;
};

static void out_mem(struct out *o, const char *s, size_t n)
{
    if ((size_t)(o->end - o->p) < n) {
        o->full = 1;
        return;
    }
    memcpy(o->p, s, n);
    o->p += n;
}

#define out_lit(o, s) out_mem(o, s, sizeof(s) - 1)

static void out_u64(struct out *o, uint64_t v)
{
    char b[20];
    int i = sizeof(b);
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    out_mem(o, b + i, sizeof(b) - (size_t)i);
}

/* A JSON string of @p n bytes, trailing spaces trimmed for ALPHA fields. */
static void out_str(struct out *o, const uint8_t *s, size_t n, int trim)
{
    static const char hex[] = "0123456789abcdef";

    while (trim && n > 0 && s[n - 1] == ' ')
        n--;
    out_lit(o, "\"");
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') {
            out_mem(o, (const char *)&s[i], 1);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[s[i] >> 4], hex[s[i] & 15]};
            out_mem(o, e, sizeof(e));
        }
    }
    out_lit(o, "\"");
}

static void out_field(struct out *o, const struct itch_field *f, const uint8_t *p)
{
    out_lit(o, ",\"");
    out_mem(o, f->name, strlen(f->name));
    out_lit(o, "\":");
    if (f->kind == ITCH_ALPHA || f->kind == ITCH_CHAR)
        out_str(o, p, f->width, f->kind == ITCH_ALPHA);
    else
        out_u64(o, get_be(p, f->width));
}

static int out_fields(struct out *o, const uint8_t *msg, size_t len)
{
    const struct itch_layout *l = len > 0 ? itch_layout((char)msg[0]) : NULL;
    const uint8_t *p = msg + HDR_LEN;

    if (!l || len < l->len)
        return -1;
    out_lit(o, "\"type\":");
    out_str(o, msg, 1, 0);
    out_lit(o, ",\"locate\":");
    out_u64(o, get_be(msg + 1, 2));
    out_lit(o, ",\"tracking\":");
    out_u64(o, get_be(msg + 3, 2));
    out_lit(o, ",\"ts\":");
    out_u64(o, get_be(msg + 5, 6));
    for (unsigned i = 0; i < l->nfields; i++) {
        out_field(o, &l->f[i], p);
        p += l->f[i].width;
    }
    return o->full ? -1 : 0;
}

size_t itch_json_fields(const uint8_t *msg, size_t len, char *out, size_t cap)
{
    struct out o = {out, out + cap - 1, 0};
    if (cap == 0 || out_fields(&o, msg, len) < 0)
        return 0;
    *o.p = 0;
    return (size_t)(o.p - out);
}

size_t itch_json_line(const char *feed, uint64_t seq, const uint8_t *msg, size_t len, char *out,
                      size_t cap)
{
    struct out o = {out, out + cap, 0};

    out_lit(&o, "{\"feed\":\"");
    out_mem(&o, feed, strlen(feed));
    out_lit(&o, "\",\"seq\":");
    out_u64(&o, seq);
    out_lit(&o, ",");
    if (out_fields(&o, msg, len) < 0)
        return 0;
    out_lit(&o, "}\n");
    return o.full ? 0 : (size_t)(o.p - out);
}
