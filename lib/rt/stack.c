/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Coroutine stacks. Each coroutine's struct co lives at the top of its stack block,
 * so a spawn is one cache pop.
 *
 * Guarded class: [PROT_NONE guard page][stack, grows down][struct co]. The block
 * is exactly the requested size rounded up to pages (the usable stack is that less
 * the header), and the header shares its page with the first stack frames, so a
 * fresh coroutine touches a single page. Successive blocks put their header at
 * different offsets of that page (cache colouring: with every stack the same size,
 * the headers and first frames would otherwise all fall in the same few cache sets
 * and evict one another). mmap'ed with MAP_NORESERVE and never
 * touched, so the kernel commits pages only as the stack grows into them. Freed
 * stacks go to a per-scheduler cache, by exact size, up to a byte budget.
 *
 * Small class: [canary][CO_STACK_SMALL_SIZE stack][struct co] blocks packed in
 * 4 MiB chunks with no guard page between them; the canary is checked on every
 * switch away. Each chunk starts with one PROT_NONE page so the lowest block cannot
 * run off into an unrelated mapping.
 *
 * Every mapping is bound to the scheduler's NUMA node when it has one.
 */
#include "rt_internal.h"

#include <errno.h>
#include <numa.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#endif

#define SMALL_CHUNK_LEN (4u << 20)
#define STACK_COLOURS   32u /* x 64 bytes: spreads headers over 2 KiB of a page */

uint64_t rt_canary_seed = 0x6d646d7578636f21ull; /* re-seeded per process in sched.c */

size_t rt_small_block_size(void)
{
    return CO_STACK_SMALL_SIZE + sizeof(struct co);
}

static size_t round_up(size_t v, size_t to)
{
    return (v + to - 1) & ~(to - 1);
}

/* Map @p len bytes on the scheduler's node, the lowest page PROT_NONE (a guard). */
static char *map_guarded(co_sched_t *s, size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (mprotect(p, s->page, PROT_NONE) != 0) {
        munmap(p, len);
        return NULL;
    }
    if (s->numa_node >= 0)
        numa_tonode_memory(p, len, s->numa_node);
    return p;
}

/* ---- free lists: arrays of block pointers ---------------------------------------
 *
 * Arrays rather than intrusive lists, so a pop never chases a pointer through a
 * cold header and the blocks next in line can be prefetched. They are mmap'ed and
 * grown before they could fill, so recycling a block never allocates (it may run
 * on the very stack being recycled).
 */

static bool items_reserve(co_t ***items, uint32_t *cap, uint32_t want)
{
    if (want <= *cap)
        return true;
    uint32_t cap2 = *cap ? *cap : 256;
    while (cap2 < want)
        cap2 *= 2;
    size_t old_len = (size_t)*cap * sizeof(co_t *), len = (size_t)cap2 * sizeof(co_t *);
    void *p = *items ? mremap(*items, old_len, len, MREMAP_MAYMOVE)
                     : mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return false;
    *items = p;
    *cap = cap2;
    return true;
}

static void items_free(co_t **items, uint32_t cap)
{
    if (items)
        munmap(items, (size_t)cap * sizeof(co_t *));
}

static struct rt_stack_cache *cache_find(co_sched_t *s, size_t map_len)
{
    for (int i = 0; i < RT_STACK_CLASSES; i++)
        if (s->stacks[i].map_len == map_len)
            return &s->stacks[i];
    return NULL;
}

/* A cache for blocks of @p map_len, taking over an empty slot; NULL if none is. */
static struct rt_stack_cache *cache_create(co_sched_t *s, size_t map_len)
{
    for (int i = 0; i < RT_STACK_CLASSES; i++) {
        struct rt_stack_cache *c = &s->stacks[i];
        if (c->n != 0)
            continue;
        /* Live blocks of the slot's old size must not come back to it as the new
         * size: they go uncached (recycle then looks their size up again). This
         * keeps the recycle fast path free of a size check. */
        for (uint32_t j = 0; c->map_len && j < s->nblocks; j++)
            if (s->blocks[j]->cache_slot == i)
                s->blocks[j]->cache_slot = RT_NO_CACHE;
        items_free(c->items, c->cap);
        *c = (struct rt_stack_cache){.map_len = map_len};
        if (s->hint_slot == i)
            s->hint_size = SIZE_MAX; /* the hint named this slot's old size */
        uint32_t want = (uint32_t)(s->cache_max / map_len) + 1;
        if (!items_reserve(&c->items, &c->cap, want)) {
            *c = (struct rt_stack_cache){0};
            return NULL;
        }
        return c;
    }
    return NULL;
}

/* Record a new guarded block in the table the registry walks. */
static bool blocks_add(co_sched_t *s, co_t *co)
{
    if (s->nblocks == s->blocks_cap && !items_reserve(&s->blocks, &s->blocks_cap, s->nblocks + 1))
        return false;
    co->block_idx = s->nblocks;
    s->blocks[s->nblocks++] = co;
    return true;
}

/* Unmap a guarded block and drop it from the table. */
static void guarded_unmap(co_sched_t *s, co_t *co)
{
    co_t *last = s->blocks[--s->nblocks];
    s->blocks[co->block_idx] = last;
    last->block_idx = co->block_idx;
    munmap(rt_block_base(s, co), rt_block_len(s, co));
}

