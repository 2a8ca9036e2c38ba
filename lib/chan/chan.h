/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file chan.h
 * mdmux channels: Go's channels and select for coroutines (lib/rt) on pinned cores.
 *
 * Two kinds, one select:
 *
 * - A **local channel** (ch_t) has both ends on one scheduler (one thread). It is
 *   buffered (capacity N) or unbuffered (capacity 0: a rendezvous in which the
 *   element is copied straight from the sender to the receiver). Blocked senders and
 *   receivers park in FIFO order and are woken directly by their peer.
 *
 * - An **SPSC channel** (chs_t) joins one producer thread to one consumer thread
 *   through a lock-free ring: power-of-two slots, producer and consumer indices on
 *   their own cache lines, each side caching the other's index. A coroutine blocked
 *   on it parks; its scheduler's poll hook sees the other side move and wakes it. No
 *   lock, no system call, no futex. The producer may be a plain poll loop (an RX core)
 *   that never blocks: chs_send_burst() needs no scheduler.
 *
 * - **ch_select()** waits on any mix of receive and send cases on both kinds, with an
 *   optional default case, deadline and cancellation context. It scans readiness from
 *   a random start, so a ready case found early costs O(1) and, under constant
 *   readiness, every case is picked equally often.
 *
 * Results are errno-style: 0, EAGAIN (a non-blocking call would block), EPIPE (the
 * channel is closed: no more sends; a receive has drained everything buffered),
 * ECANCELED or ETIMEDOUT (from the context or deadline).
 *
 * Errors travel as data: to return a value or an error, send a struct that carries
 * both (see ch_result_t and docs/runtime.md).
 */
#ifndef MDMUX_CHAN_H
#define MDMUX_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "co.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------ */
/* Local channels                                                                 */
/* ------------------------------------------------------------------------------ */

typedef struct ch ch_t;         /**< A channel local to one scheduler. */
typedef struct ch_set ch_set_t; /**< A persistent set of channels to receive from. */

/**
 * Create a local channel of @p cap elements (0: unbuffered) of @p elem_size bytes
 * each (1 .. 65535). Its ends may be used by any coroutine of the calling thread's
 * scheduler (and, for non-blocking calls, by that thread itself).
 * Returns NULL with errno EINVAL or ENOMEM.
 */
ch_t *ch_new(size_t elem_size, size_t cap);

/** Free @p c. No coroutine may be parked on it (the process aborts if one is). */
void ch_free(ch_t *c);

/**
 * Send a copy of *@p elem, parking while the channel is full (or, unbuffered, until
 * a receiver takes it). Returns 0, EPIPE if the channel is or becomes closed (the
 * element was not sent), ECANCELED or ETIMEDOUT from @p ctx.
 */
int ch_send(ch_t *c, const void *elem, co_ctx_t *ctx);

/**
 * Receive into *@p elem, parking while the channel is empty. Returns 0, EPIPE once
 * the channel is closed and drained (*@p elem untouched), ECANCELED or ETIMEDOUT.
 */
int ch_recv(ch_t *c, void *elem, co_ctx_t *ctx);

/** Non-blocking ch_send(): 0, EAGAIN or EPIPE. */
int ch_trysend(ch_t *c, const void *elem);

/** Non-blocking ch_recv(): 0, EAGAIN or EPIPE. */
int ch_tryrecv(ch_t *c, void *elem);

/**
 * Non-blocking receive of up to @p n elements into @p elems: how many were taken,
 * exactly what @p n calls of ch_tryrecv() would have taken and in the same order,
 * stopping at the first that would not be 0 (EAGAIN or EPIPE: tell them apart with a
 * ch_tryrecv()).
 */
unsigned ch_tryrecv_burst(ch_t *c, void *elems, unsigned n);

/**
 * Close @p c: later sends fail with EPIPE, receivers drain what is buffered and then
 * get EPIPE; every parked sender and receiver is woken. Returns 0, or EPIPE if it
 * was already closed (Go panics there; we report it).
 */
