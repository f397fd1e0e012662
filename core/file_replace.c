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

/* PATH.tmp.PID files of path whose writer is gone (killed before it could remove them) */
static void clear_dead_temps(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : path, *d = slash == dir ? "/" : ".";
    if (slash && slash != dir) {
        *slash = 0;
        d = dir;
    }
    size_t bl = strlen(base);
    DIR *dp = opendir(d);
    if (!dp)
        return;
    struct dirent *e;
    while ((e = readdir(dp))) {
        long pid = nn_file_temp_pid(e->d_name);
        if (pid <= 0 || strncmp(e->d_name, base, bl) != 0 || strncmp(e->d_name + bl, ".tmp.", 5))
            continue;
        if (pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
            unlinkat(dirfd(dp), e->d_name, 0);
    }
    closedir(dp);
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

/* Where a write of path goes (file_replace.h): the file to replace in real, or *in_place = 1
 * for an existing file that is not a regular one */
static int target(const char *path, const char *what, int flags, char *real, size_t cap,
                  int *in_place, nn_error *err)
{
    struct stat st, lst;
    *in_place = 0;
    if (snprintf(real, cap, "%s", path) >= (int)cap)
        return nn_error_set(err, NN_EINVAL, "cannot write %s %s: the path is too long", what,
                            path);
    if (!(flags & NN_FILE_USER) || lstat(path, &lst) != 0)
        return NN_OK; /* a new file, or one of the run's own (never followed) */
    if (stat(path, &st) != 0)
        return nn_error_set(err, NN_EIO, "cannot write %s %s: it is a symbolic link to %s",
                            what, path, errno == ENOENT ? "nothing (its target is missing)"
                                                        : strerror(errno));
    if (S_ISDIR(st.st_mode))
        return nn_error_set(err, NN_EIO, "cannot write %s %s: it is a directory; name a file "
                            "in it", what, path);
    if (!S_ISREG(st.st_mode))
        *in_place = 1; /* /dev/stdout, /dev/null, a FIFO: written as it is */
    else if (S_ISLNK(lst.st_mode) && !realpath(path, real))
        return nn_error_set(err, NN_EIO, "cannot write %s %s: cannot resolve its link: %s",
                            what, path, strerror(errno));
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
    clear_dead_temps(path); /* and this pid's own from an earlier life: O_EXCL refuses them */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return nn_error_set(err, NN_EIO, "cannot write %s %s: cannot create %s: %s (the "
                            "previous file, if any, is untouched)", what, path, tmp,
                            strerror(errno));
    live_set(tmp, 1);
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
    int in_place, rc = target(path, what, flags, real, sizeof real, &in_place, err);
    if (rc)
        return rc;
    int fd = in_place ? open_in_place(real, what, err) : open_temp(real, what, tmp, sizeof tmp,
                                                                    err);
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
    int in_place;
    tmp[0] = 0;
    if (target(path, what, flags, real, sizeof real, &in_place, err))
        return NULL;
    int fd = in_place ? open_in_place(real, what, err) : open_temp(real, what, tmp, cap, err);
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
