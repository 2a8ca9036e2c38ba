/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file testutil.h
 * Small helpers shared by mdmux's cmocka tests (tests/common/testutil.c, linked
 * through testutil_dep).
 */
#ifndef MDMUX_TESTUTIL_H
#define MDMUX_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Seconds a tu_run_child() child may run before it is killed with SIGALRM. */
#define TU_CHILD_TIMEOUT_DEFAULT 120u

/**
 * Death-test helper: run fn(arg) in a forked child process and report how it ended.
 *
 * Before forking, stdout and stderr are flushed. In the child, stderr is redirected
 * into a pipe, core dumps are disabled, the signals cmocka traps (SIGSEGV, SIGBUS,
 * SIGILL, SIGFPE, SIGSYS) and SIGABRT are reset to their default action and
 * unblocked (so a crash kills the child instead of unwinding into cmocka's copy of
 * the test runner), and an alarm of TU_CHILD_TIMEOUT seconds (environment, default
 * TU_CHILD_TIMEOUT_DEFAULT) guards against hangs. If fn returns, the child calls
 * _exit(0) (no atexit handlers, no LeakSanitizer pass). If fn calls exit() itself,
 * atexit handlers run in the child and, under ASan, so does LeakSanitizer, which then
 * also reports whatever the parent had leaked before the fork.
 *
 * The parent reads everything the child writes to stderr; the first err_cap - 1
 * bytes are stored in err_buf, always NUL-terminated (err_buf may be NULL when
 * err_cap is 0). The rest is read and discarded.
 *
 * @param fn          code to run in the child
 * @param arg         passed to fn
 * @param err_buf     receives the child's stderr (may be NULL if err_cap == 0)
 * @param err_cap     size of err_buf in bytes
 * @param term_signal receives the signal that killed the child, or 0 if it exited
 *                    (may be NULL)
 * @return the child's exit status (0..255) if it exited, -1 if it was killed by a
 *         signal or if the child could not be started (then *term_signal is 0,
 *         errno is set and err_buf holds a message).
 */
int tu_run_child(void (*fn)(void *), void *arg, char *err_buf, size_t err_cap, int *term_signal);

/**
 * Read an unsigned 64-bit integer from environment variable @p name (decimal, 0x hex
 * or 0 octal, as strtoull base 0). Returns @p dflt when the variable is unset, empty
 * or not a number (a malformed value is reported on stderr).
 */
uint64_t tu_env_u64(const char *name, uint64_t dflt);

/**
 * The seed for a randomized test: tu_env_u64(name, dflt). Prints
 * "testutil: <name>=<seed>" on stderr so a failing run's log shows how to
 * reproduce it (run again with that variable set).
 */
uint64_t tu_seed_from_env(const char *name, uint64_t dflt);

/** Exit status of a tu_child_exit() child in which LeakSanitizer found a leak. */
#define TU_CHILD_LEAKED 4

/**
 * fork() for tests that run work in children themselves: flushes stdio first and, in
 * the child, resets the signals cmocka traps (and SIGABRT, SIGALRM) to their default
 * action, so a crash kills the child instead of unwinding into cmocka.
 */
pid_t tu_fork(void);

/** Wait for child @p pid, retrying on EINTR; its wait status (or -1). */
int tu_wait_child(pid_t pid);

/**
 * Leave a tu_fork() child: flush stdio, run LeakSanitizer's check when it is linked
 * (exit status TU_CHILD_LEAKED on a leak, if @p status was 0) and _exit.
 */
_Noreturn void tu_child_exit(int status);

/**
 * How a child ended, from its wait status, as text for a failure message; "" when it
 * exited with status 0. @p timeout_s names the watchdog if SIGALRM killed it.
 */
const char *tu_child_end(int status, unsigned timeout_s, char *buf, size_t n);

/** True when the test was built with AddressSanitizer or ThreadSanitizer. */
bool tu_sanitized(void);

#ifdef __cplusplus
}
#endif

#endif /* MDMUX_TESTUTIL_H */
