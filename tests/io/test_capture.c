/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/io capture reader: us/ns magics in both byte orders, a small file truncated at
 * every byte (an error naming the record's offset, or a clean end at a record
 * boundary), corrupt caplen, pcapng, garbage, files on disk and the whole-file scan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "frames.h"
#include "testutil.h"

static const uint64_t TS[3] = {1700000000123456789ull, 1700000000123457000ull,
                               1700000001000000001ull};
static const uint32_t LEN[3] = {60, 1, 117};

/* A 3-record file; *off receives each record's offset. */
static pcap_buf_t small_file(int ns, int swap, size_t off[3])
{
    pcap_buf_t p = {0};
    uint8_t d[200];
    for (unsigned i = 0; i < sizeof(d); i++)
        d[i] = (uint8_t)(i * 7);
    pb_header(&p, ns, swap, 65535);
    for (int i = 0; i < 3; i++) {
        if (off)
            off[i] = p.len;
        pb_record(&p, TS[i], d, LEN[i], LEN[i] + (uint32_t)i);
    }
    return p;
}

static void test_magics_and_byte_orders(void **state)
{
    (void)state;
    for (int ns = 0; ns <= 1; ns++) {
        for (int swap = 0; swap <= 1; swap++) {
            pcap_buf_t p = small_file(ns, swap, NULL);
            char err[256];
            io_capture_t *c = io_capture_open_mem("m.pcap", p.b, p.len, err, sizeof(err));
            assert_non_null(c);
            assert_int_equal(io_capture_precision(c), ns ? IO_TS_NS : IO_TS_US);
            assert_int_equal(io_capture_linktype(c), 1);
            for (int i = 0; i < 3; i++) {
                uint64_t ts;
                const uint8_t *d;
                uint32_t cl, ol;
                assert_int_equal(io_capture_next(c, &ts, &d, &cl, &ol, err, sizeof(err)), 1);
                assert_int_equal(ts, ns ? TS[i] : TS[i] / 1000 * 1000);
                assert_int_equal(cl, LEN[i]);
                assert_int_equal(ol, LEN[i] + (uint32_t)i);
                assert_int_equal(d[LEN[i] - 1], (uint8_t)((LEN[i] - 1) * 7));
            }
            assert_int_equal(io_capture_next(c, NULL, NULL, NULL, NULL, err, sizeof(err)), 0);
            assert_int_equal(io_capture_offset(c), p.len);
            io_capture_rewind(c);
            assert_int_equal(io_capture_next(c, NULL, NULL, NULL, NULL, NULL, 0), 1);
            io_capture_close(c);
            free(p.b);
        }
    }
}

/* What must happen to the file cut to @len bytes. */
static void check_cut(const pcap_buf_t *p, const size_t off[3], size_t len)
{
    char err[256] = "";
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, p->b, len);
    io_capture_t *c = io_capture_open_mem("cut.pcap", copy, len, err, sizeof(err));
    if (len < 24) {
        assert_null(c);
        assert_non_null(strstr(err, "cut.pcap: "));
        free(copy);
        return;
    }
    assert_non_null(c);
    int i = 0, rc;
    while ((rc = io_capture_next(c, NULL, NULL, NULL, NULL, err, sizeof(err))) == 1)
        i++;
    /* every record that ends within len is read, then the end or an error */
    int whole = 0;
    size_t boundary = 24;
    for (int k = 0; k < 3; k++) {
        size_t end = off[k] + 16 + LEN[k];
        if (end <= len) {
            whole++;
            boundary = end;
        }
    }
    assert_int_equal(i, whole);
    if (len == boundary) {
        assert_int_equal(rc, 0);
    } else {
        assert_int_equal(rc, -1);
        char want[128];
        const char *what = len - boundary < 16 ? "truncated record header" : "truncated record";
        snprintf(want, sizeof(want), "at byte %zu", boundary);
        if (strstr(err, want) == NULL || strstr(err, what) == NULL ||
            strncmp(err, "cut.pcap: ", 10) != 0)
            fail_msg("cut at %zu: '%s' (want '%s' ... '%s')", len, err, what, want);
        /* sticky */
        assert_int_equal(io_capture_next(c, NULL, NULL, NULL, NULL, NULL, 0), -1);
        assert_string_equal(io_capture_error(c), err);
    }
    io_capture_close(c);
    free(copy);
}

static void test_truncated_at_every_byte(void **state)
{
    (void)state;
    size_t off[3];
    for (int ns = 0; ns <= 1; ns++) {
        pcap_buf_t p = small_file(ns, ns, off);
        for (size_t len = 0; len <= p.len; len++)
            check_cut(&p, off, len);
        free(p.b);
    }
}

static void expect_bad_record(const pcap_buf_t *p, const char *what, const char *at)
{
    char err[256];
    io_capture_t *c = io_capture_open_mem("bad.pcap", p->b, p->len, err, sizeof(err));
    assert_non_null(c);
    int rc;
    while ((rc = io_capture_next(c, NULL, NULL, NULL, NULL, err, sizeof(err))) == 1)
        ;
    assert_int_equal(rc, -1);
    if (strstr(err, what) == NULL || strstr(err, at) == NULL)
        fail_msg("'%s' lacks '%s' / '%s'", err, what, at);
    io_capture_close(c);
}

