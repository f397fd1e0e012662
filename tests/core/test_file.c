/* test_file.c: nn_file_open and nn_file_fopen, the one way nntrain opens a file it reads:
 * a regular file opens (and reads), anything else is refused at once with a sentence naming
 * the role, the path and what the path is. Every test runs under alarm(): a FIFO that blocks
 * open() kills the test instead of hanging the suite. */
#include "helpers.h" /* first: it defines _GNU_SOURCE */

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "nntrain/file.h"

static char *dir;
static char path[4200];

static void setup(void)
{
    alarm(10);
    dir = tmpdir_new();
}

static void teardown(void)
{
    tmpdir_free(dir);
}

TestSuite(file, .init = setup, .fini = teardown);

static const char *at(const char *name)
{
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* nn_file_open fails with status and a message holding each of the NULL-terminated needles */
static void assert_refused(const char *p, const char *what, int status, ...)
{
    nn_error err = {0};
    int fd = nn_file_open(p, what, &err);
    if (fd >= 0)
        close(fd);
    cr_assert_eq(fd, status, "nn_file_open(%s) returned %d, expected %d (%s)", p, fd, status,
                 err.msg);
    cr_assert_eq(err.status, status);
    va_list ap;
    va_start(ap, status);
    for (const char *n = va_arg(ap, const char *); n; n = va_arg(ap, const char *))
        assert_has(err.msg, n);
    va_end(ap);
}

Test(file, a_regular_file_opens_blocking_and_reads)
{
    FILE *f = fopen(at("model.ini"), "w");
    fputs("[train]\nepochs = 1\n", f);
    fclose(f);
    nn_error err = {0};
    int fd = nn_file_open(path, "model file", &err);
    cr_assert_geq(fd, 0, "%s", err.msg);
    cr_assert_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0, "the descriptor is left non-blocking");
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    char buf[64] = {0};
    cr_assert_eq(read(fd, buf, sizeof buf - 1), 19);
    cr_assert_str_eq(buf, "[train]\nepochs = 1\n");
    close(fd);

    FILE *s = nn_file_fopen(path, "model file", &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert(fgets(buf, sizeof buf, s));
    cr_assert_str_eq(buf, "[train]\n");
    fclose(s);
}

Test(file, a_fifo_is_refused_without_blocking)
{
    cr_assert_eq(mkfifo(at("pipe"), 0600), 0);
    /* nobody ever opens the writing end: a blocking open() would wait forever */
    assert_refused(path, "checkpoint", NN_EIO, "checkpoint ", path, " is a FIFO, not a regular "
                   "file", NULL);
    nn_error err = {0};
    cr_assert_null(nn_file_fopen(path, "model file", &err));
    assert_has(err.msg, "model file");
    assert_has(err.msg, "is a FIFO");
}

Test(file, a_symlink_to_a_fifo_is_followed_and_refused)
{
    char fifo[4200];
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(symlink(fifo, at("link.ini")), 0);
    assert_refused(path, "model file", NN_EIO, path, "is a FIFO", NULL);
}

Test(file, a_directory_is_refused)
{
    assert_refused(dir, "checkpoint", NN_EIO, "checkpoint ", dir, " is a directory, not a "
                   "regular file", NULL);
}

Test(file, a_character_device_is_refused_before_reading)
{
    /* /dev/zero would read forever, /dev/null would look like an empty file */
    assert_refused("/dev/zero", "labels file", NN_EIO, "labels file /dev/zero is a character "
                   "device", NULL);
    assert_refused("/dev/null", "model file", NN_EIO, "/dev/null is a character device", NULL);
}

Test(file, a_socket_is_named_as_such)
{
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_geq(s, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s/sock", dir);
    cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0, "%s", strerror(errno));
    assert_refused(a.sun_path, "data file", NN_EIO, a.sun_path, "is a socket", NULL);
    close(s);
}

Test(file, a_missing_file_is_not_found_with_the_reason)
{
    assert_refused(at("nope.safetensors"), "checkpoint", NN_ENOTFOUND,
                   "cannot open checkpoint ", path, "No such file or directory", NULL);
    nn_error err = {0};
    cr_assert_null(nn_file_fopen(path, NULL, &err));
    cr_assert_eq(err.status, NN_ENOTFOUND);
    assert_has(err.msg, "cannot open file "); /* no role given: "file" */
}

Test(file, an_unreadable_file_says_why)
{
    if (geteuid() == 0) {
        tmpdir_free(dir); /* a skipped test's .fini does not run */
        dir = NULL;
        cr_skip_test("root reads files whatever their mode");
    }
    FILE *f = fopen(at("secret"), "w");
    fclose(f);
    chmod(path, 0);
    assert_refused(path, "model file", NN_EIO, "cannot open model file", "Permission denied",
                   NULL);
}

Test(file, an_empty_path_is_invalid)
{
    assert_refused("", "checkpoint", NN_EINVAL, "checkpoint: no path given", NULL);
    assert_refused(NULL, NULL, NN_EINVAL, "file: no path given", NULL);
}