int ch_close(ch_t *c);

/**
 * Copy the oldest buffered element into *@p elem without removing it: 0, or EAGAIN
 * when nothing is buffered. (A worker pool reads its queue delay this way.)
 */
int ch_peek(const ch_t *c, void *elem);

/** Elements buffered now. */
size_t ch_len(const ch_t *c);

/** Capacity (0 for unbuffered). */
size_t ch_cap(const ch_t *c);

/** True once ch_close() has been called. */
bool ch_closed(const ch_t *c);

/** Element size in bytes. */
size_t ch_elem_size(const ch_t *c);

/* Pointer-sized elements: the common case gets its own entry points. */

/** ch_send() of a pointer; @p c must have elem_size == sizeof(void *). */
int ch_send_ptr(ch_t *c, void *p, co_ctx_t *ctx);

/** ch_recv() of a pointer; @p c must have elem_size == sizeof(void *). */
int ch_recv_ptr(ch_t *c, void **p, co_ctx_t *ctx);

/* ------------------------------------------------------------------------------ */
/* SPSC channels                                                                  */
/* ------------------------------------------------------------------------------ */

typedef struct chs chs_t; /**< A single-producer single-consumer channel across threads. */

/**
 * Create an SPSC channel of at least @p cap elements (rounded up to a power of two,
 * at least 2) of @p elem_size bytes (1 .. 65535), in memory on NUMA node
 * @p numa_node (-1: the calling thread's). Returns NULL with errno EINVAL or ENOMEM.
 */
chs_t *chs_new(size_t elem_size, size_t cap, int numa_node);

/** Free @p c once neither side uses it any more. */
void chs_free(chs_t *c);

/*
 * chs_send_burst() and chs_recv_burst() are inline (chan_spsc.h, which also holds the
 * ring's layout): a producer sending one packet pointer per call must not pay a call.
 *
 *   unsigned chs_send_burst(chs_t *c, const void *elems, unsigned n);
 *       Producer: enqueue up to n elements; never blocks, needs no scheduler. Returns
 *       how many were enqueued (fewer when the ring fills; 0 when closed).
 *   unsigned chs_recv_burst(chs_t *c, void *elems, unsigned n);
 *       Consumer: dequeue up to n elements; never blocks. Returns how many.
 */
#include "chan_spsc.h"

/**
 * Producer, blocking: send one element, parking while the ring is full. Returns 0,
 * EPIPE (closed), ECANCELED or ETIMEDOUT. Outside a coroutine it spins instead of
 * parking (with CPU pause), still observing @p ctx.
 */
int chs_send(chs_t *c, const void *elem, co_ctx_t *ctx);

/**
 * Consumer, blocking: receive one element, parking while the ring is empty. Returns
 * 0, EPIPE once closed and drained, ECANCELED or ETIMEDOUT. Outside a coroutine it
 * spins instead of parking.
 */
int chs_recv(chs_t *c, void *elem, co_ctx_t *ctx);

/** Producer: close. The consumer drains what is queued, then gets EPIPE. Idempotent. */
void chs_close(chs_t *c);

/** True once the producer closed it. */
bool chs_closed(const chs_t *c);

/** Elements queued now (exact on either side for its own view; approximate elsewhere). */
size_t chs_len(const chs_t *c);

/** Capacity in elements (a power of two). */
size_t chs_cap(const chs_t *c);

/** Element size in bytes. */
size_t chs_elem_size(const chs_t *c);

