/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/mux: the merger and its DPDK-free outputs — merged seq strict and without holes
 * over local and SPSC inputs, records back to their pool, fairness under overload
 * (counted picks; nobody starves), the JSON Lines dump lossless under a slow writer
 * (and counted drops under the drop policy), datagram packing round trip, the pcap
 * capture parsed back, cancellation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "mdmux_sub.h"
#include "mux.h"
#include "testutil.h"

static char shm_path[128], dump_path[128], pcap_path[128];

static int setup(void **state)
{
    (void)state;
    int pid = (int)getpid();
    snprintf(shm_path, sizeof(shm_path), "/dev/shm/mdmux-test-mux-%d", pid);
    snprintf(dump_path, sizeof(dump_path), "/tmp/mdmux-test-mux-%d.jsonl", pid);
    snprintf(pcap_path, sizeof(pcap_path), "/tmp/mdmux-test-mux-%d.pcap", pid);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(shm_path);
    unlink(dump_path);
    unlink(pcap_path);
    return 0;
}

/* A message record of feed @p feed, feed sequence @p fseq. */
static void fill(md_rec_t *r, uint16_t feed, uint64_t fseq)
{
    memset(r, 0, sizeof(*r));
    r->kind = MD_KIND_MSG;
    r->type = 'D';
    r->feed = feed;
    r->feed_seq = fseq;
    r->line = MD_LINE_A;
    r->locate = (uint16_t)(fseq % 100);
    r->ref = fseq * 1000 + feed;
    r->tsc_rx = co_tsc();
}

/* ---- producers: a coroutine on the mux's thread, or a thread of its own ---- */

typedef struct prod {
    ch_t *local;
    chs_t *spsc;
    pool_t *pool;
    uint16_t feed;
    uint64_t n;
} prod_t;

static md_rec_t *get_rec(pool_t *p)
{
    md_rec_t *r;
    while (!(r = pool_get(p)))
        co_self() ? co_yield() : __builtin_ia32_pause();
    return r;
}

static void local_producer(void *arg)
{
    prod_t *p = arg;
    for (uint64_t k = 1; k <= p->n; k++) {
        md_rec_t *r = get_rec(p->pool);
        fill(r, p->feed, k);
        assert_int_equal(ch_send_ptr(p->local, r, CO_BACKGROUND), 0);
    }
    ch_close(p->local);
}

static void *spsc_producer(void *arg)
{
    prod_t *p = arg;
    for (uint64_t k = 1; k <= p->n; k++) {
        md_rec_t *r = get_rec(p->pool);
        fill(r, p->feed, k);
        if (chs_send(p->spsc, &r, CO_BACKGROUND) != 0) /* spins: no scheduler here */
            abort();
    }
    chs_close(p->spsc);
    return NULL;
}

/* A writer's own thread and scheduler: the "control lcore". */
static void *writer_thread(void *arg)
{
    /* Sleeping when idle: the tests run more threads than the machine has cores. */
    co_sched_t *s = co_sched_new(&(co_sched_opts_t){.name = "writer", .idle = CO_IDLE_SLEEP});
    co_spawn(mux_writer_main, arg, &(co_opts_t){.name = "writer"});
    co_sched_run(s);
    co_sched_free(s, stderr);
    return NULL;
}

static mux_shm_t *shm(uint64_t slots)
{
    char err[256];
    mux_shm_t *s =
        mux_shm_new(&(mux_shm_conf_t){.path = shm_path, .slots = slots}, err, sizeof(err));
    if (!s)
        fail_msg("%s", err);
    return s;
}

