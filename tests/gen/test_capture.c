/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tools/gen: read generated captures back with libpcap and check them against the
 * truth file and the messages file with a parser of our own: every frame's
 * Ethernet/VLAN/IPv4/UDP headers and checksums, per-line counts, MoldUDP64
 * sequencing, every message's bytes, order-book consistency, timing and rates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <pcap/pcap.h>

#include "gen_test.h"

enum { V_ACCEPT, V_OTHER, V_BAD };
enum {
    R_ETH_SHORT,
    R_VLAN_SHORT,
    R_IP_SHORT,
    R_IP_VERSION,
    R_IP_IHL,
    R_IP_LEN,
    R_IP_CHECKSUM,
    R_IP_FRAGMENT,
    R_UDP_SHORT,
    R_UDP_LEN,
    R_N
};
static const char *const reason_names[R_N] = {
    "eth_short", "vlan_short",  "ip_short",    "ip_version", "ip_ihl",
    "ip_len",    "ip_checksum", "ip_fragment", "udp_short",  "udp_len"};

struct cls {
    int verdict, reason, have_dst, tags;
    uint32_t dst;
    uint16_t dport;
    const uint8_t *payload;
    unsigned len;
};

/* ---- an independent classifier, by the rules of the plan ------------------------- */

static uint16_t fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

static uint32_t sum16(const uint8_t *p, unsigned n)
{
    uint32_t s = 0;
    for (unsigned i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    return s;
}

static int udp_checksum_ok(const uint8_t *ip, const uint8_t *udp, unsigned ulen)
{
    if (gt_be(udp + 6, 2) == 0)
        return 1;
    uint32_t s = sum16(ip + 12, 8) + 17 + ulen + sum16(udp, ulen);
    return fold(s) == 0xffff;
}

static struct cls bad(struct cls c, int reason)
{
    c.verdict = V_BAD;
    c.reason = reason;
    return c;
}

static struct cls classify(const uint8_t *f, unsigned len)
{
    struct cls c = {0};
    unsigned off = 12;

    if (len < 14)
        return bad(c, R_ETH_SHORT);
    uint16_t et = (uint16_t)gt_be(f + 12, 2);
    while ((et == 0x8100 || et == 0x88a8) && c.tags < 2) {
        if (len < off + 6)
            return bad(c, R_VLAN_SHORT);
        et = (uint16_t)gt_be(f + off + 4, 2);
        off += 4;
        c.tags++;
    }
    off += 2;
    if (et != 0x0800) {
        c.verdict = V_OTHER;
        return c;
    }
    const uint8_t *ip = f + off;
    unsigned avail = len - off, ihl = (ip[0] & 15u) * 4;
    if (avail < 20)
        return bad(c, R_IP_SHORT);
    if (ip[0] >> 4 != 4)
        return bad(c, R_IP_VERSION);
    if (ihl < 20)
        return bad(c, R_IP_IHL);
    if (avail < ihl)
        return bad(c, R_IP_SHORT);
    c.dst = (uint32_t)gt_be(ip + 16, 4);
    c.have_dst = 1;
    if (fold(sum16(ip, ihl)) != 0xffff)
        return bad(c, R_IP_CHECKSUM);
    unsigned tot = (unsigned)gt_be(ip + 2, 2);
    if (tot > avail || tot < ihl)
        return bad(c, R_IP_LEN);
    if (gt_be(ip + 6, 2) & 0x3fff)
        return bad(c, R_IP_FRAGMENT);
    if (ip[9] != 17) {
        c.verdict = V_OTHER;
        return c;
    }
    if (tot - ihl < 8)
        return bad(c, R_UDP_SHORT);
    const uint8_t *udp = ip + ihl;
    unsigned ulen = (unsigned)gt_be(udp + 4, 2);
    if (ulen < 8 || ulen > tot - ihl)
        return bad(c, R_UDP_LEN);
    /* The generator promises valid UDP checksums: a bad one is its bug. */
    assert_true(udp_checksum_ok(ip, udp, ulen));
    c.dport = (uint16_t)gt_be(udp + 2, 2);
    c.payload = udp + 8;
    c.len = ulen - 8;
    c.verdict = V_ACCEPT;
    return c;
}

/* ---- what the test saw --------------------------------------------------------- */

struct obs_line {
    uint32_t group;
    uint16_t port;
    json_t *truth;
    uint64_t packets, bytes, heartbeats, eos, dups, late, corrupt_payload, zero, ip_bad;
    uint64_t max_next; /* highest seq + 1 of a data packet seen */
    uint8_t *rx;       /* per seq: received intact on this line */
    uint8_t *seen_pkt; /* per seq: a packet starting at this seq was seen */
    uint64_t *t_pkt;   /* per seq: capture time of the packet starting there */
};

struct obs_feed {
    const char *name, *session;
    uint64_t messages;
    json_t *truth;
    struct obs_line line[2];
    uint32_t *msg_off; /* per seq: offset into the message store + 1, 0 = never received */
    uint8_t *msg_len;
    uint64_t *t_first; /* per seq: capture time of its first arrival */
};

static struct run {
    char dir[256];
    const char *args;
    json_t *truth;
    unsigned nfeeds;
    struct obs_feed *feeds;
    uint8_t *store;
    size_t store_n, store_cap;
    uint64_t frames, unknown, other, bad[R_N];
    uint64_t midnight;
    json_t **msgs; /* the messages file, one object per line */
    size_t nmsgs;
} R;

static struct obs_line *find_line(uint32_t group, uint16_t port, struct obs_feed **feed)
{
    for (unsigned i = 0; i < R.nfeeds; i++)
        for (int w = 0; w < 2; w++) {
            struct obs_line *l = &R.feeds[i].line[w];
            if (l->group == group && (port == 0 || l->port == port)) {
                *feed = &R.feeds[i];
                return l;
            }
        }
    return NULL;
}

static uint32_t parse_ip(const char *s)
{
    unsigned a, b, c, d;
    assert_int_equal(sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d), 4);
    return a << 24 | b << 16 | c << 8 | d;
}

