/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pcap reader. The file is mapped (or, when it cannot be, read) whole at open, and
 * every record header is validated against the bytes that remain before its data is
 * touched, so no input can make the reader fault: this is a fuzz target. Errors name
 * the file and the byte offset of the offending record.
 *
 * Stricter than libpcap on purpose: a caplen above the file's snaplen, a caplen above
 * the original length or a timestamp fraction out of range is a corrupt record here
 * (libpcap would truncate or pass it on), because a replay must not feed a guessed
 * packet to the classifier.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_internal.h"

#define PCAP_HDR  24
#define PCAP_REC  16
#define MAGIC_US  0xa1b2c3d4u
#define MAGIC_NS  0xa1b23c4du
#define MAGIC_NG  0x0a0d0d0au
#define MAGIC_MOD 0xa1b2cd34u /* Kuznetzov's "modified pcap" */

struct io_capture {
    const uint8_t *buf;
    size_t len;
    size_t off;  /* next record */
    void *map;   /* mmap'ed region, or NULL */
    void *owned; /* read() copy, or NULL */
    bool swap;   /* file byte order differs from ours */
    bool failed;
    uint8_t lens; /* LENS_*: order of caplen and origlen in record headers */
    io_ts_prec_t prec;
    uint32_t snaplen;
    uint32_t linktype;
    char name[128];
    char errmsg[256];
};

static inline uint32_t rd32(const io_capture_t *c, const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return c->swap ? __builtin_bswap32(v) : v;
}

/*
 * Files before version 2.3 store origlen before caplen; some 2.3 writers did too. As
 * libpcap (and Wireshark): swap them below 2.3, and in 2.3 when caplen > origlen
 * (found by tests/fuzz: this reader used to take a 2.0-2.2 file's lengths the wrong
 * way round).
 */
enum { LENS_NORMAL = 0, LENS_SWAPPED, LENS_MAYBE };

/* The caplen and origlen of the record header at @p h, in the file's order. */
static inline void rd_lens(const io_capture_t *c, const uint8_t *h, uint32_t *caplen,
                           uint32_t *origlen)
{
    uint32_t a = rd32(c, h + 8), b = rd32(c, h + 12);
    bool swapped = c->lens == LENS_SWAPPED || (c->lens == LENS_MAYBE && a > b);
    *caplen = swapped ? b : a;
    *origlen = swapped ? a : b;
}

/* Decode the magic; false when it is not one we read (err says why). */
static bool parse_magic(io_capture_t *c, uint32_t m, char *err, size_t errlen)
{
    uint32_t s = __builtin_bswap32(m);
    if (m == MAGIC_US || m == MAGIC_NS) {
        c->swap = false;
        c->prec = m == MAGIC_NS ? IO_TS_NS : IO_TS_US;
    } else if (s == MAGIC_US || s == MAGIC_NS) {
        c->swap = true;
        c->prec = s == MAGIC_NS ? IO_TS_NS : IO_TS_US;
    } else if (m == MAGIC_NG) {
        io_err(err, errlen, EINVAL, "%s: pcapng is not supported; convert with editcap -F pcap",
               c->name);
        return false;
    } else if (m == MAGIC_MOD || s == MAGIC_MOD) {
        io_err(err, errlen, EINVAL,
               "%s: modified (Kuznetzov) pcap is not supported; convert with editcap -F pcap",
               c->name);
        return false;
    } else {
        io_err(err, errlen, EINVAL, "%s: not a pcap file (magic 0x%08" PRIx32 " at byte 0)",
               c->name, m);
        return false;
    }
    return true;
}

