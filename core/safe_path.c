/* safe_path.c: the StrictModes check of plugin files and directories (as OpenSSH's
 * safe_path() does for keys): the resolved path and each directory up to "/" must be
 * trustworthy. It only looks (realpath, stat); it never opens or loads what it checks. */
#define _GNU_SOURCE /* realpath */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safe_path.h"

static int owner_ok(uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

static const char *writers(mode_t m)
{
    return (m & S_IWOTH) ? "other users" : "its group";
}

/* "file X" or "file X (resolved to Y)": what the user gave, and what it is really */
static void describe(char *buf, size_t cap, const char *path, const char *resolved, int is_dir)
{
    if (strcmp(path, resolved) == 0)
        snprintf(buf, cap, "%s %s", is_dir ? "directory" : "file", path);
    else
        snprintf(buf, cap, "%s %s (resolved to %s)", is_dir ? "directory" : "file", path,
                 resolved);
}

int nn_safe_path(const char *path, int is_dir, int strict, char *resolved, nn_error *err)
{
    if (!realpath(path, resolved))
        return nn_error_set(err, NN_EIO, "cannot stat %s: %s", path, strerror(errno));
    struct stat st;
    if (stat(resolved, &st) != 0)
        return nn_error_set(err, NN_EIO, "cannot stat %s: %s", resolved, strerror(errno));
    /* a FIFO named *.so would block dlopen(); a file where a directory belongs is a typo */
    if (is_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
        return nn_error_set(err, NN_EIO, "%s is not a %s", path,
                            is_dir ? "directory" : "regular file");
    if (!strict)
        return NN_OK;
    char what[2 * PATH_MAX + 64];
    describe(what, sizeof what, path, resolved, is_dir);
    if (!owner_ok(st.st_uid))
        return nn_error_set(err, NN_EPERM, "refusing to load from %s: it is owned by uid %u, "
                            "neither you nor root; pass --allow-insecure-plugins to load it "
                            "anyway", what, (unsigned)st.st_uid);
    /* a sticky root directory as the plugin directory itself: each file in it is checked on
     * its own (its owner is the "next component") */
    int sticky_root = (st.st_mode & S_ISVTX) && st.st_uid == 0 && is_dir;
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !sticky_root)
        return nn_error_set(err, NN_EPERM, "refusing to load from %s: it is writable by %s "
                            "(mode %04o); run `chmod go-w %s` or pass --allow-insecure-plugins",
                            what, writers(st.st_mode), (unsigned)(st.st_mode & 07777),
                            resolved);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", resolved);
    uid_t below = st.st_uid; /* owner of the component under dir on the path */
    while (strcmp(dir, "/") != 0) {
        char *slash = strrchr(dir, '/');
        if (!slash)
            break; /* realpath gives absolute paths; never happens */
        slash[slash == dir] = 0; /* "/a" -> "/", "/a/b" -> "/a" */
        struct stat ds;
        if (stat(dir, &ds) != 0)
            return nn_error_set(err, NN_EIO, "cannot stat %s (above %s): %s", dir, resolved,
                                strerror(errno));
        if (!owner_ok(ds.st_uid))
            return nn_error_set(err, NN_EPERM, "refusing to load from %s: directory %s above "
                                "it is owned by uid %u, neither you nor root; pass "
                                "--allow-insecure-plugins to load it anyway", what, dir,
                                (unsigned)ds.st_uid);
        if (ds.st_mode & (S_IWGRP | S_IWOTH)) {
            /* /tmp: others may add entries but not replace ours; only the sticky bit with a
             * root owner makes that so, and only for an entry that is ours or root's */
            int sticky_ok = (ds.st_mode & S_ISVTX) && ds.st_uid == 0 && owner_ok(below);
            if (!sticky_ok)
                return nn_error_set(
                    err, NN_EPERM, "refusing to load from %s: directory %s above it is "
                    "writable by %s (mode %04o)%s; run `chmod go-w %s` or pass "
                    "--allow-insecure-plugins", what, dir, writers(ds.st_mode),
                    (unsigned)(ds.st_mode & 07777),
                    (ds.st_mode & S_ISVTX) ? ", and its sticky bit does not protect the "
                                             "entry below it (only a root-owned sticky "
                                             "directory holding your or root's entry does)"
                                           : "",
                    dir);
        }
        below = ds.st_uid;
    }
    return NN_OK;
}