static void test_corrupt_records(void **state)
{
    (void)state;
    size_t off[3];
    pcap_buf_t p = small_file(1, 0, off);
    uint32_t v = 0x7fffffffu; /* caplen of record 1 */
    memcpy(p.b + off[1] + 8, &v, 4);
    expect_bad_record(&p, "caplen 2147483647 exceeds snaplen", "at byte 100");
    v = 5; /* caplen above origlen (origlen is 2) */
    memcpy(p.b + off[1] + 8, &v, 4);
    expect_bad_record(&p, "exceeds original length", "at byte 100");
    free(p.b);
    p = small_file(0, 0, off);
    v = 1000000; /* microseconds out of range */
    memcpy(p.b + off[2] + 4, &v, 4);
    expect_bad_record(&p, "timestamp fraction", "at byte 117");
    free(p.b);
}

static void test_bad_headers(void **state)
{
    (void)state;
    char err[256];
    uint8_t ng[28] = {0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a};
    assert_null(io_capture_open_mem("x.pcapng", ng, sizeof(ng), err, sizeof(err)));
    assert_string_equal(err, "x.pcapng: pcapng is not supported; convert with editcap -F pcap");
    uint8_t junk[24] = "GIF89a not a capture..";
    assert_null(io_capture_open_mem("j", junk, sizeof(junk), err, sizeof(err)));
    assert_non_null(strstr(err, "not a pcap file"));
    assert_null(io_capture_open_mem("e", junk, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "empty"));
    pcap_buf_t p = {0};
    pb_header(&p, 0, 0, 65535);
    p.b[4] = 3; /* version 3 */
    assert_null(io_capture_open_mem("v", p.b, p.len, err, sizeof(err)));
    assert_non_null(strstr(err, "version"));
    free(p.b);
    assert_null(io_capture_open("/nonexistent/dir/f.pcap", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/dir/f.pcap: "));
}

/* Garbage after a valid header, and random mutations: never a crash (ASan). */
static void test_random_files(void **state)
{
    (void)state;
    srand((unsigned)tu_seed_from_env("MDMUX_IO_SEED", 9));
    for (int it = 0; it < 20000; it++) {
        pcap_buf_t p = small_file(rand() & 1, rand() & 1, NULL);
        int flips = 1 + rand() % 6;
        for (int j = 0; j < flips; j++)
            p.b[24 + (size_t)rand() % (p.len - 24)] = (uint8_t)rand();
        size_t len = (size_t)rand() % (p.len + 1);
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, p.b, len);
        io_capture_t *c = io_capture_open_mem("r", copy, len, NULL, 0);
        if (c != NULL) {
            const uint8_t *d;
            uint32_t cl;
            int n = 0;
            while (io_capture_next(c, NULL, &d, &cl, NULL, NULL, 0) == 1) {
                assert_true(d >= copy && d + cl <= copy + len);
                n++;
            }
            assert_true(n <= 1000);
            io_capture_close(c);
        }
        free(copy);
        free(p.b);
    }
}

static void test_file_scan(void **state)
{
    (void)state;
    char path[] = "/tmp/mdmux_io_cap_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t off[3];
    pcap_buf_t p = small_file(1, 1, off);
    /* put record 2 before record 1 in time: a backward timestamp */
    uint32_t sec = __builtin_bswap32((uint32_t)(TS[0] / 1000000000u) - 1);
    memcpy(p.b + off[1], &sec, 4);
    assert_int_equal(write(fd, p.b, p.len - 5), (ssize_t)(p.len - 5)); /* cut inside #3 */
    close(fd);
    char err[256];
    io_capture_t *c = io_capture_open(path, err, sizeof(err));
    assert_non_null(c);
    io_capture_info_t info;
    assert_int_equal(io_capture_scan(c, &info), -1);
    assert_int_equal(info.packets, 2);
    assert_int_equal(info.bytes, LEN[0] + LEN[1]);
    assert_int_equal(info.first_ts_ns, TS[0]);
    assert_int_equal(info.precision, IO_TS_NS);
    assert_int_equal(info.backward_ts, 1);
    assert_int_equal(info.valid_bytes, off[2]);
    assert_int_equal(info.file_bytes, p.len - 5);
    assert_int_equal(info.error, 1);
    char want[256];
    snprintf(want, sizeof(want), "%s: truncated record (caplen 117, 112 bytes left) at byte %zu",
             path, off[2]);
    assert_string_equal(info.errmsg, want);
    /* the scan rewinds */
    assert_int_equal(io_capture_next(c, NULL, NULL, NULL, NULL, NULL, 0), 1);
    io_capture_close(c);
    unlink(path);
    free(p.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_magics_and_byte_orders),
        cmocka_unit_test(test_truncated_at_every_byte),
        cmocka_unit_test(test_corrupt_records),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_random_files),
        cmocka_unit_test(test_file_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