/* Read the whole ring back (it must hold everything) into a fresh array. */
static md_rec_t *read_ring(uint64_t *n)
{
    mdmux_sub_t s;
    char err[256];
    if (mdmux_sub_open(&s, shm_path, MDMUX_SUB_FROM_OLDEST, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    uint64_t head = mdmux_sub_head(&s);
    md_rec_t *all = calloc(head ? head : 1, sizeof(md_rec_t));
    uint64_t i = 0;
    while (i < head && mdmux_sub_next(&s, &all[i]) == 1)
        i++;
    assert_int_equal(mdmux_sub_lost(&s), 0);
    mdmux_sub_close(&s);
    *n = i;
    return all;
}

/* Merged seq 1..n without holes; each feed in strict feed order; per-feed counts. */
static void check_stream(const md_rec_t *all, uint64_t n, unsigned feeds, uint64_t per_feed)
{
    uint64_t next[64] = {0};
    for (uint64_t i = 0; i < n; i++) {
        assert_int_equal(all[i].seq, i + 1);
        assert_true(all[i].feed < feeds);
        assert_int_equal(all[i].feed_seq, next[all[i].feed] + 1);
        next[all[i].feed] = all[i].feed_seq;
        assert_true(all[i].tsc_publish >= all[i].tsc_rx);
    }
    for (unsigned f = 0; f < feeds; f++)
        assert_int_equal(next[f], per_feed);
}

/* Two local and two SPSC inputs, records from one pool, shm + dump + frames. */
static void test_merge_mixed_inputs(void **state)
{
    (void)state;
    enum { FEEDS = 4 };
    const uint64_t per_feed = tu_sanitized() ? 5000 : 20000;
    co_sched_t *sched = co_sched_new(&(co_sched_opts_t){.idle = CO_IDLE_SLEEP});
    pool_t *pool = pool_new(&(pool_opts_t){
        .name = "recs", .elem_size = sizeof(md_rec_t), .count = 8192, .numa_node = -1});
    prod_t prod[FEEDS];
    mux_input_t in[FEEDS];
    for (unsigned f = 0; f < FEEDS; f++) {
        prod[f] = (prod_t){.pool = pool, .feed = (uint16_t)f, .n = per_feed};
        if (f < 2)
            prod[f].local = ch_new(sizeof(void *), 256);
        else
            prod[f].spsc = chs_new(sizeof(void *), 256, -1);
        in[f] = (mux_input_t){
            .local = prod[f].local, .spsc = prod[f].spsc, .pool = pool, .name = "feed"};
    }
    char err[256];
    const char *names[FEEDS] = {"feed00", "feed01", "feed02", "feed03"};
    mux_writer_t *dump = mux_writer_new(&(mux_writer_conf_t){.kind = MUX_WRITER_JSONL,
                                                             .path = dump_path,
                                                             .slots = 64,
                                                             .feed_names = names,
                                                             .n_feed_names = FEEDS},
                                        err, sizeof(err));
    assert_non_null(dump);
    mux_shm_t *ring = shm(2 * FEEDS * per_feed);
    mux_t *m = mux_new(&(mux_conf_t){.inputs = in, .n_inputs = FEEDS, .shm = ring, .dump = dump});
    assert_non_null(m);
    pthread_t wt, pt[2];
    assert_int_equal(pthread_create(&wt, NULL, writer_thread, dump), 0);
    for (unsigned f = 0; f < 2; f++) {
        co_spawn(local_producer, &prod[f], NULL);
        assert_int_equal(pthread_create(&pt[f], NULL, spsc_producer, &prod[2 + f]), 0);
    }
    co_spawn(mux_main, m, &(co_opts_t){.name = "mux"});
    assert_int_equal(co_sched_run(sched), 0);
    pthread_join(pt[0], NULL);
    pthread_join(pt[1], NULL);
    pthread_join(wt, NULL);

    mux_stats_t st;
    mux_stats(m, &st);
    assert_int_equal(st.published, FEEDS * per_feed);
    assert_int_equal(st.inputs_open, 0);
    for (unsigned f = 0; f < FEEDS; f++) {
        mux_input_stats_t is;
        mux_input_stats(m, f, &is);
        assert_int_equal(is.records, per_feed);
        assert_true(is.closed && is.picks > 0);
    }
    uint64_t n;
    md_rec_t *all = read_ring(&n);
    assert_int_equal(n, FEEDS * per_feed);
    check_stream(all, n, FEEDS, per_feed);
    free(all);

    /* The dump: one line per record, in merged order, feed names from the table. */
    mux_writer_stats_t ws;
    mux_writer_stats(dump, &ws);
    assert_int_equal(ws.items, FEEDS * per_feed);
    assert_int_equal(ws.drops + ws.errors + ws.invalid, 0);
    assert_true(mux_writer_done(dump));
    FILE *f = fopen(dump_path, "r");
    char line[1024];
    uint64_t lines = 0;
    while (fgets(line, sizeof(line), f)) {
        char want[48];
        snprintf(want, sizeof(want), "\"seq\":%llu,", (unsigned long long)++lines);
        assert_non_null(strstr(line, want));
        assert_non_null(strstr(line, "\"feed\":\"feed0"));
    }
    fclose(f);
    assert_int_equal(lines, FEEDS * per_feed);

    pool_stats_t ps;
    pool_stats(pool, &ps);
    assert_int_equal(ps.avail, 8192); /* every record went back */
    mux_free(m);
    mux_writer_free(dump);
    mux_shm_free(ring);
    for (unsigned i = 0; i < FEEDS; i++) {
        if (prod[i].local)
            ch_free(prod[i].local);
        else
            chs_free(prod[i].spsc);
    }
    pool_free(pool);
    co_sched_free(sched, stderr);
}

/* Overload: every input holds a full backlog before the mux starts, so all of them
   are ready at every select. With burst 1, every feed gets its share of the first half
   of the merged stream (no starvation), and picks are counted per input. */
static void run_fairness(unsigned burst)
{
    enum { FEEDS = 8, BACKLOG = 4096 };
    co_sched_t *sched = co_sched_new(NULL);
    static md_rec_t recs[FEEDS][BACKLOG];
    mux_input_t in[FEEDS];
    for (unsigned f = 0; f < FEEDS; f++) {
        ch_t *c = ch_new(sizeof(void *), BACKLOG);
        for (unsigned k = 0; k < BACKLOG; k++) {
            fill(&recs[f][k], (uint16_t)f, k + 1);
            assert_int_equal(ch_send_ptr(c, &recs[f][k], CO_BACKGROUND), 0);
        }
        ch_close(c);
        in[f] = (mux_input_t){.local = c};
    }
    mux_shm_t *ring = shm(2 * FEEDS * BACKLOG); /* slots - 1 stay readable */
    mux_t *m = mux_new(&(mux_conf_t){.inputs = in, .n_inputs = FEEDS, .shm = ring, .burst = burst});
    co_spawn(mux_main, m, NULL);
    assert_int_equal(co_sched_run(sched), 0);
    uint64_t n, share[FEEDS] = {0};
    md_rec_t *all = read_ring(&n);
    assert_int_equal(n, FEEDS * BACKLOG);
    check_stream(all, n, FEEDS, BACKLOG);
    for (uint64_t i = 0; i < n / 2; i++)
        share[all[i].feed]++;
    uint64_t fair = n / 2 / FEEDS;
    for (unsigned f = 0; f < FEEDS; f++) {
        mux_input_stats_t is;
        mux_input_stats(m, f, &is);
        print_message("burst %u feed %u: first-half share %llu (fair %llu), picks %llu\n", burst, f,
                      (unsigned long long)share[f], (unsigned long long)fair,
                      (unsigned long long)is.picks);
        assert_true(share[f] > fair * 8 / 10 && share[f] < fair * 12 / 10);
        assert_true(is.picks >= BACKLOG / burst);
        ch_free(in[f].local);
    }
    free(all);
    mux_free(m);
    mux_shm_free(ring);
    co_sched_free(sched, stderr);
}

static void test_fairness_overload(void **state)
{
    (void)state;
    run_fairness(1);
    run_fairness(8);
}

/* Overload from another thread: one SPSC input flooded by a producer that never lets
   up, one local input trickled by a feed-handler coroutine on the mux's own lcore. The
   mux never goes idle, yet the trickle feed gets all its records through while the
   flood is still running (its handler runs: the mux yields; its channel is picked:
   ch_select is fair). */
typedef struct flood {
    chs_t *ch;
    pool_t *pool;
    uint64_t sent, limit;
    int stop; /* set by the trickle when it is done (atomic) */
} flood_t;

static void *flood_thread(void *arg)
{
    flood_t *f = arg;
    md_rec_t *b[32];
    unsigned have = 0;
    while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE) && f->sent < f->limit) {
        have += pool_get_burst(f->pool, (void **)&b[have], 32 - have);
        for (unsigned i = 0; i < have; i++) /* (re)numbered: feed_seq stays contiguous */
            fill(b[i], 0, f->sent + 1 + i);
        unsigned n = chs_send_burst(f->ch, b, have); /* as fast as the ring takes them */
        memmove(b, b + n, (have - n) * sizeof(b[0]));
        have -= n;
        __atomic_store_n(&f->sent, f->sent + n, __ATOMIC_RELAXED);
    }
    pool_put_burst(f->pool, (void **)b, have);
    chs_close(f->ch);
    return NULL;
}