static co_t *guarded_get(co_sched_t *s, size_t stack_size)
{
    size_t block = round_up(stack_size, s->page);
    size_t len = s->page + block;
    struct rt_stack_cache *c = cache_find(s, len);
    if (!c)
        c = cache_create(s, len); /* so this block can be recycled when it finishes */
    if (c) {
        if (c->n) {
            co_t *co = c->items[--c->n];
            rt_warm_next(c->items, c->n);
            s->cache_bytes -= len;
            return co;
        }
    }
    char *base = map_guarded(s, len);
    if (!base)
        return NULL;
    size_t colour = (s->colour++ % STACK_COLOURS) * RT_CACHE_LINE;
    co_t *co = (co_t *)(base + len - sizeof(struct co) - colour);
    co->stack_class = CO_STK_GUARDED;
    co->cache_slot = c ? (uint8_t)(c - s->stacks) : RT_NO_CACHE;
    co->cx.stack_lo = base + s->page;
    co->cx.stack_len = (size_t)((char *)co - (char *)co->cx.stack_lo);
    if (!blocks_add(s, co)) {
        munmap(base, len);
        return NULL;
    }
    return co;
}

static co_t *small_get(co_sched_t *s)
{
    if (s->small_n) {
        co_t *co = s->small_items[--s->small_n];
        rt_warm_next(s->small_items, s->small_n);
        return co;
    }
    size_t block = rt_small_block_size();
    if ((size_t)(s->small_end - s->small_cur) < block) {
        size_t per_chunk = SMALL_CHUNK_LEN / block;
        if (!items_reserve(&s->small_items, &s->small_cap, (uint32_t)(s->small_blocks + per_chunk)))
            return NULL;
        char *base = map_guarded(s, SMALL_CHUNK_LEN);
        if (!base)
            return NULL;
        struct rt_chunk *chunk = (struct rt_chunk *)(base + s->page);
        chunk->len = SMALL_CHUNK_LEN;
        chunk->next = s->chunks;
        s->chunks = chunk;
        s->small_cur = (char *)chunk + RT_CACHE_LINE;
        s->small_end = base + SMALL_CHUNK_LEN;
    }
    char *base = s->small_cur;
    s->small_cur += block;
    s->small_blocks++;
    co_t *co = (co_t *)(base + CO_STACK_SMALL_SIZE);
    co->stack_class = CO_STK_SMALL;
    co->cx.stack_lo = base;
    co->cx.stack_len = CO_STACK_SMALL_SIZE;
    return co;
}

co_t *rt_stack_get_slow(co_sched_t *s, size_t stack_size)
{
    co_t *co;
    if (stack_size == CO_STACK_SMALL) {
        co = small_get(s);
        if (co)
            *rt_canary_slot(co) = rt_canary_value(co);
    } else {
        co = guarded_get(s, stack_size ? stack_size : CO_STACK_DEFAULT);
    }
    if (!co)
        errno = ENOMEM;
    return co;
}

/*
 * Return @p co's block to its cache. Returns false, doing nothing, if the block
 * would have to be unmapped: the caller may be running on it.
 */
bool rt_stack_recycle_slow(co_sched_t *s, co_t *co)
{
    struct rt_stack_cache *c = cache_find(s, rt_block_len(s, co));
    if (!c)
        return false;
    co->cache_slot = (uint8_t)(c - s->stacks);
    return rt_stack_recycle(s, co);
}

void rt_stack_put(co_sched_t *s, co_t *co)
{
#ifdef __SANITIZE_ADDRESS__
    /* Frames abandoned by a switch or a panic leave poisoned redzones behind. */
    ASAN_UNPOISON_MEMORY_REGION(co->cx.stack_lo, co->cx.stack_len);
#endif
    if (!rt_stack_recycle(s, co))
        guarded_unmap(s, co); /* small blocks always recycle */
}

/*
 * Call @p fn for every block ever handed out and not unmapped, live or free: the
 * guarded table, then every small block carved from the chunks. The registry finds
 * the live coroutines this way, so spawning and finishing maintain no list.
 */
void rt_blocks_foreach(co_sched_t *s, void (*fn)(co_t *, void *), void *arg)
{
    for (uint32_t i = 0; i < s->nblocks; i++)
        fn(s->blocks[i], arg);
    size_t block = rt_small_block_size();
    for (struct rt_chunk *chunk = s->chunks; chunk; chunk = chunk->next) {
        char *at = (char *)chunk + RT_CACHE_LINE;
        char *end = chunk == s->chunks ? s->small_cur : (char *)chunk - s->page + chunk->len;
        for (; (size_t)(end - at) >= block; at += block)
            fn((co_t *)(at + CO_STACK_SMALL_SIZE), arg);
    }
}

void rt_stack_release_all(co_sched_t *s)
{
    /* The table holds every guarded block, cached or leaked. */
    for (uint32_t i = 0; i < s->nblocks; i++)
        munmap(rt_block_base(s, s->blocks[i]), rt_block_len(s, s->blocks[i]));
    items_free(s->blocks, s->blocks_cap);
    s->blocks = NULL;
    s->nblocks = s->blocks_cap = 0;
    for (int i = 0; i < RT_STACK_CLASSES; i++) {
        struct rt_stack_cache *c = &s->stacks[i];
        items_free(c->items, c->cap);
        *c = (struct rt_stack_cache){0};
    }
    s->cache_bytes = 0;
    s->hint_size = SIZE_MAX;
    struct rt_chunk *chunk = s->chunks;
    while (chunk) {
        struct rt_chunk *next = chunk->next;
        munmap((char *)chunk - s->page, chunk->len);
        chunk = next;
    }
    s->chunks = NULL;
    items_free(s->small_items, s->small_cap);
    s->small_items = NULL;
    s->small_n = s->small_cap = 0;
    s->small_blocks = 0;
    s->small_cur = s->small_end = NULL;
}
