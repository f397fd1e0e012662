/* file_replace.c: see file_replace.h. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_replace.h"
#include "rundir.h"

/* the temp files being written, for nn_file_temps_remove */
#define LIVE_TEMPS 4
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static char live[LIVE_TEMPS][PATH_MAX + 32];

static void live_set(const char *tmp, int on)
{
    pthread_mutex_lock(&live_mu);
    for (int i = 0; i < LIVE_TEMPS; i++)
        if (on ? !live[i][0] : strcmp(live[i], tmp) == 0) {
            if (on)
                snprintf(live[i], sizeof live[i], "%s", tmp);
            else
                live[i][0] = 0;
            break;
        }
    pthread_mutex_unlock(&live_mu);
}

void nn_file_temps_remove(void)
{
    pthread_mutex_lock(&live_mu);
    for (int i = 0; i < LIVE_TEMPS; i++)
        if (live[i][0])
            unlink(live[i]);
    pthread_mutex_unlock(&live_mu);
}

long nn_file_temp_pid(const char *name)
{
    const char *t = strstr(name, ".tmp.");
    if (!t || t == name)
        return 0;
    char *end;
    long pid = strtol(t + 5, &end, 10);
    return *end || end == t + 5 || pid <= 0 ? 0 : pid;
}

/* the directory path is in: "." for a bare name, "/" for one at the root */
static void dir_of(const char *path, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
}

/* the directory entry of the rename made durable too (best effort: some file systems refuse) */
static void sync_dir(const char *path)
{
    char dir[PATH_MAX];
    dir_of(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* the descriptor a path names by number (/dev/stdout, /dev/fd/N, /proc/self/fd/N), or -1:
 * written through a dup, at the offset the shell gave it (>> appends), never reopened */
static int fd_path(const char *path)
{
    static const char *const pre[] = {"/dev/fd/", "/proc/self/fd/"};
    if (strcmp(path, "/dev/stdout") == 0)
        return STDOUT_FILENO;
    if (strcmp(path, "/dev/stderr") == 0)
        return STDERR_FILENO;
    for (int i = 0; i < 2; i++) {
        size_t l = strlen(pre[i]);
        char *end;
        if (strncmp(path, pre[i], l) == 0 && path[l]) {
            long fd = strtol(path + l, &end, 10);
            if (!*end && fd >= 0 && fd < 1 << 20)
                return (int)fd;
        }
    }
    return -1;
}

/* 1 when the directory holding path is a run directory another process writes now */
static int in_live_run(const char *path, long *pid)
{
    char dir[PATH_MAX];
    dir_of(path, dir, sizeof dir);
    int fd = nn_rundir_hold(dir, pid);
    if (fd >= 0)
        nn_rundir_unlock(fd);
    return fd == NN_EEXIST;
}

/* Where a write of path goes (file_replace.h): the file to replace in real, *in_place = 1 for
 * an existing file that is not a regular one, *fd_out >= 0 for a descriptor named by path;
 * *keep gets the mode of a regular file being replaced (-1: none) */
static int target(const char *path, const char *what, int flags, char *real, size_t cap,
                  int *in_place, int *fd_out, struct stat *keep, nn_error *err)
{
    struct stat st, lst;
    *in_place = 0;
    *fd_out = -1;
    keep->st_mode = 0;
    if (snprintf(real, cap, "%s", path) >= (int)cap)
        return nn_error_set(err, NN_EINVAL, "cannot write %s %s: the path is too long", what,
                            path);
    if (!(flags & NN_FILE_USER))
        return NN_OK; /* one of the run's own files (never followed) */
    /* a link the user made to /dev/stdout counts as /dev/stdout: follow the link texts */
    char hop[PATH_MAX];
    snprintf(hop, sizeof hop, "%s", path);
    for (int i = 0; i < 40 && *fd_out < 0; i++) {
        if ((*fd_out = fd_path(hop)) >= 0)
            break;
        char next[PATH_MAX];
        ssize_t n = readlink(hop, next, sizeof next - 1);
        if (n <= 0)
            break;
        next[n] = 0;
        if (next[0] != '/') { /* relative to the link's directory */
            char *sl = strrchr(hop, '/');
            char joined[PATH_MAX * 2];
            int jl = snprintf(joined, sizeof joined, "%.*s%s", sl ? (int)(sl - hop + 1) : 0, hop,
                              next);
            if (jl < 0 || (size_t)jl >= sizeof hop)
                break;
            memcpy(hop, joined, (size_t)jl + 1);
        } else {
            memcpy(hop, next, (size_t)n + 1);
        }
    }
    if (*fd_out >= 0)
        return NN_OK;
    if (lstat(path, &lst) != 0)
        st.st_mode = 0; /* a new file */
    else if (stat(path, &st) != 0)
        return nn_error_set(err, NN_EIO, "cannot write %s %s: it is a symbolic link to %s",
                            what, path, errno == ENOENT ? "nothing (its target is missing)"
                                                        : strerror(errno));
    if (st.st_mode && S_ISDIR(st.st_mode))
        return nn_error_set(err, NN_EIO, "cannot write %s %s: it is a directory; name a file "
                            "in it", what, path);
    if (st.st_mode && !S_ISREG(st.st_mode)) {
        *in_place = 1; /* a device, a FIFO: written as it is */
        return NN_OK;
    }
    if (st.st_mode && S_ISLNK(lst.st_mode) && !realpath(path, real))
        return nn_error_set(err, NN_EIO, "cannot write %s %s: cannot resolve its link: %s",
                            what, path, strerror(errno));
    /* a run's own files stay its own: its lock, and anything while it runs */
    const char *base = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
    long pid = 0;
    if (strcmp(base, ".lock") == 0)
        return nn_error_set(err, NN_EPERM, "cannot write %s %s: it is a run directory's lock "
                            "file", what, path);
    if (in_live_run(real, &pid))
        return nn_error_set(err, NN_EPERM, "cannot write %s %s: its directory is a run that "
                            "pid %ld writes now; write elsewhere, or wait for the run to end",
                            what, path, pid);
    if (st.st_mode && access(real, W_OK) != 0)
        return nn_error_set(err, NN_EPERM, "cannot write %s %s: %s (the file is kept)", what,
                            path, strerror(errno));
    if (st.st_mode)
        *keep = st;
    return NN_OK;
}

static int open_in_place(const char *path, const char *what, nn_error *err)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return nn_error_set(err, NN_EIO, "cannot write %s %s: %s", what, path, strerror(errno));
    return fd;
}

static int open_temp(const char *path, const char *what, char *tmp, size_t cap, nn_error *err)
{
    if (snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid()) >= (int)cap)
        return nn_error_set(err, NN_EINVAL, "cannot write %s %s: the path is too long", what,
                            path);
    unlink(tmp); /* a leftover of this pid's earlier life; O_EXCL refuses anything there */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return nn_error_set(err, NN_EIO, "cannot write %s %s: cannot create %s: %s (the "
                            "previous file, if any, is untouched)", what, path, tmp,
                            strerror(errno));
    live_set(tmp, 1);
    return fd;
}

