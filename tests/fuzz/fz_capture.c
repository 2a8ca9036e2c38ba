/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the pcap reader on file bytes, from memory (io_capture_open_mem(), an
 * exact-size heap copy) and from a file (io_capture_open() on a memfd: the mmap path).
 *  - a file that does not open has a message naming it;
 *  - every record lies inside the buffer, caplen <= origlen, caplen <= the reader's
 *    bound, offsets strictly increase, a us file's timestamps are whole microseconds;
 *  - 0 (clean end) only at the end of the buffer; -1 names the file and a byte offset,
 *    and is sticky (the next call says the same);
 *  - io_capture_scan() agrees with the walk (packets, bytes, first/last timestamps,
 *    valid prefix, error), and rewinding gives the same first record;
 *  - the file path reads the same records as the memory path;
 *  - libpcap (a differential check) reads every record this reader accepts, the same
 *    (timestamp, lengths, bytes); this reader is stricter on purpose (capture.c), so
 *    it may stop first, never libpcap.
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "io.h"

#define NAME "fuzz.pcap"

typedef struct walk {
    uint64_t packets, bytes, first_ts, last_ts, backward, end_off, hash;
    uint32_t max_caplen;
    int rc;
    char err[256];
} walk_t;

static void walk(io_capture_t *c, const uint8_t *buf, size_t size, walk_t *w)
{
    memset(w, 0, sizeof(*w));
    w->hash = 1469598103934665603ull;
    uint64_t prev_off = io_capture_offset(c), prev_ts = 0;
    FZ_CHECK(prev_off == 24, "first record at %llu", (unsigned long long)prev_off);
    FZ_CHECK(io_capture_size(c) == size, "size %llu of %zu", (unsigned long long)io_capture_size(c),
             size);
    io_ts_prec_t prec = io_capture_precision(c);
    for (;;) {
        uint64_t ts = 0;
        const uint8_t *d = NULL;
        uint32_t caplen = 0, origlen = 0;
        char err[256] = "";
        int rc = io_capture_next(c, &ts, &d, &caplen, &origlen, err, sizeof(err));
        uint64_t off = io_capture_offset(c);
        if (rc != 1) {
            w->rc = rc;
            w->end_off = off;
            FZ_CHECK(off == prev_off, "offset moved on rc %d", rc);
            if (rc == 0) {
                FZ_CHECK(off == size, "clean end at %llu of %zu", (unsigned long long)off, size);
                FZ_CHECK(io_capture_error(c)[0] == '\0', "error at a clean end");
            } else {
                FZ_CHECK(rc == -1, "rc %d", rc);
                FZ_CHECK(strncmp(err, NAME ": ", sizeof(NAME) + 1) == 0 &&
                             strstr(err, " at byte ") != NULL,
                         "error '%s'", err);
                FZ_CHECK(strcmp(err, io_capture_error(c)) == 0, "io_capture_error '%s' / '%s'",
                         io_capture_error(c), err);
                char again[256] = "";
                FZ_CHECK(io_capture_next(c, NULL, NULL, NULL, NULL, again, sizeof(again)) == -1 &&
                             strcmp(again, err) == 0,
                         "error not sticky: '%s' then '%s'", err, again);
                snprintf(w->err, sizeof(w->err), "%s", err);
            }
            return;
        }
        FZ_CHECK(d != NULL && d >= buf + 24 + 16 && d + caplen <= buf + size,
                 "record outside the buffer");
        FZ_CHECK(off == prev_off + 16 + caplen && off <= size, "offset %llu after %llu + %u",
                 (unsigned long long)off, (unsigned long long)prev_off, caplen);
        FZ_CHECK(caplen <= origlen && caplen <= IO_CAPTURE_MAX_CAPLEN, "caplen %u origlen %u",
                 caplen, origlen);
        FZ_CHECK(prec == IO_TS_NS || ts % 1000 == 0, "us timestamp %llu", (unsigned long long)ts);
        if (w->packets == 0)
            w->first_ts = ts;
        else if (ts < prev_ts)
            w->backward++;
        prev_ts = w->last_ts = ts;
        w->packets++;
        w->bytes += caplen;
        if (caplen > w->max_caplen)
            w->max_caplen = caplen;
        for (uint32_t i = 0; i < caplen; i++) /* touch every byte */
            w->hash = (w->hash ^ d[i]) * 1099511628211ull;
        w->hash = (w->hash ^ ts ^ origlen) * 1099511628211ull;
        prev_off = off;
    }
}

