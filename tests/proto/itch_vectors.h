/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hand-built ITCH 5.0 test vectors: every message type, every body field with its
 * offset and width transcribed from the spec (section 4) independently of lib/proto's
 * table, and a distinct value for each. The tests encode them byte by byte and check
 * the table, the decoders, the JSON and the re-encoder against them.
 */
#ifndef TEST_ITCH_VECTORS_H
#define TEST_ITCH_VECTORS_H

#include <stdint.h>

struct vfield {
    const char *name;
    uint8_t off;
    uint8_t width;
    uint64_t num;    /* integers, prices, CHAR (the byte) */
    const char *str; /* ALPHA (space-padded to width on the wire) */
};

struct vec {
    char type;
    uint8_t len;
    struct vfield f[15];
};

#define VN(n, o, w, v)                                                                             \
    {                                                                                              \
        n, o, w, v, NULL                                                                           \
    }
#define VC(n, o, c)                                                                                \
    {                                                                                              \
        n, o, 1, c, NULL                                                                           \
    }
#define VS(n, o, w, s)                                                                             \
    {                                                                                              \
        n, o, w, 0, s                                                                              \
    }

// clang-format off
static const struct vec vectors[] = {
    {'S', 12, {VC("event_code", 11, 'O')}},
    {'R', 39, {VS("stock", 11, 8, "AAPL"), VC("market_category", 19, 'Q'),
               VC("financial_status_indicator", 20, 'N'), VN("round_lot_size", 21, 4, 100),
               VC("round_lots_only", 25, 'N'), VC("issue_classification", 26, 'C'),
               VS("issue_sub_type", 27, 2, "Z"), VC("authenticity", 29, 'P'),
               VC("short_sale_threshold_indicator", 30, 'N'), VC("ipo_flag", 31, ' '),
               VC("luld_reference_price_tier", 32, '1'), VC("etp_flag", 33, 'N'),
               VN("etp_leverage_factor", 34, 4, 0x01020304), VC("inverse_indicator", 38, 'N')}},
    {'H', 25, {VS("stock", 11, 8, "MSFT"), VC("trading_state", 19, 'T'), VC("reserved", 20, ' '),
               VS("reason", 21, 4, "MWC1")}},
    {'Y', 20, {VS("stock", 11, 8, "GME"), VC("reg_sho_action", 19, '1')}},
    {'L', 26, {VS("mpid", 11, 4, "MAXM"), VS("stock", 15, 8, "FGMC"),
               VC("primary_market_maker", 23, 'Y'), VC("market_maker_mode", 24, 'N'),
               VC("market_participant_state", 25, 'A')}},
    {'V', 35, {VN("level_1", 11, 8, 0x0000001122334455ull), VN("level_2", 19, 8, 3141592600000ull),
               VN("level_3", 27, 8, 0x7EDCBA9876543210ull)}},
    {'W', 12, {VC("breached_level", 11, '2')}},
    {'K', 28, {VS("stock", 11, 8, "IPOX"), VN("ipo_quotation_release_time", 19, 4, 34200),
               VC("ipo_quotation_release_qualifier", 23, 'A'), VN("ipo_price", 24, 4, 215000)}},
    {'J', 35, {VS("stock", 11, 8, "LULD"), VN("auction_collar_reference_price", 19, 4, 1000000),
               VN("upper_auction_collar_price", 23, 4, 1100000),
               VN("lower_auction_collar_price", 27, 4, 900000),
               VN("auction_collar_extension", 31, 4, 3)}},
    {'h', 21, {VS("stock", 11, 8, "HALT"), VC("market_code", 19, 'Q'),
               VC("operational_halt_action", 20, 'H')}},
    {'A', 36, {VN("order_reference_number", 11, 8, 0x0102030405060708ull),
               VC("buy_sell_indicator", 19, 'B'), VN("shares", 20, 4, 1600),
               VS("stock", 24, 8, "IVOO"), VN("price", 32, 4, 873900)}},
    {'F', 40, {VN("order_reference_number", 11, 8, 987654321ull), VC("buy_sell_indicator", 19, 'S'),
               VN("shares", 20, 4, 0xFFFFFFFFu), VS("stock", 24, 8, "ABCDEFGH"),
               VN("price", 32, 4, 0x7FFFFFFFu), VS("attribution", 36, 4, "GSCO")}},
    {'E', 31, {VN("order_reference_number", 11, 8, 23508286), VN("executed_shares", 19, 4, 300),
               VN("match_number", 23, 8, 0x21B2C3D4E5F60718ull)}},
    {'C', 36, {VN("order_reference_number", 11, 8, 11), VN("executed_shares", 19, 4, 22),
               VN("match_number", 23, 8, 33), VC("printable", 31, 'Y'),
               VN("execution_price", 32, 4, 440000)}},
    {'X', 23, {VN("order_reference_number", 11, 8, INT64_MAX), VN("canceled_shares", 19, 4, 7)}},
    {'D', 19, {VN("order_reference_number", 11, 8, 23485802)}},
    {'U', 35, {VN("original_order_reference_number", 11, 8, 555),
               VN("new_order_reference_number", 19, 8, 556), VN("shares", 27, 4, 900),
               VN("price", 31, 4, 1234567)}},
    {'P', 44, {VN("order_reference_number", 11, 8, 0), VC("buy_sell_indicator", 19, 'B'),
               VN("shares", 20, 4, 50), VS("stock", 24, 8, "SPY"), VN("price", 32, 4, 4501234),
               VN("match_number", 36, 8, 424242)}},
    {'Q', 40, {VN("cross_shares", 11, 8, 0x100000000ull), VS("stock", 19, 8, "QQQ"),
               VN("cross_price", 27, 4, 3000000), VN("match_number", 31, 8, 77),
               VC("cross_type", 39, 'O')}},
    {'B', 19, {VN("match_number", 11, 8, 99)}},
    {'I', 50, {VN("paired_shares", 11, 8, 1000), VN("imbalance_shares", 19, 8, 2000),
               VC("imbalance_direction", 27, 'B'), VS("stock", 28, 8, "NOII"),
               VN("far_price", 36, 4, 1), VN("near_price", 40, 4, 2),
               VN("current_reference_price", 44, 4, 3), VC("cross_type", 48, 'C'),
               VC("price_variation_indicator", 49, 'L')}},
    {'N', 20, {VS("stock", 11, 8, "RPII"), VC("interest_flag", 19, 'B')}},
    {'O', 48, {VS("stock", 11, 8, "DLCR"), VC("open_eligibility_status", 19, 'Y'),
               VN("minimum_allowable_price", 20, 4, 100000), VN("maximum_allowable_price", 24, 4, 200000),
               VN("near_execution_price", 28, 4, 150000), VN("near_execution_time", 32, 8, 36000000000000ull),
               VN("lower_price_range_collar", 40, 4, 140000), VN("upper_price_range_collar", 44, 4, 160000)}},
};
// clang-format on

#define NVECTORS (sizeof(vectors) / sizeof(vectors[0]))

#endif