/* Validate the 24-byte file header. */
static bool parse_header(io_capture_t *c, char *err, size_t errlen)
{
    if (c->len == 0) {
        io_err(err, errlen, EINVAL, "%s: empty file (no pcap header)", c->name);
        return false;
    }
    if (c->len >= 4 && !parse_magic(c, rd32(c, c->buf), err, errlen))
        return false;
    if (c->len < PCAP_HDR) {
        io_err(err, errlen, EINVAL, "%s: truncated pcap file header (%zu of 24 bytes)", c->name,
               c->len);
        return false;
    }
    uint32_t ver;
    memcpy(&ver, c->buf + 4, 4);
    uint16_t major = (uint16_t)(c->swap ? __builtin_bswap16((uint16_t)ver) : (uint16_t)ver);
    uint16_t minor = (uint16_t)(ver >> 16);
    minor = c->swap ? __builtin_bswap16(minor) : minor;
    if (major != 2) {
        io_err(err, errlen, EINVAL, "%s: unsupported pcap version %u at byte 4", c->name, major);
        return false;
    }
    c->lens = minor < 3 ? LENS_SWAPPED : minor == 3 ? LENS_MAYBE : LENS_NORMAL;
    c->snaplen = rd32(c, c->buf + 16);
    c->linktype = rd32(c, c->buf + 20) & 0x0fffffffu; /* high bits: FCS flags */
    if (c->snaplen == 0 || c->snaplen > IO_CAPTURE_MAX_CAPLEN)
        c->snaplen = IO_CAPTURE_MAX_CAPLEN; /* libpcap treats these as "no limit" too */
    c->off = PCAP_HDR;
    return true;
}

static io_capture_t *capture_new(const char *name)
{
    io_capture_t *c = co_mem_alloc(sizeof(*c), 64);
    if (c != NULL)
        snprintf(c->name, sizeof(c->name), "%s", name ? name : "(capture)");
    return c;
}

io_capture_t *io_capture_open_mem(const char *name, const void *buf, size_t len, char *err,
                                  size_t errlen)
{
    io_capture_t *c = capture_new(name);
    if (c == NULL) {
        io_err(err, errlen, ENOMEM, "%s: out of memory", name);
        return NULL;
    }
    c->buf = buf;
    c->len = buf ? len : 0;
    if (!parse_header(c, err, errlen)) {
        io_capture_close(c);
        return NULL;
    }
    return c;
}

