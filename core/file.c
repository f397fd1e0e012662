/* file.c: nn_file_open: the one way nntrain opens a file it reads. O_NONBLOCK keeps open()
 * from waiting for a FIFO's writer; fstat then refuses anything that is not a regular file
 * before a single byte is read. It never creates, truncates or writes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nntrain/file.h"

static const char *file_type(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISSOCK(m))
        return "a socket";
    return "not a regular file";
}

int nn_file_open(const char *path, const char *what, nn_error *err)
{
    const char *role = what && *what ? what : "file";
    if (!path || !*path)
        return nn_error_set(err, NN_EINVAL, "%s: no path given", role);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0) {
        int e = errno;
        /* a socket cannot be opened at all (ENXIO): say what it is rather than errno's words */
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
            return nn_error_set(err, NN_EIO, "%s %s is %s, not a regular file", role, path,
                                file_type(st.st_mode));
        return nn_error_set(err, e == ENOENT ? NN_ENOTFOUND : NN_EIO, "cannot open %s %s: %s",
                            role, path, strerror(e));
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return nn_error_set(err, NN_EIO, "cannot stat %s %s: %s", role, path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return nn_error_set(err, NN_EIO, "%s %s is %s, not a regular file", role, path,
                            file_type(st.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return nn_error_set(err, NN_EIO, "cannot read %s %s: %s", role, path, strerror(e));
    }
    return fd;
}

FILE *nn_file_fopen(const char *path, const char *what, nn_error *err)
{
    int fd = nn_file_open(path, what, err);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        nn_error_set(err, NN_EIO, "cannot read %s %s: %s", what && *what ? what : "file", path,
                     strerror(e));
    }
    return f;
}
