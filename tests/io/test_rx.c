/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/io on the EAL: io_rx_poll on a net_pcap vdev over a pcap written here, with exact
 * accounting of every frame (accepted, channel-full drops with a 4-slot channel that
 * nobody drains, malformed by reason, other, unknown and the top list), then replays
 * (looped, paced, truncated file). Runs in the normal and ASan trees; no wall-clock
 * assertions (paced replay checks orderings, not durations). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_ethdev.h>

#include "io.h"
#include "frames.h"

#define GROUP_A 0xef640001u
#define GROUP_B 0xef650001u
#define N_A     10
#define N_B     3
#define N_UNK   2
#define N_ALL   (N_A + N_B + N_UNK + 3)

static char pcap_path[64], cut_path[64];
static size_t cut_valid; /* records in the cut file */

/* The test capture: A x10, B x3, unknown x2, ARP, bad checksum, truncated; 1 us apart. */
static void write_capture(void)
{
    pcap_buf_t p = {0};
    pb_header(&p, 1, 0, 65535);
    uint8_t f[2048];
    uint64_t ts = 1700000000000000000ull;
    frame_spec_t a = {.tags = 1, .dst_ip = GROUP_A, .dst_port = 30000, .payload = 50};
    frame_spec_t b = {.tags = 2, .dst_ip = GROUP_B, .dst_port = 31000, .payload = 60};
    frame_spec_t u = {.dst_ip = 0xef010203u, .dst_port = 5000, .payload = 10};
    unsigned len;
    for (int i = 0; i < N_A + N_B; i++) {
        len = frame_build(f, i % 4 == 3 && i / 4 < N_B ? &b : &a);
        pb_record(&p, ts += 1000, f, len, len);
    }
    for (int i = 0; i < N_UNK; i++) {
        len = frame_build(f, &u);
        pb_record(&p, ts += 1000, f, len, len);
    }
    len = frame_build(f, &u);
    put16(f + 12, 0x0806); /* ARP: other */
    pb_record(&p, ts += 1000, f, len, len);
    len = frame_build(f, &a);
    f[18 + 8] ^= 0x10; /* TTL: checksum now wrong */
    pb_record(&p, ts += 1000, f, len, len);
    len = frame_build(f, &a);
    pb_record(&p, ts += 1000, f, len - 10, len); /* cut by the capture: ip_len */
    snprintf(pcap_path, sizeof(pcap_path), "/tmp/mdmux_io_rx_%d.pcap", (int)getpid());
    FILE *fp = fopen(pcap_path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p.b, 1, p.len, fp), p.len);
    fclose(fp);
    /* the same file cut inside its 6th record */
    snprintf(cut_path, sizeof(cut_path), "/tmp/mdmux_io_rx_cut_%d.pcap", (int)getpid());
    fp = fopen(cut_path, "wb");
    assert_non_null(fp);
    size_t off = 24;
    for (int i = 0; i < 5; i++) {
        uint32_t cl;
        memcpy(&cl, p.b + off + 8, 4);
        off += 16 + cl;
    }
    cut_valid = 5;
    assert_int_equal(fwrite(p.b, 1, off + 30, fp), off + 30);
    fclose(fp);
    free(p.b);
}

