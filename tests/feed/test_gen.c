/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The pure feed core against the generator's truth: mdmux-gen writes an impaired
 * A/B capture (loss on each line and on both, skew, jitter, reordering, duplicates,
 * truncated / corrupt frames, corrupt payloads, zero-length datagrams); every frame
 * is classified (lib/io, no EAL), parsed and fed to one core per feed in capture
 * time. Then, per feed:
 *   - the gap events cover exactly the truth's lost_both ranges (and all are final:
 *     no re-request server here);
 *   - every other message of 1..last_seq is published exactly once;
 *   - messages are in strict sequence order;
 *   - one end of session; malformed payloads counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "io.h"
#include "testutil.h"

#define FEEDS 4

static char base[128];

static void run_gen(unsigned seed)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "%s -q -o %s.pcap --feeds %d --seed %u --duration-ms 150 --loss-a 0.05 "
             "--loss-b 0.05 --loss-both 0.003 --skew-us 500 --jitter-us 100 --reorder 0.01 "
             "--dup 0.01 --truncate 0.01 --corrupt 0.01 --corrupt-payload 0.01 "
             "--zero-udp 0.01",
             MDMUX_GEN_BIN, base, FEEDS, seed);
    assert_int_equal(system(cmd), 0);
}

/* (group, port) of the generator's layout -> feed, line; false if not a feed's. */
static bool which(uint32_t ip_be, uint16_t port_be, unsigned *feed, uint8_t *line)
{
    uint32_t ip = ntohl(ip_be);
    uint16_t port = ntohs(port_be);
    for (uint8_t l = 0; l < 2; l++) {
        uint32_t net = l == 0 ? 0xEF640000u : 0xEF650000u; /* 239.100 / 239.101 */
        unsigned i = port - (l == 0 ? 30000u : 31000u);
        if (i < FEEDS && ip == net + i + 1) {
            *feed = i;
            *line = l;
            return true;
        }
    }
    return false;
}

/* One frame to the core of its feed. */
static void feed_frame(harness_t **h, const uint8_t *f, uint32_t len, uint64_t ts)
{
    io_pkt_info_t info;
    unsigned feed;
    uint8_t line;
    if (io_classify(NULL, f, len, &info) != IO_UNKNOWN ||
        !which(info.dst_ip_be, info.dst_port_be, &feed, &line))
        return; /* malformed at L2-L4 (the classifier counts those), noise */
    harness_t *x = h[feed];
    h_advance(x, ts);
    mold_pkt_t p;
    mold_err_t e = mold_parse(f + info.l4_payload_off, info.l4_payload_len, &p);
    if (e != MOLD_OK) {
        feed_core_malformed(x->core, line, e);
    } else if (p.kind != MOLD_DATA) {
        feed_core_heartbeat(x->core, line, p.session, p.seq, p.kind == MOLD_END_OF_SESSION, x->now);
    } else {
        h_pkt_s(x, p.session, line, p.seq, p.count, ts);
    }
}

/* Mark the truth's lost_both ranges of feed @p jf in @p lost (1-based). */
static void truth_lost(json_t *jf, bool *lost, uint64_t n)
{
    json_t *r;
    size_t i;
    json_array_foreach(json_object_get(jf, "lost_both"), i, r)
    {
        uint64_t a = (uint64_t)json_integer_value(json_array_get(r, 0));
        uint64_t b = (uint64_t)json_integer_value(json_array_get(r, 1));
        for (uint64_t s = a; s <= b && s <= n; s++)
            lost[s] = true;
    }
}

