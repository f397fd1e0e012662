/* safe_path.h: may a plugin be loaded from this file or directory? The rule is OpenSSH's
 * StrictModes: what only you and root can change is trusted, nothing else. */
#ifndef NN_SAFE_PATH_H
#define NN_SAFE_PATH_H

#include <limits.h>

#include "nntrain/status.h"

/* Resolves path (symbolic links and "..", with realpath) into resolved (PATH_MAX bytes) and
 * checks that it is a directory (is_dir) or a regular file. With strict, also checks that
 * the resolved path and every directory above it up to "/" is owned by root or the effective
 * user and writable by nobody else, except a sticky directory owned by root (such as /tmp)
 * whose next component on the path is owned by root or the user. Load from `resolved`, never
 * from `path`: nobody else can change what was checked. returns NN_OK, NN_EIO (missing, or
 * of the wrong type) or NN_EPERM, with err naming the offending directory or file. */
int nn_safe_path(const char *path, int is_dir, int strict, char *resolved, nn_error *err);

#endif
