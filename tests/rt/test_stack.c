/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/rt: stacks — sizes, guard page, lazy commit, recycling, NUMA binding, the small
 * class at a million coroutines, and the overflow / canary death tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "co.h"
#include "testutil.h"

/* ThreadSanitizer: its signal interception does not run our SIGSEGV handler on the
 * alternate stack, and every coroutine carries a TSan fiber state (~20 KiB). */
#if defined(__SANITIZE_THREAD__)
#define TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN 1
#endif
#endif
#ifndef TSAN
#define TSAN 0
#endif

static size_t page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* An address inside the running coroutine's stack. */
static __attribute__((noinline)) uintptr_t stack_addr(void)
{
    return (uintptr_t)__builtin_frame_address(0);
}

struct probe {
    size_t stack_size;
    uintptr_t addr;
    size_t resident_pages, mapped_pages;
    int guard_prot_none;
    int policy;
};

/* Count resident pages of the whole usable stack with mincore(). */
static void probe_stack(void *arg)
{
    struct probe *p = arg;
    p->stack_size = co_stack_size(NULL);
    p->addr = stack_addr();
    size_t pg = page_size();
    uintptr_t top = (p->addr + pg) & ~(pg - 1);
    uintptr_t lo = (top - p->stack_size) & ~(pg - 1);
    size_t n = (top - lo) / pg;
    unsigned char *vec = calloc(n, 1);
    if (mincore((void *)lo, top - lo, vec) == 0) {
        for (size_t i = 0; i < n; i++)
            p->resident_pages += vec[i] & 1;
        p->mapped_pages = n;
    }
    free(vec);
    /* The page below the stack is the guard: mincore works on it, but it is not
     * accessible; msync succeeds on any mapping, so ask /proc/self/maps. */
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    uintptr_t guard = lo - pg;
    while (maps && fgets(line, sizeof(line), maps)) {
        unsigned long a, b;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) == 3 && guard >= a && guard < b)
            p->guard_prot_none = strncmp(perms, "---", 3) == 0;
    }
    if (maps)
        fclose(maps);
    int mode = -1;
    unsigned long mask = 0;
    if (get_mempolicy(&mode, &mask, sizeof(mask) * 8, (void *)p->addr, MPOL_F_ADDR) == 0)
        p->policy = mode;
}

