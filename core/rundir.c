/* rundir.c: locks a run directory and keeps what is in it safe. The lock file holds the
 * holder's pid only for the message a second process prints; the flock is what excludes.
 * Never deletes anything but stale temp files (the trainer removes an overwritten run's
 * checkpoints when the new run starts writing). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "file_replace.h"
#include "rundir.h"

static const char *const own_files[] = {".lock", "model.ini", "last.safetensors",
                                        "best.safetensors", NN_RUNDIR_CV_RECORD};

int nn_rundir_own_name(const char *name)
{
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    if (nn_file_temp_pid(base) > 0)
        return 1;
    for (size_t i = 0; i < sizeof own_files / sizeof *own_files; i++)
        if (strcmp(name, own_files[i]) == 0)
            return 1;
    return 0;
}

int nn_rundir_own_file(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st, own;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path ||
        stat(path, &st) != 0)
        return 0;
    for (size_t i = 0; i < sizeof own_files / sizeof *own_files; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, own_files[i]);
        if (stat(path, &own) == 0 && own.st_dev == st.st_dev && own.st_ino == st.st_ino)
            return 1;
    }
    return 0;
}

int nn_rundir_check_name(const char *name, const char *origin, nn_error *err)
{
    if (!name || !*name)
        return nn_error_set(err, NN_EINVAL, "%s: a run name cannot be empty", origin);
    if (strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return nn_error_set(err, NN_EINVAL, "%s = '%s': a run name is one directory name (no "
                            "'/', not '.' or '..'); to choose the directory itself use "
                            "[train] run_dir or --run-dir", origin, name);
    return NN_OK;
}

/* creates path and its parents; returns 1 when it created path itself, 0 when it was there */
static int mkdirs(const char *path, nn_error *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return nn_error_set(err, NN_EINVAL, "run directory %s: path is too long", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return nn_error_set(err, NN_EIO, "cannot create directory %s: %s", tmp,
                                strerror(errno));
        *p = '/';
    }
    int made = mkdir(tmp, 0755) == 0;
    if (!made && errno != EEXIST)
        return nn_error_set(err, NN_EIO, "cannot create directory %s: %s", tmp, strerror(errno));
    struct stat st;
    if (stat(tmp, &st) != 0) {
        char to[PATH_MAX];
        ssize_t n = readlink(tmp, to, sizeof to - 1);
        if (n < 0)
            return nn_error_set(err, NN_EIO, "run directory %s: %s", tmp, strerror(errno));
        to[n] = 0;
        return nn_error_set(err, NN_EIO, "run directory %s is a symbolic link to %s, which "
                            "does not exist; create that directory or remove the link", tmp, to);
    }
    if (!S_ISDIR(st.st_mode))
        return nn_error_set(err, NN_EIO, "run directory %s exists but is not a directory", tmp);
    return made;
}

static void clear_stale(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
            continue;
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth > 0)
                clear_stale(path, depth - 1);
            continue;
        }
        long pid = nn_file_temp_pid(e->d_name);
        /* the pid is gone (or it is ours from an earlier run that reused it: we hold the lock,
         * so no live writer of this directory can exist) */
        if (S_ISREG(st.st_mode) && pid > 0 &&
            (pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)))
            unlink(path);
    }
    closedir(d);
}

/* flock(fd, op | LOCK_NB), tried again for 0.2 s while it would block: a check by another
 * process (held_elsewhere, nn_rundir_hold) takes a lock only for an instant, so a lock that
 * stays taken is a run's, and a run starting during a check is not refused for it */
static int flock_patient(int fd, int op)
{
    const struct timespec pause = {0, 1000000};
    for (int i = 0;; i++) {
        if (flock(fd, op | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK || i == 200)
            return -1;
        nanosleep(&pause, NULL);
    }
}

/* the pid a lock file holds (for messages only; the flock is what excludes), or 0 */
static long lock_pid(int fd)
{
    char buf[32] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    return strtol(buf, NULL, 10);
}

/* 1 when another process holds dir/.lock (a run writes dir), with its pid in *pid; a shared
 * lock taken and dropped at once tells without creating anything */
static int held_elsewhere(const char *dir, long *pid)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/.lock", dir) >= (int)sizeof path)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    int held = flock_patient(fd, LOCK_SH) != 0 && errno == EWOULDBLOCK;
    if (held)
        *pid = lock_pid(fd);
    close(fd);
    return held;
}