/* the replaced file's permissions and owners carry over (best effort for the owners: only
 * root may give a file away) */
static void keep_mode(int fd, const struct stat *keep)
{
    if (!keep->st_mode)
        return;
    if (fchown(fd, keep->st_uid, keep->st_gid) != 0 && fchown(fd, (uid_t)-1, keep->st_gid) != 0)
        (void)0; /* the new file keeps this process's owner and group */
    (void)fchmod(fd, keep->st_mode & 07777);
}

/* the file to write: a dup of a named descriptor, the existing file in place, or a temp file */
static int open_target(const char *real, const char *what, int in_place, int named_fd,
                       const struct stat *keep, char *tmp, size_t cap, nn_error *err)
{
    tmp[0] = 0;
    if (named_fd >= 0) {
        int fd = fcntl(named_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
            return nn_error_set(err, NN_EIO, "cannot write %s to descriptor %d: %s", what,
                                named_fd, strerror(errno));
        return fd;
    }
    if (in_place)
        return open_in_place(real, what, err);
    int fd = open_temp(real, what, tmp, cap, err);
    if (fd >= 0)
        keep_mode(fd, keep);
    return fd;
}

static int finish(int bad, int e, const char *tmp, const char *path, const char *what,
                  nn_error *err)
{
    if (!tmp[0]) /* written in place */
        return bad ? nn_error_set(err, NN_EIO, "cannot write %s %s: %s", what, path,
                                  strerror(e))
                   : NN_OK;
    if (!bad && rename(tmp, path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad)
        unlink(tmp);
    live_set(tmp, 0);
    if (bad)
        return nn_error_set(err, NN_EIO, "cannot write %s %s: %s (the previous file, if any, is "
                            "untouched)", what, path, strerror(e));
    sync_dir(path);
    return NN_OK;
}

int nn_file_replace(const char *path, const char *what, const struct iovec *parts, int n,
                    int flags, nn_error *err)
{
    char real[PATH_MAX], tmp[PATH_MAX + 32] = "";
    struct stat keep;
    int in_place, named, rc = target(path, what, flags, real, sizeof real, &in_place, &named,
                                     &keep, err);
    if (rc)
        return rc;
    int fd = open_target(real, what, in_place, named, &keep, tmp, sizeof tmp, err);
    if (fd < 0)
        return fd;
    in_place = !tmp[0];
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
    if (!bad && !in_place && fsync(fd) != 0) {
        bad = 1;
        e = errno;
    }
    if (close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    return finish(bad, e, tmp, real, what, err);
}

FILE *nn_file_begin(const char *path, const char *what, char *tmp, size_t cap, int flags,
                    nn_error *err)
{
    char real[PATH_MAX];
    struct stat keep;
    int in_place, named;
    tmp[0] = 0;
    if (target(path, what, flags, real, sizeof real, &in_place, &named, &keep, err))
        return NULL;
    int fd = open_target(real, what, in_place, named, &keep, tmp, cap, err);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        nn_error_set(err, NN_ENOMEM, "cannot write %s %s: %s", what, path, strerror(errno));
        close(fd);
        if (tmp[0]) {
            unlink(tmp);
            live_set(tmp, 0);
        }
    }
    return f;
}

int nn_file_commit(FILE *f, const char *tmp, const char *path, const char *what, int ok,
                   nn_error *err)
{
    int bad = !ok || fflush(f) != 0 || ferror(f) || (tmp[0] && fsync(fileno(f)) != 0);
    int e = bad ? errno : 0;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!ok) {
        if (tmp[0]) {
            unlink(tmp);
            live_set(tmp, 0);
        }
        return NN_OK; /* the caller has its own error */
    }
    /* tmp is the replaced file's name (the link's target for a user's link) + ".tmp.PID" */
    char real[PATH_MAX], sfx[32];
    size_t tl = strlen(tmp), sl = (size_t)snprintf(sfx, sizeof sfx, ".tmp.%ld", (long)getpid());
    snprintf(real, sizeof real, "%.*s", tmp[0] && tl > sl ? (int)(tl - sl) : (int)strlen(path),
             tmp[0] && tl > sl ? tmp : path);
    return finish(bad, e ? e : EIO, tmp, real, what, err);
}