typedef struct trickle {
    ch_t *ch;
    flood_t *flood;
    uint64_t n, flood_at_end;
} trickle_t;

static void trickle_producer(void *arg)
{
    trickle_t *t = arg;
    static md_rec_t recs[1000];
    for (uint64_t k = 0; k < t->n; k++) {
        fill(&recs[k], 1, k + 1);
        assert_int_equal(ch_send_ptr(t->ch, &recs[k], CO_BACKGROUND), 0);
        co_yield(); /* a handler that has one message now and then */
    }
    ch_close(t->ch);
    t->flood_at_end = __atomic_load_n(&t->flood->sent, __ATOMIC_RELAXED);
    __atomic_store_n(&t->flood->stop, 1, __ATOMIC_RELEASE);
}

static void test_no_starvation_under_flood(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(NULL);
    pool_t *pool = pool_new(&(pool_opts_t){
        .name = "flood", .elem_size = sizeof(md_rec_t), .count = 4096, .numa_node = -1});
    flood_t fl = {.ch = chs_new(sizeof(void *), 1024, -1), .pool = pool, .limit = 200000000};
    trickle_t tr = {.ch = ch_new(sizeof(void *), 4), .flood = &fl, .n = 1000};
    mux_input_t in[2] = {{.spsc = fl.ch, .pool = pool}, {.local = tr.ch}};
    mux_t *m = mux_new(&(mux_conf_t){.inputs = in, .n_inputs = 2});
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, flood_thread, &fl), 0);
    while (chs_len(fl.ch) < chs_cap(fl.ch) / 2) /* the flood is on before we start */
        __builtin_ia32_pause();
    co_spawn(mux_main, m, NULL);
    co_spawn(trickle_producer, &tr, NULL);
    assert_int_equal(co_sched_run(sched), 0);
    pthread_join(th, NULL);
    mux_input_stats_t f0, f1;
    mux_input_stats(m, 0, &f0);
    mux_input_stats(m, 1, &f1);
    print_message("flood: %llu records in %llu picks; trickle: %llu records in %llu picks, "
                  "done after %llu flood records\n",
                  (unsigned long long)f0.records, (unsigned long long)f0.picks,
                  (unsigned long long)f1.records, (unsigned long long)f1.picks,
                  (unsigned long long)tr.flood_at_end);
    mux_stats_t st;
    mux_stats(m, &st);
    print_message("mux idle %llu times\n", (unsigned long long)st.idle);
    assert_int_equal(f1.records, 1000);
    assert_int_equal(f0.records, fl.sent);
    assert_true(tr.flood_at_end < fl.limit); /* finished during the flood, not after it */
    mux_free(m);
    chs_free(fl.ch);
    ch_free(tr.ch);
    pool_free(pool);
    co_sched_free(sched, stderr);
}

