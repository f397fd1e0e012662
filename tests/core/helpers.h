/* helpers.h: what the core's tests share: temporary directories holding copies of the test
 * plugins (tests/plugins), and running the built nntrain with its output captured.
 * Test code only; each helper fails the calling test (cr_assert) instead of returning junk. */
#ifndef NNTEST_HELPERS_H
#define NNTEST_HELPERS_H

#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef NNTEST_PLUGIN_DIR
#error "NNTEST_PLUGIN_DIR (the build directory of tests/plugins) must be defined"
#endif

/* returns an owned path of a new, empty directory with mode 0700 */
static inline char *tmpdir_new(void)
{
    char *d = strdup("/tmp/nntest.XXXXXX");
    cr_assert(d && mkdtemp(d), "mkdtemp: %s", strerror(errno));
    return d;
}

static inline int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* removes dir and everything in it, and frees the string */
static inline void tmpdir_free(char *dir)
{
    if (!dir)
        return;
    chmod(dir, 0700);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* Copies tests/plugins' NAME.so into dir as NAME.so (a real copy, not a link, so that two
 * copies are two files to the loader) with the given mode; returns the owned new path. */
static inline char *plugin_copy(const char *name, const char *dir, mode_t mode)
{
    char src[4096], *dst = NULL;
    snprintf(src, sizeof src, "%s/%s.so", NNTEST_PLUGIN_DIR, name);
    cr_assert(asprintf(&dst, "%s/%s.so", dir, name) > 0);
    FILE *in = fopen(src, "rb");
    cr_assert(in, "test plugin %s is not built: %s", src, strerror(errno));
    FILE *out = fopen(dst, "wb");
    cr_assert(out, "cannot write %s: %s", dst, strerror(errno));
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    cr_assert_eq(fclose(out), 0);
    cr_assert_eq(chmod(dst, mode), 0);
    return dst;
}

/* A directory holding copies of the named test plugins (NULL-terminated list), mode 0755. */
static inline char *plugin_dir_with(const char *first, ...)
{
    char *dir = tmpdir_new();
    va_list ap;
    va_start(ap, first);
    for (const char *n = first; n; n = va_arg(ap, const char *))
        free(plugin_copy(n, dir, 0755));
    va_end(ap);
    return dir;
}

/* Writes text to path (replacing it); fails the test on any error. */
static inline void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot write %s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    cr_assert_eq(fclose(f), 0);
}

/* DIR/plugins (mode 0755) holding a copy of tests/plugins' nntest_fault, one plugin of each
 * kind the trainer runs (crash_in = none by default), so that a model file needs no data
 * files; its path goes to plugins (cap bytes). */
static inline void fault_plugins(const char *dir, char *plugins, size_t cap)
{
    snprintf(plugins, cap, "%s/plugins", dir);
    cr_assert_eq(mkdir(plugins, 0755), 0, "mkdir %s: %s", plugins, strerror(errno));
    free(plugin_copy("nntest_fault", plugins, 0755));
}

typedef struct run_result {
    int exited;    /* 1 when nntrain returned from main (no signal) */
    int code;      /* its exit status, or minus the signal that killed it */
    int timed_out; /* 1 when it was still running at the deadline (then killed) */
    double seconds; /* how long it ran */
    char out[65536]; /* stdout and stderr, interleaved as written */
} run_result;

/* Runs $NNTRAIN_EXE with argv (NULL-terminated, without the program) in the current
 * environment; kills it after timeout_s seconds. */
static inline void run_nntrain_argv(run_result *res, double timeout_s, const char *const *args)
{
    const char *exe = getenv("NNTRAIN_EXE");
    cr_assert(exe && *exe, "NNTRAIN_EXE is not set (run the tests with meson test)");
    const char *argv[64];
    int argc = 0;
    argv[argc++] = exe;
    for (const char *const *a = args; *a && argc < 63; a++)
        argv[argc++] = *a;
    argv[argc] = NULL;

    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t have = 0;
    res->timed_out = 0;
    struct pollfd pfd = {fds[0], POLLIN, 0};
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double left = timeout_s - ((double)(t1.tv_sec - t0.tv_sec) +
                                   (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
        if (left <= 0) {
            res->timed_out = 1;
            kill(pid, SIGKILL);
            break;
        }
        int prc = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (prc < 0 && errno == EINTR)
            continue;
        if (prc == 0)
            continue; /* the deadline is checked at the top */
        ssize_t got = read(fds[0], res->out + have, sizeof res->out - 1 - have);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        have += (size_t)got;
    }
    res->out[have] = 0;
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        cr_assert_eq(errno, EINTR);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    res->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    res->exited = WIFEXITED(status);
    res->code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

/* Runs $NNTRAIN_EXE with the given arguments (NULL-terminated), killed after 300 s so that a
 * hang fails the test with its output rather than stalling the suite. */
static inline void run_nntrain(run_result *res, const char *arg, ...)
{
    const char *args[64];
    int n = 0;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && n < 63; a = va_arg(ap, const char *))
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    run_nntrain_argv(res, 300, args);
    cr_assert(!res->timed_out, "nntrain was still running after 300 s; output:\n%s", res->out);
}

/* nntrain ended through main() with the expected exit code; prints its output otherwise */
#define assert_exit(res, want)                                                          \
    do {                                                                                \
        cr_assert((res)->exited, "nntrain died of signal %d; output:\n%s", -(res)->code, \
                  (res)->out);                                                          \
        cr_assert_eq((res)->code, (want), "nntrain exited %d, expected %d; output:\n%s",  \
                     (res)->code, (want), (res)->out);                                   \
    } while (0)

#define assert_has(text, needle)                                                        \
    cr_assert(strstr((text), (needle)), "expected to find \"%s\" in:\n%s", (needle), (text))
#define assert_lacks(text, needle)                                                      \
    cr_assert(!strstr((text), (needle)), "did not expect \"%s\" in:\n%s", (needle), (text))

#endif