static void check_feed(harness_t *h, json_t *jf)
{
    uint64_t n = (uint64_t)json_integer_value(json_object_get(jf, "last_seq"));
    bool *lost = calloc(n + 2, 1), *gap = calloc(n + 2, 1), *fin = calloc(n + 2, 1);
    uint8_t *got = calloc(n + 2, 1);
    truth_lost(jf, lost, n);
    uint64_t last = 0;
    for (unsigned i = 0; i < h->nlog; i++) {
        const h_item_t *it = &h->log[i];
        if (it->kind == H_KIND_EV) {
            for (uint64_t s = it->seq; it->ev == MD_EV_GAP && s <= it->to && s <= n; s++)
                gap[s] = true;
            for (uint64_t s = it->seq; it->ev == MD_EV_GAP_FINAL && s <= it->to && s <= n; s++)
                fin[s] = true;
            continue;
        }
        assert_true(it->seq >= 1 && it->seq <= n);
        assert_false(got[it->seq]++);
        assert_true(it->seq > last); /* nothing recovered without a server: strict order */
        last = it->seq;
    }
    uint64_t nlost = 0;
    for (uint64_t s = 1; s <= n; s++) {
        if (lost[s] != gap[s] || lost[s] != fin[s] || lost[s] == !!got[s])
            fail_msg("seq %lu: lost_both %d gap %d final %d published %d", (unsigned long)s,
                     lost[s], gap[s], fin[s], got[s]);
        nlost += lost[s];
    }
    assert_int_equal(h->st.end_of_session, 1);
    json_t *la = json_object_get(json_object_get(jf, "lines"), "A");
    json_t *lb = json_object_get(json_object_get(jf, "lines"), "B");
    uint64_t bad = 0;
    for (unsigned l = 0; l < 2; l++) {
        json_t *j = l == 0 ? la : lb;
        bad += (uint64_t)json_integer_value(json_object_get(j, "corrupt_payload")) +
               (uint64_t)json_integer_value(json_object_get(j, "zero_length"));
    }
    assert_int_equal(h->st.line[0].malformed + h->st.line[1].malformed, bad);
    fprintf(stderr, "%s: %lu messages, %lu lost on both, %lu gaps, skew samples %lu\n",
            json_string_value(json_object_get(jf, "name")), (unsigned long)n, (unsigned long)nlost,
            (unsigned long)h->st.gaps, (unsigned long)feed_core_skew(h->core)->count);
    free(lost);
    free(gap);
    free(fin);
    free(got);
}

/* Remove what mdmux-gen wrote. */
static void remove_outputs(void)
{
    const char *ext[] = {".pcap", ".truth.json", ".yaml", ".messages.jsonl"};
    char path[256];
    for (unsigned i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s%s", base, ext[i]);
        unlink(path);
    }
}

/* One generated capture through the cores (the feed_core defaults: window, wait). */
static void against_truth(unsigned seed)
{
    snprintf(base, sizeof(base), "/tmp/mdmux-feed-gen-%d", (int)getpid());
    run_gen(seed);
    char path[256], err[512];
    snprintf(path, sizeof(path), "%s.pcap", base);
    io_capture_t *c = io_capture_open(path, err, sizeof(err));
    snprintf(path, sizeof(path), "%s.truth.json", base);
    json_error_t je;
    json_t *truth = json_load_file(path, 0, &je);
    remove_outputs(); /* read (the capture is mapped): nothing is left behind on a failure */
    assert_non_null(c);
    assert_non_null(truth);
    feed_core_conf_t k = {.line_timeout_ns = 1000000000};
    harness_t *h[FEEDS];
    for (unsigned i = 0; i < FEEDS; i++)
        h[i] = h_new(&k);
    const uint8_t *f;
    uint32_t len;
    uint64_t ts, t0 = 0;
    while (io_capture_next(c, &ts, &f, &len, NULL, err, sizeof(err)) == 1) {
        if (t0 == 0)
            t0 = ts - 1000;
        feed_frame(h, f, len, ts - t0);
    }
    io_capture_close(c);
    for (unsigned i = 0; i < FEEDS; i++) {
        h_advance(h[i], h[i]->now + 100000000); /* let every gap become final */
        feed_core_flush(h[i]->core, h[i]->now);
        assert_false(h[i]->bad);
        assert_true(h_all_released(h[i]));
        check_feed(h[i], json_array_get(json_object_get(truth, "feeds"), i));
        h_free(h[i]);
    }
    json_decref(truth);
}

static void test_against_truth(void **state)
{
    (void)state;
    for (unsigned seed = 5; seed < 8; seed++)
        against_truth(seed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_truth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
