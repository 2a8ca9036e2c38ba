/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/mux: the merger. One coroutine waits on a channel set of every feed's channel
 * of records (chan.h: O(1) to find a ready input, park and wake, however many feeds),
 * takes a burst from the input it returns (round robin: no feed starves), sequences,
 * stamps and publishes each record to every output, and returns it to its pool.
 * DPDK-free: the TX port is reached through a mux_sink_t. */
#include <errno.h>
#include <string.h>

#include "mux_internal.h"

#define MUX_BURST_DEFAULT 32u
#define MUX_BURST_MAX     64u
#define MUX_YIELD_DEFAULT 64u
/* Idle-call period of an observer: short enough that a reader waiting for an
   interval swap waits ~1 ms, long enough that an idle mux costs nothing. */
#define MUX_OBSERVE_IDLE_NS 1000000ull

/* One input and its counters. */
typedef struct mux_in {
    mux_input_t conf;
    mux_input_stats_t st;
} mux_in_t;

struct mux {
    mux_conf_t conf;
    unsigned burst;
    unsigned yield_every;
    unsigned since_yield; /* records since the mux last let others run */
    unsigned n_open;      /* inputs not yet closed and drained */
    ch_set_t *set;        /* every open input; member i is in[member_in[i]] */
    uint16_t member_in[MUX_INPUTS_MAX];
    mux_in_t in[MUX_INPUTS_MAX];
    mux_pack_t *pack;
    uint64_t seq;              /* last merged seq given */
    uint64_t observe_idle_tsc; /* idle-call period of the observer, TSC ticks */
    mux_stats_t st;
    md_rec_t *batch[MUX_BURST_MAX];
};

static int check_conf(const mux_conf_t *c)
{
    if (!c || c->n_inputs == 0 || c->n_inputs > MUX_INPUTS_MAX || !c->inputs)
        return EINVAL;
    for (unsigned i = 0; i < c->n_inputs; i++)
        if (!c->inputs[i].local == !c->inputs[i].spsc)
            return EINVAL; /* exactly one channel per input */
    if (c->pcap && (!c->udp || mux_writer_kind(c->pcap) != MUX_WRITER_PCAP))
        return EINVAL;
    if (c->dump && mux_writer_kind(c->dump) != MUX_WRITER_JSONL)
        return EINVAL;
    if (c->tx.frame && !c->udp)
        return EINVAL;
    return 0;
}

/* Every finished frame: to the TX port, then a copy to the pcap writer. */
static void on_frame(void *arg, const uint8_t *frame, uint32_t len)
{
    mux_t *m = arg;
    MUX_INC(m->st.frames);
    if (m->conf.tx.frame)
        m->conf.tx.frame(m->conf.tx.arg, frame, len);
    if (m->conf.pcap)
        mux_writer_put_frame(m->conf.pcap, frame, len, m->conf.ctx);
}

mux_t *mux_new(const mux_conf_t *c)
{
    int e = check_conf(c);
    if (e) {
        errno = e;
        return NULL;
    }
    mux_t *m = co_mem_alloc(sizeof(*m), 64);
    if (!m)
        return NULL;
    m->conf = *c;
    m->conf.inputs = NULL; /* copied into in[] */
    m->burst = c->burst ? c->burst : MUX_BURST_DEFAULT;
    if (m->burst > MUX_BURST_MAX)
        m->burst = MUX_BURST_MAX;
    m->yield_every = c->yield_every ? c->yield_every : MUX_YIELD_DEFAULT;
    if (c->observe) {
        uint64_t ns = c->observe_idle_ns ? c->observe_idle_ns : MUX_OBSERVE_IDLE_NS;
        m->observe_idle_tsc = (uint64_t)((double)ns * (double)co_tsc_hz() / 1e9);
        if (m->observe_idle_tsc == 0)
            m->observe_idle_tsc = 1;
    }
    if (c->udp && !(m->pack = mux_pack_new(c->udp, on_frame, m))) {
        co_mem_free(m);
        return NULL;
    }
    if (c->udp && c->pcap &&
        mux_writer_snaplen(c->pcap) < (uint32_t)(c->udp->mtu ? c->udp->mtu : 1500) + 14) {
        mux_pack_free(m->pack);
        co_mem_free(m);
        errno = EINVAL; /* the pcap ring could not hold a full frame */
        return NULL;
    }
    m->set = ch_set_new(c->n_inputs);
    for (unsigned i = 0; m->set && i < c->n_inputs; i++) {
        mux_in_t *in = &m->in[i];
        in->conf = c->inputs[i];
        int k = ch_set_add(m->set, in->conf.local, in->conf.spsc);
        if (k < 0) { /* a local channel already in another set */
            ch_set_free(m->set);
            m->set = NULL;
            break;
        }
        m->member_in[k] = (uint16_t)i;
    }
    if (m->set == NULL) {
        mux_pack_free(m->pack);
        co_mem_free(m);
        errno = EINVAL;
        return NULL;
    }
    m->n_open = c->n_inputs;
    m->st.inputs_open = m->n_open;
    return m;
}

void mux_free(mux_t *m)
{
    if (!m)
        return;
    ch_set_free(m->set);
    mux_pack_free(m->pack);
    co_mem_free(m);
}

