/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_mux: lib/mux's data path.
 *
 *   mux.shm_publish_ns  ns per record: mux_shm_publish() of one 128-byte record into
 *                       the shared-memory ring (stamp, 16 word stores, stamp, head), the
 *                       ring in /dev/shm, no subscriber attached.
 *   mux.pack_ns         ns per record: mux_pack_add() into 1500-MTU frames (11 a frame,
 *                       header and IPv4 checksum per frame), frames discarded.
 *   mux.merge_ns        ns per record through mux_main(): 8 local inputs holding a backlog,
 *                       select, sequence, stamp, publish to the shm ring, back to the pool.
 *   mux.shm_lat_p50_ns, mux.shm_lat_p99_ns  (-L only) publish -> consume latency across
 *                       two CPUs: a publisher thread (-P CPU) publishes one record every
 *                       ~2 us with tsc_publish stamped, a subscriber thread (-C CPU)
 *                       polls mdmux_sub_next() and takes now - tsc_publish.
 *
 * Usage: bench_mux [-r reps] [-n records] [-s slots] [-L [-P cpu] [-C cpu]]
 *   -r N  repetitions, best taken (5)   -n N  records per repetition (4M)
 *   -s N  shm ring slots (65536: 8 MiB, larger than L2 as a real ring is)
 * Under callgrind, run with -r 1 -n 100k and divide Ir of mux_shm_publish by -n.
 */
#include <getopt.h>
#include <pthread.h>
#include <sched.h>

#include "bench.h"
#include "mdmux_sub.h"
#include "mux.h"

static char path[128];

static double bench_publish(mux_shm_t *s, uint64_t n)
{
    md_rec_t r;
    memset(&r, 0, sizeof(r));
    r.kind = MD_KIND_MSG;
    r.type = 'A';
    uint64_t t0 = co_tsc();
    for (uint64_t i = 0; i < n; i++) {
        r.seq = i + 1;
        mux_shm_publish(s, &r);
    }
    return bench_ticks_ns((double)(co_tsc() - t0)) / (double)n;
}

static uint64_t frames_seen;

static void discard(void *arg, const uint8_t *frame, uint32_t len)
{
    (void)arg;
    frames_seen += len + frame[0];
}

static double bench_pack(uint64_t n)
{
    mux_udp_conf_t u = {.mtu = 1500};
    mux_udp_parse_dest("239.1.1.1:5000", &u);
    mux_pack_t *p = mux_pack_new(&u, discard, NULL);
    md_rec_t r;
    memset(&r, 0, sizeof(r));
    uint64_t t0 = co_tsc();
    for (uint64_t i = 0; i < n; i++) {
        r.seq = i + 1;
        mux_pack_add(p, &r);
    }
    mux_pack_flush(p);
    double ns = bench_ticks_ns((double)(co_tsc() - t0)) / (double)n;
    mux_pack_free(p);
    return ns;
}

/* 8 inputs, each a local channel holding n/8 records from a pool, all closed: the mux
   runs flat out until they are drained. */
static double bench_merge(mux_shm_t *s, uint64_t n)
{
    enum { FEEDS = 8 };
    uint64_t per = n / FEEDS;
    co_sched_t *sched = co_sched_new(NULL);
    pool_t *pool = pool_new(&(pool_opts_t){.name = "recs",
                                           .elem_size = sizeof(md_rec_t),
                                           .count = (size_t)(per * FEEDS),
                                           .numa_node = -1});
    if (!sched || !pool)
        bench_die("merge: scheduler or pool");
    mux_input_t in[FEEDS];
    for (unsigned f = 0; f < FEEDS; f++) {
        ch_t *c = ch_new(sizeof(void *), per);
        for (uint64_t k = 0; k < per; k++) {
            md_rec_t *r = pool_get(pool);
            memset(r, 0, sizeof(*r));
            r->feed = (uint16_t)f;
            r->feed_seq = k + 1;
            ch_send_ptr(c, r, CO_BACKGROUND);
        }
        ch_close(c);
        in[f] = (mux_input_t){.local = c, .pool = pool};
    }
    mux_t *m = mux_new(&(mux_conf_t){.inputs = in, .n_inputs = FEEDS, .shm = s});
    co_spawn(mux_main, m, NULL);
    uint64_t t0 = co_tsc();
    co_sched_run(sched);
    double ns = bench_ticks_ns((double)(co_tsc() - t0)) / (double)(per * FEEDS);
    mux_free(m);
    for (unsigned f = 0; f < FEEDS; f++)
        ch_free(in[f].local);
    pool_free(pool);
    co_sched_free(sched, stderr);
    return ns;
}

/* ---- publish -> consume latency across two CPUs ---- */

struct lat {
    uint64_t n;
    int pub_cpu, sub_cpu;
    int ready; /* atomic: the subscriber has mapped the ring */
    uint64_t *samples;
};

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (rc != 0)
        bench_die("pthread_setaffinity_np(CPU %d): %s", cpu, strerror(rc));
}