/* Map the file, or read it when it cannot be mapped (a pipe, /dev/stdin). */
static bool load_file(io_capture_t *c, int fd, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        c->len = (size_t)st.st_size;
        if (c->len == 0)
            return true;
        c->map = mmap(NULL, c->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (c->map != MAP_FAILED) {
            madvise(c->map, c->len, MADV_SEQUENTIAL);
            c->buf = c->map;
            return true;
        }
        c->map = NULL;
    }
    size_t cap = 1 << 20, n = 0;
    uint8_t *b = co_mem_alloc(cap, 64);
    while (b != NULL) {
        if (n == cap) { /* grow by doubling */
            uint8_t *nb = co_mem_alloc(cap * 2, 64);
            if (nb != NULL)
                memcpy(nb, b, n);
            co_mem_free(b);
            b = nb;
            cap *= 2;
            continue;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            io_err(err, errlen, errno, "%s: read: %s", c->name, strerror(errno));
            co_mem_free(b);
            return false;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (b == NULL) {
        io_err(err, errlen, ENOMEM, "%s: out of memory reading the file", c->name);
        return false;
    }
    c->owned = b;
    c->buf = b;
    c->len = n;
    return true;
}

io_capture_t *io_capture_open(const char *path, char *err, size_t errlen)
{
    io_capture_t *c = capture_new(path);
    if (c == NULL) {
        io_err(err, errlen, ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        io_err(err, errlen, errno, "%s: %s", path, strerror(errno));
        io_capture_close(c);
        return NULL;
    }
    bool ok = load_file(c, fd, err, errlen);
    close(fd);
    if (!ok || !parse_header(c, err, errlen)) {
        io_capture_close(c);
        return NULL;
    }
    return c;
}

void io_capture_close(io_capture_t *c)
{
    if (c == NULL)
        return;
    if (c->map != NULL)
        munmap(c->map, c->len);
    co_mem_free(c->owned);
    co_mem_free(c);
}

/* Record the error at @off and return -1. */
__attribute__((format(printf, 3, 4))) static int rec_fail(io_capture_t *c, size_t off,
                                                          const char *fmt, ...)
{
    char what[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(c->errmsg, sizeof(c->errmsg), "%s: %s at byte %zu", c->name, what, off);
    c->failed = true;
    return -1;
}

/* Validate the record header at c->off; returns 0 with *caplen set, or -1. */
static int check_record(io_capture_t *c, const uint8_t *h, uint32_t *caplen_out)
{
    size_t left = c->len - c->off - PCAP_REC;
    uint32_t frac = rd32(c, h + 4), caplen, origlen;
    rd_lens(c, h, &caplen, &origlen);
    uint32_t frac_max = c->prec == IO_TS_NS ? 1000000000u : 1000000u;
    if (caplen > c->snaplen)
        return rec_fail(c, c->off, "corrupt record: caplen %" PRIu32 " exceeds snaplen %" PRIu32,
                        caplen, c->snaplen);
    if (caplen > origlen)
        return rec_fail(c, c->off,
                        "corrupt record: caplen %" PRIu32 " exceeds original length %" PRIu32,
                        caplen, origlen);
    if (frac >= frac_max)
        return rec_fail(c, c->off, "corrupt record: timestamp fraction %" PRIu32 " out of range",
                        frac);
    if (caplen > left)
        return rec_fail(c, c->off, "truncated record (caplen %" PRIu32 ", %zu bytes left)", caplen,
                        left);
    *caplen_out = caplen;
    return 0;
}

int io_capture_next(io_capture_t *c, uint64_t *ts_ns, const uint8_t **data, uint32_t *caplen,
                    uint32_t *origlen, char *err, size_t errlen)
{
    int rc = 1;
    if (c->failed) {
        rc = -1;
    } else if (c->off == c->len) {
        return 0;
    } else if (c->len - c->off < PCAP_REC) {
        rc = rec_fail(c, c->off, "truncated record header (%zu of 16 bytes)", c->len - c->off);
    }
    uint32_t cl = 0;
    const uint8_t *h = c->buf + c->off;
    if (rc == 1)
        rc = check_record(c, h, &cl) == 0 ? 1 : -1;
    if (rc < 0) {
        io_err(err, errlen, EINVAL, "%s", c->errmsg);
        return -1;
    }
    uint64_t sec = rd32(c, h), frac = rd32(c, h + 4);
    if (ts_ns)
        *ts_ns = sec * 1000000000ull + (c->prec == IO_TS_NS ? frac : frac * 1000u);
    if (data)
        *data = h + PCAP_REC;
    if (caplen)
        *caplen = cl;
    if (origlen) {
        uint32_t ignored;
        rd_lens(c, h, &ignored, origlen);
    }
    c->off += PCAP_REC + cl;
    return 1;
}

const char *io_capture_error(const io_capture_t *c)
{
    return c->failed ? c->errmsg : "";
}

void io_capture_rewind(io_capture_t *c)
{
    c->off = PCAP_HDR;
    c->failed = false;
    c->errmsg[0] = '\0';
}

uint64_t io_capture_offset(const io_capture_t *c)
{
    return c->off;
}

uint64_t io_capture_size(const io_capture_t *c)
{
    return c->len;
}

io_ts_prec_t io_capture_precision(const io_capture_t *c)
{
    return c->prec;
}

uint32_t io_capture_linktype(const io_capture_t *c)
{
    return c->linktype;
}

int io_capture_scan(io_capture_t *c, io_capture_info_t *info)
{
    memset(info, 0, sizeof(*info));
    info->precision = c->prec;
    info->linktype = c->linktype;
    info->file_bytes = c->len;
    io_capture_rewind(c);
    uint64_t ts, prev = 0;
    uint32_t caplen;
    int rc;
    info->valid_bytes = c->off;
    while ((rc = io_capture_next(c, &ts, NULL, &caplen, NULL, NULL, 0)) == 1) {
        if (info->packets == 0)
            info->first_ts_ns = ts;
        else if (ts < prev)
            info->backward_ts++;
        prev = ts;
        info->last_ts_ns = ts;
        info->packets++;
        info->bytes += caplen;
        if (caplen > info->max_caplen)
            info->max_caplen = caplen;
        info->valid_bytes = c->off;
    }
    if (rc < 0) {
        info->error = 1;
        snprintf(info->errmsg, sizeof(info->errmsg), "%s", c->errmsg);
    }
    io_capture_rewind(c);
    return rc < 0 ? -1 : 0;
}