/* ---- dump under a slow writer: lossless with BLOCK, counted drops with DROP ---- */

static ssize_t slow_write(void *cookie, const char *buf, size_t len)
{
    FILE *f = cookie;
    usleep(50); /* a slow disk: every few records */
    return (ssize_t)fwrite(buf, 1, len, f);
}

static void run_slow_dump(mux_writer_policy_t policy, uint64_t total)
{
    co_sched_t *sched = co_sched_new(NULL);
    FILE *real = fopen(dump_path, "w");
    FILE *slow = fopencookie(real, "w", (cookie_io_functions_t){.write = slow_write});
    setvbuf(slow, NULL, _IOFBF, 512);
    char err[256];
    mux_writer_t *dump = mux_writer_new(
        &(mux_writer_conf_t){.kind = MUX_WRITER_JSONL, .fp = slow, .slots = 16, .policy = policy},
        err, sizeof(err));
    assert_non_null(dump);
    static md_rec_t recs[4096];
    ch_t *c = ch_new(sizeof(void *), total);
    for (uint64_t k = 0; k < total; k++) {
        fill(&recs[k], 0, k + 1);
        ch_send_ptr(c, &recs[k], CO_BACKGROUND);
    }
    ch_close(c);
    mux_input_t in = {.local = c};
    mux_t *m = mux_new(&(mux_conf_t){.inputs = &in, .n_inputs = 1, .dump = dump});
    pthread_t wt;
    assert_int_equal(pthread_create(&wt, NULL, writer_thread, dump), 0);
    co_spawn(mux_main, m, NULL);
    assert_int_equal(co_sched_run(sched), 0);
    pthread_join(wt, NULL);
    fclose(slow);
    fclose(real);
    mux_writer_stats_t ws;
    mux_writer_stats(dump, &ws);
    print_message("policy %d: items %llu waits %llu drops %llu\n", policy,
                  (unsigned long long)ws.items, (unsigned long long)ws.waits,
                  (unsigned long long)ws.drops);
    assert_int_equal(ws.items + ws.drops, total);
    assert_int_equal(ws.errors, 0);
    FILE *f = fopen(dump_path, "r");
    char line[1024];
    uint64_t lines = 0, last = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long seq = 0;
        assert_int_equal(sscanf(line, "{\"seq\":%llu,", &seq), 1);
        assert_true(seq > last); /* in order; with BLOCK also without holes */
        if (policy == MUX_POLICY_BLOCK)
            assert_int_equal(seq, last + 1);
        last = seq;
        lines++;
    }
    fclose(f);
    assert_int_equal(lines, ws.items);
    if (policy == MUX_POLICY_BLOCK) {
        assert_int_equal(ws.items, total);
        assert_true(ws.waits > 0); /* the writer was slow: the mux parked, counted */
    } else {
        assert_true(ws.drops > 0);
    }
    mux_free(m);
    mux_writer_free(dump);
    ch_free(c);
    co_sched_free(sched, stderr);
}

static void test_dump_lossless_slow_writer(void **state)
{
    (void)state;
    run_slow_dump(MUX_POLICY_BLOCK, 3000);
}

static void test_dump_drop_policy_counted(void **state)
{
    (void)state;
    run_slow_dump(MUX_POLICY_DROP, 3000);
}

