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

/* Child side of tu_run_child(): never returns. */
static void tu_child(void (*fn)(void *), void *arg, int wfd)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGABRT, SIGALRM};
    sigset_t set;

    if (dup2(wfd, STDERR_FILENO) < 0)
        _exit(126);
    if (wfd != STDERR_FILENO)
        close(wfd);
    setvbuf(stderr, NULL, _IONBF, 0);

    struct rlimit no_core = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &no_core);

    sigemptyset(&set);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        signal(sigs[i], SIG_DFL);
        sigaddset(&set, sigs[i]);
    }
    sigprocmask(SIG_UNBLOCK, &set, NULL);

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