static void check_capture(io_capture_t *c, const uint8_t *buf, size_t size, walk_t *w)
{
    walk(c, buf, size, w);
    io_capture_info_t info;
    int rc = io_capture_scan(c, &info);
    FZ_CHECK(rc == (w->rc < 0 ? -1 : 0), "scan %d, walk %d", rc, w->rc);
    FZ_CHECK(info.packets == w->packets && info.bytes == w->bytes &&
                 info.first_ts_ns == w->first_ts && info.last_ts_ns == w->last_ts &&
                 info.backward_ts == w->backward && info.max_caplen == w->max_caplen,
             "scan disagrees with the walk (%llu/%llu packets)", (unsigned long long)info.packets,
             (unsigned long long)w->packets);
    FZ_CHECK(info.valid_bytes == w->end_off && info.file_bytes == size, "valid %llu, walk %llu",
             (unsigned long long)info.valid_bytes, (unsigned long long)w->end_off);
    FZ_CHECK(info.error == (w->rc < 0) && strcmp(info.errmsg, w->err) == 0, "scan error '%s'",
             info.errmsg);
    FZ_CHECK(info.precision == io_capture_precision(c) && info.linktype == io_capture_linktype(c),
             "precision/linktype");
    FZ_CHECK(io_capture_offset(c) == 24 && io_capture_error(c)[0] == '\0', "not rewound");
    walk_t w2;
    walk(c, buf, size, &w2);
    FZ_CHECK(w2.hash == w->hash && w2.packets == w->packets, "second walk differs");
}

/* libpcap on the same bytes, record by record, as far as @p c reads. */
static void check_libpcap(io_capture_t *c, const uint8_t *buf, size_t size)
{
    if (size == 0)
        return;
    FILE *f = fmemopen((void *)(uintptr_t)buf, size, "rb");
    FZ_CHECK(f != NULL, "fmemopen");
    char perr[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, perr);
    if (p == NULL) { /* libpcap refuses a header this reader takes: not compared */
        fclose(f);
        return;
    }
    io_capture_rewind(c);
    for (uint64_t i = 0;; i++) {
        uint64_t ts;
        const uint8_t *d;
        uint32_t caplen, origlen;
        if (io_capture_next(c, &ts, &d, &caplen, &origlen, NULL, 0) != 1)
            break;
        struct pcap_pkthdr *h;
        const u_char *pd;
        int rc = pcap_next_ex(p, &h, &pd);
        FZ_CHECK(rc == 1, "record %llu: libpcap %d (%s), this reader read it",
                 (unsigned long long)i, rc, rc == PCAP_ERROR ? pcap_geterr(p) : "end");
        /* the file's seconds are unsigned 32-bit; libpcap's time_t sign-extends them */
        uint64_t pts = (uint64_t)(uint32_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
        /* libpcap rewrites some link types as it reads them (pcap-common.c,
           pcap_post_process: the byte order of USB and NFLOG pseudo-headers, the length
           of memory-mapped USB records), so bytes and length are compared for Ethernet,
           the only link type mdmux replays, and the rest for every link type */
        bool raw = io_capture_linktype(c) == 1;
        FZ_CHECK(pts == ts && h->caplen == caplen &&
                     (!raw || (h->len == origlen && memcmp(pd, d, caplen) == 0)),
                 "record %llu differs from libpcap's: ts %llu/%llu caplen %u/%u len %u/%u",
                 (unsigned long long)i, (unsigned long long)ts, (unsigned long long)pts, caplen,
                 h->caplen, origlen, h->len);
    }
    pcap_close(p); /* closes f */
    io_capture_rewind(c);
}

int fz_capture(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    FZ_CHECK(buf != NULL, "malloc");
    memcpy(buf, data, size);
    char err[256];
    memset(err, 0, sizeof(err));
    io_capture_t *c = io_capture_open_mem(NAME, buf, size, err, sizeof(err));
    walk_t wm = {0};
    if (c == NULL) {
        FZ_CHECK(strncmp(err, NAME ": ", sizeof(NAME) + 1) == 0, "open error '%s'", err);
    } else {
        FZ_CHECK(size >= 24, "opened %zu bytes", size);
        check_capture(c, buf, size, &wm);
        check_libpcap(c, buf, size);
        io_capture_close(c);
    }

    /* the same bytes as a file: mmap'ed (or read, for an empty one) */
    static int fd = -1;
    if (fd < 0)
        fd = memfd_create("fuzz.pcap", MFD_CLOEXEC);
    FZ_CHECK(fd >= 0, "memfd_create");
    FZ_CHECK(ftruncate(fd, 0) == 0 && pwrite(fd, data, size, 0) == (ssize_t)size, "memfd write");
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    char ferr[256] = "";
    io_capture_t *fc = io_capture_open(path, ferr, sizeof(ferr));
    FZ_CHECK((fc == NULL) == (c == NULL), "file open %s, memory open %s", fc ? "ok" : ferr,
             c ? "ok" : err);
    if (fc != NULL) {
        /* records point into the mapping: check them against the file's own bytes */
        io_capture_info_t info;
        io_capture_scan(fc, &info);
        FZ_CHECK(info.packets == wm.packets && info.bytes == wm.bytes &&
                     info.valid_bytes == wm.end_off && info.error == (wm.rc < 0),
                 "file and memory disagree");
        io_capture_close(fc);
    }
    free(buf);
    return 0;
}