/*
 * Doorbells. A coroutine parked in a select on SPSC channels is woken by its thread's
 * watch list, which reads every watched channel's tail on every scheduler pass: a
 * handler lcore with 100 lines parked reads 100 cache lines that the RX lcore writes,
 * on every pass. A doorbell turns that poll into a notification, as an interrupt
 * status register does for a NIC's queues: the channels one consumer thread takes
 * from share a bitmap, each channel's sends set its bit (one atomic OR, after the
 * tail is stored), and the consumer's one poll hook for the bell exchanges the
 * bitmap's words and looks at the channels whose bits were set, and only at those
 * with a select parked on them. A pass with nothing rung reads the bitmap's line and
 * nothing else.
 *
 * Why nothing is missed: the producer stores the tail, then sets the bit (release);
 * the poll exchanges the word (acquire), then reads the tail. If the tail read misses
 * a send, that send's bit was set after the exchange, so the next pass sees it. A bit
 * that the poll clears while no select is armed on its channel loses nothing: a
 * select looks at every case before it parks (and arms), with no yield in between.
 *
 * Every channel of a bell must have the same consumer thread (debug builds check).
 * Producers may be any threads, several at once. A select with an SPSC send case
 * does not use the bell (its own hook polls its cases).
 */
typedef struct chs_bell chs_bell_t; /**< A doorbell shared by SPSC channels of one consumer. */

/** Most channels a doorbell takes. */
#define CHS_BELL_MAX 512

/**
 * A doorbell for up to CHS_BELL_MAX channels, on NUMA node @p numa_node (-1: the
 * calling thread's; the consumer's node is the right one). Set-up time: allocates.
 * Returns NULL with errno ENOMEM.
 */
chs_bell_t *chs_bell_new(int numa_node);

/**
 * Free @p b. Its channels lose their doorbell (they keep working, polled by the
 * watch list); none may be in a parked select (that aborts with a message). NULL is
 * ignored.
 */
void chs_bell_free(chs_bell_t *b);

/**
 * Give @p c the doorbell @p b: from now on its sends ring it (chs_send_burst(),
 * chs_close(); chs_send_burst_unrung() leaves that to the caller). Call it before
 * any traffic and before its consumer selects on it. Returns 0, -EBUSY (@p c has a
 * doorbell already) or -ENOSPC (@p b has CHS_BELL_MAX channels).
 */
int chs_bell_add(chs_bell_t *b, chs_t *c);

/** Channels @p b has. */
unsigned chs_bell_len(const chs_bell_t *b);

/* ------------------------------------------------------------------------------ */
/* select                                                                         */
/* ------------------------------------------------------------------------------ */

/** What a select case does. */
typedef enum ch_op {
    CH_RECV = 0, /**< receive into elem */
    CH_SEND,     /**< send from elem */
} ch_op_t;

/** One case of ch_select(). Set exactly one of local and spsc. */
typedef struct ch_case {
    ch_op_t op;
    ch_t *local; /**< a local channel, or NULL */
    chs_t *spsc; /**< an SPSC channel (this thread its consumer for CH_RECV, producer for
                       CH_SEND), or NULL */
    void *elem;  /**< element to send, or where to receive */
    int result;  /**< out, for the chosen case: 0, or EPIPE (closed) */
} ch_case_t;

/** Most cases one ch_select() takes. */
#define CH_SELECT_MAX 128

/** ch_select() flag: return CH_DEFAULT at once when no case is ready. */
#define CH_NONBLOCK 1u

/** ch_select() result: no case was ready and CH_NONBLOCK was given. */
#define CH_DEFAULT (-1)

/**
 * Wait until one of @p n cases can proceed, perform it, and return its index. A case
 * on a closed channel can always proceed: a receive completes with result EPIPE once
 * drained, a send with result EPIPE. Among several ready cases one is chosen at
 * random. Returns CH_DEFAULT when @p flags has CH_NONBLOCK and nothing is ready;
 * -ECANCELED or -ETIMEDOUT when @p ctx is done or the TSC passes @p deadline_tsc
 * (UINT64_MAX: none) first, or at once if the deadline has already passed; -EINVAL
 * for bad cases (debug builds check every case up front; release builds check each
 * case as the scan reaches it, so a ready case may be performed before a bad one is
 * seen). Blocking needs a coroutine.
 */