static void load_truth(void)
{
    char path[512];
    json_error_t e;
    snprintf(path, sizeof(path), "%s/cap.truth.json", R.dir);
    R.truth = json_load_file(path, 0, &e);
    assert_non_null(R.truth);
    R.midnight = (uint64_t)json_integer_value(json_object_get(R.truth, "midnight_ns"));
    json_t *feeds = json_object_get(R.truth, "feeds");
    R.nfeeds = (unsigned)json_array_size(feeds);
    R.feeds = calloc(R.nfeeds, sizeof(*R.feeds));
    for (unsigned i = 0; i < R.nfeeds; i++) {
        struct obs_feed *f = &R.feeds[i];
        f->truth = json_array_get(feeds, i);
        f->name = json_string_value(json_object_get(f->truth, "name"));
        f->session = json_string_value(json_object_get(f->truth, "session"));
        f->messages = (uint64_t)json_integer_value(json_object_get(f->truth, "messages"));
        f->msg_off = calloc(f->messages + 2, sizeof(uint32_t));
        f->msg_len = calloc(f->messages + 2, 1);
        f->t_first = calloc(f->messages + 2, sizeof(uint64_t));
        for (int w = 0; w < 2; w++) {
            struct obs_line *l = &f->line[w];
            l->truth = json_object_get(json_object_get(f->truth, "lines"), w ? "B" : "A");
            l->group = parse_ip(json_string_value(json_object_get(l->truth, "group")));
            l->port = (uint16_t)json_integer_value(json_object_get(l->truth, "port"));
            l->rx = calloc(f->messages + 2, 1);
            l->seen_pkt = calloc(f->messages + 2, 1);
            l->t_pkt = calloc(f->messages + 2, sizeof(uint64_t));
        }
    }
}

