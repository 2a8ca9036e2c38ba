/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file apptest.h
 * Helpers of the mdmux integration tests (tests/app): run the real binaries with a
 * timeout, read their output and JSON files, make scratch directories.
 *
 * Paths come from the build (MDMUX_BIN, MDMUX_GEN_BIN, MDMUX_SRC_DIR); the DPDK EAL
 * flags of DESIGN.md are mdmux's defaults, and every run gets its own --file-prefix.
 */
#ifndef MDMUX_APPTEST_H
#define MDMUX_APPTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/** Seconds a command may run before it is killed (SIGKILL) and the test fails. */
#define AT_TIMEOUT_S 120u

/** How a command ended. */
typedef struct at_result {
    int status; /**< exit status, or 128 + signal, or -1 when it could not start */
    char *out;  /**< its stdout (malloc'd, NUL-terminated) */
    char *err;  /**< its stderr */
} at_result_t;

/**
 * Run @p argv (NULL-terminated; argv[0] a path) with stdout and stderr captured,
 * killing it after @p timeout_s seconds. Returns the status (as in at_result_t).
 * Free @p r with at_result_free().
 */
int at_run(char *const argv[], unsigned timeout_s, at_result_t *r);

/**
 * Start @p argv in the background with stdout and stderr going to files in @p dir
 * (DIR/NAME.out, DIR/NAME.err). Returns the pid or -1.
 */
pid_t at_start(char *const argv[], const char *dir, const char *name);

/**
 * Wait for @p pid up to @p timeout_s seconds (then SIGKILL). Returns the status as
 * in at_result_t.
 */
int at_wait(pid_t pid, unsigned timeout_s);

/** Free what at_run() allocated. */
void at_result_free(at_result_t *r);

/** Make a fresh scratch directory in $TMPDIR (or /tmp) into @p buf (>= 64 bytes). */
void at_tmpdir(char *buf, size_t n, const char *tag);

/** Remove @p dir and everything in it (best effort). */
void at_rmdir(const char *dir);

/** Read a whole file (malloc'd, NUL-terminated) or NULL. */
char *at_slurp(const char *path);

/** Write @p text to @p path; fails the test on error. */
void at_write(const char *path, const char *text);

/**
 * Replace the first @p from in file @p path by @p to, or append @p to when @p from is
 * NULL. Fails the test when the file cannot be read or has no @p from.
 */
void at_edit(const char *path, const char *from, const char *to);

/** Load a JSON file; fails the test (with the reason) when it cannot. */
json_t *at_json(const char *path);

/** Integer at dotted path @p path ("rx.malformed.ip_len") of @p root; fails if absent. */
json_int_t at_jint(json_t *root, const char *path);

/** A unique EAL file prefix for one run ("--file-prefix=mdmuxtNNNN_K"). */
const char *at_file_prefix(void);

/** True when mdmux-gen was built (tools/gen). */
bool at_have_gen(void);

/**
 * Generate DIR/NAME.pcap (+ .yaml, .truth.json) with mdmux-gen and extra options
 * @p opts (NULL-terminated, may be NULL). Fails the test on error.
 */
void at_gen(const char *dir, const char *name, const char *const *opts);

/**
 * Compare an mdmux --stats-json file with a generator truth file: rx frames, other,
 * unknown flows, malformed by reason, per feed and line packets and bytes must be
 * equal, and handled + channel_full == packets on every line. @p lossless: also
 * require channel_full == 0. Fails the test with the first difference.
 */
void at_check_truth(const char *stats_path, const char *truth_path, bool lossless);

/**
 * at_check_truth() without the frames and other totals: unknown flows, malformed by
 * reason and every line (for a path that may add frames of its own, such as a
 * kernel interface).
 */
void at_check_lines(const char *stats_path, const char *truth_path, bool lossless);

/** Fail the test if @p hay does not contain @p needle (printing @p hay). */
void at_contains(const char *hay, const char *needle);

/** cmocka setup: a fresh scratch directory (char *) in *state. */
int at_dir_setup(void **state);

/** cmocka teardown: remove the scratch directory (kept with MDMUX_TEST_KEEP set). */
int at_dir_teardown(void **state);

/** Skip the running test when mdmux-gen was not built. */
void at_need_gen(void);

/** Run mdmux with @p args (NULL-terminated) plus `-- --file-prefix=...`; fail unless it
    exits 0. */
void at_mdmux_ok(const char *const *args, at_result_t *r);

/** Sum of member @p key over every line (A, B, RETX) of every feed of stats JSON @p s. */
json_int_t at_sum_lines(json_t *s, const char *key);

/**
 * Check the accounting identity of stats JSON @p s (docs/outputs.md, "Accounting"):
 * every term recomputed from rx.* and the per-line counters and compared with the
 * "accounting" object, their sum compared with received, "holds" true, and the
 * records identity (sent = published + queued; published = outputs.published).
 * Fails the test otherwise. Returns the recomputed "unfinished".
 */
json_int_t at_check_accounting(json_t *s);

/** A test's scratch directory and network namespace (kernel-path tests). */
typedef struct at_ns {
    char dir[256]; /**< scratch directory */
    char ns[32];   /**< namespace name (made by at_ns_make) */
    bool ns_made;  /**< at_ns_free deletes it */
    pid_t mdmux;   /**< a started mdmux, killed by at_ns_free */
} at_ns_t;

/** Run @p argv quietly (60 s at most); its exit status, with stderr printed on failure. */
int at_sh(char *const argv[]);

/** A fixture with a fresh scratch directory tagged @p tag and namespace name PREFIX<pid>. */
at_ns_t *at_ns_new(const char *tag, const char *prefix);

/** Kill its mdmux, delete its namespace and (unless MDMUX_TEST_KEEP) its directory. */
void at_ns_free(at_ns_t *k);

/**
 * Make the network namespace of @p k, or skip the test with a message starting with
 * @p what: not root, no ip (iproute2) or tcpreplay, or the namespace cannot be made.
 */
void at_ns_make(at_ns_t *k, const char *what);

#endif /* MDMUX_APPTEST_H */
