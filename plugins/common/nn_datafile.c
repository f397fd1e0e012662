/* nn_datafile.c: path resolution, whole-file reads and line splitting for the stock data
 * plugins (see nn_datafile.h). Never keeps a file open past the call that opened it. */
#define _POSIX_C_SOURCE 200809L
#include "nn_datafile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nntrain/file.h>

static int fits(int n, size_t cap, const char *f, nn_error *err)
{
    if (n < 0 || (size_t)n >= cap)
        return nn_error_set(err, NN_EINVAL, "path of '%s' is longer than %zu bytes", f, cap - 1);
    return NN_OK;
}

int nnd_resolve(char *buf, size_t cap, const char *base, const char *f, nn_error *err)
{
    int n = f[0] == '/' || !base ? snprintf(buf, cap, "%s", f)
                                 : snprintf(buf, cap, "%s/%s", base, f);
    return fits(n, cap, f, err);
}

int nnd_join(char *buf, size_t cap, const char *base, const char *dir, const char *f,
             nn_error *err)
{
    int n;
    if (f[0] == '/')
        n = snprintf(buf, cap, "%s", f);
    else if (dir[0] == '/' || !base)
        n = snprintf(buf, cap, "%s/%s", dir, f);
    else
        n = snprintf(buf, cap, "%s/%s/%s", base, dir, f);
    return fits(n, cap, f, err);
}

int nnd_fopen(const char *path, const char *what, FILE **f, nn_error *err)
{
    const char *role = what && *what ? what : "file";
    int fd = nn_file_open(path, role, err);
    if (fd < 0)
        return fd;
    if (!(*f = fdopen(fd, "rb"))) {
        int e = errno;
        close(fd);
        return nn_error_set(err, NN_EIO, "cannot read %s %s: %s", role, path, strerror(e));
    }
    return NN_OK;
}

int nnd_fcreate(const char *path, const char *what, FILE **f, nn_error *err)
{
    const char *role = what && *what ? what : "file";
    /* O_NOFOLLOW: never writes through a link; O_NONBLOCK: a FIFO without a reader fails at
     * once (ENXIO) instead of waiting; one with a reader is refused by fstat below */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        struct stat ls;
        const char *kind = lstat(path, &ls) != 0 ? NULL
                           : S_ISLNK(ls.st_mode) ? "it is a symbolic link"
                           : S_ISFIFO(ls.st_mode) ? "it is a FIFO"
                           : S_ISDIR(ls.st_mode) ? "it is a directory"
                           : S_ISREG(ls.st_mode) ? NULL
                                                 : "it is a device or socket";
        return nn_error_set(err, NN_EIO, "cannot write %s %s: %s", role, path,
                            kind ? kind : strerror(e));
    }
    struct stat st;
    const char *why = NULL;
    int fl;
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
        why = "it is not a regular file";
    else if (fstat(fd, &st) || (fl = fcntl(fd, F_GETFL)) < 0 ||
             fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) || !(*f = fdopen(fd, "w")))
        why = strerror(errno);
    if (why) {
        close(fd);
        return nn_error_set(err, NN_EIO, "cannot write %s %s: %s", role, path, why);
    }
    return NN_OK;
}

int nnd_read_all(const char *path, const char *what, char **out, size_t *len, nn_error *err)
{
    const char *role = what && *what ? what : "file";
    FILE *f;
    int rc = nnd_fopen(path, role, &f, err);
    if (rc)
        return rc;
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap + 1);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = cap < ((size_t)-1) / 4 ? realloc(buf, (cap *= 2) + 1) : NULL;
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    int bad = ferror(f), e = errno;
    fclose(f);
    if (!buf)
        return nn_error_set(err, NN_ENOMEM, "%s %s: out of memory after %zu bytes", role, path, n);
    if (bad) {
        free(buf);
        return nn_error_set(err, NN_EIO, "%s %s: read error after %zu bytes: %s", role, path, n,
                            strerror(e));
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return NN_OK;
}

void nnd_lines_init(nnd_lines *it, char *buf, size_t len)
{
    /* a UTF-8 byte order mark (Excel and Notepad write one) is not part of the first line */
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        buf += 3;
        len -= 3;
    }
    it->at = buf;
    it->end = buf + len;
    it->line = 0;
}

char *nnd_lines_next(nnd_lines *it, size_t *len)
{
    if (it->at >= it->end)
        return NULL;
    char *s = it->at, *e = s;
    while (e < it->end && *e != '\n' && *e != '\r')
        e++;
    char *next = e;
    if (e < it->end)
        next = e + (*e == '\r' && e + 1 < it->end && e[1] == '\n' ? 2 : 1);
    *e = 0;
    it->at = next;
    it->line++;
    *len = (size_t)(e - s);
    return s;
}
