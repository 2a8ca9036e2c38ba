/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/pool: object pools — bursts, caches, exhaustion, counters, ownership, threads,
 * and the check that every object is back when a pool is freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "pool.h"
#include "testutil.h"

static void test_get_put_and_exhaustion(void **state)
{
    (void)state;
    pool_t *p = pool_new(&(pool_opts_t){
        .name = "t", .elem_size = 20, .count = 100, .cache_size = 16, .numa_node = -1});
    assert_non_null(p);
    assert_int_equal(pool_elem_size(p), 24); /* rounded to 8 */
    void *objs[128];
    assert_int_equal(pool_get_burst(p, objs, 64), 64);
    assert_int_equal(pool_get_burst(p, objs + 64, 64), 36); /* exhausted: reported */
    assert_null(pool_get(p));
    pool_stats_t st;
    pool_stats(p, &st);
    assert_int_equal(st.gets, 100);
    assert_int_equal(st.get_fails, 28 + 1);
    assert_int_equal(st.avail, 0);
    /* Every object is distinct, inside the pool and writable. */
    for (int i = 0; i < 100; i++) {
        assert_true(pool_owns(p, objs[i]));
        memset(objs[i], i, 20);
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(objs[i], objs[j]);
    }
    assert_false(pool_owns(p, (char *)objs[0] + 1));
    assert_false(pool_owns(p, &st));
    pool_put_burst(p, objs, 100);
    pool_stats(p, &st);
    assert_int_equal(st.puts, 100);
    assert_int_equal(st.avail, 100);
    pool_free(p);
}

static void test_large_bursts_and_cacheline_objects(void **state)
{
    (void)state;
    pool_t *p = pool_new(&(pool_opts_t){.elem_size = 100, .count = 5000, .numa_node = 0});
    assert_non_null(p);
    assert_int_equal(pool_elem_size(p), 128); /* >= a cache line: line-aligned */
    static void *objs[5000];
    assert_int_equal(pool_get_burst(p, objs, 5000), 5000); /* bigger than any cache */
    for (int i = 0; i < 5000; i++)
        assert_int_equal((uintptr_t)objs[i] % 64, 0);
    pool_put_burst(p, objs, 5000);
    for (int r = 0; r < 100; r++) {
        unsigned n = (unsigned)(r * 37 % 300) + 1;
        assert_int_equal(pool_get_burst(p, objs, n), n);
        pool_put_burst(p, objs, n);
    }
    pool_stats_t st;
    pool_stats(p, &st);
    assert_int_equal(st.avail, 5000);
    assert_int_equal(st.gets, st.puts);
    pool_free(p);
}

static void test_bad_options(void **state)
{
    (void)state;
    assert_null(pool_new(NULL));
    assert_null(pool_new(&(pool_opts_t){.elem_size = 0, .count = 1, .numa_node = -1}));
    assert_int_equal(errno, EINVAL);
    assert_null(pool_new(&(pool_opts_t){.elem_size = 8, .count = 0, .numa_node = -1}));
    assert_null(
        pool_new(&(pool_opts_t){.elem_size = 8, .count = 8, .cache_size = 4096, .numa_node = -1}));
}

/* ---- threads -------------------------------------------------------------------------- */

enum { THREADS = 4, ROUNDS = 200000 };

struct hammer {
    pool_t *p;
    _Atomic uint32_t *owner; /* per object: who holds it (0: the pool) */
    int id;
    bool ok;
};

static uint32_t index_of(pool_t *p, void *obj, void *base)
{
    return (uint32_t)(((char *)obj - (char *)base) / (ptrdiff_t)pool_elem_size(p));
}

static void *base_of_pool;

static void *hammer(void *arg)
{
    struct hammer *h = arg;
    void *objs[48];
    h->ok = true;
    for (unsigned r = 0; r < ROUNDS; r++) {
        unsigned n = r % 48 + 1;
        unsigned got = pool_get_burst(h->p, objs, n);
        for (unsigned i = 0; i < got; i++) {
            uint32_t expected = 0;
            /* Nobody else may hold an object we were just given. */
            if (!atomic_compare_exchange_strong(&h->owner[index_of(h->p, objs[i], base_of_pool)],
                                                &expected, (uint32_t)h->id))
                h->ok = false;
        }
        for (unsigned i = 0; i < got; i++)
            atomic_store(&h->owner[index_of(h->p, objs[i], base_of_pool)], 0);
        pool_put_burst(h->p, objs, got);
    }
    return NULL;
}

static void test_threads_never_share_an_object(void **state)
{
    (void)state;
    size_t count = 256; /* small: the threads exhaust it and contend on the store */
    pool_t *p =
        pool_new(&(pool_opts_t){.elem_size = 8, .count = count, .cache_size = 32, .numa_node = -1});
    /* Objects are laid out from the lowest address: find it by scanning all. */
    void *all[256];
    assert_int_equal(pool_get_burst(p, all, 256), 256);
    base_of_pool = all[0];
    for (int i = 1; i < 256; i++)
        if ((char *)all[i] < (char *)base_of_pool)
            base_of_pool = all[i];
    pool_put_burst(p, all, 256);
    _Atomic uint32_t owner[256] = {0};
    struct hammer h[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        h[i] = (struct hammer){.p = p, .owner = owner, .id = i + 1};
        pthread_create(&t[i], NULL, hammer, &h[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_true(h[i].ok);
    }
    pool_stats_t st;
    pool_stats(p, &st);
    assert_int_equal(st.avail, count);
    assert_int_equal(st.gets, st.puts);
    pool_free(p);
}

/* ---- freeing with objects out is a bug, reported by name --------------------------------- */

static void leak_one(void *arg)
{
    (void)arg;
    pool_t *p =
        pool_new(&(pool_opts_t){.name = "mbufs", .elem_size = 8, .count = 4, .numa_node = -1});
    pool_get(p);
    pool_free(p);
}

static void test_free_with_objects_out_aborts(void **state)
{
    (void)state;
    char err[2048];
    int sig = 0;
    tu_run_child(leak_one, NULL, err, sizeof(err), &sig);
    assert_int_equal(sig, SIGABRT);
    assert_non_null(strstr(err, "pool 'mbufs' freed with 1 of 4 objects still out"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_put_and_exhaustion),
        cmocka_unit_test(test_large_bursts_and_cacheline_objects),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_threads_never_share_an_object),
        cmocka_unit_test(test_free_with_objects_out_aborts),
    };
    return cmocka_run_group_tests_name("pool_objects", tests, NULL, NULL);
}