static void store_msg(struct obs_feed *f, uint64_t seq, const uint8_t *m, unsigned n, uint64_t t)
{
    assert_true(seq >= 1 && seq <= f->messages);
    if (f->msg_off[seq]) {
        /* Both lines carry the same bytes for a sequence number. */
        assert_int_equal(f->msg_len[seq], n);
        assert_memory_equal(R.store + f->msg_off[seq] - 1, m, n);
        return;
    }
    if (R.store_n + n > R.store_cap) {
        R.store_cap = R.store_cap ? 2 * R.store_cap : 1 << 20;
        R.store = realloc(R.store, R.store_cap);
    }
    memcpy(R.store + R.store_n, m, n);
    R.store_n += n;
    f->msg_off[seq] = (uint32_t)(R.store_n - n + 1);
    f->msg_len[seq] = (uint8_t)n;
    f->t_first[seq] = t;
}

/* Walk the blocks; 0 if a block overruns the packet (payload corruption). */
static int blocks_ok(const uint8_t *p, unsigned len, unsigned count)
{
    unsigned off = 20;
    for (unsigned i = 0; i < count; i++) {
        if (off + 2 > len)
            return 0;
        unsigned n = (unsigned)gt_be(p + off, 2);
        if (off + 2 + n > len)
            return 0;
        off += 2 + n;
    }
    return off == len;
}

static void data_packet(struct obs_feed *f, struct obs_line *l, const uint8_t *p, unsigned len,
                        uint64_t seq, unsigned count, uint64_t t)
{
    if (!blocks_ok(p, len, count)) {
        l->corrupt_payload++;
        return;
    }
    if (l->seen_pkt[seq]) {
        l->dups++;
        return;
    }
    l->seen_pkt[seq] = 1;
    l->t_pkt[seq] = t;
    if (seq < l->max_next)
        l->late++;
    if (seq + count > l->max_next)
        l->max_next = seq + count;
    unsigned off = 20;
    for (unsigned i = 0; i < count; i++) {
        unsigned n = (unsigned)gt_be(p + off, 2);
        l->rx[seq + i] = 1;
        store_msg(f, seq + i, p + off + 2, n, t);
        off += 2 + n;
    }
}

static void mold(struct obs_feed *f, struct obs_line *l, const struct cls *c, uint64_t t)
{
    if (c->len == 0) {
        l->zero++;
        return;
    }
    assert_true(c->len >= 20);
    assert_memory_equal(c->payload, f->session, 10);
    uint64_t seq = gt_be(c->payload + 10, 8);
    unsigned count = (unsigned)gt_be(c->payload + 18, 2);
    if (count == 0) {
        l->heartbeats++;
        assert_int_equal(c->len, 20);
        return;
    }
    if (count == 0xffff) {
        l->eos++;
        assert_int_equal(seq, f->messages + 1);
        return;
    }
    data_packet(f, l, c->payload, c->len, seq, count, t);
}

static void check_macs(const uint8_t *f, uint32_t group, int which)
{
    const uint8_t mac[6] = {
        0x01, 0x00, 0x5e, (uint8_t)(group >> 16 & 0x7f), (uint8_t)(group >> 8), (uint8_t)group};
    assert_memory_equal(f, mac, 6);
    assert_int_equal(f[11], which ? 0x0b : 0x0a);
}

static void frame(const uint8_t *data, unsigned len, uint64_t t)
{
    struct cls c = classify(data, len);
    struct obs_feed *f = NULL;

    R.frames++;
    if (c.verdict == V_OTHER) {
        R.other++;
        return;
    }
    if (c.verdict == V_BAD) {
        R.bad[c.reason]++;
        struct obs_line *l = c.have_dst ? find_line(c.dst, 0, &f) : NULL;
        if (l)
            l->ip_bad++;
        return;
    }
    struct obs_line *l = find_line(c.dst, c.dport, &f);
    if (!l) {
        R.unknown++;
        return;
    }
    check_macs(data, l->group, l == &f->line[1]);
    l->packets++;
    l->bytes += c.len;
    mold(f, l, &c, t);
}

