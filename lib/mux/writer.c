/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/mux: the JSON Lines dump and the pcap capture. The mux (data path) only copies
 * an item into an SPSC ring; the writer coroutine on the control thread takes items
 * off in bursts, formats them and writes with stdio. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mux_internal.h"

#define WRITER_BURST        32u
#define WRITER_SLOTS_RECS   4096u
#define WRITER_SLOTS_FRAMES 256u
#define WRITER_SNAPLEN      1514u
#define PCAP_MAGIC_NS       0xa1b23c4du
#define PCAP_LINKTYPE_ETHER 1u

/* A frame in the pcap ring: its length and when it was built, then the bytes. */
typedef struct frame_item {
    uint32_t len;
    uint32_t pad;
    uint64_t tsc;
    uint8_t data[];
} frame_item_t;

struct mux_writer {
    mux_writer_kind_t kind;
    mux_writer_policy_t policy;
    chs_t *ring;
    FILE *fp;
    bool own_fp;
    bool done;
    int err;
    co_ctx_t *ctx;
    bool stall;           /* test hook: stop taking items after stall_after ... */
    uint64_t stall_after; /* ... of them, until ctx is done */
    uint64_t taken;       /* items taken off the ring */
    size_t elem_size;
    uint32_t snaplen;
    const char *const *names;
    unsigned n_names;
    uint64_t base_tsc, base_ns; /* TSC -> CLOCK_REALTIME for pcap timestamps */
    mux_writer_stats_t st;
    frame_item_t *stage; /* producer's staging element (frames) */
    uint8_t *burst;      /* consumer's burst buffer: WRITER_BURST elements */
    char json[MD_JSON_MAX + 2];
};

static mux_writer_t *writer_fail(mux_writer_t *w, const char *path, char *err, size_t errlen,
                                 const char *what)
{
    int e = errno ? errno : EINVAL;
    if (err && errlen)
        snprintf(err, errlen, "%s: %s: %s", path ? path : "(stream)", what, strerror(e));
    mux_writer_free(w);
    errno = e;
    return NULL;
}

static int writer_open(mux_writer_t *w, const mux_writer_conf_t *c)
{
    if (c->fp) {
        w->fp = c->fp;
        return 0;
    }
    if (!c->path) {
        errno = EINVAL;
        return -1;
    }
    if (strcmp(c->path, "-") == 0) {
        w->fp = stdout;
        return 0;
    }
    w->fp = fopen(c->path, "we");
    w->own_fp = w->fp != NULL;
    return w->fp ? 0 : -1;
}

static void writer_note_err(mux_writer_t *w)
{
    if (!w->err)
        w->err = errno ? errno : EIO;
    MUX_INC(w->st.errors);
}

static void pcap_write_header(mux_writer_t *w)
{
    uint32_t h[6] = {PCAP_MAGIC_NS, 2u | 4u << 16, 0, 0, w->snaplen, PCAP_LINKTYPE_ETHER};
    if (fwrite(h, sizeof(h), 1, w->fp) != 1)
        writer_note_err(w);
    else
        MUX_ADD(w->st.bytes, sizeof(h));
}

static void writer_base_clock(mux_writer_t *w)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    w->base_tsc = co_tsc();
    w->base_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

mux_writer_t *mux_writer_new(const mux_writer_conf_t *c, char *err, size_t errlen)
{
    mux_writer_t *w = co_mem_alloc(sizeof(*w), 64);
    if (!w)
        return NULL;
    w->kind = c->kind;
    w->policy = c->policy;
    w->stall = c->stall;
    w->stall_after = c->stall_after;
    w->names = c->feed_names;
    w->n_names = c->feed_names ? c->n_feed_names : 0;
    w->snaplen = c->snaplen ? c->snaplen : WRITER_SNAPLEN;
    bool pcap = c->kind == MUX_WRITER_PCAP;
    w->elem_size = pcap ? sizeof(frame_item_t) + ((w->snaplen + 7u) & ~7u) : sizeof(md_rec_t);
    unsigned slots = c->slots ? c->slots : pcap ? WRITER_SLOTS_FRAMES : WRITER_SLOTS_RECS;
    if (c->kind != MUX_WRITER_JSONL && !pcap) {
        errno = EINVAL;
        return writer_fail(w, c->path, err, errlen, "unknown writer kind");
    }
    w->ring = chs_new(w->elem_size, slots, c->numa_node);
    w->burst = co_mem_alloc(w->elem_size * WRITER_BURST, 64);
    w->stage = pcap ? co_mem_alloc(w->elem_size, 64) : NULL;
    if (!w->ring || !w->burst || (pcap && !w->stage))
        return writer_fail(w, c->path, err, errlen, "ring");
    if (writer_open(w, c) < 0)
        return writer_fail(w, c->path, err, errlen, "cannot create");
    writer_base_clock(w);
    if (pcap)
        pcap_write_header(w);
    return w;
}

/* ---- producer side (the mux's thread) ---- */

static int ring_put(mux_writer_t *w, const void *elem, co_ctx_t *ctx)
{
    if (chs_send_burst(w->ring, elem, 1) == 1)
        return 0;
    if (chs_closed(w->ring))
        return EPIPE;
    if (w->policy == MUX_POLICY_DROP) {
        MUX_INC(w->st.drops);
        return 0;
    }
    MUX_INC(w->st.waits); /* lossless: the mux parks until the writer makes room */
    return chs_send(w->ring, elem, ctx);
}