/* Events and feed names in the dump: {"seq":..,"event":"gap",...}; unnamed ids as numbers. */
static void test_dump_events_and_names(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    const char *names[] = {"alpha"};
    char err[256];
    mux_writer_t *dump = mux_writer_new(
        &(mux_writer_conf_t){
            .kind = MUX_WRITER_JSONL, .fp = mem, .feed_names = names, .n_feed_names = 1},
        err, sizeof(err));
    assert_non_null(dump);
    static md_rec_t recs[3];
    fill(&recs[0], 0, 1);
    md_rec_event(&recs[1], MD_EV_GAP, 0, MD_LINE_NONE, 2, 5, 0);
    md_rec_event(&recs[2], MD_EV_LINE_DOWN, 7, MD_LINE_B, 0, 0, 0);
    ch_t *c = ch_new(sizeof(void *), 4);
    for (int i = 0; i < 3; i++)
        ch_send_ptr(c, &recs[i], CO_BACKGROUND);
    ch_close(c);
    mux_input_t in = {.local = c};
    mux_t *m = mux_new(&(mux_conf_t){.inputs = &in, .n_inputs = 1, .dump = dump});
    co_spawn(mux_main, m, NULL);
    co_spawn(mux_writer_main, dump, NULL); /* same thread is fine too */
    assert_int_equal(co_sched_run(sched), 0);
    fclose(mem);
    print_message("%s", buf);
    char *l1 = strtok(buf, "\n"), *l2 = strtok(NULL, "\n"), *l3 = strtok(NULL, "\n");
    assert_non_null(l3);
    assert_null(strtok(NULL, "\n"));
    assert_non_null(strstr(l1, "\"seq\":1,"));
    assert_non_null(strstr(l1, "\"feed\":\"alpha\""));
    assert_non_null(strstr(l2, "\"event\":\"gap\""));
    assert_non_null(strstr(l2, "\"seq\":2,"));
    assert_non_null(strstr(l3, "\"event\":\"line_down\""));
    assert_non_null(strstr(l3, "\"feed\":7"));
    mux_stats_t st;
    mux_stats(m, &st);
    assert_int_equal(st.events, 2);
    free(buf);
    mux_free(m);
    mux_writer_free(dump);
    ch_free(c);
    co_sched_free(sched, stderr);
}

/* ---- datagrams ---- */

typedef struct frames {
    unsigned n;
    uint32_t len[256];
    uint8_t data[256][MUX_FRAME_MAX];
} frames_t;

static void collect(void *arg, const uint8_t *frame, uint32_t len)
{
    frames_t *f = arg;
    assert_true(f->n < 256);
    memcpy(f->data[f->n], frame, len);
    f->len[f->n++] = len;
}

static mux_udp_conf_t udp_conf(uint16_t mtu)
{
    mux_udp_conf_t u = {.src_mac = {0x02, 0, 0, 0, 0, 0x0C},
                        .src_ip_be = htonl(0x0A000201),
                        .src_port_be = htons(50000),
                        .mtu = mtu};
    assert_int_equal(mux_udp_parse_dest("239.200.1.2:32000", &u), 0);
    return u;
}

static void test_pack_round_trip(void **state)
{
    (void)state;
    static frames_t fr;
    memset(&fr, 0, sizeof(fr));
    mux_udp_conf_t u = udp_conf(0);
    assert_int_equal(u.group_be, htonl(0xEFC80102));
    assert_int_equal(u.dst_port_be, htons(32000));
    mux_udp_conf_t bad;
    assert_int_equal(mux_udp_parse_dest("239.1.1.1", &bad), -EINVAL);
    assert_int_equal(mux_udp_parse_dest("239.1.1.1:0", &bad), -EINVAL);
    assert_int_equal(mux_udp_parse_dest("239.1.1:80", &bad), -EINVAL);
    assert_int_equal(mux_udp_parse_dest("239.1.1.1:70000", &bad), -EINVAL);
    mux_pack_t *p = mux_pack_new(&u, collect, &fr);
    assert_int_equal(mux_pack_per_frame(p), 11); /* (1500 - 20 - 8 - 24) / 128 */
    md_rec_t r[100];
    for (unsigned i = 0; i < 100; i++) {
        fill(&r[i], (uint16_t)(i % 3), i + 1);
        r[i].seq = 1000 + i;
        mux_pack_add(p, &r[i]);
    }
    assert_int_equal(fr.n, 9);
    mux_pack_flush(p);
    mux_pack_flush(p); /* nothing left: no empty datagram */
    assert_int_equal(fr.n, 10);
    assert_int_equal(mux_pack_frames(p), 10);
    unsigned seen = 0;
    for (unsigned i = 0; i < fr.n; i++) {
        mux_dgram_hdr_t h;
        const uint8_t *recs;
        int n = mux_dgram_parse(fr.data[i], fr.len[i], &h, &recs);
        assert_int_equal(n, i < 9 ? 11 : 1);
        assert_true(fr.len[i] <= 1514);
        assert_int_equal(h.first_seq, 1000 + seen);
        assert_int_equal(h.rec_size, sizeof(md_rec_t));
        for (int k = 0; k < n; k++, seen++)
            assert_memory_equal(recs + k * sizeof(md_rec_t), &r[seen], sizeof(md_rec_t));
        const uint8_t mac[6] = {0x01, 0x00, 0x5e, 0x48, 0x01, 0x02}; /* 239.200.1.2 */
        assert_memory_equal(fr.data[i], mac, 6);
    }
    assert_int_equal(seen, 100);
    /* Damage is rejected, never misread. */
    mux_dgram_hdr_t h;
    const uint8_t *recs;
    uint8_t *f0 = fr.data[0];
    assert_int_equal(mux_dgram_parse(f0, fr.len[0] - 1, &h, &recs), -EINVAL); /* short */
    f0[14 + 8] ^= 1; /* TTL: IP checksum now wrong */
    assert_int_equal(mux_dgram_parse(f0, fr.len[0], &h, &recs), -EINVAL);
    f0[14 + 8] ^= 1;
    f0[42] ^= 0xff; /* magic */
    assert_int_equal(mux_dgram_parse(f0, fr.len[0], &h, &recs), -EINVAL);
    f0[42] ^= 0xff;
    assert_int_equal(mux_dgram_parse(f0, fr.len[0], &h, &recs), 11);
    assert_int_equal(mux_dgram_parse(f0, 10, &h, &recs), -EINVAL);
    mux_pack_free(p);

    u.mtu = 9000;
    p = mux_pack_new(&u, collect, &fr);
    assert_int_equal(mux_pack_per_frame(p), 69); /* (9000 - 52) / 128 */
    mux_pack_free(p);
    u.mtu = 100;
    assert_null(mux_pack_new(&u, collect, &fr));
    assert_int_equal(errno, EINVAL);
}

