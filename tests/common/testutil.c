/* SPDX-License-Identifier: BSD-3-Clause */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TU_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TU_SANITIZED 1
#endif

bool tu_sanitized(void)
{
#ifdef TU_SANITIZED
    return true;
#else
    return false;
#endif
}

uint64_t tu_env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return dflt;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0' || *s == '-') {
        fprintf(stderr, "testutil: ignoring %s='%s' (not an unsigned integer)\n", name, s);
        return dflt;
    }
    return (uint64_t)v;
}

uint64_t tu_seed_from_env(const char *name, uint64_t dflt)
{
    uint64_t seed = tu_env_u64(name, dflt);
    fprintf(stderr, "testutil: %s=%" PRIu64 "\n", name, seed);
    return seed;
}

/* The signals cmocka traps (and SIGABRT, SIGALRM): a child must die of them. */
static const int child_sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGABRT, SIGALRM};

static void reset_child_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof child_sigs / sizeof child_sigs[0]; i++) {
        signal(child_sigs[i], SIG_DFL);
        sigaddset(&set, child_sigs[i]);
    }
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

pid_t tu_fork(void)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0)
        reset_child_signals();
    return pid;
}

int tu_wait_child(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return status;
}

extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

void tu_child_exit(int status)
{
    fflush(stdout);
    fflush(stderr);
    if (status == 0 && __lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check())
        status = TU_CHILD_LEAKED;
    _exit(status);
}

const char *tu_child_end(int status, unsigned timeout_s, char *buf, size_t n)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return "";
    if (WIFEXITED(status) && WEXITSTATUS(status) == TU_CHILD_LEAKED)
        snprintf(buf, n, "leaked memory: LeakSanitizer's report is above");
    else if (WIFEXITED(status))
        snprintf(buf, n, "exited with status %d (a sanitizer report?)", WEXITSTATUS(status));
    else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        snprintf(buf, n, "hung: the %u s watchdog killed it", timeout_s);
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "died of signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, n, "ended with wait status 0x%x", status);
    return buf;
}

/* Child side of tu_run_child(): never returns. */
static void tu_child(void (*fn)(void *), void *arg, int wfd)
{
    if (dup2(wfd, STDERR_FILENO) < 0)
        _exit(126);
    if (wfd != STDERR_FILENO)
        close(wfd);
    setvbuf(stderr, NULL, _IONBF, 0);

    struct rlimit no_core = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &no_core);

    reset_child_signals();

    alarm((unsigned)tu_env_u64("TU_CHILD_TIMEOUT", TU_CHILD_TIMEOUT_DEFAULT));

    fn(arg);
    fflush(stdout);
    _exit(0);
}

int tu_run_child(void (*fn)(void *), void *arg, char *err_buf, size_t err_cap, int *term_signal)
{
    int fds[2];
    size_t len = 0;

    if (term_signal)
        *term_signal = 0;
    if (err_buf && err_cap)
        err_buf[0] = '\0';

    if (pipe2(fds, O_CLOEXEC) != 0) {
        int e = errno;
        if (err_buf && err_cap)
            snprintf(err_buf, err_cap, "tu_run_child: pipe: %s", strerror(e));
        errno = e;
        return -1;
    }

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        if (err_buf && err_cap)
            snprintf(err_buf, err_cap, "tu_run_child: fork: %s", strerror(e));
        errno = e;
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        tu_child(fn, arg, fds[1]);
    }

    close(fds[1]);
    for (;;) {
        char scratch[4096];
        char *dst = scratch;
        size_t room = sizeof scratch;
        if (err_buf && len + 1 < err_cap) {
            dst = err_buf + len;
            room = err_cap - 1 - len;
        }
        ssize_t n = read(fds[0], dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (dst != scratch)
            len += (size_t)n;
    }
    close(fds[0]);
    if (err_buf && err_cap)
        err_buf[len] = '\0';

    int status = 0;
    pid_t r;
    do {
        r = waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;

    if (WIFSIGNALED(status)) {
        if (term_signal)
            *term_signal = WTERMSIG(status);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
