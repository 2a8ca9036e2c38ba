/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tests/common: a cmocka assertion that two histograms hold exactly the same data
 * (geometry, count, total, min, max, overflow and every bucket). Include it after
 * cmocka.h and stats.h.
 */
#ifndef MDMUX_TESTS_HISTCHECK_H
#define MDMUX_TESTS_HISTCHECK_H

static inline void tu_assert_same_hist(const stats_hist_t *a, const stats_hist_t *b)
{
    assert_true(stats_hist_same_geometry(a, b));
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->total, b->total);
    assert_int_equal(a->min, b->min);
    assert_int_equal(a->max, b->max);
    assert_int_equal(a->overflow, b->overflow);
    assert_memory_equal(a->counts, b->counts, a->len * sizeof(uint64_t));
}

#endif /* MDMUX_TESTS_HISTCHECK_H */