/* The mux with datagrams: to a sink (a stand-in TX port) and to a pcap writer. */
static unsigned sink_flushes;

static void sink_flush(void *arg)
{
    (void)arg;
    sink_flushes++;
}

static void test_frames_to_sink_and_pcap(void **state)
{
    (void)state;
    static frames_t fr;
    memset(&fr, 0, sizeof(fr));
    co_sched_t *sched = co_sched_new(NULL);
    mux_udp_conf_t u = udp_conf(1500);
    char err[256];
    mux_writer_t *pcap =
        mux_writer_new(&(mux_writer_conf_t){.kind = MUX_WRITER_PCAP, .path = pcap_path, .slots = 8},
                       err, sizeof(err));
    assert_non_null(pcap);
    enum { N = 1000 };
    static md_rec_t recs[N];
    ch_t *c = ch_new(sizeof(void *), N);
    for (unsigned k = 0; k < N; k++) {
        fill(&recs[k], 5, k + 1);
        ch_send_ptr(c, &recs[k], CO_BACKGROUND);
    }
    ch_close(c);
    mux_input_t in = {.local = c};
    mux_t *m = mux_new(&(mux_conf_t){.inputs = &in,
                                     .n_inputs = 1,
                                     .udp = &u,
                                     .pcap = pcap,
                                     .tx = {.frame = collect, .flush = sink_flush, .arg = &fr}});
    assert_non_null(m);
    pthread_t wt;
    assert_int_equal(pthread_create(&wt, NULL, writer_thread, pcap), 0);
    co_spawn(mux_main, m, NULL);
    assert_int_equal(co_sched_run(sched), 0);
    pthread_join(wt, NULL);
    mux_stats_t st;
    mux_stats(m, &st);
    assert_int_equal(st.frames, (N + 10) / 11);
    assert_int_equal(fr.n, st.frames);
    assert_true(sink_flushes >= 1);

    /* The pcap: ns magic, Ethernet, and the same frames the sink got. */
    FILE *f = fopen(pcap_path, "rb");
    uint32_t gh[6], rh[4];
    assert_int_equal(fread(gh, sizeof(gh), 1, f), 1);
    assert_int_equal(gh[0], 0xa1b23c4d);
    assert_int_equal(gh[5], 1);
    unsigned frames = 0;
    uint64_t next_seq = 1;
    static uint8_t buf[MUX_FRAME_MAX];
    while (fread(rh, sizeof(rh), 1, f) == 1) {
        assert_int_equal(rh[2], rh[3]);
        assert_int_equal(fread(buf, rh[2], 1, f), 1);
        assert_int_equal(rh[2], fr.len[frames]);
        assert_memory_equal(buf, fr.data[frames], rh[2]);
        mux_dgram_hdr_t h;
        const uint8_t *r;
        int n = mux_dgram_parse(buf, rh[2], &h, &r);
        assert_true(n > 0);
        assert_int_equal(h.first_seq, next_seq);
        next_seq += (unsigned)n;
        frames++;
    }
    fclose(f);
    assert_int_equal(frames, st.frames);
    assert_int_equal(next_seq, N + 1);

    /* And libpcap reads it as a nanosecond Ethernet capture. */
    char perr[PCAP_ERRBUF_SIZE];
    pcap_t *pc =
        pcap_open_offline_with_tstamp_precision(pcap_path, PCAP_TSTAMP_PRECISION_NANO, perr);
    if (!pc)
        fail_msg("libpcap: %s", perr);
    assert_int_equal(pcap_datalink(pc), DLT_EN10MB);
    struct pcap_pkthdr *ph;
    const u_char *pd;
    unsigned lib_frames = 0;
    while (pcap_next_ex(pc, &ph, &pd) == 1)
        lib_frames++;
    pcap_close(pc);
    assert_int_equal(lib_frames, st.frames);
    mux_free(m);
    mux_writer_free(pcap);
    ch_free(c);
    co_sched_free(sched, stderr);
}

