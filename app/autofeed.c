/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Feeds from a capture (app.h, app_autofeed_yaml): `mdmux replay X.pcap` with no
 * configuration scans the capture with lib/io's reader and classifier and makes every
 * UDP destination (address, port) a single-line MoldUDP64/ITCH feed named
 * "address:port", in order of first appearance. The result is YAML text that goes
 * through the ordinary loader, so an automatic configuration is validated exactly as
 * a written one is.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "io.h"

/* One destination seen. */
typedef struct dest {
    uint32_t ip_be;
    uint16_t port_be;
} dest_t;

static bool seen(const dest_t *d, unsigned n, uint32_t ip, uint16_t port)
{
    for (unsigned i = 0; i < n; i++)
        if (d[i].ip_be == ip && d[i].port_be == port)
            return true;
    return false;
}

/* Collect the distinct UDP destinations of @p path into @p d (at most @p max). */
static int scan(const char *path, dest_t *d, unsigned max, unsigned *n, char *err, size_t errlen)
{
    io_capture_t *c = io_capture_open(path, err, errlen);
    if (c == NULL)
        return -1;
    uint64_t ts;
    const uint8_t *data;
    uint32_t caplen, origlen;
    char cerr[256];
    uint64_t frames = 0, malformed = 0;
    *n = 0;
    /* a truncated capture still gives the feeds of its valid prefix; the replay then
       reports the error and exits non-zero */
    while (io_capture_next(c, &ts, &data, &caplen, &origlen, cerr, sizeof(cerr)) == 1) {
        io_pkt_info_t pi;
        io_verdict_t v = io_classify(NULL, data, caplen, &pi);
        frames++;
        malformed += v == IO_MALFORMED;
        if (v != IO_UNKNOWN || seen(d, *n, pi.dst_ip_be, pi.dst_port_be))
            continue;
        if (*n == max) {
            snprintf(err, errlen,
                     "%s: more than %u UDP destinations: give a configuration (-c) that names "
                     "the feeds",
                     path, max);
            io_capture_close(c);
            return -1;
        }
        d[(*n)++] = (dest_t){pi.dst_ip_be, pi.dst_port_be};
    }
    io_capture_close(c);
    if (*n == 0) {
        snprintf(err, errlen,
                 "%s: no valid UDP datagram in %lu frames (%lu malformed, e.g. a bad IPv4 "
                 "checksum): no feed to replay",
                 path, (unsigned long)frames, (unsigned long)malformed);
        return -1;
    }
    return 0;
}

char *app_autofeed_yaml(const char *capture, unsigned *nfeeds, char *err, size_t errlen)
{
    dest_t d[CFG_MAX_MUX_FEEDS];
    unsigned n;
    if (scan(capture, d, CFG_MAX_MUX_FEEDS, &n, err, errlen) < 0)
        return NULL;
    size_t cap = 256 + (size_t)n * 96;
    char *y = malloc(cap);
    if (y == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t k = (size_t)snprintf(y, cap,
                                "version: 1\n"
                                "# a capture's feeds usually start mid-session: join on the first "
                                "packet\nfeed_defaults: {sync_first: true}\nfeeds:\n");
    for (unsigned i = 0; i < n; i++) {
        char ip[INET_ADDRSTRLEN];
        struct in_addr a = {.s_addr = d[i].ip_be};
        inet_ntop(AF_INET, &a, ip, sizeof(ip));
        k += (size_t)snprintf(y + k, cap - k, "  - name: \"%s:%u\"\n    a: {group: %s, port: %u}\n",
                              ip, ntohs(d[i].port_be), ip, ntohs(d[i].port_be));
    }
    *nfeeds = n;
    return y;
}
