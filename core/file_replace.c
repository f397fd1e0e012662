/* file_replace.c: see file_replace.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file_replace.h"

static int temp_name(const char *path, char *tmp, size_t cap)
{
    return snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid()) < (int)cap ? 0 : -1;
}

/* the directory entry of the rename made durable too (best effort: some file systems refuse) */
static void sync_dir(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *d = slash == dir ? "/" : (slash ? (*slash = 0, dir) : ".");
    int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int open_temp(const char *path, const char *what, char *tmp, size_t cap, nn_error *err)
{
    if (temp_name(path, tmp, cap))
        return nn_error_set(err, NN_EINVAL, "cannot write %s %s: the path is too long", what,
                            path);
    unlink(tmp); /* a leftover of this pid's earlier life; O_EXCL refuses anything there */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return nn_error_set(err, NN_EIO, "cannot write %s %s: cannot create %s: %s (the "
                            "previous file, if any, is untouched)", what, path, tmp,
                            strerror(errno));
    return fd;
}

static int finish(int bad, int e, const char *tmp, const char *path, const char *what,
                  nn_error *err)
{
    if (!bad && rename(tmp, path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        unlink(tmp);
        return nn_error_set(err, NN_EIO, "cannot write %s %s: %s (the previous file, if any, is "
                            "untouched)", what, path, strerror(e));
    }
    sync_dir(path);
    return NN_OK;
}

int nn_file_replace(const char *path, const char *what, const struct iovec *parts, int n,
                    nn_error *err)
{
    char tmp[PATH_MAX + 32];
    int fd = open_temp(path, what, tmp, sizeof tmp, err);
    if (fd < 0)
        return fd;
    int bad = 0, e = 0;
    for (int i = 0; i < n && !bad; i++) {
        const char *p = parts[i].iov_base;
        for (size_t left = parts[i].iov_len; left > 0 && !bad;) {
            ssize_t w = write(fd, p, left);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                bad = 1;
                e = w < 0 ? errno : EIO;
            } else {
                p += w;
                left -= (size_t)w;
            }
        }
    }
    if (!bad && fsync(fd) != 0) {
        bad = 1;
        e = errno;
    }
    if (close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    return finish(bad, e, tmp, path, what, err);
}

FILE *nn_file_begin(const char *path, const char *what, char *tmp, size_t cap, nn_error *err)
{
    int fd = open_temp(path, what, tmp, cap, err);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        nn_error_set(err, NN_ENOMEM, "cannot write %s %s: %s", what, path, strerror(errno));
        close(fd);
        unlink(tmp);
    }
    return f;
}

int nn_file_commit(FILE *f, const char *tmp, const char *path, const char *what, int ok,
                   nn_error *err)
{
    int bad = !ok || ferror(f) || fflush(f) != 0 || fsync(fileno(f)) != 0;
    int e = bad ? errno : 0;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        return NN_OK; /* the caller has its own error */
    }
    return finish(bad, e ? e : EIO, tmp, path, what, err);
}