/* Cancelling the mux's context ends it; the outputs are still closed. */
static void test_cancel_closes_outputs(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(NULL);
    co_ctx_t *ctx = co_ctx_with_timeout(CO_BACKGROUND, 20 * 1000 * 1000);
    ch_t *c = ch_new(sizeof(void *), 4); /* never closed, never fed */
    mux_input_t in = {.local = c};
    mux_shm_t *ring = shm(16);
    mux_t *m = mux_new(&(mux_conf_t){.inputs = &in, .n_inputs = 1, .shm = ring, .ctx = ctx});
    co_spawn(mux_main, m, NULL);
    assert_int_equal(co_sched_run(sched), 0);
    mdmux_sub_t s;
    md_rec_t r;
    assert_int_equal(mdmux_sub_open(&s, shm_path, 0, NULL, 0), 0);
    assert_int_equal(mdmux_sub_next(&s, &r), -1); /* closed */
    mdmux_sub_close(&s);
    mux_free(m);
    mux_shm_free(ring);
    ch_free(c);
    co_ctx_free(ctx);
    co_sched_free(sched, stderr);
}

/* ---- a stalled writer (the stall test hook) and its cancellation ---- */

typedef struct stall_watch {
    prod_t *prod;
    mux_writer_t *w;
    co_ctx_t *ctx;
    uint64_t pending;
} stall_watch_t;

/* local_producer() under the watch's context: stops when it is cancelled. */
static void stall_producer(void *arg)
{
    stall_watch_t *sw = arg;
    for (uint64_t k = 1; k <= sw->prod->n; k++) {
        md_rec_t *r = get_rec(sw->prod->pool);
        fill(r, 0, k);
        if (ch_send_ptr(sw->prod->local, r, sw->ctx) != 0) {
            pool_put(sw->prod->pool, r);
            break;
        }
    }
    ch_close(sw->prod->local);
}

/* Waits for the writer's ring to fill behind the stall, then cancels. */
static void stall_canceller(void *arg)
{
    stall_watch_t *sw = arg;
    while (mux_writer_pending(sw->w) < 16)
        co_sleep(100 * 1000, CO_BACKGROUND);
    sw->pending = mux_writer_pending(sw->w);
    co_ctx_cancel(sw->ctx);
}

/* stall_after 10: ten records written and flushed, then nothing until the context is
   cancelled; the writer then returns with its ring's 16 records unwritten, and the
   mux, parked on the full ring, ends too. */
static void test_writer_stall_hook(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(&(co_sched_opts_t){.idle = CO_IDLE_SLEEP});
    co_ctx_t *ctx = co_ctx_with_cancel(CO_BACKGROUND);
    pool_t *pool = pool_new(&(pool_opts_t){
        .name = "stall", .elem_size = sizeof(md_rec_t), .count = 256, .numa_node = -1});
    prod_t prod = {.local = ch_new(sizeof(void *), 8), .pool = pool, .n = 100};
    mux_input_t in = {.local = prod.local, .pool = pool, .name = "feed"};
    char err[256];
    mux_writer_t *dump = mux_writer_new(&(mux_writer_conf_t){.kind = MUX_WRITER_JSONL,
                                                             .path = dump_path,
                                                             .slots = 16,
                                                             .stall = true,
                                                             .stall_after = 10},
                                        err, sizeof(err));
    assert_non_null(dump);
    mux_writer_set_ctx(dump, ctx);
    mux_t *m = mux_new(&(mux_conf_t){.inputs = &in, .n_inputs = 1, .dump = dump, .ctx = ctx});
    stall_watch_t sw = {.prod = &prod, .w = dump, .ctx = ctx};
    co_spawn(stall_producer, &sw, NULL);
    co_spawn(mux_main, m, NULL);
    co_spawn(mux_writer_main, dump, NULL);
    co_spawn(stall_canceller, &sw, NULL);
    assert_int_equal(co_sched_run(sched), 0);

    mux_writer_stats_t ws;
    mux_writer_stats(dump, &ws);
    assert_int_equal(ws.items, 10);
    assert_int_equal(sw.pending, 16);
    assert_true(mux_writer_done(dump));
    FILE *f = fopen(dump_path, "r");
    char line[1024];
    uint64_t lines = 0;
    while (fgets(line, sizeof(line), f))
        lines++;
    fclose(f);
    assert_int_equal(lines, 10);
    mux_stats_t st;
    mux_stats(m, &st);
    assert_true(st.published >= 10 + 16);
    md_rec_t *left;
    while (ch_tryrecv(prod.local, &left) == 0) /* what the cancelled mux did not take */
        pool_put(pool, left);
    mux_free(m);
    mux_writer_free(dump);
    ch_free(prod.local);
    pool_free(pool);
    co_ctx_free(ctx);
    co_sched_free(sched, stderr);
}