static void read_pcap(void)
{
    char path[512], err[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *h;
    const u_char *data;
    uint64_t last = 0;
    int rc;

    snprintf(path, sizeof(path), "%s/cap.pcap", R.dir);
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
    assert_non_null(p);
    assert_int_equal(pcap_datalink(p), DLT_EN10MB);
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        uint64_t t = (uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec;
        assert_true(t >= last); /* the capture is in time order */
        last = t;
        assert_int_equal(h->caplen, h->len);
        frame(data, h->caplen, t);
    }
    assert_int_equal(rc, PCAP_ERROR_BREAK);
    pcap_close(p);
}

static void load_messages(void)
{
    char path[512], *line = NULL;
    size_t cap = 0, n = 0;
    snprintf(path, sizeof(path), "%s/cap.messages.jsonl", R.dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (getline(&line, &cap, f) > 0) {
        if (R.nmsgs == n) {
            n = n ? 2 * n : 4096;
            R.msgs = realloc(R.msgs, n * sizeof(*R.msgs));
        }
        json_error_t e;
        R.msgs[R.nmsgs] = json_loads(line, 0, &e);
        assert_non_null(R.msgs[R.nmsgs]);
        R.nmsgs++;
    }
    free(line);
    fclose(f);
}

static int setup_run(const char *args)
{
    char cmd[2048];
    memset(&R, 0, sizeof(R));
    gt_tmpdir(R.dir, sizeof(R.dir));
    R.args = args;
    snprintf(cmd, sizeof(cmd), "-o cap.pcap --quiet %s", args);
    if (gt_run(R.dir, cmd) != 0) {
        char *e = gt_slurp_in(R.dir, "err", NULL);
        fprintf(stderr, "mdmux-gen %s failed: %s\n", cmd, e ? e : "?");
        free(e);
        return -1;
    }
    load_truth();
    read_pcap();
    load_messages();
    return 0;
}

static int teardown_run(void **state)
{
    (void)state;
    for (unsigned i = 0; i < R.nfeeds; i++) {
        struct obs_feed *f = &R.feeds[i];
        free(f->msg_off);
        free(f->msg_len);
        free(f->t_first);
        for (int w = 0; w < 2; w++) {
            free(f->line[w].rx);
            free(f->line[w].seen_pkt);
            free(f->line[w].t_pkt);
        }
    }
    for (size_t i = 0; i < R.nmsgs; i++)
        json_decref(R.msgs[i]);
    free(R.msgs);
    free(R.feeds);
    free(R.store);
    json_decref(R.truth);
    gt_rmdir(R.dir);
    return 0;
}

static uint64_t tnum(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("truth: no integer '%s'", key);
    return (uint64_t)json_integer_value(v);
}

/* ---- the checks ------------------------------------------------------------------ */

/* Classifier view: frames, unknown, other and malformed by reason, exactly. */
static void test_classifier_counts(void **state)
{
    (void)state;
    json_t *cl = json_object_get(R.truth, "classifier");
    json_t *mal = json_object_get(cl, "malformed");
    uint64_t line_frames = 0;

    assert_int_equal(R.frames, tnum(R.truth, "frames"));
    assert_int_equal(R.unknown, tnum(cl, "unknown_flow"));
    assert_int_equal(R.other, tnum(cl, "other"));
    for (int r = 0; r < R_N; r++) {
        json_t *v = json_object_get(mal, reason_names[r]);
        assert_int_equal(R.bad[r], v ? (uint64_t)json_integer_value(v) : 0);
    }
    for (unsigned i = 0; i < R.nfeeds; i++)
        for (int w = 0; w < 2; w++)
            line_frames += tnum(R.feeds[i].line[w].truth, "frames");
    assert_int_equal(line_frames + R.unknown + R.other, R.frames);
}

/* Per line: packets, bytes, heartbeats, duplicates, late (reordered), damage. */
static void test_line_counts(void **state)
{
    (void)state;
    for (unsigned i = 0; i < R.nfeeds; i++)
        for (int w = 0; w < 2; w++) {
            struct obs_line *l = &R.feeds[i].line[w];
            json_t *t = l->truth, *why = json_object_get(t, "malformed_reasons");
            assert_int_equal(l->packets, tnum(t, "packets"));
            assert_int_equal(l->bytes, tnum(t, "bytes"));
            assert_int_equal(tnum(t, "frames"), tnum(t, "packets") + tnum(t, "malformed"));
            assert_int_equal(l->heartbeats, tnum(t, "heartbeats"));
            assert_int_equal(l->eos, tnum(t, "end_session"));
            assert_int_equal(l->dups, tnum(t, "duplicates"));
            assert_int_equal(l->late, tnum(t, "reordered"));
            assert_int_equal(l->corrupt_payload, tnum(t, "corrupt_payload"));
            assert_int_equal(l->zero, tnum(t, "zero_length"));
            /* Frames whose IPv4 header survived can be told to their line. */
            assert_int_equal(l->ip_bad, tnum(why, "ip_len") + tnum(why, "ip_checksum"));
        }
}

static int in_ranges(json_t *ranges, uint64_t seq)
{
    size_t i;
    json_t *r;
    json_array_foreach(ranges, i, r)
    {
        if (seq >= (uint64_t)json_integer_value(json_array_get(r, 0)) &&
            seq <= (uint64_t)json_integer_value(json_array_get(r, 1)))
            return 1;
    }
    return 0;
}

/* Every sequence number is received intact on a line unless the truth says it was lost there. */
static void test_sequencing(void **state)
{
    (void)state;
    for (unsigned i = 0; i < R.nfeeds; i++) {
        struct obs_feed *f = &R.feeds[i];
        json_t *la = json_object_get(f->truth, "lost_a"), *lb = json_object_get(f->truth, "lost_b");
        json_t *both = json_object_get(f->truth, "lost_both");
        assert_int_equal(tnum(f->truth, "first_seq"), 1);
        assert_int_equal(tnum(f->truth, "last_seq"), f->messages);
        for (uint64_t s = 1; s <= f->messages; s++) {
            int a = f->line[0].rx[s], b = f->line[1].rx[s];
            assert_int_equal(a, !in_ranges(la, s));
            assert_int_equal(b, !in_ranges(lb, s));
            assert_int_equal(!a && !b, in_ranges(both, s));
        }
    }
}

static struct obs_feed *feed_named(const char *name)
{
    for (unsigned i = 0; i < R.nfeeds; i++)
        if (strcmp(R.feeds[i].name, name) == 0)
            return &R.feeds[i];
    fail_msg("messages file: unknown feed %s", name);
    return NULL;
}

/* The messages file lists every message once, in order, with the bytes that were sent. */
static void test_messages_file(void **state)
{
    (void)state;
    uint64_t *next = calloc(R.nfeeds, sizeof(*next)), total = 0;
    for (size_t k = 0; k < R.nmsgs; k++) {
        json_t *m = json_deep_copy(R.msgs[k]);
        struct obs_feed *f = feed_named(json_string_value(json_object_get(m, "feed")));
        uint64_t seq = tnum(m, "seq");
        assert_int_equal(seq, ++next[f - R.feeds]);
        json_object_del(m, "feed");
        json_object_del(m, "seq");
        if (!f->msg_off[seq]) {
            assert_true(in_ranges(json_object_get(f->truth, "lost_both"), seq));
        } else {
            json_t *d = gt_decode(R.store + f->msg_off[seq] - 1, f->msg_len[seq]);
            assert_non_null(d);
            if (!json_equal(d, m)) {
                char *a = json_dumps(d, JSON_SORT_KEYS), *b = json_dumps(m, JSON_SORT_KEYS);
                fail_msg("%s seq %llu: sent %s, file says %s", f->name, (unsigned long long)seq, a,
                         b);
            }
            json_decref(d);
        }
        json_decref(m);
    }
    for (unsigned i = 0; i < R.nfeeds; i++) {
        assert_int_equal(next[i], R.feeds[i].messages);
        total += next[i];
    }
    assert_int_equal(total, tnum(R.truth, "messages"));
    free(next);
}

/* ---- order-book consistency, replayed from the messages file ---------------------- */

struct otab {
    uint64_t *ref;
    int64_t *shares; /* -1: dead */
    size_t mask;
};

static int64_t *ofind(struct otab *t, uint64_t ref, int insert)
{
    size_t i = (ref * 0x9e3779b97f4a7c15ull) & t->mask;
    while (t->ref[i] && t->ref[i] != ref)
        i = (i + 1) & t->mask;
    if (!t->ref[i]) {
        if (!insert)
            return NULL;
        t->ref[i] = ref;
        t->shares[i] = 0;
    } else if (insert) {
        fail_msg("order %llu added twice", (unsigned long long)ref);
    }
    return &t->shares[i];
}

static int64_t *olive(struct otab *t, uint64_t ref)
{
    int64_t *s = ofind(t, ref, 0);
    if (!s || *s <= 0)
        fail_msg("order %llu referenced but not live", (unsigned long long)ref);
    return s;
}

static void apply(struct otab *t, json_t *m, char type)
{
    uint64_t ref = 0;
    int64_t *s;
    if (strchr("AFECXD", type))
        ref = tnum(m, "order_reference_number");
    if (type == 'U')
        ref = tnum(m, "original_order_reference_number");
    switch (type) {
    case 'A':
    case 'F':
        *ofind(t, ref, 1) = (int64_t)tnum(m, "shares");
        break;
    case 'E':
    case 'C':
    case 'X':
        s = olive(t, ref);
        *s -= (int64_t)tnum(m, type == 'X' ? "canceled_shares" : "executed_shares");
        assert_true(*s >= 0);
        assert_true(type != 'X' || *s > 0); /* a cancel leaves shares; a delete removes */
        break;
    case 'D':
        *olive(t, ref) = -1;
        break;
    case 'U':
        *olive(t, ref) = -1;
        *ofind(t, tnum(m, "new_order_reference_number"), 1) = (int64_t)tnum(m, "shares");
        break;
    }
}

static void test_order_consistency(void **state)
{
    (void)state;
    size_t cap = 1;
    while (cap < 4 * R.nmsgs + 16)
        cap <<= 1;
    for (unsigned i = 0; i < R.nfeeds; i++) {
        struct otab t = {calloc(cap, 8), calloc(cap, 8), cap - 1};
        uint8_t locates[65536] = {0};
        uint64_t last_ts = 0, n = 0;
        for (size_t k = 0; k < R.nmsgs; k++) {
            json_t *m = R.msgs[k];
            if (strcmp(json_string_value(json_object_get(m, "feed")), R.feeds[i].name) != 0)
                continue;
            char type = json_string_value(json_object_get(m, "type"))[0];
            uint64_t loc = tnum(m, "locate"), ts = tnum(m, "ts");
            if (n++ == 0)
                assert_string_equal(json_string_value(json_object_get(m, "event_code")), "O");
            assert_true(ts >= last_ts);
            last_ts = ts;
            if (type == 'R')
                locates[loc] = 1;
            else if (loc != 0)
                assert_true(locates[loc]); /* announced by its directory message first */
            apply(&t, m, type);
        }
        free(t.ref);
        free(t.shares);
    }
}

/* Message times are nanoseconds since midnight, a little before their capture time. */
static void test_timestamps(void **state)
{
    (void)state;
    for (size_t k = 0; k < R.nmsgs; k++) {
        json_t *m = R.msgs[k];
        struct obs_feed *f = feed_named(json_string_value(json_object_get(m, "feed")));
        uint64_t seq = tnum(m, "seq"), ts = tnum(m, "ts");
        if (!f->t_first[seq])
            continue;
        uint64_t cap = f->t_first[seq] - R.midnight;
        assert_true(ts < cap);
        assert_true(cap - ts < 1000000); /* within 1 ms */
    }
}

/* Line B lags line A by about the skew (the runs use the default 20 +- 5 us). */
static void test_skew(void **state)
{
    (void)state;
    double sum = 0;
    uint64_t n = 0;
    for (unsigned i = 0; i < R.nfeeds; i++) {
        struct obs_feed *f = &R.feeds[i];
        for (uint64_t s = 1; s <= f->messages; s++)
            if (f->line[0].t_pkt[s] && f->line[1].t_pkt[s]) {
                sum += (double)f->line[1].t_pkt[s] - (double)f->line[0].t_pkt[s];
                n++;
            }
    }
    assert_true(n > 20);
    double mean = sum / (double)n;
    assert_true(mean > 14000 && mean < 26000);
}

/* Rates are honoured roughly: counts within 50% (plus a little) of rate x packets. */
static void near(const char *what, double got, double rate, double packets)
{
    double want = rate * packets;
    if (fabs(got - want) > 0.5 * want + 3)
        fail_msg("%s: %.0f events, expected about %.1f", what, got, want);
}

static double sum_line(int w, const char *key)
{
    double s = 0;
    for (unsigned i = 0; i < R.nfeeds; i++)
        s += (double)tnum(R.feeds[i].line[w].truth, key);
    return s;
}

static double opt(const char *key)
{
    return json_real_value(json_object_get(json_object_get(R.truth, "options"), key));
}

static void test_rates(void **state)
{
    (void)state;
    for (int w = 0; w < 2; w++) {
        /* Data packets made = what the line sent, minus extras, plus what it lost. */
        double sent = sum_line(w, "frames") - sum_line(w, "duplicates") -
                      sum_line(w, "heartbeats") - sum_line(w, "end_session") -
                      sum_line(w, "zero_length");
        double made = sent + sum_line(w, "lost");
        near("lost", sum_line(w, "lost"), opt(w ? "loss_b" : "loss_a") + opt("loss_both"), made);
        near("truncated", sum_line(w, "truncated"), opt("truncate"), sent);
        near("corrupt", sum_line(w, "corrupt"), opt("corrupt"), sent);
        near("corrupt_payload", sum_line(w, "corrupt_payload"), opt("corrupt_payload"), sent);
        near("duplicates", sum_line(w, "duplicates"), opt("dup"), sent);
        near("reordered", sum_line(w, "reordered"), opt("reorder"), sent);
    }
}

static int setup_impaired(void **state)
{
    (void)state;
    return setup_run("--feeds 6 --seed 7 --duration-ms 60 --vlan 100 --loss-a 0.02 --loss-b 0.02 "
                     "--loss-both 0.01 --reorder 0.02 --dup 0.02 --truncate 0.01 --corrupt 0.01 "
                     "--corrupt-payload 0.01 --zero-udp 0.005 --unknown 0.005 --noise 0.005");
}

static int setup_qinq_jumbo(void **state)
{
    (void)state;
    return setup_run("--feeds 3 --seed 11 --packets-per-feed 1500 --qinq 10,20 --jumbo "
                     "--loss-a 0.01 --truncate 0.02 --corrupt 0.01 --dup 0.01 --reorder 0.01 "
                     "--burst-factor 20 --no-end-session");
}

/* A slow feed: heartbeats during trading too, no bursts, a steady lag. */
static int setup_slow(void **state)
{
    (void)state;
    return setup_run("--feeds 2 --seed 5 --rate 300 --duration-ms 40 --burst-every-ms 0 "
                     "--heartbeat-ms 0.5 --jitter-us 0 --unknown 0.05 --noise 0.05 --clean "
                     "--loss-b 0.05");
}

/* Flapping lines that overlap (true gaps) on top of random impairments: silenced
   packets are in lost_a / lost_b / lost_both like lost ones. */
static int setup_flap(void **state)
{
    (void)state;
    return setup_run("--feeds 3 --seed 9 --duration-ms 40 --flap-ms 3 --flap-overlap "
                     "--loss-a 0.01 --dup 0.01 --reorder 0.01 --truncate 0.01 --zero-udp 0.01");
}

static int setup_default(void **state)
{
    (void)state;
    return setup_run("--feeds 4 --seed 3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classifier_counts),
        cmocka_unit_test(test_line_counts),
        cmocka_unit_test(test_sequencing),
        cmocka_unit_test(test_messages_file),
        cmocka_unit_test(test_order_consistency),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_skew),
        cmocka_unit_test(test_rates),
    };
    int rc = cmocka_run_group_tests_name("impaired+vlan", tests, setup_impaired, teardown_run);
    rc |= cmocka_run_group_tests_name("qinq+jumbo", tests, setup_qinq_jumbo, teardown_run);
    rc |= cmocka_run_group_tests_name("slow", tests, setup_slow, teardown_run);
    rc |= cmocka_run_group_tests_name("flap", tests, setup_flap, teardown_run);
    rc |= cmocka_run_group_tests_name("defaults", tests, setup_default, teardown_run);
    return rc;
}
