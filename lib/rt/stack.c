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

static void *map_region(co_sched_t *s, size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (s->numa_node >= 0)
        numa_tonode_memory(p, len, s->numa_node);
    return p;
}

static struct rt_stack_cache *cache_slot(co_sched_t *s, size_t map_len, bool create)
{
    struct rt_stack_cache *empty = NULL;
    for (int i = 0; i < RT_STACK_CLASSES; i++) {
        if (s->stacks[i].map_len == map_len)
            return &s->stacks[i];
        if (!empty && s->stacks[i].count == 0)
            empty = &s->stacks[i];
    }
    if (create && empty)
        empty->map_len = map_len;
    return create ? empty : NULL;
}

static co_t *guarded_get(co_sched_t *s, size_t stack_size)
{
    size_t block = round_up(stack_size, s->page);
    size_t len = s->page + block;
    struct rt_stack_cache *c = cache_slot(s, len, false);
    if (c && c->free) {
        co_t *co = c->free;
        c->free = co->next;
        if (c->free) /* spawns come in bursts: warm the next header now */
            __builtin_prefetch(c->free, 1);
        c->count--;
        s->cache_bytes -= len;
        return co;
    }
    void *base = map_region(s, len);
    if (!base)
        return NULL;
    if (mprotect(base, s->page, PROT_NONE) != 0) {
        munmap(base, len);
        return NULL;
    }
    size_t colour = (s->colour++ % STACK_COLOURS) * RT_CACHE_LINE;
    co_t *co = (co_t *)((char *)base + len - sizeof(struct co) - colour);
    co->map_base = base;
    co->map_len = len;
    co->stack_class = CO_STK_GUARDED;
    co->cx.stack_lo = (char *)base + s->page;
    co->cx.stack_len = (size_t)((char *)co - (char *)co->cx.stack_lo);
    return co;
}

static co_t *small_get(co_sched_t *s)
{
    co_t *co = s->small_free;
    if (co) {
        s->small_free = co->next;
        if (co->next)
            __builtin_prefetch(co->next, 1);
        return co;
    }
    size_t block = rt_small_block_size();
    if ((size_t)(s->small_end - s->small_cur) < block) {
        char *base = map_region(s, SMALL_CHUNK_LEN);
        if (!base)
            return NULL;
        if (mprotect(base, s->page, PROT_NONE) != 0) {
            munmap(base, SMALL_CHUNK_LEN);
            return NULL;
        }
        struct rt_chunk *chunk = (struct rt_chunk *)(base + s->page);
        chunk->len = SMALL_CHUNK_LEN;
        chunk->next = s->chunks;
        s->chunks = chunk;
        s->small_cur = (char *)chunk + RT_CACHE_LINE;
        s->small_end = base + SMALL_CHUNK_LEN;
    }
    char *base = s->small_cur;
    s->small_cur += block;
    co = (co_t *)(base + CO_STACK_SMALL_SIZE);
    co->map_base = base;
    co->map_len = block;
    co->stack_class = CO_STK_SMALL;
    co->cx.stack_lo = base;
    co->cx.stack_len = CO_STACK_SMALL_SIZE;
    return co;
}

co_t *rt_stack_get(co_sched_t *s, size_t stack_size)
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
bool rt_stack_recycle(co_sched_t *s, co_t *co)
{
    if (co->stack_class == CO_STK_SMALL) {
        co->next = s->small_free;
        s->small_free = co;
        return true;
    }
    struct rt_stack_cache *c = NULL;
    if (s->cache_bytes + co->map_len <= s->cache_max)
        c = cache_slot(s, co->map_len, true);
    if (!c)
        return false;
    co->next = c->free;
    c->free = co;
    c->count++;
    s->cache_bytes += co->map_len;
    return true;
}

void rt_stack_put(co_sched_t *s, co_t *co)
{
#ifdef __SANITIZE_ADDRESS__
    /* Frames abandoned by a switch or a panic leave poisoned redzones behind. */
    ASAN_UNPOISON_MEMORY_REGION(co->cx.stack_lo, co->cx.stack_len);
#endif
    if (!rt_stack_recycle(s, co))
        munmap(co->map_base, co->map_len);
}

void rt_stack_release_all(co_sched_t *s)
{
    for (int i = 0; i < RT_STACK_CLASSES; i++) {
        co_t *co = s->stacks[i].free;
        while (co) {
            co_t *next = co->next;
            munmap(co->map_base, co->map_len);
            co = next;
        }
        s->stacks[i] = (struct rt_stack_cache){0};
    }
    s->cache_bytes = 0;
    struct rt_chunk *chunk = s->chunks;
    while (chunk) {
        struct rt_chunk *next = chunk->next;
        munmap((char *)chunk - s->page, chunk->len);
        chunk = next;
    }
    s->chunks = NULL;
    s->small_free = NULL;
    s->small_cur = s->small_end = NULL;
}