static void test_default_and_custom_sizes(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    struct probe def = {0}, big = {0}, odd = {0};
    co_spawn(probe_stack, &def, NULL);
    co_spawn(probe_stack, &big, &(co_opts_t){.stack_size = 8u << 20});
    co_spawn(probe_stack, &odd, &(co_opts_t){.stack_size = 10000});
    assert_int_equal(co_sched_run(s), 0);
    /* The block is exactly the size asked for, less the header and its colour offset. */
    assert_in_range(def.stack_size, CO_STACK_DEFAULT - 2560, CO_STACK_DEFAULT - 64);
    assert_in_range(big.stack_size, (8u << 20) - 2560, (8u << 20) - 64);
    size_t odd_block = (10000 + page_size() - 1) / page_size() * page_size();
    assert_in_range(odd.stack_size, odd_block - 2560, odd_block - 64);
    assert_true(def.guard_prot_none);
    assert_true(big.guard_prot_none);
    /* Lazily committed: an 8 MiB stack holding a few frames has a few pages in RAM. */
    assert_int_equal(big.mapped_pages, (8u << 20) / page_size());
    assert_true(big.resident_pages <= 16);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* Finished coroutines' stacks are reused by the next spawn of the same size. */
static void record_addr(void *arg)
{
    *(uintptr_t *)arg = stack_addr();
}

static void test_stacks_recycled(void **state)
{
    (void)state;
    co_sched_t *s = co_sched_new(NULL);
    uintptr_t first = 0, second = 0, small1 = 0, small2 = 0;
    co_spawn(record_addr, &first, NULL);
    co_spawn(record_addr, &small1, &(co_opts_t){.stack_size = CO_STACK_SMALL});
    assert_int_equal(co_sched_run(s), 0);
    co_spawn(record_addr, &second, NULL);
    co_spawn(record_addr, &small2, &(co_opts_t){.stack_size = CO_STACK_SMALL});
    assert_int_equal(co_sched_run(s), 0);
    assert_true(first != 0);
    assert_int_equal(first, second);
    assert_int_equal(small1, small2);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* Stacks are bound to the scheduler's NUMA node: forced here, since this machine may
 * have a single node (auto mode binds only where there are several). */
static void test_numa_binding(void **state)
{
    (void)state;
    if (numa_available() < 0) {
        skip();
        return;
    }
    co_sched_t *s = co_sched_new(&(co_sched_opts_t){.numa_node = 1 /* node 0 */});
    struct probe bound = {0}, small = {0};
    co_spawn(probe_stack, &bound, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(co_sched_free(s, stderr), 0);
    assert_true(bound.policy == MPOL_BIND || bound.policy == MPOL_PREFERRED);

    s = co_sched_new(NULL); /* auto: one node, no binding */
    co_spawn(probe_stack, &small, NULL);
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(co_sched_free(s, stderr), 0);
    if (numa_max_node() == 0)
        assert_int_equal(small.policy, MPOL_DEFAULT);
}

/* ---- a million parked small-stack coroutines ------------------------------------------- */

struct gate {
    co_wg_t wg;
    size_t woke;
};

static void parked(void *arg)
{
    struct gate *g = arg;
    co_wg_wait(&g->wg, CO_BACKGROUND);
    g->woke++;
}

static long rss_pages(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident;
}

static void test_million_small_coroutines(void **state)
{
    (void)state;
    size_t n = (size_t)tu_env_u64("RT_PARKED", tu_sanitized() ? 100000 : 1000000);
    co_sched_t *s = co_sched_new(NULL);
    static struct gate g;
    co_wg_init(&g.wg);
    co_wg_add(&g.wg, 1);
    g.woke = 0;
    long before = rss_pages();
    for (size_t i = 0; i < n; i++)
        assert_non_null(co_spawn(parked, &g, &(co_opts_t){.stack_size = CO_STACK_SMALL}));
    assert_int_equal(co_sched_run(s), CO_EDEADLOCK); /* all parked on the gate */
    assert_int_equal(co_sched_live(s), n);
    long per_co = (rss_pages() - before) * (long)page_size() / (long)n;
    print_message("%zu parked small coroutines: %ld bytes resident each\n", n, per_co);
    /* 2 KiB of stack plus a cache-line-aligned header (16 KiB stacks under sanitizers) */
    if (!TSAN)
        assert_true(per_co < (long)CO_STACK_SMALL_SIZE + 2048);
    co_wg_done(&g.wg); /* from the thread: readies every waiter */
    assert_int_equal(co_sched_run(s), 0);
    assert_int_equal(g.woke, n);
    assert_int_equal(co_sched_free(s, stderr), 0);
}

/* ---- death tests --------------------------------------------------------------------------- */

static __attribute__((noinline)) int recurse(int depth)
{
    volatile char frame[512];
    for (size_t i = 0; i < sizeof(frame); i++) /* touch every byte, canary included */
        frame[i] = (char)depth;
    if (depth == 0)
        return frame[0];
    return recurse(depth - 1) + frame[0];
}

static void overflow_entry(void *arg)
{
    int depth = (int)(intptr_t)arg;
    recurse(depth);
    co_yield(); /* small class: the canary is checked here */
}

static void overflow_child(void *arg)
{
    co_sched_t *s = co_sched_new(NULL);
    size_t size = *(size_t *)arg;
    int depth = size == CO_STACK_SMALL ? (int)(CO_STACK_SMALL_SIZE / 512 + 2) : 100000;
    co_spawn(overflow_entry, (void *)(intptr_t)depth,
             &(co_opts_t){.name = "deep-recursion", .stack_size = size});
    co_sched_run(s);
}

/* Overflow a stack of @p size in a child; it must abort naming the coroutine. */
static void expect_overflow_death(size_t size, unsigned kib)
{
    if (TSAN) {
        print_message("skipped under TSan: its signal interception kills the child with SIGSEGV "
                      "before our handler can report\n");
        skip();
        return;
    }
    char err[4096], want[128];
    int sig = 0;
    tu_run_child(overflow_child, &size, err, sizeof(err), &sig);
    assert_int_equal(sig, SIGABRT);
    snprintf(want, sizeof(want), "coroutine 'deep-recursion' overflowed its %u KiB stack", kib);
    assert_non_null(strstr(err, want));
}

static void test_guard_page_overflow_dies_with_name(void **state)
{
    (void)state;
    expect_overflow_death(64 * 1024, 64);
}

static void test_small_stack_canary_dies_with_name(void **state)
{
    (void)state;
    expect_overflow_death(CO_STACK_SMALL, CO_STACK_SMALL_SIZE / 1024);
}

/* Without a coroutine involved, a plain wild access still crashes normally: the
 * handler only claims faults in a guard page. */
static void wild_child(void *arg)
{
    (void)arg;
    co_sched_t *s = co_sched_new(NULL);
    (void)s;
    static volatile uintptr_t wild = 16;
    *(volatile int *)wild = 1;
}

static void test_other_faults_pass_through(void **state)
{
    (void)state;
    char err[4096];
    int sig = 0;
    tu_run_child(wild_child, NULL, err, sizeof(err), &sig);
    if (tu_sanitized())
        assert_true(sig != 0); /* the sanitizer's own SEGV report takes over */
    else
        assert_int_equal(sig, SIGSEGV);
    assert_null(strstr(err, "overflowed"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_and_custom_sizes),
        cmocka_unit_test(test_stacks_recycled),
        cmocka_unit_test(test_numa_binding),
        cmocka_unit_test(test_million_small_coroutines),
        cmocka_unit_test(test_guard_page_overflow_dies_with_name),
        cmocka_unit_test(test_small_stack_canary_dies_with_name),
        cmocka_unit_test(test_other_faults_pass_through),
    };
    return cmocka_run_group_tests_name("rt_stack", tests, NULL, NULL);
}
