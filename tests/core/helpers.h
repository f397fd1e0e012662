/* helpers.h: what the core's tests share: temporary directories holding copies of the test
 * plugins (tests/plugins), and running the built nntrain with its output captured.
 * Test code only; each helper fails the calling test (cr_assert) instead of returning junk. */
#ifndef NNTEST_HELPERS_H
#define NNTEST_HELPERS_H

#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

typedef struct run_result {
    int exited;   /* 1 when nntrain returned from main (no signal) */
    int code;     /* its exit status */
    char out[65536]; /* stdout and stderr, interleaved as written */
} run_result;

/* Runs $NNTRAIN_EXE with the given arguments (NULL-terminated) in the current environment. */
static inline void run_nntrain(run_result *res, const char *arg, ...)
{
    const char *exe = getenv("NNTRAIN_EXE");
    cr_assert(exe && *exe, "NNTRAIN_EXE is not set (run the tests with meson test)");
    const char *argv[64];
    int argc = 0;
    argv[argc++] = exe;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && argc < 63; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;

    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
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
    ssize_t got;
    while ((got = read(fds[0], res->out + have, sizeof res->out - 1 - have)) > 0 ||
           (got < 0 && errno == EINTR))
        if (got > 0)
            have += (size_t)got;
    res->out[have] = 0;
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        cr_assert_eq(errno, EINTR);
    res->exited = WIFEXITED(status);
    res->code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
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