int ch_select(ch_case_t *cases, int n, unsigned flags, uint64_t deadline_tsc, co_ctx_t *ctx);

/* ------------------------------------------------------------------------------ */
/* Channel sets                                                                   */
/* ------------------------------------------------------------------------------ */

/*
 * A channel set is a select over many receive channels made once and kept, as epoll
 * is to poll(): the consumer of N inputs (the mux over every feed) asks "which one
 * can I receive from?" in O(1) instead of visiting every input, and parks and wakes
 * in O(1) instead of queueing and unlinking a waiter on each one. A local member
 * tells its set when it becomes ready (an element buffered, a sender parked, the
 * close); SPSC members, whose producers are on other cores and must not be slowed,
 * are polled: each ch_set_wait() checks them, and while the owner is parked one poll
 * hook does. Members are returned in round-robin order, so under constant readiness
 * every member is returned once in every N calls: no input starves. A set belongs to
 * one thread and has one waiter at a time; ch_select() remains the tool for mixed
 * send and receive cases.
 *
 * A local member's sender hands off to a parked owner (co_ready_next()): the owner
 * runs as soon as the sender parks or yields, before the other coroutines that were
 * already runnable. A mux then takes each feed's records right after that feed's turn
 * instead of after every ready feed's (docs/architecture.md, "The mux runs next").
 */

/** Most members a set takes. */
#define CH_SET_MAX 1024

/**
 * A set for up to @p max members (1 .. CH_SET_MAX). Allocates (set-up time, not the
 * data path). Returns NULL with errno EINVAL or ENOMEM.
 */
ch_set_t *ch_set_new(unsigned max);

/**
 * Free @p s. Its members leave it (a local channel can join another set afterwards).
 * NULL is ignored. The owner must not be parked in ch_set_wait().
 */
void ch_set_free(ch_set_t *s);

/**
 * Add a receive channel to @p s: exactly one of @p local (a local channel of this
 * thread, in no other set) and @p spsc (an SPSC channel this thread consumes).
 * Returns the member's index (0, 1, ... in the order of adding, reused after
 * ch_set_remove()), -EINVAL (neither or both given, or the local channel is in a
 * set already) or -ENOSPC (full).
 */
int ch_set_add(ch_set_t *s, ch_t *local, chs_t *spsc);

/** Remove member @p idx (for example once it is closed and drained). Bad indices are ignored. */
void ch_set_remove(ch_set_t *s, int idx);

/** Members in @p s now. */
unsigned ch_set_len(const ch_set_t *s);

/**
 * Wait until a member can be received from (it holds an element, a sender is parked
 * on it, or it is closed) and return its index; receive from it with the
 * non-blocking calls (ch_tryrecv_burst(), chs_recv_burst(), ...), which then tell
 * empty from closed. The member after it is looked at first next time. Returns
 * CH_DEFAULT when @p flags has CH_NONBLOCK and none is ready; -ECANCELED or
 * -ETIMEDOUT when @p ctx is done or the TSC passes @p deadline_tsc (UINT64_MAX: none)
 * first; -EBUSY if another coroutine is already waiting on @p s. Outside a coroutine
 * it spins (with CPU pause) instead of parking.
 */
int ch_set_wait(ch_set_t *s, unsigned flags, uint64_t deadline_tsc, co_ctx_t *ctx);

/* ------------------------------------------------------------------------------ */
/* Errors as data                                                                 */
/* ------------------------------------------------------------------------------ */

/**
 * The conventional element of a result channel: a value or an error code. A worker
 * sends {.err = 0, .value = v} or {.err = ENOENT}; the receiver checks err first.
 */
typedef struct ch_result {
    int err;        /**< 0 or an errno value */
    uint64_t value; /**< meaningful when err == 0 */
} ch_result_t;

#ifdef __cplusplus
}
#endif
#endif /* MDMUX_CHAN_H */
