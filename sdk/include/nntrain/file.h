/* file.h: opening a user's file safely (ABI 0.4). A FIFO, directory or device given where a
 * file is expected would block or mislead a reader, so every file nntrain and its stock plugins
 * read is opened here: without blocking, checked to be a regular file, then read normally. */
#ifndef NNTRAIN_FILE_H
#define NNTRAIN_FILE_H

#include <stdio.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opens path read-only (O_CLOEXEC) after checking that it is a regular file; a symbolic
 * link is followed. `what` names the file's role in messages ("model file", "checkpoint",
 * "labels file"); may be NULL. returns a file descriptor >= 0 (the caller closes it), or a
 * negative status with err saying what the path is instead ("checkpoint x is a FIFO, not a
 * regular file") or why it cannot be opened. Never blocks on a FIFO or device. */
int nn_file_open(const char *path, const char *what, nn_error *err);

/* The same as a stdio stream ("rb"); returns NULL with err filled on failure. */
FILE *nn_file_fopen(const char *path, const char *what, nn_error *err);

#ifdef __cplusplus
}
#endif
#endif
