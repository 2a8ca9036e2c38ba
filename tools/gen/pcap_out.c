/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pcap_out.c: a nanosecond pcap writer. Hand-written rather than pcap_dump(): the
 * format is two fixed headers, and one big buffer instead of a stdio call per frame
 * is what lets the generator write millions of frames a second.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

#define PCAP_MAGIC_NS 0xa1b23c4du
#define LINKTYPE_ETH  1u
#define SNAPLEN       65535u
#define BUF_SIZE      (1u << 20)

struct pcap_out {
    FILE *f;
    size_t n;
    int err;
    uint8_t buf[BUF_SIZE];
};

static void flush(struct pcap_out *p)
{
    if (p->n && fwrite(p->buf, 1, p->n, p->f) != p->n)
        p->err = 1;
    p->n = 0;
}

static void put(struct pcap_out *p, const void *data, size_t len)
{
    if (p->n + len > BUF_SIZE)
        flush(p);
    memcpy(p->buf + p->n, data, len);
    p->n += len;
}

/* The pcap file header, written in native byte order as libpcap does. */
struct pcap_file_hdr {
    uint32_t magic;
    uint16_t major, minor;
    int32_t thiszone;
    uint32_t sigfigs, snaplen, linktype;
};

struct pcap_out *pcap_out_open(const char *path)
{
    struct pcap_out *p = malloc(sizeof(*p));
    const struct pcap_file_hdr hdr = {PCAP_MAGIC_NS, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETH};

    if (!p)
        return NULL;
    p->f = fopen(path, "wb");
    if (!p->f) {
        free(p);
        return NULL;
    }
    p->n = 0;
    p->err = 0;
    put(p, &hdr, sizeof(hdr));
    return p;
}

void pcap_out_write(struct pcap_out *p, uint64_t t_ns, const uint8_t *frame, unsigned len)
{
    const uint32_t rec[4] = {(uint32_t)(t_ns / 1000000000u), (uint32_t)(t_ns % 1000000000u), len,
                             len};
    put(p, rec, sizeof(rec));
    put(p, frame, len);
}

int pcap_out_close(struct pcap_out *p)
{
    int err;

    flush(p);
    err = p->err | (fclose(p->f) != 0);
    free(p);
    return err ? -1 : 0;
}