static void *lat_subscriber(void *arg)
{
    struct lat *l = arg;
    pin(l->sub_cpu);
    mdmux_sub_t s;
    char err[256];
    if (mdmux_sub_open(&s, path, MDMUX_SUB_FROM_NOW, err, sizeof(err)) < 0)
        bench_die("%s", err);
    __atomic_store_n(&l->ready, 1, __ATOMIC_RELEASE);
    md_rec_t r;
    uint64_t got = 0;
    while (got < l->n) {
        int rc = mdmux_sub_next(&s, &r);
        if (rc < 0)
            break;
        if (rc == 1)
            l->samples[got++] = co_tsc() - r.tsc_publish;
    }
    if (mdmux_sub_lost(&s))
        bench_die("latency: the subscriber was lapped (%llu lost)",
                  (unsigned long long)mdmux_sub_lost(&s));
    mdmux_sub_close(&s);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void bench_latency(mux_shm_t *s, uint64_t n, int pub_cpu, int sub_cpu)
{
    struct lat l = {.n = n, .pub_cpu = pub_cpu, .sub_cpu = sub_cpu};
    l.samples = calloc(n, sizeof(uint64_t));
    pthread_t th;
    pthread_create(&th, NULL, lat_subscriber, &l);
    pin(pub_cpu);
    while (!__atomic_load_n(&l.ready, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
    uint64_t gap = co_ns_to_tsc(2000);
    md_rec_t r;
    memset(&r, 0, sizeof(r));
    for (uint64_t i = 0; i < n; i++) {
        uint64_t next = co_tsc() + gap;
        r.tsc_publish = co_tsc();
        mux_shm_publish(s, &r);
        while (co_tsc() < next) /* paced: a latency figure, not a throughput one */
            __builtin_ia32_pause();
    }
    pthread_join(th, NULL);
    qsort(l.samples, n, sizeof(uint64_t), cmp_u64);
    double p50 = bench_ticks_ns((double)l.samples[n / 2]);
    double p99 = bench_ticks_ns((double)l.samples[n * 99 / 100]);
    double mx = bench_ticks_ns((double)l.samples[n - 1]);
    printf("mux.shm latency (CPU %d -> CPU %d, %llu records, one per 2 us): p50 %.0f ns, "
           "p99 %.0f ns, max %.0f ns\n",
           pub_cpu, sub_cpu, (unsigned long long)n, p50, p99, mx);
    bench_report("mux.shm_lat_p50_ns", p50, "ns");
    bench_report("mux.shm_lat_p99_ns", p99, "ns");
    free(l.samples);
}

int main(int argc, char **argv)
{
    unsigned reps = 5;
    uint64_t n = 4000000, slots = 65536;
    int c, latency = 0, pub_cpu = 0, sub_cpu = 1;
    while ((c = getopt(argc, argv, "r:n:s:LP:C:h")) != -1) {
        switch (c) {
        case 'L':
            latency = 1;
            break;
        case 'P':
            pub_cpu = (int)strtol(optarg, NULL, 10);
            break;
        case 'C':
            sub_cpu = (int)strtol(optarg, NULL, 10);
            break;
        case 'r':
            reps = (unsigned)bench_count(optarg);
            break;
        case 'n':
            n = bench_count(optarg);
            break;
        case 's':
            slots = bench_count(optarg);
            break;
        default:
            fprintf(stderr,
                    "usage: bench_mux [-r reps] [-n records] [-s slots] [-L [-P cpu] [-C cpu]]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    snprintf(path, sizeof(path), "/dev/shm/mdmux-bench-%d", (int)getpid());
    char err[256];
    mux_shm_t *s = mux_shm_new(&(mux_shm_conf_t){.path = path, .slots = slots}, err, sizeof(err));
    if (!s)
        bench_die("%s", err);
    if (latency) {
        bench_latency(s, n < 200000 ? n : 200000, pub_cpu, sub_cpu);
        mux_shm_free(s);
        return 0;
    }
    printf("bench_mux: %llu records per repetition, ring of %llu slots, best of %u\n",
           (unsigned long long)n, (unsigned long long)mux_shm_slots(s), reps);
    double pub = 1e30, pack = 1e30, merge = 1e30;
    for (unsigned r = 0; r < reps; r++) {
        double a = bench_publish(s, n), b = bench_pack(n), m = bench_merge(s, n / 4);
        pub = a < pub ? a : pub;
        pack = b < pack ? b : pack;
        merge = m < merge ? m : merge;
    }
    mux_shm_free(s);
    printf("mux: shm publish %.2f ns/rec, pack %.2f ns/rec, merge (8 inputs -> shm) %.2f ns/rec "
           "(frames checksum %llu)\n",
           pub, pack, merge, (unsigned long long)(frames_seen & 0xff));
    bench_report("mux.shm_publish_ns", pub, "ns");
    bench_report("mux.pack_ns", pack, "ns");
    bench_report("mux.merge_ns", merge, "ns");
    return 0;
}