int mux_writer_put_rec(mux_writer_t *w, const md_rec_t *r, co_ctx_t *ctx)
{
    return ring_put(w, r, ctx);
}

int mux_writer_put_frame(mux_writer_t *w, const uint8_t *frame, uint32_t len, co_ctx_t *ctx)
{
    frame_item_t *it = w->stage;
    it->len = len < w->snaplen ? len : w->snaplen;
    it->tsc = co_tsc();
    memcpy(it->data, frame, it->len);
    return ring_put(w, it, ctx);
}

void mux_writer_close(mux_writer_t *w)
{
    chs_close(w->ring);
}

mux_writer_kind_t mux_writer_kind(const mux_writer_t *w)
{
    return w->kind;
}

uint32_t mux_writer_snaplen(const mux_writer_t *w)
{
    return w->snaplen;
}

/* ---- consumer side (the control thread) ---- */

static const char *feed_name(const mux_writer_t *w, uint16_t feed)
{
    return feed < w->n_names ? w->names[feed] : NULL;
}

static void write_rec(mux_writer_t *w, const md_rec_t *r)
{
    int n = md_rec_json(r, feed_name(w, r->feed), w->json, MD_JSON_MAX);
    if (n < 0) {
        n = snprintf(w->json, sizeof(w->json), "{\"seq\":%llu,\"invalid\":true}",
                     (unsigned long long)r->seq);
        MUX_INC(w->st.invalid);
    }
    w->json[n] = '\n';
    if (fwrite(w->json, (size_t)n + 1, 1, w->fp) != 1) {
        writer_note_err(w);
        return;
    }
    MUX_ADD(w->st.bytes, (uint64_t)n + 1);
    MUX_INC(w->st.items);
}

static void write_frame(mux_writer_t *w, const frame_item_t *it)
{
    int64_t dt = (int64_t)(it->tsc - w->base_tsc);
    uint64_t ns = dt >= 0 ? w->base_ns + co_tsc_to_ns((uint64_t)dt)
                          : w->base_ns - co_tsc_to_ns((uint64_t)-dt);
    uint32_t h[4] = {(uint32_t)(ns / 1000000000ull), (uint32_t)(ns % 1000000000ull), it->len,
                     it->len};
    if (fwrite(h, sizeof(h), 1, w->fp) != 1 || fwrite(it->data, it->len, 1, w->fp) != 1) {
        writer_note_err(w);
        return;
    }
    MUX_ADD(w->st.bytes, sizeof(h) + it->len);
    MUX_INC(w->st.items);
}

static void write_items(mux_writer_t *w, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        const void *e = w->burst + (size_t)i * w->elem_size;
        if (w->kind == MUX_WRITER_PCAP)
            write_frame(w, e);
        else
            write_rec(w, e);
    }
}

/* Test hook (mux_writer_conf_t.stall): write what is left before stall_after, flush,
   and park until the context is done. True when the writer must stop. */
static bool stalled(mux_writer_t *w, unsigned *n)
{
    if (!w->stall || w->taken + *n <= w->stall_after)
        return false;
    *n = (unsigned)(w->stall_after - w->taken);
    write_items(w, *n);
    if (fflush(w->fp) != 0)
        writer_note_err(w);
    while (co_sleep(1000000000ull, w->ctx) == 0)
        ;
    return true;
}

void mux_writer_main(void *arg)
{
    mux_writer_t *w = arg;
    for (;;) {
        unsigned n = chs_recv_burst(w->ring, w->burst, WRITER_BURST);
        if (n == 0) {
            /* Idle: hand what is buffered to the file, so a tail sees it, then park. */
            if (fflush(w->fp) != 0)
                writer_note_err(w);
            if (chs_recv(w->ring, w->burst, w->ctx) != 0)
                break; /* closed and drained, or cancelled */
            n = 1;
        }
        if (stalled(w, &n))
            break;
        w->taken += n;
        write_items(w, n);
    }
    if (fflush(w->fp) != 0)
        writer_note_err(w);
    if (w->own_fp && fclose(w->fp) != 0)
        writer_note_err(w);
    w->own_fp = false;
    w->fp = NULL;
    __atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
}

uint64_t mux_writer_pending(const mux_writer_t *w)
{
    return chs_len(w->ring);
}

void mux_writer_set_ctx(mux_writer_t *w, co_ctx_t *ctx)
{
    w->ctx = ctx;
}

void mux_writer_stats(const mux_writer_t *w, mux_writer_stats_t *out)
{
    out->items = MUX_LOAD(w->st.items);
    out->bytes = MUX_LOAD(w->st.bytes);
    out->waits = MUX_LOAD(w->st.waits);
    out->drops = MUX_LOAD(w->st.drops);
    out->errors = MUX_LOAD(w->st.errors);
    out->invalid = MUX_LOAD(w->st.invalid);
}

int mux_writer_error(const mux_writer_t *w)
{
    return w->err;
}

bool mux_writer_done(const mux_writer_t *w)
{
    return __atomic_load_n(&w->done, __ATOMIC_ACQUIRE);
}

void mux_writer_free(mux_writer_t *w)
{
    if (!w)
        return;
    if (w->own_fp && w->fp)
        fclose(w->fp);
    if (w->ring)
        chs_free(w->ring);
    co_mem_free(w->burst);
    co_mem_free(w->stage);
    co_mem_free(w);
}