/* ---- the observer (latency recorder hook) ---- */

typedef struct obs {
    uint64_t records, bursts, idle, bad;
} obs_t;

/* Every burst: stamped records of one feed; n == 0: an idle call. */
static void observe(void *arg, md_rec_t *const *recs, unsigned n)
{
    obs_t *o = arg;
    if (n == 0) {
        o->idle++;
        return;
    }
    o->bursts++;
    for (unsigned i = 0; i < n; i++) {
        o->records++;
        o->bad += recs[i]->feed != recs[0]->feed || recs[i]->tsc_publish < recs[i]->tsc_rx ||
                  recs[i]->seq == 0;
    }
}

/* Sends half its records, sleeps (so the mux idles), sends the rest, closes. */
static void pausing_producer(void *arg)
{
    prod_t *p = arg;
    for (uint64_t k = 1; k <= p->n; k++) {
        if (k == p->n / 2 + 1)
            co_sleep(5 * 1000 * 1000, CO_BACKGROUND);
        md_rec_t *r = get_rec(p->pool);
        fill(r, p->feed, k);
        assert_int_equal(ch_send_ptr(p->local, r, CO_BACKGROUND), 0);
    }
    ch_close(p->local);
}

static void test_observer(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(NULL);
    pool_t *pool =
        pool_new(&(pool_opts_t){.name = "obs", .elem_size = sizeof(md_rec_t), .count = 512});
    prod_t p[2];
    mux_input_t in[2];
    for (unsigned i = 0; i < 2; i++) {
        p[i] = (prod_t){
            .local = ch_new(sizeof(void *), 64), .pool = pool, .feed = (uint16_t)i, .n = 1000};
        in[i] = (mux_input_t){.local = p[i].local, .pool = pool};
        co_spawn(pausing_producer, &p[i], NULL);
    }
    obs_t o = {0};
    mux_t *m = mux_new(&(mux_conf_t){.inputs = in,
                                     .n_inputs = 2,
                                     .observe = observe,
                                     .observe_arg = &o,
                                     .observe_idle_ns = 100000});
    co_spawn(mux_main, m, NULL);
    assert_int_equal(co_sched_run(sched), 0);
    assert_int_equal(o.records, 2000); /* every published record, once */
    assert_int_equal(o.bad, 0);
    assert_true(o.bursts >= 2);
    assert_true(o.idle >= 1); /* the producers' pause left the mux with nothing ready */
    mux_free(m);
    for (unsigned i = 0; i < 2; i++)
        ch_free(p[i].local);
    pool_free(pool);
    co_sched_free(sched, stderr);
}

/* An observer's idle wake-ups do not keep a cancelled (timed-out) mux alive. */
static void test_observer_timeout_ends_mux(void **state)
{
    (void)state;
    co_sched_t *sched = co_sched_new(NULL);
    co_ctx_t *ctx = co_ctx_with_timeout(CO_BACKGROUND, 20 * 1000 * 1000);
    ch_t *c = ch_new(sizeof(void *), 4); /* never closed, never fed */
    mux_input_t in = {.local = c};
    obs_t o = {0};
    mux_t *m = mux_new(&(mux_conf_t){.inputs = &in,
                                     .n_inputs = 1,
                                     .ctx = ctx,
                                     .observe = observe,
                                     .observe_arg = &o,
                                     .observe_idle_ns = 1000000});
    co_spawn(mux_main, m, NULL);
    assert_int_equal(co_sched_run(sched), 0);
    assert_true(o.idle >= 1);
    assert_int_equal(o.records, 0);
    mux_free(m);
    ch_free(c);
    co_ctx_free(ctx);
    co_sched_free(sched, stderr);
}

static void test_bad_conf(void **state)
{
    (void)state;
    ch_t *c = ch_new(sizeof(void *), 4);
    chs_t *cs = chs_new(sizeof(void *), 4, -1);
    mux_input_t both = {.local = c, .spsc = cs}, none = {0};
    assert_null(mux_new(&(mux_conf_t){.inputs = &both, .n_inputs = 1}));
    assert_int_equal(errno, EINVAL);
    assert_null(mux_new(&(mux_conf_t){.inputs = &none, .n_inputs = 1}));
    assert_null(mux_new(&(mux_conf_t){.inputs = &none, .n_inputs = 0}));
    mux_input_t ok = {.local = c};
    assert_null(mux_new(&(mux_conf_t){
        .inputs = &ok, .n_inputs = 1, .tx = {.frame = collect}})); /* frames need udp */
    ch_free(c);
    chs_free(cs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_merge_mixed_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fairness_overload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_starvation_under_flood, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_lossless_slow_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_drop_policy_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_events_and_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frames_to_sink_and_pcap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_closes_outputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_stall_hook, setup, teardown),
        cmocka_unit_test(test_observer),
        cmocka_unit_test(test_observer_timeout_ends_mux),
        cmocka_unit_test(test_bad_conf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
