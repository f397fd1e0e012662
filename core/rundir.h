/* rundir.h: a run directory's guards. One process writes a run directory at a time (flock on
 * RUN/.lock, released by the kernel when the holder dies), a fresh run never replaces a
 * finished one's checkpoints unasked, and temp files left by killed writers are cleared. */
#ifndef NN_RUNDIR_H
#define NN_RUNDIR_H

#include "nntrain/status.h"

/* A cross-validation fold's record of its figures (RUN/fold-K/NN_RUNDIR_CV_RECORD) */
#define NN_RUNDIR_CV_RECORD "cv_fold.txt"

/* 1 when name, a path relative to a run directory without "." or empty components, is one of
 * the run's own files: its lock, model file, checkpoints, a cross-validation fold's record,
 * or a temporary file NAME.tmp.PID (how checkpoints and logs are replaced atomically). */
int nn_rundir_own_name(const char *name);
/* 1 when dir/name exists and is one of dir's own files by identity (a hard link to one). */
int nn_rundir_own_file(const char *dir, const char *name);

/* A run name is one path component: not empty, no '/', not "." or "..". origin prefixes the
 * message ("model.ini:3: [train] name"). */
int nn_rundir_check_name(const char *name, const char *origin, nn_error *err);

enum {
    NN_RUNDIR_RESUME = 1 << 0,    /* the run continues from RUN/last.safetensors */
    NN_RUNDIR_OVERWRITE = 1 << 1, /* the user asked to replace what is there */
    NN_RUNDIR_FOLD = 1 << 2,      /* a cross-validation fold: continued by cv --resume */
};

/* Creates dir (and parents) when missing and locks it for this process; then removes stale
 * checkpoint temp files (NAME.tmp.PID whose PID is gone) in dir and its subdirectories. A fresh
 * run (no RESUME) into a directory holding last.safetensors is refused unless OVERWRITE.
 * check_dir is where checkpoints go (dir itself, or a
 * cross-validation fold below it, created too). returns the lock's descriptor (>= 0) for
 * nn_rundir_unlock, or a negative status with err naming the directory and the ways on. */
int nn_rundir_lock(const char *dir, const char *check_dir, int flags, nn_error *err);
void nn_rundir_unlock(int fd);
/* The same, for a lock nn_rundir_lock took on a directory it created: a run that wrote
 * nothing there (it failed in set-up) leaves no directory behind, only its lock file gone
 * with it; check_dir (a fold below dir) goes first when empty. */
void nn_rundir_unlock_tidy(int fd, const char *dir, const char *check_dir);

/* A resume from the checkpoint ckpt writes run_dir's checkpoints, model.ini and logs. When
 * run_dir already holds a run (its last.safetensors) and ckpt is not of it (not in run_dir,
 * nor one of its checkpoints by identity), that run would be replaced and its logs spliced:
 * refused as a new run into it is, naming both and the ways on. */
int nn_rundir_check_resume(const char *run_dir, const char *ckpt, nn_error *err);

/* For a short write into a finished run's files (eval's record in its logs): locks dir's
 * existing .lock without waiting. returns the descriptor for nn_rundir_unlock; -1 when dir has
 * no lock file (nothing to exclude); NN_EEXIST when a run writes dir, with its pid in *pid. */
int nn_rundir_hold(const char *dir, long *pid);

#endif
