/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/mux: the shared-memory broadcast ring — header and geometry checks, file
 * permissions and group ownership (a reader in the group may open it, others may not),
 * in-order delivery, exact loss for a lapped reader, many reader threads
 * while the publisher runs (torn reads detected word by word), reader processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mdmux_sub.h"
#include "mux.h"
#include "testutil.h"

static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof(path), "/dev/shm/mdmux-test-shm-%d", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

/* Word i of record seq: every word depends on seq, so a torn copy cannot pass. */
static uint64_t word(uint64_t seq, unsigned i)
{
    return i == 0 ? seq : (seq * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)i << 56 | i);
}

static void make_rec(md_rec_t *r, uint64_t seq)
{
    for (unsigned i = 0; i < MDMUX_SHM_REC_WORDS; i++) {
        uint64_t w = word(seq, i);
        memcpy((char *)r + i * 8, &w, 8);
    }
}

static bool rec_ok(const md_rec_t *r)
{
    for (unsigned i = 0; i < MDMUX_SHM_REC_WORDS; i++) {
        uint64_t w;
        memcpy(&w, (const char *)r + i * 8, 8);
        if (w != word(r->seq, i))
            return false;
    }
    return true;
}

static mux_shm_t *ring(uint64_t slots)
{
    char err[256];
    mux_shm_conf_t c = {.path = path, .slots = slots};
    mux_shm_t *s = mux_shm_new(&c, err, sizeof(err));
    if (!s)
        fail_msg("%s", err);
    return s;
}

static void publish_n(mux_shm_t *s, uint64_t from, uint64_t n)
{
    md_rec_t r;
    for (uint64_t q = from; q < from + n; q++) {
        make_rec(&r, q);
        mux_shm_publish(s, &r);
    }
}

/* Reader check: records are intact, seqs strictly increase, every skip is counted as
   loss, and at the end delivered + lost == published. Returns false on any breach. */
typedef struct reader {
    /* start: records published before the first this reader could read (it opened the
       ring after it had wrapped: a reader slow to start on a loaded box), not a loss */
    uint64_t got, lost, bad, slow_spin, start;
    int from;
} reader_t;

static bool read_all(reader_t *rd)
{
    mdmux_sub_t s;
    char err[256];
    if (mdmux_sub_open(&s, path, rd->from, err, sizeof(err)) < 0)
        return false;
    uint64_t expect = s.cursor + 1, lost_before = 0;
    rd->start = s.cursor;
    md_rec_t r;
    for (;;) {
        int rc = mdmux_sub_next(&s, &r);
        if (rc < 0)
            break;
        if (rc == 0) {
            __builtin_ia32_pause();
            continue;
        }
        uint64_t skipped = mdmux_sub_lost(&s) - lost_before;
        if (!rec_ok(&r) || r.seq != expect + skipped)
            rd->bad++;
        lost_before = mdmux_sub_lost(&s);
        expect = r.seq + 1;
        for (volatile uint64_t i = 0; i < rd->slow_spin; i++)
            ;
    }
    rd->got = s.got;
    rd->lost = mdmux_sub_lost(&s);
    bool ok = rd->start + rd->got + rd->lost == mdmux_sub_head(&s) && rd->bad == 0;
    mdmux_sub_close(&s);
    return ok;
}

