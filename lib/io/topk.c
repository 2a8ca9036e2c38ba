/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Busiest unknown flows: the space-saving algorithm (Metwally et al.) over a fixed
 * table of IO_TOPK entries. A flow not in a full table replaces the entry with the
 * smallest count and inherits that count (+1) as its estimate, with the inherited part
 * as its error bound; any flow with more than total/IO_TOPK frames is guaranteed to be
 * listed. O(IO_TOPK) per unknown frame, no allocation, no ordering kept while adding.
 *
 * The RX lcore is the only writer; a sequence counter (odd while writing) lets the
 * control lcore copy a consistent table.
 */
#include <string.h>

#include "io_internal.h"

void io_topk_init(io_topk_t *k)
{
    memset(k, 0, sizeof(*k));
}

static inline void seq_begin(io_topk_t *k)
{
    __atomic_store_n(&k->seq, k->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE); /* odd seq before the data stores */
}

static inline void seq_end(io_topk_t *k)
{
    __atomic_store_n(&k->seq, k->seq + 1, __ATOMIC_RELEASE);
}

void io_topk_add(io_topk_t *k, uint32_t ip_be, uint16_t port_be)
{
    unsigned min_i = 0;
    seq_begin(k);
    for (unsigned i = 0; i < k->n; i++) {
        io_flow_count_t *e = &k->e[i];
        if (e->dst_ip_be == ip_be && e->dst_port_be == port_be) {
            e->frames++;
            seq_end(k);
            return;
        }
        if (e->frames < k->e[min_i].frames)
            min_i = i;
    }
    if (k->n < IO_TOPK) {
        k->e[k->n++] = (io_flow_count_t){.dst_ip_be = ip_be, .dst_port_be = port_be, .frames = 1};
    } else {
        uint64_t m = k->e[min_i].frames;
        k->e[min_i] = (io_flow_count_t){
            .dst_ip_be = ip_be, .dst_port_be = port_be, .frames = m + 1, .error = m};
    }
    seq_end(k);
}

/* Copy the table under the sequence counter. */
static void topk_copy(const io_topk_t *k, io_topk_t *snap)
{
    for (;;) {
        uint32_t s1 = __atomic_load_n(&k->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1u) {
            __builtin_ia32_pause();
            continue;
        }
        memcpy(snap, k, sizeof(*snap));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&k->seq, __ATOMIC_RELAXED) == s1)
            return;
    }
}

unsigned io_topk_list(const io_topk_t *k, io_flow_count_t *out, unsigned max)
{
    io_topk_t snap;
    topk_copy(k, &snap);
    unsigned n = snap.n < IO_TOPK ? snap.n : IO_TOPK;
    /* insertion sort, busiest first (ties: lower error first) */
    for (unsigned i = 1; i < n; i++) {
        io_flow_count_t x = snap.e[i];
        unsigned j = i;
        while (j > 0 && (snap.e[j - 1].frames < x.frames ||
                         (snap.e[j - 1].frames == x.frames && snap.e[j - 1].error > x.error))) {
            snap.e[j] = snap.e[j - 1];
            j--;
        }
        snap.e[j] = x;
    }
    if (n > max)
        n = max;
    memcpy(out, snap.e, n * sizeof(*out));
    return n;
}
