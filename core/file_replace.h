/* file_replace.h: writing a file so that it is always either the old one or the new one:
 * the bytes go to PATH.tmp.PID (created exclusively, never through a link), are synced, and
 * the temp file is renamed over PATH. A symlink at PATH is replaced, not followed. Used for
 * checkpoints, exported models, cv fold records and a run's model.ini. */
#ifndef NN_FILE_REPLACE_H
#define NN_FILE_REPLACE_H

#include <stdio.h>
#include <sys/uio.h>

#include "nntrain/status.h"

/* Writes the n parts in order. On failure the old file is untouched, the temp file removed,
 * and err says "cannot write PATH: why" (what is a noun for the message: "checkpoint"). */
int nn_file_replace(const char *path, const char *what, const struct iovec *parts, int n,
                    nn_error *err);

/* For writers that stream: opens PATH.tmp.PID exclusively (its name in tmp, cap bytes);
 * NULL with err set on failure. nn_file_commit syncs, closes and renames it over PATH, or with
 * ok = 0 (or on any failure) closes and removes it. */
FILE *nn_file_begin(const char *path, const char *what, char *tmp, size_t cap, nn_error *err);
int nn_file_commit(FILE *f, const char *tmp, const char *path, const char *what, int ok,
                   nn_error *err);

#endif
