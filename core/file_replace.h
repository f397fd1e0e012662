/* file_replace.h: writing a file so that it is always either the old one or the new one:
 * the bytes go to PATH.tmp.PID (created exclusively, never through a link), are synced, and
 * the temp file is renamed over PATH. Used for checkpoints, exported models, cv fold records,
 * predictions and a run's model.ini.
 *
 * Paths the run makes (flags 0): a symlink at PATH is replaced, not followed. Paths the user
 * named on the command line (NN_FILE_USER: predict --output, export -o): a symlink is followed
 * and its target replaced with its mode and owners, as cp would; /dev/stdout, /dev/stderr,
 * /dev/fd/N and /proc/self/fd/N (or a link to them) are written through a dup of that
 * descriptor (>> appends); another existing file that is not a regular one (a device, a FIFO)
 * is written in place, never replaced; a directory, a link to nothing, a file that is not
 * writable, a run directory's .lock and any file in a directory a live run writes are
 * refused. */
#ifndef NN_FILE_REPLACE_H
#define NN_FILE_REPLACE_H

#include <stdio.h>
#include <sys/uio.h>

#include "nntrain/status.h"

enum { NN_FILE_USER = 1 << 0 };

/* Writes the n parts in order. On failure the old file is untouched, the temp file removed,
 * and err says "cannot write WHAT PATH: why" (what is a noun for the message: "checkpoint"). */
int nn_file_replace(const char *path, const char *what, const struct iovec *parts, int n,
                    int flags, nn_error *err);

/* For writers that stream: opens PATH.tmp.PID exclusively (its name in tmp, cap bytes; tmp is
 * "" when an NN_FILE_USER path is written in place); NULL with err set on failure.
 * nn_file_commit flushes, syncs, closes and renames it over PATH, or with ok = 0 (or on any
 * failure) closes and removes it. A temp file is removed too when the process quits on a
 * signal (nn_file_temps_remove); a run directory's leftovers of killed writers are cleared
 * under its lock (rundir.c), a user's path's never (a file of that name may be the user's). */
FILE *nn_file_begin(const char *path, const char *what, char *tmp, size_t cap, int flags,
                    nn_error *err);
int nn_file_commit(FILE *f, const char *tmp, const char *path, const char *what, int ok,
                   nn_error *err);

/* The pid in a temp file's name ("last.safetensors.tmp.1234" -> 1234), or 0 when it is none. */
long nn_file_temp_pid(const char *name);

/* Removes the temp files this process is writing now. Called by the signal watcher before it
 * quits (never from signal context, never while a critical section renames). */
void nn_file_temps_remove(void);

#endif