/* the first directory below dir (depth levels down) that another process writes, or 0 */
static int held_below(const char *dir, int depth, char *found, size_t cap, long *pid)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int held = 0;
    while (!held && (e = readdir(d))) {
        char path[PATH_MAX];
        struct stat st;
        if (e->d_name[0] == '.' ||
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        if ((held = held_elsewhere(path, pid)))
            snprintf(found, cap, "%s", path);
        else if (depth > 1)
            held = held_below(path, depth - 1, found, cap, pid);
    }
    closedir(d);
    return held;
}

/* Runs do not nest: a run directory inside one that a live run writes (cv keeps its folds
 * below its own), or one holding such a directory, would mix two runs' files. Called with
 * dir locked, so of two runs starting at once at least one sees the other. */
/* the nearest directory above dir that another process writes (in found), or 0 */
static int held_above(const char *dir, char *found, size_t cap, long *pid)
{
    char up[PATH_MAX];
    if (!realpath(dir, up))
        return 0;
    for (char *slash; (slash = strrchr(up, '/')) && slash != up;) {
        *slash = 0;
        if (held_elsewhere(up, pid)) {
            snprintf(found, cap, "%s", up);
            return 1;
        }
    }
    return 0;
}

static int check_nesting(const char *dir, nn_error *err)
{
    char abs[PATH_MAX], found[PATH_MAX];
    long pid = 0;
    if (held_above(dir, found, sizeof found, &pid))
        return nn_error_set(err, NN_EEXIST, "run directory %s is inside %s, which pid %ld "
                            "writes (an nntrain cv keeps its folds there, a train its "
                            "checkpoints); wait for it to end, or choose a --run-dir outside "
                            "it", dir, found, pid);
    if (realpath(dir, abs) && held_below(abs, 2, found, sizeof found, &pid))
        return nn_error_set(err, NN_EEXIST, "run directory %s holds %s, which pid %ld writes "
                            "(another nntrain train or cv); wait for it to end, or choose "
                            "another --run-dir", dir, found, pid);
    return NN_OK;
}

/* 1 when the lock file fd is still the one at path: a run that failed in set-up removes the
 * directory it made, lock file first, while it holds the lock; a process that opened the file
 * before then and got the lock after holds a file no other run will look at */
static int still_linked(int fd, const char *path)
{
    struct stat held, named;
    return fstat(fd, &held) == 0 && stat(path, &named) == 0 && held.st_dev == named.st_dev &&
           held.st_ino == named.st_ino;
}

/* creates dir when missing (*made = 1) and locks dir/.lock; returns the descriptor or a
 * negative status */
static int lock_file(const char *dir, int *made, nn_error *err)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/.lock", dir) >= (int)sizeof path)
        return nn_error_set(err, NN_EINVAL, "run directory %s: path is too long", dir);
    for (int attempt = 0; attempt < 16; attempt++) {
        int rc = mkdirs(dir, err);
        if (rc < 0)
            return rc;
        *made = rc;
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
            return nn_error_set(err, NN_EIO, "cannot open the lock file %s: %s", path,
                                strerror(errno));
        if (flock_patient(fd, LOCK_EX) != 0) {
            int e = errno;
            long holder = lock_pid(fd);
            close(fd);
            if (e == EWOULDBLOCK)
                return nn_error_set(err, NN_EEXIST, "run directory %s is in use by pid %ld "
                                    "(another nntrain train or cv writes there); wait for it to "
                                    "end, or choose another --run-dir", dir, holder);
            return nn_error_set(err, NN_EIO, "cannot lock %s: %s", path, strerror(e));
        }
        if (!still_linked(fd, path)) {
            close(fd); /* its holder removed it: lock the directory as it is now */
            continue;
        }
        char pid[32];
        int pl = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)pl, 0) != pl) {
            int e = errno;
            close(fd);
            return nn_error_set(err, NN_EIO, "cannot write the lock file %s: %s", path,
                                strerror(e));
        }
        return fd;
    }
    return nn_error_set(err, NN_EIO, "cannot lock %s: it is removed and made again without end "
                        "(another process deletes the run directory)", path);
}