/* Sequence, stamp and hand one record to every output (each keeps a copy). */
static void publish(mux_t *m, md_rec_t *r)
{
    r->seq = ++m->seq;
    r->tsc_publish = co_tsc();
    if (m->conf.shm)
        mux_shm_publish(m->conf.shm, r);
    if (m->pack)
        mux_pack_add(m->pack, r);
    if (m->conf.dump)
        mux_writer_put_rec(m->conf.dump, r, m->conf.ctx);
    if (r->kind == MD_KIND_EVENT)
        MUX_INC(m->st.events);
}

/* Up to one burst of @p in's records into batch[]. Bounded, so the set's round robin
   gives every ready input its turn. */
static unsigned take_burst(mux_t *m, mux_in_t *in)
{
    if (in->conf.spsc)
        return chs_recv_burst(in->conf.spsc, m->batch, m->burst);
    return ch_tryrecv_burst(in->conf.local, m->batch, m->burst);
}

/* True once @p in's producer closed it (what it queued before may still be there). */
static bool input_closed(const mux_in_t *in)
{
    return in->conf.local ? ch_closed(in->conf.local) : chs_closed(in->conf.spsc);
}

/* Under constant load the mux never parks; yield now and then so that the feed
   handlers (and writers) sharing its lcore still run: local inputs refill only when
   their handlers run, and a starved handler is a starved feed. */
static void maybe_yield(mux_t *m, unsigned n)
{
    m->since_yield += n;
    if (m->since_yield >= m->yield_every) {
        m->since_yield = 0;
        co_yield();
    }
}

static void handle_burst(mux_t *m, mux_in_t *in, unsigned n)
{
    MUX_INC(in->st.picks);
    MUX_INC(m->st.selects);
    for (unsigned i = 0; i < n; i++)
        publish(m, m->batch[i]);
    /* One indirect call per burst, before the records go back to their pool. */
    if (m->conf.observe)
        m->conf.observe(m->conf.observe_arg, m->batch, n);
    /* One pool call per pick: the per-thread cache lookup and any flush to the
       shared store are paid once for the whole burst. */
    if (in->conf.pool)
        pool_put_burst(in->conf.pool, (void *const *)m->batch, n);
    MUX_ADD(in->st.records, n);
    MUX_ADD(m->st.published, n);
    maybe_yield(m, n);
}

/* Member @p k returned by the set: take a burst, or retire it once closed and drained. */
static void take(mux_t *m, int k)
{
    mux_in_t *in = &m->in[m->member_in[k]];
    unsigned n = take_burst(m, in);
    /* Empty and closed: the close is stored after the producer's last element, so
       once it is seen one more look is the final word (an SPSC producer may have sent
       and closed between the two). */
    bool closed = n == 0 && input_closed(in);
    if (closed)
        n = take_burst(m, in);
    if (n > 0) {
        handle_burst(m, in, n);
        return;
    }
    if (!closed)
        return; /* a stale wake-up: the set looks again */
    ch_set_remove(m->set, k);
    __atomic_store_n(&in->st.closed, true, __ATOMIC_RELAXED);
    m->n_open--;
    __atomic_store_n(&m->st.inputs_open, m->n_open, __ATOMIC_RELAXED);
}

/* Nothing ready: push out the partial datagram and batched TX before parking, so a
   quiet market does not hold records back. */
static void flush_idle(mux_t *m)
{
    MUX_INC(m->st.idle);
    if (m->pack)
        mux_pack_flush(m->pack);
    if (m->conf.tx.flush)
        m->conf.tx.flush(m->conf.tx.arg);
}

static void finish(mux_t *m)
{
    flush_idle(m);
    if (m->conf.shm)
        mux_shm_close(m->conf.shm);
    if (m->conf.pcap)
        mux_writer_close(m->conf.pcap);
    if (m->conf.dump)
        mux_writer_close(m->conf.dump);
}

/* Wait for an input. With an observer, wake every observe_idle_tsc to give it its
   idle call (its own deadline: a timeout of the mux's context still ends the mux). */
static int park(mux_t *m)
{
    if (!m->conf.observe)
        return ch_set_wait(m->set, 0, UINT64_MAX, m->conf.ctx);
    for (;;) {
        m->conf.observe(m->conf.observe_arg, NULL, 0);
        int i = ch_set_wait(m->set, 0, co_tsc() + m->observe_idle_tsc, m->conf.ctx);
        if (i != -ETIMEDOUT || (m->conf.ctx && co_ctx_err(m->conf.ctx) != 0))
            return i;
    }
}

void mux_main(void *arg)
{
    mux_t *m = arg;
    while (m->n_open > 0) {
        int i = ch_set_wait(m->set, CH_NONBLOCK, UINT64_MAX, m->conf.ctx);
        if (i == CH_DEFAULT) {
            flush_idle(m);
            i = park(m);
        }
        if (i < 0)
            break; /* cancelled */
        take(m, i);
    }
    finish(m);
}

void mux_stats(const mux_t *m, mux_stats_t *out)
{
    out->published = MUX_LOAD(m->st.published);
    out->events = MUX_LOAD(m->st.events);
    out->selects = MUX_LOAD(m->st.selects);
    out->idle = MUX_LOAD(m->st.idle);
    out->frames = MUX_LOAD(m->st.frames);
    out->inputs_open = MUX_LOAD(m->st.inputs_open);
}

void mux_input_stats(const mux_t *m, unsigned i, mux_input_stats_t *out)
{
    const mux_in_t *in = &m->in[i];
    out->records = MUX_LOAD(in->st.records);
    out->picks = MUX_LOAD(in->st.picks);
    out->closed = MUX_LOAD(in->st.closed);
}
