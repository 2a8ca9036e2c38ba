/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gen_test.h: helpers of the mdmux-gen tests: run the binary, temporary
 * directories, files, and a second ITCH 5.0 layout table written from the spec
 * independently of tools/gen/itch.c, to decode what the generator wrote.
 */
#ifndef GEN_TEST_H
#define GEN_TEST_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MDMUX_GEN_BIN
#error "MDMUX_GEN_BIN: tests/gen is built by tools/gen/meson.build's gen_test_dep"
#endif

/* A fresh temporary directory (static buffer per call site is the caller's). */
static inline void gt_tmpdir(char *dir, size_t n)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, n, "%s/mdmux-gen-test.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
}

static inline void gt_rmdir(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/*
 * Run mdmux-gen with @p args (a shell word list) in @p dir; its stderr goes to
 * dir/err and stdout to dir/outlog. Returns the exit status, or -1 if it was killed.
 */
static inline int gt_run(const char *dir, const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' %s >outlog 2>err", dir, MDMUX_GEN_BIN, args);
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* Whole file into a malloc'd buffer (NUL-terminated); *len gets its size. NULL if absent. */
static inline char *gt_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(b);
        return NULL;
    }
    b[n] = 0;
    fclose(f);
    if (len)
        *len = (size_t)n;
    return b;
}

static inline char *gt_slurp_in(const char *dir, const char *name, size_t *len)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return gt_slurp(p, len);
}

/* ---- the independent ITCH 5.0 table: "name:kW" with k = u (integer), c (char),
 * a (alphanumeric, right-padded) and W the width in bytes. ------------------------ */

struct gt_layout {
    char type;
    unsigned len;
    const char *fields;
};

static const struct gt_layout gt_layouts[] = {
    {'S', 12, "event_code:c1"},
    {'R', 39,
     "stock:a8 market_category:c1 financial_status_indicator:c1 round_lot_size:u4 "
     "round_lots_only:c1 issue_classification:c1 issue_sub_type:a2 authenticity:c1 "
     "short_sale_threshold_indicator:c1 ipo_flag:c1 luld_reference_price_tier:c1 etp_flag:c1 "
     "etp_leverage_factor:u4 inverse_indicator:c1"},
    {'H', 25, "stock:a8 trading_state:c1 reserved:c1 reason:a4"},
    {'Y', 20, "stock:a8 reg_sho_action:c1"},
    {'L', 26,
     "mpid:a4 stock:a8 primary_market_maker:c1 market_maker_mode:c1 market_participant_state:c1"},
    {'V', 35, "level_1:u8 level_2:u8 level_3:u8"},
    {'W', 12, "breached_level:c1"},
    {'K', 28,
     "stock:a8 ipo_quotation_release_time:u4 ipo_quotation_release_qualifier:c1 ipo_price:u4"},
    {'J', 35,
     "stock:a8 auction_collar_reference_price:u4 upper_auction_collar_price:u4 "
     "lower_auction_collar_price:u4 auction_collar_extension:u4"},
    {'h', 21, "stock:a8 market_code:c1 operational_halt_action:c1"},
    {'A', 36, "order_reference_number:u8 buy_sell_indicator:c1 shares:u4 stock:a8 price:u4"},
    {'F', 40,
     "order_reference_number:u8 buy_sell_indicator:c1 shares:u4 stock:a8 price:u4 "
     "attribution:a4"},
    {'E', 31, "order_reference_number:u8 executed_shares:u4 match_number:u8"},
    {'C', 36,
     "order_reference_number:u8 executed_shares:u4 match_number:u8 printable:c1 "
     "execution_price:u4"},
    {'X', 23, "order_reference_number:u8 canceled_shares:u4"},
    {'D', 19, "order_reference_number:u8"},
    {'U', 35,
     "original_order_reference_number:u8 new_order_reference_number:u8 shares:u4 price:u4"},
    {'P', 44,
     "order_reference_number:u8 buy_sell_indicator:c1 shares:u4 stock:a8 price:u4 "
     "match_number:u8"},
    {'Q', 40, "cross_shares:u8 stock:a8 cross_price:u4 match_number:u8 cross_type:c1"},
    {'B', 19, "match_number:u8"},
    {'I', 50,
     "paired_shares:u8 imbalance_shares:u8 imbalance_direction:c1 stock:a8 far_price:u4 "
     "near_price:u4 current_reference_price:u4 cross_type:c1 price_variation_indicator:c1"},
    {'N', 20, "stock:a8 interest_flag:c1"},
    {'O', 48,
     "stock:a8 open_eligibility_status:c1 minimum_allowable_price:u4 maximum_allowable_price:u4 "
     "near_execution_price:u4 near_execution_time:u8 lower_price_range_collar:u4 "
     "upper_price_range_collar:u4"},
};

static inline const struct gt_layout *gt_layout(char type)
{
    for (size_t i = 0; i < sizeof(gt_layouts) / sizeof(gt_layouts[0]); i++)
        if (gt_layouts[i].type == type)
            return &gt_layouts[i];
    return NULL;
}

static inline uint64_t gt_be(const uint8_t *p, unsigned w)
{
    uint64_t v = 0;
    while (w--)
        v = v << 8 | *p++;
    return v;
}

static inline json_t *gt_alpha(const uint8_t *p, unsigned w, int trim)
{
    char s[16];
    memcpy(s, p, w);
    while (trim && w > 0 && s[w - 1] == ' ')
        w--;
    return json_stringn(s, w);
}

/*
 * Decode message @p m (@p len bytes) with the independent table. Returns a new JSON
 * object (type, locate, tracking, ts, fields) or NULL if the type is unknown or
 * the length disagrees with the table.
 */
static inline json_t *gt_decode(const uint8_t *m, unsigned len)
{
    const struct gt_layout *l = gt_layout((char)m[0]);
    if (!l || len != l->len)
        return NULL;
    json_t *o = json_pack("{s:s%,s:I,s:I,s:I}", "type", (const char *)m, (size_t)1, "locate",
                          (json_int_t)gt_be(m + 1, 2), "tracking", (json_int_t)gt_be(m + 3, 2),
                          "ts", (json_int_t)gt_be(m + 5, 6));
    unsigned off = 11;
    char name[64];
    char kind;
    unsigned w;
    int used;
    for (const char *f = l->fields; sscanf(f, "%63[^:]:%c%u%n", name, &kind, &w, &used) == 3;) {
        json_t *v = kind == 'u' ? json_integer((json_int_t)gt_be(m + off, w))
                                : gt_alpha(m + off, w, kind == 'a');
        json_object_set_new(o, name, v);
        off += w;
        f += used;
        while (*f == ' ')
            f++;
    }
    if (off != len) {
        json_decref(o);
        return NULL;
    }
    return o;
}

#endif
