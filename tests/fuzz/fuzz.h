/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mdmux fuzz targets (tests/fuzz): one entry function per target, shared by the
 * libFuzzer drivers (libfuzzer.c, clang only) and the cmocka regression test
 * (test_regress.c, every tree), which replays the seed corpora and every crash
 * reproducer kept in tests/fuzz/regress/TARGET/.
 *
 * An entry function takes any bytes and checks the module's invariants; a broken one
 * calls fz_fail(), which the driver defines: the libFuzzer driver prints the message
 * and aborts (a crash, with its reproducer saved), the regression test fails the
 * cmocka test. Sanitizer reports (ASan, UBSan) are crashes in both.
 */
#ifndef MDMUX_TEST_FUZZ_H
#define MDMUX_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/** Report that @p cond does not hold (defined by the driver; does not return). */
void fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

/** Check @p cond; on failure report the message. */
#define FZ_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                       \
    } while (0)

/**
 * The classifier on one raw Ethernet frame: the fast path against the full parse
 * (every checksum flag, single- and multi-segment wire lengths), io_classify_ex(), a
 * stack mbuf through io_classify_mbuf(), and the bounds of what they report.
 */
int fz_classify(const uint8_t *data, size_t size);

/**
 * One MoldUDP64 datagram (a UDP payload): mold_parse() against an independent
 * reference, the block walk, then every message through itch_decode() against
 * itch_decode_table(), the re-encoding, itch_json() and md_rec_json() (parsed back
 * with jansson). The datagram is also tried as one ITCH message and as a re-request.
 */
int fz_proto(const uint8_t *data, size_t size);

/**
 * YAML bytes through the configuration loader (cfg_parse()): it must not crash or
 * leak, a rejected file must come with "NAME:LINE:COL: ..." lines, an accepted one
 * with no message.
 */
int fz_config(const uint8_t *data, size_t size);

/**
 * pcap bytes through the capture reader, from memory and from a file descriptor:
 * every record inside the buffer, offsets strictly increasing, a clean end exactly at
 * the end, a sticky error naming the file and byte, and io_capture_scan() agreeing
 * with the walk.
 */
int fz_capture(const uint8_t *data, size_t size);

#endif /* MDMUX_TEST_FUZZ_H */