/* the run's checkpoint that dir holds (last, else best; a file, as a run writes them) into
 * path; 0 when it holds neither.
 * A directory with only best.safetensors still holds a run: its last was lost (a full disk,
 * a user's rm), and a new run would write over the best weights */
static int held_checkpoint(const char *dir, char *path, size_t size)
{
    static const char *const names[] = {"last.safetensors", "best.safetensors"};
    struct stat st;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, size, "%s/%s", dir, names[i]);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) /* a run writes no links */
            return 1;
    }
    return 0;
}

int nn_rundir_lock(const char *dir, const char *check_dir, int flags, nn_error *err)
{
    int made = 0, rc, fd = lock_file(dir, &made, err);
    if (fd < 0)
        return fd;
    if ((rc = check_nesting(dir, err)) || (strcmp(check_dir, dir) != 0 &&
                                           (rc = mkdirs(check_dir, err)) < 0)) {
        if (made) /* the directory this run made for itself goes with the refusal */
            nn_rundir_unlock_tidy(fd, dir, check_dir);
        else
            close(fd);
        return rc;
    }
    clear_stale(dir, 1);
    if (!(flags & NN_RUNDIR_RESUME)) {
        char last[PATH_MAX];
        if (held_checkpoint(check_dir, last, sizeof last) && !(flags & NN_RUNDIR_OVERWRITE)) {
            close(fd);
            if (flags & NN_RUNDIR_FOLD)
                return nn_error_set(err, NN_EEXIST, "run directory %s already holds a run (%s); "
                                    "continue the cross-validation with cv --resume, choose a "
                                    "new run directory (--run-dir, or [train] name), or start "
                                    "the folds again with --overwrite", check_dir, last);
            return nn_error_set(err, NN_EEXIST, "run directory %s already holds a run (%s); "
                                "continue it with --resume auto, choose a new run directory "
                                "(--run-dir, or [train] name), or replace it with --overwrite",
                                check_dir, last);
        }
    }
    return fd;
}

static int same_file(const char *a, const char *b)
{
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

int nn_rundir_check_resume(const char *run_dir, const char *ckpt, nn_error *err)
{
    char dir[PATH_MAX], last[PATH_MAX], best[PATH_MAX], held[PATH_MAX];
    const char *slash = strrchr(ckpt, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - ckpt) + (slash == ckpt) : 1,
             slash ? ckpt : ".");
    snprintf(last, sizeof last, "%s/last.safetensors", run_dir);
    snprintf(best, sizeof best, "%s/best.safetensors", run_dir);
    if (!held_checkpoint(run_dir, held, sizeof held) || same_file(dir, run_dir) ||
        same_file(ckpt, last) || same_file(ckpt, best))
        return NN_OK; /* a new or empty run directory, or the run's own checkpoint */
    return nn_error_set(err, NN_EEXIST, "cannot resume from %s into run directory %s: it "
                        "already holds another run (%s) that the resume would replace (its "
                        "checkpoints, model.ini and logs); expected a checkpoint of that run or "
                        "a run directory without one: resume into the checkpoint's own "
                        "directory (--run-dir %s) or a new one (--run-dir DIR), or continue "
                        "the run there with --resume auto", ckpt, run_dir, held, dir);
}

int nn_rundir_hold(const char *dir, long *pid)
{
    char path[PATH_MAX];
    if (held_above(dir, path, sizeof path, pid)) /* a cv writing its folds */
        return NN_EEXIST;
    if (snprintf(path, sizeof path, "%s/.lock", dir) >= (int)sizeof path)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return fd;
    close(fd);
    return held_elsewhere(dir, pid) ? NN_EEXIST : -1;
}

/* 1 when dir holds nothing but its .lock */
static int only_lock(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int other = 0;
    while (!other && (e = readdir(d)))
        other = strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, ".lock");
    closedir(d);
    return !other;
}

void nn_rundir_unlock_tidy(int fd, const char *dir, const char *check_dir)
{
    char path[PATH_MAX];
    if (fd >= 0 && strcmp(check_dir, dir) != 0)
        rmdir(check_dir); /* only when empty */
    if (fd >= 0 && only_lock(dir) && snprintf(path, sizeof path, "%s/.lock", dir) <
                                         (int)sizeof path && unlink(path) == 0)
        rmdir(dir);
    nn_rundir_unlock(fd);
}

void nn_rundir_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing the descriptor releases the flock */
}
