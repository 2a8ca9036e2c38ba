/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/mux: the shared-memory broadcast ring, publishing side. The layout, the stamp
 * protocol and its memory-ordering argument are in mdmux_sub.h, next to the reader. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mdmux_sub.h"
#include "mux.h"

#define SHM_SLOTS_DEFAULT 65536u
#define SHM_MODE_DEFAULT  0640u

struct mux_shm {
    mdmux_shm_hdr_t *hdr;
    mdmux_shm_slot_t *slots;
    uint64_t mask;
    uint64_t next; /* record number of the next publish (the publisher's own head) */
    size_t map_len;
    bool closed;
    bool keep_file;
    char path[256];
};

static mux_shm_t *shm_fail(mux_shm_t *s, int fd, char *err, size_t errlen, const char *what)
{
    int e = errno ? errno : EINVAL;
    if (err && errlen)
        snprintf(err, errlen, "%s: %s: %s", s->path, what, strerror(e));
    if (fd >= 0) {
        close(fd);
        unlink(s->path);
    }
    co_mem_free(s);
    errno = e;
    return NULL;
}

static uint64_t round_pow2(uint64_t v)
{
    uint64_t p = 2;
    while (p < v && p < (1ull << 40))
        p <<= 1;
    return p;
}

/* Fill the header; the magic goes last (release) so a reader that opens the file
   early sees either no magic (rejected, retry) or a complete header. */
/* Names by feed id, so subscribers print what the dump prints. */
static void shm_write_names(mux_shm_t *s, const mux_shm_conf_t *c)
{
    unsigned n = c->feed_names ? c->n_feed_names : 0;
    n = n < MDMUX_SHM_NAMES_MAX ? n : MDMUX_SHM_NAMES_MAX;
    char *tab = (char *)s->hdr + MDMUX_SHM_NAMES_OFF;
    for (unsigned i = 0; i < n; i++)
        if (c->feed_names[i])
            snprintf(tab + i * MDMUX_SHM_NAME_LEN, MDMUX_SHM_NAME_LEN, "%s", c->feed_names[i]);
    s->hdr->n_names = n;
    s->hdr->name_size = MDMUX_SHM_NAME_LEN;
}

static void shm_write_header(mux_shm_t *s, uint64_t slots)
{
    mdmux_shm_hdr_t *h = s->hdr;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->version = MDMUX_SHM_VERSION;
    h->hdr_size = MDMUX_SHM_HDR_SIZE;
    h->rec_size = sizeof(md_rec_t);
    h->slot_size = sizeof(mdmux_shm_slot_t);
    h->slot_count = slots;
    h->tsc_hz = co_tsc_hz();
    h->pid = (int64_t)getpid();
    h->created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    __atomic_store_n(&h->head, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->closed, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->magic, MDMUX_SHM_MAGIC, __ATOMIC_RELEASE);
}

mux_shm_t *mux_shm_new(const mux_shm_conf_t *c, char *err, size_t errlen)
{
    mux_shm_conf_t def = {0};
    c = c ? c : &def;
    mux_shm_t *s = co_mem_alloc(sizeof(*s), 64);
    if (!s)
        return NULL;
    const char *path = c->path ? c->path : MDMUX_SHM_PATH_DEFAULT;
    unsigned mode = c->mode ? c->mode : SHM_MODE_DEFAULT;
    uint64_t slots = round_pow2(c->slots ? c->slots : SHM_SLOTS_DEFAULT);
    if (snprintf(s->path, sizeof(s->path), "%s", path) >= (int)sizeof(s->path)) {
        errno = ENAMETOOLONG;
        return shm_fail(s, -1, err, errlen, "path");
    }
    s->keep_file = c->keep_file;
    s->map_len = MDMUX_SHM_HDR_SIZE + slots * sizeof(mdmux_shm_slot_t);
    /* A fresh inode: subscribers of a previous run keep their mapping of the old
       (closed or abandoned) one and never see this one's stamps restart at zero. */
    if (unlink(path) < 0 && errno != ENOENT)
        return shm_fail(s, -1, err, errlen, "cannot replace");
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0777);
    if (fd < 0)
        return shm_fail(s, -1, err, errlen, "cannot create");
    /* the group first: chown may clear set-id bits, and fchmod then sets the mode */
    if (c->set_group && fchown(fd, (uid_t)-1, (gid_t)c->gid) < 0) {
        char what[96];
        int e = errno;
        snprintf(what, sizeof(what), "cannot give the file to group %u%s", c->gid,
                 e == EPERM ? " (root, or a member of that group, may)" : "");
        errno = e;
        return shm_fail(s, fd, err, errlen, what);
    }
    if (fchmod(fd, mode & 07777) < 0) /* exactly the mode asked for, whatever the umask */
        return shm_fail(s, fd, err, errlen, "fchmod");
    if (ftruncate(fd, (off_t)s->map_len) < 0)
        return shm_fail(s, fd, err, errlen, "ftruncate");
    /* MAP_POPULATE: fault every page in now, not on the first lap of the data path. */
    void *p = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED)
        return shm_fail(s, fd, err, errlen, "mmap");
    close(fd);
    s->hdr = p;
    s->slots = (mdmux_shm_slot_t *)((char *)p + MDMUX_SHM_HDR_SIZE);
    s->mask = slots - 1;
    shm_write_names(s, c);
    shm_write_header(s, slots);
    return s;
}

void mux_shm_publish(mux_shm_t *s, const md_rec_t *r)
{
    uint64_t p = s->next++;
    mdmux_shm_slot_t *slot = &s->slots[p & s->mask];
    /* Odd stamp first; the release fence keeps every record word below after it, so
       a reader that sees any of them re-reads a stamp that is no longer 2p'+2. */
    __atomic_store_n(&slot->w[0], 2 * p + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
#pragma GCC unroll 16
    for (size_t i = 1; i < MDMUX_SHM_REC_WORDS; i++) {
        uint64_t w;
        memcpy(&w, (const char *)r + i * sizeof(w), sizeof(w));
        __atomic_store_n(&slot->w[i], w, __ATOMIC_RELAXED);
    }
    /* Complete: 2 * seq. Release publishes the words with it, then the head. */
    __atomic_store_n(&slot->w[0], 2 * p + 2, __ATOMIC_RELEASE);
    __atomic_store_n(&s->hdr->head, p + 1, __ATOMIC_RELEASE);
}

void mux_shm_close(mux_shm_t *s)
{
    if (s->closed)
        return;
    s->closed = true;
    __atomic_store_n(&s->hdr->closed, 1, __ATOMIC_RELEASE);
}

uint64_t mux_shm_published(const mux_shm_t *s)
{
    return __atomic_load_n(&s->hdr->head, __ATOMIC_RELAXED);
}

uint64_t mux_shm_slots(const mux_shm_t *s)
{
    return s->mask + 1;
}

const char *mux_shm_path(const mux_shm_t *s)
{
    return s->path;
}

void mux_shm_free(mux_shm_t *s)
{
    if (!s)
        return;
    mux_shm_close(s);
    munmap(s->hdr, s->map_len);
    if (!s->keep_file)
        unlink(s->path);
    co_mem_free(s);
}