static int setup(void **state)
{
    (void)state;
    write_capture();
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "mdmux_test_io_rx%d", (int)getpid());
    io_eal_opts_t o = {
        .prog = "test_io_rx", .lcores = "0", .file_prefix = prefix, .log_level = "*:error"};
    const char *argv[IO_EAL_ARGS_MAX];
    char buf[1024];
    int argc = io_eal_args(&o, argv, buf, sizeof(buf));
    assert_true(argc > 5);
    char err[512];
    int rc = io_eal_init(&o, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    assert_true(io_mbuf_meta_off >= 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(pcap_path);
    unlink(cut_path);
    io_eal_cleanup();
    return 0;
}

static void test_eal_args(void **state)
{
    (void)state;
    const char *extra[] = {"--log-level=pmd:debug"};
    const char *allow[] = {"0000:3b:00.0"};
    io_eal_opts_t o = {.file_prefix = "p1",
                       .hugepages = true,
                       .allow = allow,
                       .n_allow = 1,
                       .extra = extra,
                       .n_extra = 1,
                       .memory_mb = 512};
    const char *argv[IO_EAL_ARGS_MAX];
    char buf[1024];
    int argc = io_eal_args(&o, argv, buf, sizeof(buf));
    char line[1024] = "";
    for (int i = 0; i < argc; i++) {
        strcat(line, argv[i]);
        strcat(line, " ");
    }
    assert_non_null(strstr(line, "--in-memory "));
    assert_null(strstr(line, "--no-huge"));
    assert_null(strstr(line, "--no-pci"));
    assert_non_null(strstr(line, "-a0000:3b:00.0 "));
    assert_non_null(strstr(line, "-m512 "));
    assert_non_null(strstr(line, "--no-telemetry "));
    assert_non_null(strstr(line, "--file-prefix=p1 "));
    assert_string_equal(argv[argc - 1], "--log-level=pmd:debug");
    assert_null(argv[argc]);
    io_eal_opts_t d = {0};
    argc = io_eal_args(&d, argv, buf, sizeof(buf));
    line[0] = '\0';
    for (int i = 0; i < argc; i++) {
        strcat(line, argv[i]);
        strcat(line, " ");
    }
    assert_non_null(strstr(line, "--no-huge --no-shconf -m256 --no-pci --no-telemetry "));
    assert_non_null(strstr(line, "--file-prefix=mdmux"));
}

static io_flow_table_t *flows(void)
{
    io_flow_table_t *t = io_flow_table_new(4, -1);
    assert_non_null(t);
    assert_int_equal(io_flow_table_add(t, htonl(GROUP_A), htons(30000), 0, 0), 0);
    assert_int_equal(io_flow_table_add(t, htonl(GROUP_B), htons(31000), 0, 1), 0);
    return t;
}

/* Poll until @frames frames were seen or the replay is done (bounded, no clock). */
static void poll_until(io_rx_t *rx, uint64_t frames)
{
    io_rx_stats_t st;
    for (long i = 0; i < 50000000; i++) {
        io_rx_poll(rx);
        io_rx_stats(rx, &st);
        if (st.frames >= frames || io_rx_done(rx))
            return;
    }
}

static unsigned drain(chs_t *ch, uint8_t line, uint16_t plen, uint64_t *last_intended)
{
    struct rte_mbuf *m[64];
    unsigned n = chs_recv_burst(ch, m, 64);
    for (unsigned i = 0; i < n; i++) {
        io_mbuf_meta_t *meta = io_mbuf_meta(m[i]);
        assert_int_equal(meta->feed, 0);
        assert_int_equal(meta->line, line);
        assert_int_equal(meta->payload_len, plen);
        assert_int_equal(io_mbuf_payload(m[i])[5], 5); /* the builder's payload bytes */
        assert_true(meta->rx_tsc != 0);
        assert_true(meta->rx_tsc >= meta->intended_tsc); /* never released early */
        if (last_intended != NULL) {
            assert_true(meta->intended_tsc >= *last_intended);
            *last_intended = meta->intended_tsc;
        }
    }
    rte_pktmbuf_free_bulk(m, n);
    return n;
}

static void check_counts(io_rx_t *rx, uint64_t loops, uint64_t a_full)
{
    io_rx_stats_t st;
    io_rx_stats(rx, &st);
    assert_int_equal(st.frames, N_ALL * loops);
    assert_int_equal(st.accepted, (N_A + N_B) * loops);
    assert_int_equal(st.unknown, N_UNK * loops);
    assert_int_equal(st.other, 1 * loops);
    assert_int_equal(st.malformed[IO_BAD_IP_CHECKSUM], loops);
    assert_int_equal(st.malformed[IO_BAD_IP_LEN], loops);
    assert_int_equal(st.malformed_total, 2 * loops);
    assert_int_equal(st.n_top, 1);
    assert_int_equal(st.top[0].dst_ip_be, htonl(0xef010203u));
    assert_int_equal(st.top[0].dst_port_be, htons(5000));
    assert_int_equal(st.top[0].frames, N_UNK * loops);
    io_line_stats_t a, b;
    io_rx_line_stats(rx, 0, 0, &a);
    io_rx_line_stats(rx, 0, 1, &b);
    assert_int_equal(a.packets, N_A * loops);
    assert_int_equal(a.bytes, 50 * N_A * loops);
    assert_int_equal(a.channel_full, a_full);
    assert_int_equal(b.packets, N_B * loops);
    assert_int_equal(b.channel_full, 0);
}

/* net_pcap port "t@p k" on the test capture (vdev net_pcap_rx@p k). */
static int open_capture_port(int k)
{
    char dev[128], name[16], err[512];
    snprintf(dev, sizeof(dev), "net_pcap_rx%d,rx_pcap=%s", k, pcap_path);
    snprintf(name, sizeof(name), "t%d", k);
    io_port_conf_t pc = {
        .name = name, .device = dev, .rx_queues = 1, .rx_socket = -1, .pool_mbufs = 1023};
    int port = io_port_open(&pc, err, sizeof(err));
    if (port < 0)
        fail_msg("%s", err);
    return port;
}

static void test_rx_poll_channel_full(void **state)
{
    (void)state;
    int port = open_capture_port(0);
    assert_false(io_port_hw_timestamp((uint16_t)port));
    io_flow_table_t *t = flows();
    io_rx_t *rx = io_rx_new(&(io_rx_conf_t){.flows = t, .n_feeds = 1, .socket = -1});
    assert_non_null(rx);
    chs_t *ca = chs_new(sizeof(struct rte_mbuf *), 4, -1); /* tiny, not drained */
    chs_t *cb = chs_new(sizeof(struct rte_mbuf *), 64, -1);
    assert_int_equal(chs_cap(ca), 4);
    assert_int_equal(io_rx_set_channel(rx, 0, 0, ca), 0);
    assert_int_equal(io_rx_set_channel(rx, 0, 1, cb), 0);
    assert_int_equal(io_rx_set_channel(rx, 1, 0, ca), -EINVAL);
    assert_int_equal(io_rx_add_queue(rx, (uint16_t)port, 0), 0);
    poll_until(rx, N_ALL);
    for (int i = 0; i < 1000; i++) /* more polls: the file is done, nothing changes */
        assert_int_equal(io_rx_poll(rx), 0);
    check_counts(rx, 1, N_A - 4);
    assert_int_equal(drain(ca, 0, 50, NULL), 4);
    assert_int_equal(drain(cb, 1, 60, NULL), N_B);
    io_rx_free(rx);
    chs_free(ca);
    chs_free(cb);
    io_flow_table_free(t);
    io_port_close((uint16_t)port);
}

/* Lines on a doorbell (as app/run.c gives a handler lcore's): RX sends without ringing
   and rings once per doorbell word and burst. Line A's channel is bit 0 of word 0 and
   line B's bit 6 of word 1 (so a burst's ring changes words), and a channel on the
   bell that RX never sends to is never rung. */
static void test_rx_rings_the_doorbell(void **state)
{
    (void)state;
    int port = open_capture_port(4);
    io_flow_table_t *t = flows();
    io_rx_t *rx = io_rx_new(&(io_rx_conf_t){.flows = t, .n_feeds = 1, .socket = -1});
    assert_non_null(rx);
    chs_bell_t *bell = chs_bell_new(-1);
    chs_t *ca = chs_new(sizeof(struct rte_mbuf *), 64, -1);
    chs_t *cb = chs_new(sizeof(struct rte_mbuf *), 64, -1);
    chs_t *spare[69];
    assert_int_equal(chs_bell_add(bell, ca), 0);
    for (int i = 0; i < 69; i++) {
        spare[i] = chs_new(sizeof(struct rte_mbuf *), 2, -1);
        assert_int_equal(chs_bell_add(bell, spare[i]), 0);
    }
    assert_int_equal(chs_bell_add(bell, cb), 0);
    uint64_t abit = 0, bbit = 0, sbit = 0;
    _Atomic uint64_t *aw = chs_doorbell(ca, &abit), *bw = chs_doorbell(cb, &bbit);
    _Atomic uint64_t *sw = chs_doorbell(spare[3], &sbit);
    assert_ptr_equal(bw, aw + 1);
    assert_int_equal(abit, 1ull << 0);
    assert_int_equal(bbit, 1ull << 6);
    assert_int_equal(io_rx_set_channel(rx, 0, 0, ca), 0);
    assert_int_equal(io_rx_set_channel(rx, 0, 1, cb), 0);
    assert_int_equal(io_rx_add_queue(rx, (uint16_t)port, 0), 0);
    poll_until(rx, N_ALL);
    assert_true(atomic_load(aw) & abit);
    assert_true(atomic_load(bw) & bbit);
    assert_false(atomic_load(sw) & sbit);
    assert_int_equal(atomic_load(aw), abit); /* nothing else in word 0 */
    assert_int_equal(atomic_load(bw), bbit);
    assert_int_equal(drain(ca, 0, 50, NULL), N_A);
    assert_int_equal(drain(cb, 1, 60, NULL), N_B);
    io_rx_free(rx);
    chs_free(ca);
    chs_free(cb);
    for (int i = 0; i < 69; i++)
        chs_free(spare[i]);
    chs_bell_free(bell);
    io_flow_table_free(t);
    io_port_close((uint16_t)port);
}

/* Both lines into one shared channel (a handler lcore's ingress ring): what it cannot
   take is counted as channel_full on each packet's own line, and what it took is in RX
   order with the lines' counts adding up. */
static void test_rx_shared_channel(void **state)
{
    (void)state;
    int port = open_capture_port(1);
    io_flow_table_t *t = flows();
    io_rx_t *rx = io_rx_new(&(io_rx_conf_t){.flows = t, .n_feeds = 1, .socket = -1});
    assert_non_null(rx);
    chs_t *c = chs_new(sizeof(struct rte_mbuf *), 4, -1); /* tiny, not drained */
    assert_int_equal(io_rx_set_channel(rx, 0, 0, c), 0);
    assert_int_equal(io_rx_set_channel(rx, 0, 1, c), 0);
    assert_int_equal(io_rx_add_queue(rx, (uint16_t)port, 0), 0);
    poll_until(rx, N_ALL);
    io_line_stats_t a, b;
    io_rx_line_stats(rx, 0, 0, &a);
    io_rx_line_stats(rx, 0, 1, &b);
    assert_int_equal(a.packets, N_A);
    assert_int_equal(b.packets, N_B);
    assert_int_equal(a.channel_full + b.channel_full, N_A + N_B - 4);
    struct rte_mbuf *m[8];
    assert_int_equal(chs_recv_burst(c, m, 8), 4);
    uint64_t got[2] = {0, 0};
    for (unsigned i = 0; i < 4; i++)
        got[io_mbuf_meta(m[i])->line]++;
    assert_int_equal(got[0], N_A - a.channel_full);
    assert_int_equal(got[1], N_B - b.channel_full);
    rte_pktmbuf_free_bulk(m, 4);
    io_rx_free(rx);
    chs_free(c);
    io_flow_table_free(t);
    io_port_close((uint16_t)port);
}

/* Replay @path with @speed and @loops through big channels; returns the replay for checks. */
static void run_replay(const char *speed, uint64_t loops)
{
    io_replay_conf_t rc = {
        .path = pcap_path, .pace = {.loops = loops}, .rx_socket = -1, .pool_mbufs = 1023};
    assert_int_equal(io_pacer_parse_speed(speed, &rc.pace), 0);
    char err[512];
    io_replay_t *r = io_replay_open(&rc, err, sizeof(err));
    if (r == NULL)
        fail_msg("%s", err);
    assert_int_equal(io_replay_info(r)->packets, N_ALL);
    assert_int_equal(io_replay_info(r)->error, 0);
    io_flow_table_t *t = flows();
    io_rx_t *rx = io_rx_new(&(io_rx_conf_t){.flows = t, .n_feeds = 1, .socket = -1});
    chs_t *ca = chs_new(sizeof(struct rte_mbuf *), 256, -1);
    chs_t *cb = chs_new(sizeof(struct rte_mbuf *), 256, -1);
    io_rx_set_channel(rx, 0, 0, ca);
    io_rx_set_channel(rx, 0, 1, cb);
    io_rx_attach_replay(rx, r);
    uint64_t last_a = 0, last_b = 0;
    unsigned got_a = 0, got_b = 0;
    for (long i = 0; i < 100000000 && !io_rx_done(rx); i++) {
        io_rx_poll(rx);
        got_a += drain(ca, 0, 50, &last_a);
        got_b += drain(cb, 1, 60, &last_b);
    }
    assert_true(io_rx_done(rx));
    got_a += drain(ca, 0, 50, &last_a);
    got_b += drain(cb, 1, 60, &last_b);
    assert_int_equal(got_a, N_A * loops);
    assert_int_equal(got_b, N_B * loops);
    check_counts(rx, loops, 0);
    io_replay_progress_t pr;
    io_replay_progress(r, &pr);
    assert_true(pr.done);
    assert_int_equal(pr.packets, N_ALL * loops);
    assert_int_equal(pr.total, N_ALL * loops);
    assert_int_equal(pr.loop, loops - 1);
    assert_int_equal(pr.mismatches, 0);
    const io_pacer_t *p = io_replay_pacer(r);
    if (strcmp(speed, "max") != 0) {
        assert_int_equal(p->err.count, N_ALL * loops);
        assert_int_equal(p->early, 0);
    }
    io_rx_free(rx);
    chs_free(ca);
    chs_free(cb);
    io_flow_table_free(t);
    io_replay_close(r);
}

static void test_replay_max_looped(void **state)
{
    (void)state;
    run_replay("max", 3); /* loops rewind net_pcap by stop + start */
}

static void test_replay_paced(void **state)
{
    (void)state;
    run_replay("1", 2); /* 1 us gaps: intended times non-decreasing, none released early */
    run_replay("0.5", 1);
}

static void test_replay_truncated_file(void **state)
{
    (void)state;
    io_replay_conf_t rc = {
        .path = cut_path, .pace = {.loops = 2}, .rx_socket = -1, .pool_mbufs = 1023};
    char err[512];
    io_replay_t *r = io_replay_open(&rc, err, sizeof(err));
    if (r == NULL)
        fail_msg("%s", err);
    const io_capture_info_t *info = io_replay_info(r);
    assert_int_equal(info->error, 1);
    assert_int_equal(info->packets, cut_valid);
    assert_non_null(strstr(info->errmsg, cut_path));
    assert_non_null(strstr(info->errmsg, "truncated record"));
    io_rx_t *rx = io_rx_new(&(io_rx_conf_t){.flows = NULL, .n_feeds = 1, .socket = -1});
    io_rx_attach_replay(rx, r);
    for (long i = 0; i < 100000000 && !io_rx_done(rx); i++)
        io_rx_poll(rx);
    io_rx_stats_t st;
    io_rx_stats(rx, &st);
    assert_int_equal(st.frames, 2 * cut_valid); /* the valid prefix, twice */
    assert_int_equal(st.unknown, 2 * cut_valid);
    io_rx_free(rx);
    io_replay_close(r);
    /* a missing file, a path devargs cannot carry */
    rc.path = "/nonexistent.pcap";
    assert_null(io_replay_open(&rc, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent.pcap"));
    rc.path = "/tmp/a,b.pcap";
    assert_null(io_replay_open(&rc, err, sizeof(err)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eal_args),
        cmocka_unit_test(test_rx_poll_channel_full),
        cmocka_unit_test(test_rx_shared_channel),
        cmocka_unit_test(test_rx_rings_the_doorbell),
        cmocka_unit_test(test_replay_max_looped),
        cmocka_unit_test(test_replay_paced),
        cmocka_unit_test(test_replay_truncated_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