static void test_header_and_geometry(void **state)
{
    (void)state;
    mux_shm_t *s = ring(1000);
    assert_int_equal(mux_shm_slots(s), 1024);
    mdmux_sub_t sub;
    char err[256];
    assert_int_equal(mdmux_sub_open(&sub, path, MDMUX_SUB_FROM_NOW, err, sizeof(err)), 0);
    assert_int_equal(sub.hdr->magic, MDMUX_SHM_MAGIC);
    assert_memory_equal(sub.hdr, "MDMUXSHM", 8);
    assert_int_equal(sub.hdr->version, MDMUX_SHM_VERSION);
    assert_int_equal(sub.hdr->slot_count, 1024);
    assert_int_equal(sub.hdr->rec_size, sizeof(md_rec_t));
    assert_int_equal(sub.hdr->pid, getpid());
    assert_true(sub.hdr->tsc_hz > 0);
    assert_null(mdmux_sub_feed_name(&sub, 0)); /* none configured */
    mdmux_sub_close(&sub);

    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint32_t bad_version = MDMUX_SHM_VERSION + 1;
    assert_int_equal(pwrite(fd, &bad_version, 4, offsetof(mdmux_shm_hdr_t, version)), 4);
    assert_int_equal(mdmux_sub_open(&sub, path, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "version"));
    uint64_t bad_magic = 0x1234;
    assert_int_equal(pwrite(fd, &bad_magic, 8, 0), 8);
    assert_int_equal(mdmux_sub_open(&sub, path, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "magic"));
    assert_int_equal(errno, EINVAL);
    close(fd);
    mux_shm_free(s); /* unlinks */
    assert_int_equal(access(path, F_OK), -1);

    s = ring(64); /* a file whose size disagrees with its header */
    assert_int_equal(truncate(path, (off_t)(MDMUX_SHM_HDR_SIZE + 32 * sizeof(mdmux_shm_slot_t))),
                     0);
    assert_int_equal(mdmux_sub_open(&sub, path, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "slot count"));
    assert_int_equal(truncate(path, 100), 0);
    assert_int_equal(mdmux_sub_open(&sub, path, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too short"));
    mux_shm_free(s);
    assert_int_equal(mdmux_sub_open(&sub, path, 0, err, sizeof(err)), -1);
    assert_int_equal(errno, ENOENT);
    assert_non_null(strstr(err, path));
}

static void test_feed_names(void **state)
{
    (void)state;
    const char *names[3] = {"feed00", NULL, "a-very-long-feed-name-that-does-not-fit-in-48-bytes"};
    char err[256];
    mux_shm_conf_t c = {.path = path, .slots = 16, .feed_names = names, .n_feed_names = 3};
    mux_shm_t *s = mux_shm_new(&c, err, sizeof(err));
    assert_non_null(s);
    mdmux_sub_t sub;
    assert_int_equal(mdmux_sub_open(&sub, path, 0, err, sizeof(err)), 0);
    assert_string_equal(mdmux_sub_feed_name(&sub, 0), "feed00");
    assert_null(mdmux_sub_feed_name(&sub, 1));
    assert_int_equal(strlen(mdmux_sub_feed_name(&sub, 2)), MDMUX_SHM_NAME_LEN - 1);
    assert_null(mdmux_sub_feed_name(&sub, 3));
    assert_null(mdmux_sub_feed_name(&sub, 60000));
    mdmux_sub_close(&sub);
    mux_shm_free(s);
}

static void test_permissions(void **state)
{
    (void)state;
    mode_t old = umask(0);
    struct stat st;
    mux_shm_t *s = ring(16); /* default: 0640, never world-readable */
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    mux_shm_free(s);
    umask(077); /* the mode is exact whatever the umask */
    char err[256];
    mux_shm_conf_t c = {.path = path, .slots = 16, .mode = 0604, .keep_file = true};
    s = mux_shm_new(&c, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0604);
    mux_shm_free(s);
    assert_int_equal(access(path, F_OK), 0); /* keep_file */
    umask(old);
    c.path = "/nonexistent-dir/mdmux";
    assert_null(mux_shm_new(&c, err, sizeof(err)));
    assert_int_equal(errno, ENOENT);
    assert_non_null(strstr(err, "/nonexistent-dir/mdmux"));
}

/* In a child: drop to uid 65534 with group @p gid only, open the ring; exit 0 if it
   opened, 1 with EACCES, 2 otherwise. */
static int open_as(gid_t gid)
{
    pid_t pid = fork();
    if (pid == 0) {
        mdmux_sub_t sub;
        char err[256];
        if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(65534) < 0)
            _exit(3);
        if (mdmux_sub_open(&sub, path, MDMUX_SUB_FROM_NOW, err, sizeof(err)) == 0)
            _exit(0);
        _exit(errno == EACCES ? 1 : 2);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void test_group(void **state)
{
    (void)state;
    char err[256];
    struct stat st;
    /* our own group: always allowed */
    mux_shm_conf_t c = {.path = path, .slots = 16, .set_group = true, .gid = (uint32_t)getegid()};
    mux_shm_t *s = mux_shm_new(&c, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_gid, getegid());
    assert_int_equal(st.st_mode & 07777, 0640);
    mux_shm_free(s);
    if (geteuid() != 0) {
        /* a group we are not in: refused, naming the file and the group */
        gid_t other = getegid() == 0 ? 1 : 0;
        gid_t mine[256];
        int n = getgroups(256, mine);
        for (int i = 0; i < n; i++)
            if (mine[i] == other)
                goto skip;
        c.gid = (uint32_t)other;
        assert_null(mux_shm_new(&c, err, sizeof(err)));
        assert_int_equal(errno, EPERM);
        assert_non_null(strstr(err, path));
        assert_non_null(strstr(err, "cannot give the file to group"));
        assert_int_equal(access(path, F_OK), -1); /* not left behind */
    skip:
        print_message("not root: the other-group reader case needs setuid: skipped\n");
        skip();
    }
    /* as root: any gid; a reader in the group opens it, one outside may not */
    c.gid = 54321;
    s = mux_shm_new(&c, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_gid, 54321);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(open_as(54321), 0);
    assert_int_equal(open_as(54322), 1);
    mux_shm_free(s);
}

static void test_in_order_and_close(void **state)
{
    (void)state;
    mux_shm_t *s = ring(64);
    publish_n(s, 1, 10); /* before the subscriber: FROM_NOW skips them, OLDEST does not */
    mdmux_sub_t now, old;
    assert_int_equal(mdmux_sub_open(&now, path, MDMUX_SUB_FROM_NOW, NULL, 0), 0);
    assert_int_equal(mdmux_sub_open(&old, path, MDMUX_SUB_FROM_OLDEST, NULL, 0), 0);
    md_rec_t r;
    assert_int_equal(mdmux_sub_next(&now, &r), 0);
    publish_n(s, 11, 40);
    for (uint64_t q = 1; q <= 50; q++) {
        assert_int_equal(mdmux_sub_next(&old, &r), 1);
        assert_int_equal(r.seq, q);
        assert_true(rec_ok(&r));
    }
    for (uint64_t q = 11; q <= 50; q++) {
        assert_int_equal(mdmux_sub_next(&now, &r), 1);
        assert_int_equal(r.seq, q);
    }
    assert_int_equal(mdmux_sub_next(&old, &r), 0); /* caught up, not closed */
    mux_shm_close(s);
    assert_int_equal(mdmux_sub_next(&old, &r), -1);
    assert_int_equal(mdmux_sub_next(&now, &r), -1);
    assert_int_equal(mdmux_sub_lost(&old) + mdmux_sub_lost(&now), 0);
    mdmux_sub_close(&now);
    mdmux_sub_close(&old);
    mux_shm_free(s);
}

/* A reader a whole ring (and more) behind is lapped and counts its loss exactly. */
static void test_lapped_exact_loss(void **state)
{
    (void)state;
    mux_shm_t *s = ring(16);
    mdmux_sub_t sub;
    assert_int_equal(mdmux_sub_open(&sub, path, MDMUX_SUB_FROM_OLDEST, NULL, 0), 0);
    publish_n(s, 1, 100);
    md_rec_t r;
    /* Records 86..100 (numbers 85..99) are intact: 15 = slots - 1 (the next slot to be
       written is never trusted); 1..85 are lost. */
    assert_int_equal(mdmux_sub_next(&sub, &r), 1);
    assert_int_equal(r.seq, 86);
    assert_int_equal(mdmux_sub_lost(&sub), 85);
    assert_int_equal(sub.laps, 1);
    for (uint64_t q = 87; q <= 100; q++) {
        assert_int_equal(mdmux_sub_next(&sub, &r), 1);
        assert_int_equal(r.seq, q);
    }
    /* Half a ring behind again, then lapped twice over in one go. */
    publish_n(s, 101, 8);
    for (uint64_t q = 101; q <= 104; q++) {
        assert_int_equal(mdmux_sub_next(&sub, &r), 1);
        assert_int_equal(r.seq, q);
    }
    publish_n(s, 109, 40); /* head = 148 */
    assert_int_equal(mdmux_sub_next(&sub, &r), 1);
    assert_int_equal(r.seq, 148 - 15 + 1);
    assert_int_equal(mdmux_sub_lost(&sub), 85 + (134 - 105));
    mux_shm_close(s);
    while (mdmux_sub_next(&sub, &r) == 1)
        ;
    assert_int_equal(sub.got + mdmux_sub_lost(&sub), 148);
    mdmux_sub_close(&sub);
    mux_shm_free(s);
}

/* ---- threads: one publisher, many readers (the TSan tree runs this too) ---- */

static uint64_t n_records(void)
{
    return tu_env_u64("MDMUX_TEST_SHM_N", tu_sanitized() ? 200000 : 2000000);
}

static void *reader_thread(void *arg)
{
    reader_t *rd = arg;
    return read_all(rd) ? rd : NULL;
}

static void test_many_reader_threads(void **state)
{
    (void)state;
    mux_shm_t *s = ring(1024);
    enum { READERS = 4 };
    reader_t rd[READERS] = {{.from = MDMUX_SUB_FROM_OLDEST},
                            {.from = MDMUX_SUB_FROM_OLDEST},
                            {.from = MDMUX_SUB_FROM_OLDEST},
                            {.from = MDMUX_SUB_FROM_OLDEST, .slow_spin = 3000}};
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader_thread, &rd[i]), 0);
    usleep(20000); /* let them map the ring before the first lap */
    uint64_t n = n_records();
    publish_n(s, 1, n);
    mux_shm_close(s);
    for (int i = 0; i < READERS; i++) {
        void *ok = NULL;
        pthread_join(th[i], &ok);
        print_message("reader %d: got %llu lost %llu start %llu bad %llu\n", i,
                      (unsigned long long)rd[i].got, (unsigned long long)rd[i].lost,
                      (unsigned long long)rd[i].start, (unsigned long long)rd[i].bad);
        assert_non_null(ok);
        assert_int_equal(rd[i].start + rd[i].got + rd[i].lost, n);
    }
    assert_true(rd[3].lost > 0); /* the slow one was lapped */
    mux_shm_free(s);
}

/* ---- processes: readers fork()ed off, each its own mapping and cursor ---- */

static void test_reader_processes(void **state)
{
    (void)state;
    mux_shm_t *s = ring(256);
    enum { PROCS = 3 };
    pid_t pid[PROCS];
    int pipes[PROCS][2];
    for (int i = 0; i < PROCS; i++) {
        assert_int_equal(pipe(pipes[i]), 0);
        pid[i] = tu_fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            reader_t rd = {.from = MDMUX_SUB_FROM_OLDEST, .slow_spin = i == 2 ? 5000 : 0};
            bool ok = read_all(&rd);
            uint64_t out[3] = {rd.got, rd.lost, rd.start};
            ssize_t w = write(pipes[i][1], out, sizeof(out));
            tu_child_exit(ok && w == (ssize_t)sizeof(out) ? 0 : 1);
        }
        close(pipes[i][1]);
    }
    usleep(50000);
    uint64_t n = n_records() / 4;
    publish_n(s, 1, n);
    mux_shm_close(s);
    for (int i = 0; i < PROCS; i++) {
        char buf[128];
        int st = tu_wait_child(pid[i]);
        uint64_t in[3] = {0, 0, 0};
        assert_int_equal(read(pipes[i][0], in, sizeof(in)), sizeof(in));
        close(pipes[i][0]);
        print_message("process %d: got %llu lost %llu start %llu\n", i, (unsigned long long)in[0],
                      (unsigned long long)in[1], (unsigned long long)in[2]);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
            fail_msg("reader process %d: %s", i,
                     tu_child_end(st, TU_CHILD_TIMEOUT_DEFAULT, buf, sizeof(buf)));
        assert_int_equal(in[0] + in[1] + in[2], n);
    }
    mux_shm_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_header_and_geometry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feed_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_order_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lapped_exact_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_reader_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_processes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
