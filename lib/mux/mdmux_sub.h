/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file mdmux_sub.h
 * mdmux shared-memory broadcast ring: the file layout and a header-only subscriber.
 *
 * The mux (lib/mux, mux_shm_*) publishes every merged record into a ring of slots in a
 * file (default /dev/shm/mdmux). Any number of subscriber processes map it read-only,
 * each with its own cursor: the publisher never knows them and never waits for them.
 * A subscriber that falls more than a ring behind is lapped; it then skips to the
 * oldest record still in the ring and learns exactly how many it missed.
 *
 * Layout (host byte order, x86-64):
 *
 *     offset 0          mdmux_shm_hdr_t
 *     offset 4096       feed names: n_names entries of name_size bytes, NUL-terminated,
 *                       indexed by feed id (written before the magic, never changed)
 *     offset hdr_size   slots[slot_count], each mdmux_shm_slot_t (slot_size bytes)
 *
 * Record number p (0, 1, 2, ...) lives in slot p % slot_count; its seq is p + 1 (the
 * mux's ring gets every record, so that is the merged seq). A slot is the record's 128
 * bytes, two cache lines, except that word 0 (the record's seq field) holds the slot's
 * stamp instead: 2p + 1 while the publisher writes record p into it, 2p + 2 = 2 * seq
 * once it is complete, 0 before its first use. So the stamp costs no extra cache line
 * on either side. A reader that wants record p accepts the slot only if it reads stamp
 * 2p + 2 both before and after copying words 1..15 (a per-slot seqlock), and sets the
 * copy's seq to p + 1; a larger stamp means it was lapped.
 *
 * Memory ordering (publisher: one thread; readers: other threads or processes):
 * - publisher, record p: stamp = 2p+1 (relaxed); release fence; record words 1..15 stored
 *   (relaxed atomics); stamp = 2p+2 (release); head = p+1 (release).
 *   The release fence orders the odd stamp before any record word, so a reader that
 *   sees a new record word (one of a later lap) is guaranteed to see a stamp != 2p+2 on
 *   its re-check; the final release store publishes the words with the even stamp.
 * - reader: stamp (acquire) == 2p+2; record words 1..15 loaded (relaxed atomics); acquire
 *   fence; stamp (relaxed) again == 2p+2. The acquire load pairs with the publisher's
 *   final release store (the words are at least record p's); the acquire fence pairs
 *   with the publisher's release fence (if any word came from a later write, the
 *   re-check sees that write's odd stamp or later). This is Boehm's seqlock ("Can
 *   seqlocks get along with programming language memory models?", 2012). Record words
 *   are 8-byte relaxed atomics, so the race is defined C11 (and clean under TSan);
 *   on x86-64 every one of these is a plain mov.
 *
 * Use:
 *
 *     mdmux_sub_t s;
 *     char err[256];
 *     if (mdmux_sub_open(&s, "/dev/shm/mdmux", MDMUX_SUB_FROM_NOW, err, sizeof err) < 0)
 *         ...;
 *     md_rec_t r;
 *     for (;;) {
 *         int rc = mdmux_sub_next(&s, &r);   // 1 record, 0 nothing yet, -1 closed
 *         ...
 *     }
 *     printf("lost %llu\n", (unsigned long long)mdmux_sub_lost(&s));
 *     mdmux_sub_close(&s);
 *
 * A subscriber needs only this header and proto.h (for md_rec_t); md_rec_json() to print
 * records needs lib/proto.
 */
#ifndef MDMUX_SUB_H
#define MDMUX_SUB_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/** "MDMUXSHM" as a little-endian u64: the first 8 bytes of the file read "MDMUXSHM". */
#define MDMUX_SHM_MAGIC 0x4D485358554D444Dull
/** Layout version; a reader rejects any other. */
#define MDMUX_SHM_VERSION 1u
/** Bytes of the header (the struct, then the feed-name table); the slots start here. */
#define MDMUX_SHM_HDR_SIZE 16384u
/** Offset of the feed-name table: MDMUX_SHM_NAMES_MAX entries of MDMUX_SHM_NAME_LEN. */
#define MDMUX_SHM_NAMES_OFF 4096u
/** Feed ids that can have a name in the ring (higher ids are printed as numbers). */
#define MDMUX_SHM_NAMES_MAX 256u
/** Bytes of one name entry, NUL-terminated (longer names are truncated). */
#define MDMUX_SHM_NAME_LEN 48u
/** Default ring file. */
#define MDMUX_SHM_PATH_DEFAULT "/dev/shm/mdmux"

/** The ring's header: written once by the publisher, then only head and closed change. */
typedef struct mdmux_shm_hdr {
    uint64_t magic;      /**< MDMUX_SHM_MAGIC, stored last (release) on creation */
    uint32_t version;    /**< MDMUX_SHM_VERSION */
    uint32_t hdr_size;   /**< MDMUX_SHM_HDR_SIZE */
    uint32_t rec_size;   /**< sizeof(md_rec_t) */
    uint32_t slot_size;  /**< sizeof(mdmux_shm_slot_t) */
    uint64_t slot_count; /**< a power of two */
    uint64_t tsc_hz;     /**< publisher's TSC frequency (latency of tsc_publish stamps) */
    int64_t pid;         /**< publisher's process id */
    uint64_t created_ns; /**< CLOCK_REALTIME at creation */
    uint32_t n_names;    /**< entries in the feed-name table (<= MDMUX_SHM_NAMES_MAX) */
    uint32_t name_size;  /**< MDMUX_SHM_NAME_LEN */
    uint64_t head;       /**< records published (atomic, release); own cache line */
    uint32_t closed;     /**< 1 once the publisher has finished (atomic, release) */
    uint8_t pad1[64 - 12];
} mdmux_shm_hdr_t;

_Static_assert(sizeof(mdmux_shm_hdr_t) == 128, "header is two cache lines");

/**
 * One slot: an md_rec_t as words (both sides copy it with 8-byte atomics), word 0 being
 * the stamp: 0 unused, 2p+1 writing record p, 2p+2 record p complete.
 */
typedef struct mdmux_shm_slot {
    uint64_t w[sizeof(md_rec_t) / sizeof(uint64_t)];
} __attribute__((aligned(64))) mdmux_shm_slot_t;

_Static_assert(sizeof(mdmux_shm_slot_t) == 128, "slot is two cache lines");
_Static_assert(offsetof(md_rec_t, seq) == 0, "the stamp takes the place of seq");

/** Record words copied atomically by both sides. */
#define MDMUX_SHM_REC_WORDS (sizeof(md_rec_t) / sizeof(uint64_t))

/** Where a new subscriber starts. */
enum mdmux_sub_from {
    MDMUX_SUB_FROM_NOW = 0, /**< the next record published after opening */
    MDMUX_SUB_FROM_OLDEST,  /**< the oldest record still in the ring */
};

/** A subscriber: a read-only mapping and a cursor. Plain struct, caller-owned. */
typedef struct mdmux_sub {
    const mdmux_shm_hdr_t *hdr;
    const mdmux_shm_slot_t *slots;
    size_t map_len;
    uint64_t mask;   /**< slot_count - 1 */
    uint64_t cursor; /**< record number wanted next (its seq is cursor + 1) */
    uint64_t lost;   /**< records skipped because the publisher lapped us */
    uint64_t laps;   /**< times that happened */
    uint64_t got;    /**< records delivered */
} mdmux_sub_t;

/* Internal: set @p err and return -1 (errno left as the failing call set it). */
static inline int mdmux_sub__fail(char *err, size_t errlen, const char *path, const char *what)
{
    int e = errno;
    if (err && errlen)
        snprintf(err, errlen, "%s: %s%s%s", path, what, e ? ": " : "", e ? strerror(e) : "");
    errno = e ? e : EINVAL;
    return -1;
}

/* Internal: check the header @p h of a file of @p size bytes; NULL or what is wrong. */
static inline const char *mdmux_sub__check(const mdmux_shm_hdr_t *h, uint64_t size)
{
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != MDMUX_SHM_MAGIC)
        return "not an mdmux ring (bad magic)";
    if (h->version != MDMUX_SHM_VERSION)
        return "unsupported mdmux ring version";
    if (h->hdr_size != MDMUX_SHM_HDR_SIZE || h->rec_size != sizeof(md_rec_t) ||
        h->slot_size != sizeof(mdmux_shm_slot_t) || h->n_names > MDMUX_SHM_NAMES_MAX ||
        h->name_size != MDMUX_SHM_NAME_LEN)
        return "ring geometry does not match this client";
    uint64_t n = h->slot_count;
    if (n < 2 || (n & (n - 1)) || n > (size - h->hdr_size) / h->slot_size)
        return "bad slot count";
    if (size != h->hdr_size + n * h->slot_size)
        return "file size does not match the header";
    return NULL;
}

/**
 * Map the ring file @p path read-only and position the cursor (@p from: enum
 * mdmux_sub_from). Fails with a message in @p err (may be NULL) when the file is
 * missing or unreadable (permissions), too short, of another magic or version, or of
 * a geometry this client was not built for.
 *
 * @return
 *   0, or -1 with errno set (EINVAL for a bad file) and @p err filled.
 */
static inline int mdmux_sub_open(mdmux_sub_t *s, const char *path, int from, char *err,
                                 size_t errlen)
{
    memset(s, 0, sizeof(*s));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mdmux_sub__fail(err, errlen, path, "cannot open");
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < (off_t)MDMUX_SHM_HDR_SIZE) {
        close(fd);
        errno = errno ? errno : EINVAL;
        return mdmux_sub__fail(err, errlen, path, "too short for an mdmux ring");
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd); /* the mapping keeps the file */
    if (p == MAP_FAILED)
        return mdmux_sub__fail(err, errlen, path, "mmap");
    const char *bad = mdmux_sub__check((const mdmux_shm_hdr_t *)p, (uint64_t)st.st_size);
    if (bad) {
        munmap(p, (size_t)st.st_size);
        errno = 0;
        return mdmux_sub__fail(err, errlen, path, bad);
    }
    s->hdr = (const mdmux_shm_hdr_t *)p;
    s->slots = (const mdmux_shm_slot_t *)((const char *)p + s->hdr->hdr_size);
    s->map_len = (size_t)st.st_size;
    s->mask = s->hdr->slot_count - 1;
    uint64_t head = __atomic_load_n(&s->hdr->head, __ATOMIC_ACQUIRE);
    if (from == MDMUX_SUB_FROM_OLDEST && head > s->hdr->slot_count - 1)
        s->cursor = head - (s->hdr->slot_count - 1); /* the slot of `head` may be in writing */
    else if (from == MDMUX_SUB_FROM_OLDEST)
        s->cursor = 0;
    else
        s->cursor = head;
    return 0;
}

/* Internal: the cursor was lapped; skip to the oldest record that is still intact. */
static inline void mdmux_sub__resync(mdmux_sub_t *s)
{
    uint64_t head = __atomic_load_n(&s->hdr->head, __ATOMIC_ACQUIRE);
    /* Records head-n+1 .. head-1 are intact now; record head-n's slot may be in writing. */
    uint64_t oldest = head - s->mask;
    if (head <= s->mask || oldest <= s->cursor)
        oldest = s->cursor + 1; /* cannot happen with a sane publisher; still progress */
    s->lost += oldest - s->cursor;
    s->laps++;
    s->cursor = oldest;
}

/**
 * Take the next record into *@p out. Never blocks: a subscriber polls (spinning,
 * pausing or sleeping as it likes). When lapped it skips what was overwritten,
 * adds it to mdmux_sub_lost() and carries on with the oldest intact record.
 *
 * @return
 *   1: a record; 0: none published yet; -1: the publisher has closed the ring and
 *   every record it published has been read (or lost).
 */
static inline int mdmux_sub_next(mdmux_sub_t *s, md_rec_t *out)
{
    for (;;) {
        const mdmux_shm_slot_t *slot = &s->slots[s->cursor & s->mask];
        uint64_t want = 2 * s->cursor + 2;
        uint64_t s1 = __atomic_load_n(&slot->w[0], __ATOMIC_ACQUIRE);
        if (s1 < want) { /* not written yet (or still being written) */
            if (!__atomic_load_n(&s->hdr->closed, __ATOMIC_ACQUIRE))
                return 0;
            /* Closed: every record was completed before closed was set (release), so
               a second look at the stamp is final: s1 may have been stale. */
            if (__atomic_load_n(&slot->w[0], __ATOMIC_ACQUIRE) < want)
                return -1;
            continue;
        }
        if (s1 == want) {
#pragma GCC unroll 16
            for (size_t i = 1; i < MDMUX_SHM_REC_WORDS; i++) {
                uint64_t w = __atomic_load_n(&slot->w[i], __ATOMIC_RELAXED);
                memcpy((char *)out + i * sizeof(w), &w, sizeof(w));
            }
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (__atomic_load_n(&slot->w[0], __ATOMIC_RELAXED) == want) {
                out->seq = s->cursor + 1;
                s->cursor++;
                s->got++;
                return 1;
            }
        }
        mdmux_sub__resync(s); /* s1 > want, or overwritten while we copied */
    }
}

/** Records this subscriber missed because it was lapped (exact). */
static inline uint64_t mdmux_sub_lost(const mdmux_sub_t *s)
{
    return s->lost;
}

/** Records published so far (the publisher's head). */
static inline uint64_t mdmux_sub_head(const mdmux_sub_t *s)
{
    return __atomic_load_n(&s->hdr->head, __ATOMIC_ACQUIRE);
}

/** Records published and not yet read by this subscriber (0 when caught up). */
static inline uint64_t mdmux_sub_backlog(const mdmux_sub_t *s)
{
    uint64_t head = mdmux_sub_head(s);
    return head > s->cursor ? head - s->cursor : 0;
}

/** The publisher's TSC frequency in Hz, from the header (for tsc_publish latencies). */
static inline uint64_t mdmux_sub_tsc_hz(const mdmux_sub_t *s)
{
    return s->hdr->tsc_hz;
}

/** Name of feed @p feed as the publisher configured it, or NULL (print the id). */
static inline const char *mdmux_sub_feed_name(const mdmux_sub_t *s, unsigned feed)
{
    if (feed >= s->hdr->n_names)
        return NULL;
    const char *n = (const char *)s->hdr + MDMUX_SHM_NAMES_OFF + feed * MDMUX_SHM_NAME_LEN;
    return n[0] ? n : NULL;
}

/** Unmap the ring. */
static inline void mdmux_sub_close(mdmux_sub_t *s)
{
    if (s->hdr)
        munmap((void *)s->hdr, s->map_len);
    memset(s, 0, sizeof(*s));
}

#ifdef __cplusplus
}
#endif
#endif /* MDMUX_SUB_H */
